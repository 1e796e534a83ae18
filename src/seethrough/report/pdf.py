"""The PDF report (reportlab platypus): A4, the same content as the HTML report."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Sequence
from xml.sax.saxutils import escape

from reportlab import rl_config
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen import canvas as rl_canvas
from reportlab.platypus import (
    BaseDocTemplate,
    CondPageBreak,
    Flowable,
    Frame,
    HRFlowable,
    Image,
    KeepTogether,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

from ..log import get_logger
from .charts import Chart
from .fonts import Fonts, drawable
from .content import ReportContent, build_content
from .output import atomic_write_bytes

log = get_logger(__name__)

# Binary (Flate-only) streams: every PDF reader handles them, and without the optional rl_accel
# C extension ASCII85-encoding the embedded images in pure Python takes seconds per report.
rl_config.useA85 = 0

PAGE_W, PAGE_H = A4
MARGIN_X, MARGIN_TOP, MARGIN_BOTTOM = 18 * mm, 18 * mm, 20 * mm
WIDTH = PAGE_W - 2 * MARGIN_X
INK = colors.HexColor("#1f2a44")
MUTED = colors.HexColor("#5b6472")
RULE = colors.HexColor("#d9dde3")
PALE = colors.HexColor("#f6f7f9")


class _Text:
    """Untrusted text -> safe Paragraph markup."""

    def __init__(self, fonts: type[Fonts]):
        self.fonts = fonts

    def __call__(self, text: Any, *, mono: bool = False) -> str:
        glyphs = self.fonts.mono_glyphs if mono else self.fonts.glyphs
        clean, _ = drawable(str(text), glyphs)
        return escape(clean).replace("\n", "<br/>")


# ---------------------------------------------------------------- styles

def _styles(f: type[Fonts]) -> dict[str, ParagraphStyle]:
    body = ParagraphStyle("body", fontName=f.sans, fontSize=9.5, leading=13.5, textColor=colors.HexColor("#222222"),
                          spaceAfter=5)
    return {
        "body": body,
        "note": ParagraphStyle("note", parent=body, fontSize=8.5, leading=11.5, textColor=MUTED),
        "byline": ParagraphStyle("byline", parent=body, fontName=f.italic, fontSize=8.5, textColor=MUTED),
        "kicker": ParagraphStyle("kicker", parent=body, fontName=f.bold, fontSize=7.5, textColor=MUTED, spaceAfter=2),
        "title": ParagraphStyle("title", parent=body, fontName=f.serif_bold, fontSize=21, leading=25, textColor=INK,
                                spaceAfter=4),
        "file": ParagraphStyle("file", parent=body, fontName=f.bold, fontSize=10.5, leading=13.5, spaceAfter=3),
        "meta": ParagraphStyle("meta", parent=body, fontSize=8, leading=10.5, textColor=MUTED, spaceAfter=0),
        "h2": ParagraphStyle("h2", parent=body, fontName=f.serif_bold, fontSize=13, leading=16, textColor=INK,
                             spaceBefore=12, spaceAfter=1),
        "h3": ParagraphStyle("h3", parent=body, fontName=f.bold, fontSize=9.5, leading=12.5, textColor=INK,
                             spaceBefore=5, spaceAfter=3, keepWithNext=1),
        "bullet": ParagraphStyle("bullet", parent=body, leftIndent=11, bulletIndent=2, spaceAfter=2.5),
        "cell": ParagraphStyle("cell", parent=body, fontSize=8.5, leading=11, spaceAfter=0),
        "cell_label": ParagraphStyle("cell_label", parent=body, fontName=f.bold, fontSize=8.5, leading=11,
                                     textColor=INK, spaceAfter=0),
        "cell_mono": ParagraphStyle("cell_mono", parent=body, fontName=f.mono, fontSize=7.6, leading=10, spaceAfter=0),
        "caption": ParagraphStyle("caption", parent=body, fontSize=7.5, leading=9.5, textColor=MUTED, spaceAfter=0),
        "badge_label": ParagraphStyle("badge_label", parent=body, fontName=f.bold, fontSize=21, leading=24,
                                      alignment=TA_CENTER, spaceAfter=0),
        "badge_small": ParagraphStyle("badge_small", parent=body, fontSize=8, leading=10, alignment=TA_CENTER,
                                      spaceAfter=0),
        "badge_prob": ParagraphStyle("badge_prob", parent=body, fontName=f.bold, fontSize=20, leading=23,
                                     alignment=TA_CENTER, spaceBefore=5, spaceAfter=0),
    }


# ---------------------------------------------------------------- building blocks

def _image(data: bytes, max_w: float, max_h: float, size: tuple[int, int] | None = None) -> Image:
    if size is None:
        from PIL import Image as PILImage

        with PILImage.open(io.BytesIO(data)) as im:
            size = im.size
    w, h = size
    scale = min(max_w / w, max_h / h)
    img = Image(io.BytesIO(data), width=w * scale, height=h * scale)
    img.hAlign = "LEFT"
    return img


def _chart(chart: Chart) -> Flowable:
    d = chart.drawing(WIDTH)  # vector, the same shapes as the HTML report's SVG
    d.hAlign = "LEFT"
    return d


class _Report:
    """Turns :class:`ReportContent` into a list of flowables."""

    def __init__(self, c: ReportContent):
        self.c = c
        self.fonts = Fonts.ensure()
        self.t = _Text(self.fonts)
        self.s = _styles(self.fonts)
        self.badge_colour = colors.HexColor(c.badge.colour)
        self.badge_ink = colors.HexColor(c.badge.text_colour)

    def p(self, text: str, style: str = "body", **kw) -> Paragraph:
        return Paragraph(self.t(text), self.s[style], **kw)

    def heading(self, text: str, room: float = 45 * mm) -> list[Flowable]:
        return [CondPageBreak(room), self.p(text, "h2"),
                HRFlowable(width="100%", thickness=1.4, color=INK, spaceBefore=0, spaceAfter=6)]

    def bullets(self, lines: Sequence[str], style: str = "bullet") -> list[Flowable]:
        return [Paragraph(self.t(line), self.s[style], bulletText="•") for line in lines]

    def kv_table(self, rows: Sequence[tuple[str, str]]) -> Table:
        data = [[Paragraph(self.t(k), self.s["cell_label"]),
                 Paragraph(self.t(v, mono=k in self.c.mono_labels),
                           self.s["cell_mono" if k in self.c.mono_labels else "cell"])] for k, v in rows]
        table = Table(data, colWidths=[42 * mm, WIDTH - 42 * mm], hAlign="LEFT")
        table.setStyle(TableStyle([
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("LINEBELOW", (0, 0), (-1, -1), 0.5, RULE),
            ("TOPPADDING", (0, 0), (-1, -1), 2.6), ("BOTTOMPADDING", (0, 0), (-1, -1), 2.6),
            ("LEFTPADDING", (0, 0), (-1, -1), 3), ("RIGHTPADDING", (0, 0), (-1, -1), 3),
        ]))
        return table

    def grid_table(self, header: Sequence[str], rows: Sequence[Sequence[str]], widths: Sequence[float]) -> Table:
        data = [[Paragraph(self.t(h), self.s["cell_label"]) for h in header]]
        data += [[Paragraph(self.t(cell), self.s["cell"]) for cell in row] for row in rows]
        table = Table(data, colWidths=list(widths), hAlign="LEFT", repeatRows=1)
        table.setStyle(TableStyle([
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#f0f2f5")),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("LINEBELOW", (0, 0), (-1, -1), 0.5, RULE),
            ("TOPPADDING", (0, 0), (-1, -1), 3), ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
        ]))
        return table

    # ------------------------------------------------------------ sections

    def title_block(self) -> list[Flowable]:
        c = self.c
        name, replaced = drawable(c.file_name, self.fonts.glyphs)
        left: list[Flowable] = [
            self.p("SEETHROUGH  ·  FORENSIC BRIEF", "kicker"),
            self.p("Deepfake analysis", "title"),
            Paragraph(escape(name), self.s["file"]),
            self.p(f"Generated {c.generated_at} by seethrough {c.seethrough_version}", "meta"),
        ]
        if replaced:
            left.append(self.p("Some characters of the file name cannot be shown in this PDF font and appear "
                               "as \ufffd; the HTML report and the SHA-256 identify the file exactly.", "meta"))
        ink = self.badge_ink
        badge: list[Flowable] = [
            Paragraph(self.t(c.badge.label), ParagraphStyle("bl", parent=self.s["badge_label"], textColor=ink,
                                                            fontSize=21 if len(c.badge.label) <= 7 else 17)),
            Paragraph(self.t(c.badge.headline), ParagraphStyle("bh", parent=self.s["badge_small"], textColor=ink)),
        ]
        if c.probability_text:
            badge += [
                Paragraph(self.t(c.probability_text), ParagraphStyle("bp", parent=self.s["badge_prob"], textColor=ink)),
                Paragraph("calibrated probability<br/>of manipulation",
                          ParagraphStyle("bs", parent=self.s["badge_small"], textColor=ink, fontSize=7.5)),
            ]
        badge_w = 56 * mm
        table = Table([[left, badge]], colWidths=[WIDTH - badge_w, badge_w], hAlign="LEFT")
        table.setStyle(TableStyle([
            ("VALIGN", (0, 0), (0, 0), "TOP"),
            ("VALIGN", (1, 0), (1, 0), "MIDDLE"),
            ("BACKGROUND", (1, 0), (1, 0), self.badge_colour),
            ("LEFTPADDING", (0, 0), (0, 0), 0), ("RIGHTPADDING", (0, 0), (0, 0), 6 * mm),
            ("TOPPADDING", (1, 0), (1, 0), 10), ("BOTTOMPADDING", (1, 0), (1, 0), 10),
        ]))
        heads = []
        for level, text in c.provenance_head:
            label = "Content Credentials." if level == "declaration" else "Provenance warning."
            box = Table([[Paragraph(f"<b>{label}</b> {self.t(text)}", self.s["body"])]], colWidths=[WIDTH], hAlign="LEFT")
            box.setStyle(TableStyle([
                ("BACKGROUND", (0, 0), (-1, -1), colors.HexColor("#f3e8fd" if level == "declaration" else "#fdecea")),
                ("LINEBEFORE", (0, 0), (0, -1), 4, colors.HexColor("#6a1b9a" if level == "declaration" else "#c62828")),
                ("LEFTPADDING", (0, 0), (-1, -1), 9), ("RIGHTPADDING", (0, 0), (-1, -1), 9),
                ("TOPPADDING", (0, 0), (-1, -1), 7), ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
            ]))
            heads += [box, Spacer(1, 6)]
        meaning = Table([[Paragraph(f"<b>What this means.</b> {self.t(c.meaning)}", self.s["body"])]],
                        colWidths=[WIDTH], hAlign="LEFT")
        meaning.setStyle(TableStyle([
            ("BACKGROUND", (0, 0), (-1, -1), colors.HexColor(c.badge.tint)),
            ("LINEBEFORE", (0, 0), (0, -1), 4, self.badge_colour),
            ("LEFTPADDING", (0, 0), (-1, -1), 9), ("RIGHTPADDING", (0, 0), (-1, -1), 9),
            ("TOPPADDING", (0, 0), (-1, -1), 7), ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
        ]))
        return [table, HRFlowable(width="100%", thickness=0.6, color=RULE, spaceBefore=10, spaceAfter=10), *heads, meaning]

    def no_verdict(self) -> list[Flowable]:
        c = self.c
        if c.status == "ok":
            return []
        out = self.heading("Why there is no verdict", room=30 * mm)
        if c.status_message:
            out.append(self.p(c.status_message))
        if c.what_to_try:
            out += [self.p("What to try", "h3"), *self.bullets(c.what_to_try)]
        return out

    def narrative(self) -> list[Flowable]:
        c = self.c
        if not c.narrative:
            return []
        out = self.heading("Summary", room=30 * mm) + [self.p(para) for para in c.narrative]
        byline = f"written by: {c.narrative_engine or 'unknown'}"
        if c.narrative_note:
            byline += f" ({c.narrative_note})"
        return out + [self.p(byline, "byline")]

    def provenance(self) -> list[Flowable]:
        c = self.c
        if not c.provenance_rows:
            return []
        out = self.heading(c.provenance_title, room=40 * mm) + [self.kv_table(c.provenance_rows)]
        if c.provenance_notes:
            out += self.bullets(c.provenance_notes)
        return out + [self.p(c.provenance_unsigned, "note")]

    def timeline(self) -> list[Flowable]:
        c = self.c
        if not (c.timeline or c.timeline_note):
            return []
        out = self.heading("Timeline", room=(95 if c.timeline else 25) * mm)
        if c.timeline:
            out.append(_chart(c.timeline))
        if c.timeline_note:
            out.append(self.p(c.timeline_note, "note"))
        if c.segments:
            out += [self.p("Suspicious stretches", "h3"), *self.bullets(c.segments)]
        return out

    def gallery(self) -> list[Flowable]:
        c = self.c
        if not (c.gallery or c.gallery_note):
            return []
        out = self.heading("Evidence: key frames and heatmaps", room=80 * mm)
        if c.cam_note:
            out.append(self.p(c.cam_note, "note"))
        side = 38 * mm
        frame_w = WIDTH - 2 * side
        for g in c.gallery:
            frame_caption = "full image" if g.still else f"full frame at {g.time_text}"
            cells = [[
                [_image(g.crop, side - 3 * mm, side), self.p("face crop", "caption")],
                [_image(g.crop_overlay, side - 3 * mm, side), self.p("Grad-CAM heatmap", "caption")],
                [_image(g.frame_overlay, frame_w, 50 * mm, g.frame_size), self.p(frame_caption, "caption")]
                if g.frame_overlay is not None else self.p("(full frame not kept)", "caption"),
            ]]
            table = Table(cells, colWidths=[side, side, frame_w], hAlign="LEFT")
            table.setStyle(TableStyle([
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0), ("RIGHTPADDING", (0, 0), (-1, -1), 0),
                ("TOPPADDING", (0, 0), (-1, -1), 1), ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
            ]))
            out.append(KeepTogether([self.p(g.caption, "h3"), table, Spacer(1, 6)]))
        if c.gallery_note:
            out.append(self.p(c.gallery_note, "note"))
        return out

    def regions(self) -> list[Flowable]:
        c = self.c
        if not (c.regions or c.regions_note):
            return []
        out = self.heading("Where the model looked", room=70 * mm)
        if c.regions:
            out += [_chart(c.regions),
                    self.p("Scores are Grad-CAM heat per facial region relative to the whole face: 1.0 is the face "
                           "average, 2.0 twice as hot. Left and right are the person's own sides.", "note")]
        if c.regions_note:
            out.append(self.p(c.regions_note, "note"))
        return out

    def method(self) -> list[Flowable]:
        c = self.c
        if not (c.method or c.method_note):
            return []
        out = self.heading("Manipulation family", room=60 * mm)
        note = [self.p(c.method_note + (". A resemblance, not an attribution." if c.method else ""), "note")] \
            if c.method_note else []
        if c.method:
            out += [_chart(c.method), Spacer(1, 4), KeepTogether([
                self.grid_table(("family", "probability if manipulated", "what it is"),
                                c.method_rows, (50 * mm, 45 * mm, WIDTH - 95 * mm)), Spacer(1, 3), *note])]
        else:
            out += note
        return out

    def tracks(self) -> list[Flowable]:
        if not self.c.tracks:
            return []
        return self.heading("Faces in the video", room=35 * mm) + [self.grid_table(
            ("track", "frames", "on screen", "fake probability", "verdict"), self.c.tracks,
            (30 * mm, 20 * mm, WIDTH - 100 * mm, 30 * mm, 20 * mm))]

    def inputs(self) -> list[Flowable]:
        return self.heading("Input", room=50 * mm) + [self.kv_table(self.c.metadata)]

    def model(self) -> list[Flowable]:
        c = self.c
        out = self.heading("Model", room=40 * mm)
        out.append(self.kv_table(c.model) if c.model else self.p("No model was loaded for this analysis.", "note"))
        if c.card_summary:
            out += [self.p("Model card", "h3"), *[self.p(x) for x in c.card_summary]]
        for title, lines in (("Training and calibration data", c.card_data), ("Measured performance", c.card_metrics),
                             ("Known limits of the model", c.card_limits)):
            if lines:
                out += [self.p(title, "h3"), *self.bullets(lines)]
        return out

    def limits(self) -> list[Flowable]:
        c = self.c
        rows: list[Flowable] = [self.p("Limits of this report", "h2"), *self.bullets(c.limits)]
        if c.caveats:
            rows += [Spacer(1, 3), self.p("Caveats for this file", "h3"), *self.bullets(c.caveats)]
        # One row per paragraph, so the box can continue on the next page.
        box = Table([[r] for r in rows], colWidths=[WIDTH], hAlign="LEFT")
        box.setStyle(TableStyle([
            ("BACKGROUND", (0, 0), (-1, -1), PALE), ("BOX", (0, 0), (-1, -1), 0.6, RULE),
            ("LEFTPADDING", (0, 0), (-1, -1), 10), ("RIGHTPADDING", (0, 0), (-1, -1), 10),
            ("TOPPADDING", (0, 0), (-1, -1), 0), ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
            ("TOPPADDING", (0, 0), (0, 0), 2), ("BOTTOMPADDING", (0, 0), (0, 0), 4),
            ("BOTTOMPADDING", (0, -1), (-1, -1), 6),
        ]))
        return [CondPageBreak(45 * mm), Spacer(1, 10), box]

    def flowables(self) -> list[Flowable]:
        out: list[Flowable] = []
        for section in (self.title_block, self.no_verdict, self.narrative, self.provenance, self.timeline, self.gallery,
                        self.regions, self.method, self.tracks, self.inputs, self.model, self.limits):
            out += section()
        return out


# ---------------------------------------------------------------- page furniture

def _canvas_class(c: ReportContent, fonts: type[Fonts]):
    """A canvas that knows the page count when it draws each page's header and footer."""
    name, _ = drawable(c.file_name, fonts.glyphs)
    if len(name) > 60:
        name = name[:28] + "…" + name[-28:]
    footer_left = (f"seethrough {c.seethrough_version} — evidence, not proof   ·   analysis schema {c.schema_version}"
                   f"   ·   generated {c.generated_at}")
    header = f"Deepfake analysis · {name} · {c.badge.label}"

    class NumberedCanvas(rl_canvas.Canvas):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._pages: list[dict] = []

        def showPage(self):  # noqa: N802 - reportlab API
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self):
            total = len(self._pages)
            for state in self._pages:
                self.__dict__.update(state)
                self._furniture(total)
                super().showPage()
            super().save()

        def _furniture(self, total: int) -> None:
            page = self.getPageNumber()
            self.saveState()
            self.setStrokeColor(RULE)
            self.setLineWidth(0.6)
            self.line(MARGIN_X, MARGIN_BOTTOM - 6 * mm, PAGE_W - MARGIN_X, MARGIN_BOTTOM - 6 * mm)
            self.setFont(fonts.sans, 7.5)
            self.setFillColor(MUTED)
            self.drawString(MARGIN_X, MARGIN_BOTTOM - 10 * mm, footer_left)
            self.drawRightString(PAGE_W - MARGIN_X, MARGIN_BOTTOM - 10 * mm, f"page {page} of {total}")
            if page > 1:
                self.drawString(MARGIN_X, PAGE_H - MARGIN_TOP + 6 * mm, header)
                self.line(MARGIN_X, PAGE_H - MARGIN_TOP + 4.5 * mm, PAGE_W - MARGIN_X, PAGE_H - MARGIN_TOP + 4.5 * mm)
            self.restoreState()

    return NumberedCanvas


