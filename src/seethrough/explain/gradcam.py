"""Grad-CAM on the per-frame real/fake head (the ``grad-cam`` package).

The maps explain the "fake" logit of the frame head at the backbone's last conv stage
(``Backbone.cam_layer``): where in the crop the evidence for manipulation is.
"""

from __future__ import annotations

import numpy as np
import torch


def gradcam_maps(predictor, crops: list[np.ndarray], target: int = 1, batch: int = 8) -> np.ndarray:
    """(T, S, S) float32 maps in [0, 1] for face crops (S = the model's input size)."""
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    model = predictor.model.frame_classifier().eval()
    x = predictor.to_tensor(crops)
    out = []
    with predictor._lock, GradCAM(model=model, target_layers=[model.cam_layer]) as cam:
        for i in range(0, len(x), batch):
            chunk = x[i : i + batch]
            with torch.enable_grad():
                out.append(cam(input_tensor=chunk, targets=[ClassifierOutputTarget(target)] * len(chunk)))
    return np.concatenate(out).astype(np.float32)
