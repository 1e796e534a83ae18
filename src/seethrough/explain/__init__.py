"""Evidence behind a verdict: Grad-CAM heatmaps, scores per facial region, key frames,
caveats, pictures for people and a narrator.

Names are imported on first use, so the narrator and the evidence rules do not pull in
torch and OpenCV when only they are needed.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "aggregate_regions": "evidence",
    "caveats": "evidence",
    "key_frames": "evidence",
    "suspicious_segments": "evidence",
    "top_regions": "evidence",
    "GalleryItem": "gallery",
    "evidence_gallery": "gallery",
    "frame_overlay": "gallery",
    "heat_overlay": "gallery",
    "save_gallery": "gallery",
    "CAM_DESCRIPTION": "gradcam",
    "gradcam_from_features": "gradcam",
    "gradcam_maps": "gradcam",
    "region_scores": "regions",
    "narrate": "narrator",
    "template_text": "narrator",
    "check_reply": "narrator",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
