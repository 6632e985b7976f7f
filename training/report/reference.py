"""Training reference distributions (``reference.json`` in the bundle) and PSI against them.

Monitoring compares live scoring traffic with the data the model was trained on, but a
bundle must not carry its training rows. So training stores, per model input and for
the final PD, only what PSI needs: the bin edges fixed on the training sample (its
deciles, as ``training.metrics.psi_numeric`` cuts them) and the share of rows per bin,
with missing values as a bin of their own; categorical inputs keep the share of each
category. PSI of any later sample against the reference is then exactly the PSI against
the training sample itself. The innovation points' quantiles per segment (industry,
zone) are kept too, so a decision report can place a firm among its peers.
"""

from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd

from training.errors import BundleIntegrityError
from training.grades import MasterScale
from training.spec import DatasetSpec

FORMAT: Final = "jifen-reference/1"
FILENAME: Final = "reference.json"
MISSING: Final = "__missing__"
SCORE: Final = "pd"
"""Name under which the final PD's distribution is stored."""
PEER_QUANTILES: Final = tuple(round(q / 10, 1) for q in range(11))
_EPS: Final = 1e-6


def _numeric(values: Any) -> np.ndarray:
    series = pd.Series(values)
    if series.dtype == bool or series.dtype == "boolean":
        series = series.astype("float64")
    array = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    return np.where(np.isinf(array), np.nan, array)


def _categories(values: Any) -> pd.Series:
    return pd.Series(values, dtype="object").astype("string").fillna(MISSING)


def numeric_entry(values: Any, bins: int) -> dict[str, Any]:
    """Decile edges of a numeric sample and its share of rows per bin (last bin: missing)."""
    array = _numeric(values)
    finite = array[np.isfinite(array)]
    if finite.size == 0:
        edges = np.array([], dtype=np.float64)
    else:
        edges = np.unique(np.quantile(finite, np.linspace(0, 1, bins + 1))[1:-1])
    counts = numeric_counts(edges, array)
    return {
        "kind": "numeric",
        "n": int(array.size),
        "edges": [float(e) for e in edges],
        "shares": [float(c) for c in counts / max(array.size, 1)],
    }


