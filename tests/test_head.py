"""fit-head: linear heads on a frozen backbone, fitted on the training part of every source."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from seethrough.errors import ConfigError
from seethrough.training.head import Embedded, fit_heads, sample_rows, share_weights


def _embedded(n=400, d=16, seed=0, shift=3.0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    x = rng.normal(size=(n, d)).astype(np.float32) * np.linspace(0.2, 5, d, dtype=np.float32) + 3.0
    x[:, 0] += shift * y * 0.2  # the signal lives in a low-variance, offset feature
    methods = ["original" if v == 0 else ("Deepfakes|" if i % 4 == 1 else "synth:reenact") for i, v in enumerate(y)]
    return Embedded(x, y, ["big"] * (n - 40) + ["small"] * 40, [f"g{i % 20}" for i in range(n)], methods,
                    ["plain"] * n)


def test_heads_score_raw_embeddings_as_the_fit_scores_standardised_ones():
    from sklearn.linear_model import LogisticRegression

    data = _embedded()
    fit = fit_heads(data, c=0.1, shares={"big": 0.9, "small": 0.1}, methods=["Deepfakes", "FaceSwap", "Face2Face"],
                    method_of={"Deepfakes": "Deepfakes", "synth:reenact": "Face2Face"})
    logits = data.emb @ fit.weight.T + fit.bias
    p = torch.softmax(torch.from_numpy(logits), -1)[:, 1].numpy()
    mu, sd = data.emb.mean(0), data.emb.std(0) + 1e-6
    w = share_weights(data.sources, data.labels, {"big": 0.9, "small": 0.1})
    ref = LogisticRegression(C=0.1, max_iter=5000).fit((data.emb - mu) / sd, data.labels, sample_weight=w)
    np.testing.assert_allclose(p, ref.predict_proba((data.emb - mu) / sd)[:, 1], atol=1e-4)
    assert ((p > 0.5) == data.labels).mean() > 0.8
    # method head: the two methods with training fakes split them; FaceSwap had none and is never chosen
    fakes = data.labels == 1
    pred = (data.emb[fakes] @ fit.method_weight.T + fit.method_bias).argmax(1)
    truth = np.array([0 if m == "Deepfakes|" else 2 for m in np.array(data.methods)[fakes]])
    assert 1 not in pred
    assert fit.report["methods"] == {"Deepfakes": 100, "Face2Face": 100}
    assert set(pred) <= {0, 2} and (pred == truth).mean() >= 0.4


def test_the_default_recipe_teaches_the_families_by_a_fakes_family_or_method():
    """configs/model_v3.yaml's map: DFDC's method, a row's family, a pseudo-fake's kind -> one family each."""
    import yaml

    from seethrough.facts import METHOD_FAMILIES

    cfg = yaml.safe_load(open(Path(__file__).resolve().parents[1] / "configs" / "model_v3.yaml"))
    methods, method_of = cfg["methods"], cfg["head"]["method_of"]
    assert methods == list(METHOD_FAMILIES)
    tags = {"Deepfakes|": "learned_face_swap", "SimSwap|face_swap": "learned_face_swap",
            "synth:face_swap": "graphics_face_swap", "FOMM|reenactment": "reenactment",
            "synth:reenact": "reenactment", "Wav2Lip|lip_sync": "talking_head", "SadTalker|talking_head": "talking_head",
            "StyleGAN2|gan": "synthetic_face", "FLUX|diffusion": "synthetic_face", "E4S|editing": "attribute_editing"}
    rng = np.random.default_rng(0)
    n_per, d = 30, 24
    emb, labels, tag_list = [], [], []
    for i, tag in enumerate(["original", *tags]):
        centre = np.zeros(d, np.float32)
        centre[i] = 6.0
        emb.append(rng.normal(size=(n_per, d)).astype(np.float32) + centre)
        labels += [0 if tag == "original" else 1] * n_per
        tag_list += [tag] * n_per
    data = Embedded(np.concatenate(emb), np.array(labels), ["s"] * len(labels), [f"g{i}" for i in range(len(labels))],
                    tag_list, ["synth" if t.startswith("synth:") else "plain" for t in tag_list])
    fit = fit_heads(data, c=1.0, methods=methods, method_of=method_of)
    assert set(fit.report["methods"]) == set(methods)
    fakes = data.labels == 1
    pred = (data.emb[fakes] @ fit.method_weight.T + fit.method_bias).argmax(1)
    truth = [methods.index(tags[t]) for t in np.array(data.methods)[fakes]]
    assert (pred == np.array(truth)).mean() > 0.95


def test_shares_weigh_sources_whatever_their_size():
    sources = ["big"] * 90 + ["small"] * 10
    labels = np.array([0, 1] * 45 + [0] * 10)
    w = share_weights(sources, labels, {"big": 0.8})
    assert w.mean() == pytest.approx(1.0)
    assert w[90:].sum() / w.sum() == pytest.approx(0.2)  # the unlisted source takes the rest
    big = w[:90]
    assert big[labels[:90] == 0].sum() == pytest.approx(big[labels[:90] == 1].sum())
    with pytest.raises(ConfigError, match="zero share"):
        share_weights(sources, labels, {"big": 0.0, "small": 0.0})


def test_a_small_source_with_its_share_moves_the_boundary():
    data = _embedded()
    data.labels[-40:] = 1 - data.labels[-40:]  # the small source says the opposite
    small = slice(len(data) - 40, None)

    def agreement(shares):
        fit = fit_heads(data, c=1.0, shares=shares)
        s = data.emb[small] @ fit.weight[1] + fit.bias[1]
        return float(((s > 0) == data.labels[small]).mean())

    assert agreement({"big": 0.2, "small": 0.8}) > agreement({"big": 0.95, "small": 0.05})


def test_one_label_is_a_clear_error():
    data = _embedded()
    data.labels[:] = 0
    with pytest.raises(ConfigError, match="real and fake"):
        fit_heads(data)


def test_sample_rows_caps_each_label():
    rows = [{"path": f"{i}.jpg", "label": "real" if i < 30 else "fake"} for i in range(50)]
    picked = sample_rows(rows, per_label=12)
    assert [r["label"] for r in picked].count("real") == 12 and [r["label"] for r in picked].count("fake") == 12
    assert [int(r["path"][:-4]) for r in picked] == sorted(int(r["path"][:-4]) for r in picked)
    assert len(sample_rows(rows, per_label=100)) == 50


def head_config(tmp_path, cross_source, checkpoint, *, families: str = "{face_swap: 0.5, reenact: 0.5}",
                source: str = "      balance_by: group\n", head: str = "  flip_average: true\n") -> Path:
    """A fit-head config on the generated cross_source set (train_a and train_b train, test_a and calib_a
    held out); ``families`` are the pseudo-fakes', ``source`` and ``head`` YAML lines added to those blocks."""
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"version": 1, "datasets": {"cross_source": {
        "group_column": "group", "test": ["test_a"], "calib": ["calib_a"]}}}))
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"""
seed: 0
output_dir: {tmp_path / 'run'}
data:
  image_size: 64
  crop_margin: 1.15
  cache_dir: {tmp_path / 'cache'}
  synth: {{families: {families}}}
  sources:
    - kind: videos
      csv: {cross_source / 'labels.csv'}
      heldout: {split}
      frames: 4
{source}head:
  init_from: {checkpoint}
  per_source: 50
  c: 0.1
  val_frac: 0.0
{head}""")
    return cfg


