"""Compare recent traffic with the training reference, and realised defaults with PDs.

Labelled steps: resolve the bundle → read its reference → collect the traffic of that
model version → PSI of the score and every input → grade mix → outcomes per grade (if
any) → one traffic light, the worst of them. A red light is what ``jifen monitor`` turns
into exit code 3.
"""

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from serving.core.db import Store
from serving.core.model import ModelSource
from serving.monitoring.errors import ReferenceMissingError
from serving.monitoring.outcomes import join_outcomes, read_outcomes
from serving.monitoring.traffic import GRADE, PD, Traffic, collect
from training.bundle import Bundle, load_bundle
from training.metrics import binomial_pvalue, calibration_by_grade, jeffreys
from training.report.config import Level, ReportConfig, calibration_level, worst
from training.report.reference import FILENAME, Drift, check_reference, drift


@dataclass(frozen=True)
class MonitorRequest:
    """What to monitor: decisions since a time, against a bundle, with outcomes if any."""

    since: datetime
    bundle_path: Path | None = None
    outcomes_path: Path | None = None


@dataclass(frozen=True)
class Checked:
    """One variable's drift and its traffic light."""

    drift: Drift
    level: Level


@dataclass(frozen=True)
class OutcomeCheck:
    """Realised default rates per grade against the PDs, on decisions with an outcome."""

    matched: int
    pending: int
    grades: list[dict[str, Any]]
    portfolio: dict[str, Any]
    level: Level


@dataclass(frozen=True)
class MonitorResult:
    """Everything the monitoring report shows."""

    model_version: str
    bundle_path: Path
    reference: dict[str, Any]
    traffic: Traffic
    until: datetime
    score: Checked | None
    features: list[Checked]
    grades: Drift | None
    outcomes: OutcomeCheck | None
    level: Level

    @property
    def red(self) -> bool:
        """True when any light is red (the command then exits with code 3)."""
        return self.level is Level.RED


def load_reference(bundle: Bundle) -> dict[str, Any]:
    """Return the bundle's verified reference distributions.

    Raises:
        ReferenceMissingError: the bundle was trained before references were stored.
        BundleIntegrityError: the file is not a reference of this format.

    """
    if FILENAME not in bundle.manifest["files"]:
        raise ReferenceMissingError(
            f"bundle {bundle.path} has no {FILENAME} (trained before monitoring references "
            "were stored): retrain it, or pass --bundle with a newer one"
        )
    raw = json.loads((bundle.path / FILENAME).read_text(encoding="utf-8"))
    return check_reference(raw, str(bundle.path / FILENAME))


def _outcomes(traffic: Traffic, path: Path, bundle: Bundle, config: ReportConfig) -> OutcomeCheck:
    flags = join_outcomes(traffic, read_outcomes(path))
    known = ~np.isnan(flags)
    y = flags[known].astype(np.int64)
    pd_ = traffic.frame[PD].to_numpy(dtype=float)[known]
    grades = calibration_by_grade(y, pd_, bundle.scale, alpha=config.alpha)
    portfolio: dict[str, Any] = {"n": int(known.sum()), "defaults": int(y.sum())}
    if known.any():
        mean_pd = float(pd_.mean())
        jef = jeffreys(int(known.sum()), int(y.sum()), mean_pd)
        portfolio |= {
            "mean_pd": mean_pd,
            "default_rate": float(y.mean()),
            "binomial_p": binomial_pvalue(int(known.sum()), int(y.sum()), mean_pd),
            "jeffreys_p": jef["p_value"],
            "jeffreys_low": jef["low"],
            "jeffreys_high": jef["high"],
        }
    rejected = sum(bool(g.get("rejected")) for g in grades)
    return OutcomeCheck(
        int(known.sum()), int((~known).sum()), grades, portfolio, calibration_level(rejected)
    )


def _in_scale_order(found: Drift, order: list[str]) -> Drift:
    """Reorder a grade-mix drift from best to worst grade (unknown labels last)."""
    rank = {g: order.index(g) if g in order else len(order) for g in found.bins}
    idx = sorted(range(len(found.bins)), key=lambda i: (rank[found.bins[i]], found.bins[i]))
    return Drift(
        found.name,
        found.kind,
        found.psi,
        found.n,
        [found.bins[i] for i in idx],
        [found.expected[i] for i in idx],
        [found.actual[i] for i in idx],
    )


def evaluate_traffic(
    bundle: Bundle,
    reference: dict[str, Any],
    traffic: Traffic,
    config: ReportConfig,
    outcomes_path: Path | None = None,
) -> MonitorResult:
    """PSI of the score and every input, the grade mix and the outcome tests, with lights."""
    score: Checked | None = None
    features: list[Checked] = []
    grades: Drift | None = None
    if traffic.n:
        found = drift("PD", reference["score"], traffic.frame[PD].to_numpy(dtype=float))
        score = Checked(found, config.psi.level(found.psi))
        for name, entry in reference["features"].items():
            found = drift(name, entry, traffic.frame[name].to_numpy(dtype=object))
            features.append(Checked(found, config.psi.level(found.psi)))
        features.sort(key=lambda c: -c.drift.psi)
        mix = {"kind": "categorical", "shares": reference["grades"]}
        grades = _in_scale_order(
            drift("grade", mix, traffic.frame[GRADE].to_numpy(dtype=object)), bundle.scale.names
        )
    outcomes = _outcomes(traffic, outcomes_path, bundle, config) if outcomes_path else None
    levels = [c.level for c in [*([score] if score else []), *features]]
    levels += [outcomes.level] if outcomes is not None else []
    return MonitorResult(
        model_version=f"{bundle.name}/{bundle.version}",
        bundle_path=bundle.path,
        reference=reference,
        traffic=traffic,
        until=datetime.now(UTC),
        score=score,
        features=features,
        grades=grades,
        outcomes=outcomes,
        level=worst(levels),
    )


def run_monitor(
    store: Store, request: MonitorRequest, source: ModelSource, config: ReportConfig
) -> MonitorResult:
    """Monitor the bundle named by the request (default: the one the settings serve).

    Raises:
        ModelVersionNotFoundError: no bundle is given and the settings' model is missing.
        BundleIntegrityError: the bundle fails its checksums.
        ReferenceMissingError: the bundle has no reference distributions.
        OutcomesFileError: the outcomes file cannot be used.
        StoreUnavailableError: the audit log cannot be read.

    """
    bundle = load_bundle(request.bundle_path or source.resolve(None))
    reference = load_reference(bundle)
    records = store.iter_records(since=request.since)
    traffic = collect(
        records, f"{bundle.name}/{bundle.version}", reference["features"], request.since
    )
    return evaluate_traffic(bundle, reference, traffic, config, request.outcomes_path)
