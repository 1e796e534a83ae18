"""CLI commands (see module docstring of the owner)."""

from .app import app, prep_app  # noqa: F401
