"""Evidence behind a verdict: Grad-CAM heatmaps, scores per facial region, key frames,
caveats, pictures for people and a narrator."""

from .evidence import REGION_WORDS, aggregate_regions, caveats, key_frames, suspicious_segments, top_regions
from .gallery import GalleryItem, evidence_gallery, frame_overlay, heat_overlay
from .gradcam import CAM_DESCRIPTION, gradcam_from_features, gradcam_maps
from .regions import region_scores

__all__ = [
    "CAM_DESCRIPTION",
    "GalleryItem",
    "REGION_WORDS",
    "aggregate_regions",
    "caveats",
    "evidence_gallery",
    "frame_overlay",
    "gradcam_from_features",
    "gradcam_maps",
    "heat_overlay",
    "key_frames",
    "region_scores",
    "suspicious_segments",
    "top_regions",
]
