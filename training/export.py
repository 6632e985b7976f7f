"""Export stage: convert the booster to ONNX and refuse the export unless it is exact.

LightGBM puts a split threshold halfway between two training values, in double precision;
ONNX Runtime's tree ensemble compares float32 inputs with float32 thresholds. Rounding the
threshold to the nearest float32 can move it onto a value the model never saw in training
(common when data carry few decimals), and that row then takes the other branch. So before
conversion every threshold is rounded *down* to the largest float32 not above it: for any
float32 input x, ``x <= t`` and ``x <= t_down`` agree, so the rewritten booster predicts
exactly as the trained one on float32 inputs, and ONNX reproduces it. The rewritten booster
is the one saved in the bundle (for TreeSHAP).

The tree ensemble is converted with ``onnxmltools.convert_lightgbm`` (``zipmap=False``: a
plain probability matrix). The parity check runs the whole scoring chain (encoder, trees,
calibrator, blend) once with LightGBM and once with ONNX Runtime over at least
``min_rows`` rows (the data resampled with replacement if it has fewer) and requires the
final PDs to agree within ``tolerance``.
"""

from dataclasses import asdict, dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import onnx
import onnxmltools
import pandas as pd
from onnxmltools.convert.common.data_types import FloatTensorType

from training.errors import ExportParityError
from training.scorer import ONNX_INPUT, OnnxModel, Scorer


@dataclass(frozen=True)
class ParityResult:
    """How closely the ONNX chain reproduces the LightGBM chain."""

    rows: int
    resampled: bool
    max_abs_pd: float
    max_abs_raw: float
    grade_mismatches: int
    tolerance: float

    @property
    def ok(self) -> bool:
        """True when the final PDs agree within tolerance.

        Grades are reported, not required to match: a PD within ``tolerance`` of a grade
        bound can fall on either side of it, whatever the tolerance (with 100k rows and a
        3e-7 difference this happened once in the bench).
        """
        return self.max_abs_pd <= self.tolerance

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return asdict(self) | {"ok": self.ok}


def _round_down_f32(value: str) -> str:
    threshold = float(value)
    down = np.float32(threshold)
    if float(down) > threshold:
        down = np.nextafter(down, np.float32(-np.inf), dtype=np.float32)
    return repr(float(down))


def float32_thresholds(booster: lgb.Booster) -> lgb.Booster:
    """Return a copy of ``booster`` whose numeric split thresholds are float32 values.

    Each threshold t becomes the largest float32 ≤ t, which leaves every decision on float32
    inputs unchanged (see the module docstring).

    Raises:
        ExportParityError: the model has categorical splits (their thresholds are indexes).

    """
    # tree_sizes holds the byte length of each tree's text, which the rewrite changes;
    # without it LightGBM parses the trees one after the other.
    lines = [x for x in booster.model_to_string().splitlines() if not x.startswith("tree_sizes=")]
    for i, line in enumerate(lines):
        if line.startswith("decision_type=") and any(
            int(v) & 1 for v in line.split("=", 1)[1].split()
        ):
            raise ExportParityError("the booster has native categorical splits; encode them first")
        if line.startswith("threshold="):
            values = line.split("=", 1)[1].split()
            lines[i] = "threshold=" + " ".join(_round_down_f32(v) for v in values)
    return lgb.Booster(model_str="\n".join(lines) + "\n")


def to_onnx(booster: lgb.Booster, metadata: dict[str, str] | None = None) -> bytes:
    """Convert a binary LightGBM booster to ONNX bytes (float32 input named ``input``)."""
    n_features = booster.num_feature()
    model = onnxmltools.convert_lightgbm(
        booster,
        name="jifen_lightgbm",
        initial_types=[(ONNX_INPUT, FloatTensorType([None, n_features]))],
        zipmap=False,
    )
    for key, value in (metadata or {}).items():
        onnx.helper.set_model_props(model, {**_props(model), key: value})
    return bytes(model.SerializeToString())


def _props(model: onnx.ModelProto) -> dict[str, str]:
    return {p.key: p.value for p in model.metadata_props}


def parity_rows(frame: pd.DataFrame, min_rows: int, seed: int) -> tuple[pd.DataFrame, bool]:
    """Return the rows to check: all of them, or a resample with replacement up to ``min_rows``."""
    if len(frame) >= min_rows:
        return frame, False
    rng = np.random.default_rng(seed)
    return frame.iloc[rng.integers(0, len(frame), size=min_rows)].reset_index(drop=True), True


def check_parity(
    reference: Scorer, exported: Scorer, frame: pd.DataFrame, tolerance: float
) -> ParityResult:
    """Score ``frame`` with both chains and compare raw probabilities, PDs and grades."""
    ref, out = reference.score(frame), exported.score(frame)
    return ParityResult(
        rows=len(frame),
        resampled=False,
        max_abs_pd=float(np.max(np.abs(ref["pd"] - out["pd"]))),
        max_abs_raw=float(np.max(np.abs(ref["p_model_raw"] - out["p_model_raw"]))),
        grade_mismatches=int((ref["grade"] != out["grade"]).sum()),
        tolerance=tolerance,
    )


def export_checked(
    booster: lgb.Booster,
    reference: Scorer,
    frame: pd.DataFrame,
    *,
    min_rows: int,
    tolerance: float,
    seed: int,
    metadata: dict[str, str] | None = None,
) -> tuple[bytes, lgb.Booster, ParityResult]:
    """Round thresholds, convert to ONNX and check parity against the trained chain.

    Args:
        booster: the trained booster.
        reference: the scoring chain with the trained booster (LightGBM).
        frame: raw rows to check (resampled with replacement up to ``min_rows``).
        min_rows: fewest rows checked.
        tolerance: largest |PD(ONNX) − PD(LightGBM)| accepted.
        seed: seed of the resample.
        metadata: key/values stored in the ONNX model's metadata.

    Returns:
        The ONNX bytes, the float32-threshold booster to save, and the parity result.

    Raises:
        ExportParityError: the ONNX chain differs from LightGBM by more than ``tolerance``
            on some row.

    """
    safe = float32_thresholds(booster)
    model_bytes = to_onnx(safe, metadata)
    exported = Scorer(
        encoder=reference.encoder,
        raw_model=OnnxModel(model_bytes).probability,
        calibrator=reference.calibrator,
        scale=reference.scale,
        blend=reference.blend,
    )
    rows, resampled = parity_rows(frame, min_rows, seed)
    result = check_parity(reference, exported, rows, tolerance)
    result = ParityResult(**{**asdict(result), "resampled": resampled})
    if not result.ok:
        raise ExportParityError(
            f"ONNX parity failed on {result.rows} rows: max |PD(ONNX) - PD(LightGBM)| = "
            f"{result.max_abs_pd:.3g} (tolerance {tolerance:.0e}); export refused"
        )
    return model_bytes, safe, result