def test_fit_head_store_key_ignores_the_new_augmentations_while_off(cross_source, tiny_checkpoint, tmp_path):
    """Stores embedded before grey/sharpen existed stay valid; switching one on makes a new store."""
    from seethrough.training.config import load_config
    from seethrough.training.head import _embedding_key

    cfg = load_config(head_config(tmp_path, cross_source, tiny_checkpoint))
    key = _embedding_key(cfg, False)
    off = cfg.model_copy(deep=True)
    off.data.augment.grey = off.data.augment.sharpen = 0.0
    assert _embedding_key(off, False) == key
    for name in ("grey", "sharpen"):
        on = cfg.model_copy(deep=True)
        setattr(on.data.augment, name, 0.2)
        assert _embedding_key(on, False) != key


def test_fit_head_end_to_end(cross_source, tiny_checkpoint, tmp_path):
    from seethrough.analysis import AnalyzeOptions, analyze
    from seethrough.inference import Predictor
    from seethrough.models import load_checkpoint
    from seethrough.training.head import run_fit_head

    cfg = head_config(tmp_path, cross_source, tiny_checkpoint)
    out, report = run_fit_head(cfg)
    assert out == tmp_path / "run" / "model.pt" and out.is_file()
    # train_a (2 photos + a fake clip) and train_b (2 photos; its grid is never a training file): 5 files,
    # 2 views each; test_a and calib_a never reach the fit; the 4 real photos give 4 pseudo-fakes
    assert report["sources"] == {"cross_source": 10} and report["fake"] == 2 and report["real"] == 8
    assert report["by_view"] == {"plain": 5, "augmented": 5, "synth": 4}
    cached = sorted(p.name for p in (tmp_path / "cache" / "faces-cross_source").rglob("*.npz"))
    assert cached == ["swap.npz", "train_a_0.npz", "train_a_1.npz", "train_b_0.npz", "train_b_1.npz"]
    model, meta = load_checkpoint(out)
    source, _ = load_checkpoint(tiny_checkpoint)
    assert meta.model_spec.temporal == "mean" and meta.methods == ["Deepfakes", "FaceSwap", "Face2Face"]
    for k, v in source.backbone.state_dict().items():
        torch.testing.assert_close(model.backbone.state_dict()[k], v)  # the backbone is unchanged
    # a clip's logit is the mean of its frames' logits: the frame scores explain the clip score
    x = torch.rand(1, 3, 3, 64, 64)
    with torch.no_grad():
        o = model(x)
    torch.testing.assert_close(o.logits[0], o.frame_logits[0].mean(0), rtol=1e-4, atol=1e-5)
    p = Predictor(out)
    a = analyze(cross_source / "images" / "test_a_0.jpg", predictor=p,
                options=AnalyzeOptions(explain=False, narrator=None))
    assert a.status == "ok" and 0.0 <= a.fake_probability <= 1.0
    # flip_average: the model scores each face as the mean embedding of the crop and its mirror image,
    # so a face and its mirror image get the same score; single views (as the heads were fitted) do not
    assert meta.config["inference"] == {"flip_average": True} and p.flip_average
    crop = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    mirror = np.ascontiguousarray(crop[:, ::-1])
    with p.lock:
        both, _ = p.embed([crop])
        p.flip_average = False
        single, _ = p.embed([crop, mirror])
    torch.testing.assert_close(both[0], single.mean(0), rtol=1e-4, atol=1e-5)
    assert p.score([crop]).fake_probability != pytest.approx(p.score([mirror]).fake_probability, abs=1e-6)
    p.flip_average = True
    assert p.score([crop]).fake_probability == pytest.approx(p.score([mirror]).fake_probability, abs=1e-6)
    # a track of several crops (a clip) alternates the views at the cost of one: every second crop is
    # scored as its mirror image, and its Grad-CAM map explains that view, mirrored back onto the crop
    from seethrough.explain import gradcam_from_features, gradcam_maps

    assert p.mirrored_views(1).tolist() == [False] and p.mirrored_views(4).tolist() == [False, True, False, True]
    track = p.score([crop, crop, crop], keep_features=True)
    assert track.mirrored.tolist() == [False, True, False]
    p.flip_average = False
    assert not p.mirrored_views(4).any()
    views = p.score([crop, mirror, crop])
    reference = gradcam_maps(p, [crop, mirror])
    p.flip_average = True
    np.testing.assert_allclose(track.frame_probabilities, views.frame_probabilities, atol=1e-5)
    assert track.fake_probability == pytest.approx(views.fake_probability, abs=1e-5)
    maps = gradcam_from_features(p, track.features, mirrored=track.mirrored)
    np.testing.assert_allclose(maps[0], reference[0], atol=1e-4)
    np.testing.assert_allclose(maps[1], reference[1][:, ::-1], atol=1e-4)
    assert not np.allclose(maps[1], reference[1], atol=1e-3)  # mirrored back: not the mirror view's own map


def test_fit_head_needs_a_backbone(cross_source, tmp_path):
    from seethrough.training.head import run_fit_head

    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"""
data:
  sources:
    - kind: videos
      csv: {cross_source / 'labels.csv'}
""")
    with pytest.raises(ConfigError, match="init_from"):
        run_fit_head(cfg)

