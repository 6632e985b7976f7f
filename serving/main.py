"""The FastAPI app: wiring only. Build it with ``create_app()``; nothing happens at import."""

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from anyio import to_thread
from fastapi import FastAPI

from serving.api.errors import install_error_handlers
from serving.api.main import api_router
from serving.api.routes import health
from serving.core.config import ServingSettings, get_settings
from serving.core.metrics import Metrics, MetricsMiddleware
from serving.core.services import open_services

API_PREFIX = "/v1"


def create_app(settings: ServingSettings | None = None) -> FastAPI:
    """Build the app; the lifespan opens the audit store, the key ring and the model slot."""
    settings = settings or get_settings()
    metrics = Metrics(settings.metrics_dir)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        to_thread.current_default_thread_limiter().total_tokens = settings.worker_threads
        services = open_services(settings, metrics)
        app.state.services = services
        # What start-up loaded (Feast, the model, pandas) lives as long as the process: keep
        # it out of the collector's full passes, which otherwise walk it every few seconds
        # under load and stall requests for milliseconds.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            gc.unfreeze()
            services.close()

    app = FastAPI(
        title="Jifen scoring service",
        summary="Credit risk for technology SMEs on innovation points and alternative data.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(api_router, prefix=API_PREFIX)
    return app
