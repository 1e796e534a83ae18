"""The backbone on ONNX Runtime: the scores, features and maps PyTorch gives, from a cached graph,
and back to PyTorch whenever the graph would not be the model any more."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seethrough.errors import ModelError
from seethrough.inference import Predictor
from seethrough.models import onnx_runtime


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SEETHROUGH_CACHE", str(tmp_path / "user-cache"))
    return tmp_path / "user-cache" / "onnx"


def _crops(n, size, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 255, (size, size, 3), dtype=np.uint8) for _ in range(n)]


def test_the_bundled_model_scores_and_explains_the_same_on_both_runtimes(cache, face_image):
    from seethrough.analysis import AnalyzeOptions, analyze
    from seethrough.explain import gradcam_from_features

    fast, ref = Predictor(None), Predictor(None, runtime="torch")
    assert fast.runtime == "onnxruntime" and ref.runtime == "torch"
    assert [p.name for p in cache.glob("*.onnx")] == [f"{fast.sha256[:32]}-224-v1-torch{torch.__version__.split('+')[0]}.onnx"]
    crops = _crops(11, 224)  # more than one chunk of 8, mirrored views alternating
    a, b = fast.score(crops, keep_features=True), ref.score(crops, keep_features=True)
    assert a.fake_probability == pytest.approx(b.fake_probability, abs=1e-5)
    np.testing.assert_allclose(a.frame_probabilities, b.frame_probabilities, atol=1e-5)
    assert a.unfamiliarity == pytest.approx(b.unfamiliarity, rel=1e-4)
    torch.testing.assert_close(a.features, b.features, atol=2e-4, rtol=1e-4)
    np.testing.assert_allclose(gradcam_from_features(fast, a.features, mirrored=a.mirrored),
                               gradcam_from_features(ref, b.features, mirrored=b.mirrored), atol=1e-3)
    # the whole analysis of a photo (its mirror view averaged in): the same verdict and probability
    opts = AnalyzeOptions(explain=False, narrator=None)
    ra, rb = analyze(face_image, predictor=fast, options=opts), analyze(face_image, predictor=ref, options=opts)
    assert ra.verdict == rb.verdict and ra.fake_probability == pytest.approx(rb.fake_probability, abs=1e-5)


def test_a_cached_graph_is_reused_and_a_damaged_one_replaced(cache, tiny_checkpoint, monkeypatch):
    p = Predictor(tiny_checkpoint)
    want = p.score(_crops(3, p.size)).fake_probability
    assert p.runtime == "onnxruntime"
    (graph,) = cache.glob("*.onnx")

    def no_export(*_a, **_k):
        raise AssertionError("exported again")

    with monkeypatch.context() as m:
        m.setattr(onnx_runtime, "export_graph", no_export)
        again = Predictor(tiny_checkpoint)
        assert again.runtime == "onnxruntime"  # from the cached file
        assert again.score(_crops(3, p.size)).fake_probability == pytest.approx(want, abs=1e-6)
    graph.write_bytes(b"not a graph")
    damaged = Predictor(tiny_checkpoint)
    assert damaged.runtime == "onnxruntime"  # a damaged file is exported again and replaced
    assert graph.stat().st_size > 1000
    assert damaged.score(_crops(3, p.size)).fake_probability == pytest.approx(want, abs=1e-6)


def test_changed_weights_go_back_to_pytorch(cache, tiny_checkpoint):
    p = Predictor(tiny_checkpoint)
    crops = _crops(4, p.size)
    before = p.score(crops).fake_probability
    assert p.runtime == "onnxruntime"
    with torch.no_grad():
        for w in p.model.backbone.parameters():
            w.mul_(1.5)  # as an optimiser step or load_state_dict would, in place
    assert p.runtime == "torch"
    after = p.score(crops).fake_probability
    ref = Predictor(tiny_checkpoint, runtime="torch")
    with torch.no_grad():
        for w in ref.model.backbone.parameters():
            w.mul_(1.5)
    assert after == pytest.approx(ref.score(crops).fake_probability, abs=1e-6) and after != pytest.approx(before, abs=1e-4)


def test_weights_changed_before_the_first_pass_are_never_exported_as_the_checkpoints(cache, tiny_checkpoint):
    """The graph is cached under the file's sha256: one made from changed weights would be wrong for
    every later process that loads the file."""
    p = Predictor(tiny_checkpoint)
    with torch.no_grad():
        next(p.model.backbone.parameters()).add_(1.0)
    assert p.runtime == "torch" and not list(cache.glob("*.onnx"))
    fresh = Predictor(tiny_checkpoint)
    assert fresh.runtime == "onnxruntime"
    ref = Predictor(tiny_checkpoint, runtime="torch")
    crops = _crops(3, p.size)
    assert fresh.score(crops).fake_probability == pytest.approx(ref.score(crops).fake_probability, abs=1e-5)


def test_forward_hooks_get_pytorch_inside_eager(cache, tiny_checkpoint):
    p = Predictor(tiny_checkpoint)
    assert p.runtime == "onnxruntime"  # exported (tracing runs PyTorch once) before the hook is in place
    seen = []
    hook = p.model.backbone.cam_layer.register_forward_hook(lambda *_: seen.append(1))
    try:
        p.embed(_crops(2, p.size))
        assert seen == []  # ONNX Runtime: PyTorch's modules do not run
        with p.eager():
            assert p.runtime == "torch"
            p.embed(_crops(2, p.size))
        assert seen and p.runtime == "onnxruntime"
    finally:
        hook.remove()


def test_runtime_choice(cache, tiny_checkpoint, monkeypatch):
    monkeypatch.setenv("SEETHROUGH_RUNTIME", "torch")
    assert Predictor(tiny_checkpoint).runtime == "torch"
    assert Predictor(tiny_checkpoint, runtime="onnx").runtime == "onnxruntime"
    monkeypatch.delenv("SEETHROUGH_RUNTIME")
    with pytest.raises(ModelError, match="Unknown runtime 'tensorrt'"):
        Predictor(tiny_checkpoint, runtime="tensorrt")
    # without the exporter: auto falls back to PyTorch, onnx says why it cannot run
    import builtins

    real_import = builtins.__import__

    def no_onnx(name, *a, **k):
        if name == "onnx" or name.startswith("onnx."):
            raise ImportError("No module named 'onnx'")
        return real_import(name, *a, **k)

    for f in cache.glob("*.onnx"):
        f.unlink()
    monkeypatch.setattr(builtins, "__import__", no_onnx)
    auto = Predictor(tiny_checkpoint)
    assert auto.runtime == "torch" and 0.0 <= auto.score(_crops(2, auto.size)).fake_probability <= 1.0
    with pytest.raises(ModelError, match="cannot run on ONNX Runtime"):
        Predictor(tiny_checkpoint, runtime="onnx").score(_crops(2, auto.size))
