"""The report step of training: the files it adds to the bundle.

``validation_report.html`` (self-contained, charts embedded as PNG) and ``reference.json``
(training distributions for monitoring). They go into the bundle through its own writer,
so the manifest lists and checksums them like every other file, and they reach MLflow
with the bundle's artifacts.
"""

from pathlib import Path

from training.bundle import to_json_bytes
from training.report.assemble import ReportInputs, assemble
from training.report.config import ReportConfig, load_report_config
from training.report.reference import FILENAME as REFERENCE_FILE
from training.report.reference import build_reference
from training.report.render import render

REPORT_FILE = "validation_report.html"


def validation_html(inputs: ReportInputs, config: ReportConfig) -> str:
    """Render the validation report of one training run."""
    assembled = assemble(inputs, config)
    return render("validation.html.j2", assembled.context)


def report_files(inputs: ReportInputs, config_path: Path | None = None) -> dict[str, bytes]:
    """Return the validation report and the reference distributions, as bundle files.

    Raises:
        TrainingConfigError: the report configuration is invalid.

    """
    config = load_report_config(config_path)
    train = inputs.splits.train
    reference = build_reference(
        inputs.spec,
        train.frame,
        inputs.scored["train"]["pd"].to_numpy(),
        inputs.scale,
        config.psi.bins,
    )
    return {
        REPORT_FILE: validation_html(inputs, config).encode("utf-8"),
        REFERENCE_FILE: to_json_bytes(reference),
    }
