"""What the web app's routes use, typed: one :class:`AppContext` per app.

:func:`~seethrough.web.app.create_app` attaches it once; routes take it as a FastAPI
dependency (``ctx: Context``), anything else holding the app uses :func:`context_of`.
This is the only module that reads ``app.state``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from starlette.applications import Starlette

from .isolation import ProbePool
from .jobs import JobManager
from .limits import RateLimiter
from .settings import WebSettings
from .store import Store


@dataclass(frozen=True)
class AppContext:
    settings: WebSettings
    store: Store
    jobs: JobManager
    probes: ProbePool
    submit_limiter: RateLimiter  #: uploads per client address
    auth_failures: RateLimiter  #: wrong tokens per client address
    model_sha256: str
    settings_key: str  #: model and analysis settings: which earlier analyses can be reused


def attach(app: Starlette, ctx: AppContext) -> None:
    app.state.context = ctx


def context_of(app: Starlette) -> AppContext:
    return app.state.context


async def get_context(request: Request) -> AppContext:
    """The dependency (async, so it runs on the event loop rather than in a worker thread)."""
    return context_of(request.app)


#: A route parameter ``ctx: Context`` receives the app's context; it adds nothing to the OpenAPI document.
Context = Annotated[AppContext, Depends(get_context)]
