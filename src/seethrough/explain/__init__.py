"""Evidence behind a verdict: Grad-CAM heatmaps and scores per facial region."""

from .gradcam import gradcam_maps
from .regions import region_scores

__all__ = ["gradcam_maps", "region_scores"]
