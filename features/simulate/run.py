"""Run a simulation: firms chunk by chunk, each chunk's tables written then released.

Every chunk draws from its own random streams, derived from the seed and the chunk
number, one stream per concern, so the same config gives byte-identical files and a
change to one table's code does not reshuffle the others.
"""

import logging
import resource
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from features.contracts.tables import CONTRACTS
from features.layout import DataLayout
from features.simulate.activity import monthly_activity
from features.simulate.applications import (
    application_ids,
    applications_frame,
    draw_applications,
)
from features.simulate.calendar import Timeline, build_timeline
from features.simulate.checkins import checkins_frame
from features.simulate.config import SimulationConfig
from features.simulate.credit_events import credit_events_frame
from features.simulate.electricity import electricity_frame
from features.simulate.enterprises import draw_certificates, enterprises_frame
from features.simulate.filings import filings_frame
from features.simulate.injection import INJECTED_SCHEMA, inject
from features.simulate.latent import NO_MONTH, latent_params, simulate_paths
from features.simulate.missingness import reporting_lapses
from features.simulate.oracle import (
    APPLICATIONS_TRUTH_SCHEMA,
    FIRMS_TRUTH_SCHEMA,
    applications_truth,
    firms_truth,
    true_pd,
)
from features.simulate.population import Registry, draw_firms, draw_registry
from features.simulate.summary import SimulationSummary, auc
from features.simulate.tax import tax_frame
from features.simulate.writer import Frame, OracleWriter, PartWriter
from jifen.console import make_progress

logger = logging.getLogger(__name__)

STREAMS = (
    "firms",
    "latent",
    "enterprises",
    "filings",
    "electricity",
    "checkins",
    "tax",
    "applications",
    "events",
    "oracle",
    "injection",
    "missingness",
)
_REGISTRY_KEY = 0
_CHUNK_KEY = 1


@dataclass
class ChunkResult:
    """Everything one chunk produced."""

    frames: dict[str, Frame]
    applications_truth: dict[str, npt.NDArray[Any]]
    firms_truth: dict[str, npt.NDArray[Any]]
    injected: dict[str, list[str]]
    matured_pd: npt.NDArray[np.float64]
    matured_flag: npt.NDArray[np.bool_]
    defaulted_firms: int


@dataclass
class _Totals:
    pd: list[npt.NDArray[np.float64]] = field(default_factory=list)
    flag: list[npt.NDArray[np.bool_]] = field(default_factory=list)
    defaulted: int = 0
    injected: int = 0


def chunk_streams(seed: int, chunk: int) -> dict[str, np.random.Generator]:
    """Independent generators for each concern of one chunk."""
    children = np.random.SeedSequence(seed, spawn_key=(_CHUNK_KEY, chunk)).spawn(len(STREAMS))
    return {name: np.random.default_rng(ss) for name, ss in zip(STREAMS, children, strict=True)}


def simulate_chunk(
    cfg: SimulationConfig, registry: Registry, timeline: Timeline, chunk: int, start: int, stop: int
) -> ChunkResult:
    """Simulate firms ``start:stop``: latent paths, every raw table, oracle and injections."""
    rng = chunk_streams(cfg.seed, chunk)
    # Step 1: firms and their hidden paths.
    firms = draw_firms(cfg, registry, start, stop, timeline, rng["firms"])
    params = latent_params(firms, cfg)
    paths = simulate_paths(firms, params, timeline, cfg, rng["latent"])
    activity = monthly_activity(firms, paths, timeline, cfg)
    certs = draw_certificates(firms, timeline, rng["enterprises"])
    lapsed = reporting_lapses(activity, paths, timeline, cfg, rng["missingness"])
    # Step 2: applications and their true PD.
    apps = draw_applications(firms, paths, activity, timeline, cfg, rng["applications"])
    ids = application_ids(apps, start, timeline)
    pd_true, hazard_now = true_pd(apps, params, paths, timeline, cfg, rng["oracle"])
    # Step 3: the raw tables.
    frames = {
        "enterprises": enterprises_frame(firms, paths, certs, timeline, cfg, rng["enterprises"]),
        "innovation_filings": filings_frame(
            firms, activity, paths, certs, lapsed, timeline, cfg, rng["filings"]
        ),
        "electricity_monthly": electricity_frame(
            firms, activity, paths, lapsed, timeline, cfg, rng["electricity"]
        ),
        "checkins_daily": checkins_frame(
            firms, activity, paths, lapsed, timeline, cfg, rng["checkins"]
        ),
        "tax_monthly": tax_frame(firms, activity, paths, certs, lapsed, timeline, cfg, rng["tax"]),
        "credit_events": credit_events_frame(
            firms, paths, activity, apps, timeline, cfg, rng["events"]
        ),
        "applications": applications_frame(apps, ids, firms, cfg),
    }
    # Step 4: contract-breaking rows, recorded.
    injected: dict[str, list[str]] = {"table": [], "row_key": [], "column": [], "rule": []}
    for table in CONTRACTS:
        frames[table], record = inject(table, frames[table], cfg.injection_rate, rng["injection"])
        for key, values in record.items():
            injected[key].extend(values)
    # Step 5: the hidden truth.
    return ChunkResult(
        frames=frames,
        applications_truth=applications_truth(
            ids, firms, apps, paths, pd_true, hazard_now, timeline
        ),
        firms_truth=firms_truth(firms, params, paths, timeline),
        injected=injected,
        matured_pd=pd_true[apps.matured],
        matured_flag=apps.defaulted[apps.matured],
        defaulted_firms=int((paths.default_month != NO_MONTH).sum()),
    )


