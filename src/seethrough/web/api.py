"""The REST API: submit, status, result, reports, evidence images, list, delete, health.

Every error is ``{"error": {"code": ..., "message": ...}}`` with a message a person can
act on. Files are only ever found through a job id looked up in the database; no
path from the request is used to open anything.
"""

from __future__ import annotations

import re
import threading
from enum import Enum
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from .. import __version__
from ..facts import SCHEMA_VERSION, VERDICTS
from ..log import get_logger
from .context import AppContext, Context
from .limits import check_declared_size, check_disk, check_queue, check_rate, client_address, disk_status
from .security import COOKIE, check_token, refuse_if_locked_out, require_token
from .store import STATUSES, AnalysisRow
from .uploads import ReceivedFile, UploadProblem, probe_status, probe_upload, receive_multipart, store_upload

log = get_logger(__name__)

ID_RE = re.compile(r"^[0-9a-f]{32}$")

STAGE_TEXT = {
    None: "Waiting for a free worker",
    "queued": "Waiting for a free worker",
    "waiting_disk": "Waiting for disk space on the server",
    "starting": "Starting the analysis",
    "probe": "Reading the file",
    "provenance": "Reading its metadata and Content Credentials",
    "decode": "Decoding frames",
    "faces": "Finding faces",
    "model": "Scoring with the model",
    "explain": "Computing heatmaps",
    "narrate": "Writing the explanation",
    "frames": "Saving frames",
    "gallery": "Drawing heatmaps",
    "report": "Writing the reports",
    "done": "Finished",
    "failed": "Failed",
}

UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "file": {"type": "string", "format": "binary", "description": "A video or image."},
                        "rerun": {"type": "boolean", "default": False,
                                  "description": "Analyse again even if this exact file was analysed with the same settings."},
                    },
                    "required": ["file"],
                }
            }
        },
    }
}
BATCH_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "files": {"type": "array", "items": {"type": "string", "format": "binary"},
                                  "description": "Several videos or images (repeat the field)."},
                        "rerun": {"type": "boolean", "default": False},
                    },
                    "required": ["files"],
                }
            }
        },
    }
}
ERROR_RESPONSES = {
    400: {"description": "Empty file or malformed request"},
    401: {"description": "Token missing or wrong"},
    413: {"description": "File larger than the server's limit"},
    415: {"description": "Not a video or image (decided by opening it)"},
    422: {"description": "Damaged or truncated media"},
    429: {"description": "Too many uploads from this address; see Retry-After"},
    503: {"description": "Too many analyses waiting; see Retry-After"},
    507: {"description": "The server is short of disk space"},
}

AUTH = {401: {"description": "Token missing or wrong (only when the server has one)"}}
NOT_FOUND = {404: {"description": "No analysis with this id (or no such file in it)"}, **AUTH}
NOT_READY = {409: {"description": "Not finished yet, or failed: poll the status"}}
#: Deepest page of the history: beyond it the database would overflow, and no one pages that far.
MAX_OFFSET = 1_000_000_000

router = APIRouter(prefix="/api", tags=["analyses"])
_dedup_lock = threading.Lock()


class ReportFormat(str, Enum):
    pdf = "pdf"
    html = "html"
    json = "json"


class EvidenceKind(str, Enum):
    crop = "crop"
    frame = "frame"


# The query filters' choices, from where each is defined (the OpenAPI document lists them).
Verdict = Enum("Verdict", {v: v for v in VERDICTS}, type=str)
JobStatus = Enum("JobStatus", {s: s for s in STATUSES}, type=str)


class TokenBody(BaseModel):
    token: str


def api_error(status: int, code: str, message: str) -> HTTPException:
    return HTTPException(status_code=status, detail={"code": code, "message": message})


def _iso(dt) -> str | None:
    return dt.isoformat(timespec="seconds") + "Z" if dt else None


