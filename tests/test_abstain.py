"""Abstention: faces the model cannot judge get ``uncertain`` with a reason, ordinary faces a verdict."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from seethrough.abstain import GATE_FACE_PX, FamiliarityModel, gate
from seethrough.analysis import SCHEMA_PATH, AnalyzeOptions, analyze
from seethrough.inference import Predictor
from seethrough.models import load_checkpoint, save_checkpoint
from seethrough.testing import make_face_image, make_face_video

SCORES = AnalyzeOptions(explain=False, narrator=None)


def _with_calibration(src, dst, **cal):
    model, meta = load_checkpoint(src)
    return save_checkpoint(dst, model, labels=meta.labels, preprocessing=meta.preprocessing, config=meta.config,
                           calibration={**(meta.calibration or {}), **cal})


def _face_crops(predictor, path, n=1):
    from seethrough.faces import FacePipeline
    from seethrough.media import sample_frames

    faces = FacePipeline(crop_size=predictor.size, margin=predictor.crop_margin).process(sample_frames(path, n=n))
    return [c.crop for c in faces.crops]


def _jittered(crops, n, seed):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        c = crops[i % len(crops)].astype(np.float32)
        c = c * rng.uniform(0.85, 1.15, 3) + rng.normal(0, 4, c.shape)
        out.append(np.clip(c, 0, 255).astype(np.uint8))
    return out


@pytest.fixture(scope="module")
def everything_real(tiny_checkpoint, tmp_path_factory):
    """The tiny model with a band that calls every ungated face real, so a gate is the only way to 'uncertain'."""
    return _with_calibration(tiny_checkpoint, tmp_path_factory.mktemp("abstain") / "real.pt",
                             thresholds={"real_below": 0.999, "fake_above": 0.9995})


def _familiarity_from(predictor, crops) -> dict:
    emb, _ = predictor.embed(crops)
    labels = np.arange(len(crops)) % 2
    return FamiliarityModel.fit(emb.numpy(), labels, k=8, quantile=1.0).to_dict()


def test_ordinary_face_gets_a_verdict(everything_real, face_image, tmp_path):
    pred = Predictor(everything_real)
    crops = _jittered(_face_crops(pred, face_image), 40, seed=1)
    ckpt = _with_calibration(everything_real, tmp_path / "fam.pt", familiarity=_familiarity_from(pred, crops))
    pred = Predictor(ckpt)
    a = analyze(face_image, predictor=pred, options=SCORES)
    assert a.status == "ok"
    assert a.verdict == "real"
    assert a.abstention["gated"] is False and a.abstention["reasons"] == []
    assert a.abstention["unfamiliarity"] <= a.abstention["unfamiliarity_limit"]


def test_unfamiliar_face_is_uncertain_with_its_reason(everything_real, face_image, tmp_path):
    pred = Predictor(everything_real)
    rng = np.random.default_rng(0)
    noise = [rng.integers(0, 255, (pred.size, pred.size, 3), dtype=np.uint8) for _ in range(40)]
    ckpt = _with_calibration(everything_real, tmp_path / "noise.pt", familiarity=_familiarity_from(pred, noise))
    a = analyze(face_image, predictor=Predictor(ckpt), options=SCORES)
    assert a.status == "ok" and a.fake_probability is not None  # the score is still reported
    assert a.verdict == "uncertain"
    assert a.abstention["gated"] is True
    assert [r["code"] for r in a.abstention["reasons"]] == ["unfamiliar_face"]
    assert "unlike the faces the model was trained on" in a.abstention["reasons"][0]["text"]
    assert a.abstention["unfamiliarity"] > a.abstention["unfamiliarity_limit"]
    assert a.tracks[0]["verdict"] == "uncertain"


def test_tiny_face_is_uncertain(everything_real, tmp_path):
    path = make_face_image(tmp_path / "small.png", size=(640, 480), scale=0.5)
    a = analyze(path, predictor=Predictor(everything_real), options=SCORES)
    assert a.status == "ok"
    px = a.tracks[0]["median_face_px"]
    assert 40 <= px < GATE_FACE_PX, px  # detected and usable, but below the gate
    assert a.verdict == "uncertain"
    assert [r["code"] for r in a.abstention["reasons"]] == ["face_too_small"]
    assert f"{px:.0f} px" in a.abstention["reasons"][0]["text"]


def test_heavily_compressed_image_and_clip_are_uncertain(everything_real, face_image, tmp_path):
    pred = Predictor(everything_real)
    jpg = tmp_path / "q5.jpg"
    Image.open(face_image).save(jpg, quality=5)
    clip = make_face_video(tmp_path / "crf51.mp4", n_frames=24, crf=51)
    ordinary = make_face_video(tmp_path / "crf23.mp4", n_frames=24)
    for path in (jpg, clip):
        a = analyze(path, predictor=pred, options=SCORES)
        assert a.status == "ok"
        assert a.verdict == "uncertain", path.name
        assert [r["code"] for r in a.abstention["reasons"]] == ["heavy_compression"]
    a = analyze(ordinary, predictor=pred, options=SCORES)
    assert a.verdict == "real" and not a.abstention["gated"]


def test_gate_reasons_lead_the_caveats_and_the_words(everything_real, tmp_path):
    path = make_face_image(tmp_path / "small.png", size=(640, 480), scale=0.5)
    a = analyze(path, predictor=Predictor(everything_real))
    codes = [c["code"] for c in a.evidence["caveats"]]
    assert codes[0] == "face_too_small"
    assert "low_face_resolution" not in codes and "uncertain_band" not in codes  # no milder repeat
    assert "withholds a verdict" in a.narrative["text"]
    assert "too small" in a.narrative["text"]
    from seethrough.report.content import build_content

    assert build_content(a.to_dict()).meaning.startswith("No verdict: The face is too small")


def test_result_with_abstention_matches_the_schema(everything_real, face_image):
    import jsonschema

    a = analyze(face_image, predictor=Predictor(everything_real))
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.validate(a.to_dict(), schema)
    assert a.to_dict()["schema_version"] == schema["properties"]["schema_version"]["const"]


def test_checkpoint_without_familiarity_never_gates_on_it(tiny_predictor, face_image):
    a = analyze(face_image, predictor=tiny_predictor, options=SCORES)
    assert a.abstention["unfamiliarity"] is None and a.abstention["unfamiliarity_limit"] is None
    assert not any(r["code"] == "unfamiliar_face" for r in a.abstention["reasons"])


def test_familiarity_model_separates_and_round_trips():
    rng = np.random.default_rng(0)
    train = rng.normal(0, 1, (400, 64))
    labels = (rng.random(400) < 0.5).astype(int)
    train[labels == 1, 0] += 3
    m = FamiliarityModel.fit(train, labels, k=16, quantile=0.99)
    near = rng.normal(0, 1, (100, 64))
    far = rng.normal(0, 1, (100, 64)) * 3 + 5
    assert (m.score(near) <= m.threshold).mean() > 0.9
    assert (m.score(far) > m.threshold).mean() > 0.95
    back = FamiliarityModel.from_dict(json.loads(json.dumps(m.to_dict())))
    np.testing.assert_allclose(back.score(far), m.score(far), rtol=1e-4)


def test_gate_needs_every_fact_it_uses():
    assert gate(media=None, face_px=[], unfamiliarity=None, familiarity_limit=None)["gated"] is False
    g = gate(media={"kind": "image"}, face_px=[30.0], unfamiliarity=5.0, familiarity_limit=1.0)
    assert [r["code"] for r in g["reasons"]] == ["face_too_small", "unfamiliar_face"]
