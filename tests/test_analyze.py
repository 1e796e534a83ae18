"""analyze(): the one flow, on generated media, with a tiny model (behaviour of the flow, not of the model)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from seethrough.analysis import AnalyzeOptions, analyze
from seethrough.cli import app
from seethrough.testing import make_audio_only, make_face_video, make_no_face_image, make_truncated_copy


def test_video_analysis_has_every_field(face_clip, tiny_predictor):
    a = analyze(face_clip, predictor=tiny_predictor, options=AnalyzeOptions(frames=16))
    assert a.status == "ok", a.message
    assert a.verdict in ("real", "uncertain", "fake")
    assert 0.0 <= a.fake_probability <= 1.0
    assert set(a.method["probabilities"]) == {"Deepfakes", "FaceSwap", "Face2Face"}
    assert a.method["predicted"] == max(a.method["probabilities"], key=a.method["probabilities"].get)
    assert sum(a.method["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
    assert len(a.frames) == 16
    times = [f.time_s for f in a.frames]
    assert times == sorted(times) and times[-1] > 1.0
    # Frames 20-23 of the clip have no face: sampled ones carry no score, the others do.
    for f in a.frames:
        if 20 <= f.index <= 23:
            assert f.fake_probability is None and f.face_box is None
        else:
            assert 0.0 <= f.fake_probability <= 1.0 and len(f.face_box) == 4
    scored = [f.attention for f in a.frames if f.attention is not None]
    assert sum(scored) == pytest.approx(1.0, abs=1e-3)
    assert a.media["frame_count"] == 48 and a.media["width"] == 640
    assert a.model["name"] == "tiny-test" and len(a.model["sha256"]) == 64
    assert len(a.file["sha256"]) == 64
    assert {"probe", "decode", "faces", "model", "total"} <= set(a.timings_ms)
    json.dumps(a.to_dict())  # JSON-serialisable as is


def test_verdict_follows_thresholds(tiny_predictor):
    assert tiny_predictor.verdict(0.39) == "real"
    assert tiny_predictor.verdict(0.5) == "uncertain"
    assert tiny_predictor.verdict(0.6) == "fake"


def test_image_is_a_sequence_of_one(face_image, tiny_predictor):
    a = analyze(face_image, predictor=tiny_predictor)
    assert a.status == "ok"
    assert len(a.frames) == 1 and a.frames[0].fake_probability is not None
    # One frame is the whole track: its score is the verdict's score, not a second number.
    assert a.frames[0].fake_probability == a.fake_probability
    assert a.media["kind"] == "image"


def _write(path, data):
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    "make, status, code",
    [
        (lambda d: make_no_face_image(d / "wall.png"), "no_face", "no_face"),
        (lambda d: _write(d / "empty.mp4", b""), "error", "empty"),
        (lambda d: _write(d / "notes.mp4", b"not a video\n" * 50), "error", "unsupported"),
        (lambda d: make_audio_only(d / "voice.mp4"), "error", "no_video"),
        (lambda d: d / "missing.mp4", "error", None),
    ],
)
def test_bad_inputs_become_statuses(tmp_path, tiny_predictor, make, status, code):
    path = make(tmp_path)
    a = analyze(path, predictor=tiny_predictor)
    assert a.status == status
    assert a.message and "Traceback" not in a.message
    if code:
        assert a.error_code == code
    assert a.verdict is None and a.fake_probability is None


def test_unreadable_file_is_an_error_not_an_exception(face_image, tiny_predictor, monkeypatch):
    import seethrough.analysis as analysis_mod

    def denied(path, *a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(analysis_mod, "file_sha256", denied)
    a = analyze(face_image, predictor=tiny_predictor, options=AnalyzeOptions(narrator=None))
    assert a.status == "error" and a.error_code == "unreadable"
    assert a.message == "face.jpg cannot be read (Permission denied)."


def test_truncated_video_is_an_error(face_clip, tmp_path, tiny_predictor):
    bad = make_truncated_copy(face_clip, tmp_path / "cut.mp4", keep=0.5)
    a = analyze(bad, predictor=tiny_predictor)
    assert a.status == "error" and a.error_code in ("corrupt", "truncated")


def test_tiny_faces_are_reported(tmp_path, tiny_predictor):
    clip = make_face_video(tmp_path / "far.mp4", n_frames=8, size=(640, 480), scale=0.2)  # ~16 px faces
    a = analyze(clip, predictor=tiny_predictor, options=AnalyzeOptions(frames=8, min_face=40))
    assert a.status == "no_face" and a.error_code == "face_too_small"


def test_cli_json_and_jsonl(face_clip, face_image, tmp_path, tiny_checkpoint):
    runner = CliRunner()
    res = runner.invoke(app, ["analyze", str(face_image), "--format", "json", "--model", str(tiny_checkpoint)])
    assert res.exit_code == 0, res.output
    one = json.loads(res.stdout)
    assert one["status"] == "ok" and one["schema_version"]

    junk = tmp_path / "junk.avi"
    junk.write_bytes(b"\x00\x01garbage" * 100)
    res = runner.invoke(app, ["analyze", str(face_clip), str(face_image), str(junk), "--format", "jsonl",
                              "--frames", "8", "--model", str(tiny_checkpoint)])
    assert res.exit_code == 1  # one file could not be analysed
    lines = [json.loads(x) for x in res.stdout.strip().splitlines()]
    assert [x["status"] for x in lines] == ["ok", "ok", "error"]
    assert lines[0]["file"]["name"] == "clip.mp4" and len(lines[0]["frames"]) == 8


def test_cli_text_and_missing_model(face_image, tiny_checkpoint, tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["analyze", str(face_image), "--model", str(tiny_checkpoint)])
    assert res.exit_code == 0
    assert "fake probability" in res.output
    res = runner.invoke(app, ["analyze", str(face_image), "--model", str(tmp_path / "nope.pt")])
    assert res.exit_code == 2 and "not found" in res.output


# --------------------------------------------------------------------------- schema 1.1: evidence


@pytest.fixture(scope="module")
def schema():
    from seethrough.analysis import SCHEMA_PATH

    return json.loads(SCHEMA_PATH.read_text())


def _valid(doc, schema):
    import jsonschema

    jsonschema.validate(doc, schema)
    return doc


def test_every_outcome_matches_the_published_schema(face_clip, face_image, tmp_path, tiny_predictor, schema):
    opts = AnalyzeOptions(frames=8, narrator=None)
    outcomes = [
        analyze(face_clip, predictor=tiny_predictor, options=opts),
        analyze(face_image, predictor=tiny_predictor, options=opts),
        analyze(make_no_face_image(tmp_path / "wall.png"), predictor=tiny_predictor, options=opts),
        analyze(_write(tmp_path / "notes.mp4", b"hello\n" * 40), predictor=tiny_predictor, options=opts),
        analyze(face_clip, predictor=tiny_predictor, options=AnalyzeOptions(frames=8, explain=False, narrator=None)),
    ]
    assert [a.status for a in outcomes] == ["ok", "ok", "no_face", "error", "ok"]
    for a in outcomes:
        _valid(a.to_dict(), schema)
    assert "artifacts" not in outcomes[0].to_dict()
    bad = outcomes[0].to_dict() | {"verdict": "probably"}
    with pytest.raises(Exception):
        _valid(bad, schema)


def test_a_black_and_white_photo_is_analysed_with_its_caveat(face_image, tmp_path, tiny_predictor, schema):
    from PIL import Image

    grey = tmp_path / "grey.jpg"
    Image.open(face_image).convert("L").convert("RGB").save(grey, quality=90)
    codes = {}
    for name, path in (("colour", face_image), ("grey", grey)):
        a = analyze(path, predictor=tiny_predictor, options=AnalyzeOptions(narrator=None))
        assert a.status == "ok"
        _valid(a.to_dict(), schema)
        codes[name] = {c["code"] for c in a.evidence["caveats"]}
    assert "black_and_white" in codes["grey"] and "black_and_white" not in codes["colour"]


def test_evidence_explains_the_reported_face(face_clip, tiny_predictor):
    stages = []
    a = analyze(face_clip, predictor=tiny_predictor, options=AnalyzeOptions(frames=16, narrator=None),
                progress=lambda stage, frac: stages.append(stage))
    assert stages == ["probe", "provenance", "decode", "faces", "model", "explain", "done"]
    ev = a.evidence
    scored = [f for f in a.frames if f.fake_probability is not None]
    # Every scored frame has region scores for the ten parts and the boundary band.
    assert all(len(f.regions) >= 10 and "boundary" in f.regions for f in scored)
    assert all(f.regions is None for f in a.frames if f.fake_probability is None)
    names = [r["name"] for r in ev["regions"]]
    assert len(names) == len(set(names)) >= 10
    assert [r["score"] for r in ev["regions"]] == sorted((r["score"] for r in ev["regions"]), reverse=True)
    assert set(ev["top_regions"]) <= set(names) and len(ev["top_regions"]) <= 3
    probs = [k["fake_probability"] for k in ev["key_frames"]]
    assert probs == sorted(probs, reverse=True) and probs[0] == max(f.fake_probability for f in scored)
    assert ev["face_px"]["median"] > 40 and ev["track_id"] == a.tracks[0]["track_id"]
    assert {"low_face_resolution"} <= {c["code"] for c in ev["caveats"]}  # ~75 px faces in this clip
    assert a.timings_ms["explain"] >= 0


def test_gallery_pictures_for_each_key_frame(face_clip, tiny_predictor):
    from seethrough.explain import evidence_gallery

    a = analyze(face_clip, predictor=tiny_predictor, options=AnalyzeOptions(frames=12, narrator=None))
    items = evidence_gallery(a)
    assert [i.index for i in items] == [k["index"] for k in a.evidence["key_frames"]]
    for it in items:
        assert it.crop_overlay.shape == it.crop.shape == (tiny_predictor.size, tiny_predictor.size, 3)
        assert it.frame_overlay.shape == (480, 640, 3)
        assert not np.array_equal(it.crop_overlay, it.crop)
    off = analyze(face_clip, predictor=tiny_predictor, options=AnalyzeOptions(frames=12, explain=False, narrator=None))
    assert off.evidence is None and off.artifacts is None and evidence_gallery(off) == []
    assert all(f.regions is None for f in off.frames)


def test_several_faces_each_get_a_result_and_the_most_suspicious_one_decides(tmp_path, tiny_predictor, schema):
    clip = make_face_video(tmp_path / "two.mp4", n_frames=12, faces=2, size=(1280, 560), motion=False)
    a = analyze(clip, predictor=tiny_predictor, options=AnalyzeOptions(frames=12, narrator=None))
    _valid(a.to_dict(), schema)
    assert len(a.tracks) == 2 and all(t["n_frames"] == 12 for t in a.tracks)
    top = max(a.tracks, key=lambda t: t["fake_probability"])
    assert top["reported"] and sum(t["reported"] for t in a.tracks) == 1
    assert a.fake_probability == top["fake_probability"] and a.verdict == top["verdict"]
    assert a.evidence["track_id"] == top["track_id"]
    assert [f.face_box for f in a.frames] == [b["box"] for b in top["boxes"]]
    assert "several_faces" in {c["code"] for c in a.evidence["caveats"]}
    # Two different people side by side: their boxes do not overlap.
    (a0, a1) = (t["boxes"][0]["box"] for t in a.tracks)
    assert a0[2] < a1[0] or a1[2] < a0[0]
    one = analyze(clip, predictor=tiny_predictor, options=AnalyzeOptions(frames=12, max_faces=1, narrator=None))
    assert len(one.tracks) == 1


def test_cli_writes_heatmap_pngs(face_image, tmp_path, tiny_checkpoint):
    from PIL import Image

    out = tmp_path / "ev"
    res = CliRunner().invoke(app, ["analyze", str(face_image), "--model", str(tiny_checkpoint),
                                   "--evidence", str(out), "--narrator", "none"])
    assert res.exit_code == 0, res.output
    pngs = sorted(out.glob("*.png"))
    assert [p.name for p in pngs] == ["face_frame000000_crop.png", "face_frame000000_frame.png"]
    assert Image.open(pngs[1]).size == Image.open(face_image).size
    res = CliRunner().invoke(app, ["analyze", str(face_image), "--narrator", "gpt9"])
    assert res.exit_code != 0 and "narrator" in res.output


def test_cli_writes_reports_for_one_file_and_for_several(face_image, face_clip, tmp_path, tiny_checkpoint):
    runner = CliRunner()
    html, pdf = tmp_path / "brief.html", tmp_path / "brief.pdf"
    res = runner.invoke(app, ["analyze", str(face_image), "--model", str(tiny_checkpoint),
                              "--report", str(html), "--report", str(pdf)])
    assert res.exit_code == 0, res.output
    assert pdf.read_bytes().startswith(b"%PDF") and "face.jpg" in html.read_text()
    res = runner.invoke(app, ["analyze", str(face_image), "--report", str(tmp_path / "brief.txt")])
    assert res.exit_code != 0 and ".html or .pdf" in res.output
    # Several files: --report is a folder with one HTML and one PDF per file.
    folder = tmp_path / "reports"
    res = runner.invoke(app, ["analyze", str(face_image), str(face_clip), "--frames", "6",
                              "--model", str(tiny_checkpoint), "--report", str(folder)])
    assert res.exit_code == 0, res.output
    names = sorted(p.name for p in folder.iterdir())
    assert len(names) == 4 and {n.rsplit(".", 1)[1] for n in names} == {"html", "pdf"}
    assert any(n.startswith("clip-") for n in names) and any(n.startswith("face-") for n in names)
