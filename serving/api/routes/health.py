"""Service routes outside the versioned API: liveness, readiness, metrics."""

from fastapi import APIRouter, Response

from serving.api.deps import ServicesDep
from serving.schemas import Health, Readiness

router = APIRouter(tags=["service"])


@router.get("/health")
def health() -> Health:
    """Answer as long as the process runs (liveness)."""
    return Health()


@router.get("/ready", responses={503: {"model": Readiness, "description": "Not ready"}})
def ready(services: ServicesDep, response: Response) -> Readiness:
    """Say whether a score could be served now: audit store writable and a model loaded."""
    readiness = services.readiness()
    if not readiness.ready:
        response.status_code = 503
    return readiness


@router.get("/metrics", include_in_schema=False)
def metrics(services: ServicesDep) -> Response:
    """Expose the Prometheus metrics."""
    body, content_type = services.metrics.render()
    return Response(content=body, media_type=content_type)
