"""Model bundle: every file serving and auditors need, under ``OUT/<name>/<version>/``.

A bundle holds the ONNX model, the LightGBM text model (for TreeSHAP), the encoder,
calibrator and blend parameters, the feature order, the master scale, metrics, and
``manifest.json`` with the SHA-256 and size of every other file. It is written to a
temporary folder and renamed into place, so a half-written bundle never has a version.
``load_bundle`` verifies every checksum and refuses a bundle whose files were altered,
added or removed, naming the file.
"""

import hashlib
import json
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import lightgbm as lgb

from training.blend import PointsBlend
from training.calibrate import Calibrator
from training.encode import FeatureEncoder
from training.errors import BundleIntegrityError
from training.grades import MasterScale
from training.scorer import OnnxModel, Scorer

FORMAT = "jifen-bundle/1"
MANIFEST = "manifest.json"
MODEL_ONNX = "model.onnx"
MODEL_TEXT = "model.lgb.txt"
REQUIRED = (
    MODEL_ONNX,
    MODEL_TEXT,
    "encoder.json",
    "calibrator.json",
    "features.json",
    "master_scale.json",
    "metrics.json",
)


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of bytes."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def to_json_bytes(payload: Any) -> bytes:
    """Stable, readable JSON (sorted keys, UTF-8, trailing newline)."""
    text = json.dumps(payload, indent=2, sort_keys=True, ensure_ascii=False, default=str)
    return (text + "\n").encode("utf-8")


def new_version(model_bytes: bytes) -> str:
    """UTC timestamp plus the first 8 hex digits of the ONNX model's SHA-256."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{sha256_bytes(model_bytes)[:8]}"


def write_bundle(
    out_dir: Path,
    name: str,
    version: str,
    files: dict[str, bytes],
    extra_manifest: dict[str, Any] | None = None,
) -> Path:
    """Write ``files`` and their manifest under ``out_dir/name/version`` and return the path.

    Raises:
        BundleIntegrityError: a required file is missing or the version already exists.

    """
    missing = [f for f in REQUIRED if f not in files]
    if missing:
        raise BundleIntegrityError(f"bundle {name}/{version} lacks required files {missing}")
    target = out_dir / name / version
    if target.exists():
        raise BundleIntegrityError(f"bundle {target} already exists; versions are immutable")
    staging = target.with_name(f".{version}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for filename, data in files.items():
        (staging / filename).write_bytes(data)
    manifest = {
        "format": FORMAT,
        "name": name,
        "version": version,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "files": {
            f: {"sha256": sha256_bytes(data), "bytes": len(data)}
            for f, data in sorted(files.items())
        },
        **(extra_manifest or {}),
    }
    (staging / MANIFEST).write_bytes(to_json_bytes(manifest))
    staging.replace(target)
    return target


@dataclass(frozen=True)
class Bundle:
    """A verified bundle, with its parts rebuilt from JSON."""

    path: Path
    manifest: dict[str, Any]
    features: dict[str, Any]
    metrics: dict[str, Any]
    encoder: FeatureEncoder
    calibrator: Calibrator
    scale: MasterScale
    blend: PointsBlend | None

    @property
    def name(self) -> str:
        """Model name."""
        return str(self.manifest["name"])

    @property
    def version(self) -> str:
        """Bundle version."""
        return str(self.manifest["version"])

    def onnx_bytes(self) -> bytes:
        """Return the ONNX model's bytes."""
        return (self.path / MODEL_ONNX).read_bytes()

    def booster(self) -> lgb.Booster:
        """Load the LightGBM model, e.g. for TreeSHAP reason codes."""
        return lgb.Booster(model_str=(self.path / MODEL_TEXT).read_text(encoding="utf-8"))

    def scorer(self, n_threads: int = 1) -> Scorer:
        """Build the scoring chain on ONNX Runtime, as serving runs it."""
        model = OnnxModel(self.onnx_bytes(), n_threads=n_threads)
        return Scorer(self.encoder, model.probability, self.calibrator, self.scale, self.blend)


def verify_bundle(path: Path) -> dict[str, Any]:
    """Check the manifest against the files on disk and return it.

    Raises:
        BundleIntegrityError: the manifest is missing or unreadable, or a file is missing,
            unlisted, or has a different size or SHA-256 than recorded (named).

    """
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise BundleIntegrityError(f"bundle {path} has no {MANIFEST}")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        listed: dict[str, dict[str, Any]] = manifest["files"]
    except (ValueError, KeyError, TypeError) as exc:
        raise BundleIntegrityError(f"bundle {path}: {MANIFEST} is unreadable: {exc}") from exc
    if manifest.get("format") != FORMAT:
        raise BundleIntegrityError(
            f"bundle {path}: {MANIFEST} format must be {FORMAT!r}; got {manifest.get('format')!r}"
        )
    on_disk = {p.name for p in path.iterdir() if p.is_file()} - {MANIFEST}
    unlisted = sorted(on_disk - set(listed))
    if unlisted:
        raise BundleIntegrityError(f"bundle {path}: file {unlisted[0]} is not in the manifest")
    for filename in [*REQUIRED, *sorted(set(listed) - set(REQUIRED))]:
        if filename not in listed:
            raise BundleIntegrityError(f"bundle {path}: required file {filename} is not listed")
        file = path / filename
        if not file.is_file():
            raise BundleIntegrityError(f"bundle {path}: file {filename} is missing")
        digest = sha256_file(file)
        if digest != listed[filename]["sha256"]:
            raise BundleIntegrityError(
                f"bundle {path}: file {filename} has SHA-256 {digest[:12]}…, manifest records "
                f"{listed[filename]['sha256'][:12]}…; the bundle was altered, refusing to load"
            )
    return dict(manifest)


def load_bundle(path: Path) -> Bundle:
    """Verify a bundle's checksums, then rebuild its encoder, calibrator, blend and scale.

    Raises:
        BundleIntegrityError: see ``verify_bundle``; also a part that does not parse.

    """
    manifest = verify_bundle(path)

    def read(filename: str) -> Any:
        return json.loads((path / filename).read_text(encoding="utf-8"))

    blend_raw = read("blend.json") if "blend.json" in manifest["files"] else None
    return Bundle(
        path=path,
        manifest=manifest,
        features=read("features.json"),
        metrics=read("metrics.json"),
        encoder=FeatureEncoder.from_dict(read("encoder.json")),
        calibrator=Calibrator.from_dict(read("calibrator.json")),
        scale=MasterScale.model_validate(read("master_scale.json")),
        blend=PointsBlend.from_dict(blend_raw) if blend_raw else None,
    )
