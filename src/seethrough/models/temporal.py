"""Temporal heads: pool a sequence of per-frame embeddings into one clip embedding.

Each head takes ``emb`` (B,T,C) and a boolean ``mask`` (B,T) (True = real frame, False
= padding) and returns the pooled (B,D) embedding plus attention weights (B,T) that sum
to 1 over the real frames and are exactly 0 on padding. An image is a sequence of one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seethrough.errors import ModelError
from seethrough.registry import Registry

TemporalFactory = Callable[..., "TemporalHead"]
_REGISTRY: Registry[TemporalFactory] = Registry("temporal head", ModelError)


class TemporalOutput(NamedTuple):
    pooled: torch.Tensor  # (B, out_features)
    attention: torch.Tensor  # (B, T), rows sum to 1, 0 on padding


class TemporalHead(nn.Module):
    """Base class; subclasses set ``out_features`` and implement ``forward``."""

    in_features: int
    out_features: int

    def forward(self, emb: torch.Tensor, mask: torch.Tensor | None = None,
                lengths: torch.Tensor | list[int] | None = None) -> TemporalOutput:  # pragma: no cover
        """``emb`` (B,T,C); ``mask`` (B,T) bool or ``lengths`` (B,) (neither: all frames valid)."""
        raise NotImplementedError


def register_temporal(name: str) -> Callable[[TemporalFactory], TemporalFactory]:
    """Decorator adding a head factory ``factory(in_features, **options)`` under ``name``."""
    return _REGISTRY.register(name)


def available_temporal_heads() -> list[str]:
    return sorted(_REGISTRY.names())


def build_temporal(name: str, in_features: int, **options: object) -> TemporalHead:
    """Build a registered temporal head for ``in_features``-dimensional frame embeddings."""
    return _REGISTRY.get(name)(in_features, **options)


def lengths_to_mask(lengths: torch.Tensor | list[int], max_len: int | None = None) -> torch.Tensor:
    """(B,) lengths -> (B,T) boolean mask with the first ``length`` frames True."""
    lengths = torch.as_tensor(lengths, dtype=torch.long)
    t = int(max_len if max_len is not None else int(lengths.max()))
    return torch.arange(t, device=lengths.device)[None, :] < lengths[:, None]


def resolve_mask(
    batch: int, steps: int, device: torch.device, mask: torch.Tensor | None = None,
    lengths: torch.Tensor | list[int] | None = None,
) -> torch.Tensor:
    """Turn ``mask`` or ``lengths`` (or neither: all valid) into a checked (B,T) bool mask."""
    if mask is not None and lengths is not None:
        raise ValueError("pass either mask or lengths, not both")
    if lengths is not None:
        mask = lengths_to_mask(lengths, steps)
    if mask is None:
        return torch.ones(batch, steps, dtype=torch.bool, device=device)
    mask = mask.to(device=device, dtype=torch.bool)
    if mask.shape != (batch, steps):
        raise ValueError(f"mask has shape {tuple(mask.shape)}, expected {(batch, steps)}")
    if not bool(mask.any(dim=1).all()):
        raise ValueError("every sequence needs at least one valid frame")
    return mask


class AdditiveAttention(nn.Module):
    """Bahdanau-style scoring ``v . tanh(W h)``; softmax over the valid frames only."""

    def __init__(self, in_features: int, attention_size: int = 64) -> None:
        super().__init__()
        self.proj = nn.Linear(in_features, attention_size)
        self.score = nn.Linear(attention_size, 1, bias=False)

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        scores = self.score(torch.tanh(self.proj(h))).squeeze(-1).float()  # (B,T)
        scores = scores.masked_fill(~mask, float("-inf"))
        return torch.softmax(scores, dim=1).to(h.dtype)


def _compact(x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Move valid frames to the front (order kept); returns the gathered tensor and the permutation."""
    order = torch.argsort((~mask).to(torch.int8), dim=1, stable=True)  # (B,T)
    idx = order.unsqueeze(-1).expand(-1, -1, x.shape[-1])
    return x.gather(1, idx), order


class LSTMAttentionHead(TemporalHead):
    """(Bi)LSTM over frame embeddings followed by additive attention pooling.

    Padding never reaches the LSTM (sequences are packed), so results for a sequence do
    not depend on how much padding its batch has, in either direction.
    """

    def __init__(self, in_features: int, hidden_size: int = 128, attention_size: int = 64,
                 num_layers: int = 1, dropout: float = 0.0, bidirectional: bool = False) -> None:
        super().__init__()
        self.in_features = in_features
        self.lstm = nn.LSTM(in_features, hidden_size, num_layers=num_layers, batch_first=True,
                            dropout=dropout if num_layers > 1 else 0.0, bidirectional=bidirectional)
        self.out_features = hidden_size * (2 if bidirectional else 1)
        self.attention = AdditiveAttention(self.out_features, attention_size)

    def forward(self, emb: torch.Tensor, mask: torch.Tensor | None = None,
                lengths: torch.Tensor | list[int] | None = None) -> TemporalOutput:
        b, t, _ = emb.shape
        mask = resolve_mask(b, t, emb.device, mask, lengths)
        if bool(mask.all()):
            h, _ = self.lstm(emb)
        else:
            packed_in, order = _compact(emb, mask)
            lengths = mask.sum(dim=1).cpu()
            packed = pack_padded_sequence(packed_in, lengths, batch_first=True, enforce_sorted=False)
            out, _ = self.lstm(packed)
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=t)
            h = torch.zeros_like(out).scatter(1, order.unsqueeze(-1).expand_as(out), out)
        weights = self.attention(h, mask)
        pooled = torch.bmm(weights.unsqueeze(1), h).squeeze(1)
        return TemporalOutput(pooled, weights)


class MeanPoolHead(TemporalHead):
    """Baseline: plain average of the valid frame embeddings (uniform attention)."""

    def __init__(self, in_features: int, **_: object) -> None:
        super().__init__()
        self.in_features = self.out_features = in_features

    def forward(self, emb: torch.Tensor, mask: torch.Tensor | None = None,
                lengths: torch.Tensor | list[int] | None = None) -> TemporalOutput:
        b, t, _ = emb.shape
        mask = resolve_mask(b, t, emb.device, mask, lengths)
        weights = mask.to(emb.dtype) / mask.sum(dim=1, keepdim=True).to(emb.dtype)
        pooled = torch.bmm(weights.unsqueeze(1), emb).squeeze(1)
        return TemporalOutput(pooled, weights)


@register_temporal("lstm")
def _lstm(in_features: int, **options: object) -> TemporalHead:
    return LSTMAttentionHead(in_features, bidirectional=False, **options)  # type: ignore[arg-type]


@register_temporal("bilstm")
def _bilstm(in_features: int, **options: object) -> TemporalHead:
    return LSTMAttentionHead(in_features, bidirectional=True, **options)  # type: ignore[arg-type]


@register_temporal("mean")
def _mean(in_features: int, **options: object) -> TemporalHead:
    return MeanPoolHead(in_features, **options)


__all__ = [
    "AdditiveAttention",
    "LSTMAttentionHead",
    "MeanPoolHead",
    "TemporalHead",
    "TemporalOutput",
    "available_temporal_heads",
    "build_temporal",
    "lengths_to_mask",
    "register_temporal",
    "resolve_mask",
]
