"""#13 'Inputs users send': iPhone photos (HEIC/HEIF, AVIF), screen recordings and social-media
files (vertical video with rotation, variable frame rate, animated GIF and WebP), each made here,
probed, decoded upright and analysed like any other file."""

from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from seethrough.analysis import AnalyzeOptions, analyze
from seethrough.media import load_image, probe, sample_frames
from seethrough.media.probe import sniff_format
from seethrough.testing.media import compose_frame

RED = (255, 0, 0)


def _upright(width: int = 480, height: int = 640) -> np.ndarray:
    """A portrait face photo with a red mark in its top-left corner (shows which way is up)."""
    img = compose_frame(width, height, scale=0.8)
    img[:40, :40] = RED
    return img


def _red_top_left(img: np.ndarray) -> bool:
    corner = img[5:30, 5:30].reshape(-1, 3).mean(axis=0)
    return corner[0] > 180 and corner[1] < 80 and corner[2] < 80


def write_sideways_photo(path: Path) -> Path:
    """``_upright()`` stored turned 90 degrees anticlockwise with EXIF orientation 6 (display turns
    it clockwise), as a phone held upright writes it. HEIC through pillow-heif's Pillow plugin,
    which, like an iPhone, also writes the turn as HEIF's own rotation box (irot)."""
    from PIL import Image

    if path.suffix == ".heic":
        import pillow_heif

        pillow_heif.register_heif_opener()
    stored = Image.fromarray(np.ascontiguousarray(np.rot90(_upright(), k=1)))
    exif = Image.Exif()
    exif[0x0112] = 6
    stored.save(path, exif=exif.tobytes(), quality=90)
    return path


@pytest.mark.parametrize("ext, fmt", [("heic", "heif"), ("avif", "avif")])
def test_iphone_photos_are_read_upright_like_any_photo(tmp_path, tiny_predictor, ext, fmt):
    path = write_sideways_photo(tmp_path / f"IMG_0001.{ext}")
    assert sniff_format(path.read_bytes()[:64]) == fmt
    info = probe(path)
    assert (info.kind, info.container, info.width, info.height) == ("image", fmt, 480, 640)
    # AVIF keeps the EXIF turn for the reader to apply; pillow-heif applies HEIF's own as it decodes
    assert info.rotation == (90 if fmt == "avif" else 0)
    img = load_image(path)
    assert img.shape == (640, 480, 3) and _red_top_left(img)  # EXIF orientation applied, once
    a = analyze(path, predictor=tiny_predictor, options=AnalyzeOptions(explain=False))
    assert a.status == "ok", a.message
    assert a.media["kind"] == "image" and a.media["container"] == fmt and a.frames[0].face_box


def test_iso_media_brands_tell_photos_from_videos():
    def ftyp(major: bytes, *compatible: bytes) -> bytes:
        body = major + b"\x00\x00\x00\x00" + b"".join(compatible)
        return (8 + len(body)).to_bytes(4, "big") + b"ftyp" + body + b"\x00" * 16

    assert sniff_format(ftyp(b"heic", b"mif1", b"heic")) == "heif"
    assert sniff_format(ftyp(b"mif1", b"heic", b"miaf")) == "heif"
    assert sniff_format(ftyp(b"avif", b"mif1", b"miaf")) == "avif"
    assert sniff_format(ftyp(b"mif1", b"avif")) == "avif"
    assert sniff_format(ftyp(b"isom", b"isom", b"iso2", b"avc1", b"mp41")) == "mp4"
    assert sniff_format(ftyp(b"qt  ", b"qt  ")) == "mov"


def test_heic_needs_nothing_registered_by_the_caller(tmp_path):
    """A fresh process (the web app's probe and worker children) reads HEIC through seethrough alone."""
    path = write_sideways_photo(tmp_path / "IMG_0002.heic")
    code = ("import json, sys; from seethrough.media import probe, load_image; i = probe(sys.argv[1]); "
            "print(json.dumps([i.kind, i.container, i.width, i.height, list(load_image(sys.argv[1]).shape)]))")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == ["image", "heif", 480, 640, [640, 480, 3]]


