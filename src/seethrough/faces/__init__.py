"""The face stage: detect (RetinaFace), track, 68 landmarks (dlib), aligned crops, regions.

Typical use::

    from seethrough.faces import FacePipeline
    result = FacePipeline(min_face=40, crop_size=224, margin=1.3).process(frames)
    if result.ok:
        crops = [c.crop for c in result.crops]

Models load lazily, once per process.
"""

from .align import MARGIN_LOOSE, MARGIN_TIGHT, align_face, invert_affine, parse_margin, transform_points
from .cache import CachedFaces, load_faces, save_faces
from .detector import RetinaFaceDetector
from .landmarks import landmark_model_path, predict_landmarks
from .pipeline import FacePipeline
from .regions import REGION_NAMES, region_masks, region_polygons
from .tracker import TrackerConfig, main_track, track_faces
from .types import AlignedFace, Detection, FaceCrop, FaceResult, FrameFaces, Track

__all__ = [
    "AlignedFace",
    "CachedFaces",
    "Detection",
    "FaceCrop",
    "FacePipeline",
    "FaceResult",
    "FrameFaces",
    "MARGIN_LOOSE",
    "MARGIN_TIGHT",
    "REGION_NAMES",
    "RetinaFaceDetector",
    "Track",
    "TrackerConfig",
    "align_face",
    "invert_affine",
    "landmark_model_path",
    "load_faces",
    "main_track",
    "parse_margin",
    "predict_landmarks",
    "region_masks",
    "region_polygons",
    "save_faces",
    "track_faces",
    "transform_points",
]
