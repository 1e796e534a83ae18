"""Forensics-minded augmentation of uint8 RGB face crops (numpy + OpenCV).

What matters for deepfake detection is robustness to the ways videos are degraded
in the wild (recompression, blur, rescaling, colour shifts) and to framing: crop
tightness differs between datasets and face detectors, so crops are randomly
re-framed too. Every transform keeps the image size and dtype.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from pydantic import BaseModel, Field


class AugmentConfig(BaseModel):
    """Probabilities and ranges; set a probability to 0 to disable a transform."""

    flip: float = 0.5
    crop_scale: tuple[float, float] = (0.85, 1.2)  # <1 zooms in, >1 zooms out (padding by reflection)
    crop_shift: float = 0.06  # max shift as a fraction of the side
    reframe: float = 0.7
    jpeg: float = 0.5
    jpeg_quality: tuple[int, int] = (50, 95)
    blur: float = 0.2
    blur_sigma: tuple[float, float] = (0.3, 1.5)
    resize: float = 0.25
    resize_factor: tuple[float, float] = (0.35, 0.9)
    color: float = 0.4
    noise: float = 0.1
    cutout: float = 0.15
    cutout_frac: tuple[float, float] = Field(default=(0.1, 0.3))
    # Off unless asked for (AUGMENT_ADDED_OFF); at 0 they draw no random number, so older configs augment
    # exactly as before.
    grey: float = 0.0  # black and white (bench_robustness: colour carries part of what the model learned)
    sharpen: float = 0.0  # an unsharp mask, as phones and photo editors apply


AUGMENT_ADDED_OFF = ("grey", "sharpen")  # transforms added after 0.4.0, off by default


@dataclass
class Augmenter:
    cfg: AugmentConfig
    rng: np.random.Generator

    def __call__(self, img: np.ndarray, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """Augment ``img`` (HxWx3 uint8); geometric transforms are applied to ``mask`` too."""
        c, r = self.cfg, self.rng
        if r.random() < c.flip:
            img = img[:, ::-1]
            mask = None if mask is None else mask[:, ::-1]
        if r.random() < c.reframe:
            img, mask = reframe(img, mask, r.uniform(*c.crop_scale), r.uniform(-c.crop_shift, c.crop_shift, 2))
        if r.random() < c.color:
            img = color_jitter(img, r)
        if c.grey and r.random() < c.grey:
            img = grey(img)
        if r.random() < c.resize:
            img = down_up(img, r.uniform(*c.resize_factor))
        if r.random() < c.blur:
            img = cv2.GaussianBlur(img, (0, 0), r.uniform(*c.blur_sigma))
        if c.sharpen and r.random() < c.sharpen:
            img = unsharp(img, r.uniform(1.0, 2.0), r.uniform(0.3, 1.0))
        if r.random() < c.noise:
            img = np.clip(img.astype(np.float32) + r.normal(0, r.uniform(2, 8), img.shape), 0, 255).astype(np.uint8)
        if r.random() < c.jpeg:
            img = jpeg(img, int(r.integers(c.jpeg_quality[0], c.jpeg_quality[1] + 1)))
        if r.random() < c.cutout:
            img = cutout(img, r, r.uniform(*c.cutout_frac))
        return np.ascontiguousarray(img), None if mask is None else np.ascontiguousarray(mask)


def reframe(img: np.ndarray, mask: np.ndarray | None, scale: float, shift) -> tuple[np.ndarray, np.ndarray | None]:
    """Zoom by ``scale`` about the centre (shifted by ``shift`` fractions), same output size."""
    h, w = img.shape[:2]
    m = np.array([[1 / scale, 0, 0], [0, 1 / scale, 0]], dtype=np.float32)
    m[0, 2] = w / 2 - (w / 2) / scale + shift[0] * w
    m[1, 2] = h / 2 - (h / 2) / scale + shift[1] * h
    out = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
    if mask is not None:
        mask = cv2.warpAffine(mask.astype(np.float32), m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    return out, mask


def color_jitter(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(-6, 6)) % 180
    hsv[..., 1] *= rng.uniform(0.75, 1.25)
    hsv[..., 2] = hsv[..., 2] * rng.uniform(0.75, 1.25) + rng.uniform(-12, 12)
    out = cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB)
    contrast = rng.uniform(0.8, 1.2)
    mean = out.mean()
    return np.clip((out.astype(np.float32) - mean) * contrast + mean, 0, 255).astype(np.uint8)


def down_up(img: np.ndarray, factor: float) -> np.ndarray:
    """Downscale then upscale back: the softness of low-resolution sources."""
    h, w = img.shape[:2]
    small = cv2.resize(img, (max(8, int(w * factor)), max(8, int(h * factor))), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def grey(img: np.ndarray) -> np.ndarray:
    """Black and white, still three channels."""
    return np.repeat(cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2GRAY)[:, :, None], 3, axis=2)


def unsharp(img: np.ndarray, sigma: float, amount: float) -> np.ndarray:
    """Sharpen: ``img + amount * (img - blurred)``."""
    blur = cv2.GaussianBlur(np.ascontiguousarray(img), (0, 0), sigma)
    return cv2.addWeighted(np.ascontiguousarray(img), 1 + amount, blur, -amount, 0)


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # pragma: no cover - OpenCV always encodes uint8 RGB
        return img
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]


def cutout(img: np.ndarray, rng: np.random.Generator, frac: float) -> np.ndarray:
    h, w = img.shape[:2]
    ch, cw = max(1, int(h * frac)), max(1, int(w * frac))
    y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    out = img.copy()
    out[y : y + ch, x : x + cw] = img.reshape(-1, 3).mean(0).astype(np.uint8)
    return out
