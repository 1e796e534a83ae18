"""Reports a newsroom can attach to a story: one self-contained HTML file or an A4 PDF.

``write_report(analysis, "out.html")`` / ``write_report(analysis, "out.pdf")``; the
lower-level ``render_html(doc, gallery, path)`` / ``render_pdf(doc, gallery, path)`` take
the analysis JSON document (``Analysis.to_dict()``) and the evidence gallery directly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from .content import ReportContent, build_content
from .html import render_html
from .pdf import render_pdf

FORMATS = {".html": "html", ".htm": "html", ".pdf": "pdf"}


def report_format(path: str | Path) -> str:
    """``"html"`` or ``"pdf"`` from the file suffix; ValueError for anything else."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(
            f"Cannot tell the report format from {Path(path).name!r}: the file name must end in "
            f".html, .htm or .pdf (got {suffix or 'no suffix'})."
        )
    return FORMATS[suffix]


def write_report(analysis: Any, path: str | Path, *, gallery: Sequence[Any] | None = None) -> Path:
    """Write the report for an :class:`~seethrough.analysis.Analysis`; HTML or PDF by the suffix of ``path``.

    ``gallery`` defaults to ``seethrough.explain.evidence_gallery(analysis)``; pass it when it is
    already computed.
    """
    return write_reports(analysis, [path], gallery=gallery)[0]


def write_reports(analysis: Any, paths: Sequence[str | Path], *, gallery: Sequence[Any] | None = None) -> list[Path]:
    """Several reports (e.g. HTML and PDF) of one analysis; the content and its charts are built once."""
    from .html import html_string
    from .output import atomic_write_bytes
    from .pdf import pdf_bytes

    formats = [report_format(p) for p in paths]  # refuse a bad name before any work
    if gallery is None:
        from seethrough.explain import evidence_gallery

        gallery = evidence_gallery(analysis)
    content = build_content(analysis.to_dict(), gallery)
    return [atomic_write_bytes(p, html_string(content).encode("utf-8") if fmt == "html" else pdf_bytes(content))
            for p, fmt in zip(paths, formats)]


__all__ = ["ReportContent", "build_content", "render_html", "render_pdf", "report_format", "write_report",
           "write_reports"]
