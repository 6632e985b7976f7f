"""Terminal output helpers: one rich console, one progress-bar style, logging set-up."""

import logging

from rich.console import Console
from rich.logging import RichHandler
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

console = Console(stderr=True)


def make_progress(*, transient: bool = False) -> Progress:
    """Return the progress bar used by every long-running command."""
    return Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=transient,
    )


QUIETED: dict[str, int] = {"feast.infra.registry.registry": logging.WARNING}
"""Loggers held above INFO unless DEBUG is asked for: Feast's file registry logs "Registry
cache expired, so refreshing" on every first load, which is not an expiry (47 lines in
one ``make run``)."""


def configure_logging(level: str = "INFO") -> None:
    """Configure root logging once, from a CLI entry point or the app lifespan."""
    logging.basicConfig(
        level=level,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False)],
        force=True,
    )
    debug = logging.getLogger().getEffectiveLevel() <= logging.DEBUG
    for name, floor in QUIETED.items():
        logging.getLogger(name).setLevel(logging.NOTSET if debug else floor)
