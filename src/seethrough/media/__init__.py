"""The media stage: probe, decode, validate and cut videos and images.

PyAV (FFmpeg) reads videos and Pillow reads still images; the kind of a file is decided
from its content, never from its extension. Rotation (display matrix, EXIF orientation)
is applied, so every :class:`Frame` is upright RGB uint8.
"""

from .cut import CutReport, CutResult, cut_dir, cut_video, plan_outputs
from .decode import VideoReader, even_indices, iter_frames, load_image, sample_frames
from .probe import (
    Orientation,
    TruncatedMediaError,
    container_problem,
    count_packets,
    detect_kind,
    probe,
    sniff_format,
)
from .types import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, Frame, MediaInfo
from .validate import ValidationReport, ValidationResult, find_media, validate_dir, validate_file, write_csv

__all__ = [
    "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "CutReport",
    "CutResult",
    "Frame",
    "MediaInfo",
    "Orientation",
    "TruncatedMediaError",
    "ValidationReport",
    "ValidationResult",
    "VideoReader",
    "container_problem",
    "count_packets",
    "cut_dir",
    "cut_video",
    "detect_kind",
    "even_indices",
    "find_media",
    "iter_frames",
    "load_image",
    "plan_outputs",
    "probe",
    "sample_frames",
    "sniff_format",
    "validate_dir",
    "validate_file",
    "write_csv",
]