def numeric_counts(edges: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Rows per bin: ``len(edges) + 1`` value bins (right-closed on the left) then missing."""
    missing = ~np.isfinite(values)
    idx = np.searchsorted(edges, values[~missing], side="right")
    return np.append(np.bincount(idx, minlength=edges.size + 1), missing.sum()).astype(float)


def categorical_entry(values: Any) -> dict[str, Any]:
    """Share of rows per category (missing values counted as ``__missing__``)."""
    shares = _categories(values).value_counts(normalize=True).sort_index()
    return {
        "kind": "categorical",
        "n": len(values),
        "shares": {str(k): float(v) for k, v in shares.items()},
    }


def psi_of_shares(expected: np.ndarray, actual: np.ndarray) -> float:
    """PSI = Σ (a − e) · ln(a / e), shares floored at 1e-6 as in ``training.metrics``."""
    e = np.clip(np.asarray(expected, dtype=float), _EPS, None)
    a = np.clip(np.asarray(actual, dtype=float), _EPS, None)
    return float(np.sum((a - e) * np.log(a / e)))


@dataclass(frozen=True)
class Drift:
    """PSI of one variable against its reference, with the shares side by side."""

    name: str
    kind: str
    psi: float
    n: int
    bins: list[str]
    expected: list[float]
    actual: list[float]


def _label(edges: list[float], i: int) -> str:
    if i == len(edges) + 1:
        return "missing"
    low = "−∞" if i == 0 else f"{edges[i - 1]:.4g}"
    high = "+∞" if i == len(edges) else f"{edges[i]:.4g}"
    return f"[{low}, {high})"


def drift(name: str, entry: dict[str, Any], values: Any) -> Drift:
    """PSI of ``values`` against the reference ``entry`` of the variable ``name``.

    Raises:
        BundleIntegrityError: the entry is of an unknown kind.

    """
    if entry.get("kind") == "numeric":
        edges = list(entry["edges"])
        array = _numeric(values)
        counts = numeric_counts(np.asarray(edges, dtype=float), array)
        actual = counts / max(array.size, 1)
        expected = np.asarray(entry["shares"], dtype=float)
        bins = [_label(edges, i) for i in range(len(edges) + 2)]
        return Drift(
            name,
            "numeric",
            psi_of_shares(expected, actual),
            int(array.size),
            bins,
            [float(x) for x in expected],
            [float(x) for x in actual],
        )
    if entry.get("kind") == "categorical":
        reference: dict[str, float] = dict(entry["shares"])
        observed = _categories(values).value_counts(normalize=True)
        labels = sorted(set(reference) | {str(k) for k in observed.index})
        exp = np.array([reference.get(k, 0.0) for k in labels])
        act = np.array([float(observed.get(k, 0.0)) for k in labels])
        return Drift(
            name,
            "categorical",
            psi_of_shares(exp, act),
            len(values),
            labels,
            [float(x) for x in exp],
            [float(x) for x in act],
        )
    raise BundleIntegrityError(f"reference entry {name!r} has unknown kind {entry.get('kind')!r}")


def _peers(frame: pd.DataFrame, points: str, segments: tuple[str, ...]) -> dict[str, Any]:
    values = _numeric(frame[points])

    def summary(mask: np.ndarray) -> dict[str, Any]:
        chosen = values[mask & np.isfinite(values)]
        if chosen.size == 0:
            return {"n": 0, "quantiles": None}
        qs = np.quantile(chosen, PEER_QUANTILES)
        return {"n": int(chosen.size), "quantiles": [float(q) for q in qs]}

    by: dict[str, dict[str, Any]] = {}
    for column in segments:
        if column not in frame.columns:
            continue
        labels = _categories(frame[column]).to_numpy()
        by[column] = {str(v): summary(labels == v) for v in sorted(set(labels))}
    return {
        "points_column": points,
        "quantile_levels": list(PEER_QUANTILES),
        "all": summary(np.ones(len(values), dtype=bool)),
        "by": by,
    }


def build_reference(
    spec: DatasetSpec,
    frame: pd.DataFrame,
    pd_: np.ndarray,
    scale: MasterScale,
    bins: int,
    sample: str = "train",
) -> dict[str, Any]:
    """Return the reference distributions of every model input, the points and the PD.

    Args:
        spec: the dataset spec (which inputs are categorical or numeric, points, segments).
        frame: the reference sample's raw rows (the training split).
        pd_: final PD of each row of ``frame``.
        scale: the master scale (the share of rows per grade is kept too).
        bins: number of quantile bins of numeric variables.
        sample: name of the sample, written into the file.

    """
    features: dict[str, Any] = {c: categorical_entry(frame[c]) for c in spec.categorical}
    for column in spec.numeric:
        features[column] = numeric_entry(frame[column], bins)
    if spec.points_column and spec.points_column not in features:
        features[spec.points_column] = numeric_entry(frame[spec.points_column], bins)
    grades = pd.Series(scale.grade_of(pd_)).value_counts(normalize=True)
    out: dict[str, Any] = {
        "format": FORMAT,
        "sample": sample,
        "rows": len(frame),
        "psi_bins": bins,
        "features": features,
        "score": {"name": SCORE, **numeric_entry(pd_, bins)},
        "grades": {g: float(grades.get(g, 0.0)) for g in scale.names},
        "scale_version": scale.scale_version,
    }
    if spec.time_column and spec.time_column in frame.columns:
        dates = pd.to_datetime(frame[spec.time_column], errors="coerce")
        out["period"] = {"from": str(dates.min().date()), "to": str(dates.max().date())}
    if spec.points_column:
        out["peers"] = _peers(frame, spec.points_column, spec.segments)
    return out


def check_reference(raw: Any, where: str) -> dict[str, Any]:
    """Return ``raw`` if it is a reference of this format.

    Raises:
        BundleIntegrityError: it is not (names ``where``).

    """
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        found = raw.get("format") if isinstance(raw, dict) else type(raw).__name__
        raise BundleIntegrityError(f"{where}: reference format must be {FORMAT!r}; got {found!r}")
    return raw


def peer_percentile(quantiles: list[float], levels: list[float], value: float) -> float:
    """Approximate percentile (0–100) of ``value`` among peers, from their stored quantiles.

    Between two stored quantiles the level is interpolated linearly; a value equal to
    several quantiles (many firms on the same points) gets the middle of their levels.
    """
    qs = np.asarray(quantiles, dtype=float)
    lv = np.asarray(levels, dtype=float)
    left = int(np.searchsorted(qs, value, side="left"))
    right = int(np.searchsorted(qs, value, side="right"))
    if right > left:
        return 100.0 * float(lv[left:right].mean())
    if left == 0:
        return 0.0
    if left == qs.size:
        return 100.0
    share = (value - qs[left - 1]) / (qs[left] - qs[left - 1])
    return 100.0 * float(lv[left - 1] + share * (lv[left] - lv[left - 1]))
