"""Checkpoint I/O: exact round trips, fp16 storage, metadata, and clear errors on bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from seethrough import __version__
from seethrough.errors import ModelError
from seethrough.models import backbones as bb
from seethrough.models import build_backbone, build_detector, load_checkpoint, read_checkpoint_meta, save_checkpoint
from seethrough.models.checkpoint import FORMAT_VERSION

torch.set_num_threads(2)
METHODS = ["Deepfakes", "Face2Face", "FaceSwap"]
LABELS = {"binary": ["real", "fake"], "methods": METHODS}


def _trained_tiny(temporal: str = "bilstm"):
    """A tiny detector with non-default weights and BatchNorm statistics."""
    torch.manual_seed(1)
    model = build_detector(backbone="tiny_cnn", temporal=temporal, num_methods=len(METHODS))
    model.train()
    with torch.no_grad():
        model(torch.randn(2, 3, 3, 64, 64))  # updates BN running stats
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    return model.eval()


def _inputs() -> torch.Tensor:
    torch.manual_seed(2)
    return torch.randn(2, 4, 3, 64, 64)


@pytest.mark.parametrize("temporal", ["lstm", "bilstm", "mean"])
def test_fp32_round_trip_is_exact(tmp_path, temporal):
    model = _trained_tiny(temporal)
    config = {"epochs": 3, "lr": 1e-3, "data": {"root": Path("/data/ff"), "sizes": (64, 64)},
              "seed": np.int64(7), "threshold": np.float32(0.5)}
    path = save_checkpoint(tmp_path / "sub" / "model.pt", model, labels=LABELS, config=config,
                           metrics={"auc": 0.91}, calibration={"temperature": 1.7, "threshold": 0.42})
    loaded, meta = load_checkpoint(path)
    assert not loaded.training
    x, lengths = _inputs(), [4, 2]
    with torch.no_grad():
        a, b = model(x, lengths=lengths), loaded(x, lengths=lengths)
    for field in ("logits", "method_logits", "frame_logits", "attention"):
        assert torch.equal(getattr(a, field), getattr(b, field)), field
    assert meta.model_spec == model.spec
    assert meta.labels == LABELS and meta.methods == METHODS and meta.binary_labels == ["real", "fake"]
    assert meta.preprocessing == model.preprocessing
    assert meta.config == {"epochs": 3, "lr": 1e-3, "data": {"root": "/data/ff", "sizes": [64, 64]},
                           "seed": 7, "threshold": 0.5}
    assert meta.metrics == {"auc": 0.91}
    assert meta.calibration == {"temperature": 1.7, "threshold": 0.42}
    assert meta.seethrough_version == __version__ and meta.format_version == FORMAT_VERSION
    assert meta.weights_dtype == "float32" and meta.created.startswith("20")
    assert read_checkpoint_meta(path).labels == LABELS
    assert not list(tmp_path.glob("sub/.*tmp"))  # the atomic write left nothing behind


def test_file_is_plain_data(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", _trained_tiny(), labels=LABELS)
    payload = torch.load(path, weights_only=True)  # no pickled classes needed
    assert payload["format"] == "seethrough-checkpoint"
    assert payload["model_spec"]["backbone"] == "tiny_cnn"
    assert payload["model_spec"]["num_methods"] == len(METHODS)


def test_fp16_storage_is_close_and_small(tmp_path):
    model = _trained_tiny()
    full = save_checkpoint(tmp_path / "fp32.pt", model, labels=LABELS)
    half = save_checkpoint(tmp_path / "fp16.pt", model, labels=LABELS, half=True)
    assert half.stat().st_size < 0.65 * full.stat().st_size
    loaded, meta = load_checkpoint(half)
    assert meta.weights_dtype == "float16"
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    with torch.no_grad():
        a, b = model(_inputs()), loaded(_inputs())
    torch.testing.assert_close(a.logits, b.logits, atol=2e-2, rtol=2e-2)
    torch.testing.assert_close(a.attention, b.attention, atol=2e-2, rtol=2e-2)


def test_default_lite0_model_fits_in_25mb_as_fp16_and_loads_offline(tmp_path, monkeypatch):
    model = build_detector(backbone="efficientnet_lite0", temporal="bilstm", num_methods=len(METHODS)).eval()
    path = save_checkpoint(tmp_path / "lite0.pt", model, labels=LABELS, half=True)
    assert path.stat().st_size < 25 * 1024 * 1024

    def no_bundled(index):
        def fail(model):
            raise AssertionError("load_checkpoint must not load the ImageNet package weights")
        return fail

    monkeypatch.setattr(bb, "_lite_package_loader", no_bundled)
    loaded, meta = load_checkpoint(path)
    assert meta.preprocessing["mean"] == [0.5] * 3 and meta.preprocessing["input_size"] == 224
    x = torch.randn(1, 2, 3, 96, 96)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x).logits, model(x).logits, atol=5e-2, rtol=5e-2)


def test_backbone_can_be_initialised_from_a_checkpoint(tmp_path):
    model = _trained_tiny()
    path = save_checkpoint(tmp_path / "m.pt", model, labels=LABELS)
    backbone = build_backbone("tiny_cnn", weights_path=path)
    for k, v in model.backbone.model.state_dict().items():
        assert torch.equal(backbone.model.state_dict()[k], v), k


def test_not_a_checkpoint(tmp_path):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ModelError, match="not a readable seethrough checkpoint"):
        load_checkpoint(garbage)

    state_only = tmp_path / "state.pt"
    torch.save(_trained_tiny().state_dict(), state_only)
    with pytest.raises(ModelError, match="not a seethrough checkpoint"):
        load_checkpoint(state_only)

    with pytest.raises(ModelError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")


def test_truncated_checkpoint(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", _trained_tiny(), labels=LABELS)
    data = path.read_bytes()
    cut = tmp_path / "cut.pt"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="truncated"):
        load_checkpoint(cut)


def test_edited_or_future_checkpoints(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", _trained_tiny(), labels=LABELS)
    payload = torch.load(path, weights_only=True)

    future = dict(payload, format_version=FORMAT_VERSION + 1)
    torch.save(future, tmp_path / "future.pt")
    with pytest.raises(ModelError, match="Upgrade seethrough"):
        load_checkpoint(tmp_path / "future.pt")

    wrong = dict(payload, model_spec=dict(payload["model_spec"], num_methods=5))
    torch.save(wrong, tmp_path / "wrong.pt")
    with pytest.raises(ModelError, match="does not match its own model_spec"):
        load_checkpoint(tmp_path / "wrong.pt")

    unknown = dict(payload, model_spec=dict(payload["model_spec"], backbone="nope"))
    torch.save(unknown, tmp_path / "unknown.pt")
    with pytest.raises(ModelError, match="Unknown backbone 'nope'"):
        load_checkpoint(tmp_path / "unknown.pt")


def test_save_validates_labels_and_metadata(tmp_path):
    model = _trained_tiny()
    with pytest.raises(ModelError, match="3 method outputs"):
        save_checkpoint(tmp_path / "m.pt", model, labels={"methods": ["a", "b"]})
    with pytest.raises(ModelError, match="duplicates"):
        save_checkpoint(tmp_path / "m.pt", model, labels={"methods": ["a", "a", "b"]})
    with pytest.raises(ModelError, match=r"config\.opt holds a object"):
        save_checkpoint(tmp_path / "m.pt", model, labels=LABELS, config={"opt": object()})
    assert not (tmp_path / "m.pt").exists()
