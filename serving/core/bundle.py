"""A verified model bundle, loaded once: ONNX Runtime for PD, LightGBM for exact TreeSHAP.

The chain is the one ``training.scorer.Scorer`` runs, with two additions serving needs:

- **the score's logit.** With a points blend the final PD is
  ``clip(sigmoid(a + b·m + c·points))`` where ``m`` is the tree model's margin
  (``logit`` of its raw probability). Without a blend the score is the calibrated PD
  (Platt: ``a + b·m``; isotonic has no logit form, so explanations stay on ``m``).
- **exact explanations.** LightGBM's TreeSHAP gives ``m = φ₀ + Σ φᵢ`` to machine
  precision, so the score's logit splits exactly into ``a + b·φ₀ + c·p̄`` (base), ``b·φᵢ``
  (one line per feature) and ``c·(points − p̄)`` (the points' own line), with ``p̄`` the
  blend's median points. Centring on ``p̄`` is how SHAP treats a linear term (its value
  minus its expectation): firms at the median get no points line, firms above it a line
  that lowers the risk, below it one that raises it. The sum is the same as with the
  uncentred split ``a + b·φ₀``, ``b·φᵢ``, ``c·points``.

PD comes from ONNX Runtime (float32); the explanation from the LightGBM text model in
double precision. Both files are read once, their bytes checked against the manifest's
SHA-256 (so the booster explained is the one the manifest ties to the ONNX file served),
and a probe over every split threshold must give the same probabilities from both
before the bundle is accepted.
"""

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal, TypeVar

import lightgbm as lgb
import numpy as np
import pandas as pd

from jifen.errors import JifenError
from serving.core.encoding import RowEncoder
from serving.core.model_files import lightgbm_text, lightgbm_text_problem, onnx_failure
from serving.errors import BundleRejectedError
from training.blend import PointsBlend
from training.bundle import MANIFEST, MODEL_ONNX, MODEL_TEXT, Bundle, load_bundle
from training.calibrate import logit, sigmoid
from training.scorer import OnnxModel

log = logging.getLogger(__name__)

PROBE_ROWS: Final = 512
PROBE_TOLERANCE: Final = 1e-5
"""Largest |p(ONNX) − p(LightGBM)| the load-time probe accepts (the training parity bound)."""
UNRECORDED: Final = "unrecorded"
ZERO_THRESHOLD: Final = 1e-35
"""LightGBM's kZeroThreshold, where it places splits at zero."""

_T = TypeVar("_T")
LinkScale = Literal["blended_logit", "calibrated_logit", "model_logit"]


@dataclass(frozen=True)
class Link:
    """The affine map from the tree margin (and the points) to the score's logit."""

    intercept: float
    w_model: float
    w_points: float
    points_column: str | None
    points_fill: float | None
    scale: LinkScale

    def as_json(self) -> dict[str, str | float | None]:
        """Return the map as JSON, as decisions and the model card show it."""
        return {
            "scale": self.scale,
            "intercept": self.intercept,
            "w_model": self.w_model,
            "w_points": self.w_points,
            "points_column": self.points_column,
            "points_fill": self.points_fill,
        }

    @classmethod
    def of(cls, bundle: Bundle) -> "Link":
        """Read the map from the bundle's blend, else its Platt calibrator, else identity."""
        blend, cal = bundle.blend, bundle.calibrator
        if blend is not None:
            return cls(
                blend.intercept_,
                blend.w_model_,
                blend.w_points_,
                blend.points_column,
                blend.points_fill_,
                "blended_logit",
            )
        if cal.method == "platt":
            return cls(cal.intercept_, cal.slope_, 0.0, None, None, "calibrated_logit")
        return cls(0.0, 1.0, 0.0, None, None, "model_logit")


@dataclass(frozen=True)
class Predictions:
    """The ONNX chain's outputs for a block of rows (NumPy arrays, one value per row)."""

    p_raw: np.ndarray
    pd_model: np.ndarray
    pd_points_only: np.ndarray
    """NaN without a blend."""
    pd: np.ndarray
    grade_index: np.ndarray
    points_used: np.ndarray
    """Points as the blend read them (missing filled with the blend's median); NaN if none."""
    margin: np.ndarray
    """``logit(p_raw)``: the tree model's margin as ONNX Runtime gives it (float32 trees)."""


