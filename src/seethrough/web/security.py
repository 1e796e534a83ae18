"""Access control: the API token and the cross-site request check.

With a token configured (required beyond loopback), every API route except
``/api/health`` needs it as ``Authorization: Bearer <token>``, an
``X-Seethrough-Token`` header, or the ``seethrough_token`` cookie that
``POST /api/session`` sets for the browser pages.
"""

from __future__ import annotations

import hmac
import math
from urllib.parse import urlsplit

from fastapi import HTTPException, Request

from .context import Context
from .limits import RateLimiter, client_address, refuse
from .settings import WebSettings

COOKIE = "seethrough_token"
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def presented_token(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.headers.get("x-seethrough-token") or request.cookies.get(COOKIE)


def token_ok(settings: WebSettings, presented: str | None) -> bool:
    if not settings.token:
        return True
    return presented is not None and hmac.compare_digest(presented.encode(), settings.token.encode())


def check_token(settings: WebSettings, request: Request, presented: str | None = None,
                failures: RateLimiter | None = None) -> None:
    """Raise 401 unless the request carries the configured token (no token configured: open).

    Wrong tokens are counted per client address in ``failures`` (the app's
    ``auth_failures``): after ``auth_failures_per_minute`` of them, that address gets 429
    for every token, right or wrong, until its allowance refills, so the token cannot be
    guessed at the speed of the server.
    """
    if not settings.token:
        return
    refuse_if_locked_out(request, failures)
    client = client_address(request)
    token = presented if presented is not None else presented_token(request)
    if not token_ok(settings, token):
        if failures is not None:
            failures.take(client)
        message = ("That token is not right." if token else
                   "This server needs an access token: send it as 'Authorization: Bearer TOKEN'.")
        raise HTTPException(status_code=401, detail={"code": "unauthorized", "message": message},
                            headers={"WWW-Authenticate": "Bearer"})


def refuse_if_locked_out(request: Request, failures: RateLimiter | None) -> None:
    """429 for an address that sent too many wrong tokens to ``failures`` (checked before
    anything is read; None: not counted)."""
    if failures is not None and (wait := failures.wait(client_address(request))) > 0:
        raise refuse(429, "too_many_attempts",
                     f"Too many wrong tokens from your address: wait {math.ceil(wait)} s and try again.", retry_after=wait)


def require_token(request: Request, ctx: Context) -> None:
    """FastAPI dependency wrapping :func:`check_token` with the app's settings and failure counter."""
    check_token(ctx.settings, request, failures=ctx.auth_failures)


def cross_site(request: Request) -> bool:
    """True for a state-changing request a browser sent from another site (CSRF)."""
    if request.method not in UNSAFE_METHODS:
        return False
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return origin == "null"
    host = request.headers.get("host", "")
    return urlsplit(origin).netloc.lower() != host.lower()
