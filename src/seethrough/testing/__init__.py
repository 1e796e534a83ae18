"""Generators of small, real media for tests, demos and benchmarks (no downloads)."""

from .datasets import face_crops, make_crop_dataset, write_tiny_config
from .media import (
    astronaut_rgb,
    make_audio_only,
    make_face_image,
    make_face_video,
    make_no_face_image,
    make_truncated_copy,
)

__all__ = [
    "astronaut_rgb",
    "face_crops",
    "make_crop_dataset",
    "make_audio_only",
    "make_face_image",
    "make_face_video",
    "make_no_face_image",
    "make_truncated_copy",
    "write_tiny_config",
]
