"""`seethrough prep meta` through Typer's CliRunner."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from typer.testing import CliRunner

from seethrough.cli import app

runner = CliRunner()


def touch(root: Path, *rels: str) -> None:
    for rel in rels:
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"")


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_ffpp_without_frame_counting(tmp_path: Path) -> None:
    root = tmp_path / "ffpp"
    ids = [f"{i:03d}" for i in range(10)]
    touch(root, *(f"original_sequences/youtube/c23/videos/{i}.mp4" for i in ids))
    touch(root, *(f"manipulated_sequences/Deepfakes/c23/videos/{a}_{b}.mp4" for a, b in zip(ids[::2], ids[1::2])))
    touch(root, *(f"manipulated_sequences/FaceSwap/c40/videos/{b}_{a}.mp4" for a, b in zip(ids[::2], ids[1::2])))
    (root / "test.json").write_text(json.dumps([["008", "009"]]))
    out = tmp_path / "out" / "meta.csv"

    result = runner.invoke(
        app, ["prep", "meta", str(root), "--layout", "ffpp", "--out", str(out), "--no-count-frames", "--val-frac", "0.25", "--seed", "1"]
    )
    assert result.exit_code == 0, result.output
    for word in ("Deepfakes", "FaceSwap", "original", "test", "20 files", "Wrote 20 rows"):
        assert word in result.output

    rows = read_csv(out)
    assert list(rows[0]) == ["path", "label", "method", "dataset", "split", "frames", "group", "compression", "source"]
    assert len(rows) == 20 and all(r["frames"] == "" for r in rows)
    assert {r["split"] for r in rows if r["group"] == "ffpp/yt-008"} == {"test"}
    assert sum(r["split"] == "test" for r in rows) == 4
    assert {r["split"] for r in rows} == {"train", "val", "test"}
    splits_per_group: dict[str, set[str]] = {}
    for r in rows:
        splits_per_group.setdefault(r["group"], set()).add(r["split"])
    assert all(len(s) == 1 for s in splits_per_group.values())
    assert {r["compression"] for r in rows} == {"c23", "c40"}
    assert all("\\" not in r["path"] and not r["path"].startswith("/") for r in rows)

    again = tmp_path / "again.csv"
    runner.invoke(app, ["prep", "meta", str(root), "-o", str(again), "--no-count-frames", "--val-frac", "0.25", "--seed", "1"])
    assert again.read_text() == out.read_text()  # auto-detected, same seed: same file


def test_counts_frames_of_real_videos(tmp_path: Path) -> None:
    from seethrough.testing.media import make_face_video

    root = tmp_path / "clips"
    (root / "real").mkdir(parents=True)
    (root / "fake" / "FaceSwap").mkdir(parents=True)
    make_face_video(root / "real" / "r.mp4", n_frames=10, size=(160, 120))
    make_face_video(root / "fake" / "FaceSwap" / "f.avi", n_frames=12, size=(160, 120))
    out = tmp_path / "meta.csv"

    result = runner.invoke(app, ["prep", "meta", str(root), "--out", str(out), "--workers", "1"])
    assert result.exit_code == 0, result.output
    frames = {r["path"]: r["frames"] for r in read_csv(out)}
    assert frames == {"real/r.mp4": "10", "fake/FaceSwap/f.avi": "12"}
    assert "22 frames" in result.output


def test_errors_are_reported_not_raised(tmp_path: Path) -> None:
    touch(tmp_path / "odd", "clips/a.mp4")
    result = runner.invoke(app, ["prep", "meta", str(tmp_path / "odd"), "--out", str(tmp_path / "m.csv")])
    assert result.exit_code == 2  # the command cannot run (see seethrough.cli.errors)
    assert "Cannot tell the layout" in result.output
    assert not (tmp_path / "m.csv").exists()

    result = runner.invoke(app, ["prep", "meta", str(tmp_path / "odd"), "--layout", "nope", "--out", str(tmp_path / "m.csv")])
    assert result.exit_code == 2
    assert "nope" in result.output

    result = runner.invoke(app, ["prep", "meta", str(tmp_path / "missing"), "--out", str(tmp_path / "m.csv")])
    assert result.exit_code == 2 and "not a folder" in result.output
