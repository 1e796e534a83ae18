"""fit-head's ``head.tune``: the last backbone stages fine-tuned on cached stage inputs, then the read-out refitted."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_head import head_config


@pytest.fixture(scope="module")
def lite_checkpoint(tmp_path_factory):
    """An EfficientNet-Lite0 detector with random weights (the default model's architecture, untrained)."""
    from seethrough.models import build_detector, save_checkpoint

    torch.manual_seed(0)
    model = build_detector(pretrained=False, backbone="efficientnet_lite0", temporal="mean", num_methods=3)
    return save_checkpoint(tmp_path_factory.mktemp("lite") / "lite.pt", model,
                           labels={"binary": ["real", "fake"], "methods": ["Deepfakes", "FaceSwap", "Face2Face"]},
                           config={"name": "lite-test", "data": {"crop_margin": 1.15}},
                           preprocessing={**model.preprocessing, "input_size": 64},
                           calibration={"temperature": 1.0, "thresholds": {"real_below": 0.4, "fake_above": 0.6}})


def _config(tmp_path, cross_source, checkpoint, tune: str, synth: str = "true"):
    return head_config(tmp_path, cross_source, checkpoint, families="{self_blend: 1.0}", source="",
                       head=f"  synth: {synth}\n  tune: {tune}\n")


def test_fit_head_tunes_only_the_last_stages(cross_source, lite_checkpoint, tmp_path):
    from seethrough.analysis import AnalyzeOptions, analyze
    from seethrough.inference import Predictor
    from seethrough.models import load_checkpoint
    from seethrough.training.head import run_fit_head

    cfg = _config(tmp_path, cross_source, lite_checkpoint, "{blocks: 2, epochs: 2, batch: 4, lr: 0.01, synth_share: 0.3}")
    out, report = run_fit_head(cfg)
    # 5 training files x 2 views, and a self-blend of each of the 4 real photos, all drawn by the fine-tuning
    assert report["tune"]["examples"] == 14 and report["tune"]["steps"] == 8
    assert report["by_view"] == {"plain": 5, "augmented": 5, "synth": 4}
    model, meta = load_checkpoint(out)
    source, _ = load_checkpoint(lite_checkpoint)
    assert meta.config["head"]["tune"]["blocks"] == 2
    tuned, before = model.backbone.model.state_dict(), source.backbone.model.state_dict()
    changed = {k for k in before if not torch.equal(tuned[k], before[k])}
    assert changed, "the fine-tuning changed nothing"
    # only the last two stages and the head conv train; batch-norm statistics stay as they were
    assert all(k.startswith(("blocks.5.", "blocks.6.", "conv_head.", "bn2.")) for k in changed), sorted(changed)[:5]
    assert any(k.startswith("blocks.5.") for k in changed) and any(k.startswith("conv_head.") for k in changed)
    assert not any(k.endswith(("running_mean", "running_var")) for k in changed)
    a = analyze(cross_source / "images" / "test_a_0.jpg", predictor=Predictor(out),
                options=AnalyzeOptions(explain=False, narrator=None))
    assert a.status == "ok" and 0.0 <= a.fake_probability <= 1.0

    # a second run with the same data settings embeds nothing: it reads the stored examples and
    # fits the same model; other data settings embed again
    import seethrough.training.head as head_module

    def no_embedding(*_a, **_k):
        raise AssertionError("embedded again")

    stored = list((tmp_path / "cache" / "head-embeddings").glob("*.npz"))
    assert len(stored) == 1
    head_module.embed_files, original = no_embedding, head_module.embed_files
    try:
        again, _ = run_fit_head(cfg, tmp_path / "again.pt")
        second, _ = load_checkpoint(again)
        for k, v in model.state_dict().items():
            torch.testing.assert_close(second.state_dict()[k], v)
        cfg.write_text(cfg.read_text().replace("per_source: 50", "per_source: 1"))
        with pytest.raises(AssertionError, match="embedded again"):
            run_fit_head(cfg, tmp_path / "other.pt")
    finally:
        head_module.embed_files = original
    assert list((tmp_path / "cache" / "head-embeddings").glob("*.npz")) == stored


def test_the_refit_sees_the_embeddings_the_tuned_model_computes(lite_checkpoint):
    """The cached stage inputs stand for the crops: after tuning, the examples' embeddings are those
    the tuned trunk computes from the images, so the final read-out is fitted on what it will be shown."""
    from seethrough.inference import Predictor
    from seethrough.training.config import TuneStage
    from seethrough.training.head import Embedded, fit_heads
    from seethrough.training.tune_top import cut_layer, embed_keeping, tune_top

    p = Predictor(lite_checkpoint)
    p.bf16 = False
    keep = cut_layer(p.model, 2)
    rng = np.random.default_rng(0)
    tracks = [[rng.integers(0, 255, (64, 64, 3), dtype=np.uint8) for _ in range(1 + i % 3)] for i in range(12)]
    feats, embs = [], []
    for crops in tracks:
        e, f = embed_keeping(p, crops, keep)
        feats.append(f)
        embs.append(e.mean(0).numpy())
    labels = np.arange(12) % 2
    data = Embedded(np.stack(embs), labels, ["a"] * 12, [str(i) for i in range(12)], ["x"] * 12, ["plain"] * 12, feats)
    report = tune_top(p.model, data, fit_heads(data, c=0.1), TuneStage(blocks=2, epochs=3, batch=4, lr=0.01),
                      shares=None, val=np.arange(12) >= 8, progress=False)
    assert [r["step"] for r in report["epochs"]] == [0, 2, 4, 6] and "val_auc" in report["epochs"][0]
    with torch.no_grad():
        now = np.stack([p.embed(crops)[0].mean(0).numpy() for crops in tracks])
    assert not np.allclose(now, np.stack(embs), atol=1e-3)  # the trunk changed ...
    np.testing.assert_allclose(data.emb, now, atol=2e-2, rtol=1e-2)  # ... and the examples follow it


def test_tuning_needs_stages_to_tune(cross_source, tiny_checkpoint, lite_checkpoint, tmp_path):
    from seethrough.errors import ConfigError
    from seethrough.training.head import run_fit_head

    with pytest.raises(ConfigError, match="no EfficientNet stages"):
        run_fit_head(_config(tmp_path, cross_source, tiny_checkpoint, "{blocks: 1}"))
    with pytest.raises(ConfigError, match="between 1 and 6"):
        run_fit_head(_config(tmp_path, cross_source, lite_checkpoint, "{blocks: 7}"))
    # pseudo-fakes in the fine-tuning need head.synth (without it, `fakes: synth` would tune on reals alone)
    with pytest.raises(ConfigError, match="head.synth"):
        run_fit_head(_config(tmp_path, cross_source, lite_checkpoint, "{blocks: 2, synth_share: 0.5, fakes: synth}",
                             synth="false"))


def test_embedded_examples_round_trip(tmp_path):
    from seethrough.training.head import Embedded

    rng = np.random.default_rng(0)
    feats = [rng.normal(size=(n, 3, 2, 2)).astype(np.float16) for n in (1, 4, 2)]
    data = Embedded(rng.normal(size=(3, 5)).astype(np.float32), np.array([0, 1, 1]), ["a", "b", "b"],
                    ["g1", "g2", "g3"], ["original", "Deepfakes|face_swap", "synth:reenact"],
                    ["plain", "augmented", "synth"], feats)
    for d in (data, Embedded(data.emb, data.labels, data.sources, data.groups, data.methods, data.views)):
        d.save(tmp_path / "e.npz")
        back = Embedded.load(tmp_path / "e.npz")
        np.testing.assert_array_equal(back.emb, d.emb)
        np.testing.assert_array_equal(back.labels, d.labels)
        assert (back.sources, back.groups, back.methods, back.views) == (d.sources, d.groups, d.methods, d.views)
        if d.feats is None:
            assert back.feats is None
        else:
            assert [f.shape for f in back.feats] == [(1, 3, 2, 2), (4, 3, 2, 2), (2, 3, 2, 2)]
            for f, g in zip(back.feats, d.feats):
                np.testing.assert_array_equal(f, g)
    assert not list(tmp_path.glob("*.part*"))


def test_synth_only_tuning_draws_reals_and_pseudo_fakes(lite_checkpoint):
    """``fakes: synth``: the fine-tuning sees reals against pseudo-fakes only (SBI-style); the files'
    fakes are left for the final read-out."""
    from pydantic import ValidationError

    from seethrough.models import load_checkpoint
    from seethrough.training.config import TuneStage
    from seethrough.training.head import Embedded, fit_heads
    from seethrough.training.tune_top import tune_top

    model, _ = load_checkpoint(lite_checkpoint)
    rng = np.random.default_rng(1)
    views = ["plain"] * 6 + ["synth"] * 3
    labels = np.array([0, 0, 0, 1, 1, 1, 1, 1, 1])
    feats = [rng.normal(size=(1, 112, 4, 4)).astype(np.float16) for _ in views]
    data = Embedded(rng.normal(size=(9, 1280)).astype(np.float32), labels, ["a"] * 9, [f"g{i}" for i in range(9)],
                    ["x"] * 9, views, feats)
    fit = fit_heads(data, c=0.1)
    kw = dict(shares=None, val=np.zeros(9, bool), progress=False)
    assert tune_top(model, data, fit, TuneStage(blocks=2, epochs=1, batch=2, synth_share=0.5, fakes="synth"),
                    **kw)["examples"] == 6  # 3 reals + 3 pseudo-fakes
    assert tune_top(model, data, fit, TuneStage(blocks=2, epochs=1, batch=2), **kw)["examples"] == 6  # files only
    assert tune_top(model, data, fit, TuneStage(blocks=2, epochs=1, batch=2, synth_share=0.2), **kw)["examples"] == 9
    with pytest.raises(ValidationError, match="synth_share"):
        TuneStage(blocks=2, fakes="synth")
