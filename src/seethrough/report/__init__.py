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
    already computed (it redoes Grad-CAM work).
    """
    fmt = report_format(path)
    doc = analysis.to_dict()
    if gallery is None:
        from seethrough.explain import evidence_gallery

        gallery = evidence_gallery(analysis)
    render = render_html if fmt == "html" else render_pdf
    return render(doc, gallery, Path(path))


__all__ = ["ReportContent", "build_content", "render_html", "render_pdf", "report_format", "write_report"]
