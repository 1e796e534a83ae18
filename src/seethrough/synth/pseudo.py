"""Landmark-driven synthesis of pseudo-fakes (see the package docstring)."""

from __future__ import annotations

from dataclasses import dataclass
import cv2
import numpy as np

# 68-point landmark index groups (iBUG 300-W convention).
JAW = list(range(0, 17))
BROWS = list(range(17, 27))
NOSE = list(range(27, 36))
EYES = list(range(36, 48))
MOUTH = list(range(48, 68))


@dataclass
class Synthetic:
    image: np.ndarray  # HxWx3 uint8
    mask: np.ndarray  # HxW float32 in [0, 1]: how much each pixel was changed
    method: str


def hull_mask(shape: tuple[int, int], points: np.ndarray) -> np.ndarray:
    mask = np.zeros(shape, np.float32)
    cv2.fillConvexPoly(mask, cv2.convexHull(points.astype(np.int32)), 1.0)
    return mask


def face_hull_points(lm: np.ndarray, forehead: float = 0.0) -> np.ndarray:
    """Jaw + brows, optionally with the brows lifted by ``forehead`` x face height."""
    pts = lm[JAW + BROWS].astype(np.float32).copy()
    if forehead:
        height = lm[8, 1] - lm[BROWS, 1].min()
        pts[len(JAW):, 1] -= forehead * height
    return pts