def pdf_bytes(content: ReportContent) -> bytes:
    """The report as PDF bytes."""
    report = _Report(content)
    buf = io.BytesIO()
    title, _ = drawable(f"Deepfake analysis: {content.file_name} ({content.badge.label})", report.fonts.glyphs)
    doc = BaseDocTemplate(
        buf, pagesize=A4, leftMargin=MARGIN_X, rightMargin=MARGIN_X, topMargin=MARGIN_TOP,
        bottomMargin=MARGIN_BOTTOM, title=title, author=f"seethrough {content.seethrough_version}",
        subject="Deepfake analysis report: evidence, not proof", creator="seethrough",
    )
    frame = Frame(MARGIN_X, MARGIN_BOTTOM, WIDTH, PAGE_H - MARGIN_TOP - MARGIN_BOTTOM, id="body",
                  leftPadding=0, rightPadding=0, topPadding=0, bottomPadding=0)
    doc.addPageTemplates([PageTemplate(id="page", frames=[frame])])
    doc.build(report.flowables(), canvasmaker=_canvas_class(content, report.fonts))
    return buf.getvalue()


def render_pdf(doc: dict, gallery: Sequence[Any], path: str | Path) -> Path:
    """Write the PDF report for analysis document ``doc`` (schema 1.x) and its evidence gallery to ``path``."""
    return atomic_write_bytes(path, pdf_bytes(build_content(doc, gallery)))
