"""Report charts as vector drawings: one scene, drawn into the PDF (reportlab) and the HTML (SVG).

Each chart function returns a :class:`Chart`: a list of shapes in points (y pointing down, the
origin at the top left), its size and the text for screen readers. ``chart.svg()`` is the SVG
document for the HTML report; ``chart.drawing(width)`` the reportlab drawing for the PDF, so both
reports show exactly the same chart, sharp at any zoom. Drawing a chart takes milliseconds
(matplotlib took 0.2-0.3 s a chart). Nothing here imports the report content, which imports
this module.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Sequence, Union
from xml.sax.saxutils import escape

import numpy as np
from reportlab.graphics import shapes as rl
from reportlab.lib import colors
from reportlab.pdfbase.pdfmetrics import stringWidth

from ..facts import overall_pct, pct
from .fonts import Fonts, drawable

WIDTH = 504.0  # points: 7 inches, the text width of the PDF
SCREEN = 700 / WIDTH  # CSS pixels per point in the HTML report (700 px wide)
INK = "#1f2a44"
MUTED = "#6b7280"
TICK = "#374151"
SPINE = "#9ca3af"
GRID = "#e5e7eb"
FAKE, AMBER, REAL = "#c62828", "#f2a900", "#2e7d32"
FONT = 8.0
LEGEND_ROW = FONT + 2.5  # a legend row: its text size plus 4 points
SVG_FONTS = "'DejaVu Sans', Verdana, Arial, sans-serif"


# ---------------------------------------------------------------- shapes

@dataclass(frozen=True)
class Box:
    x: float
    y: float
    w: float
    h: float
    fill: str
    opacity: float = 1.0


@dataclass(frozen=True)
class Line:
    points: tuple[tuple[float, float], ...]
    stroke: str
    width: float = 1.0
    dash: tuple[float, float] | None = None
    opacity: float = 1.0


@dataclass(frozen=True)
class Dot:
    x: float
    y: float
    r: float
    fill: str | None
    stroke: str | None = None
    width: float = 1.0


@dataclass(frozen=True)
class Text:
    x: float
    y: float  # the baseline
    text: str
    size: float = FONT
    colour: str = TICK
    anchor: str = "start"  # start | middle | end
    bold: bool = False
    angle: float = 0.0  # degrees, counter-clockwise


Shape = Union[Box, Line, Dot, Text]


def text_width(text: str, size: float) -> float:
    """Width in points of ``text`` in the charts' (regular) font."""
    f = Fonts.ensure()
    return stringWidth(drawable(text, f.glyphs)[0], f.sans, size)


@dataclass(frozen=True)
class Chart:
    """A chart: its shapes, its size in points, and ``alt`` text describing it."""

    shapes: tuple[Shape, ...]
    width: float
    height: float
    alt: str

    @property
    def css_size(self) -> tuple[int, int]:
        """Width and height in CSS pixels in the HTML report."""
        return round(self.width * SCREEN), round(self.height * SCREEN)

    def svg(self) -> bytes:
        """A standalone SVG document (no external references)."""
        w, h = self.css_size
        out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
               f'viewBox="0 0 {self.width:.1f} {self.height:.1f}" font-family="{SVG_FONTS}">',
               f"<title>{escape(self.alt)}</title>",
               f'<rect width="{self.width:.1f}" height="{self.height:.1f}" fill="#ffffff"/>']
        out += [_svg(s) for s in self.shapes]
        out.append("</svg>")
        return "\n".join(out).encode("utf-8")

    def drawing(self, width: float | None = None):
        """A reportlab ``Drawing`` (a flowable) of the chart, scaled to ``width`` points."""
        scale = (width or self.width) / self.width
        d = rl.Drawing(self.width * scale, self.height * scale)
        g = rl.Group(*[_reportlab(s, self.height) for s in self.shapes])
        g.transform = (scale, 0, 0, scale, 0, 0)
        d.add(g)
        return d


def _f(v: float) -> str:
    return f"{v:.2f}".rstrip("0").rstrip(".")


