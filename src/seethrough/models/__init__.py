"""Models: backbones, temporal heads, the multi-task detector and checkpoint I/O."""

from seethrough.models.backbones import (
    Backbone,
    available_backbones,
    build_backbone,
    register_backbone,
)
from seethrough.models.checkpoint import (
    CheckpointMeta,
    load_checkpoint,
    read_checkpoint_meta,
    save_checkpoint,
)
from seethrough.models.detector import (
    DeepfakeDetector,
    DetectorOutput,
    FrameClassifier,
    FrameOutput,
    ModelSpec,
    build_detector,
)
from seethrough.models.temporal import (
    TemporalHead,
    TemporalOutput,
    available_temporal_heads,
    build_temporal,
    lengths_to_mask,
    register_temporal,
)

__all__ = [
    "Backbone",
    "CheckpointMeta",
    "DeepfakeDetector",
    "DetectorOutput",
    "FrameClassifier",
    "FrameOutput",
    "ModelSpec",
    "TemporalHead",
    "TemporalOutput",
    "available_backbones",
    "available_temporal_heads",
    "build_backbone",
    "build_detector",
    "build_temporal",
    "lengths_to_mask",
    "load_checkpoint",
    "read_checkpoint_meta",
    "register_backbone",
    "register_temporal",
    "save_checkpoint",
]
