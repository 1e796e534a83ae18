"""DeepfakeDetector: shapes for clips and images, masking, cached embeddings, Grad-CAM."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from seethrough.errors import ModelError
from seethrough.models import DeepfakeDetector, ModelSpec, build_detector
from seethrough.testing.media import astronaut_rgb

torch.set_num_threads(2)
M = 4


def _tiny(temporal: str = "bilstm", num_methods: int = M) -> DeepfakeDetector:
    torch.manual_seed(0)
    return build_detector(backbone="tiny_cnn", temporal=temporal, num_methods=num_methods).eval()


def _face_batch(n: int, size: int = 64) -> torch.Tensor:
    """Real face crops (the astronaut), slightly shifted per frame, normalised with mean=std=0.5."""
    face = astronaut_rgb()[40:240, 120:300]
    crops = []
    for i in range(n):
        crop = cv2.resize(face[i * 3:, i * 2:], (size, size), interpolation=cv2.INTER_AREA)
        crops.append(torch.from_numpy(crop).permute(2, 0, 1).float() / 127.5 - 1.0)
    return torch.stack(crops)


@pytest.mark.parametrize("temporal", ["lstm", "bilstm", "mean"])
def test_video_forward_shapes(temporal):
    model = _tiny(temporal)
    x = _face_batch(6).view(2, 3, 3, 64, 64)
    with torch.no_grad():
        out = model(x)
    assert out.logits.shape == (2, 2)
    assert out.method_logits.shape == (2, M)
    assert out.frame_logits.shape == (2, 3, 2)
    assert out.attention.shape == (2, 3)
    assert out.embeddings.shape == (2, 3, model.backbone.num_features)
    torch.testing.assert_close(out.attention.sum(1), torch.ones(2))


def test_image_input_is_a_one_frame_clip():
    model = _tiny()
    x = _face_batch(3)
    with torch.no_grad():
        out = model(x)
        clip = model(x.unsqueeze(1))
    assert out.logits.shape == (3, 2) and out.frame_logits.shape == (3, 1, 2)
    torch.testing.assert_close(out.attention, torch.ones(3, 1))
    torch.testing.assert_close(out.logits, clip.logits)


def test_padded_frames_are_never_computed():
    model = _tiny()
    frames = _face_batch(5)
    x = torch.full((2, 3, 3, 64, 64), float("nan"))
    x[0] = frames[:3]
    x[1, :2] = frames[3:]
    with torch.no_grad():
        out = model(x, lengths=[3, 2])
        second = model(frames[3:].unsqueeze(0))
    assert torch.isfinite(out.logits).all() and torch.isfinite(out.method_logits).all()
    assert out.attention[1, 2] == 0
    assert (out.embeddings[1, 2] == 0).all()
    torch.testing.assert_close(out.logits[1], second.logits[0], atol=1e-5, rtol=1e-5)


def test_forward_frames_matches_clip_path():
    model = _tiny()
    x = _face_batch(4)
    with torch.no_grad():
        frame_logits, method_logits, emb = model.forward_frames(x)
        clip = model(x)
    assert frame_logits.shape == (4, 2) and method_logits.shape == (4, M)
    assert emb.shape == (4, model.backbone.num_features)
    torch.testing.assert_close(frame_logits, clip.frame_logits[:, 0])
    torch.testing.assert_close(method_logits, clip.method_logits)
    torch.testing.assert_close(model.frame_classifier()(x), frame_logits)


def test_forward_from_cached_embeddings_equals_full_forward():
    model = _tiny()
    x = _face_batch(6).view(2, 3, 3, 64, 64)
    mask = torch.tensor([[True, True, True], [True, True, False]])
    with torch.no_grad():
        full = model(x, mask=mask)
        cached = model.forward_sequence_from_embeddings(full.embeddings, mask)
    for field in ("logits", "method_logits", "frame_logits", "attention"):
        torch.testing.assert_close(getattr(cached, field), getattr(full, field))


def test_training_step_updates_every_head():
    model = _tiny().train()
    x = _face_batch(4).view(2, 2, 3, 64, 64)
    out = model(x)
    fake = torch.tensor([0, 1])
    method = torch.tensor([2])
    loss = (torch.nn.functional.cross_entropy(out.logits, fake)
            + torch.nn.functional.cross_entropy(out.method_logits[fake == 1], method)
            + torch.nn.functional.cross_entropy(out.frame_logits.reshape(-1, 2), fake.repeat_interleave(2)))
    loss.backward()
    for name in ("binary_head", "method_head", "frame_head", "temporal", "backbone"):
        grads = [p.grad for p in getattr(model, name).parameters()]
        assert grads and all(g is not None for g in grads), name
        assert sum(g.abs().sum() for g in grads) > 0, name


def test_no_method_labels():
    model = _tiny(num_methods=0)
    with torch.no_grad():
        out = model(_face_batch(2))
        frames = model.forward_frames(_face_batch(2))
    assert out.method_logits.shape == (2, 0) and frames.method_logits.shape == (2, 0)


def test_grad_cam_on_frame_classifier():
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    model = _tiny()
    clf = model.frame_classifier().eval()
    x = _face_batch(2)
    with GradCAM(model=clf, target_layers=[clf.cam_layer]) as cam:
        heat = cam(input_tensor=x, targets=[ClassifierOutputTarget(1)] * 2)
    assert heat.shape == (2, 64, 64)
    assert np.isfinite(heat).all() and heat.max() > heat.min()


def test_lite0_detector_with_imagenet_weights():
    torch.manual_seed(0)
    model = build_detector(ModelSpec(backbone="efficientnet_lite0", temporal="bilstm", num_methods=M)).eval()
    assert model.spec.embedding_dim == 1280 and model.preprocessing["input_size"] == 224
    with torch.no_grad():
        out = model(_face_batch(2, size=96).unsqueeze(0))
    assert out.logits.shape == (1, 2) and out.frame_logits.shape == (1, 2, 2)


def test_bad_inputs():
    model = _tiny()
    with pytest.raises(ValueError, match="expected"):
        model(torch.zeros(3, 64, 64))
    with pytest.raises(ValueError, match="expected"):
        model.forward_frames(torch.zeros(1, 1, 3, 64, 64))
    with pytest.raises(ModelError, match="Unknown model option"):
        build_detector(backbone="tiny_cnn", hiden_size=3)
    with pytest.raises(ModelError, match="embedding has 99 features"):
        DeepfakeDetector.from_spec(ModelSpec(backbone="tiny_cnn", embedding_dim=99))
