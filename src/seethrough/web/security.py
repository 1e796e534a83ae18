"""Access control: the API token and the cross-site request check.

With a token configured (required beyond loopback), every API route except
``/api/health`` needs it as ``Authorization: Bearer <token>``, an
``X-Seethrough-Token`` header, or the ``seethrough_token`` cookie that
``POST /api/session`` sets for the browser pages.
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from fastapi import HTTPException, Request

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


def check_token(settings: WebSettings, request: Request) -> None:
    """Raise 401 unless the request carries the configured token (no token configured: open)."""
    if not token_ok(settings, presented_token(request)):
        raise HTTPException(
            status_code=401,
            detail={"code": "unauthorized", "message": "This server needs an access token: send it as 'Authorization: Bearer TOKEN'."},
            headers={"WWW-Authenticate": "Bearer"},
        )


def require_token(request: Request) -> None:
    """FastAPI dependency wrapping :func:`check_token` with the app's settings."""
    check_token(request.app.state.settings, request)


def cross_site(request: Request) -> bool:
    """True for a state-changing request a browser sent from another site (CSRF)."""
    if request.method not in UNSAFE_METHODS:
        return False
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return origin == "null"
    host = request.headers.get("host", "")
    return urlsplit(origin).netloc.lower() != host.lower()
