"""Commands of the serving stage: serve, score, audit, keys."""

import typer


def register(app: typer.Typer) -> None:
    """Attach the serving-stage commands to the root ``jifen`` app."""
