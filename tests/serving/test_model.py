"""The served model: exact explanations, ONNX parity, encoding parity, refused bundles, sources.

Model behaviour on the tiny fixture bundles (a dozen trees, trained in about a second).
"""

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from serving.core.bundle import ServedModel
from serving.core.encoding import RowEncoder
from serving.core.model import BundleDirSource, ModelSlot
from serving.errors import BundleRejectedError, ModelVersionNotFoundError
from tests.serving.conftest import MODEL_NAME, TrainedBundles, loan_frame, train_tiny_bundle
from training.calibrate import logit
from training.scorer import Scorer, lightgbm_probability

ROWS = 3000


@pytest.fixture(scope="module")
def model(trained_bundles: TrainedBundles) -> ServedModel:
    return ServedModel.load(trained_bundles.newest, "test")


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    """Rows the model never saw (another seed), with missing values and points."""
    return loan_frame(ROWS, seed=97)


def test_explanation_adds_up_to_the_blended_logit_for_every_row(
    model: ServedModel, frame: pd.DataFrame
) -> None:
    """base + Σ contributions + points line = intercept + w_model·margin + w_points·points, 1e-6.

    The margin is LightGBM's own raw score, computed independently of the SHAP call.
    """
    matrix = model.encode_frame(frame)
    points = frame["points_total"].to_numpy(dtype=float)
    pred = model.predict(matrix, points)
    expl = model.explain(matrix, pred.points_used)
    margin = model.booster.predict(matrix, raw_score=True)
    link = model.link
    expected = link.intercept + link.w_model * margin + link.w_points * pred.points_used
    total = expl.base + expl.contributions.sum(axis=1) + expl.points_line
    assert link.scale == "blended_logit"
    assert np.abs(total - expected).max() <= 1e-6
    assert np.abs(expl.logit - expected).max() <= 1e-6
    assert len(frame) == ROWS


def test_points_line_is_zero_at_the_blend_median_and_signed_around_it(model: ServedModel) -> None:
    """Points at the median add nothing; more points lower the logit (negative weight)."""
    fill = model.link.points_fill
    assert fill is not None
    matrix = model.encode_frame(loan_frame(3, seed=5))
    points = np.array([fill, fill + 10, fill - 10])
    expl = model.explain(matrix, points)
    assert expl.points_line[0] == 0.0
    assert model.link.w_points < 0
    assert expl.points_line[1] < 0 < expl.points_line[2]


def test_onnx_pd_matches_the_lightgbm_chain_within_1e_5(
    model: ServedModel, frame: pd.DataFrame
) -> None:
    """PD from ONNX Runtime equals the LightGBM chain's PD (training's Scorer) to 1e-5."""
    bundle = model.bundle
    reference = Scorer(
        bundle.encoder,
        lightgbm_probability(model.booster),
        bundle.calibrator,
        bundle.scale,
        bundle.blend,
    ).score(frame)
    matrix = model.encode_frame(frame)
    served = model.predict(matrix, frame["points_total"].to_numpy(dtype=float))
    assert np.abs(served.pd - reference["pd"].to_numpy()).max() <= 1e-5
    assert (
        np.array(bundle.scale.names, dtype=object)[served.grade_index] == reference["grade"]
    ).all()


def test_served_logit_and_explained_logit_differ_only_by_float32_rounding(
    model: ServedModel, frame: pd.DataFrame
) -> None:
    """ONNX reads float32 probabilities: its logit is the explained one to float32 precision."""
    matrix = model.encode_frame(frame)
    pred = model.predict(matrix, frame["points_total"].to_numpy(dtype=float))
    expl = model.explain(matrix, pred.points_used)
    gap = np.abs(model.served_logit(pred) - expl.logit).max()
    assert gap <= 1e-4
    assert np.abs(model.pd_of_logit(expl.logit) - pred.pd).max() <= 1e-5


def test_row_encoder_reproduces_the_training_encoder_bit_for_bit(
    model: ServedModel, frame: pd.DataFrame
) -> None:
    """Per-request encoding equals FeatureEncoder.transform on every row, NaNs included."""
    rows = frame.to_dict("records")
    rows[0]["firm_industry"] = None
    rows[1]["firm_industry"] = "a sector never seen"
    rows[2]["inno_staff_total"] = "not a number"
    rows[3]["elec_yoy_3m"] = float("inf")
    expected = model.bundle.encoder.transform(pd.DataFrame(rows))
    assert np.array_equal(RowEncoder(model.bundle.encoder).encode(rows), expected, equal_nan=True)


def test_margin_of_the_served_logit_is_the_onnx_probability(model: ServedModel) -> None:
    """The served logit reads ONNX's raw probability, not the booster's."""
    matrix = model.encode_frame(loan_frame(50, seed=8))
    pred = model.predict(matrix, np.full(50, np.nan))
    onnx = model.onnx.probability(matrix)
    link = model.link
    fill = link.points_fill or 0.0
    expected = link.intercept + link.w_model * logit(onnx) + link.w_points * fill
    assert np.array_equal(model.served_logit(pred), expected)


