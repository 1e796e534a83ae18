"""Grad-CAM on the per-frame real/fake head (the ``grad-cam`` package).

The maps explain the "fake" logit of the frame head at the backbone's last conv stage
(``Backbone.cam_layer``): where in the crop the evidence for manipulation is.

Everything below the CAM layer carries no gradient Grad-CAM needs, so instead of a
second forward and a full backward through the trunk, the CAM is computed from the
layer's *input* captured while scoring (:meth:`Predictor.embed` with
``keep_features``): the package runs only the CAM layer and the head. The maps are the
same as a Grad-CAM over the whole network (see the test), at a fraction of the cost.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from torch import nn

CAM_DESCRIPTION = (
    "Grad-CAM of the frame head's 'fake' output at the backbone's last convolutional stage: "
    "warmer = more evidence for manipulation"
)


class _HeadFromCamInput(nn.Module):
    """cam-layer input (N, C, h, w) -> frame logits (N, 2) of a detector (shares its weights)."""

    def __init__(self, detector) -> None:
        super().__init__()
        self.detector = detector

    @property
    def cam_layer(self) -> nn.Module:
        return self.detector.backbone.cam_layer

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.detector.forward_head(self.cam_layer(z))


def gradcam_from_features(predictor, features: torch.Tensor, target: int = 1, batch: int = 32,
                          mirrored: np.ndarray | None = None) -> np.ndarray:
    """(T, S, S) float32 maps in [0, 1] from the captured cam-layer inputs (S = input size). The
    maps of crops scored as their mirror image (``mirrored``, :meth:`Predictor.mirrored_views`)
    explain that view and are mirrored back, so every map lies on the crop as it is."""
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    head = _HeadFromCamInput(predictor.model).eval()
    small = []
    with predictor.lock, GradCAM(model=head, target_layers=[head.cam_layer]) as cam:
        for i in range(0, len(features), batch):
            # A leaf that needs grad, so the CAM layer's output does even without parameters.
            chunk = features[i : i + batch].float().contiguous().requires_grad_(True)
            with torch.enable_grad():
                small.append(cam(input_tensor=chunk, targets=[ClassifierOutputTarget(target)] * len(chunk)))
    size = predictor.size
    maps = [cv2.resize(m.astype(np.float32), (size, size), interpolation=cv2.INTER_LINEAR) for m in np.concatenate(small)]
    if mirrored is not None:
        maps = [m[:, ::-1] if flip else m for m, flip in zip(maps, mirrored)]
    return np.clip(np.stack(maps), 0.0, 1.0).astype(np.float32)


def gradcam_maps(predictor, crops: list[np.ndarray], target: int = 1) -> np.ndarray:
    """(T, S, S) float32 maps in [0, 1] for face crops (S = the model's input size)."""
    with predictor.lock:
        # the crops as they are, one pass (no mirror view: the maps explain the crop)
        _, features = predictor.embed(crops, keep_features=True, mirrored=np.zeros(len(crops), bool))
    return gradcam_from_features(predictor, features, target=target)
