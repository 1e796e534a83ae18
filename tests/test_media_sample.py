"""Frame sampling and decoding: counts, spacing, times, and pixel equality with a full decode."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from seethrough.media import even_indices, iter_frames, load_image, sample_frames
from seethrough.testing.media import compose_frame, make_face_image, make_face_video

N = 40
FPS = 10


def write_gop_clip(path: Path, n: int = N, gop: int = 8, bframes: int = 2, size=(192, 144)) -> Path:
    """H.264 with a keyframe every ``gop`` frames and B-frames, so seeking has work to do."""
    import av

    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=FPS)
        s.width, s.height, s.pix_fmt = size[0], size[1], "yuv420p"
        s.options = {"preset": "veryfast", "g": str(gop), "keyint_min": str(gop), "bf": str(bframes), "sc_threshold": "0"}
        for i in range(n):
            img = compose_frame(size[0], size[1], scale=0.2, cx=0.2 + 0.6 * i / n, t=i / n)
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("sample")
    out = {"gop": write_gop_clip(d / "gop.mp4")}
    for ext in ("mp4", "mkv", "webm", "avi"):
        out[ext] = make_face_video(d / f"clip.{ext}", n_frames=N, fps=FPS, size=(160, 120), scale=0.2)
    out["short"] = make_face_video(d / "short.mp4", n_frames=7, fps=FPS, size=(160, 120), scale=0.2)
    out["image"] = make_face_image(d / "still.png", size=(160, 120), scale=0.2)
    return out


@pytest.fixture(scope="module")
def full_decodes(clips) -> dict[str, list]:
    return {name: list(iter_frames(path)) for name, path in clips.items() if name != "image"}


def test_even_indices():
    assert even_indices(10, 4) == [0, 3, 6, 9]
    assert even_indices(5, 8) == [0, 1, 2, 3, 4]
    assert even_indices(9, 1) == [0]
    assert even_indices(0, 4) == [] and even_indices(10, 0) == []
    idx = even_indices(250, 32)
    assert len(idx) == 32 and idx[0] == 0 and idx[-1] == 249
    gaps = np.diff(idx)
    assert gaps.max() - gaps.min() <= 1


def test_iter_frames_full_decode(full_decodes):
    for name, frames in full_decodes.items():
        expected = 7 if name == "short" else N
        assert [f.index for f in frames] == list(range(expected)), name
        times = [f.time_s for f in frames]
        assert times == pytest.approx([i / FPS for i in range(expected)], abs=1e-3), name


@pytest.mark.parametrize("name", ["gop", "mp4", "mkv", "webm", "avi"])
@pytest.mark.parametrize("strategy", ["seek", "sequential"])
def test_even_sampling_matches_full_decode(clips, full_decodes, name, strategy):
    n = 12
    frames = sample_frames(clips[name], n, strategy=strategy)
    assert [f.index for f in frames] == even_indices(N, n)
    assert frames[0].index == 0 and frames[-1].index == N - 1
    times = [f.time_s for f in frames]
    assert all(b > a for a, b in zip(times, times[1:]))
    full = full_decodes[name]
    for f in frames:
        assert f.time_s == pytest.approx(full[f.index].time_s, abs=1e-6)
        assert np.array_equal(f.image, full[f.index].image), f"{name} frame {f.index} differs from the full decode"


def test_default_strategy_and_count(clips, full_decodes):
    frames = sample_frames(clips["gop"], 16)
    assert len(frames) == 16 and len({f.index for f in frames}) == 16
    assert all(np.array_equal(f.image, full_decodes["gop"][f.index].image) for f in frames)
    assert frames[0].image.dtype == np.uint8 and frames[0].image.shape == (144, 192, 3)


def test_first_mode(clips, full_decodes):
    frames = sample_frames(clips["gop"], 5, mode="first")
    assert [f.index for f in frames] == [0, 1, 2, 3, 4]
    assert all(np.array_equal(f.image, full_decodes["gop"][f.index].image) for f in frames)


def test_shorter_than_n(clips):
    for mode in ("even", "first"):
        frames = sample_frames(clips["short"], 32, mode=mode)
        assert [f.index for f in frames] == list(range(7)), mode


def test_image_input(clips):
    frames = sample_frames(clips["image"], 16)
    assert len(frames) == 1
    assert (frames[0].index, frames[0].time_s) == (0, 0.0)
    assert np.array_equal(frames[0].image, load_image(clips["image"]))
    assert len(list(iter_frames(clips["image"]))) == 1


def test_max_side(clips):
    frames = sample_frames(clips["gop"], 3, max_side=96)
    assert all(f.image.shape == (72, 96, 3) for f in frames)
    assert sample_frames(clips["image"], 1, max_side=80)[0].image.shape == (60, 80, 3)
    # never upscales
    assert sample_frames(clips["gop"], 1, max_side=1000)[0].image.shape == (144, 192, 3)


def test_iter_frames_limit(clips):
    assert [f.index for f in iter_frames(clips["mkv"], limit=3)] == [0, 1, 2]


def test_bad_arguments(clips):
    assert sample_frames(clips["mp4"], 0) == []
    with pytest.raises(ValueError):
        sample_frames(clips["mp4"], 4, mode="middle")  # type: ignore[arg-type]


def test_seek_strategy_decodes_sparsely(clips, monkeypatch):
    """With keyframes every 8 frames, 4 samples must not decode all 40 frames."""
    from seethrough.media import decode

    seeks: list[int] = []
    decoded = [0]
    real_seek, real_frames = decode.VideoReader.seek, decode.VideoReader.frames

    def seek(self, pts):
        seeks.append(pts)
        return real_seek(self, pts)

    def frames(self, wanted=None):
        for f in real_frames(self, wanted):
            decoded[0] += 1
            yield f

    monkeypatch.setattr(decode.VideoReader, "seek", seek)
    monkeypatch.setattr(decode.VideoReader, "frames", frames)
    out = sample_frames(clips["gop"], 4, strategy="seek")
    assert [f.index for f in out] == [0, 13, 26, 39]
    assert len(seeks) >= 3
    assert decoded[0] < N // 2


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_decoding_leaves_no_decoder_threads(tmp_path):
    """Decoders must be freed when a call returns, not at the next garbage collection:
    a forked worker that inherits an uncollected decoder hangs when it collects it."""
    import gc
    import os

    import av

    path = tmp_path / "rot.mp4"
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=10)
        s.width, s.height, s.pix_fmt, s.options = 64, 48, "yuv420p", {"preset": "ultrafast"}
        s.set_display_rotation(90)
        for i in range(6):
            for p in s.encode(av.VideoFrame.from_ndarray(compose_frame(64, 48, scale=0.1, t=i / 6), format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)

    def threads() -> int:
        return len(os.listdir("/proc/self/task"))

    from seethrough.media import probe

    gc.collect()
    gc.disable()
    try:
        before = threads()
        for _ in range(4):
            probe(path, verify=True)
            sample_frames(path, 3)
            list(iter_frames(path))
            next(iter_frames(path))
        assert threads() <= before + 1
    finally:
        gc.enable()