def _svg(s: Shape) -> str:
    if isinstance(s, Box):
        op = f' fill-opacity="{_f(s.opacity)}"' if s.opacity < 1 else ""
        return f'<rect x="{_f(s.x)}" y="{_f(s.y)}" width="{_f(s.w)}" height="{_f(s.h)}" fill="{s.fill}"{op}/>'
    if isinstance(s, Line):
        pts = " ".join(f"{_f(x)},{_f(y)}" for x, y in s.points)
        dash = f' stroke-dasharray="{_f(s.dash[0])} {_f(s.dash[1])}"' if s.dash else ""
        op = f' stroke-opacity="{_f(s.opacity)}"' if s.opacity < 1 else ""
        return (f'<polyline points="{pts}" fill="none" stroke="{s.stroke}" stroke-width="{_f(s.width)}"'
                f' stroke-linejoin="round"{dash}{op}/>')
    if isinstance(s, Dot):
        stroke = f' stroke="{s.stroke}" stroke-width="{_f(s.width)}"' if s.stroke else ""
        return f'<circle cx="{_f(s.x)}" cy="{_f(s.y)}" r="{_f(s.r)}" fill="{s.fill or "none"}"{stroke}/>'
    rot = f' transform="rotate({_f(-s.angle)} {_f(s.x)} {_f(s.y)})"' if s.angle else ""
    weight = ' font-weight="bold"' if s.bold else ""
    return (f'<text x="{_f(s.x)}" y="{_f(s.y)}" font-size="{_f(s.size)}" fill="{s.colour}" '
            f'text-anchor="{s.anchor}"{weight}{rot}>{escape(s.text)}</text>')


def _rl_colour(hex_: str | None, alpha: float = 1.0):
    """A reportlab colour (None stays None: nothing drawn)."""
    if hex_ is None:
        return None
    c = colors.HexColor(hex_)
    return colors.Color(c.red, c.green, c.blue, alpha=alpha) if alpha < 1 else c


def _reportlab(s: Shape, height: float):
    if isinstance(s, Box):  # reportlab's y points up
        return rl.Rect(s.x, height - s.y - s.h, s.w, s.h, fillColor=_rl_colour(s.fill, s.opacity), strokeColor=None)
    if isinstance(s, Line):
        pts = [v for x, y in s.points for v in (x, height - y)]
        return rl.PolyLine(pts, strokeColor=_rl_colour(s.stroke, s.opacity), strokeWidth=s.width,
                           strokeDashArray=list(s.dash) if s.dash else None, strokeLineJoin=1)
    if isinstance(s, Dot):
        return rl.Circle(s.x, height - s.y, s.r, fillColor=_rl_colour(s.fill), strokeColor=_rl_colour(s.stroke),
                         strokeWidth=s.width)
    f = Fonts.ensure()
    text = rl.String(0, 0, drawable(s.text, f.glyphs)[0], fontName=f.bold if s.bold else f.sans, fontSize=s.size,
                     fillColor=_rl_colour(s.colour), textAnchor=s.anchor)
    group = rl.Group(text)
    a = math.radians(s.angle)
    group.transform = (math.cos(a), math.sin(a), -math.sin(a), math.cos(a), s.x, height - s.y)
    return group


# ---------------------------------------------------------------- axes