@dataclass(frozen=True)
class Explanations:
    """Exact additive explanations of the score's logit for a block of rows."""

    base: np.ndarray
    contributions: np.ndarray
    """Rows x model features."""
    points_line: np.ndarray
    logit: np.ndarray
    """``base + contributions.sum(1) + points_line``."""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _checked_bytes(path: Path, filename: str, manifest: dict[str, Any]) -> bytes:
    # Read once and hash what is used: a file swapped after verification is never served.
    try:
        data = (path / filename).read_bytes()
    except OSError as exc:
        raise BundleRejectedError(f"bundle {path}: {filename} cannot be read: {exc}") from exc
    recorded = str(manifest["files"][filename]["sha256"])
    if _sha256(data) != recorded:
        raise BundleRejectedError(
            f"bundle {path}: file {filename} changed after verification (SHA-256 "
            f"{_sha256(data)[:12]}…, manifest {recorded[:12]}…); refusing to load"
        )
    return data


def _loaded(path: Path, filename: str, build: Callable[[], _T]) -> _T:
    """Build or probe a model from ``filename``; a file its library refuses is a refusal."""
    try:
        return build()
    except BundleRejectedError:
        raise
    except lgb.basic.LightGBMError as exc:
        raise BundleRejectedError(
            f"bundle {path}: {MODEL_TEXT} is not a usable LightGBM model ({exc}); refusing to load"
        ) from exc
    except Exception as exc:  # ONNX Runtime's errors share no base class but Exception
        if filename == MODEL_ONNX:
            raise BundleRejectedError(
                f"bundle {path}: {onnx_failure(exc)}; refusing to load"
            ) from exc
        raise


