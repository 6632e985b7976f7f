"""The simulator's hidden truth (oracle/) is never read by feature code.

Feature code may only see what a bank would see. This pins it statically: no module of
``features/`` other than the simulator (which writes the oracle) and the layout (which
names its folder) refers to the oracle at all, by attribute, folder or file name.
"""

import re
from pathlib import Path

import features

FEATURES_ROOT = Path(features.__file__).parent
ALLOWED = {FEATURES_ROOT / "layout.py"}
ALLOWED_DIRS = {FEATURES_ROOT / "simulate"}
ORACLE_REFERENCE = re.compile(r"oracle|applications_truth|firms_truth|injected_errors", re.I)


def _feature_modules() -> list[Path]:
    return [
        path
        for path in FEATURES_ROOT.rglob("*.py")
        if path not in ALLOWED and not any(d in path.parents for d in ALLOWED_DIRS)
    ]


def test_feature_code_never_mentions_the_oracle() -> None:
    """No feature module names the oracle folder or its files."""
    offenders = [
        f"{path.relative_to(FEATURES_ROOT.parent)}:{number}"
        for path in _feature_modules()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if ORACLE_REFERENCE.search(line)
    ]
    assert offenders == []


def test_the_scan_would_catch_a_reference(tmp_path: Path) -> None:
    """The pattern used above matches the ways code could reach the oracle."""
    for line in ("layout.oracle / 'x'", "read('oracle/applications_truth.parquet')"):
        assert ORACLE_REFERENCE.search(line)
    assert len(_feature_modules()) >= 5