def nice_ticks(lo: float, hi: float, n: int = 6) -> list[float]:
    """Round tick values (1, 2, 2.5 or 5 times a power of ten) covering [lo, hi], about ``n`` of them."""
    if not math.isfinite(lo) or not math.isfinite(hi) or hi <= lo:
        return [lo]
    raw = (hi - lo) / max(1, n - 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    return [round(first + k * step, 10) for k in range(int((hi - first) / step + 1e-9) + 1)]


def _tick_text(v: float) -> str:
    return f"{v:g}"


def _axis_pct(v: float) -> str:
    """An axis tick as a whole percentage ("25%"); probabilities themselves are shown with ``facts.pct``."""
    return f"{v * 100:.0f}%"


@dataclass
class _Plot:
    """An axes box on a chart: data coordinates to points, and the shapes drawn so far."""

    left: float
    top: float
    w: float
    h: float
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    shapes: list[Shape] = field(default_factory=list)

    def x(self, v: float) -> float:
        lo, hi = self.xlim
        return self.left + (v - lo) / (hi - lo) * self.w

    def y(self, v: float) -> float:
        lo, hi = self.ylim
        return self.top + (hi - v) / (hi - lo) * self.h

    def add(self, *shapes: Shape) -> None:
        self.shapes.extend(shapes)

    def hband(self, y0: float, y1: float, fill: str, opacity: float) -> None:
        self.add(Box(self.left, self.y(y1), self.w, self.y(y0) - self.y(y1), fill, opacity))

    def hbar(self, row: float, value: float, fill: str, half: float) -> None:
        """A horizontal bar from 0 to ``value`` at ``row``, ``half`` a row thick each side."""
        y0, y1 = self.y(row + half), self.y(row - half)
        self.add(Box(self.x(0), y0, self.x(value) - self.x(0), y1 - y0, fill))

    def vband(self, x0: float, x1: float, fill: str, opacity: float) -> None:
        a, b = max(self.x(x0), self.left), min(self.x(x1), self.left + self.w)
        if b > a:
            self.add(Box(a, self.top, b - a, self.h, fill, opacity))

    def spines(self) -> None:
        bottom = self.top + self.h
        self.add(Line(((self.left, self.top), (self.left, bottom), (self.left + self.w, bottom)), SPINE, 0.8))

    def xticks(self, values: Sequence[float], labels: Sequence[str], grid: bool = False) -> None:
        bottom = self.top + self.h
        for v, label in zip(values, labels):
            px = self.x(v)
            if grid:
                self.add(Line(((px, self.top), (px, bottom)), GRID, 0.6))
            self.add(Line(((px, bottom), (px, bottom + 3)), SPINE, 0.8),
                     Text(px, bottom + 3 + FONT, label, anchor="middle"))

    def yticks(self, values: Sequence[float], labels: Sequence[str], grid: bool = False, marks: bool = True) -> None:
        for v, label in zip(values, labels):
            py = self.y(v)
            if grid:
                self.add(Line(((self.left, py), (self.left + self.w, py)), GRID, 0.6))
            if marks:
                self.add(Line(((self.left - 3, py), (self.left, py)), SPINE, 0.8))
            self.add(Text(self.left - (5 if marks else 4), py + FONT * 0.35, label, anchor="end"))

    def xlabel(self, text: str) -> None:
        self.add(Text(self.left + self.w / 2, self.top + self.h + 2 * FONT + 8, text, anchor="middle"))


def _legend(entries: Sequence[tuple[str, Shape | tuple[Shape, ...]]], top: float, columns: int = 3) -> list[Shape]:
    """Legend rows of ``columns`` entries, centred; each entry is a label and its key drawn at (0, 0)."""
    size = LEGEND_ROW - 4
    key_w, gap = 14.0, 12.0
    shapes: list[Shape] = []
    rows = [entries[i:i + columns] for i in range(0, len(entries), columns)]
    col_w = [max(key_w + 4 + text_width(rows[r][c][0], size) for r in range(len(rows)) if c < len(rows[r]))
             for c in range(min(columns, len(entries)))]
    total = sum(col_w) + gap * (len(col_w) - 1)
    for r, row in enumerate(rows):
        x, y = (WIDTH - total) / 2, top + r * LEGEND_ROW
        for c, (label, key) in enumerate(row):
            for s in key if isinstance(key, tuple) else (key,):
                shapes.append(_moved(s, x, y))
            shapes.append(Text(x + key_w + 4, y + size * 0.35, label, size=size, colour=TICK))
            x += col_w[c] + gap
    return shapes


def _moved(s: Shape, dx: float, dy: float) -> Shape:
    if isinstance(s, Line):
        return replace(s, points=tuple((x + dx, y + dy) for x, y in s.points))
    return replace(s, x=s.x + dx, y=s.y + dy)


def _swatch(fill: str, opacity: float) -> Box:
    return Box(0, -3.5, 14, 7, fill, opacity)


def _cross(x: float, y: float, r: float, colour: str) -> tuple[Line, Line]:
    return (Line(((x - r, y - r), (x + r, y + r)), colour, 0.9), Line(((x - r, y + r), (x + r, y - r)), colour, 0.9))


def _chart(plot: _Plot, extra: Sequence[Shape], height: float, alt: str) -> Chart:
    return Chart(tuple(plot.shapes) + tuple(extra), WIDTH, height, alt)


# ---------------------------------------------------------------- the charts

def timeline_chart(
    frames: Sequence[dict],
    *,
    thresholds: dict | None,
    key_frames: Sequence[dict] = (),
    segments: Sequence[dict] = (),
    overall: float | None = None,
) -> Chart:
    """Per-frame fake probability over time, with the verdict zones, gaps, key frames and attention."""
    t = np.array([float(f["time_s"]) for f in frames])
    p = np.array([np.nan if f.get("fake_probability") is None else float(f["fake_probability"]) for f in frames])
    step = float(np.median(np.diff(t))) if len(t) > 1 and np.any(np.diff(t) > 0) else 0.04
    span = (t.max() - t.min()) if len(t) else 0.0
    pad = max(step, span * 0.02)
    xlim = (float(t.min()) - pad, float(t.max()) + pad) if len(t) else (-pad, pad)
    plot = _Plot(left=0.095 * WIDTH, top=13.0, w=0.83 * WIDTH, h=138.0, xlim=xlim, ylim=(-0.07, 1.08))
    legend: list[tuple[str, Shape | tuple[Shape, ...]]] = [
        ("fake probability per frame", (Line(((0, 0), (14, 0)), INK, 1.4), Dot(7, 0, 1.5, INK)))]

    lo = (thresholds or {}).get("real_below")
    hi = (thresholds or {}).get("fake_above")
    if lo is not None and hi is not None:
        plot.hband(0, lo, REAL, 0.07)
        plot.hband(lo, hi, AMBER, 0.16)
        plot.hband(hi, 1, FAKE, 0.07)
        legend += [(f"'real' zone (< {pct(lo)})", _swatch(REAL, 0.25)), ("uncertain zone", _swatch(AMBER, 0.4)),
                   (f"'fake' zone (≥ {pct(hi)})", _swatch(FAKE, 0.25))]
    for seg in segments:
        plot.vband(float(seg["start_s"]) - step / 2, float(seg["end_s"]) + step / 2, FAKE, 0.14)
    if segments:
        legend.append(("suspicious stretch", _swatch(FAKE, 0.3)))

    ticks = [0, 0.25, 0.5, 0.75, 1.0]
    plot.yticks(ticks, [_axis_pct(v) for v in ticks], grid=True)
    xt = [v for v in nice_ticks(*xlim, n=7) if xlim[0] <= v <= xlim[1]]
    plot.xticks(xt, [_tick_text(v) for v in xt])

    extra: list[Shape] = []
    att = np.array([np.nan if f.get("attention") is None else float(f["attention"]) for f in frames])
    if np.isfinite(att).sum() > 1 and np.nanmax(att) - np.nanmin(att) > 1e-9:
        top_att = float(np.nanmax(att)) * 3.2
        diffs = np.diff(t)
        width = 0.7 * float(diffs[diffs > 0].min()) if np.any(diffs > 0) else step * 0.7  # bars never overlap
        bar_w = width / (xlim[1] - xlim[0]) * plot.w
        base = plot.top + plot.h
        for ti, ai in zip(t[np.isfinite(att)], att[np.isfinite(att)]):
            bh = ai / top_att * plot.h
            plot.add(Box(plot.x(ti) - bar_w / 2, base - bh, bar_w, bh, "#64748b", 0.22))
        right = plot.left + plot.w
        extra.append(Line(((right, plot.top), (right, base)), "#d1d5db", 0.8))
        for v in [v for v in nice_ticks(0, top_att, n=4) if v <= top_att]:
            py = base - v / top_att * plot.h
            extra += [Line(((right, py), (right + 3, py)), "#d1d5db", 0.8),
                      Text(right + 5, py + (FONT - 1) * 0.35, _tick_text(v), size=FONT - 1, colour=MUTED)]
        extra.append(Text(right + 30, plot.top + plot.h / 2, "attention weight", colour=MUTED, anchor="middle",
                          angle=-90))
        legend.append(("attention weight (right axis)", _swatch("#64748b", 0.35)))

    if overall is not None:
        plot.add(Line(((plot.left, plot.y(overall)), (plot.left + plot.w, plot.y(overall))), INK, 0.9, (3.5, 1.5), 0.7))
        legend.insert(1, (f"whole clip: {overall_pct(overall, thresholds)}", Line(((0, 0), (14, 0)), INK, 0.9, (3.5, 1.5))))
    run: list[tuple[float, float]] = []
    for ti, pi in zip(t, p):  # the line breaks at frames without a score, as the data does
        if np.isfinite(pi):
            run.append((plot.x(ti), plot.y(pi)))
        elif run:
            plot.add(Line(tuple(run), INK, 1.4))
            run = []
    if run:
        plot.add(Line(tuple(run), INK, 1.4))
    plot.add(*[Dot(plot.x(ti), plot.y(pi), 1.4, INK) for ti, pi in zip(t, p) if np.isfinite(pi)])

    missing = ~np.isfinite(p)
    if missing.any():
        for ti in t[missing]:
            plot.add(*_cross(plot.x(ti), plot.y(-0.035), 2.2, MUTED))
        legend.append(("no usable face (gap)", _cross(7, 0, 2.2, MUTED)))

    kf = [k for k in key_frames if k.get("fake_probability") is not None]
    for rank, k in enumerate(kf, start=1):
        x, y = plot.x(float(k["time_s"])), plot.y(float(k["fake_probability"]))
        plot.add(Dot(x, y, 4.2, None, FAKE, 1.5), Text(x, y - 7, str(rank), size=FONT - 1, colour=FAKE,
                                                       anchor="middle", bold=True))
    if kf:
        legend.append(("key frame (numbered as in the gallery)", Dot(7, 0, 3.5, None, FAKE, 1.5)))

    plot.spines()
    plot.xlabel("time in the video (seconds)")
    extra.append(Text(plot.left - 30, plot.top + plot.h / 2, "fake probability", anchor="middle", angle=90))
    legend_top = plot.top + plot.h + 2 * FONT + 26
    extra += _legend(legend, top=legend_top)
    height = legend_top + LEGEND_ROW * math.ceil(len(legend) / 3) + 2  # the chart grows with its legend
    n_scored = int(np.isfinite(p).sum())
    alt = (f"Timeline of the per-frame fake probability over {span:.1f} seconds: {n_scored} of {len(t)} "
           f"sampled frames scored, highest {pct(float(np.nanmax(p)))}." if n_scored else "Timeline: no frame scored.")
    return _chart(plot, extra, height, alt)


def _bars(names: Sequence[str], height: float, top_margin: float, xlim: tuple[float, float]) -> _Plot:
    left = max(0.25 * WIDTH, 12 + max((text_width(n, FONT) for n in names), default=0))
    plot = _Plot(left=left, top=top_margin, w=0.93 * WIDTH - left, h=height - top_margin - 43.2,
                 xlim=xlim, ylim=(-0.6, len(names) - 0.4))
    plot.yticks(range(len(names))[::-1], names, marks=False)
    return plot


def region_chart(rows: Sequence[tuple[str, float]]) -> Chart:
    """Horizontal bars of area-normalised heat per facial region, hottest at the top."""
    names = [r[0] for r in rows]
    scores = [float(r[1]) for r in rows]
    height = max(1.5, 0.85 + 0.21 * len(rows)) * 72
    top = max(1.6, max(scores, default=1.0) * 1.15)
    plot = _bars(names, height, 0.3 * 72, (0, top))
    xt = [v for v in nice_ticks(0, top, n=6) if v <= top]
    plot.xticks(xt, [_tick_text(v) for v in xt], grid=True)
    for i, s in enumerate(scores):
        plot.hbar(len(rows) - 1 - i, s, FAKE if s >= 1.25 else "#ef8a62" if s >= 1.0 else "#9fb3c8", 0.33)
    avg = plot.x(1.0)
    plot.add(Line(((avg, plot.top), (avg, plot.top + plot.h)), INK, 1.0, (3.5, 1.5)),
             Text(avg, plot.top - 3, "face average", size=FONT - 1, colour=INK, anchor="middle"))
    for i, s in enumerate(scores):  # value labels on a white ground, above the dashed line
        label, yi = f"{s:.2f}×", len(rows) - 1 - i
        x, y = plot.x(s) + 0.01 * plot.w, plot.y(yi)
        plot.add(Box(x - 1, y - FONT * 0.5, text_width(label, FONT - 1) + 2, FONT, "#ffffff", 0.9),
                 Text(x, y + (FONT - 1) * 0.35, label, size=FONT - 1))
    plot.spines()
    plot.xlabel("relative heat: how strongly the model looked here (1.0 = face average)")
    hot = [n for n, s in zip(names, scores) if s > 1.0][:3]
    alt = "Facial regions by heat; hottest: " + (", ".join(hot) if hot else "none above the face average") + "."
    return _chart(plot, (), height, alt)


def method_chart(rows: Sequence[tuple[str, float]]) -> Chart:
    """Horizontal bars of method-family probabilities (conditional on the face being manipulated)."""
    names = [r[0] for r in rows]
    probs = [float(r[1]) for r in rows]
    height = (0.8 + 0.28 * len(rows)) * 72
    plot = _bars(names, height, 0.4 * 72, (0, 1.08))
    xt = [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    plot.xticks(xt, [_axis_pct(v) for v in xt], grid=True)
    for i, v in enumerate(probs):
        yi = len(rows) - 1 - i
        plot.hbar(yi, v, "#5b3f8c" if i == 0 else "#b8a9d6", 0.31)
        plot.add(Text(plot.x(v + 0.01), plot.y(yi) + (FONT - 1) * 0.35, pct(v), size=FONT - 1))
    plot.spines()
    plot.xlabel("probability, given that the face is manipulated")
    title = Text(plot.left, plot.top - 8, "If manipulated, it most resembles…", size=FONT + 1, colour=INK)
    alt = f"If manipulated, it most resembles {names[0]} ({pct(probs[0])})." if names else "No method estimate."
    return _chart(plot, (title,), height, alt)
