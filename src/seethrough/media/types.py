"""Typed results of the media stage."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".heic", ".heif", ".avif")


@dataclass
class MediaInfo:
    """What probing a file found. ``kind`` is ``"video"`` or ``"image"``."""

    path: str
    kind: str
    container: str | None
    codec: str | None
    width: int
    height: int
    fps: float | None = None
    frame_count: int | None = None  # exact when counted, else estimated from duration*fps
    duration_s: float | None = None
    rotation: int = 0  # degrees clockwise the display applies (0, 90, 180, 270)
    has_audio: bool = False
    size_bytes: int = 0
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Frame:
    """One decoded frame, RGB uint8 HxWx3, rotation already applied."""

    index: int
    time_s: float
    image: np.ndarray

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])