def _model_text(path: Path, data: bytes) -> str:
    """Return the LightGBM model text, checked so that LightGBM raises on it, not crashes."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BundleRejectedError(
            f"bundle {path}: {MODEL_TEXT} is not UTF-8 text ({exc}); refusing to load"
        ) from exc
    problem = lightgbm_text_problem(text)
    if problem is not None:
        raise BundleRejectedError(
            f"bundle {path}: {MODEL_TEXT} is not a usable LightGBM model: {problem}; "
            "refusing to load"
        )
    return lightgbm_text(text)


def _probe(booster: lgb.Booster, nan_allowed: list[bool], rng: np.random.Generator) -> np.ndarray:
    """Rows that land on both sides of every split threshold, and missing where possible.

    NaN goes only into columns the encoder can leave missing: for the others it fills the
    train median, because LightGBM reads NaN as 0 where it saw no missing value in train
    and ONNX does not (``training.encode``). For the same kind of reason values within
    1e-35 of zero are left out (see ``ZERO_THRESHOLD``).
    """
    n_features = booster.num_feature()
    candidates: list[set[float]] = [{0.0} for _ in range(n_features)]
    for tree in booster.dump_model()["tree_info"]:
        stack = [tree["tree_structure"]]
        while stack:
            node = stack.pop()
            if "split_feature" not in node:
                continue
            t = np.float32(node["threshold"])
            up, down = np.nextafter(t, np.float32(np.inf)), np.nextafter(t, np.float32(-np.inf))
            candidates[node["split_feature"]].update({float(t), float(up), float(down)})
            stack += [node["left_child"], node["right_child"]]
    columns = []
    for values, nan in zip(candidates, nan_allowed, strict=True):
        # Splits "at zero" sit on ±1e-35 (LightGBM's kZeroThreshold), and for inputs that
        # small LightGBM and ONNX Runtime can take different branches. Such values do not
        # occur in our features, so the probe steps over them instead of onto them.
        usable = {v for v in values if v == 0.0 or abs(v) > 2 * ZERO_THRESHOLD} | {
            2 * ZERO_THRESHOLD,
            -2 * ZERO_THRESHOLD,
        }
        pool = np.array([*sorted(usable), *([np.nan] if nan else [])], dtype=np.float32)
        columns.append(rng.choice(pool, size=PROBE_ROWS))
    return np.column_stack(columns).astype(np.float32)


class ServedModel:
    """Everything one bundle version needs to score, explain and describe itself.

    Build it with ``ServedModel.load``; it is immutable afterwards and shared by threads
    (ONNX Runtime sessions and LightGBM prediction are thread-safe).
    """

    def __init__(self, bundle: Bundle, onnx: OnnxModel, booster: lgb.Booster, source: str):
        self.bundle = bundle
        self.source = source
        self.loaded_at = datetime.now(UTC)
        self.onnx = onnx
        self.booster = booster
        self.encoder = RowEncoder(bundle.encoder)
        self.link = Link.of(bundle)
        self.feature_order: tuple[str, ...] = tuple(bundle.encoder.feature_names)
        self.manifest_sha256 = _sha256((bundle.path / MANIFEST).read_bytes())
        self._uppers = np.array([g.upper_pd for g in bundle.scale.grades])
        self.grade_bounds: tuple[tuple[str, float, float], ...] = tuple(bundle.scale.bounds())
        """(grade, lower PD exclusive, upper PD inclusive) of the master scale, by index."""

    @classmethod
    def load(cls, path: Path, source: str) -> "ServedModel":
        """Verify and load the bundle at ``path``; ``source`` says where it came from.

        Raises:
            BundleRejectedError: a checksum, format or the ONNX/LightGBM probe fails; the
                message names the file.

        """
        try:
            bundle = load_bundle(path)
        except (JifenError, OSError, ValueError, KeyError) as exc:
            raise BundleRejectedError(str(exc)) from exc
        onnx_bytes = _checked_bytes(path, MODEL_ONNX, bundle.manifest)
        text = _model_text(path, _checked_bytes(path, MODEL_TEXT, bundle.manifest))
        booster = _loaded(path, MODEL_TEXT, lambda: lgb.Booster(model_str=text))
        onnx = _loaded(path, MODEL_ONNX, lambda: OnnxModel(onnx_bytes, n_threads=1))
        model = cls(bundle, onnx, booster, source)
        _loaded(path, MODEL_ONNX, model.self_check)
        return model

    # --- identity ---------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """Registered model name."""
        return self.bundle.name

    @property
    def version(self) -> str:
        """Bundle version (UTC timestamp and ONNX hash prefix)."""
        return self.bundle.version

    @property
    def model_version(self) -> str:
        """``name/version``, as written into audit records."""
        return f"{self.name}/{self.version}"

    @property
    def catalogue_version(self) -> str:
        """Indicator catalogue the training set's points were computed with."""
        fingerprint = self.bundle.manifest.get("fingerprint") or {}
        return str(fingerprint.get("catalogue_version") or UNRECORDED)

    @property
    def points_column(self) -> str | None:
        """The column the blend reads the innovation points from, if it blends."""
        return self.link.points_column

    def self_check(self) -> None:
        """Refuse the bundle unless ONNX and the LightGBM text model agree on a probe.

        Raises:
            BundleRejectedError: the feature counts or ONNX metadata disagree, or the two
                models' probabilities differ by more than ``PROBE_TOLERANCE``.

        """
        path = self.bundle.path
        if self.booster.num_feature() != len(self.feature_order):
            raise BundleRejectedError(
                f"bundle {path}: {MODEL_TEXT} has {self.booster.num_feature()} features, "
                f"encoder.json {len(self.feature_order)}"
            )
        meta = self.onnx.session.get_modelmeta().custom_metadata_map.get("feature_order")
        if meta is not None and json.loads(meta) != list(self.feature_order):
            raise BundleRejectedError(
                f"bundle {path}: {MODEL_ONNX} feature_order differs from encoder.json"
            )
        encoder = self.bundle.encoder
        nan_allowed = [False] * len(encoder.categorical) + [
            encoder.fill_[c] is None for c in encoder.numeric
        ]
        try:
            probe = _probe(self.booster, nan_allowed, np.random.default_rng(0))
        except ValueError as exc:  # LightGBM dumped trees that do not read back as JSON
            raise BundleRejectedError(
                f"bundle {path}: {MODEL_TEXT} holds trees LightGBM cannot dump ({exc}); "
                "refusing to load"
            ) from exc
        onnx_p = self.onnx.probability(probe)
        lgb_p = np.asarray(self.booster.predict(probe, num_threads=1), dtype=np.float64)
        gap = float(np.max(np.abs(onnx_p - lgb_p)))
        if not gap <= PROBE_TOLERANCE:
            raise BundleRejectedError(
                f"bundle {path}: {MODEL_ONNX} and {MODEL_TEXT} disagree on a probe of "
                f"{PROBE_ROWS} rows (max |Δp| = {gap:.3g} > {PROBE_TOLERANCE:g}); they are "
                "not the same model"
            )

    # --- scoring --------------------------------------------------------------------------

    def encode_rows(self, rows: list[dict[str, object]]) -> np.ndarray:
        """Encode request rows (dicts of raw values) into the model matrix."""
        return self.encoder.encode(rows)

    def encode_frame(self, frame: pd.DataFrame) -> np.ndarray:
        """Encode a frame (a file chunk) with the bundle's own vectorised encoder."""
        return self.bundle.encoder.transform(frame)

    def grade_index(self, pd_: np.ndarray) -> np.ndarray:
        """Index (0 = best) of each PD's grade on the bundle's master scale."""
        return np.searchsorted(self._uppers, pd_, side="left").clip(0, len(self._uppers) - 1)

    def predict(self, matrix: np.ndarray, points: np.ndarray) -> Predictions:
        """Run the ONNX chain: raw probability, calibrated PD, blended PD and grade."""
        p_raw = self.onnx.probability(matrix)
        margin = logit(p_raw)  # once, for the calibrator, the blend and the score's logit
        pd_model = self.bundle.calibrator.predict(p_raw, margin=margin)
        blend: PointsBlend | None = self.bundle.blend
        if blend is not None:
            points = np.asarray(points, dtype=np.float64)
            used = np.where(np.isnan(points), blend.points_fill_, points)
            pd_final = blend.predict(p_raw, points, margin=margin)
            points_only = blend.predict_points_only(points)
        else:
            used = np.full(len(p_raw), np.nan)
            pd_final, points_only = pd_model, np.full(len(p_raw), np.nan)
        grade = self.grade_index(pd_final)
        return Predictions(p_raw, pd_model, points_only, pd_final, grade, used, margin)

    def explain(self, matrix: np.ndarray, points_used: np.ndarray) -> Explanations:
        """Exact TreeSHAP, mapped onto the score's logit (see the module docstring)."""
        phi = np.asarray(
            self.booster.predict(matrix, pred_contrib=True, num_threads=1), dtype=np.float64
        )
        link = self.link
        # The points' line is centred on the blend's median, as SHAP centres a linear term
        # on its expected value: points at the median contribute 0 and the base holds c·fill.
        fill = link.points_fill if link.points_column and link.points_fill is not None else 0.0
        base = link.intercept + link.w_model * phi[:, -1] + link.w_points * fill
        contributions = link.w_model * phi[:, :-1]
        points_line = (
            link.w_points * (points_used - fill) if link.points_column else np.zeros(len(phi))
        )
        total = base + contributions.sum(axis=1) + points_line
        return Explanations(base, contributions, points_line, total)

    def pd_of_logit(self, score_logit: np.ndarray) -> np.ndarray:
        """Return the PD of a score logit through the LightGBM chain (parity checks, files)."""
        blend, cal = self.bundle.blend, self.bundle.calibrator
        floor, cap = (blend.pd_floor, blend.pd_cap) if blend else (cal.pd_floor, cal.pd_cap)
        if self.link.scale == "model_logit":
            return cal.predict(sigmoid(score_logit))
        return np.asarray(np.clip(sigmoid(score_logit), floor, cap), dtype=np.float64)

    def served_logit(self, predictions: Predictions) -> np.ndarray:
        """Return the score's logit as the ONNX chain computes it (float32 margin)."""
        margin = predictions.margin
        points = np.nan_to_num(predictions.points_used) if self.link.points_column else 0.0
        return self.link.intercept + self.link.w_model * margin + self.link.w_points * points