def _deform_mask(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random erosion/dilation then a random Gaussian feather: varied blend boundaries."""
    size = int(np.sqrt(mask.sum()) + 1)
    k = max(3, int(size * rng.uniform(0.02, 0.12)) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    mask = cv2.erode(mask, kernel) if rng.random() < 0.5 else cv2.dilate(mask, kernel)
    sigma = max(1.0, size * rng.uniform(0.02, 0.1))
    mask = cv2.GaussianBlur(mask, (0, 0), sigma)
    return mask / max(mask.max(), 1e-6)


def _color_shift(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = img.astype(np.float32)
    out = out * rng.uniform(0.9, 1.1, 3) + rng.uniform(-12, 12, 3)
    if rng.random() < 0.5:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.5, 1.5))
    elif rng.random() < 0.5:  # sharpen
        blur = cv2.GaussianBlur(out, (0, 0), 1.0)
        out = out + rng.uniform(0.3, 1.0) * (out - blur)
    return np.clip(out, 0, 255)


def self_blend(img: np.ndarray, lm: np.ndarray, rng: np.random.Generator) -> Synthetic:
    """Blend ``img`` with a colour-shifted, slightly moved/scaled copy of itself."""
    h, w = img.shape[:2]
    src = _color_shift(img, rng)
    scale = rng.uniform(0.95, 1.05)
    tx, ty = rng.uniform(-0.03, 0.03, 2) * (w, h)
    c = lm.mean(0)
    m = np.array([[scale, 0, (1 - scale) * c[0] + tx], [0, scale, (1 - scale) * c[1] + ty]], np.float32)
    src = cv2.warpAffine(src, m, (w, h), borderMode=cv2.BORDER_REFLECT101)
    mask = hull_mask((h, w), face_hull_points(lm, forehead=rng.uniform(0.0, 0.25)))
    if rng.random() < 0.3:  # inner-face variant: only the eye/nose/mouth area
        mask = hull_mask((h, w), lm[17:68])
    mask = _deform_mask(mask, rng) * rng.choice([0.5, 0.75, 1.0, 1.0, 1.0])
    out = src * mask[..., None] + img.astype(np.float32) * (1 - mask[..., None])
    return Synthetic(np.clip(out, 0, 255).astype(np.uint8), mask.astype(np.float32), "self_blend")


def _triangles(pts: np.ndarray, w: int, h: int) -> np.ndarray:
    """Delaunay triangles over ``pts`` as index triples."""
    subdiv = cv2.Subdiv2D((0, 0, w, h))
    for p in pts:
        subdiv.insert((float(np.clip(p[0], 0, w - 1)), float(np.clip(p[1], 0, h - 1))))
    tris = []
    for t in subdiv.getTriangleList().reshape(-1, 3, 2):
        idx = [int(np.argmin(((pts - v) ** 2).sum(1))) for v in t]
        if len(set(idx)) == 3:
            tris.append(idx)
    return np.array(tris, np.int32)


def _with_border(lm: np.ndarray, w: int, h: int) -> np.ndarray:
    border = np.array(
        [[0, 0], [w / 2, 0], [w - 1, 0], [w - 1, h / 2], [w - 1, h - 1], [w / 2, h - 1], [0, h - 1], [0, h / 2]],
        np.float32,
    )
    return np.concatenate([lm.astype(np.float32), border])


def piecewise_affine(img: np.ndarray, src_pts: np.ndarray, dst_pts: np.ndarray) -> np.ndarray:
    """Warp ``img`` so that ``src_pts`` move to ``dst_pts`` (triangulated on ``dst_pts``)."""
    h, w = img.shape[:2]
    src = _with_border(src_pts, w, h)
    dst = _with_border(dst_pts, w, h)
    tris = _triangles(np.clip(dst, 0, [w - 1, h - 1]).astype(np.float32), w, h)
    out = np.zeros_like(img, dtype=np.float32)
    for tri in tris:
        s, d = src[tri], dst[tri]
        x, y, bw, bh = cv2.boundingRect(d.astype(np.float32))
        x, y = max(x, 0), max(y, 0)
        bw, bh = min(bw, w - x), min(bh, h - y)
        if bw <= 0 or bh <= 0:
            continue
        m = cv2.getAffineTransform(s.astype(np.float32), (d - [x, y]).astype(np.float32))
        patch = cv2.warpAffine(img.astype(np.float32), m, (bw, bh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
        tmask = np.zeros((bh, bw), np.float32)
        cv2.fillConvexPoly(tmask, np.round(d - [x, y]).astype(np.int32), 1.0)
        region = out[y : y + bh, x : x + bw]
        region[tmask > 0] = patch[tmask > 0]
    return out


def _match_color(src: np.ndarray, dst: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Match the LAB mean/std of ``src`` to ``dst`` inside ``mask``."""
    sel = mask > 0.5
    if sel.sum() < 10:
        return src
    s = cv2.cvtColor(np.clip(src, 0, 255).astype(np.uint8), cv2.COLOR_RGB2LAB).astype(np.float32)
    d = cv2.cvtColor(dst, cv2.COLOR_RGB2LAB).astype(np.float32)
    for c in range(3):
        sm, ss = s[..., c][sel].mean(), s[..., c][sel].std() + 1e-3
        dm, ds = d[..., c][sel].mean(), d[..., c][sel].std() + 1e-3
        s[..., c] = (s[..., c] - sm) * (ds / ss) + dm
    return cv2.cvtColor(np.clip(s, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB).astype(np.float32)


def face_swap(
    target: np.ndarray, target_lm: np.ndarray, source: np.ndarray, source_lm: np.ndarray, rng: np.random.Generator
) -> Synthetic:
    """Put ``source``'s inner face onto ``target`` by a landmark warp, colour match and blend."""
    h, w = target.shape[:2]
    warped = piecewise_affine(source, source_lm, target_lm)
    mask = hull_mask((h, w), face_hull_points(target_lm, forehead=rng.uniform(0.0, 0.1)) if rng.random() < 0.5 else target_lm[17:68])
    warped = _match_color(warped, target, mask)
    mask = _deform_mask(mask, rng)
    out = warped * mask[..., None] + target.astype(np.float32) * (1 - mask[..., None])
    return Synthetic(np.clip(out, 0, 255).astype(np.uint8), mask.astype(np.float32), "face_swap")


def reenact(img: np.ndarray, lm: np.ndarray, rng: np.random.Generator) -> Synthetic:
    """Open/close and stretch the mouth and move the jaw: a local expression change."""
    h, w = img.shape[:2]
    new = lm.astype(np.float32).copy()
    face_h = float(lm[8, 1] - lm[27, 1]) or 1.0
    mouth_c = lm[MOUTH].mean(0)
    opening = rng.uniform(-0.06, 0.12) * face_h
    widen = rng.uniform(0.9, 1.15)
    lower = [i for i in MOUTH if lm[i, 1] > mouth_c[1]] + JAW[4:13]
    new[MOUTH, 0] = mouth_c[0] + (lm[MOUTH, 0] - mouth_c[0]) * widen
    new[lower, 1] += opening
    corners = [48, 54, 60, 64]
    new[corners, 1] -= rng.uniform(-0.03, 0.05) * face_h  # smile/frown
    warped = piecewise_affine(img, lm, new)
    region = hull_mask((h, w), np.concatenate([new[MOUTH], new[JAW[3:14]], lm[[31, 33, 35]]]))
    region = cv2.GaussianBlur(cv2.dilate(region, np.ones((9, 9), np.uint8)), (0, 0), max(2.0, face_h * 0.05))
    region = region / max(region.max(), 1e-6)
    out = warped * region[..., None] + img.astype(np.float32) * (1 - region[..., None])
    return Synthetic(np.clip(out, 0, 255).astype(np.uint8), region.astype(np.float32), "reenact")


SYNTHESIZERS = {"self_blend": self_blend, "reenact": reenact}
