"""Aligned crops (with their frame -> crop matrix) and facial region masks."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from seethrough.faces import (
    REGION_NAMES,
    RetinaFaceDetector,
    align_face,
    invert_affine,
    parse_margin,
    predict_landmarks,
    region_masks,
    region_polygons,
    transform_points,
)
from seethrough.faces.align import eye_angle
from seethrough.faces.regions import PART_REGIONS
from seethrough.testing.media import astronaut_rgb, compose_frame


@pytest.fixture(scope="module")
def detector() -> RetinaFaceDetector:
    return RetinaFaceDetector()


@pytest.fixture(scope="module")
def astro(detector):
    img = astronaut_rgb()
    det = detector.detect(img)[0]
    return img, det, predict_landmarks(img, det)


def test_crop_shape_matrix_and_landmarks(astro):
    img, det, lm = astro
    a = align_face(img, landmarks=lm, box=det.box, size=224, margin=1.3)
    assert a.crop.shape == (224, 224, 3) and a.crop.dtype == np.uint8
    assert a.matrix.shape == (2, 3)
    assert np.all((a.landmarks >= 0) & (a.landmarks < 224))
    np.testing.assert_allclose(a.landmarks, transform_points(lm, a.matrix), atol=1e-4)
    # Mapping back with the inverse gives the frame landmarks again.
    np.testing.assert_allclose(transform_points(a.landmarks, invert_affine(a.matrix)), lm, atol=1e-3)
    # The matrix really describes the pixels: crop pixels equal the frame pixels they map from.
    ys, xs = np.mgrid[40:184:16, 40:184:16]
    crop_pts = np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float64)
    frame_pts = np.round(transform_points(crop_pts, invert_affine(a.matrix))).astype(int)
    diff = np.abs(a.crop[ys.ravel(), xs.ravel()].astype(int) - img[frame_pts[:, 1], frame_pts[:, 0]].astype(int))
    assert np.median(diff) <= 6


@pytest.mark.parametrize("margin", [1.0, 1.3, 1.8])
def test_margin_sets_face_extent(astro, margin):
    img, det, lm = astro
    a = align_face(img, landmarks=lm, size=224, margin=margin)
    extent = np.ptp(a.landmarks, axis=0).max()
    assert extent == pytest.approx(224 / margin, rel=0.03)
    centre = (a.landmarks.min(0) + a.landmarks.max(0)) / 2
    assert np.abs(centre - 111.5).max() < 2


def test_box_only_crop_matches_landmark_crop(astro):
    img, det, lm = astro
    by_lm = align_face(img, landmarks=lm, size=224, margin=1.0)
    by_box = align_face(img, box=det.box, size=224, margin=1.0)
    assert by_box.landmarks is None
    # Same place and scale within a few percent: BOX_TO_FACE is calibrated for RetinaFace boxes.
    s_lm, s_box = np.hypot(*by_lm.matrix[:, 0]), np.hypot(*by_box.matrix[:, 0])
    assert s_box == pytest.approx(s_lm, rel=0.06)
    in_box_crop = transform_points(lm, by_box.matrix)
    centre = (in_box_crop.min(0) + in_box_crop.max(0)) / 2
    assert np.abs(centre - 111.5).max() < 0.05 * 224


def test_rotation_levels_the_eye_line(detector):
    img = compose_frame(640, 480, scale=0.8)
    rot = cv2.getRotationMatrix2D((320, 240), -18, 1.0)  # tilt the face by 18 degrees
    tilted = cv2.warpAffine(img, rot, (640, 480))
    det = detector.detect(tilted)[0]
    lm = predict_landmarks(tilted, det)
    assert abs(eye_angle(lm)) == pytest.approx(18, abs=4)
    plain = align_face(tilted, landmarks=lm, size=160)
    level = align_face(tilted, landmarks=lm, size=160, rotate=True)
    assert abs(eye_angle(plain.landmarks)) == pytest.approx(18, abs=4)
    assert abs(eye_angle(level.landmarks)) < 1.0
    # The rotated crop still maps back onto the same frame landmarks.
    np.testing.assert_allclose(transform_points(level.landmarks, invert_affine(level.matrix)), lm, atol=1e-3)
    # Box-only alignment can level with the detector's 5 points.
    by_kps = align_face(tilted, box=det.box, kps5=det.kps5, size=160, rotate=True)
    assert abs(eye_angle(by_kps.landmarks)) < 1.0
    with pytest.raises(ValueError):
        align_face(tilted, box=det.box, rotate=True)


def test_strong_downscale_uses_area_averaging(detector):
    big = compose_frame(1920, 1080, scale=2.0)  # a ~240 px face into a 48 px crop
    det = detector.detect(big)[0]
    lm = predict_landmarks(big, det)
    a = align_face(big, landmarks=lm, size=48, margin=1.3)
    assert a.crop.shape == (48, 48, 3)
    # Reference: blur-free area resize of the same region, then a plain warp.
    ref = cv2.warpAffine(cv2.resize(big, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA), _scaled(a.matrix, 4.0), (48, 48))
    assert np.abs(a.crop.astype(int) - ref.astype(int)).mean() < 6
    assert np.all((a.landmarks >= 0) & (a.landmarks < 48))


def _scaled(matrix: np.ndarray, factor: float) -> np.ndarray:
    """The matrix for a frame that was shrunk by ``factor`` (pixel-centre convention)."""
    to_big = np.array([[factor, 0, 0.5 * factor - 0.5], [0, factor, 0.5 * factor - 0.5]])
    return np.hstack([matrix[:, :2] @ to_big[:, :2], (matrix[:, :2] @ to_big[:, 2] + matrix[:, 2])[:, None]])


def test_parse_margin():
    assert parse_margin("tight") == 1.0 and parse_margin("loose") == 1.3 and parse_margin("1.5") == 1.5
    with pytest.raises(ValueError):
        parse_margin("wide")
    with pytest.raises(ValueError):
        parse_margin(10)


def _centroid(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    return np.array([xs.mean(), ys.mean()])


def test_region_masks_on_crop(astro):
    img, det, lm = astro
    a = align_face(img, landmarks=lm, size=224, margin=1.3)
    polys = region_polygons(a.landmarks)
    assert set(polys) == set(REGION_NAMES)
    assert all(p.ndim == 2 and p.shape[1] == 2 and len(p) >= 3 for p in polys.values())
    masks = region_masks(a.landmarks, a.crop.shape)
    assert set(masks) == set(REGION_NAMES)
    for name, m in masks.items():
        assert m.shape == (224, 224) and m.dtype == bool
        assert m.sum() > 50, name
    # The ten parts do not overlap each other.
    stack = np.stack([masks[n] for n in PART_REGIONS]).astype(int)
    assert stack.sum(0).max() == 1
    face = masks["face"]
    for name in PART_REGIONS:
        inside = (masks[name] & face).sum() / masks[name].sum()
        assert inside > (0.97 if name != "forehead" else 0.9), name
    c = {n: _centroid(masks[n]) for n in PART_REGIONS}
    # Subject's left is the image's right for a frontal photo.
    assert c["right_eye"][0] < c["nose"][0] < c["left_eye"][0]
    assert c["right_cheek"][0] < c["nose"][0] < c["left_cheek"][0]
    assert c["right_brow"][0] < c["left_brow"][0]
    # Top to bottom: forehead, brows, eyes, nose, mouth, chin.
    eyes_y = (c["right_eye"][1] + c["left_eye"][1]) / 2
    brows_y = (c["right_brow"][1] + c["left_brow"][1]) / 2
    assert c["forehead"][1] < brows_y < eyes_y < c["nose"][1] < c["mouth"][1] < c["jaw_chin"][1]
    # The boundary band straddles the face outline.
    band = masks["boundary"]
    assert (band & face).sum() > 0.3 * band.sum() and (band & ~face).sum() > 0.2 * band.sum()
    assert not band[int(c["nose"][1]), int(c["nose"][0])]


def test_region_masks_in_frame_coordinates(astro):
    img, det, lm = astro
    masks = region_masks(lm, img.shape)
    x0, y0, x1, y1 = det.box
    ys, xs = np.nonzero(masks["mouth"])
    assert x0 < xs.mean() < x1 and (y0 + y1) / 2 < ys.mean() < y1
    # Mouth pixels are the lips: redder than the cheeks.
    lips = img[masks["mouth"]].astype(float).mean(0)
    cheek = img[masks["right_cheek"]].astype(float).mean(0)
    assert lips[0] - lips[1] > cheek[0] - cheek[1]


def test_regions_reject_wrong_shape():
    with pytest.raises(ValueError):
        region_polygons(np.zeros((5, 2)))
    with pytest.raises(ValueError):
        region_masks(np.zeros((68, 3)), (10, 10))


def test_eye_angle_convention():
    pts = np.zeros((5, 2))
    pts[0], pts[1] = (0, 0), (math.cos(math.radians(30)), math.sin(math.radians(30)))
    assert eye_angle(pts) == pytest.approx(30)
