"""The HTML pages: upload, results, history and the API reference.

Pages are shells: the data comes from the API through the page's script, so the
same token rules apply to the browser and to any other client.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from .. import __version__, facts
from .context import context_of

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates"))

router = APIRouter(include_in_schema=False)


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    s = context_of(request.app).settings
    ctx = {
        "version": __version__,
        "max_upload_mb": s.max_upload_bytes / 1e6,
        "token_required": bool(s.token),
        "facts_json": json.dumps(facts.for_pages()).replace("<", "\\u003c"),  # safe inside <script>
        **context,
    }
    return TEMPLATES.TemplateResponse(request, template, ctx, status_code=status_code)


@router.get("/", response_class=HTMLResponse)
def upload_page(request: Request) -> HTMLResponse:
    return render(request, "index.html", page="upload")


@router.get("/analyses/{analysis_id}", response_class=HTMLResponse)
def result_page(request: Request, analysis_id: str) -> HTMLResponse:
    from .api import ID_RE

    if not ID_RE.match(analysis_id):
        return render(request, "error.html", 404, title="Not found",
                      message="There is no analysis at this address.")
    return render(request, "analysis.html", page="result", analysis_id=analysis_id)


@router.get("/history", response_class=HTMLResponse)
def history_page(request: Request) -> HTMLResponse:
    return render(request, "history.html", page="history")


@router.get("/docs", response_class=HTMLResponse)
def docs_page(request: Request) -> HTMLResponse:
    """A readable API reference built from the OpenAPI document (no CDN, works offline)."""
    spec = request.app.openapi()
    ops = []
    for path, methods in spec.get("paths", {}).items():
        for method, op in methods.items():
            params = [
                {"name": p["name"], "where": p["in"], "required": p.get("required", False),
                 "type": _type_of(p.get("schema", {})), "description": p.get("description", "")}
                for p in op.get("parameters", [])
            ]
            body = None
            content = (op.get("requestBody") or {}).get("content", {})
            for ctype, media in content.items():
                schema = _resolve(spec, media.get("schema", {}))
                fields = [
                    {"name": k, "type": _type_of(v), "description": v.get("description", "")}
                    for k, v in (schema.get("properties") or {}).items()
                ]
                body = {"type": ctype, "fields": fields}
            ops.append({
                "method": method.upper(), "path": path, "summary": op.get("summary", ""),
                "description": op.get("description", ""), "params": params, "body": body,
                "responses": [(code, r.get("description", "")) for code, r in op.get("responses", {}).items()],
                "tag": (op.get("tags") or ["other"])[0],
            })
    return render(request, "docs.html", page="docs", ops=ops, title=spec["info"]["title"])


def _resolve(spec: dict, schema: dict) -> dict:
    ref = schema.get("$ref")
    if ref and ref.startswith("#/components/schemas/"):
        return spec.get("components", {}).get("schemas", {}).get(ref.rsplit("/", 1)[-1], {})
    return schema


def _type_of(schema: dict) -> str:
    if "anyOf" in schema:
        return " | ".join(_type_of(s) for s in schema["anyOf"])
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if schema.get("type") == "array":
        return f"array of {_type_of(schema.get('items', {}))}"
    if "enum" in schema:
        return " | ".join(map(str, schema["enum"]))
    t = schema.get("type", "")
    return f"{t} ({schema['format']})" if schema.get("format") else t
