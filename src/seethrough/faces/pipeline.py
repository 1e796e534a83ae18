"""The face stage end to end: detect -> filter by size -> track -> landmarks -> crops."""

from __future__ import annotations

import math
import time
from typing import Sequence

import numpy as np

from ..log import get_logger
from ..media.types import Frame
from .align import MARGIN_LOOSE, align_face
from .detector import RetinaFaceDetector
from .landmarks import get_predictor, predict_landmarks
from .tracker import TrackerConfig, main_track, rejoin_tracks, track_faces
from .types import FaceCrop, FaceResult, FrameFaces, Track

log = get_logger(__name__)


class FacePipeline:
    """Find the main subject's face in a list of frames and cut aligned crops.

    ``min_face`` is the shortest side (pixels, in frame coordinates) a detection needs
    to count; smaller faces are reported as ``face_too_small``. ``margin`` and
    ``rotate`` are passed to :func:`~seethrough.faces.align.align_face`; with
    ``landmarks=False`` crops are placed from the detector box alone (no dlib).
    ``max_faces`` > 1 also crops other people: tracks present in at least 30% as many
    frames as the main subject, biggest and steadiest first (``FaceResult.track_crops``).
    With ``rejoin``, tracks that never share a frame and whose faces have the same
    identity (dlib face descriptor) are joined: a person who left the frame, or a
    cutaway longer than the tracker's gap, stays one track.
    """

    def __init__(
        self,
        detector: RetinaFaceDetector | None = None,
        *,
        min_face: int = 40,
        crop_size: int = 224,
        margin: float = MARGIN_LOOSE,
        landmarks: bool = True,
        rotate: bool = False,
        tracker: TrackerConfig | None = None,
        max_faces: int = 1,
        rejoin: bool = True,
    ) -> None:
        if min_face < 1:
            raise ValueError(f"min_face must be a positive number of pixels, got {min_face}")
        self.detector = detector or RetinaFaceDetector()
        self.min_face = int(min_face)
        self.crop_size = int(crop_size)
        self.margin = float(margin)
        self.landmarks = bool(landmarks)
        self.rotate = bool(rotate)
        self.tracker = tracker or TrackerConfig()
        if max_faces < 1:
            raise ValueError(f"max_faces must be at least 1, got {max_faces}")
        self.max_faces = int(max_faces)
        self.rejoin = bool(rejoin)

    def settings(self) -> dict:
        return {
            "min_face": self.min_face,
            "crop_size": self.crop_size,
            "margin": self.margin,
            "landmarks": self.landmarks,
            "rotate": self.rotate,
            "score_threshold": self.detector.score_threshold,
            "max_side": self.detector.max_side,
            "max_faces": self.max_faces,
            "rejoin": self.rejoin,
        }

    def warmup(self) -> None:
        """Load the models now (about 1-2 s) so the first ``process`` is not slower."""
        self.detector.warmup()
        if self.landmarks:
            get_predictor()

    def process_image(self, image: np.ndarray) -> FaceResult:
        """Run on a single still image (frame index 0, time 0)."""
        return self.process([Frame(index=0, time_s=0.0, image=image)])

    def process(self, frames: Sequence[Frame]) -> FaceResult:
        timings = {"detect": 0.0, "landmarks": 0.0, "crops": 0.0}
        per_frame: list[FrameFaces] = []
        usable = []
        t0 = time.perf_counter()
        for pos, frame in enumerate(frames):
            dets = self.detector.detect(frame.image)
            big = [d for d in dets if d.min_side >= self.min_face]
            status = "ok" if big else ("face_too_small" if dets else "no_face")
            per_frame.append(
                FrameFaces(pos, frame.index, frame.time_s, status, detections=dets, too_small=len(dets) - len(big))
            )
            usable.append(big)
        timings["detect"] = (time.perf_counter() - t0) * 1000

        tracks = track_faces(usable, self.tracker)
        if self.rejoin and len(tracks) > 1:
            t = time.perf_counter()
            tracks = rejoin_tracks(tracks, lambda tr: self._describe(tr, frames))
            timings["rejoin"] = (time.perf_counter() - t) * 1000
        main = main_track(tracks)
        track_crops: dict[int, list[FaceCrop]] = {}
        for track in self._tracks_to_crop(tracks, main):
            track_crops[track.track_id] = self._crop_track(track, frames, timings)
        crops = track_crops.get(main.track_id, []) if main is not None else []
        n_crops_all = sum(len(v) for v in track_crops.values())
        n = max(len(frames), 1)
        timings["detect_per_frame"] = timings["detect"] / n
        if n_crops_all:
            timings["landmarks_per_face"] = timings["landmarks"] / n_crops_all
            timings["crop_per_face"] = timings["crops"] / n_crops_all
        status, message = self._outcome(per_frame, main.track_id if main else None, len(crops))
        log.debug("faces: %s (%s)", status, message)
        return FaceResult(
            status=status,
            message=message,
            frames=per_frame,
            tracks=tracks,
            main_track_id=main.track_id if main else None,
            crops=crops,
            track_crops=track_crops,
            timings_ms=timings,
            settings=self.settings(),
        )

    @staticmethod
    def _describe(track: Track, frames: Sequence[Frame]):
        """Identity descriptor of a track, from its largest detection."""
        from .identity import face_descriptor

        i = max(range(len(track)), key=lambda k: track.detections[k].area)
        return face_descriptor(frames[track.positions[i]].image, track.detections[i].box)

    def _tracks_to_crop(self, tracks: list[Track], main: Track | None) -> list[Track]:
        """The main track, then up to ``max_faces - 1`` others present in at least 30% as many frames."""
        if main is None:
            return []
        need = max(1, math.ceil(0.3 * len(main)))
        others = sorted((t for t in tracks if t is not main and len(t) >= need), key=lambda t: (-t.weight, t.track_id))
        return [main, *others[: self.max_faces - 1]]

    def _crop_track(self, track: Track, frames: Sequence[Frame], timings: dict[str, float]) -> list[FaceCrop]:
        crops = []
        for pos, det in zip(track.positions, track.detections):
            frame = frames[pos]
            lm = None
            if self.landmarks:
                t = time.perf_counter()
                lm = predict_landmarks(frame.image, det)
                timings["landmarks"] += (time.perf_counter() - t) * 1000
            t = time.perf_counter()
            aligned = align_face(
                frame.image,
                landmarks=lm,
                box=det.box,
                kps5=det.kps5,
                size=self.crop_size,
                margin=self.margin,
                rotate=self.rotate,
            )
            timings["crops"] += (time.perf_counter() - t) * 1000
            crops.append(
                FaceCrop(
                    frame_index=frame.index,
                    time_s=frame.time_s,
                    box=det.box,
                    score=det.score,
                    landmarks=lm,
                    crop=aligned.crop,
                    crop_landmarks=aligned.landmarks if lm is not None else None,
                    matrix=aligned.matrix,
                    track_id=track.track_id,
                )
            )
        return crops

    def _outcome(self, frames: list[FrameFaces], main_id: int | None, n_crops: int) -> tuple[str, str]:
        n = len(frames)
        if n == 0:
            return "no_face", "There were no frames to look for faces in."
        n_ok = sum(f.status == "ok" for f in frames)
        if n_ok:
            return "ok", f"Face found in {n_ok} of {n} frames; the main face (track {main_id}) is in {n_crops}."
        small = [d.min_side for f in frames for d in f.detections]
        if small:
            return (
                "face_too_small",
                f"Faces were found in {sum(f.status == 'face_too_small' for f in frames)} of {n} frames, but all are "
                f"smaller than {self.min_face} px (largest {max(small):.0f} px). Use a higher-resolution or "
                "closer-up video, or lower the minimum face size.",
            )
        return (
            "no_face",
            f"No face was found in any of the {n} frames looked at. Check that the media shows a face "
            "clearly (frontal, lit, not covered), or lower the detection threshold.",
        )
