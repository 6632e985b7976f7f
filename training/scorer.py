"""Scoring chain of a trained model, the same at evaluation, parity check and serving.

frame → encoder (float32 matrix) → tree model (raw probability) → calibrator (model PD)
→ blend with the innovation points when configured (final PD) → master scale (grade).
The tree model is either the LightGBM booster or its ONNX export; the parity check runs the
chain with both and compares the final PDs.
"""

from collections.abc import Callable
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import onnxruntime as ort
import pandas as pd

from training.blend import PointsBlend
from training.calibrate import Calibrator
from training.encode import FeatureEncoder
from training.grades import MasterScale

RawModel = Callable[[np.ndarray], np.ndarray]
ONNX_INPUT = "input"


def lightgbm_probability(booster: lgb.Booster) -> RawModel:
    """Raw default probability from a LightGBM booster (float32 input, as ONNX reads it)."""

    def predict(matrix: np.ndarray) -> np.ndarray:
        return np.asarray(booster.predict(matrix.astype(np.float32)), dtype=np.float64)

    return predict


class OnnxModel:
    """An ONNX tree ensemble exported with ``zipmap=False``; input ``input`` (float32)."""

    def __init__(self, model_bytes: bytes, n_threads: int = 1) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = n_threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # the label output's declared shape warns on every run
        self.session = ort.InferenceSession(
            model_bytes, sess_options=options, providers=["CPUExecutionProvider"]
        )

    def probability(self, matrix: np.ndarray) -> np.ndarray:
        """Raw default probability (column 1 of the ``probabilities`` output)."""
        outputs = self.session.run(["probabilities"], {ONNX_INPUT: matrix.astype(np.float32)})
        return np.asarray(outputs[0], dtype=np.float64)[:, 1]


@dataclass(frozen=True)
class Scorer:
    """The full chain from a frame of applications to PD and grade."""

    encoder: FeatureEncoder
    raw_model: RawModel
    calibrator: Calibrator
    scale: MasterScale
    blend: PointsBlend | None = None

    def score(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Return ``p_model_raw``, ``pd_model``, ``pd_points_only``, ``pd`` and ``grade``.

        ``pd`` is the blended PD when a blend is configured, the model PD otherwise;
        ``pd_points_only`` is NaN without a blend.
        """
        p_raw = self.raw_model(self.encoder.transform(frame))
        out = pd.DataFrame(index=frame.index)
        out["p_model_raw"] = p_raw
        out["pd_model"] = self.calibrator.predict(p_raw)
        if self.blend is not None:
            points = pd.to_numeric(frame[self.blend.points_column], errors="coerce").to_numpy()
            out["pd_points_only"] = self.blend.predict_points_only(points)
            out["pd"] = self.blend.predict(p_raw, points)
        else:
            out["pd_points_only"] = np.nan
            out["pd"] = out["pd_model"]
        out["grade"] = self.scale.grade_of(out["pd"].to_numpy())
        return out
