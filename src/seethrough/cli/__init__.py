"""Command-line interface: ``seethrough --help``."""

from __future__ import annotations

from .app import app, prep_app

# Importing the command modules registers their commands on the apps above.
from . import cmd_media, cmd_faces, cmd_meta, cmd_main, cmd_provenance, cmd_serve, cmd_scan, cmd_research  # noqa: E402,F401,E501


def main() -> None:
    app()


__all__ = ["app", "prep_app", "main"]
