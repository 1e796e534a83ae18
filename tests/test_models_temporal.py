"""Temporal heads: attention pooling, masking of padded frames, variable-length batches."""

from __future__ import annotations

import pytest
import torch

from seethrough.errors import ModelError
from seethrough.models.temporal import available_temporal_heads, build_temporal, lengths_to_mask

HEADS = available_temporal_heads()  # every registered head meets the contract tests below
C = 16


def _head(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_temporal(name, C, hidden_size=12, attention_size=8).eval()


def test_registry():
    assert {"lstm", "bilstm", "mean"} <= set(HEADS)
    with pytest.raises(ModelError, match="Unknown temporal head 'gru'"):
        build_temporal("gru", C)


@pytest.mark.parametrize("name,out", [("lstm", 12), ("bilstm", 24), ("mean", C)])
def test_output_sizes(name, out):
    head = _head(name)
    pooled, attention = head(torch.randn(3, 5, C))
    assert head.out_features == out
    assert pooled.shape == (3, out) and attention.shape == (3, 5)


@pytest.mark.parametrize("name", HEADS)
def test_attention_sums_to_one_and_ignores_padding(name):
    head = _head(name)
    emb = torch.randn(3, 6, C)
    mask = lengths_to_mask([6, 4, 1], 6)
    with torch.no_grad():
        _, attention = head(emb, mask)
    torch.testing.assert_close(attention.sum(1), torch.ones(3))
    assert (attention[~mask] == 0).all()
    assert (attention[mask] > 0).all()
    assert attention[2, 0] == pytest.approx(1.0)


@pytest.mark.parametrize("name", HEADS)
def test_single_frame_sequence(name):
    head = _head(name)
    with torch.no_grad():
        pooled, attention = head(torch.randn(4, 1, C))
    assert pooled.shape[0] == 4
    torch.testing.assert_close(attention, torch.ones(4, 1))


@pytest.mark.parametrize("name", HEADS)
def test_padding_does_not_change_the_result(name):
    """A sequence padded with junk gives the same output as the sequence alone."""
    head = _head(name)
    seq = torch.randn(1, 4, C)
    padded = torch.cat([seq, 100 * torch.randn(1, 3, C)], dim=1)
    other = torch.randn(1, 7, C)
    batch = torch.cat([padded, other])
    with torch.no_grad():
        alone, att_alone = head(seq)
        both, att_both = head(batch, lengths=[4, 7])
        other_alone, _ = head(other)
    torch.testing.assert_close(both[0], alone[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(att_both[0, :4], att_alone[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(both[1], other_alone[0], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", HEADS)
def test_gaps_in_the_mask_are_skipped(name):
    head = _head(name)
    frames = torch.randn(1, 3, C)
    holey = torch.stack([frames[0, 0], torch.full((C,), 50.0), frames[0, 1], frames[0, 2]])[None]
    mask = torch.tensor([[True, False, True, True]])
    with torch.no_grad():
        a, att = head(holey, mask)
        b, _ = head(frames)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    assert att[0, 1] == 0


def test_lstm_attention_depends_on_content():
    head = _head("bilstm")
    emb = torch.randn(2, 8, C)
    with torch.no_grad():
        _, attention = head(emb)
    assert attention.std(dim=1).min() > 1e-4  # not uniform


def test_mean_head_is_the_average():
    head = _head("mean")
    emb = torch.randn(2, 5, C)
    pooled, attention = head(emb, lengths=[5, 2])
    torch.testing.assert_close(pooled[0], emb[0].mean(0))
    torch.testing.assert_close(pooled[1], emb[1, :2].mean(0))
    torch.testing.assert_close(attention[1], torch.tensor([0.5, 0.5, 0, 0, 0]))


@pytest.mark.parametrize("name", ["lstm", "bilstm"])
def test_gradients_flow_only_to_valid_frames(name):
    head = _head(name).train()
    emb = torch.randn(2, 5, C, requires_grad=True)
    pooled, _ = head(emb, lengths=[5, 3])
    pooled.sum().backward()
    assert emb.grad[0].abs().sum() > 0
    assert emb.grad[1, :3].abs().sum() > 0
    assert (emb.grad[1, 3:] == 0).all()


def test_bad_masks_are_rejected():
    head = _head("lstm")
    with pytest.raises(ValueError, match="at least one valid frame"):
        head(torch.randn(2, 3, C), torch.tensor([[True, True, False], [False, False, False]]))
    with pytest.raises(ValueError, match="expected"):
        head(torch.randn(2, 3, C), torch.ones(2, 4, dtype=torch.bool))