def summary(row: AnalysisRow) -> dict[str, Any]:
    """The public view of one analysis row (status, verdict, links, evidence files)."""
    base = f"/api/analyses/{row.id}"
    arte = row.artefacts or {}
    reports = [fmt for fmt, ok in (arte.get("reports") or {}).items() if ok]
    finished = row.status in ("done", "failed") and row.analysis_status is not None
    links = {"self": base, "page": f"/analyses/{row.id}"}
    if finished:
        links["result"] = f"{base}/result"
        links["json"] = f"{base}/report.json"
        for fmt in reports:
            links[fmt] = f"{base}/report.{fmt}"
    gallery = [
        {**g, "crop_url": f"{base}/gallery/{g['rank']}/crop", "frame_url": f"{base}/gallery/{g['rank']}/frame"}
        for g in arte.get("gallery") or []
    ]
    return {
        "id": row.id,
        "name": row.name,
        "status": row.status,
        "stage": row.stage,
        "stage_text": STAGE_TEXT.get(row.stage if row.status != "queued" or row.stage == "waiting_disk" else None,
                                     row.stage or ""),
        "progress": row.progress,
        "error": {"code": row.error_code, "message": row.error_message} if row.error_code else None,
        "analysis_status": row.analysis_status,
        "verdict": row.verdict,
        "fake_probability": row.fake_probability,
        "narrative_engine": row.narrative_engine,
        "kind": row.kind,
        "size_bytes": row.size_bytes,
        "sha256": row.sha256,
        "attempts": row.attempts,
        "batch_id": row.batch_id,
        "created_at": _iso(row.created_at),
        "updated_at": _iso(row.updated_at),
        "started_at": _iso(row.started_at),
        "finished_at": _iso(row.finished_at),
        "links": links,
        "artefacts": {
            "frames": arte.get("frames") or [],
            "gallery": gallery,
            "reports": reports,
            "problems": arte.get("problems") or [],
        },
    }


def _not_found() -> HTTPException:
    return api_error(404, "not_found", "There is no analysis with this id (it may have been deleted).")


def _row_or_404(ctx: AppContext, analysis_id: str) -> AnalysisRow:
    row = ctx.store.get(analysis_id) if ID_RE.match(analysis_id) else None
    if row is None:
        raise _not_found()
    return row


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


# ------------------------------------------------------------------ submission


def _submit_one(ctx: AppContext, f: ReceivedFile, *, rerun: bool, batch_id: str | None) -> tuple[int, dict]:
    """Store, sniff and queue one received file: ``(http status, body)``."""
    s, store = ctx.settings, ctx.store
    if f.problem is not None:
        return f.problem.status, {"error": {"code": f.problem.code, "message": f.problem.message}}
    if f.size == 0:
        f.temp_path.unlink(missing_ok=True)
        return 400, {"error": {"code": "empty", "message": f"{f.name} is empty (0 bytes); nothing to analyse."}}
    key = ctx.settings_key
    stored = store_upload(f, s.data_dir)
    if not rerun:
        existing = store.find_reusable(f.sha256, key)
        if existing is not None:
            return 200, {**summary(existing), "reused": True}
    probe = probe_upload(ctx.probes, s.data_dir, stored, f.name, s.max_upload_bytes)
    if not probe.ok:
        if store.count_sha_refs(f.sha256) == 0:
            (s.data_dir / stored).unlink(missing_ok=True)
        log.info("rejected upload %s: %s", f.name, probe.error_code)
        return probe_status(probe), {"error": {"code": probe.error_code, "message": probe.message}}
    with _dedup_lock:  # two identical uploads at once make one job
        if not rerun:
            existing = store.find_reusable(f.sha256, key)
            if existing is not None:
                return 200, {**summary(existing), "reused": True}
        row = store.create(
            sha256=f.sha256, name=f.name, stored_path=stored, kind=probe.info.get("kind"), size_bytes=f.size,
            settings_key=key, options=s.analysis_options(), narrator=s.narrator, batch_id=batch_id,
        )
    ctx.jobs.notify()
    log.info("queued %s (%s, %d bytes) as %s", f.name, probe.info.get("kind"), f.size, row.id)
    return 202, {**summary(row), "reused": False}


