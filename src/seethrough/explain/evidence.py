"""Turn per-frame scores and heatmaps into the ``evidence`` block of an analysis.

Pure functions over plain data (no model, no images), so every rule here is easy to
test and to read: which regions are hottest, which frames are key, which stretches of
the video are suspicious, and what makes the result less reliable.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Sequence

import numpy as np

#: Faces whose shortest side is below this many pixels are upsampled more than ~2x
#: to the model's 224 px input: fine blending traces are mostly gone.
LOW_FACE_PX = 100
#: Video bits per pixel per frame below this is heavy compression (FF++ "c40" is ~0.02).
HEAVY_VIDEO_BPP = 0.04
#: JPEG/WebP bits per pixel below this is heavy compression.
HEAVY_IMAGE_BPP = 0.6
#: Fewer scored frames than this gives the temporal model little to go on.
FEW_FRAMES = 8
#: A face crop whose colour channels differ by less than this (mean grey levels) is black and white.
MONOCHROME_LEVELS = 1.5



def aggregate_regions(per_frame: Iterable[dict[str, float]], weights: Sequence[float] | None = None) -> list[dict]:
    """Mean area-normalised score per region over frames (weighted), hottest first.

    Regions missing in a frame (too few pixels there) do not count for that frame.
    """
    per_frame = list(per_frame)
    w = list(weights) if weights is not None else [1.0] * len(per_frame)
    sums: dict[str, float] = {}
    norms: dict[str, float] = {}
    for scores, wi in zip(per_frame, w):
        for name, v in scores.items():
            sums[name] = sums.get(name, 0.0) + wi * v
            norms[name] = norms.get(name, 0.0) + wi
    out = [{"name": k, "score": round(sums[k] / norms[k], 4)} for k in sums if norms[k] > 0]
    return sorted(out, key=lambda r: (-r["score"], r["name"]))


def top_regions(regions: list[dict], k: int = 3, above: float = 1.0) -> list[str]:
    """Names of up to ``k`` hottest regions scoring above ``above`` (hotter than the face on average)."""
    return [r["name"] for r in regions if r["score"] > above][:k]


def key_frames(frames: Sequence[Any], k: int = 4) -> list[dict]:
    """The ``k`` scored frames with the highest fake probability, most suspicious first.

    ``frames`` are :class:`~seethrough.analysis.FrameScore`-like objects (``index``,
    ``time_s``, ``fake_probability``, ``attention``, ``regions``); ties go to the earlier frame.
    """
    scored = [f for f in frames if f.fake_probability is not None]
    ranked = sorted(scored, key=lambda f: (-f.fake_probability, f.index))[:k]
    out = []
    for f in ranked:
        regions = getattr(f, "regions", None) or {}
        best = max(regions, key=regions.get) if regions else None
        if best is not None and regions[best] <= 0:  # no heat on the face: nothing to name
            best = None
        out.append({"index": f.index, "time_s": f.time_s, "fake_probability": f.fake_probability,
                    "attention": f.attention, "top_region": best})
    return out


def suspicious_segments(frames: Sequence[Any], fake_above: float) -> list[dict]:
    """Runs of consecutive sampled frames whose fake probability is at or above ``fake_above``.

    A frame without a usable face ends a run: the model saw nothing there.
    """
    segments: list[dict] = []
    run: list[Any] = []

    def close() -> None:
        if run:
            segments.append({
                "start_s": run[0].time_s,
                "end_s": run[-1].time_s,
                "peak_probability": max(f.fake_probability for f in run),
                "n_frames": len(run),
            })
            run.clear()

    for f in frames:
        if f.fake_probability is not None and f.fake_probability >= fake_above:
            run.append(f)
        else:
            close()
    close()
    return segments


def caveats(
    *,
    media: dict | None,
    face_px: Sequence[float],
    n_scored: int,
    n_sampled: int,
    n_tracks: int,
    reported_track: int,
    verdict: str,
    method: dict | None,
    abstention: dict | None = None,
    monochrome: bool = False,
) -> list[dict]:
    """What makes this result less reliable, as ``{code, text}`` items (see the schema's enum).

    The reasons a verdict was withheld (``abstention``, see seethrough.abstain) come first
    and replace the milder caveat about the same thing."""
    gated = list((abstention or {}).get("reasons") or []) if (abstention or {}).get("gated") else []
    codes = {r["code"] for r in gated}
    out: list[dict] = [dict(r) for r in gated]
    media = media or {}
    is_image = media.get("kind") == "image"
    if face_px and "face_too_small" not in codes:
        median = float(np.median(face_px))
        if median < LOW_FACE_PX:
            out.append({"code": "low_face_resolution",
                        "text": f"The face is small ({median:.0f} px across); fine traces of manipulation may be lost."})
    bpp = bits_per_pixel(media)
    if "heavy_compression" not in codes and bpp is not None and bpp < (HEAVY_IMAGE_BPP if is_image else HEAVY_VIDEO_BPP):
        out.append({"code": "heavy_compression",
                    "text": f"The file is heavily compressed ({bpp:.3f} bits per pixel); compression hides and "
                            "imitates manipulation traces."})
    if monochrome:
        out.append({"code": "black_and_white",
                    "text": "The face is in black and white; part of what the model learned is colour, so its "
                            "score is less reliable here."})
    if is_image:
        out.append({"code": "single_image",
                    "text": "This is a single image: there is no motion over time to check."})
    elif n_scored < min(FEW_FRAMES, max(n_sampled, 1)) or (n_sampled and n_scored < 0.5 * n_sampled):
        out.append({"code": "few_face_frames",
                    "text": f"A usable face was found in only {n_scored} of {n_sampled} sampled frames."})
    if n_tracks > 1:
        out.append({"code": "several_faces",
                    "text": f"{n_tracks} faces were analysed; the verdict is for the most suspicious one "
                            f"(face {reported_track})."})
    if verdict == "uncertain" and not gated:
        out.append({"code": "uncertain_band",
                    "text": "The score lies in the uncertain band: the model cannot tell with confidence."})
    if method and verdict != "real":
        out.append({"code": "method_unvalidated",
                    "text": "The manipulation family is the closest of the families the model knows, a "
                            "resemblance rather than an identification."})
    return out


def is_monochrome(crops: Sequence[np.ndarray]) -> bool:
    """Whether every face crop (RGB uint8) is black and white: its channels differ by less than
    ``MONOCHROME_LEVELS`` grey levels on average (a re-encoded grey picture keeps a trace of chroma)."""
    if not len(crops):
        return False
    for c in crops:
        c = np.asarray(c, dtype=np.int16)
        if c.ndim != 3 or c.shape[2] < 3:
            continue
        spread = (np.abs(c[..., 0] - c[..., 1]).mean() + np.abs(c[..., 1] - c[..., 2]).mean()) / 2
        if spread >= MONOCHROME_LEVELS:
            return False
    return True


def bits_per_pixel(media: dict) -> float | None:
    """Compressed bits per pixel (per frame for video), or None when unknown."""
    w, h = media.get("width") or 0, media.get("height") or 0
    if not w or not h:
        return None
    if media.get("kind") == "image":
        size = media.get("size_bytes") or 0
        n = (media.get("extra") or {}).get("n_images") or 1
        fmt = (media.get("container") or media.get("codec") or "").lower()
        if not size or fmt in ("png", "bmp", "tiff"):  # lossless: no compression artefacts
            return None
        return 8.0 * size / (w * h * n)
    rate = (media.get("extra") or {}).get("bit_rate")
    fps = media.get("fps")
    if not rate or not fps or not math.isfinite(fps) or fps <= 0:
        return None
    return float(rate) / (w * h * fps)
