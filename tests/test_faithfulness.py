"""Faithfulness measurements: local blends with a known mask, pointing game, deletion curves."""

from __future__ import annotations

import numpy as np
import pytest

from seethrough.explain.faithfulness import (
    DELETION_FRACTIONS,
    Pointing,
    bootstrap_ci,
    candidate_regions,
    deletion_auc,
    deletion_curve,
    frame_fake_probability,
    hit_regions,
    local_blend,
    pointing_hit,
    random_baseline,
    wilson_interval,
)
from seethrough.faces import FacePipeline, region_masks
from seethrough.media import Frame
from seethrough.testing import astronaut_rgb


@pytest.fixture(scope="module")
def face():
    res = FacePipeline(crop_size=224, margin=1.15).process([Frame(0, 0.0, astronaut_rgb())])
    assert res.crops, res.message
    return res.crops[0]


@pytest.mark.parametrize("region", ["mouth", "left_eye", "nose", "forehead", "right_cheek"])
def test_local_blend_changes_only_the_region(face, region):
    crop, lm = face.crop, face.crop_landmarks
    syn = local_blend(crop, lm, region, np.random.default_rng(1))
    target = region_masks(lm, crop.shape)[region]
    diff = np.abs(syn.image.astype(int) - crop.astype(int)).max(-1)
    assert syn.method == f"local_blend:{region}"
    assert syn.mask.shape == crop.shape[:2] and 0 <= syn.mask.min() and syn.mask.max() <= 1
    assert (diff[syn.mask == 0] == 0).all()  # untouched outside the feathered mask
    assert diff[target].mean() > 3  # visibly changed inside the region
    assert (syn.mask[target] > 0.5).mean() > 0.9  # the manipulated area covers the region
    assert (syn.mask > 0.5).sum() < 2 * target.sum()  # and stays local
    assert region in hit_regions(lm, syn.mask)


def test_local_blend_rejects_unknown_region(face):
    with pytest.raises(ValueError, match="unknown region"):
        local_blend(face.crop, face.crop_landmarks, "ear", np.random.default_rng(0))


def test_pointing_hits_when_the_map_is_hot_on_the_blend(face):
    crop, lm = face.crop, face.crop_landmarks
    syn = local_blend(crop, lm, "mouth", np.random.default_rng(2))
    cam = np.where(region_masks(lm, crop.shape)["mouth"], 1.0, 0.05).astype(np.float32)
    assert pointing_hit(cam, lm, syn.mask) == Pointing("mouth", True)
    uniform = random_baseline(lm, syn.mask)
    weighted = random_baseline(lm, syn.mask, weighted=True)
    n_hit, n_all = len(hit_regions(lm, syn.mask)), len(candidate_regions(lm, crop.shape))
    assert uniform == pytest.approx(n_hit / n_all) and 0 < uniform < 0.5
    assert 0 < weighted < 1 and weighted != pytest.approx(uniform)


def test_pointing_misses_when_the_map_is_hot_elsewhere(face):
    crop, lm = face.crop, face.crop_landmarks
    syn = local_blend(crop, lm, "mouth", np.random.default_rng(3))
    assert "forehead" not in hit_regions(lm, syn.mask)
    cam = np.where(region_masks(lm, crop.shape)["forehead"], 1.0, 0.05).astype(np.float32)
    assert pointing_hit(cam, lm, syn.mask) == Pointing("forehead", False)
    assert pointing_hit(np.zeros_like(cam), lm, syn.mask) == Pointing(None, False)
    off_face = np.where(region_masks(lm, crop.shape)["face"], 0.0, 1.0).astype(np.float32)
    assert pointing_hit(off_face, lm, syn.mask) == Pointing(None, False)


def test_pointing_with_named_targets(face):
    lm = face.crop_landmarks
    masks = region_masks(lm, (224, 224))
    cam = np.where(masks["boundary"] & ~masks["jaw_chin"], 1.0, 0.0).astype(np.float32)
    assert pointing_hit(cam, lm, targets={"boundary"}) == Pointing("boundary", True)
    n = len(candidate_regions(lm, (224, 224)))
    assert random_baseline(lm, shape=(224, 224), targets={"boundary"}) == pytest.approx(1 / n)
    with pytest.raises(ValueError):
        pointing_hit(cam, lm)


def _block_scene():
    """A dark image with a bright block; the score is the block's mean brightness."""
    img = np.full((64, 64, 3), 20, np.uint8)
    block = np.zeros((64, 64), bool)
    block[8:28, 30:58] = True  # 560 px, ~14% of the image
    img[block] = 230
    cam = np.where(block, 1.0, 0.0).astype(np.float32)
    cam += np.linspace(0, 0.2, 64, dtype=np.float32)[None, :]  # not flat outside
    return img, block, np.clip(cam, 0, 1)


