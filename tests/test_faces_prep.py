"""The face cache (.npz per video) and ``seethrough prep faces``."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from seethrough.faces import FacePipeline, RetinaFaceDetector, load_faces, save_faces
from seethrough.faces.cache import is_complete, read_meta
from seethrough.faces.prep import PrepSettings, npz_relpath, plan_npz_paths, prep_faces
from seethrough.media.types import Frame
from seethrough.testing.media import compose_frame, make_face_video

FAST = PrepSettings(frames=6, size=96, threads=1)


def _write_csv(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _read_index(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """A CSV with two generated clips in a sub-folder: one with a face, one without."""
    root = tmp_path_factory.mktemp("data")
    (root / "videos").mkdir()
    make_face_video(root / "videos" / "real_a.mp4", n_frames=12, size=(320, 240), scale=0.5)
    make_face_video(root / "videos" / "empty_b.mp4", n_frames=12, size=(320, 240), faces=0)
    return _write_csv(
        root / "meta.csv",
        [
            {"path": "videos/real_a.mp4", "label": "0", "split": "train"},
            {"path": "videos/empty_b.mp4", "label": "1", "split": "val"},
        ],
    )


def test_save_and_load_roundtrip(tmp_path):
    pipe = FacePipeline(RetinaFaceDetector(), crop_size=64)
    frames = [Frame(i, i * 0.5, compose_frame(320, 240, scale=0.5, cx=0.45 + 0.03 * i)) for i in range(3)]
    result = pipe.process(frames)
    path = save_faces(tmp_path / "sub" / "a.npz", result, {"label": "1"})
    assert [p.name for p in path.parent.iterdir()] == ["a.npz"]  # no temporary left behind
    cached = load_faces(path)
    assert len(cached) == 3 and cached.status == "ok"
    assert cached.crops.shape == (3, 64, 64, 3) and cached.crops.dtype == np.uint8
    assert cached.landmarks.shape == (3, 68, 2) and cached.frame_landmarks.shape == (3, 68, 2)
    assert cached.matrices.shape == (3, 2, 3) and cached.boxes.shape == (3, 4)
    np.testing.assert_array_equal(cached.crops[1], result.crops[1].crop)
    np.testing.assert_array_equal(cached.frame_indices, [0, 1, 2])
    np.testing.assert_allclose(cached.times, [0.0, 0.5, 1.0])
    assert cached.meta["label"] == "1" and cached.meta["n_crops"] == 3
    assert is_complete(path) and is_complete(path, {"crop_size": 64})
    assert not is_complete(path, {"crop_size": 224})
    (tmp_path / "broken.npz").write_bytes(path.read_bytes()[:100])
    assert not is_complete(tmp_path / "broken.npz")


def test_no_face_result_saves_empty_arrays(tmp_path):
    pipe = FacePipeline(RetinaFaceDetector(), crop_size=64)
    result = pipe.process([Frame(0, 0.0, compose_frame(320, 240, faces=0))])
    cached = load_faces(save_faces(tmp_path / "n.npz", result))
    assert cached.status == "no_face" and len(cached) == 0
    assert cached.crops.shape == (0, 64, 64, 3) and cached.landmarks.shape == (0, 68, 2)


def test_npz_relpath():
    assert npz_relpath("videos/a.mp4") == "videos/a.npz"
    assert npz_relpath("a.b.mov") == "a.b.npz"
    outside = npz_relpath("../x/a.mp4")
    assert outside.startswith("_external/a-") and outside.endswith(".npz")
    assert npz_relpath("/abs/a.mp4") != npz_relpath("/other/a.mp4")
    # Two videos that differ only by extension keep it, so they cannot overwrite each other.
    plan = plan_npz_paths(["v/a.mp4", "v/a.avi", "v/b.mp4", "v/a.mp4"])
    assert plan == {"v/a.mp4": "v/a.mp4.npz", "v/a.avi": "v/a.avi.npz", "v/b.mp4": "v/b.npz"}


def test_prep_faces_writes_and_resumes(dataset, tmp_path):
    out = tmp_path / "cache"
    report = prep_faces(dataset, out, settings=FAST, workers=1, progress=False)
    assert report.n_processed == 2 and report.n_skipped == 0
    index = _read_index(out / "index.csv")
    assert [r["path"] for r in index] == ["videos/real_a.mp4", "videos/empty_b.mp4"]
    assert [r["row"] for r in index] == ["0", "1"]
    a, b = index
    assert a["status"] == "ok" and a["npz"] == "videos/real_a.npz" and int(a["n_faces"]) == 6
    assert a["label"] == "0" and a["split"] == "train"  # the CSV's own columns are kept
    assert b["status"] == "no_face" and int(b["n_faces"]) == 0 and b["npz"] == "videos/empty_b.npz"
    cached = load_faces(out / a["npz"])
    assert cached.crops.shape == (6, 96, 96, 3)
    assert np.all(np.diff(cached.frame_indices) > 0) and cached.frame_indices[-1] == 11
    assert np.all((cached.landmarks >= 0) & (cached.landmarks < 96))
    assert cached.meta["settings"]["frames"] == 6

    mtime = (out / a["npz"]).stat().st_mtime_ns
    again = prep_faces(dataset, out, settings=FAST, workers=1, progress=False)
    assert again.n_skipped == 2 and again.n_processed == 0
    assert (out / a["npz"]).stat().st_mtime_ns == mtime
    assert _read_index(out / "index.csv") == index

    # Other settings make the cached files stale: they are recomputed.
    bigger = PrepSettings(frames=6, size=112, threads=1)
    redo = prep_faces(dataset, out, settings=bigger, workers=1, progress=False)
    assert redo.n_processed == 2
    assert load_faces(out / a["npz"]).crops.shape == (6, 112, 112, 3)


def test_prep_faces_missing_and_broken_rows(tmp_path):
    make_face_video(tmp_path / "ok.mp4", n_frames=6, size=(320, 240), scale=0.5)
    (tmp_path / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64)
    meta = _write_csv(
        tmp_path / "m.csv",
        [{"path": "ok.mp4", "label": "0"}, {"path": "nope.mp4", "label": "1"}, {"path": "broken.mp4", "label": "1"}],
    )
    report = prep_faces(meta, tmp_path / "c", settings=FAST, workers=1, progress=False)
    statuses = [r.status for r in report.rows]
    assert statuses[0] == "ok" and statuses[1] == "missing"
    assert statuses[2] not in ("ok", "no_face", "face_too_small")  # a media error code
    assert report.n_failed == 2
    assert not (tmp_path / "c" / "nope.npz").exists() and not (tmp_path / "c" / "broken.npz").exists()
    index = _read_index(tmp_path / "c" / "index.csv")
    assert [r["status"] for r in index] == statuses and index[1]["npz"] == ""


def test_cli_prep_faces(dataset, tmp_path):
    from seethrough.cli import app

    runner = CliRunner()
    out = tmp_path / "cache"
    args = ["prep", "faces", str(dataset), "--out", str(out), "--frames", "4", "--size", "64", "--workers", "1"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "processed 2" in first.output
    index = _read_index(out / "index.csv")
    assert [r["status"] for r in index] == ["ok", "no_face"]
    assert read_meta(out / "videos" / "real_a.npz")["settings"]["crop_size"] == 64
    second = runner.invoke(app, args)
    assert second.exit_code == 0, second.output
    assert "skipped (already cached) 2" in second.output

    tight = runner.invoke(app, [*args, "--margin", "tight", "--force"])
    assert tight.exit_code == 0, tight.output
    assert json.loads(json.dumps(read_meta(out / "videos" / "real_a.npz")))["settings"]["margin"] == 1.0

    bad = runner.invoke(app, ["prep", "faces", str(dataset), "--out", str(out), "--margin", "huge"])
    assert bad.exit_code != 0
    no_path = _write_csv(tmp_path / "nopath.csv", [{"file": "a.mp4", "label": "0"}])
    missing_col = runner.invoke(app, ["prep", "faces", str(no_path), "--out", str(out)])
    assert missing_col.exit_code == 2 and "path" in missing_col.output
