"""Does a verdict survive what happens to a photo on its way to a user?

The edits a photo commonly goes through between the camera (or the generator) and the person
who asks us about it: a re-encode, a resize, a crop, a filter. :data:`EDITS` names each one;
:func:`edited_copy` writes an edited copy of an image file; :func:`flips` compares the
verdicts of the same files before and after. ``bench/bench_robustness.py`` runs them over the
benchmark's held-out images and writes the table.

Edits that are not themselves a re-encode are saved losslessly (PNG), so each row measures one
edit; ``social`` is the usual chain of a sharing site (long side at most 1,080 px, JPEG 80 with
4:2:0 chroma).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
from PIL import Image

from .augment import grey, unsharp
from .generalisation import DECIDED


def _jpeg(quality: int, subsampling: int = 0) -> Callable[[np.ndarray], tuple[np.ndarray, dict]]:
    def edit(img: np.ndarray) -> tuple[np.ndarray, dict]:
        return img, {"format": "JPEG", "quality": quality, "subsampling": subsampling}
    return edit


def _lossless(fn: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], tuple[np.ndarray, dict]]:
    def edit(img: np.ndarray) -> tuple[np.ndarray, dict]:
        return fn(img), {"format": "PNG", "compress_level": 1}
    return edit


def _scale(img: np.ndarray, f: float) -> np.ndarray:
    h, w = img.shape[:2]
    size = (max(1, round(w * f)), max(1, round(h * f)))
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_CUBIC)


def _centre_crop(img: np.ndarray, keep: float = 0.8) -> np.ndarray:
    h, w = img.shape[:2]
    ch, cw = max(1, round(h * keep)), max(1, round(w * keep))
    y, x = (h - ch) // 2, (w - cw) // 2
    return np.ascontiguousarray(img[y:y + ch, x:x + cw])


def _sharpen(img: np.ndarray) -> np.ndarray:  # an unsharp mask, as phones and editors apply
    return unsharp(img, 1.5, 0.8)


def _noise(img: np.ndarray, sigma: float = 4.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(img.astype(np.float32) + rng.normal(0, sigma, img.shape), 0, 255).astype(np.uint8)


def _social(img: np.ndarray) -> tuple[np.ndarray, dict]:
    h, w = img.shape[:2]
    if max(h, w) > 1080:
        img = _scale(img, 1080 / max(h, w))
    return img, {"format": "JPEG", "quality": 80, "subsampling": 2}


@dataclass(frozen=True)
class Edit:
    name: str
    what: str
    apply: Callable[[np.ndarray], tuple[np.ndarray, dict]]


EDITS: dict[str, Edit] = {e.name: e for e in (
    Edit("jpeg75", "re-encoded as JPEG, quality 75", _jpeg(75)),
    Edit("jpeg40", "re-encoded as JPEG, quality 40", _jpeg(40)),
    Edit("social", "long side at most 1,080 px, JPEG 80 with 4:2:0 chroma (a sharing site)", _social),
    Edit("half", "half the width and height", _lossless(lambda im: _scale(im, 0.5))),
    Edit("double", "twice the width and height (bicubic)", _lossless(lambda im: _scale(im, 2.0))),
    Edit("crop80", "cropped to its central 80%", _lossless(_centre_crop)),
    Edit("grey", "black and white", _lossless(grey)),
    Edit("sharpen", "sharpened (unsharp mask, radius 1.5 px, amount 0.8)", _lossless(_sharpen)),
    Edit("noise", "Gaussian noise, sigma 4 grey levels", _lossless(_noise)),
)}


def edited_copy(src: str | Path, edit: str, dst: str | Path) -> Path:
    """Write image ``src`` after edit ``edit`` to ``dst`` with the suffix of the format it is saved in
    (.jpg or .png, replacing any other); returns the path written."""
    from ..media.decode import load_image

    e = EDITS.get(edit)
    if e is None:
        raise ValueError(f"unknown edit {edit!r}; choose from {', '.join(EDITS)}")
    img, save = e.apply(load_image(src))
    fmt = save.pop("format")
    out = Path(dst).with_suffix(".jpg" if fmt == "JPEG" else ".png")
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(out, format=fmt, **save)
    return out


@dataclass
class Flips:
    n: int  # files scored both times
    changed: float  # share whose verdict changed
    confident_flips: float  # share whose verdict went from real to fake or fake to real
    newly_wrong: float  # share confidently wrong after the edit and not before
    median_shift: float  # median |change of the fake probability|
    mean_shift: float  # mean signed change of the fake probability (+: towards fake)


def flips(before: list[dict], after: list[dict]) -> Flips:
    """Verdict changes between two prediction lists of the same files (matched by ``key``)."""
    was = {r["key"]: r for r in before if r.get("status") == "ok"}
    pairs = [(was[r["key"]], r) for r in after if r.get("status") == "ok" and r["key"] in was]
    if not pairs:
        return Flips(0, float("nan"), float("nan"), float("nan"), float("nan"), float("nan"))

    def wrong(r: dict) -> bool:
        return r["verdict"] in DECIDED and (r["verdict"] == "fake") != (int(r["label"]) == 1)

    shift = np.array([float(b["fake_probability"]) - float(a["fake_probability"]) for a, b in pairs])
    n = len(pairs)
    return Flips(
        n=n,
        changed=sum(a["verdict"] != b["verdict"] for a, b in pairs) / n,
        confident_flips=sum(a["verdict"] in DECIDED and b["verdict"] in DECIDED and a["verdict"] != b["verdict"]
                            for a, b in pairs) / n,
        newly_wrong=sum(wrong(b) and not wrong(a) for a, b in pairs) / n,
        median_shift=float(np.median(np.abs(shift))),
        mean_shift=float(shift.mean()),
    )