def _admit(request: Request, ctx: AppContext, max_files: int) -> None:
    """Size, rate, queue and disk checks before any of the body is read (see :mod:`.limits`)."""
    s = ctx.settings
    declared = request.headers.get("content-length", "")
    declared_bytes = int(declared) if declared.isdigit() else 0
    check_declared_size(declared_bytes, s.max_upload_bytes, max_files)  # 413 before 507: size is the user's to fix
    check_rate(ctx.submit_limiter, client_address(request))
    if s.max_queued:
        check_queue(ctx.store.counts()["queued"], s.max_queued)
    if s.min_free_mb:
        check_disk(s.data_dir, declared_bytes, s.min_free_mb, ctx.store.pending_uploads())


def _no_file(form, field: str) -> HTTPException:
    if field in form.fields:
        return api_error(400, "no_file", f"The form field '{field}' arrived as text, not as a file: send it as a file "
                                         f"upload (with a file name), e.g. curl -F '{field}=@clip.mp4'.")
    return api_error(400, "no_file", f"No file was sent: use the form field '{field}'.")


async def _receive(request: Request, ctx: AppContext, max_files: int | None = None):
    s = ctx.settings
    max_files = max_files or s.max_files_per_request
    await run_in_threadpool(_admit, request, ctx, max_files)
    try:
        return await receive_multipart(request, s.tmp_dir, max_file_bytes=s.max_upload_bytes, max_files=max_files)
    except UploadProblem as exc:
        raise api_error(exc.status, exc.code, exc.message) from None


@router.post("/analyses", summary="Submit one video or image", status_code=202,
             openapi_extra=UPLOAD_BODY, responses={202: {"description": "Queued: poll the analysis"},
                                                    200: {"description": "Same file analysed before: that analysis"}, **ERROR_RESPONSES},
             dependencies=[Depends(require_token)])
async def submit(request: Request, ctx: Context) -> JSONResponse:
    """Upload one file (field `file`). 202 with the queued analysis, or 200 with an earlier
    analysis of the identical file unless `rerun=true`. Poll `GET /api/analyses/{id}`."""
    form = await _receive(request, ctx, max_files=1)
    if not form.files:
        raise _no_file(form, "file")
    try:
        status, body = await run_in_threadpool(_submit_one, ctx, form.files[0],
                                               rerun=_truthy(form.fields.get("rerun")), batch_id=None)
    finally:
        form.discard()
    return JSONResponse(body, status_code=status)


@router.post("/batches", summary="Submit several files at once", status_code=202,
             openapi_extra=BATCH_BODY, responses=ERROR_RESPONSES, dependencies=[Depends(require_token)])
async def submit_batch(request: Request, ctx: Context) -> JSONResponse:
    """Upload several files (repeat the field `files`). Each item says whether it was queued
    (202), reused (200) or rejected (4xx with the reason); one bad file does not stop the others."""
    from .store import new_id

    form = await _receive(request, ctx)
    if not form.files:
        raise _no_file(form, "files")
    if len(form.files) > 1:  # _receive took one file's worth of the client's rate
        try:
            check_rate(ctx.submit_limiter, client_address(request), len(form.files) - 1)
        except HTTPException:
            form.discard()
            raise
    batch_id = new_id()
    items = []
    try:
        rerun = _truthy(form.fields.get("rerun"))
        for f in form.files:
            status, body = await run_in_threadpool(_submit_one, ctx, f, rerun=rerun, batch_id=batch_id)
            item = {"name": f.name, "status_code": status, "ok": status < 400}
            item.update({"error": body["error"]} if status >= 400 else {"analysis": body})
            items.append(item)
    finally:
        form.discard()
    accepted = sum(1 for i in items if i["ok"])
    return JSONResponse({"batch_id": batch_id, "accepted": accepted, "rejected": len(items) - accepted, "items": items},
                        status_code=202 if accepted else 422)


# ------------------------------------------------------------------------ read


