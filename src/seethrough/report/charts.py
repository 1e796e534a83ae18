"""Report charts drawn with matplotlib's object API (Agg canvas, no pyplot global state).

Each function returns a :class:`Chart`: PNG bytes, pixel size and the text for screen readers.
Nothing here imports the report content, which imports this module.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import PercentFormatter

from ..facts import overall_pct, pct

DPI = 200
WIDTH_IN = 7.0
INK = "#1f2a44"
MUTED = "#6b7280"
FAKE, AMBER, REAL = "#c62828", "#f2a900", "#2e7d32"
FONT = 8


@dataclass(frozen=True)
class Chart:
    """A rendered chart: PNG bytes, its size in pixels, and ``alt`` text describing it."""

    png: bytes
    width_px: int
    height_px: int
    alt: str


def _figure(height_in: float) -> Figure:
    fig = Figure(figsize=(WIDTH_IN, height_in), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _style(ax) -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color("#9ca3af")
    ax.tick_params(labelsize=FONT, colors="#374151")


def _render(fig: Figure, alt: str) -> Chart:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, facecolor="white", pil_kwargs={"compress_level": 3})
    w, h = fig.canvas.get_width_height()
    return Chart(png=buf.getvalue(), width_px=int(w), height_px=int(h), alt=alt)


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

    fig = _figure(3.0)
    ax = fig.add_axes((0.095, 0.30, 0.83, 0.64))
    _style(ax)
    handles: list = []

    lo = (thresholds or {}).get("real_below")
    hi = (thresholds or {}).get("fake_above")
    if lo is not None and hi is not None:
        ax.axhspan(0, lo, color=REAL, alpha=0.07, lw=0)
        ax.axhspan(lo, hi, color=AMBER, alpha=0.16, lw=0)
        ax.axhspan(hi, 1, color=FAKE, alpha=0.07, lw=0)
        handles += [
            Patch(color=REAL, alpha=0.25, label=f"'real' zone (< {pct(lo)})"),
            Patch(color=AMBER, alpha=0.4, label="uncertain zone"),
            Patch(color=FAKE, alpha=0.25, label=f"'fake' zone (≥ {pct(hi)})"),
        ]

    for seg in segments:
        ax.axvspan(float(seg["start_s"]) - step / 2, float(seg["end_s"]) + step / 2, color=FAKE, alpha=0.14, lw=0)
    if segments:
        handles.append(Patch(color=FAKE, alpha=0.3, label="suspicious stretch"))

    attention = [f.get("attention") for f in frames]
    att = np.array([np.nan if a is None else float(a) for a in attention])
    if np.isfinite(att).sum() > 1 and np.nanmax(att) - np.nanmin(att) > 1e-9:
        ax2 = ax.twinx()
        diffs = np.diff(t)
        width = 0.7 * float(diffs[diffs > 0].min()) if np.any(diffs > 0) else step * 0.7  # bars never overlap
        ax2.bar(t[np.isfinite(att)], att[np.isfinite(att)], width=width, color="#64748b", alpha=0.22, lw=0)
        ax2.set_ylim(0, np.nanmax(att) * 3.2)
        ax2.set_ylabel("attention weight", fontsize=FONT, color=MUTED)
        ax2.tick_params(labelsize=FONT - 1, colors=MUTED)
        for side in ("top", "left"):
            ax2.spines[side].set_visible(False)
        ax2.spines["right"].set_color("#d1d5db")
        ax.set_zorder(ax2.get_zorder() + 1)
        ax.patch.set_visible(False)
        handles.append(Patch(color="#64748b", alpha=0.35, label="attention weight (right axis)"))

    ax.plot(t, p, "-o", color=INK, lw=1.4, ms=2.8, zorder=3)
    handles.insert(0, Line2D([], [], color=INK, marker="o", ms=3, lw=1.4, label="fake probability per frame"))
    if overall is not None:
        ax.axhline(overall, color=INK, ls="--", lw=0.9, alpha=0.7, zorder=2)
        handles.insert(1, Line2D([], [], color=INK, ls="--", lw=0.9, label=f"whole clip: {overall_pct(overall, thresholds)}"))

    missing = ~np.isfinite(p)
    if missing.any():
        ax.scatter(t[missing], np.full(missing.sum(), -0.035), marker="x", s=14, color=MUTED, lw=1, zorder=3, clip_on=False)
        handles.append(Line2D([], [], color=MUTED, marker="x", lw=0, ms=4, label="no usable face (gap)"))

    kf = [k for k in key_frames if k.get("fake_probability") is not None]
    if kf:
        kt = [float(k["time_s"]) for k in kf]
        kp = [float(k["fake_probability"]) for k in kf]
        ax.scatter(kt, kp, s=70, facecolors="none", edgecolors=FAKE, lw=1.5, zorder=4)
        for rank, (x, y) in enumerate(zip(kt, kp), start=1):
            ax.annotate(str(rank), (x, y), xytext=(0, 7), textcoords="offset points", ha="center", va="bottom",
                        fontsize=FONT - 1, color=FAKE, fontweight="bold", zorder=5)
        handles.append(Line2D([], [], color=FAKE, marker="o", mfc="none", lw=0, ms=7, mew=1.5,
                              label="key frame (numbered as in the gallery)"))

    ax.set_ylim(-0.07, 1.08)
    if len(t):
        ax.set_xlim(t.min() - pad, t.max() + pad)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_yticks([0, 0.25, 0.5, 0.75, 1.0])
    ax.grid(axis="y", color="#e5e7eb", lw=0.6, zorder=0)
    ax.set_xlabel("time in the video (seconds)", fontsize=FONT, color="#374151")
    ax.set_ylabel("fake probability", fontsize=FONT, color="#374151")
    fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=FONT - 1.5, frameon=False,
               bbox_to_anchor=(0.5, 0.0), handlelength=1.6, columnspacing=1.2)
    n_scored = int(np.isfinite(p).sum())
    alt = (f"Timeline of the per-frame fake probability over {span:.1f} seconds: {n_scored} of {len(t)} "
           f"sampled frames scored, highest {pct(float(np.nanmax(p)))}." if n_scored else "Timeline: no frame scored.")
    return _render(fig, alt)


def region_chart(rows: Sequence[tuple[str, float]]) -> Chart:
    """Horizontal bars of area-normalised heat per facial region, hottest at the top."""
    names = [r[0] for r in rows]
    scores = np.array([float(r[1]) for r in rows])
    fig = _figure(max(1.5, 0.85 + 0.21 * len(rows)))
    h = fig.get_figheight()
    ax = fig.add_axes((0.25, 0.6 / h, 0.68, 1 - 0.9 / h))
    _style(ax)
    y = np.arange(len(rows))[::-1]
    colours = [FAKE if s >= 1.25 else "#ef8a62" if s >= 1.0 else "#9fb3c8" for s in scores]
    ax.barh(y, scores, color=colours, height=0.66, zorder=2)
    top = max(1.6, float(scores.max(initial=1.0)) * 1.15)
    ax.set_xlim(0, top)
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.axvline(1.0, color=INK, ls="--", lw=1, zorder=3)
    ax.text(1.0, 1.01, "face average", fontsize=FONT - 1, color=INK, va="bottom", ha="center",
            transform=ax.get_xaxis_transform(), clip_on=False)
    for yi, s in zip(y, scores):
        ax.text(s + top * 0.01, yi, f"{s:.2f}×", va="center", fontsize=FONT - 1, color="#374151", zorder=4,
                bbox=dict(facecolor="white", edgecolor="none", pad=0.6, alpha=0.9))
    ax.set_yticks(y, names, fontsize=FONT)
    ax.tick_params(axis="y", length=0)
    ax.grid(axis="x", color="#e5e7eb", lw=0.6, zorder=0)
    ax.set_xlabel("relative heat: how strongly the model looked here (1.0 = face average)", fontsize=FONT,
                  color="#374151")
    hot = [n for n, s in zip(names, scores) if s > 1.0][:3]
    alt = "Facial regions by heat; hottest: " + (", ".join(hot) if hot else "none above the face average") + "."
    return _render(fig, alt)


def method_chart(rows: Sequence[tuple[str, float]]) -> Chart:
    """Horizontal bars of method-family probabilities (conditional on the face being manipulated)."""
    names = [r[0] for r in rows]
    probs = np.array([float(r[1]) for r in rows])
    fig = _figure(0.8 + 0.28 * len(rows))
    h = fig.get_figheight()
    ax = fig.add_axes((0.25, 0.6 / h, 0.68, 1 - 1.0 / h))
    _style(ax)
    y = np.arange(len(rows))[::-1]
    colours = ["#5b3f8c" if i == 0 else "#b8a9d6" for i in range(len(rows))]
    ax.barh(y, probs, color=colours, height=0.62, zorder=2)
    for yi, v in zip(y, probs):
        ax.text(v + 0.01, yi, pct(v), va="center", fontsize=FONT - 1, color="#374151")
    ax.set_xlim(0, 1.08)
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_yticks(y, names, fontsize=FONT)
    ax.tick_params(axis="y", length=0)
    ax.grid(axis="x", color="#e5e7eb", lw=0.6, zorder=0)
    ax.set_title("If manipulated, it most resembles…", fontsize=FONT + 1, loc="left", color=INK)
    ax.set_xlabel("probability, given that the face is manipulated", fontsize=FONT, color="#374151")
    alt = f"If manipulated, it most resembles {names[0]} ({pct(probs[0])})." if names else "No method estimate."
    return _render(fig, alt)
