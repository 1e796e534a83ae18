"""``seethrough compare``: the "real vs fake" figure of papers, from two analyses.

Each input (image or video) goes through :func:`seethrough.analysis.analyze`; the figure
shows, per input, the face crop, its Grad-CAM overlay and the hottest facial regions,
with the file name, verdict and fake probability. Matplotlib is used through
``Figure`` + the Agg canvas only (no pyplot state), so it is safe in servers and threads.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import SeethroughError
from .log import get_logger

log = get_logger(__name__)

ROLES = ("REAL", "FAKE")
FIGURE_SUFFIXES = (".png", ".pdf")
PNG_DPI = 200
VERDICT_COLOURS = {"fake": "#c62828", "uncertain": "#ef8f00", "real": "#2e7d32"}


class CompareError(SeethroughError):
    """An input cannot be shown in the comparison (no face, unreadable, no heatmap)."""

    code = "compare"


@dataclass
class Panel:
    """What one column of the figure shows."""

    role: str  # REAL | FAKE: the label the user gives the input
    name: str
    verdict: str
    fake_probability: float
    index: int  # frame shown (0 for images)
    time_s: float
    frame_probability: float | None
    crop: np.ndarray  # RGB uint8
    overlay: np.ndarray  # RGB uint8, Grad-CAM over the crop
    regions: list[tuple[str, float]]  # hottest first
    regions_scope: str  # "frame" (regions of the shown crop) or "file" (whole analysis)
    requested: int | None = None  # frame index asked for, when different from the one shown
    model: str = ""
    is_image: bool = False


def _nearest(indices: list[int], target: int) -> int:
    return min(indices, key=lambda i: (abs(i - target), i))


def panel_from_analysis(a: Any, role: str, frame: int | None = None, top_k: int = 5) -> Panel:
    """The column for analysis ``a``: its most suspicious key frame, or the scored frame nearest ``frame``.

    Only frames sampled by the analysis (``--frames``) with a usable face have a heatmap;
    raises :class:`CompareError` when ``a`` has none (no face, unreadable, no explanations).
    """
    from .explain import evidence_gallery
    from .explain.gallery import heat_overlay

    name = a.file.get("name", "?")
    if a.status != "ok":
        what = "no usable face" if a.status == "no_face" else "cannot be analysed"
        raise CompareError(f"{role} input {name}: {what}: {a.message}")
    art = a.artifacts
    gallery = evidence_gallery(a)
    if art is None or not gallery:
        raise CompareError(f"{role} input {name}: the analysis has no heatmaps (it must run with explanations).")
    by_index = {c.frame_index: i for i, c in enumerate(art.crops)}
    index = gallery[0].index if frame is None else _nearest(sorted(by_index), frame)
    item = next((g for g in gallery if g.index == index), None)
    pos = by_index[index]
    crop = item.crop if item is not None else art.crops[pos].crop
    overlay = item.crop_overlay if item is not None else heat_overlay(crop, art.cams[pos].astype(np.float32))
    fs = next((f for f in a.frames if f.index == index), None)
    if fs is not None and fs.regions:
        regions, scope = sorted(fs.regions.items(), key=lambda kv: (-kv[1], kv[0]))[:top_k], "frame"
    else:
        regions, scope = [(r["name"], r["score"]) for r in (a.evidence or {}).get("regions", [])[:top_k]], "file"
    return Panel(
        role=role, name=name, verdict=a.verdict, fake_probability=float(a.fake_probability), index=index,
        time_s=float(fs.time_s if fs is not None else 0.0),
        frame_probability=None if fs is None or fs.fake_probability is None else float(fs.fake_probability),
        crop=crop, overlay=overlay, regions=[(k, float(v)) for k, v in regions], regions_scope=scope,
        requested=frame if frame is not None and frame != index else None,
        model=(a.model or {}).get("name", ""),
        is_image=(a.media or {}).get("kind") == "image",
    )


def _header(p: Panel) -> str:
    return f"{p.role} input: {p.name}\nverdict {p.verdict.upper()} · p(fake) {p.fake_probability:.2f}"


def _frame_caption(p: Panel) -> str:
    where = "image" if p.is_image else f"frame #{p.index} ({p.time_s:.2f} s)"
    if p.requested is not None:
        where += f", nearest to #{p.requested}"
    prob = "" if p.frame_probability is None or p.is_image else f"\nframe p(fake) {p.frame_probability:.2f}"
    return f"Grad-CAM, {where}{prob}"


def compare_figure(real: Panel, fake: Panel, title: str | None = "Real vs fake: where the detector looks"):
    """A two-column matplotlib ``Figure`` (crops, Grad-CAM overlays, top regions) with an Agg canvas."""
    import matplotlib as mpl
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.4, 9.6), layout="constrained")
    FigureCanvasAgg(fig)
    gs = fig.add_gridspec(3, 2, height_ratios=[1.0, 1.0, 0.7])
    xmax = max([1.2, *[v for p in (real, fake) for _, v in p.regions]]) * 1.08
    overlay_axes = []
    for col, p in enumerate((real, fake)):
        colour = VERDICT_COLOURS.get(p.verdict, "black")
        ax = fig.add_subplot(gs[0, col])
        ax.imshow(p.crop)
        ax.set_title(_header(p), fontsize=9.5, color=colour, fontweight="bold")
        ax.set_xticks([]), ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_edgecolor(colour), spine.set_linewidth(2.5)

        ax = fig.add_subplot(gs[1, col])
        ax.imshow(p.overlay)
        ax.set_title(_frame_caption(p), fontsize=8.5)
        ax.set_axis_off()
        overlay_axes.append(ax)

        ax = fig.add_subplot(gs[2, col])
        if p.regions:
            names = [n.replace("_", " ") for n, _ in p.regions][::-1]
            vals = [v for _, v in p.regions][::-1]
            ax.barh(names, vals, color=[("#c62828" if v > 1.0 else "#9e9e9e") for v in vals], height=0.65)
            ax.axvline(1.0, color="black", lw=0.8, ls="--")
            ax.set_xlim(0, xmax)
        else:
            ax.text(0.5, 0.5, "no region scores (no landmarks)", ha="center", va="center", fontsize=8,
                    transform=ax.transAxes)
            ax.set_yticks([])
        scope = "this frame" if p.regions_scope == "frame" else "whole file"
        ax.set_xlabel(f"region heat ({scope}; 1.0 = face average)", fontsize=8)
        ax.tick_params(labelsize=8)
    sm = mpl.cm.ScalarMappable(norm=mpl.colors.Normalize(0, 1), cmap="jet")
    cb = fig.colorbar(sm, ax=overlay_axes, orientation="horizontal", fraction=0.04, pad=0.01, aspect=40)
    cb.set_label("Grad-CAM: evidence for 'fake' (blue low, red high)", fontsize=8)
    cb.ax.tick_params(labelsize=7)
    if title:
        fig.suptitle(title, fontsize=12, fontweight="bold")
    model = real.model or fake.model
    if model:
        fig.supxlabel(f"seethrough model: {model}", fontsize=7, color="#666666")
    return fig


def check_outputs(outs: list[Path]) -> list[Path]:
    """Validate figure paths (.png or .pdf); raises :class:`CompareError`."""
    if not outs:
        raise CompareError("Give at least one output file: --out figure.png and/or --out figure.pdf.")
    bad = [str(o) for o in outs if o.suffix.lower() not in FIGURE_SUFFIXES]
    if bad:
        raise CompareError(f"Output names must end in .png or .pdf: {', '.join(bad)}")
    return [Path(o) for o in outs]


def save_figure(fig, outs: list[Path]) -> list[Path]:
    """Write ``fig`` to each path: PNG at :data:`PNG_DPI` dpi, PDF as vector graphics."""
    written = []
    for out in check_outputs(outs):
        out.parent.mkdir(parents=True, exist_ok=True)
        fmt = out.suffix.lower().lstrip(".")
        fig.savefig(out, format=fmt, dpi=PNG_DPI if fmt == "png" else None,
                    metadata={"Creator": "seethrough compare"} if fmt == "pdf" else None)
        written.append(out)
    return written


@dataclass
class CompareResult:
    real: Panel
    fake: Panel
    outputs: list[Path]
    analyses: tuple[Any, Any]


def compare(
    real: str | Path,
    fake: str | Path,
    outs: list[Path],
    *,
    predictor=None,
    frame_real: int | None = None,
    frame_fake: int | None = None,
    frames: int = 32,
    min_face: int = 40,
) -> CompareResult:
    """Analyse both inputs, build the figure, write it to ``outs`` (.png/.pdf).

    Raises :class:`CompareError` (before writing anything) when an input has no face,
    cannot be read, or an output name is not .png/.pdf.
    """
    from .analysis import AnalyzeOptions, analyze
    from .inference import get_predictor

    outs = check_outputs(list(outs))
    predictor = predictor or get_predictor()
    opts = AnalyzeOptions(frames=frames, min_face=min_face, explain=True, narrator=None)
    analyses = tuple(analyze(p, predictor=predictor, options=opts) for p in (real, fake))
    panels = [panel_from_analysis(a, role, fr) for a, role, fr in zip(analyses, ROLES, (frame_real, frame_fake))]
    fig = compare_figure(*panels)
    written = save_figure(fig, outs)
    log.info("comparison written to %s", ", ".join(map(str, written)))
    return CompareResult(panels[0], panels[1], written, analyses)
