"""Report routes: a recorded decision explained in HTML or PDF (auditor role)."""

import logging
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response

from serving.api.deps import AuditorDep, ServicesDep
from serving.api.errors import AUTH_RESPONSES
from serving.api.routes.decisions import DecisionIdPath
from serving.reports.document import decision_report_html, html_to_pdf

log = logging.getLogger(__name__)
router = APIRouter(prefix="/decisions", tags=["audit"], responses=AUTH_RESPONSES)
FormatQuery = Annotated[
    Literal["html", "pdf"], Query(alias="format", description="html (default) or pdf.")
]
_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    200: {
        "description": "The report, bilingual (中文 / English)",
        "content": {"text/html": {}, "application/pdf": {}},
    },
    404: {"description": "No such decision, or its model version is no longer available"},
    409: {"description": "The recorded model version's bundle fails its checks"},
}


@router.get("/{decision_id}/report", response_class=Response, responses=_RESPONSES)
def decision_report(
    decision_id: DecisionIdPath,
    caller: AuditorDep,
    services: ServicesDep,
    fmt: FormatQuery = "html",
) -> Response:
    """Explain a decision: PD, grade, points beside peers, reasons, rules, provenance, audit."""
    html = decision_report_html(
        services.store,
        decision_id,
        lambda version: services.model.version(version).bundle,
        services.decisions.writer.feature_set,
        services.decisions.policy,
    )
    log.info("auditor key %s read the %s report of %s", caller.key_id, fmt, decision_id)
    if fmt == "pdf":
        disposition = f'inline; filename="{decision_id}.pdf"'
        return Response(
            html_to_pdf(html),
            media_type="application/pdf",
            headers={"Content-Disposition": disposition},
        )
    return HTMLResponse(html)
