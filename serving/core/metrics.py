"""Prometheus metrics of one app instance, and the ASGI middleware that records requests.

Each app gets its own registry (built in ``create_app``, not at import), so tests can
build many apps and a process never registers a metric twice.

Where the values live is chosen here, for the whole process, and not by the environment:
importing Feast sets ``PROMETHEUS_MULTIPROC_DIR`` to a temporary folder of its own, which
silently switches ``prometheus_client`` to per-process files shared by every metric of the
same name (two apps in one process then counted each other's requests). So:

- one process (``jifen serve``, tests): values in memory, one set per app;
- several workers (``jifen serve --workers N``): the server hands every worker one fresh
  folder (``JIFEN_METRICS_DIR``); each worker writes its values there and ``/metrics``
  sums all workers' files, so any worker answers a scrape with the service's totals.
"""

import os
import time
from pathlib import Path
from typing import Final

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, values
from prometheus_client.exposition import generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# 0.015 s is the first latency target's bound (p99 under 15 ms): an alert can read it.
LATENCY_BUCKETS: Final = (
    0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0
)  # fmt: skip
AUDIT_BUCKETS: Final = (
    0.0005, 0.001, 0.002, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0,
)  # fmt: skip
GROUP_BUCKETS: Final = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
UNMATCHED: Final = "unmatched"
"""Route label of requests no route matched (keeps arbitrary paths out of the labels)."""


def _keep_values(shared_dir: Path | None) -> None:
    # prometheus_client reads ``values.ValueClass`` whenever a metric or a labelled child
    # is made, so the choice holds for the whole process.
    if shared_dir is None:
        values.ValueClass = values.MutexValue
        return
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(shared_dir)
    values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]


class Metrics:
    """The service's counters and histograms in their own registry.

    Args:
        shared_dir: the folder all workers of one server write their values to; None for
            a single process (values in memory).

    """

    def __init__(self, shared_dir: Path | None = None) -> None:
        if shared_dir is not None and not shared_dir.is_dir():
            raise ValueError(f"metrics_dir {str(shared_dir)!r} is not a folder")
        _keep_values(shared_dir)
        self.shared_dir = shared_dir
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "jifen_http_requests",
            "HTTP requests by method, route template and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "jifen_http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route template.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.decisions = Counter(
            "jifen_decisions",
            "Decisions recorded in the audit log, by outcome (approve, refer, decline).",
            ["outcome"],
            registry=self.registry,
        )
        self.audit_write_failures = Counter(
            "jifen_audit_write_failures",
            "Decisions withheld because their audit record did not commit.",
            registry=self.registry,
        )
        self.score_block = Histogram(
            "jifen_score_block_applications",
            "Single applications scored together in one block (those that reached a worker "
            "in the same turn of its event loop).",
            buckets=GROUP_BUCKETS,
            registry=self.registry,
        )
        self.audit_wait = Histogram(
            "jifen_audit_wait_seconds",
            "Time a request waited for its audit records, from hand-over to the writer's "
            "answer (queue, the transaction and its fsync, back to the event loop).",
            buckets=AUDIT_BUCKETS,
            registry=self.registry,
        )
        self.audit_commit = Histogram(
            "jifen_audit_commit_seconds",
            "Time the audit writer took to commit one group (lock, seal, insert, fsync).",
            buckets=AUDIT_BUCKETS,
            registry=self.registry,
        )
        self.audit_group = Histogram(
            "jifen_audit_group_records",
            "Audit records per group handed to the writer (one transaction, one fsync).",
            buckets=GROUP_BUCKETS,
            registry=self.registry,
        )

    def render(self) -> tuple[bytes, str]:
        """Return the exposition text and its content type (all workers' totals if shared)."""
        if self.shared_dir is None:
            return generate_latest(self.registry), CONTENT_TYPE_LATEST
        combined = CollectorRegistry()
        MultiProcessCollector(combined, path=str(self.shared_dir))  # type: ignore[no-untyped-call]
        return generate_latest(combined), CONTENT_TYPE_LATEST


def route_template(scope: Scope) -> str:
    """Return the matched route's template with its mount prefix, e.g. ``/v1/decisions/{id}``.

    Routers included with a prefix keep their own template (``/decisions/{id}``), so the
    static prefix is recovered from the request path. Unmatched paths share one label.
    """
    route = scope.get("route")
    template = getattr(route, "path_format", None)
    regex = getattr(route, "path_regex", None)
    if template is None or regex is None:
        return UNMATCHED
    path: str = scope.get("path", "")
    for i, char in enumerate(path):
        if char == "/" and regex.match(path[i:]):
            return f"{path[:i]}{template}"
    return str(template)


class MetricsMiddleware:
    """Count and time every HTTP request under its route template, e.g. ``/v1/decisions/{id}``."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on and record its status and duration."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_and_note_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note_status)
        finally:
            route = route_template(scope)
            method = scope["method"]
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(time.perf_counter() - start)
