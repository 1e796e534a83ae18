"""Encode evidence images (RGB numpy arrays) as PNG bytes small enough to embed in a report."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def as_rgb_uint8(arr: np.ndarray) -> np.ndarray:
    """Accept HxW, HxWx1, HxWx3 or HxWx4 arrays (uint8, or float in [0, 1]); return HxWx3 uint8."""
    a = np.asarray(arr)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4) or a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"expected an RGB image array, got shape {a.shape}")
    if a.dtype != np.uint8:
        a = a.astype(np.float64)
        if a.max(initial=0.0) <= 1.0:
            a = a * 255.0
        a = np.clip(np.rint(a), 0, 255).astype(np.uint8)
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    return np.ascontiguousarray(a[:, :, :3])


def to_png(arr: np.ndarray, max_side: int = 900, *, with_size: bool = False):
    """PNG bytes of ``arr``, shrunk (never enlarged) so its longer side is at most ``max_side``."""
    img = Image.fromarray(as_rgb_uint8(arr), "RGB")
    scale = max_side / max(img.size)
    if scale < 1:
        img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=3)  # level 6 is ~3x slower for a few % smaller files
    return (buf.getvalue(), img.size) if with_size else buf.getvalue()
