"""Cutting videos to N MJPEG frames: exact counts, quality, resumability, folder mirroring, CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from seethrough.cli import app
from seethrough.media import cut_dir, cut_video, iter_frames, probe
from seethrough.media.cut import temp_path
from seethrough.testing.media import compose_frame, make_face_image, make_face_video

KW = dict(fps=10, size=(160, 120), scale=0.2)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_face_video(tmp_path_factory.mktemp("cut-src") / "clip.mp4", n_frames=30, **KW)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-9)))


def test_cut_exact_frames_mjpeg(clip, tmp_path):
    dst = tmp_path / "out" / "clip.avi"
    res = cut_video(clip, dst, n_frames=20)
    assert (res.status, res.frames, res.ok) == ("written", 20, True)
    info = probe(dst, verify=True)
    assert (info.container, info.codec, info.frame_count) == ("avi", "mjpeg", 20)
    assert (info.width, info.height, info.fps) == (160, 120, 10.0)
    src = [f.image for f in iter_frames(clip, limit=20)]
    out = [f.image for f in iter_frames(dst)]
    assert len(out) == 20
    assert min(psnr(a, b) for a, b in zip(src, out)) > 30  # same frames, same order
    assert psnr(src[0], out[19]) < psnr(src[19], out[19])
    assert not temp_path(dst).exists()


def test_quality_setting(clip, tmp_path):
    best = cut_video(clip, tmp_path / "q2.avi", n_frames=10, quality=2)
    worst = cut_video(clip, tmp_path / "q31.avi", n_frames=10, quality=31)
    assert Path(best.dst).stat().st_size > 1.5 * Path(worst.dst).stat().st_size
    with pytest.raises(ValueError):
        cut_video(clip, tmp_path / "bad.avi", quality=1)


def test_resume_skips_complete_and_ignores_stale_temp(clip, tmp_path):
    dst = tmp_path / "clip.avi"
    temp_path(dst).write_bytes(b"half-written garbage from a crash")
    first = cut_video(clip, dst, n_frames=15)
    assert first.status == "written" and probe(dst).frame_count == 15
    assert not temp_path(dst).exists()
    stamp = dst.stat().st_mtime_ns
    second = cut_video(clip, dst, n_frames=15)
    assert (second.status, second.frames) == ("skipped", 15)
    assert dst.stat().st_mtime_ns == stamp
    # a different N is not "complete": redone
    third = cut_video(clip, dst, n_frames=12)
    assert third.status == "written" and probe(dst).frame_count == 12


def test_crash_leaves_no_output(clip, tmp_path, monkeypatch):
    import seethrough.media.cut as cut_mod

    def boom(*_a, **_k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(cut_mod.os, "replace", boom)
    dst = tmp_path / "clip.avi"
    with pytest.raises(RuntimeError):
        cut_video(clip, dst, n_frames=5)
    assert not dst.exists() and not temp_path(dst).exists()


def test_short_source(clip, tmp_path):
    dst = tmp_path / "long.avi"
    res = cut_video(clip, dst, n_frames=50)
    assert (res.status, res.frames, res.ok) == ("too_short", 30, False)
    assert not dst.exists() and not temp_path(dst).exists()
    res = cut_video(clip, dst, n_frames=50, allow_short=True)
    assert (res.status, res.frames) == ("written", 30)
    assert cut_video(clip, dst, n_frames=50, allow_short=True).status == "skipped"


def test_rotated_source_is_cut_upright(tmp_path):
    import av

    src = tmp_path / "portrait.mp4"
    with av.open(str(src), "w") as c:
        s = c.add_stream("libx264", rate=10)
        s.width, s.height, s.pix_fmt, s.options = 64, 48, "yuv420p", {"preset": "ultrafast"}
        s.set_display_rotation(-90)
        for i in range(6):
            img = compose_frame(64, 48, scale=0.1, cx=0.3, cy=0.3, t=i / 6)
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    dst = tmp_path / "portrait.avi"
    assert cut_video(src, dst, n_frames=6).status == "written"
    info = probe(dst)
    assert (info.width, info.height, info.rotation) == (48, 64, 0)
    upright = [f.image for f in iter_frames(src)]
    assert min(psnr(a, f.image) for a, f in zip(upright, iter_frames(dst))) > 30


def test_cut_dir_mirrors_and_resumes(clip, tmp_path):
    src = tmp_path / "src"
    (src / "a" / "b").mkdir(parents=True)
    (src / "one.mp4").write_bytes(clip.read_bytes())
    (src / "a" / "b" / "two.mp4").write_bytes(clip.read_bytes())
    make_face_video(src / "a" / "three.webm", n_frames=12, **KW)
    make_face_image(src / "a" / "still.jpg", size=(160, 120))  # images are not cut
    (src / "a" / "broken.mkv").write_bytes(b"\x1a\x45\xdf\xa3" + bytes(200))
    out = tmp_path / "out"
    report = cut_dir(src, out, n_frames=20, workers=1, progress=False)
    status = {Path(r.src).relative_to(src).as_posix(): r.status for r in report.results}
    assert status == {"one.mp4": "written", "a/b/two.mp4": "written", "a/three.webm": "too_short", "a/broken.mkv": "failed"}
    assert probe(out / "one.avi").frame_count == 20 and probe(out / "a/b/two.avi").frame_count == 20
    assert not (out / "a/three.avi").exists() and not (out / "a/still.avi").exists()
    assert report.counts == {"written": 2, "too_short": 1, "failed": 1}
    again = cut_dir(src, out, n_frames=20, workers=2, progress=False)
    assert again.counts == {"skipped": 2, "too_short": 1, "failed": 1}


def test_cut_dir_name_clash(clip, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "x.mp4").write_bytes(clip.read_bytes())
    (src / "x.mov").write_bytes(clip.read_bytes())
    report = cut_dir(src, tmp_path / "out", n_frames=5, workers=1, progress=False)
    assert sorted(Path(r.dst).name for r in report.results) == ["x.mov.avi", "x.mp4.avi"]


def test_cli_cut(clip, tmp_path):
    src = tmp_path / "src" / "sub"
    src.mkdir(parents=True)
    (src / "v.mp4").write_bytes(clip.read_bytes())
    out = tmp_path / "out"
    runner = CliRunner()
    args = ["prep", "cut", str(tmp_path / "src"), "--out", str(out), "--frames", "10", "-q", "5", "-j", "1"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "written" in res.stdout
    assert probe(out / "sub" / "v.avi").frame_count == 10
    res = runner.invoke(app, args)
    assert res.exit_code == 0 and "skipped" in res.stdout
