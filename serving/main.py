"""The FastAPI app: wiring only. Build it with ``create_app()``; nothing happens at import."""

import gc
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from anyio import to_thread
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from jifen.errors import JifenError
from serving.api.errors import install_error_handlers
from serving.api.fast_score import FastScore
from serving.api.limits import BodyLimitsMiddleware, document_limits
from serving.api.main import api_router
from serving.api.routes import health, score
from serving.control import worker_control
from serving.core.config import ServingSettings, get_settings
from serving.core.metrics import Metrics, MetricsMiddleware
from serving.core.reload import ClusterReloader, LocalReloader, Reloader
from serving.core.services import Services, open_services

API_PREFIX = "/v1"


class JifenAPI(FastAPI):
    """The FastAPI app, with ``POST /v1/score`` answered by ``fast_score`` once it is set."""

    fast_score: FastScore | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Hand scores to the fast path while it is set; everything else to FastAPI."""
        fast = self.fast_score
        if (
            fast is not None
            and scope["type"] == "http"
            and scope["path"] == fast.path
            and scope["method"] == "POST"
        ):
            scope["app"] = self
            await fast(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def reloader(services: Services) -> Reloader:
    """Reload across every worker when this process is one of several, else here alone."""
    control = worker_control()
    if control is None:
        return LocalReloader(services.model)
    return ClusterReloader(services.model, control, services.settings.reload_timeout_s)


def create_app(settings: ServingSettings | None = None) -> FastAPI:
    """Build the app; the lifespan opens the audit store, the key ring and the model slot."""
    settings = settings or get_settings()
    metrics = Metrics(settings.metrics_dir)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        to_thread.current_default_thread_limiter().total_tokens = settings.worker_threads
        switch = sys.getswitchinterval()
        sys.setswitchinterval(settings.gil_switch_ms / 1000)  # process-wide (see the setting)
        services = open_services(settings, metrics)
        app.state.services = services
        app.state.reloader = reloader(services)
        # What start-up loaded (Feast, the model, pandas) lives as long as the process: keep
        # it out of the collector's full passes, which otherwise walk it every few seconds
        # under load and stall requests for milliseconds.
        gc.collect()
        gc.freeze()
        if isinstance(app, JifenAPI) and settings.fast_score:
            handler = app.exception_handlers[JifenError]
            full = partial(FastAPI.__call__, app)
            path = f"{API_PREFIX}{score.router.prefix}"
            app.fast_score = FastScore(path, full, services, metrics, handler)
        try:
            yield
        finally:
            if isinstance(app, JifenAPI):
                app.fast_score = None
            gc.unfreeze()
            services.close()
            sys.setswitchinterval(switch)

    app = JifenAPI(
        title="Jifen scoring service",
        summary="Credit risk for technology SMEs on innovation points and alternative data.",
        version="0.1.0",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    # Bodies are checked before routing (413, 415, 400), inside the metrics that count them.
    limits = settings.body_limits
    on_error = app.exception_handlers[JifenError]
    app.add_middleware(BodyLimitsMiddleware, limits=limits, on_error=on_error)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.include_router(health.router)
    app.include_router(api_router, prefix=API_PREFIX)
    document_limits(app, limits)
    return app
