"""The multi-task deepfake detector: backbone -> per-frame embeddings -> temporal head -> heads.

Outputs for a clip (or an image, a clip of one frame):

* ``logits`` (B,2): real/fake, index 0 = real, 1 = fake; the clip-level decision.
* ``method_logits`` (B,M): which manipulation method. They are trained on fake samples
  only (real samples are masked out of that loss), so ``softmax(method_logits)`` is
  P(method | fake) and is meaningful only next to the fake probability.
* ``frame_logits`` (B,T,2): real/fake per frame, from the frame embeddings alone (used for
  per-frame scores, frame-level training and Grad-CAM).
* ``attention`` (B,T): the temporal head's weights over frames (sum 1, 0 on padding).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields
from typing import Any, NamedTuple

import torch
from torch import nn

from seethrough.errors import ModelError
from seethrough.log import get_logger
from seethrough.models.backbones import Backbone, build_backbone
from seethrough.models.temporal import build_temporal, resolve_mask

log = get_logger(__name__)

NUM_BINARY = 2


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to rebuild a :class:`DeepfakeDetector` (weights aside)."""

    backbone: str = "efficientnet_lite0"
    temporal: str = "bilstm"
    num_methods: int = 0
    hidden_size: int = 128
    attention_size: int = 64
    num_layers: int = 1
    dropout: float = 0.3
    embedding_dim: int | None = None  # backbone.num_features; filled in by the model

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSpec:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            log.warning("ignoring unknown model_spec fields: %s", ", ".join(unknown))
        try:
            return cls(**{k: v for k, v in data.items() if k in known})
        except TypeError as exc:
            raise ModelError(f"Invalid model_spec {data!r}: {exc}") from exc


@dataclass
class DetectorOutput:
    """Result of :meth:`DeepfakeDetector.forward` (all tensors; B clips of T frames)."""

    logits: torch.Tensor  # (B,2)
    method_logits: torch.Tensor  # (B,M), conditional on fake
    frame_logits: torch.Tensor  # (B,T,2); rows where mask is False are meaningless
    attention: torch.Tensor  # (B,T)
    mask: torch.Tensor  # (B,T) bool, True = real frame
    embeddings: torch.Tensor  # (B,T,C) per-frame backbone embeddings (0 on padding)


class FrameOutput(NamedTuple):
    frame_logits: torch.Tensor  # (N,2)
    method_logits: torch.Tensor  # (N,M), conditional on fake
    embeddings: torch.Tensor  # (N,C)


