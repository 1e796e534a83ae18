"""The HTML report: one self-contained file (inline CSS, charts and images as data URIs, no external loads)."""

from __future__ import annotations

import base64
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import jinja2

from .content import ReportContent, build_content
from .images import image_mime
from .output import atomic_write_bytes


def _data_uri(data: bytes) -> str:
    return f"data:{image_mime(data)};base64," + base64.b64encode(data).decode("ascii")


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    # autoescape=True, not select_autoescape(): the template is named *.html.j2, which
    # select_autoescape's extension check would not recognise as HTML.
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("seethrough.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["datauri"] = _data_uri
    return env


def html_string(content: ReportContent) -> str:
    """The report as an HTML document (a string)."""
    return _environment().get_template("report.html.j2").render(c=content)


def render_html(doc: dict, gallery: Sequence[Any], path: str | Path) -> Path:
    """Write the HTML report for analysis document ``doc`` (schema 1.x) and its evidence gallery to ``path``."""
    text = html_string(build_content(doc, gallery))
    return atomic_write_bytes(path, text.encode("utf-8"))
