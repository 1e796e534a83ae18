"""Where on the face the heatmap mass lies, per region from the 68 landmarks.

A region's score is its mean heatmap value divided by the mean over the whole face
(area-normalised), so a large region does not win by size: 1.0 = as hot as the face
on average, 2.0 = twice as hot.
"""

from __future__ import annotations

import numpy as np

from ..faces.regions import region_masks


def region_scores(cam: np.ndarray, crop_landmarks: np.ndarray, min_pixels: int = 20) -> dict[str, float]:
    """Area-normalised scores of one (S, S) map; regions smaller than ``min_pixels`` are left out."""
    masks = region_masks(crop_landmarks, cam.shape)
    face = masks.pop("face")
    base = float(cam[face].mean()) if face.any() else float(cam.mean())
    if base <= 1e-8:
        return {name: 0.0 for name, m in masks.items() if m.sum() >= min_pixels}
    return {name: float(cam[m].mean() / base) for name, m in masks.items() if m.sum() >= min_pixels}
