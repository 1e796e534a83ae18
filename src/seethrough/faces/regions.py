"""Facial region polygons and masks from 68 landmarks (iBUG 300-W scheme).

Left and right are the **subject's own** (anatomical) sides, as in the face-analysis
literature: ``left_eye`` is the person's left eye, which appears on the image's
right in a frontal, unmirrored picture (landmarks 42-47).

Regions: ``right_eye``, ``left_eye``, ``right_brow``, ``left_brow``, ``nose``,
``mouth``, ``right_cheek``, ``left_cheek``, ``forehead`` (extrapolated above the
brows), ``jaw_chin``, plus two overlays: ``face`` (hull of the jaw line and the
forehead) and ``boundary`` (a band along that outline, where blending seams of face
swaps usually are). In :func:`region_masks` the ten part regions are made mutually
exclusive (eyes, brows, mouth and nose win over cheeks, forehead and chin); the
overlays overlap them by design.
"""

from __future__ import annotations

import cv2
import numpy as np

PART_REGIONS = (
    "right_eye",
    "left_eye",
    "right_brow",
    "left_brow",
    "nose",
    "mouth",
    "right_cheek",
    "left_cheek",
    "forehead",
    "jaw_chin",
)
OVERLAY_REGIONS = ("face", "boundary")
REGION_NAMES = PART_REGIONS + OVERLAY_REGIONS
#: Mask painting order for exclusivity: later regions win where polygons overlap.
_PRIORITY = ("forehead", "jaw_chin", "right_cheek", "left_cheek", "nose", "right_brow", "left_brow", "mouth", "right_eye", "left_eye")

_JAW = list(range(0, 17))
_RIGHT_BROW, _LEFT_BROW = list(range(17, 22)), list(range(22, 27))
_RIGHT_EYE, _LEFT_EYE = list(range(36, 42)), list(range(42, 48))
_MOUTH_OUTER = list(range(48, 60))

_EYE_GROW = 1.35  # eye contours are drawn on the lid margin; grow them to include the lids
_BOUNDARY_WIDTH = 0.08  # band half-width as a fraction of the face size


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 1e-9 else np.array([0.0, -1.0])


def _grow(poly: np.ndarray, factor: float) -> np.ndarray:
    c = poly.mean(0)
    return c + (poly - c) * factor


def _band(line: np.ndarray, up: np.ndarray, above: float, below: float) -> np.ndarray:
    """A polygon around a polyline: ``above`` along ``up`` and ``below`` against it."""
    return np.vstack([line + up * above, (line - up * below)[::-1]])


def _ring(outline: np.ndarray, width: float) -> np.ndarray:
    """A closed band polygon (outer contour, bridge, inner contour reversed)."""
    c = outline.mean(0)
    d = outline - c
    r = np.linalg.norm(d, axis=1, keepdims=True)
    r = np.maximum(r, 1e-6)
    outer = c + d * (r + width) / r
    inner = c + d * np.maximum(r - width, 0) / r
    return np.vstack([outer, outer[:1], inner[:1], inner[::-1], inner[:1], outer[:1]])


def _check(landmarks68: np.ndarray) -> np.ndarray:
    pts = np.asarray(landmarks68, dtype=np.float64)
    if pts.shape != (68, 2):
        raise ValueError(f"expected 68 landmarks of shape (68, 2), got {pts.shape}")
    return pts


def face_outline(landmarks68: np.ndarray) -> np.ndarray:
    """The closed face contour: jaw line then the forehead top, right to left."""
    pts = _check(landmarks68)
    up, forehead_h = _up_and_forehead(pts)
    top = pts[17:27][::-1] + up * forehead_h
    return np.vstack([pts[_JAW], top])


def _up_and_forehead(pts: np.ndarray) -> tuple[np.ndarray, float]:
    # "Up" is perpendicular to the eye line, pointing away from the mouth.
    eye_r, eye_l = pts[_RIGHT_EYE].mean(0), pts[_LEFT_EYE].mean(0)
    across = _unit(eye_l - eye_r)
    up = np.array([across[1], -across[0]])
    if np.dot(up, pts[27] - pts[57]) < 0:
        up = -up
    # Forehead height ~ 0.8 x nose length (bridge top to base): the upper facial third,
    # stopping short of a typical hairline.
    return up, 0.8 * float(np.linalg.norm(pts[27] - pts[33]))


def region_polygons(landmarks68: np.ndarray) -> dict[str, np.ndarray]:
    """Polygons (N, 2) float32 in the landmarks' coordinates, keyed by region name."""
    pts = _check(landmarks68)
    up, forehead_h = _up_and_forehead(pts)
    eye_dist = float(np.linalg.norm(pts[_LEFT_EYE].mean(0) - pts[_RIGHT_EYE].mean(0)))
    face_size = float(max(np.ptp(pts[:, 0]), np.ptp(pts[:, 1]), 1.0))
    brow_h = 0.12 * eye_dist

    nose_half = 0.5 * float(np.linalg.norm(pts[35] - pts[31]))
    across = np.array([-up[1], up[0]])  # towards the image right for an upright face
    bridge = np.vstack([pts[27] - across * 0.35 * nose_half, pts[27] + across * 0.35 * nose_half])
    nose = np.vstack([bridge[1], pts[35], pts[34], pts[33], pts[32], pts[31], bridge[0]])

    polys = {
        "right_eye": _grow(pts[_RIGHT_EYE], _EYE_GROW),
        "left_eye": _grow(pts[_LEFT_EYE], _EYE_GROW),
        "right_brow": _band(pts[_RIGHT_BROW], up, brow_h, brow_h),
        "left_brow": _band(pts[_LEFT_BROW], up, brow_h, brow_h),
        "nose": nose,
        "mouth": pts[_MOUTH_OUTER],
        # Between the jaw line, the mouth corner, the nose wing and the lower eye lid.
        "right_cheek": pts[[1, 2, 3, 4, 5, 48, 31, 40, 41, 36]],
        "left_cheek": pts[[15, 14, 13, 12, 11, 54, 35, 47, 46, 45]],
        "forehead": np.vstack([pts[17:27] + up * brow_h, (pts[17:27] + up * forehead_h)[::-1]]),
        "jaw_chin": pts[[5, 6, 7, 8, 9, 10, 11, 54, 55, 56, 57, 58, 59, 48]],
    }
    outline = face_outline(pts)
    hull = cv2.convexHull(outline.astype(np.float32)).reshape(-1, 2)
    polys["face"] = hull
    polys["boundary"] = _ring(outline, _BOUNDARY_WIDTH * face_size)
    return {k: np.asarray(v, dtype=np.float32) for k, v in polys.items()}


def _fill(poly: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(shape, dtype=np.uint8)
    # 4 fractional bits keep sub-pixel precision for small crops.
    cv2.fillPoly(mask, [np.round(poly * 16).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=4)
    return mask.astype(bool)


def region_masks(landmarks68: np.ndarray, shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    """Boolean masks of ``shape[:2]`` for every region of :func:`region_polygons`.

    The part regions do not overlap each other; ``face`` and ``boundary`` do.
    """
    hw = (int(shape[0]), int(shape[1]))
    polys = region_polygons(landmarks68)
    label = np.zeros(hw, dtype=np.uint8)
    for k, name in enumerate(_PRIORITY, start=1):
        label[_fill(polys[name], hw)] = k
    masks = {name: label == (_PRIORITY.index(name) + 1) for name in PART_REGIONS}
    masks["face"] = _fill(polys["face"], hw)
    masks["boundary"] = _fill(polys["boundary"], hw)
    return masks
