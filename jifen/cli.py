"""The ``jifen`` command: one Typer app with subcommands grouped by stage."""

import typer

from features.cli import register as register_features
from serving.cli import register as register_serving
from training.cli import register as register_training

app = typer.Typer(
    name="jifen",
    help="Jifen: credit risk for technology SMEs on innovation points and alternative data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
register_features(app)
register_training(app)
register_serving(app)
