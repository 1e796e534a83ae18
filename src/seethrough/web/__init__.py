"""The web app and REST API (``seethrough serve``): uploads, a job queue with isolated
worker processes, results pages, history and report downloads. See :func:`create_app`."""

from .settings import WebSettings, is_loopback


def create_app(settings: WebSettings | None = None):
    """Build the FastAPI app (imported lazily: FastAPI is only needed when serving)."""
    from .app import create_app as _create

    return _create(settings)


__all__ = ["WebSettings", "create_app", "is_loopback"]
