"""Validation of a folder of good and broken media: reasons, CSV, moving bad files, CLI."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from seethrough.cli import app
from seethrough.media import validate_dir, validate_file
from seethrough.media.validate import CSV_COLUMNS
from seethrough.testing.media import make_audio_only, make_face_image, make_face_video, make_truncated_copy

MIN = 30

# relative path -> expected reason
EXPECTED = {
    "good.mp4": "ok",
    "sub/good.mkv": "ok",
    "sub/face.jpg": "ok",
    "short.mp4": "too_short",
    "sub/deeper/noise.mp4": "corrupt",
    "cut.mp4": "truncated",
    "sub/cut.avi": "truncated",
    "zero.mov": "empty",
    "notes.mp4": "unsupported",
    "tone.mp4": "no_video",
}


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, Path]:
    """Originals, built once; each test copies them into its own folder."""
    d = tmp_path_factory.mktemp("validate-src")
    kw = dict(fps=10, size=(160, 120), scale=0.2)
    good = make_face_video(d / "good.mp4", n_frames=36, **kw)
    avi = make_face_video(d / "good.avi", n_frames=36, **kw)
    return {
        "good.mp4": good,
        "sub/good.mkv": make_face_video(d / "good.mkv", n_frames=36, **kw),
        "sub/face.jpg": make_face_image(d / "face.jpg", size=(160, 120), scale=0.2),
        "short.mp4": make_face_video(d / "short.mp4", n_frames=12, **kw),
        "cut.mp4": make_truncated_copy(good, d / "cut.mp4"),
        "sub/cut.avi": make_truncated_copy(avi, d / "cut.avi", keep=0.7),
        "tone.mp4": make_audio_only(d / "tone.mp4", seconds=0.5),
    }


@pytest.fixture
def dataset(tmp_path, sources) -> Path:
    root = tmp_path / "data"
    for rel in EXPECTED:
        dst = root / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if rel in sources:
            dst.write_bytes(sources[rel].read_bytes())
    (root / "sub/deeper/noise.mp4").write_bytes(np.random.default_rng(0).integers(0, 256, 3000, dtype=np.uint8).tobytes())
    (root / "zero.mov").write_bytes(b"")
    (root / "notes.mp4").write_text("meeting notes, definitely not a video\n" * 5)
    (root / "readme.txt").write_text("not media: ignored by extension")
    return root


def test_validate_file_good_and_short(sources):
    good = validate_file(sources["good.mp4"], min_frames=MIN)
    assert (good.ok, good.reason, good.frames, good.codec) == (True, "ok", 36, "h264")
    assert (good.width, good.height, good.fps) == (160, 120, 10.0)
    assert good.duration_s == pytest.approx(3.6, abs=0.05)
    short = validate_file(sources["short.mp4"], min_frames=MIN)
    assert (short.ok, short.reason, short.frames) == (False, "too_short", 12)
    assert "12 frames" in short.message
    # the default threshold is 150 frames
    assert validate_file(sources["good.mp4"]).reason == "too_short"
    image = validate_file(sources["sub/face.jpg"])
    assert (image.ok, image.frames) == (True, 1)


def test_validate_dir_reasons_and_csv(dataset):
    report = validate_dir(dataset, min_frames=MIN, workers=1, progress=False)
    got = {Path(r.path).relative_to(dataset).as_posix(): r.reason for r in report.results}
    assert got == EXPECTED
    assert all(r.message for r in report.bad)
    assert report.counts["ok"] == 3 and report.counts["truncated"] == 2
    assert report.csv_path == dataset / "validation.csv"
    with open(report.csv_path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0]) == CSV_COLUMNS
    by_path = {row["path"]: row for row in rows}
    assert set(by_path) == set(EXPECTED)
    assert {p: row["reason"] for p, row in by_path.items()} == EXPECTED
    assert by_path["good.mp4"]["ok"] == "true" and by_path["good.mp4"]["frames"] == "36"
    assert by_path["sub/good.mkv"]["codec"] == "h264" and by_path["sub/good.mkv"]["width"] == "160"
    assert by_path["zero.mov"]["ok"] == "false" and by_path["zero.mov"]["frames"] == ""
    # nothing moved or deleted without --move-bad
    assert all((dataset / rel).exists() for rel in EXPECTED)


def test_move_bad_moves_only_bad_files(dataset, tmp_path):
    quarantine = tmp_path / "bad"
    (quarantine / "sub/deeper").mkdir(parents=True)
    (quarantine / "sub/deeper/noise.mp4").write_bytes(b"already here")  # must not be overwritten
    report = validate_dir(dataset, min_frames=MIN, csv_path=tmp_path / "report.csv", move_bad=quarantine, workers=2, progress=False)
    bad = {rel for rel, reason in EXPECTED.items() if reason != "ok"}
    for rel in EXPECTED:
        assert (dataset / rel).exists() == (rel not in bad), rel
    for rel in bad - {"sub/deeper/noise.mp4"}:
        assert (quarantine / rel).is_file(), rel
    assert (quarantine / "sub/deeper/noise.mp4").read_bytes() == b"already here"
    assert (quarantine / "sub/deeper/noise.1.mp4").stat().st_size == 3000
    assert len(report.moved) == len(bad)
    assert (tmp_path / "report.csv").is_file() and not (dataset / "validation.csv").exists()


def test_move_bad_inside_root_is_not_rescanned(dataset):
    validate_dir(dataset, min_frames=MIN, move_bad=dataset / "_bad", workers=1, progress=False)
    again = validate_dir(dataset, min_frames=MIN, move_bad=dataset / "_bad", workers=1, progress=False)
    assert {r.reason for r in again.results} == {"ok"} and len(again.results) == 3


def test_cli_validate(dataset, tmp_path):
    runner = CliRunner()
    out_csv = tmp_path / "v.csv"
    res = runner.invoke(app, ["prep", "validate", str(dataset), "--min-frames", str(MIN), "--csv", str(out_csv), "-j", "1"])
    assert res.exit_code == 0, res.output
    assert "truncated" in res.stdout and "too_short" in res.stdout and "total" in res.stdout
    with open(out_csv, newline="") as fh:
        assert len(list(csv.DictReader(fh))) == len(EXPECTED)
    strict = runner.invoke(app, ["prep", "validate", str(dataset), "--min-frames", str(MIN), "--strict", "-j", "1"])
    assert strict.exit_code == 1
    missing = runner.invoke(app, ["prep", "validate", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2
