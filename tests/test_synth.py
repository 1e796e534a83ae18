"""Pseudo-fake synthesis on a real face (the astronaut) with real dlib landmarks."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from seethrough.synth import face_swap, reenact, self_blend
from seethrough.testing import astronaut_rgb


@pytest.fixture(scope="module")
def face():
    from seethrough.faces.landmarks import predict_landmarks

    crop = np.ascontiguousarray(cv2.resize(astronaut_rgb()[60:200, 150:290], (224, 224)))
    from seethrough.faces.detector import RetinaFaceDetector

    det = max(RetinaFaceDetector().detect(crop), key=lambda d: d.area)
    return crop, predict_landmarks(crop, det)


def _changed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a.astype(int) - b.astype(int)).sum(-1) > 6


@pytest.mark.parametrize("fn", [self_blend, reenact])
def test_changes_stay_inside_the_mask(face, fn):
    img, lm = face
    out = fn(img, lm, np.random.default_rng(3))
    assert out.image.shape == img.shape and out.image.dtype == np.uint8
    assert out.mask.shape == img.shape[:2] and 0 <= out.mask.min() and out.mask.max() <= 1
    changed = _changed(out.image, img)
    assert changed.sum() > 200, "the synthesis must visibly change the face"
    # Nearly every changed pixel lies where the mask says something was changed.
    assert (out.mask[changed] > 0.01).mean() > 0.97
    # Pixels far from the mask are untouched.
    assert not changed[out.mask == 0].any()


def test_self_blend_mask_covers_the_face_centre(face):
    img, lm = face
    out = self_blend(img, lm, np.random.default_rng(0))
    nose = lm[30].astype(int)
    assert out.mask[nose[1], nose[0]] > 0.3
    assert out.mask[2, 2] == 0  # the corner (background) is never blended


def test_reenact_moves_the_mouth_not_the_eyes(face):
    img, lm = face
    out = reenact(img, lm, np.random.default_rng(7))
    eyes = lm[36:48].astype(int)
    mouth = lm[48:68].astype(int)
    assert out.mask[eyes[:, 1], eyes[:, 0]].max() < 0.05
    assert out.mask[mouth[:, 1], mouth[:, 0]].mean() > 0.8


def test_face_swap_takes_the_source_face(face):
    img, lm = face
    other = np.ascontiguousarray(img[:, :, ::-1])  # a differently coloured "identity"
    out = face_swap(img, lm, other, lm, np.random.default_rng(1))
    inside = out.mask > 0.9
    assert inside.sum() > 1000
    # Inside the mask the result is closer to the (colour-matched) source than untouched.
    assert _changed(out.image, img)[inside].mean() > 0.5


def test_same_seed_same_result(face):
    img, lm = face
    a = self_blend(img, lm, np.random.default_rng(11))
    b = self_blend(img, lm, np.random.default_rng(11))
    assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask)
