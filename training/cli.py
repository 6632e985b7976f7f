"""Commands of the training stage: train, promote."""

import typer


def register(app: typer.Typer) -> None:
    """Attach the training-stage commands to the root ``jifen`` app."""
