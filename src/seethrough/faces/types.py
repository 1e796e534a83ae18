"""Typed results of the face stage.

Coordinates are pixels, ``x`` to the right and ``y`` down, in the frame the object
refers to (frame coordinates unless the name says ``crop``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

FrameStatus = Literal["ok", "no_face", "face_too_small"]
FileStatus = Literal["ok", "no_face", "face_too_small"]

#: Order of :attr:`Detection.kps5` (RetinaFace): the subject's right eye (image left
#: in a frontal face), left eye, nose tip, right mouth corner, left mouth corner.
KPS5_NAMES = ("right_eye", "left_eye", "nose", "mouth_right", "mouth_left")


@dataclass
class Detection:
    """One detected face: ``box`` is ``(x0, y0, x1, y1)``, ``kps5`` a (5, 2) array."""

    box: tuple[float, float, float, float]
    score: float
    kps5: np.ndarray

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def area(self) -> float:
        return max(self.width, 0.0) * max(self.height, 0.0)

    @property
    def min_side(self) -> float:
        return min(self.width, self.height)

    @property
    def center(self) -> tuple[float, float]:
        return ((self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2)

    def to_dict(self) -> dict:
        return {
            "box": [round(float(v), 2) for v in self.box],
            "score": round(float(self.score), 4),
            "kps5": np.round(self.kps5, 2).tolist(),
        }


@dataclass
class FrameFaces:
    """Detections of one frame. ``position`` is the frame's place in the input list."""

    position: int
    frame_index: int
    time_s: float
    status: FrameStatus
    detections: list[Detection] = field(default_factory=list)  # all above the score threshold
    too_small: int = 0  # how many of them are below ``min_face``

    def to_dict(self) -> dict:
        return {
            "frame_index": self.frame_index,
            "time_s": round(float(self.time_s), 4),
            "status": self.status,
            "too_small": self.too_small,
            "detections": [d.to_dict() for d in self.detections],
        }


@dataclass
class Track:
    """The same face followed over frames; ``positions`` index the input frame list."""

    track_id: int
    positions: list[int] = field(default_factory=list)
    detections: list[Detection] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.positions)

    @property
    def median_area(self) -> float:
        return float(np.median([d.area for d in self.detections])) if self.detections else 0.0

    @property
    def weight(self) -> float:
        """Frames present x median box area: the rule that picks the main subject."""
        return len(self) * self.median_area

    @property
    def last(self) -> Detection:
        return self.detections[-1]

    def to_dict(self) -> dict:
        return {
            "track_id": self.track_id,
            "n_frames": len(self),
            "positions": list(self.positions),
            "median_area": round(self.median_area, 1),
            "mean_score": round(float(np.mean([d.score for d in self.detections])), 4) if self.detections else 0.0,
        }


@dataclass
class AlignedFace:
    """A square crop plus the 2x3 affine ``matrix`` mapping frame to crop coordinates."""

    crop: np.ndarray  # (size, size, 3) RGB uint8
    matrix: np.ndarray  # (2, 3) float64, frame -> crop
    landmarks: np.ndarray | None  # points mapped into the crop, or None


@dataclass
class FaceCrop:
    """One tracked face in one frame: detection, 68 landmarks and the aligned crop."""

    frame_index: int
    time_s: float
    box: tuple[float, float, float, float]
    score: float
    landmarks: np.ndarray | None  # (68, 2) frame coordinates; None when landmarks are off
    crop: np.ndarray  # (size, size, 3) RGB uint8
    crop_landmarks: np.ndarray | None  # (68, 2) crop coordinates
    matrix: np.ndarray  # (2, 3) frame -> crop
    track_id: int = 0

    def to_dict(self) -> dict:
        return {
            "track_id": self.track_id,
            "frame_index": self.frame_index,
            "time_s": round(float(self.time_s), 4),
            "box": [round(float(v), 2) for v in self.box],
            "score": round(float(self.score), 4),
            "matrix": np.round(self.matrix, 6).tolist(),
        }


@dataclass
class FaceResult:
    """Everything the face stage found in a list of frames."""

    status: FileStatus
    message: str
    frames: list[FrameFaces]
    tracks: list[Track]
    main_track_id: int | None
    crops: list[FaceCrop]  # the main subject's
    track_crops: dict[int, list[FaceCrop]] = field(default_factory=dict)  # main first, then others (max_faces)
    timings_ms: dict[str, float] = field(default_factory=dict)
    settings: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def main_track(self) -> Track | None:
        return next((t for t in self.tracks if t.track_id == self.main_track_id), None)

    def raise_for_status(self) -> None:
        """Raise :class:`~seethrough.errors.NoFaceError` (or its subclass) unless ``ok``."""
        from ..errors import FaceTooSmallError, NoFaceError

        if self.status == "face_too_small":
            raise FaceTooSmallError(self.message)
        if self.status == "no_face":
            raise NoFaceError(self.message)

    def to_summary(self) -> dict:
        """A JSON-able dict without pixel arrays."""
        counts = {s: sum(f.status == s for f in self.frames) for s in ("ok", "no_face", "face_too_small")}
        return {
            "status": self.status,
            "message": self.message,
            "n_frames": len(self.frames),
            "frame_status_counts": counts,
            "n_tracks": len(self.tracks),
            "main_track_id": self.main_track_id,
            "n_crops": len(self.crops),
            "frames": [f.to_dict() for f in self.frames],
            "tracks": [t.to_dict() for t in self.tracks],
            "crops": [c.to_dict() for c in self.crops],
            "timings_ms": {k: round(float(v), 3) for k, v in self.timings_ms.items()},
            "settings": dict(self.settings),
        }