def test_scan_and_validate_pick_up_iphone_photos():
    from seethrough.media import IMAGE_EXTENSIONS

    assert {".heic", ".heif", ".avif"} <= set(IMAGE_EXTENSIONS)


# -------------------------------------------------------------- social media and screen recordings


def _mux_all(container, stream, frames) -> None:
    """Encode ``frames`` into ``stream`` and flush the encoder."""
    for frame in [*frames, None]:
        for packet in stream.encode(frame):
            container.mux(packet)


def write_vertical_phone_video(path: Path, n: int = 12) -> Path:
    """A portrait recording (180x320 upright) stored landscape (320x180) with a display rotation,
    as phones record."""
    import av

    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=12)
        s.width, s.height, s.pix_fmt, s.options = 320, 180, "yuv420p", {"preset": "ultrafast", "crf": "18"}
        s.set_display_rotation(-90)  # the display turns it 90 degrees clockwise
        frames = []
        for i in range(n):
            up = compose_frame(180, 320, scale=0.9, t=i / n)
            up[:40, :40] = RED
            frames.append(av.VideoFrame.from_ndarray(np.ascontiguousarray(np.rot90(up, k=1)), format="rgb24"))
        _mux_all(c, s, frames)
    return path


def test_vertical_video_with_rotation_is_analysed_upright(tmp_path, tiny_predictor):
    path = write_vertical_phone_video(tmp_path / "story.mp4")
    info = probe(path)
    assert (info.width, info.height, info.rotation) == (180, 320, 90)
    frames = sample_frames(path, 4)
    assert all(f.image.shape == (320, 180, 3) and _red_top_left(f.image) for f in frames)
    a = analyze(path, predictor=tiny_predictor, options=AnalyzeOptions(frames=4, explain=False))
    assert a.status == "ok", a.message
    assert a.media["width"] == 180 and a.media["height"] == 320


#: Presentation times (ms) of a screen recording that only writes a frame when the screen changes.
VFR_MS = [0, 33, 66, 300, 333, 1200, 1233, 1266, 2000, 2500]


def write_variable_rate_video(path: Path) -> Path:
    import av

    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=30)
        s.width, s.height, s.pix_fmt, s.options = 320, 240, "yuv420p", {"preset": "ultrafast"}
        s.codec_context.time_base = Fraction(1, 1000)
        s.time_base = Fraction(1, 1000)
        frames = []
        for i, ms in enumerate(VFR_MS):
            frame = av.VideoFrame.from_ndarray(compose_frame(320, 240, scale=0.6, t=i / len(VFR_MS)), format="rgb24")
            frame.pts, frame.time_base = ms, Fraction(1, 1000)
            frames.append(frame)
        _mux_all(c, s, frames)
    return path


def test_variable_frame_rate_keeps_each_frames_own_time(tmp_path, tiny_predictor):
    path = write_variable_rate_video(tmp_path / "screen.mp4")
    frames = sample_frames(path, len(VFR_MS))
    assert [f.index for f in frames] == list(range(len(VFR_MS)))
    assert [round(f.time_s * 1000) for f in frames] == VFR_MS  # real times, not index / fps
    a = analyze(path, predictor=tiny_predictor, options=AnalyzeOptions(frames=5, explain=False))
    assert a.status == "ok", a.message
    assert [round(f.time_s * 1000) for f in a.frames] == [VFR_MS[f.index] for f in a.frames]


@pytest.mark.parametrize("ext, fmt", [("gif", "gif"), ("webp", "webp")])
def test_animated_gif_and_webp_are_analysed(tmp_path, tiny_predictor, ext, fmt):
    from PIL import Image

    pics = [Image.fromarray(compose_frame(320, 240, scale=0.8, cx=0.4 + 0.05 * i)) for i in range(6)]
    path = tmp_path / f"reaction.{ext}"
    pics[0].save(path, save_all=True, append_images=pics[1:], duration=100, loop=0)
    info = probe(path)
    assert (info.kind, info.container, info.extra["n_images"]) == ("image", fmt, 6)
    a = analyze(path, predictor=tiny_predictor, options=AnalyzeOptions(explain=False))
    assert a.status == "ok", a.message
    assert len(a.frames) == 1 and a.frames[0].face_box