@router.get("/analyses", summary="List and search past analyses", dependencies=[Depends(require_token)], responses=AUTH)
def list_analyses(
    ctx: Context,
    q: str | None = Query(None, max_length=200, description="Part of the file name, or an id / sha256 prefix"),
    verdict: Verdict | None = None,
    status: JobStatus | None = None,
    batch: str | None = Query(None, pattern="^[0-9a-f]{32}$"),
    limit: int = Query(50, ge=1, le=200),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> dict:
    rows, total = ctx.store.list(
        q=q.strip() if q else None, verdict=verdict.value if verdict else None,
        status=status.value if status else None, batch_id=batch, limit=limit, offset=offset,
    )
    return {"items": [summary(r) for r in rows], "total": total, "limit": limit, "offset": offset}


@router.get("/analyses/{analysis_id}", summary="Status and progress of one analysis", dependencies=[Depends(require_token)],
            responses=NOT_FOUND)
def get_analysis(ctx: Context, analysis_id: str) -> dict:
    return summary(_row_or_404(ctx, analysis_id))


def _result_or_409(ctx: AppContext, row: AnalysisRow) -> dict:
    if row.status in ("queued", "running"):
        raise api_error(409, "not_ready", "The analysis is not finished yet; poll its status and try again.")
    doc = ctx.store.get_result(row.id)
    if doc is None:
        raise api_error(409, row.error_code or "failed", row.error_message or "The analysis failed.")
    return doc


@router.get("/analyses/{analysis_id}/result", summary=f"The analysis JSON (schema {SCHEMA_VERSION})",
            dependencies=[Depends(require_token)], responses={**NOT_FOUND, **NOT_READY})
def get_result(ctx: Context, analysis_id: str) -> JSONResponse:
    """The document described by `schemas/analysis.schema.json`: verdict, per-frame scores, evidence, narrative."""
    row = _row_or_404(ctx, analysis_id)
    return JSONResponse(_result_or_409(ctx, row))


def _download_name(row: AnalysisRow, fmt: str) -> str:
    stem = Path(row.name).stem or "analysis"
    stem = re.sub(r"[^A-Za-z0-9._ -]+", "_", stem)[:80] or "analysis"
    return f"{stem}-seethrough.{fmt}"


@router.get("/analyses/{analysis_id}/report.{fmt}", summary="Download the report (PDF, HTML or JSON)",
            dependencies=[Depends(require_token)], response_class=Response,
            responses={200: {"description": "The report file", "content": {"application/pdf": {}, "text/html": {},
                                                                           "application/json": {}}},
                       **NOT_FOUND, **NOT_READY})
def get_report(ctx: Context, analysis_id: str, fmt: ReportFormat) -> Response:
    row = _row_or_404(ctx, analysis_id)
    name = _download_name(row, fmt.value)
    if fmt is ReportFormat.json:
        doc = _result_or_409(ctx, row)
        return JSONResponse(doc, headers={"Content-Disposition": f'attachment; filename="{name}"'})
    _result_or_409(ctx, row)
    path = ctx.jobs.result_dir(row.id) / f"report.{fmt.value}"
    if not (row.artefacts or {}).get("reports", {}).get(fmt.value) or not path.is_file():
        raise api_error(404, "no_report", f"No {fmt.value.upper()} report is available for this analysis.")
    media = "application/pdf" if fmt is ReportFormat.pdf else "text/html; charset=utf-8"
    return FileResponse(path, media_type=media, filename=name,
                        headers={"Content-Security-Policy": "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'"})


@router.get("/analyses/{analysis_id}/gallery/{rank}/{kind}", summary="A Grad-CAM evidence image (PNG)",
            dependencies=[Depends(require_token)], response_class=FileResponse,
            responses={200: {"content": {"image/png": {}}}, **NOT_FOUND})
def get_gallery_image(ctx: Context, analysis_id: str, rank: int, kind: EvidenceKind) -> FileResponse:
    """`crop`: heatmap over the face crop; `frame`: heatmap warped back onto the whole frame, face box drawn."""
    row = _row_or_404(ctx, analysis_id)
    ranks = {g["rank"] for g in (row.artefacts or {}).get("gallery") or []}
    path = ctx.jobs.result_dir(row.id) / "gallery" / f"{int(rank)}-{kind.value}.png"
    if rank not in ranks or not path.is_file():
        raise api_error(404, "not_found", "This analysis has no such evidence image.")
    return FileResponse(path, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})