class DeepfakeDetector(nn.Module):
    """Backbone + dropout + temporal head + binary, method and per-frame heads."""

    def __init__(
        self,
        backbone: Backbone,
        *,
        temporal: str = "bilstm",
        num_methods: int = 0,
        hidden_size: int = 128,
        attention_size: int = 64,
        num_layers: int = 1,
        dropout: float = 0.3,
    ) -> None:
        super().__init__()
        if num_methods < 0:
            raise ModelError(f"num_methods must be >= 0, got {num_methods}")
        self.backbone = backbone
        dim = backbone.num_features
        self.dropout = nn.Dropout(dropout)
        self.temporal = build_temporal(temporal, dim, hidden_size=hidden_size, attention_size=attention_size,
                                       num_layers=num_layers)
        self.frame_head = nn.Linear(dim, NUM_BINARY)
        self.binary_head = nn.Linear(self.temporal.out_features, NUM_BINARY)
        self.method_head = nn.Linear(self.temporal.out_features, num_methods) if num_methods else None
        self._spec = ModelSpec(backbone=backbone.name, temporal=temporal, num_methods=num_methods,
                               hidden_size=hidden_size, attention_size=attention_size, num_layers=num_layers,
                               dropout=float(dropout), embedding_dim=dim)

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_spec(cls, spec: ModelSpec, *, pretrained: bool = True,
                  weights_path: str | os.PathLike[str] | None = None) -> DeepfakeDetector:
        """Build from a spec; ``pretrained``/``weights_path`` apply to the backbone."""
        backbone = build_backbone(spec.backbone, pretrained=pretrained, weights_path=weights_path)
        if spec.embedding_dim is not None and spec.embedding_dim != backbone.num_features:
            raise ModelError(
                f"model_spec says the '{spec.backbone}' embedding has {spec.embedding_dim} features but the "
                f"backbone has {backbone.num_features}."
            )
        return cls(backbone, temporal=spec.temporal, num_methods=spec.num_methods, hidden_size=spec.hidden_size,
                   attention_size=spec.attention_size, num_layers=spec.num_layers, dropout=spec.dropout)

    @property
    def spec(self) -> ModelSpec:
        return self._spec

    @property
    def num_methods(self) -> int:
        return self._spec.num_methods

    @property
    def preprocessing(self) -> dict[str, Any]:
        return self.backbone.preprocessing

    # ------------------------------------------------------------------ forward passes

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None,
                lengths: torch.Tensor | list[int] | None = None) -> DetectorOutput:
        """``x`` (B,T,3,H,W) clips or (B,3,H,W) images (T=1); ``mask``/``lengths`` mark real frames.

        Padded frames are not run through the backbone.
        """
        if x.dim() == 4:
            x = x.unsqueeze(1)
        if x.dim() != 5:
            raise ValueError(f"expected (B,T,3,H,W) or (B,3,H,W) input, got shape {tuple(x.shape)}")
        b, t = x.shape[:2]
        mask = resolve_mask(b, t, x.device, mask, lengths)
        flat = x.reshape(b * t, *x.shape[2:])
        valid = mask.reshape(-1)
        if bool(valid.all()):
            emb = self.backbone(flat)
        else:
            index = valid.nonzero().squeeze(1)
            emb_valid = self.backbone(flat.index_select(0, index))
            emb = emb_valid.new_zeros(b * t, emb_valid.shape[1]).index_copy(0, index, emb_valid)
        return self.forward_sequence_from_embeddings(emb.view(b, t, -1), mask)

    def forward_sequence_from_embeddings(self, emb: torch.Tensor, mask: torch.Tensor | None = None,
                                         lengths: torch.Tensor | list[int] | None = None) -> DetectorOutput:
        """Heads only, on cached (B,T,C) frame embeddings (e.g. to train the temporal head)."""
        if emb.dim() != 3:
            raise ValueError(f"expected (B,T,C) embeddings, got shape {tuple(emb.shape)}")
        b, t, _ = emb.shape
        mask = resolve_mask(b, t, emb.device, mask, lengths)
        dropped = self.dropout(emb)
        frame_logits = self.frame_head(dropped)
        pooled, attention = self.temporal(dropped, mask)
        pooled = self.dropout(pooled)
        return DetectorOutput(logits=self.binary_head(pooled), method_logits=self._methods(pooled),
                              frame_logits=frame_logits, attention=attention, mask=mask, embeddings=emb)

    def forward_frames(self, x: torch.Tensor) -> FrameOutput:
        """(N,3,H,W) images as N independent one-frame clips (for frame-level training).

        ``method_logits`` go through the temporal head with T=1, so frame-level training
        also trains the clip method head.
        """
        if x.dim() != 4:
            raise ValueError(f"expected (N,3,H,W) images, got shape {tuple(x.shape)}")
        emb = self.backbone(x)
        dropped = self.dropout(emb)
        pooled, _ = self.temporal(dropped.unsqueeze(1))
        return FrameOutput(self.frame_head(dropped), self._methods(self.dropout(pooled)), emb)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """Backbone feature maps (N,C,h,w) -> (N,2) per-frame real/fake logits (timm's
        ``forward_features`` / ``forward_head`` split; Grad-CAM runs on this half)."""
        return self.frame_head(self.dropout(self.backbone.pool(features)))

    def frame_logits(self, x: torch.Tensor) -> torch.Tensor:
        """(N,3,H,W) -> (N,2) per-frame real/fake logits."""
        return self.forward_head(self.backbone.forward_features(x))

    def frame_classifier(self) -> FrameClassifier:
        """A module mapping images to frame logits, for Grad-CAM (hook ``backbone.cam_layer``)."""
        return FrameClassifier(self)

    def _methods(self, pooled: torch.Tensor) -> torch.Tensor:
        if self.method_head is None:
            return pooled.new_zeros(pooled.shape[0], 0)
        return self.method_head(pooled)


class FrameClassifier(nn.Module):
    """``forward(x (N,3,H,W)) -> (N,2)`` frame logits of a detector (shares its weights)."""

    def __init__(self, detector: DeepfakeDetector) -> None:
        super().__init__()
        self.detector = detector

    @property
    def cam_layer(self) -> nn.Module:
        return self.detector.backbone.cam_layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.detector.frame_logits(x)


def build_detector(spec: ModelSpec | None = None, *, pretrained: bool = True,
                   weights_path: str | os.PathLike[str] | None = None, **overrides: Any) -> DeepfakeDetector:
    """``build_detector(backbone="tiny_cnn", temporal="mean", num_methods=4)`` or from a spec."""
    spec = spec or ModelSpec()
    unknown = sorted(set(overrides) - {f.name for f in fields(ModelSpec)})
    if unknown:
        raise ModelError(f"Unknown model option(s): {', '.join(unknown)}.")
    if overrides:
        spec = ModelSpec.from_dict({**spec.to_dict(), **overrides})
    return DeepfakeDetector.from_spec(spec, pretrained=pretrained, weights_path=weights_path)


__all__ = ["DeepfakeDetector", "DetectorOutput", "FrameClassifier", "FrameOutput", "ModelSpec", "build_detector"]
