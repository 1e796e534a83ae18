"""Probing: containers, images, rotation and every kind of bad file, on generated media."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from seethrough.errors import (
    CorruptMediaError,
    EmptyMediaError,
    MediaTooLargeError,
    NoVideoStreamError,
    UnsupportedMediaError,
)
from seethrough.media import (
    Orientation,
    TruncatedMediaError,
    detect_kind,
    iter_frames,
    load_image,
    probe,
    sample_frames,
    sniff_format,
)
from seethrough.testing.media import (
    compose_frame,
    make_audio_only,
    make_face_image,
    make_face_video,
    make_truncated_copy,
)

SIZE = (320, 240)
N = 24


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("probe")
    out = {}
    for ext in ("mp4", "avi", "mov", "mkv", "webm"):
        out[ext] = make_face_video(d / f"clip.{ext}", n_frames=N, fps=12, size=SIZE, scale=0.4)
    for ext in ("jpg", "png", "webp", "bmp"):
        out[ext] = make_face_image(d / f"face.{ext}", size=SIZE, scale=0.4)
    return out


def write_rotated(path: Path, ccw_degrees: int, n: int = 4, size=(64, 48), **container_options) -> Path:
    """A small H.264 clip whose display matrix rotates it ``ccw_degrees`` counter-clockwise."""
    import av

    with av.open(str(path), "w", options=container_options or None) as c:
        s = c.add_stream("libx264", rate=10)
        s.width, s.height, s.pix_fmt = size[0], size[1], "yuv420p"
        s.options = {"preset": "ultrafast"}
        s.set_display_rotation(ccw_degrees)
        for i in range(n):
            img = compose_frame(size[0], size[1], scale=0.1, cx=0.3, cy=0.3, t=i / n)
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def raw_frames(path: Path) -> list[np.ndarray]:
    """Decoded pixels exactly as stored, without any rotation."""
    import av

    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


# ------------------------------------------------------------------------- containers


@pytest.mark.parametrize(
    "ext, container, codec",
    [("mp4", "mp4", "h264"), ("mov", "mov", "h264"), ("mkv", "matroska", "h264"), ("avi", "avi", "mjpeg"), ("webm", "webm", "vp9")],
)
def test_probe_video_containers(media, ext, container, codec):
    info = probe(media[ext])
    assert info.kind == "video"
    assert (info.container, info.codec) == (container, codec)
    assert (info.width, info.height) == SIZE
    assert info.fps == pytest.approx(12.0)
    assert info.duration_s == pytest.approx(N / 12, abs=0.1)
    assert info.frame_count == N  # from the header (mp4/mov/avi) or duration x fps (mkv/webm)
    assert info.rotation == 0 and info.has_audio is False
    assert info.size_bytes == media[ext].stat().st_size
    exact = probe(media[ext], verify=True)
    assert (exact.frame_count, exact.extra["frame_count_source"]) == (N, "decoded")
    assert probe(media[ext], count_frames=True).extra["frame_count_source"] == "packets"


@pytest.mark.parametrize("ext, fmt", [("jpg", "jpeg"), ("png", "png"), ("webp", "webp"), ("bmp", "bmp")])
def test_probe_images(media, ext, fmt):
    info = probe(media[ext])
    assert (info.kind, info.container, info.codec) == ("image", fmt, fmt)
    assert (info.width, info.height, info.frame_count, info.fps) == (*SIZE, 1, None)
    assert detect_kind(media[ext]) == "image"
    img = load_image(media[ext])
    assert img.shape == (SIZE[1], SIZE[0], 3) and img.dtype == np.uint8


def test_has_audio(tmp_path):
    info = probe(make_face_video(tmp_path / "a.mp4", n_frames=6, size=(64, 48), scale=0.1, audio=True))
    assert info.has_audio is True and info.kind == "video"


def test_kind_comes_from_content_not_extension(media, tmp_path):
    fake_avi = tmp_path / "really_mp4.avi"
    fake_avi.write_bytes(media["mp4"].read_bytes())
    assert probe(fake_avi).container == "mp4"
    png_as_mp4 = tmp_path / "picture.mp4"
    png_as_mp4.write_bytes(media["png"].read_bytes())
    info = probe(png_as_mp4)
    assert (info.kind, info.container) == ("image", "png")
    assert len(sample_frames(png_as_mp4, 8)) == 1


def test_sniff_format():
    assert sniff_format(b"\x00\x00\x00\x18ftypisom") == "mp4"
    assert sniff_format(b"\x00\x00\x00\x14ftypqt  ") == "mov"
    assert sniff_format(b"RIFF\x00\x00\x00\x00AVI LIST") == "avi"
    assert sniff_format(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "webp"
    assert sniff_format(b"hello world, not media") is None


# --------------------------------------------------------------------------- rotation


@pytest.mark.parametrize("ext", ["mp4", "mov", "mkv"])
@pytest.mark.parametrize("ccw, k", [(-90, -1), (90, 1), (180, 2)])
def test_display_matrix_rotation_is_applied(tmp_path, ext, ccw, k):
    path = write_rotated(tmp_path / f"rot.{ext}", ccw)
    info = probe(path)
    assert info.rotation == (-ccw) % 360
    assert (info.width, info.height) == ((48, 64) if k % 2 else (64, 48))
    raw = raw_frames(path)
    frames = list(iter_frames(path))
    assert len(frames) == len(raw) == 4
    for f, r in zip(frames, raw):
        assert np.array_equal(f.image, np.rot90(r, k))
    sampled = sample_frames(path, 2)
    assert all(np.array_equal(s.image, np.rot90(raw[s.index], k)) for s in sampled)


def test_orientation_from_display_matrix_flips():
    one = 1 << 16
    hflip = np.array([-one, 0, 0, 0, one, 0, 0, 0, 1 << 30], dtype=np.int32)
    img = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    o = Orientation.from_display_matrix(hflip)
    assert np.array_equal(o.apply(img), img[:, ::-1])
    identity = np.array([one, 0, 0, 0, one, 0, 0, 0, 1 << 30], dtype=np.int32)
    assert Orientation.from_display_matrix(identity).apply(img) is img
    assert Orientation.from_rotation(270).apply(img).shape == (3, 2, 3)


def test_exif_orientation_is_applied(tmp_path):
    from PIL import Image

    pixels = compose_frame(80, 60, scale=0.1, cx=0.3, cy=0.3)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: display rotates 90 degrees clockwise
    path = tmp_path / "sideways.png"
    Image.fromarray(pixels).save(path, exif=exif)
    info = probe(path)
    assert (info.width, info.height, info.rotation) == (60, 80, 90)
    assert np.array_equal(load_image(path), np.rot90(pixels, -1))
    assert load_image(path, max_side=40).shape == (40, 30, 3)


# ------------------------------------------------------------------------- bad files


def test_empty_file(tmp_path):
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(EmptyMediaError, match="empty"):
        probe(tmp_path / "empty.mp4")


def test_text_renamed_to_mp4(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("this is a shopping list, not a video\n" * 10)
    with pytest.raises(UnsupportedMediaError, match="text file"):
        probe(path)
    with pytest.raises(UnsupportedMediaError):
        sample_frames(path, 4)


@pytest.mark.parametrize("name,text,kind", [
    ("drawing.jpg", '<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"></svg>\n',
     "an SVG drawing"),
    ("page.jpg", "<!doctype html><html><body>not a photo</body></html>\n", "an HTML web page"),
    ("page.png", "<html><head></head><body>x</body></html>\n", "an HTML web page"),
])
def test_markup_named_as_an_image_says_what_it_is(tmp_path, name, text, kind):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(UnsupportedMediaError) as err:
        probe(path)
    msg = str(err.value)
    assert msg.startswith(f"{name} is {kind}") and "extension is misleading" in msg
    assert "IMAGE2" not in msg and "header is damaged" not in msg  # FFmpeg's words never reach the user


def test_a_damaged_mp4_index_is_damage_not_a_missing_stream(tmp_path):
    data = bytearray(make_face_video(tmp_path / "ok.mp4", n_frames=8, size=(160, 120)).read_bytes())
    i = data.find(b"moov")
    data[i + 4:i + 64] = bytes(60)  # the moov box's contents zeroed: no stream is listed any more
    (tmp_path / "bad.mp4").write_bytes(bytes(data))
    with pytest.raises(CorruptMediaError, match="damaged video"):
        probe(tmp_path / "bad.mp4")


def test_random_bytes(tmp_path):
    path = tmp_path / "noise.mp4"
    path.write_bytes(np.random.default_rng(1).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    with pytest.raises(CorruptMediaError, match="not a recognisable") as err:
        probe(path)
    assert not isinstance(err.value, TruncatedMediaError)


def test_audio_only(tmp_path):
    with pytest.raises(NoVideoStreamError, match="only audio"):
        probe(make_audio_only(tmp_path / "tone.mp4", seconds=0.5))


@pytest.mark.parametrize("ext", ["mp4", "mov", "mkv", "webm", "avi"])
def test_truncated_containers(media, tmp_path, ext):
    cut = make_truncated_copy(media[ext], tmp_path / f"cut.{ext}", keep=0.6)
    with pytest.raises(TruncatedMediaError, match="truncated") as err:
        probe(cut)
    assert isinstance(err.value, CorruptMediaError) and err.value.code == "truncated"


def test_fewer_frames_than_declared(tmp_path):
    """moov at the front and the mdat size patched to 'until EOF': only decoding notices."""
    import av

    path = tmp_path / "faststart.mp4"
    with av.open(str(path), "w", options={"movflags": "faststart"}) as c:
        s = c.add_stream("libx264", rate=12)
        s.width, s.height, s.pix_fmt, s.options = 160, 120, "yuv420p", {"preset": "ultrafast"}
        for i in range(N):
            frame = av.VideoFrame.from_ndarray(compose_frame(160, 120, scale=0.2, t=i / N), format="rgb24")
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    data = bytearray(path.read_bytes())
    offset = 0
    while data[offset + 4 : offset + 8] != b"mdat":
        offset += int.from_bytes(data[offset : offset + 4], "big")
    data[offset : offset + 4] = bytes(4)  # size 0: the box runs to the end of the file
    cut = tmp_path / "short.mp4"
    cut.write_bytes(bytes(data[: int(len(data) * 0.6)]))
    assert probe(cut).frame_count == N  # the header still says N
    with pytest.raises(TruncatedMediaError, match=f"of the {N} frames"):
        probe(cut, verify=True)


def test_max_bytes_and_missing(media, tmp_path):
    with pytest.raises(MediaTooLargeError, match="limit"):
        probe(media["mp4"], max_bytes=100)
    with pytest.raises(FileNotFoundError):
        probe(tmp_path / "nope.mp4")


def test_probe_cli_json(media):
    from typer.testing import CliRunner

    from seethrough.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["probe", str(media["mkv"]), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert (data["kind"], data["codec"], data["width"], data["frame_count"]) == ("video", "h264", SIZE[0], N)
    res = runner.invoke(app, ["probe", str(media["jpg"])])
    assert res.exit_code == 0 and "jpeg" in res.stdout


def test_probe_cli_error(tmp_path):
    from typer.testing import CliRunner

    from seethrough.cli import app

    (tmp_path / "empty.webm").write_bytes(b"")
    res = CliRunner().invoke(app, ["probe", str(tmp_path / "empty.webm"), "--json"])
    assert res.exit_code == 1
    assert json.loads(res.stdout)["error"] == "empty"
