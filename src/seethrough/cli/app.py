"""The Typer application objects; command modules register on them."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="seethrough",
    help="Offline, explainable deepfake detection for face videos and images.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
prep_app = typer.Typer(help="Preprocessing: validate, cut, build metadata, crop faces.", no_args_is_help=True)
app.add_typer(prep_app, name="prep")


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Warnings and errors only."),
) -> None:
    from ..log import setup_logging

    setup_logging("DEBUG" if verbose else "WARNING" if quiet else None)
