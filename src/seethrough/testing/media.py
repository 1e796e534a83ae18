"""Generate face videos and images from ``skimage.data.astronaut()``.

The astronaut photo (Eileen Collins, NASA, public domain) ships with scikit-image,
so tests and the demo never depend on downloaded or shared data.
"""

from __future__ import annotations

import math
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Iterable

import numpy as np

# Codec per container, all available in PyAV's bundled FFmpeg.
_CODECS = {
    ".mp4": "libx264",
    ".mov": "libx264",
    ".mkv": "libx264",
    ".avi": "mjpeg",
    ".webm": "libvpx-vp9",
}


@lru_cache(maxsize=1)
def astronaut_rgb() -> np.ndarray:
    """The 512x512 RGB astronaut photo; her face is roughly at x 160-260, y 60-200."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut())


def _resize(img: np.ndarray, scale: float) -> np.ndarray:
    import cv2

    h, w = img.shape[:2]
    return cv2.resize(img, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


def _background(width: int, height: int, t: float = 0.0) -> np.ndarray:
    """A smooth, slowly changing gradient: no face-like structure."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    r = 90 + 60 * np.sin(x / max(width, 1) * math.pi + t)
    g = 110 + 40 * np.cos(y / max(height, 1) * math.pi)
    b = 140 + 30 * np.sin((x + y) / max(width + height, 1) * 2 * math.pi)
    return np.clip(np.stack([r, g, b], axis=-1), 0, 255).astype(np.uint8)


def compose_frame(
    width: int,
    height: int,
    *,
    scale: float = 1.0,
    cx: float = 0.5,
    cy: float = 0.5,
    t: float = 0.0,
    faces: int = 1,
) -> np.ndarray:
    """One RGB frame with ``faces`` copies of the astronaut photo pasted at (cx, cy)."""
    frame = _background(width, height, t)
    if faces <= 0:
        return frame
    src = _resize(astronaut_rgb(), scale)
    sh, sw = src.shape[:2]
    for k in range(faces):
        # Several faces are laid out side by side; the first is the largest.
        s = src if k == 0 else _resize(src, 0.8)
        fh, fw = s.shape[:2]
        px = int(cx * width - fw / 2 + k * (sw * 0.55 + fw * 0.55))
        py = int(cy * height - fh / 2)
        x0, y0 = max(px, 0), max(py, 0)
        x1, y1 = min(px + fw, width), min(py + fh, height)
        if x1 <= x0 or y1 <= y0:
            continue
        frame[y0:y1, x0:x1] = s[y0 - py : y1 - py, x0 - px : x1 - px]
    return frame


def make_face_video(
    path: str | Path,
    *,
    n_frames: int = 48,
    fps: int = 24,
    size: tuple[int, int] = (640, 480),
    scale: float = 0.8,
    motion: bool = True,
    zoom: bool = False,
    no_face_frames: Iterable[int] = (),
    faces: int = 1,
    codec: str | None = None,
    audio: bool = False,
    crf: int = 23,
) -> Path:
    """Write a short clip of the astronaut moving across a gradient background.

    ``no_face_frames`` lists frame indices rendered without any face. The codec
    defaults to one matching the extension (H.264 for mp4/mov/mkv, MJPEG for avi,
    VP9 for webm). ``crf`` is the H.264 quality (51: the heaviest compression).
    """
    import av

    path = Path(path)
    width, height = size
    codec = codec or _CODECS.get(path.suffix.lower(), "libx264")
    blank = set(no_face_frames)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        if codec == "libx264":
            stream.options = {"preset": "ultrafast", "crf": str(crf)}
        astream = None
        if audio:
            astream = container.add_stream("aac", rate=16000)
        for i in range(n_frames):
            u = i / max(n_frames - 1, 1)
            cx = 0.5 + (0.15 * math.sin(2 * math.pi * u) if motion else 0.0)
            cy = 0.5 + (0.05 * math.cos(2 * math.pi * u) if motion else 0.0)
            s = scale * (0.75 + 0.5 * u) if zoom else scale
            img = compose_frame(width, height, scale=s, cx=cx, cy=cy, t=u, faces=0 if i in blank else faces)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
        if astream is not None:
            _write_tone(container, astream, seconds=n_frames / fps)
    return path


def _write_tone(container, astream, seconds: float, rate: int = 16000) -> None:
    import av

    n = int(seconds * rate)
    t = np.arange(n) / rate
    samples = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    frame_size = astream.codec_context.frame_size or 1024
    pts = 0
    for start in range(0, n, frame_size):
        chunk = samples[start : start + frame_size]
        if len(chunk) < frame_size:
            chunk = np.pad(chunk, (0, frame_size - len(chunk)))
        af = av.AudioFrame.from_ndarray(chunk[None, :], format="fltp", layout="mono")
        af.sample_rate = rate
        af.pts = pts
        af.time_base = Fraction(1, rate)
        pts += frame_size
        for packet in astream.encode(af):
            container.mux(packet)
    for packet in astream.encode():
        container.mux(packet)


def make_audio_only(path: str | Path, seconds: float = 2.0) -> Path:
    """An .mp4/.m4a container holding only an AAC tone (no video stream)."""
    import av

    path = Path(path)
    with av.open(str(path), "w", format="mp4") as container:
        astream = container.add_stream("aac", rate=16000)
        _write_tone(container, astream, seconds)
    return path


def make_face_image(path: str | Path, *, size: tuple[int, int] = (640, 480), scale: float = 0.8, faces: int = 1) -> Path:
    """Write a still image (format from the extension) with the astronaut on a gradient."""
    from PIL import Image

    path = Path(path)
    img = compose_frame(size[0], size[1], scale=scale, faces=faces)
    Image.fromarray(img).save(path)
    return path


def make_no_face_image(path: str | Path, size: tuple[int, int] = (320, 240)) -> Path:
    from PIL import Image

    path = Path(path)
    Image.fromarray(_background(size[0], size[1])).save(path)
    return path


def make_truncated_copy(src: str | Path, dst: str | Path, keep: float = 0.4) -> Path:
    """Copy the first ``keep`` fraction of ``src`` bytes to ``dst`` (a truncated download)."""
    data = Path(src).read_bytes()
    dst = Path(dst)
    dst.write_bytes(data[: max(1, int(len(data) * keep))])
    return dst
