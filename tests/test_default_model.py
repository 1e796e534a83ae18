"""The bundled default model: loads offline, is small, and behaves like a detector.

These tests use the real model because its behaviour is what they check.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from seethrough.analysis import analyze
from seethrough.facts import METHOD_FAMILIES
from seethrough.inference import DEFAULT_CHECKPOINT, get_predictor
from seethrough.testing import astronaut_rgb

pytestmark = pytest.mark.slow  # runs the bundled model on real media


@pytest.fixture(scope="module")
def predictor():
    return get_predictor()


def test_bundled_model_is_complete_and_small(predictor):
    assert DEFAULT_CHECKPOINT.stat().st_size < 25 * 1024 * 1024
    assert predictor.methods == list(METHOD_FAMILIES)  # v3.2: the method head names manipulation families
    assert predictor.meta.model_spec.backbone == "efficientnet_lite0"
    assert predictor.size == 224
    th = predictor.thresholds
    assert 0 < th["real_below"] < th["fake_above"] < 1
    assert predictor.temperature > 0
    assert predictor.info["name"] == "seethrough-default"
    card = predictor.info["card"]  # the summary reports carry, from default.card.json
    assert {"summary", "data", "metrics", "limits"} <= set(card) and len(card["limits"]) >= 3
    assert "DFDC" in card["data"] and "0.83" in card["metrics"]  # the cross-source benchmark's AUC
    # v3: v1's backbone with a linear read-out, mean over frames: the frame scores add up to the clip score
    assert predictor.meta.model_spec.temporal == "mean"
    # v3.1: a face is scored as it is and mirrored, so a photo's crop and its mirror image score the same
    assert predictor.flip_average
    crop = np.ascontiguousarray(astronaut_rgb()[20:244, 160:384])
    mirror = np.ascontiguousarray(crop[:, ::-1])
    assert predictor.score([crop]).fake_probability == pytest.approx(predictor.score([mirror]).fake_probability,
                                                                     abs=1e-5)


@pytest.fixture(scope="module")
def astronaut_pair(tmp_path_factory):
    """The astronaut photo and self-blended versions of it (blend through her face's landmark mask)."""
    from seethrough.faces import RetinaFaceDetector, predict_landmarks
    from seethrough.synth import self_blend

    folder = tmp_path_factory.mktemp("pair")
    img = astronaut_rgb()
    det = max(RetinaFaceDetector().detect(img), key=lambda d: d.area)
    lm = predict_landmarks(img, det)
    Image.fromarray(img).save(folder / "real.png")
    fakes = []
    for seed in range(3):
        path = folder / f"blend{seed}.png"
        Image.fromarray(self_blend(img, lm, np.random.default_rng(seed)).image).save(path)
        fakes.append(path)
    return folder / "real.png", fakes


@pytest.mark.xfail(strict=True, reason=(
    "Known limit of the v3 read-out (model card): self-blends of a clean studio photo score no higher than "
    "the photo (held-out self-blends vs their reals: ROC-AUC about 0.71); v1 caught them but was at chance on "
    "unseen sources. Strict: when a model catches them again this fails, and the mark goes."))
def test_blended_faces_score_far_above_the_original(predictor, astronaut_pair):
    real, fakes = astronaut_pair
    original = analyze(real, predictor=predictor)
    assert original.verdict != "fake"
    for f in fakes:
        a = analyze(f, predictor=predictor)
        assert a.status == "ok"
        # A studio photo is far from the training videos: the model ranks, it is not sure. Compared
        # as raw logit margins (calibrated probability undone), so a recalibration does not move the bar.
        def margin(p):
            return predictor.temperature * float(np.log(p / (1 - p)))

        assert margin(a.fake_probability) > margin(original.fake_probability) + 1.5, (f.name, a.fake_probability)
        assert a.verdict != "real"


def test_unmanipulated_clip_is_not_called_fake(predictor, face_clip):
    a = analyze(face_clip, predictor=predictor)
    assert a.status == "ok"
    assert a.verdict != "fake" and a.fake_probability < 0.5


def test_reenactment_warps_move_the_family_estimate_toward_reenactment(predictor, astronaut_pair):
    """The method head reads the manipulation, not only the face: mouth/jaw reenactment warps of the
    photo (what taught its reenactment class, with other generators' reenactments) raise that family's
    estimate above the photo's own."""
    from seethrough.faces import RetinaFaceDetector, predict_landmarks
    from seethrough.synth import reenact

    real, _ = astronaut_pair
    img = np.asarray(Image.open(real).convert("RGB"))
    det = max(RetinaFaceDetector().detect(img), key=lambda d: d.area)
    lm = predict_landmarks(img, det)
    base = analyze(real, predictor=predictor).method["probabilities"]["reenactment"]
    for seed in range(3):
        path = real.parent / f"reenact{seed}.png"
        Image.fromarray(reenact(img, lm, np.random.default_rng(seed)).image).save(path)
        a = analyze(path, predictor=predictor)
        assert a.method["probabilities"]["reenactment"] > base + 0.05, (seed, a.method, base)
