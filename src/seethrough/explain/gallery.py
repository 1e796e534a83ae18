"""Heatmap pictures for people: Grad-CAM over the face crop and over the whole frame."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: Longest side of the full-frame overlay (keeps reports and pages light).
FRAME_MAX_SIDE = 960


@dataclass
class GalleryItem:
    """One key frame's pictures (RGB uint8), most suspicious first in a gallery."""

    index: int
    time_s: float
    fake_probability: float
    top_region: str | None
    crop: np.ndarray
    crop_overlay: np.ndarray
    frame_overlay: np.ndarray | None  # None when the frame image was not kept


def colorize(cam: np.ndarray) -> np.ndarray:
    """(H, W) map in [0, 1] -> (H, W, 3) RGB uint8 (the 'jet' palette: blue cold, red hot)."""
    heat = cv2.applyColorMap(np.uint8(np.clip(cam, 0, 1) * 255), cv2.COLORMAP_JET)
    return cv2.cvtColor(heat, cv2.COLOR_BGR2RGB)


def heat_overlay(image: np.ndarray, cam: np.ndarray, alpha: float = 0.45, weight: np.ndarray | None = None) -> np.ndarray:
    """Blend the coloured map over ``image``; ``weight`` (H, W) in [0, 1] limits where (e.g. the face)."""
    if cam.shape != image.shape[:2]:
        cam = cv2.resize(cam, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)
    a = alpha * (weight if weight is not None else np.ones(cam.shape, np.float32))[..., None]
    out = image.astype(np.float32) * (1 - a) + colorize(cam).astype(np.float32) * a
    return np.clip(out, 0, 255).astype(np.uint8)


def frame_overlay(frame: np.ndarray, cam: np.ndarray, matrix: np.ndarray, box=None,
                  max_side: int = FRAME_MAX_SIDE) -> np.ndarray:
    """The full frame with the crop's map warped back onto the face and the face box drawn.

    ``matrix`` is the crop's frame->crop affine (:class:`~seethrough.faces.FaceCrop`).
    """
    h, w = frame.shape[:2]
    inv = cv2.invertAffineTransform(np.asarray(matrix, np.float64))
    warped = cv2.warpAffine(cam.astype(np.float32), inv, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)
    inside = cv2.warpAffine(np.ones(cam.shape, np.float32), inv, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)
    out = heat_overlay(frame, warped, weight=inside)
    scale = min(1.0, max_side / max(h, w))
    if scale < 1.0:
        out = cv2.resize(out, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    if box is not None:
        x0, y0, x1, y1 = (int(round(v * scale)) for v in box)
        thick = max(2, round(max(out.shape[:2]) / 300))
        cv2.rectangle(out, (x0, y0), (x1, y1), (255, 255, 255), thick + 2)
        cv2.rectangle(out, (x0, y0), (x1, y1), (220, 38, 38), thick)
    return out


def save_gallery(items: list[GalleryItem], folder, name) -> list:
    """Write each item's crop and frame overlays as PNG in ``folder``; ``name(rank, item, kind)``
    gives the file name (``kind`` is ``"crop"`` or ``"frame"``). Returns the paths written.

    Lossless, at zlib level 1: the four crops and 720p frames of a clip's gallery take 0.15-0.2 s
    instead of 0.5 s at Pillow's default level 6, for files about a sixth larger."""
    from pathlib import Path

    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for rank, item in enumerate(items):
        for kind, img in (("crop", item.crop_overlay), ("frame", item.frame_overlay)):
            if img is not None:
                path = folder / name(rank, item, kind)
                Image.fromarray(img).save(path, compress_level=1)
                written.append(path)
    return written


def evidence_gallery(analysis) -> list[GalleryItem]:
    """Pictures for the key frames of an analysis, most suspicious first ([] without evidence)."""
    art = getattr(analysis, "artifacts", None)
    ev = analysis.evidence
    if art is None or not ev:
        return []
    pos_of = {c.frame_index: i for i, c in enumerate(art.crops)}
    items = []
    for kf in ev["key_frames"]:
        i = pos_of.get(kf["index"])
        if i is None:
            continue
        crop, cam = art.crops[i], art.cams[i].astype(np.float32)
        frame = art.frames.get(kf["index"])
        items.append(GalleryItem(
            index=kf["index"],
            time_s=kf["time_s"],
            fake_probability=kf["fake_probability"],
            top_region=kf.get("top_region"),
            crop=crop.crop,
            crop_overlay=heat_overlay(crop.crop, cam),
            frame_overlay=frame_overlay(frame, cam, crop.matrix, crop.box) if frame is not None else None,
        ))
    return items
