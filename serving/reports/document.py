"""Render a decision's report: HTML, and PDF through WeasyPrint with the CJK font.

``decision_report_html`` is what the route and the CLI call: read the record and its
chain position from the store, the bundle of the recorded model version from the
caller's loader, then render. ``html_to_pdf`` prints the same HTML with WeasyPrint;
the page style names ``Noto Sans CJK SC`` (``fonts-noto-cjk``), so Chinese text is set
in a real font, never as boxes.
"""

import json
from collections.abc import Callable
from typing import Any

from features.definitions.model import FeatureSet
from serving.core.audit import record_from_row
from serving.core.db import Store
from serving.core.policy import Policy
from serving.reports.config import load_decision_report_config
from serving.reports.decision import chain_position, decision_context
from training.bundle import Bundle
from training.report.reference import FILENAME, check_reference
from training.report.render import render

PACKAGE = "serving.reports"
BundleLoader = Callable[[str], Bundle]
"""Returns the verified bundle of a recorded ``name/version``."""


def bundle_reference(bundle: Bundle) -> dict[str, Any] | None:
    """Return the bundle's training reference, or None if it was trained before it existed."""
    if FILENAME not in bundle.manifest.get("files", {}):
        return None
    raw = json.loads((bundle.path / FILENAME).read_text(encoding="utf-8"))
    return check_reference(raw, str(bundle.path / FILENAME))


def decision_report_html(
    store: Store,
    decision_id: str,
    load: BundleLoader,
    feature_set: FeatureSet,
    policy: Policy | None,
) -> str:
    """Render the report of one recorded decision.

    Raises:
        DecisionNotFoundError: no decision with this id is in the audit log.
        AuditIntegrityError: the stored record no longer parses.
        ModelVersionNotFoundError: the recorded model version's bundle is gone.
        BundleRejectedError: that bundle fails its checks.

    """
    row = store.get_row(decision_id)
    record = record_from_row(row)
    chain = chain_position(store, row)
    bundle = load(record.model_version)
    context = decision_context(
        record,
        chain,
        bundle,
        bundle_reference(bundle),
        feature_set,
        policy,
        load_decision_report_config(),
    )
    return render("decision.html.j2", context, PACKAGE)


def html_to_pdf(html: str) -> bytes:
    """Print a report's HTML to PDF (A4) with WeasyPrint."""
    from weasyprint import HTML  # deferred: slow import, only the PDF needs it

    pdf: bytes = HTML(string=html).write_pdf()
    return pdf
