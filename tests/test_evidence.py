"""The rules that turn scores and heatmaps into evidence (pure functions, plain data)."""

from __future__ import annotations

from types import SimpleNamespace as NS

import pytest

from seethrough.explain import aggregate_regions, caveats, key_frames, suspicious_segments, top_regions
from seethrough.explain.evidence import bits_per_pixel, is_monochrome


def _frames(probs, regions=None):
    return [NS(index=i * 3, time_s=i * 0.5, fake_probability=p, attention=None if p is None else 0.1,
               regions=(regions[i] if regions else None)) for i, p in enumerate(probs)]


def test_regions_are_averaged_with_weights_and_sorted():
    per_frame = [{"mouth": 3.0, "nose": 1.0}, {"mouth": 1.0, "nose": 1.0, "left_eye": 2.0}]
    plain = aggregate_regions(per_frame)
    assert [r["name"] for r in plain] == ["left_eye", "mouth", "nose"]  # ties: by name
    assert plain[0]["score"] == pytest.approx(2.0) and plain[1]["score"] == pytest.approx(2.0)
    weighted = aggregate_regions(per_frame, [3.0, 1.0])
    assert weighted[0] == {"name": "mouth", "score": pytest.approx(2.5)}
    assert top_regions(weighted) == ["mouth", "left_eye"]  # nose is exactly face average: not "hot"
    assert top_regions([{"name": "nose", "score": 0.9}]) == []


def test_key_frames_rank_the_most_suspicious_first():
    regs = [{"mouth": 2.0, "nose": 0.5}] * 5
    frames = _frames([0.2, None, 0.9, 0.9, 0.1], regs)
    keys = key_frames(frames, k=3)
    assert [k["index"] for k in keys] == [6, 9, 0]  # ties: earlier first; no-face frame skipped
    assert keys[0]["top_region"] == "mouth" and keys[0]["time_s"] == 1.0
    cold = key_frames(_frames([0.5], [{"mouth": 0.0, "nose": 0.0}]))
    assert cold[0]["top_region"] is None  # a map with no heat on the face names no region


def test_segments_are_runs_above_the_threshold_broken_by_faceless_frames():
    frames = _frames([0.1, 0.8, 0.9, None, 0.95, 0.7, 0.2, 0.75])
    segs = suspicious_segments(frames, fake_above=0.7)
    assert [(s["start_s"], s["end_s"], s["n_frames"]) for s in segs] == [(0.5, 1.0, 2), (2.0, 2.5, 2), (3.5, 3.5, 1)]
    assert segs[0]["peak_probability"] == 0.9
    assert suspicious_segments(frames, fake_above=0.99) == []


def _cav(**kw):
    base = dict(media={"kind": "video", "width": 1280, "height": 720, "fps": 30.0, "extra": {"bit_rate": 4_000_000}},
                face_px=[200.0] * 30, n_scored=30, n_sampled=32, n_tracks=1, reported_track=0,
                verdict="real", method=None)
    return {c["code"] for c in caveats(**{**base, **kw})}


def test_caveats_name_what_makes_a_result_weak():
    assert _cav() == set()
    assert _cav(face_px=[60.0] * 30) == {"low_face_resolution"}
    assert "heavy_compression" in _cav(media={"kind": "video", "width": 1280, "height": 720, "fps": 30.0,
                                              "extra": {"bit_rate": 500_000}})
    assert _cav(n_scored=5) == {"few_face_frames"}
    assert _cav(n_tracks=2, verdict="uncertain") == {"several_faces", "uncertain_band"}
    assert _cav(verdict="fake", method={"predicted": "FaceSwap"}) == {"method_unvalidated"}
    img = {"kind": "image", "width": 1000, "height": 1000, "container": "jpeg", "size_bytes": 30_000, "extra": {}}
    assert _cav(media=img, n_scored=1, n_sampled=1) == {"single_image", "heavy_compression"}


def test_black_and_white_faces_get_a_caveat():
    import io

    import numpy as np
    from PIL import Image

    from seethrough.testing import astronaut_rgb

    face = np.ascontiguousarray(astronaut_rgb()[:224, :224])
    grey = np.repeat(face.mean(2, keepdims=True).astype(np.uint8), 3, axis=2)
    buf = io.BytesIO()
    Image.fromarray(grey).save(buf, format="JPEG", quality=60)  # a re-encoded grey picture keeps faint chroma
    regrey = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    sepia = np.clip(grey * np.array([1.07, 0.74, 0.43]), 0, 255).astype(np.uint8)  # toned: still colour
    assert is_monochrome([grey]) and is_monochrome([grey, regrey])
    assert not is_monochrome([face]) and not is_monochrome([grey, face]) and not is_monochrome([sepia])
    assert not is_monochrome([])
    assert _cav(monochrome=True) == {"black_and_white"}
    assert _cav() == set()


def test_bits_per_pixel():
    assert bits_per_pixel({"kind": "video", "width": 100, "height": 100, "fps": 10, "extra": {"bit_rate": 10_000}}) == 0.1
    assert bits_per_pixel({"kind": "image", "width": 100, "height": 100, "container": "png", "size_bytes": 9}) is None
    assert bits_per_pixel({"kind": "image", "width": 100, "height": 100, "container": "jpeg", "size_bytes": 1250}) == 1.0
    assert bits_per_pixel({"kind": "video", "width": 0, "height": 0}) is None
