"""Bundles: complete, checksummed, and refused when a single byte changes."""

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from training.bundle import MANIFEST, load_bundle, sha256_file
from training.errors import BundleIntegrityError
from training.pipeline import TrainResult


def _copy(trained: tuple[TrainResult, Path], tmp_path: Path) -> Path:
    target = tmp_path / "bundle"
    shutil.copytree(trained[0].bundle_path, target)
    return target


def test_bundle_holds_every_part_with_its_checksum(trained: tuple[TrainResult, Path]) -> None:
    """The manifest lists the model, encoder, calibrator, blend, scale, metrics and the
    scorecard's points table by SHA-256."""
    path = trained[0].bundle_path
    manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    expected = {
        "model.onnx", "model.lgb.txt", "encoder.json", "calibrator.json", "blend.json",
        "features.json", "master_scale.json", "metrics.json", "evaluation.json",
        "training.json", "spec.json", "validation_report.html", "reference.json",
        "scorecard_points.json",
    }  # fmt: skip
    assert set(manifest["files"]) == expected
    for name, entry in manifest["files"].items():
        assert entry["sha256"] == sha256_file(path / name)
    assert manifest["fingerprint"]["dataset_sha256"] and manifest["fingerprint"]["spec_sha256"]
    assert path.parent.name == "sme-byod-fixture" and path.name == manifest["version"]


def test_loaded_bundle_scores_like_the_training_run(
    trained: tuple[TrainResult, Path], loan_book: pd.DataFrame
) -> None:
    """The ONNX chain rebuilt from the bundle reproduces the LightGBM chain's PDs and grades."""
    bundle = load_bundle(trained[0].bundle_path)
    onnx_scores = bundle.scorer().score(loan_book)
    booster = bundle.booster()
    raw = np.asarray(booster.predict(bundle.encoder.transform(loan_book)))
    assert np.abs(onnx_scores["p_model_raw"].to_numpy() - raw).max() <= 1e-6
    assert set(onnx_scores["grade"]) <= set(bundle.scale.names)
    assert bundle.features["feature_order"] == ["industry", "zone", *bundle.encoder.numeric]


def test_load_bundle_refuses_a_changed_byte_naming_the_file(
    trained: tuple[TrainResult, Path], tmp_path: Path
) -> None:
    """Flipping one byte of calibrator.json makes loading fail with that file's name."""
    path = _copy(trained, tmp_path)
    target = path / "calibrator.json"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    with pytest.raises(BundleIntegrityError, match=r"file calibrator\.json has SHA-256 .* altered"):
        load_bundle(path)


def test_load_bundle_refuses_a_changed_model_byte(
    trained: tuple[TrainResult, Path], tmp_path: Path
) -> None:
    """The ONNX model is covered too: one changed byte names model.onnx."""
    path = _copy(trained, tmp_path)
    data = bytearray((path / "model.onnx").read_bytes())
    data[-10] ^= 0xFF
    (path / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(BundleIntegrityError, match=r"model\.onnx"):
        load_bundle(path)


def test_load_bundle_refuses_missing_and_unlisted_files(
    trained: tuple[TrainResult, Path], tmp_path: Path
) -> None:
    """A removed file and a smuggled file are both named."""
    path = _copy(trained, tmp_path)
    (path / "blend.json").unlink()
    with pytest.raises(BundleIntegrityError, match=r"file blend\.json is missing"):
        load_bundle(path)
    path = _copy(trained, tmp_path / "again")
    (path / "override.json").write_text("{}", encoding="utf-8")
    with pytest.raises(BundleIntegrityError, match=r"file override\.json is not in the manifest"):
        load_bundle(path)
