"""Shared plumbing for CLI commands: turn our errors into a clear message and exit code."""

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer
from rich.text import Text

from jifen.console import console
from jifen.errors import JifenError

P = ParamSpec("P")
R = TypeVar("R")


def friendly_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Print a JifenError as one red line and exit with code 2 instead of a traceback."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except JifenError as exc:
            # One line whatever the terminal width, and the message verbatim (no markup:
            # values such as "[1, 2]" must print as they are).
            console.print(Text.assemble(("error:", "bold red"), " ", str(exc)), soft_wrap=True)
            raise typer.Exit(code=2) from exc

    return wrapper