# --- refused bundles -------------------------------------------------------------------------


def _copy(bundle: Path, tmp_path: Path) -> Path:
    target = tmp_path / MODEL_NAME / bundle.name
    shutil.copytree(bundle, target)
    return target


def test_bundle_with_an_altered_onnx_file_is_refused_naming_the_file(
    trained_bundles: TrainedBundles, tmp_path: Path
) -> None:
    """One flipped byte in model.onnx: the manifest check names the file and refuses it."""
    copy = _copy(trained_bundles.newest, tmp_path)
    data = bytearray((copy / "model.onnx").read_bytes())
    data[-1] ^= 0xFF
    (copy / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(BundleRejectedError, match=r"file model\.onnx has SHA-256 .*refusing"):
        ServedModel.load(copy, "test")


def test_bundle_whose_booster_is_another_model_is_refused_by_the_probe(
    trained_bundles: TrainedBundles, tmp_path: Path
) -> None:
    """A booster text swapped in with a matching manifest entry still fails the ONNX probe."""
    import hashlib
    import json

    copy = _copy(trained_bundles.newest, tmp_path)
    other = (trained_bundles.older / "model.lgb.txt").read_bytes()
    (copy / "model.lgb.txt").write_bytes(other)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["files"]["model.lgb.txt"] = {
        "sha256": hashlib.sha256(other).hexdigest(),
        "bytes": len(other),
    }
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleRejectedError, match=r"model\.onnx and model\.lgb\.txt disagree"):
        ServedModel.load(copy, "test")


def test_bundle_with_an_extra_file_is_refused(
    trained_bundles: TrainedBundles, tmp_path: Path
) -> None:
    """A file the manifest does not list is named; nothing is loaded."""
    copy = _copy(trained_bundles.newest, tmp_path)
    (copy / "notes.txt").write_text("hello")
    with pytest.raises(BundleRejectedError, match=r"file notes\.txt is not in the manifest"):
        ServedModel.load(copy, "test")


# --- sources and the slot ----------------------------------------------------------------------


def test_bundle_folder_serves_the_newest_version_unless_one_is_pinned(
    trained_bundles: TrainedBundles,
) -> None:
    """Versions sort by their UTC timestamp; a pin wins."""
    newest = BundleDirSource(trained_bundles.root, None, None).resolve(None)
    pinned = BundleDirSource(trained_bundles.root, None, trained_bundles.older.name).resolve(None)
    assert (newest, pinned) == (trained_bundles.newest, trained_bundles.older)


def test_bundle_folder_names_an_unknown_version(trained_bundles: TrainedBundles) -> None:
    """A version that is not there is a 404-type error naming it."""
    source = BundleDirSource(trained_bundles.root, None, None)
    with pytest.raises(ModelVersionNotFoundError, match=r"bundle jifen-pd-test/v9 is not in"):
        source.resolve("v9")


def test_slot_keeps_the_old_model_when_a_reload_is_refused(
    trained_bundles: TrainedBundles, tmp_path: Path
) -> None:
    """Reload to a corrupted version fails; the served model and its version stay."""
    for bundle in (trained_bundles.older, trained_bundles.newest):
        _copy(bundle, tmp_path)
    (tmp_path / MODEL_NAME / trained_bundles.newest.name / "encoder.json").write_text("{}")
    slot = ModelSlot(BundleDirSource(tmp_path, None, trained_bundles.older.name), 4, None)
    slot.reload()
    before = slot.require()
    with pytest.raises(BundleRejectedError, match=r"file encoder\.json has SHA-256"):
        slot.reload(trained_bundles.newest.name)
    assert slot.require() is before
    assert slot.require().version == trained_bundles.older.name


@pytest.mark.slow
def test_mlflow_alias_champion_resolves_to_the_registered_bundle(tmp_path: Path) -> None:
    """A run registered in a SQLite registry and aliased champion is served from its artifacts."""
    from mlflow import MlflowClient

    from serving.core.model import MlflowSource
    from training.tracking import default_target

    target = default_target(None, tmp_path / "mlflow")
    bundle = train_tiny_bundle(tmp_path / "run", tmp_path / "models", seed=13, tracking=target)
    client = MlflowClient(target.uri, target.uri)
    version = client.get_model_version_by_alias(MODEL_NAME, "challenger").version
    client.set_registered_model_alias(MODEL_NAME, "champion", version)
    source = MlflowSource(target.uri, None, "champion", tmp_path / "cache")
    path = source.resolve(None)
    model = ServedModel.load(path, source.description)
    assert model.model_version == f"{MODEL_NAME}/{bundle.name}"
    assert path == tmp_path / "cache" / MODEL_NAME / bundle.name
    assert source.locate(model.model_version) == path
