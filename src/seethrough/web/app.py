"""``create_app(settings)``: the FastAPI application behind ``seethrough serve``."""

from __future__ import annotations

import hashlib
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..errors import ConfigError
from ..log import get_logger
from . import api, pages
from .context import AppContext, attach
from .isolation import ProbePool
from .jobs import JobManager
from .limits import SMALL_BODY_BYTES, RateLimiter
from .security import UNSAFE_METHODS, cross_site
from .settings import WebSettings, is_loopback
from .store import Store

log = get_logger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "weights" / "default.pt"
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
PAGE_CSP = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
            "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
STATUS_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
                409: "conflict", 413: "too_large", 415: "unsupported", 422: "invalid_request", 429: "rate_limited",
                500: "internal", 503: "unavailable", 507: "disk_full"}
INTERNAL_MESSAGE = "Something went wrong on the server. The details are in the server log; please try again."


def _model_sha256(settings: WebSettings) -> str:
    path = Path(settings.model) if settings.model else DEFAULT_MODEL
    if not path.is_file():
        raise ConfigError(f"Model file not found: {path}. Pass --model with a checkpoint, or reinstall seethrough.")
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _wants_json(request: Request) -> bool:
    path = request.url.path
    return path.startswith("/api") or path == "/openapi.json" or "text/html" not in request.headers.get("accept", "")


def _error_response(request: Request, status: int, code: str, message: str, headers=None):
    if _wants_json(request):
        return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)
    return pages.render(request, "error.html", status, title=f"Error {status}", message=message)


#: The routes that take files; every other request body is bounded by ``SMALL_BODY_BYTES``.
UPLOAD_PATHS = {"/api/analyses", "/api/batches"}


SMALL_BODY_MESSAGE = f"This request may carry at most {SMALL_BODY_BYTES // 1024} kB; only uploads are larger."


def _too_large(request: Request):
    return _error_response(request, 413, "too_large", SMALL_BODY_MESSAGE)


def _bounded(receive, limit: int):
    """``receive`` that stops a body past ``limit`` bytes with 413 (bodies without a true length)."""
    seen = 0

    async def bounded():
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise StarletteHTTPException(status_code=413, detail={"code": "too_large", "message": SMALL_BODY_MESSAGE})
        return message

    return bounded


class Guard:
    """Outermost checks and last-resort error handling, as plain ASGI middleware.

    * refuses a foreign ``Host`` when bound to loopback (DNS rebinding) and cross-site
      state-changing requests (CSRF);
    * adds security headers (a strict CSP on HTML pages);
    * turns any unexpected exception into the plain 500 body, so no traceback reaches a
      client and the connection stays usable.
    """

    def __init__(self, app, allowed_hosts: set[str] | None):
        self.app, self.allowed_hosts = app, allowed_hosts

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request = Request(scope)
        if self.allowed_hosts is not None:
            host = request.headers.get("host", "").lower()
            hostname = host if host.endswith("]") else host.rsplit(":", 1)[0]
            if hostname not in self.allowed_hosts:
                resp = _error_response(request, 400, "bad_host", "This server only answers requests addressed to the local machine.")
                return await resp(scope, receive, send)
        if cross_site(request):
            resp = _error_response(request, 403, "cross_site", "Requests from other web sites are not allowed.")
            return await resp(scope, receive, send)
        if request.method in UNSAFE_METHODS and request.url.path not in UPLOAD_PATHS:
            # Only uploads may be large: any other body is a few fields, refused unread when it says
            # it is bigger, and cut off when it turns out bigger than it said.
            declared = request.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > SMALL_BODY_BYTES:
                return await _too_large(request)(scope, receive, send)
            receive = _bounded(receive, SMALL_BODY_BYTES)
        started = False

        async def send_with_headers(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "no-referrer")
                headers.setdefault("X-Frame-Options", "DENY")
                if headers.get("content-type", "").startswith("text/html"):
                    headers.setdefault("Content-Security-Policy", PAGE_CSP)
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as exc:  # noqa: BLE001 - the one place unexpected errors are answered
            log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
            if started:
                raise
            resp = _error_response(request, 500, "internal", INTERNAL_MESSAGE)
            await resp(scope, receive, send_with_headers)


def create_app(settings: WebSettings | None = None) -> FastAPI:
    """Build the app: database, job queue (started with the app), probe pool, routes."""
    settings = settings or WebSettings.from_env()
    settings.ensure_dirs()
    model_sha = _model_sha256(settings)
    store = Store(settings.db_url)
    try:
        store.check_history(settings.data_dir)
    except ConfigError:
        store.close()
        raise
    jobs = JobManager(settings, store)
    probes = ProbePool(settings.probe_workers, settings.memory_limit_mb, settings.probe_timeout_s)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        jobs.start()
        probes.warm()
        log.info("seethrough web: data in %s, %d worker(s), token %s", settings.data_dir, settings.workers,
                 "required" if settings.token else "off (loopback only)")
        try:
            yield
        finally:
            jobs.stop()
            probes.close()
            store.close()

    app = FastAPI(
        title="seethrough",
        version=__version__,
        description="Offline, explainable deepfake detection for face videos and images. "
                    "Submit a file, poll its status, fetch the result JSON, reports and evidence images.",
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
        lifespan=lifespan,
    )
    attach(app, AppContext(
        settings=settings,
        store=store,
        jobs=jobs,
        probes=probes,
        submit_limiter=RateLimiter(settings.submit_per_minute, settings.submit_burst),
        auth_failures=RateLimiter(settings.auth_failures_per_minute, max(1, int(settings.auth_failures_per_minute))),
        model_sha256=model_sha,
        settings_key=settings.settings_key(model_sha),
    ))

    app.add_middleware(Guard, allowed_hosts=LOOPBACK_HOSTS if is_loopback(settings.host) else None)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        detail = exc.detail
        if isinstance(detail, dict):
            code, message = detail.get("code", "error"), detail.get("message", "")
        else:
            code = STATUS_CODES.get(exc.status_code, "error")
            message = {404: "Nothing here: check the address.", 405: "This method is not allowed here."}.get(
                exc.status_code, str(detail))
        return _error_response(request, exc.status_code, code, message, getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        parts = []
        for err in exc.errors()[:5]:
            where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("query", "path", "body"))
            parts.append(f"{where}: {err.get('msg', 'invalid')}" if where else err.get("msg", "invalid"))
        return _error_response(request, 422, "invalid_request", "Invalid request: " + "; ".join(parts) + ".")

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception):
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return _error_response(request, 500, "internal", INTERNAL_MESSAGE)

    app.include_router(api.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    return app
