"""Units of the training package: augmentation, metrics, calibration, config, splits."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from seethrough.errors import ConfigError
from seethrough.testing import astronaut_rgb
from seethrough.training.augment import AugmentConfig, Augmenter, jpeg, reframe
from seethrough.training.config import load_config
from seethrough.training.data import group_split
from seethrough.training.loop import class_weights
from seethrough.training.metrics import binary_report, eer, fit_temperature


def test_augmenter_keeps_shape_and_changes_pixels():
    img = np.ascontiguousarray(astronaut_rgb()[:224, :224])
    cfg = AugmentConfig(flip=0, reframe=1, jpeg=1, blur=1, color=1, resize=1, noise=1, cutout=1)
    out, mask = Augmenter(cfg, np.random.default_rng(0))(img, np.ones((224, 224), np.float32))
    assert out.shape == img.shape and out.dtype == np.uint8 and mask.shape == (224, 224)
    assert np.abs(out.astype(int) - img).mean() > 3


def test_grey_and_sharpen_augmentations_and_their_default_off():
    import cv2

    img = np.ascontiguousarray(astronaut_rgb()[:224, :224])
    only = dict(flip=0, reframe=0, jpeg=0, blur=0, color=0, resize=0, noise=0, cutout=0)
    out, _ = Augmenter(AugmentConfig(**only, grey=1.0), np.random.default_rng(0))(img)
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 1], out[..., 2])
    assert np.abs(out[..., 0].astype(int) - cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)).max() == 0

    def lap(a):
        return cv2.Laplacian(cv2.cvtColor(a, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var()

    out, _ = Augmenter(AugmentConfig(**only, sharpen=1.0), np.random.default_rng(0))(img)
    assert lap(out) > 1.2 * lap(img)
    # off by default, and off means no random draw: the other transforms get the draws they always had
    rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
    a, _ = Augmenter(AugmentConfig(), rng_a)(img)
    b, _ = Augmenter(AugmentConfig(grey=0.0, sharpen=0.0), rng_b)(img)
    assert np.array_equal(a, b) and rng_a.random() == rng_b.random()


def test_reframe_moves_mask_with_image():
    img = np.zeros((100, 100, 3), np.uint8)
    mask = np.zeros((100, 100), np.float32)
    img[40:60, 40:60] = 255
    mask[40:60, 40:60] = 1
    out, m = reframe(img, mask, 0.5, (0.0, 0.0))  # zoom in x2 about the centre
    assert (out[..., 0] > 128).sum() == pytest.approx(1600, rel=0.1)
    assert np.array_equal(out[..., 0] > 128, m > 0.5)


def test_jpeg_is_lossy_but_close():
    img = np.ascontiguousarray(astronaut_rgb()[:128, :128])
    out = jpeg(img, 30)
    diff = np.abs(out.astype(int) - img).mean()
    assert 0.5 < diff < 15


def test_binary_report_and_eer():
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    p = np.array([0.1, 0.2, 0.3, 0.6, 0.4, 0.7, 0.8, 0.9])
    r = binary_report(y, p, 0.5)
    assert r["accuracy"] == pytest.approx(0.75)
    assert r["auc"] == pytest.approx(15 / 16)  # one mis-ordered pair (0.6 real vs 0.4 fake)
    assert r["confusion"] == [[3, 1], [1, 3]]
    e, _ = eer(y, p)
    assert e == pytest.approx(0.25)


def test_temperature_recovers_overconfidence():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 4000)
    true_logit = rng.normal(0, 1.5, 4000) + (2 * y - 1) * 1.0
    p_true = 1 / (1 + np.exp(-true_logit))
    y = (rng.random(4000) < p_true).astype(int)
    logits = np.stack([np.zeros(4000), true_logit * 3.0], 1)  # 3x overconfident
    assert fit_temperature(logits, y) == pytest.approx(3.0, rel=0.15)


def test_class_weights_count_pseudo_fakes():
    labels = np.array([0] * 100 + [1] * 100)
    w = class_weights(labels, synth_share=0.5)  # 50 reals stay real, 150 fakes
    assert w[0] > w[1]
    assert float(w[0] * 50) == pytest.approx(float(w[1] * 150))


def test_group_split_is_disjoint_and_deterministic():
    groups = [f"g{i // 3}" for i in range(300)]
    tr, va = group_split(groups, 0.2, seed=1)
    assert set(np.array(groups)[tr]).isdisjoint(np.array(groups)[va])
    assert 0.15 < len(va) / 300 < 0.25
    tr2, va2 = group_split(groups, 0.2, seed=1)
    assert np.array_equal(va, va2)


def test_config_validation(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: {sources: []}\nmodel: {backbon: x}\n")
    with pytest.raises(ConfigError, match="backbon"):
        load_config(bad)
    good = tmp_path / "good.yaml"
    good.write_text("data:\n  sources:\n    - {kind: crops, csv: crops/labels.csv}\n")
    cfg = load_config(good)
    assert cfg.data.sources[0].csv == (tmp_path / "crops" / "labels.csv").resolve()
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")


def test_face_swap_without_another_identity_falls_back_to_blending():
    """All real crops from one person: no swap partner exists, synthesis must still return."""
    from seethrough.faces import FacePipeline
    from seethrough.media import Frame
    from seethrough.training.data import CropTable, FrameDataset
    from seethrough.training.config import SynthConfig

    c = FacePipeline(crop_size=224, margin=1.15).process([Frame(0, 0.0, astronaut_rgb())]).crops[0]
    table = CropTable(np.stack([c.crop, c.crop]), np.stack([c.crop_landmarks] * 2), np.array([0, 0]),
                      ["original"] * 2, ["same", "same"], ["a", "b"])
    ds = FrameDataset(table, ["FaceSwap"], [0.5] * 3, [0.5] * 3, synth=SynthConfig(prob=1.0, families={"face_swap": 1.0}))
    syn, family = ds.synthesize(0, np.random.default_rng(0))
    assert family == "face_swap" and syn.method == "self_blend"
    assert syn.mask.max() >= 0.5  # blend ratios are 0.5..1


def test_failures_list_paths_resolve_against_the_list(tmp_path):
    from seethrough.errors import ConfigError
    from seethrough.training.finetune import read_failures

    (tmp_path / "lists").mkdir()
    listing = tmp_path / "lists" / "f.json"
    listing.write_text(json.dumps([{"path": "../media/a.mp4", "label": "real"},
                                   {"path": str(tmp_path / "b.mp4"), "label": 1, "method": "Deepfakes"}]))
    items = read_failures(listing)
    assert [it["path"] for it in items] == [str(tmp_path / "media" / "a.mp4"), str(tmp_path / "b.mp4")]
    assert items[1]["method"] == "Deepfakes"
    for bad in ("[]", "{}", '[{"label": 0}]', "not json"):
        listing.write_text(bad)
        with pytest.raises(ConfigError):
            read_failures(listing)


def test_default_recipe_reals_list_is_committed():
    from seethrough.training.finetune import read_failures

    listing = Path(__file__).resolve().parents[1] / "configs" / "default_model_reals.json"
    items = read_failures(listing)
    assert len(items) == 20 and all(it["label"] == "real" for it in items)
    # Only paths are checked, no file is read: the team's data sits beside the clone (configs/../../shared/data).
    shared = (listing.parents[2] / "shared" / "data" / "real_videos").resolve()  # ../shared may be a link
    assert all(Path(it["path"]).parent == shared for it in items)
