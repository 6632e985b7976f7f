"""Corrupt copies of a trained bundle whose manifest still matches them.

A checksum catches a file changed after training; it cannot catch a bundle written
corrupt and checksummed as it is (a failed export, a bad copy before the manifest was
made). ``corrupt_copy`` makes such bundles: the file's bytes are changed and the manifest
records the new bytes, so every check before the model loads passes.
"""

import hashlib
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

Mutation = Callable[[bytes], bytes]


def garbage(_: bytes) -> bytes:
    """Bytes that are no model at all."""
    return b"this is not a model \x00\xff" * 64


def text_garbage(_: bytes) -> bytes:
    """Readable text that is no model."""
    return b"tree\nthis is not a model\n" * 64


def truncated(data: bytes) -> bytes:
    """The first half of the file (a copy cut short)."""
    return data[: len(data) // 2]


def corrupt_copy(
    bundle: Path, root: Path, version: str, filename: str, mutate: Mutation | None
) -> Path:
    """Copy ``bundle`` to ``root/<name>/<version>`` with ``filename`` mutated, manifest matching.

    ``mutate`` None copies the bundle as it is (a good bundle under another version).
    """
    target = root / bundle.parent.name / version
    shutil.copytree(bundle, target)
    manifest_path = target / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["version"] = version  # as ``jifen train`` names a bundle: folder and manifest agree
    if mutate is not None:
        path = target / filename
        data = mutate(path.read_bytes())
        path.write_bytes(data)
        manifest["files"][filename] = {
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
    manifest_path.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return target


def cut_before(marker: bytes) -> Mutation:
    """The file cut just before ``marker`` (a copy that stopped there)."""
    return lambda data: data[: data.index(marker)]


def first_split_on(feature: int) -> Mutation:
    """A LightGBM text whose first split reads feature ``feature`` (outside the model)."""

    def mutate(data: bytes) -> bytes:
        return re.sub(rb"(?m)^split_feature=\d+", b"split_feature=%d" % feature, data, count=1)

    return mutate


def substituted(pattern: bytes, replacement: bytes) -> Mutation:
    """The file with the first match of ``pattern`` replaced (a byte-level edit)."""
    return lambda data: re.sub(pattern, replacement, data, count=1)


def zeroed(size: int) -> Mutation:
    """The file with ``size`` bytes in its middle overwritten with zeros."""

    def mutate(data: bytes) -> bytes:
        start = len(data) // 2
        return data[:start] + b"\0" * size + data[start + size :]

    return mutate


def replaced(other: Path, filename: str) -> Mutation:
    """The same file taken from ``other`` bundle (a valid model, but not this bundle's)."""
    return lambda _: (other / filename).read_bytes()