def run_simulation(cfg: SimulationConfig, layout: DataLayout) -> SimulationSummary:
    """Simulate the portfolio of ``cfg`` into ``layout``; return what was produced."""
    started = time.perf_counter()
    # Step 1: the calendar and the portfolio-wide registry (zones, unique codes).
    timeline = build_timeline(cfg.snapshot_date, cfg.history_years, cfg.health.burn_in_months)
    registry = draw_registry(
        cfg, np.random.default_rng(np.random.SeedSequence(cfg.seed, spawn_key=(_REGISTRY_KEY,)))
    )
    # Step 2: writers; parts of an earlier run are removed first.
    parts = PartWriter(layout)
    parts.clear()
    oracle = {
        "applications": OracleWriter(
            layout.oracle / "applications_truth.parquet", APPLICATIONS_TRUTH_SCHEMA
        ),
        "firms": OracleWriter(layout.oracle / "firms_truth.parquet", FIRMS_TRUTH_SCHEMA),
        "injected": OracleWriter(layout.oracle / "injected_errors.parquet", INJECTED_SCHEMA),
    }
    # Step 3: chunk after chunk, written then released.
    starts = list(range(0, cfg.n_firms, cfg.chunk_size))
    totals = _Totals()
    logger.info("Simulating %s firms in %s chunk(s) into %s", cfg.n_firms, len(starts), layout.root)
    with make_progress() as progress:
        task = progress.add_task("Simulating portfolio", total=len(starts))
        for chunk, start in enumerate(starts):
            stop = min(start + cfg.chunk_size, cfg.n_firms)
            result = simulate_chunk(cfg, registry, timeline, chunk, start, stop)
            for table, frame in result.frames.items():
                parts.write(table, chunk, frame)
            oracle["applications"].write(result.applications_truth)
            oracle["firms"].write(result.firms_truth)
            oracle["injected"].write(
                {k: np.array(v, dtype=object) for k, v in result.injected.items()}
            )
            totals.pd.append(result.matured_pd)
            totals.flag.append(result.matured_flag)
            totals.defaulted += result.defaulted_firms
            totals.injected += len(result.injected["table"])
            del result
            progress.advance(task)
    for writer in oracle.values():
        writer.close()
    # Step 4: the summary.
    return _summary(cfg, parts.rows, len(starts), totals, time.perf_counter() - started)


def _summary(
    cfg: SimulationConfig, rows: dict[str, int], n_parts: int, totals: _Totals, seconds: float
) -> SimulationSummary:
    pd_matured = np.concatenate(totals.pd) if totals.pd else np.zeros(0)
    flags = np.concatenate(totals.flag) if totals.flag else np.zeros(0, dtype=bool)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return SimulationSummary(
        rows=dict(rows),
        parts=n_parts,
        n_firms=cfg.n_firms,
        matured=len(flags),
        defaults=int(flags.sum()),
        mean_true_pd=float(pd_matured.mean()) if len(pd_matured) else float("nan"),
        oracle_auc=auc(pd_matured, flags),
        defaulted_firms=totals.defaulted,
        injected=totals.injected,
        seconds=seconds,
        peak_rss_mb=peak_mb,
    )
