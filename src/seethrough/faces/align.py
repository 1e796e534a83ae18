"""Square face crops with the affine matrix that relates them to the frame.

The face's size is the extent of its 68 landmarks (brows to chin, ear to ear), or,
without landmarks, ``BOX_TO_FACE`` x the longest side of the RetinaFace box (the ratio
measured between the two). The crop's edge is ``margin`` x that size:

* ``margin=1.0`` ("tight") is close to the DFDC-style training crops (about 0.7-0.8x
  of a RetinaFace box edge);
* ``margin=1.3`` ("loose", the default) keeps some hair, ears and background, where
  blending seams show.

``rotate=True`` also levels the eye line. Every crop comes with ``matrix`` (2x3,
frame -> crop), so heatmaps or region masks in crop space can be mapped back with
:func:`invert_affine`.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from .types import AlignedFace

MARGIN_TIGHT = 1.0
MARGIN_LOOSE = 1.3
#: 68-landmark extent / longest RetinaFace box side (0.75-0.78 measured at many scales).
BOX_TO_FACE = 0.77
#: Vertical centre of the 68-landmark extent inside a RetinaFace box (fraction of its height).
BOX_CENTER_Y = 0.6

_MARGINS = {"tight": MARGIN_TIGHT, "loose": MARGIN_LOOSE}


def parse_margin(value: str | float) -> float:
    """A margin as a number, or the names ``tight`` (1.0) / ``loose`` (1.3)."""
    if isinstance(value, str):
        key = value.strip().lower()
        if key in _MARGINS:
            return _MARGINS[key]
        try:
            value = float(key)
        except ValueError:
            raise ValueError(f"margin must be a number or one of {sorted(_MARGINS)}, got {value!r}") from None
    value = float(value)
    if not 0.5 <= value <= 4.0:
        raise ValueError(f"margin must be between 0.5 and 4.0, got {value}")
    return value


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine ``matrix`` to (N, 2) points."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return (pts @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32)


def invert_affine(matrix: np.ndarray) -> np.ndarray:
    """The inverse 2x3 affine (crop -> frame for a crop's ``matrix``)."""
    return cv2.invertAffineTransform(np.asarray(matrix, dtype=np.float64))


def eye_angle(landmarks: np.ndarray) -> float:
    """Angle in degrees of the line from the image-left eye to the image-right eye.

    Accepts 68 landmarks (eye centres from 36-41 and 42-47) or the 5 RetinaFace points.
    """
    pts = np.asarray(landmarks, dtype=np.float64)
    if len(pts) == 68:
        a, b = pts[36:42].mean(0), pts[42:48].mean(0)
    elif len(pts) == 5:
        a, b = pts[0], pts[1]
    else:
        raise ValueError(f"expected 68 or 5 points, got {len(pts)}")
    return math.degrees(math.atan2(b[1] - a[1], b[0] - a[0]))


def face_geometry(
    *,
    landmarks: np.ndarray | None = None,
    box: tuple[float, float, float, float] | None = None,
    angle: float = 0.0,
) -> tuple[np.ndarray, float]:
    """Centre (2,) and size of the face in a frame rotated by ``angle`` degrees."""
    if landmarks is not None and len(landmarks) == 68:
        t = math.radians(angle)
        c, s = math.cos(t), math.sin(t)
        rot = np.array([[c, s], [-s, c]])  # rotate by -angle: the eye line becomes horizontal
        q = np.asarray(landmarks, dtype=np.float64) @ rot.T
        lo, hi = q.min(0), q.max(0)
        center = rot.T @ ((lo + hi) / 2)
        return center, float(max(hi - lo))
    if box is None:
        raise ValueError("align needs 68 landmarks or a box")
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    center = np.array([x0 + w / 2, y0 + BOX_CENTER_Y * h])
    return center, BOX_TO_FACE * max(w, h)


def crop_matrix(center: np.ndarray, face_size: float, size: int, margin: float, angle: float = 0.0) -> np.ndarray:
    """The 2x3 frame -> crop matrix for a square crop of ``size`` pixels."""
    side = max(margin * face_size, 1.0)
    scale = size / side
    t = math.radians(angle)
    c, s = math.cos(t) * scale, math.sin(t) * scale
    a = np.array([[c, s], [-s, c]])
    offset = np.array([size / 2 - 0.5, size / 2 - 0.5]) - a @ np.asarray(center, dtype=np.float64)
    return np.hstack([a, offset[:, None]])


def _warp(image: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """``warpAffine`` that area-averages first when the crop shrinks the face a lot."""
    scale = math.hypot(matrix[0, 0], matrix[0, 1])
    if scale >= 0.5:
        return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    # Shrink only the region the crop covers with INTER_AREA, then warp that.
    inv = invert_affine(matrix)
    corners = transform_points(np.array([[0, 0], [size, 0], [0, size], [size, size]], float), inv)
    h, w = image.shape[:2]
    x0, y0 = np.clip(np.floor(corners.min(0)).astype(int), 0, [w, h])
    x1, y1 = np.clip(np.ceil(corners.max(0)).astype(int) + 1, 0, [w, h])
    if x1 <= x0 or y1 <= y0:
        return np.zeros((size, size, 3), dtype=image.dtype)
    roi = image[y0:y1, x0:x1]
    nw, nh = max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale))
    small = cv2.resize(roi, (nw, nh), interpolation=cv2.INTER_AREA)
    rx, ry = nw / (x1 - x0), nh / (y1 - y0)
    # small pixel centre i sits at frame coordinate (i + 0.5) / r - 0.5 + origin
    to_frame = np.array([[1 / rx, 0, x0 + 0.5 / rx - 0.5], [0, 1 / ry, y0 + 0.5 / ry - 0.5]])
    m = np.hstack([matrix[:, :2] @ to_frame[:, :2], (matrix[:, :2] @ to_frame[:, 2] + matrix[:, 2])[:, None]])
    return cv2.warpAffine(small, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


def align_face(
    image: np.ndarray,
    *,
    landmarks: np.ndarray | None = None,
    box: tuple[float, float, float, float] | None = None,
    kps5: np.ndarray | None = None,
    size: int = 224,
    margin: float = MARGIN_LOOSE,
    rotate: bool = False,
) -> AlignedFace:
    """Cut a ``size`` x ``size`` crop around one face.

    The face is located from 68 ``landmarks`` when given, else from ``box``. With
    ``rotate`` the eye line (from the landmarks, else from ``kps5``) is made horizontal.
    Areas outside the frame are black. ``AlignedFace.landmarks`` are the 68 landmarks
    (or the ``kps5`` points when there are none) in crop coordinates.
    """
    if size < 8:
        raise ValueError(f"crop size must be at least 8 pixels, got {size}")
    angle = 0.0
    if rotate:
        ref = landmarks if landmarks is not None else kps5
        if ref is None:
            raise ValueError("rotate=True needs 68 landmarks or the 5 detector points")
        angle = eye_angle(ref)
    center, face_size = face_geometry(landmarks=landmarks, box=box, angle=angle)
    matrix = crop_matrix(center, face_size, size, margin, angle)
    crop = _warp(np.ascontiguousarray(image), matrix, size)
    points = landmarks if landmarks is not None else kps5
    mapped = transform_points(points, matrix) if points is not None else None
    return AlignedFace(crop=crop, matrix=matrix, landmarks=mapped)