@router.get("/analyses/{analysis_id}/frames/{index}", summary="One sampled frame (JPEG)",
            dependencies=[Depends(require_token)], response_class=FileResponse,
            responses={200: {"content": {"image/jpeg": {}}}, **NOT_FOUND})
def get_frame(ctx: Context, analysis_id: str, index: int) -> FileResponse:
    row = _row_or_404(ctx, analysis_id)
    frames = set((row.artefacts or {}).get("frames") or [])
    path = ctx.jobs.result_dir(row.id) / "frames" / f"{int(index)}.jpg"
    if index not in frames or not path.is_file():
        raise api_error(404, "not_found", "This frame was not sampled by the analysis.")
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})


# ---------------------------------------------------------------------- delete


@router.delete("/analyses/{analysis_id}", summary="Delete an analysis, its results and (if unused) its upload",
               status_code=204, dependencies=[Depends(require_token)], responses=NOT_FOUND)
def delete_analysis(ctx: Context, analysis_id: str) -> Response:
    row = _row_or_404(ctx, analysis_id)
    if ctx.store.delete(row.id) is None:  # a concurrent request deleted it since it was read
        raise _not_found()
    ctx.jobs.cancel(row.id)  # a running analysis is stopped, not finished for nothing
    ctx.jobs.remove_results(row.id)
    if ctx.store.count_sha_refs(row.sha256) == 0:
        path = (ctx.settings.data_dir / row.stored_path)
        path.unlink(missing_ok=True)
    log.info("deleted analysis %s (%s)", row.id, row.name)
    return Response(status_code=204)


# ---------------------------------------------------------------- health, auth


@router.get("/health", summary="Is the server up, are workers ready", tags=["service"])
def health(ctx: Context) -> dict:
    try:
        ctx.store.ping()
        db = "ok"
    except Exception as exc:  # noqa: BLE001
        log.warning("database ping failed: %s", exc)
        db = "unavailable"
    workers = ctx.jobs.health()
    probes = ctx.probes.status()  # idle probe children killed behind our back are replaced on use
    disk = disk_status(ctx.settings.data_dir, ctx.settings.min_free_mb)
    ok = db == "ok" and not workers["errors"] and probes["ok"] and disk["ok"]
    return {
        "status": "ok" if ok else "degraded",
        "version": __version__,
        "database": db,
        "workers": workers,
        "probes": probes,
        "disk": disk,
        "queue": ctx.store.counts() if db == "ok" else None,
        "max_upload_bytes": ctx.settings.max_upload_bytes,
        "token_required": bool(ctx.settings.token),
    }


@router.post("/session", summary="Exchange the API token for a browser cookie", tags=["service"],
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": TokenBody.model_json_schema()}}}})
async def open_session(request: Request, ctx: Context) -> JSONResponse:
    """Body ``{"token": "..."}``. A locked-out address is refused before its body is read, and the
    body is bounded (the app refuses non-upload bodies over a few kB)."""
    s = ctx.settings
    if s.token:
        refuse_if_locked_out(request, ctx.auth_failures)
    try:
        body = TokenBody.model_validate_json(await request.body())
    except ValueError:
        raise api_error(422, "bad_body", 'Send the token as JSON: {"token": "..."}.') from None
    check_token(s, request, body.token, ctx.auth_failures)
    resp = JSONResponse({"ok": True})
    if s.token:
        resp.set_cookie(COOKIE, body.token, httponly=True, samesite="strict", secure=request.url.scheme == "https")
    return resp


@router.delete("/session", summary="Forget the browser cookie", tags=["service"], status_code=204)
def close_session() -> Response:
    resp = Response(status_code=204)
    resp.delete_cookie(COOKIE)
    return resp