def test_deletion_by_cam_drops_faster_than_random():
    img, block, cam = _block_scene()
    calls = []

    def score_fn(images):
        calls.append(len(images))
        return np.array([im[block].mean() / 255.0 for im in images])

    fr = DELETION_FRACTIONS
    by_cam = deletion_curve(score_fn, img, cam, fr, mode="cam", fill="mean")
    rand = np.mean(
        [deletion_curve(score_fn, img, cam, fr, mode="random", rng=np.random.default_rng(s), fill="mean") for s in range(3)],
        axis=0,
    )
    assert calls == [len(fr)] * 4  # one batched call per curve
    assert by_cam[0] == pytest.approx(230 / 255) and rand[0] == pytest.approx(230 / 255)
    assert by_cam[3] < 0.3  # 20% deleted covers the whole block
    assert (by_cam <= rand + 1e-9).all()
    assert deletion_auc(fr, by_cam) < deletion_auc(fr, rand) - 0.2


def test_deletion_within_a_mask_goes_there_first():
    img, block, cam = _block_scene()
    score = deletion_curve(
        lambda ims: np.array([im[block].mean() / 255.0 for im in ims]),
        img, cam, [0.0, block.mean()], mode="random", rng=np.random.default_rng(0), fill="mean", within=block,
    )
    fill = img.reshape(-1, 3).mean(0).round().mean() / 255.0
    assert score[1] == pytest.approx(fill, abs=1e-6)


def test_deletion_checks_its_inputs():
    img, _, cam = _block_scene()
    with pytest.raises(ValueError, match="mode"):
        deletion_curve(lambda ims: np.zeros(len(ims)), img, cam, mode="saliency")
    with pytest.raises(ValueError, match="shape"):
        deletion_curve(lambda ims: np.zeros(len(ims)), img, cam[:32])
    with pytest.raises(ValueError, match="scores"):
        deletion_curve(lambda ims: np.zeros(1), img, cam)


def test_deletion_auc_is_the_mean_score():
    fr = [0.0, 0.1, 0.3, 0.5]
    assert deletion_auc(fr, [0.7, 0.7, 0.7, 0.7]) == pytest.approx(0.7)
    assert deletion_auc(fr, [1.0, 0.8, 0.4, 0.0]) == pytest.approx(0.5)


def test_intervals():
    lo, hi = wilson_interval(0, 10)
    assert lo == 0 and hi == pytest.approx(0.2775, abs=1e-3)
    lo, hi = wilson_interval(50, 100)
    assert lo == pytest.approx(0.4038, abs=1e-3) and hi == pytest.approx(0.5962, abs=1e-3)
    v = np.random.default_rng(0).normal(1.0, 0.5, 200)
    lo, hi = bootstrap_ci(v, np.random.default_rng(1))
    assert lo < v.mean() < hi and hi - lo < 0.3


def test_frame_probability_matches_the_predictor(tiny_predictor, face):
    import cv2

    crop = cv2.resize(face.crop, (tiny_predictor.size, tiny_predictor.size))
    syn = local_blend(crop, face.crop_landmarks * tiny_predictor.size / face.crop.shape[0], "nose", np.random.default_rng(0))
    p = frame_fake_probability(tiny_predictor, [crop, syn.image])
    assert p.shape == (2,) and ((0 <= p) & (p <= 1)).all()
    ref = tiny_predictor.score([crop]).frame_probabilities[0]
    assert p[0] == pytest.approx(ref, abs=0.02)


def test_deleting_with_the_original_restores_the_fake(face):
    crop, lm = face.crop, face.crop_landmarks
    syn = local_blend(crop, lm, "nose", np.random.default_rng(4))
    changed = float((syn.mask > 0).mean())
    fr = [0.0, changed / 2, changed]

    def distance(images):
        return np.array([np.abs(im.astype(int) - crop.astype(int)).mean() for im in images])

    by_mask = deletion_curve(distance, syn.image, syn.mask, fr, fill=crop)
    rand = deletion_curve(distance, syn.image, syn.mask, fr, mode="random", rng=np.random.default_rng(0), fill=crop)
    assert by_mask[0] > 0.5 and by_mask[2] == 0.0  # every changed pixel restored
    assert by_mask[1] < 0.5 * by_mask[0] and rand[2] > 0.5 * by_mask[0]
    with pytest.raises(ValueError, match="fill image shape"):
        deletion_curve(distance, syn.image, syn.mask, fr, fill=crop[:100])
