"""Grad-CAM maps and region scores (first steps of the explanations)."""

from __future__ import annotations

import numpy as np
import pytest

from seethrough.explain import gradcam_maps, region_scores
from seethrough.faces import FacePipeline, region_masks
from seethrough.media import Frame
from seethrough.testing import astronaut_rgb


@pytest.fixture(scope="module")
def face_crop():
    res = FacePipeline(crop_size=224, margin=1.15).process([Frame(0, 0.0, astronaut_rgb())])
    return res.crops[0]


def test_region_scores_find_the_hot_region(face_crop):
    lm = face_crop.crop_landmarks
    masks = region_masks(lm, (224, 224))
    cam = np.where(masks["mouth"], 1.0, 0.1).astype(np.float32)
    scores = region_scores(cam, lm)
    assert max(scores, key=scores.get) == "mouth"
    assert scores["mouth"] > 2.0 and scores["left_eye"] < 1.0


def test_region_scores_are_area_normalised(face_crop):
    scores = region_scores(np.ones((224, 224), np.float32), face_crop.crop_landmarks)
    parts = {k: v for k, v in scores.items() if k != "boundary"}
    assert set(parts) >= {"left_eye", "right_eye", "nose", "mouth", "forehead", "jaw_chin"}
    assert all(v == pytest.approx(1.0) for v in parts.values())


def test_gradcam_maps_shape_and_range(tiny_predictor, face_crop):
    import cv2

    crop = cv2.resize(face_crop.crop, (tiny_predictor.size, tiny_predictor.size))
    maps = gradcam_maps(tiny_predictor, [crop, crop[:, ::-1].copy()])
    assert maps.shape == (2, tiny_predictor.size, tiny_predictor.size)
    assert maps.min() >= 0 and maps.max() <= 1 + 1e-6


def test_default_model_looks_at_the_manipulated_mouth(face_crop):
    """On reenacted faces (mouth/jaw warped) the default model's heat is higher inside the changed area."""
    from seethrough.inference import get_predictor
    from seethrough.synth import reenact

    predictor = get_predictor()
    ratios = []
    for seed in range(3):
        syn = reenact(face_crop.crop, face_crop.crop_landmarks, np.random.default_rng(seed))
        cam = gradcam_maps(predictor, [syn.image])[0]
        ratios.append(cam[syn.mask > 0.3].mean() / max(cam[syn.mask == 0].mean(), 1e-6))
    assert np.median(ratios) > 1.0, ratios


def test_fast_gradcam_equals_full_network_gradcam(tiny_checkpoint, face_crop):
    """The CAM from captured features is Grad-CAM over the whole network, minus the wasted backward."""
    import cv2
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    from seethrough.inference import Predictor

    p = Predictor(tiny_checkpoint, bf16=False)
    crop = cv2.resize(face_crop.crop, (p.size, p.size))
    crops = [crop, crop[:, ::-1].copy(), np.ascontiguousarray(np.rot90(crop))]
    fast = gradcam_maps(p, crops)
    model = p.model.frame_classifier().eval()
    with GradCAM(model=model, target_layers=[model.cam_layer]) as cam:
        full = cam(input_tensor=p.to_tensor(crops), targets=[ClassifierOutputTarget(1)] * 3)
    assert np.abs(fast - full).max() < 0.05  # resampling order differs slightly
    assert np.corrcoef(fast.ravel(), full.ravel())[0, 1] > 0.999


def test_overlays_put_heat_where_the_map_is(face_crop):
    from seethrough.explain import frame_overlay, heat_overlay

    crop = face_crop.crop
    cam = np.zeros(crop.shape[:2], np.float32)
    cam[:40, :40] = 1.0
    over = heat_overlay(crop, cam)
    assert over.shape == crop.shape and over.dtype == np.uint8
    # Hot corner shifts towards red, cold area towards blue.
    def red_minus_blue(img, y, x):
        return int(img[y, x, 0]) - int(img[y, x, 2])

    assert red_minus_blue(over, 5, 5) > red_minus_blue(crop, 5, 5)
    assert red_minus_blue(over, 150, 150) < red_minus_blue(crop, 150, 150)
    frame = astronaut_rgb()
    full = frame_overlay(frame, cam, face_crop.matrix, face_crop.box)
    assert full.shape == frame.shape  # 512 px: not downscaled
    # Outside the warped crop the frame is untouched, apart from the drawn box.
    assert np.array_equal(full[-5:, -5:], frame[-5:, -5:])
    assert not np.array_equal(full, frame)
