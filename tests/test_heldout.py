"""The held-out split: read, applied by evaluate, and respected by training and calibration."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from seethrough.datasets.heldout import default_split_path, load_split
from seethrough.errors import ConfigError
from seethrough.training.evaluate import items_from_csv


def _split(tmp_path: Path, test=(), calib=(), dataset="cross_source") -> Path:
    path = tmp_path / "split.json"
    path.write_text(json.dumps({"version": 1, "datasets": {dataset: {"group_column": "group", "test": list(test),
                                                                     "calib": list(calib)}}}))
    return path


def test_committed_split_is_valid_and_disjoint():
    split = load_split(default_split_path())
    assert set(split.datasets) == {"dfdc_faces", "real_videos", "cross_source"}
    cross = split.dataset("cross_source")
    assert cross.test and cross.calib and not cross.test & cross.calib
    assert len(split.dataset("dfdc_faces").test) == 800
    assert split.dataset("real_videos").part_of("W011") == "test"
    assert split.dataset("cross_source").part_of("some/unknown-repo") == "train"


def test_split_file_errors_are_clear(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_split(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(ConfigError, match="not a valid split file"):
        load_split(bad)
    both = _split(tmp_path, test=["x"], calib=["x"])
    with pytest.raises(ConfigError, match="both test and calib"):
        load_split(both)
    split = load_split(_split(tmp_path))
    with pytest.raises(ConfigError, match="no split for the dataset 'dfdc_faces'"):
        split.dataset("dfdc_faces")


def test_evaluate_reads_cross_source_lists_by_part(cross_source, tmp_path):
    split = load_split(_split(tmp_path, test=["test_a"], calib=["calib_a"]))
    every = items_from_csv(cross_source / "labels.csv")
    assert len(every) == 11
    grid = next(it for it in every if it.grid)
    assert grid.label == 1 and grid.family == "editing" and grid.method == "StarGAN"  # whole-file test
    test = items_from_csv(cross_source / "labels.csv", heldout=split, part="test")
    assert {it.group for it in test} == {"test_a"}
    assert sorted(it.kind for it in test) == ["animation", "image", "image"]
    assert {it.dataset for it in test} == {"cross_source"}
    calib = items_from_csv(cross_source / "labels.csv", heldout=split, part="calib")
    assert {it.group for it in calib} == {"calib_a"} and len(calib) == 2
    with pytest.raises(ValueError, match="part must be one of"):
        items_from_csv(cross_source / "labels.csv", heldout=split, part="val")


def test_training_reads_only_its_part_and_never_composites(cross_source, tmp_path):
    from seethrough.training.config import VideoSource
    from seethrough.training.videos import load_video_table

    split_path = _split(tmp_path, test=["test_a"], calib=["calib_a"])
    src = VideoSource(csv=cross_source / "labels.csv", heldout=split_path, frames=2, balance_by="group")
    table = load_video_table(src, 64, 1.15, tmp_path / "cache")
    assert set(table.groups) == {"train_a", "train_b"}
    assert not any("grid" in p for p in table.paths)
    assert sorted(set(table.paths)) == ["images/train_a_0.jpg", "images/train_a_1.jpg", "images/train_b_0.jpg",
                                        "images/train_b_1.jpg", "videos/swap.mp4"]
    assert set(table.sources) == {"cross_source/train_a", "cross_source/train_b"}
    # the same list without the split reads every group (another cache, not the one above)
    everything = load_video_table(VideoSource(csv=cross_source / "labels.csv", frames=2), 64, 1.15, tmp_path / "cache")
    assert {"test_a", "calib_a"} <= set(everything.groups)


def test_source_balance_weights(tmp_path):
    from seethrough.training.data import CropTable

    n = 110
    table = CropTable(np.zeros((n, 4, 4, 3), np.uint8), np.zeros((n, 68, 2), np.float32), np.zeros(n, np.int64),
                      ["original"] * n, ["g"] * n, ["p"] * n, ["big"] * 100 + ["small"] * 10)
    np.testing.assert_allclose(table.source_weights(0.0), 1.0)
    for balance, share in ((1.0, 0.5), (0.5, 10**0.5 / (10**0.5 + 100**0.5))):
        w = table.source_weights(balance)
        assert w.mean() == pytest.approx(1.0)
        assert w[100:].sum() / w.sum() == pytest.approx(share)
    assert table.subset(np.array([0, 105])).sources == ["big", "small"]


def test_calibration_uses_only_the_calib_part(cross_source, tiny_checkpoint, tmp_path):
    from seethrough.inference import Predictor
    from seethrough.training.calibrate import run_calibration

    split_path = _split(tmp_path, test=["test_a"], calib=["calib_a", "train_b"])
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"""
data:
  image_size: 64
  crop_margin: 1.15
  cache_dir: {tmp_path / 'cache'}
  sources:
    - kind: videos
      csv: {cross_source / 'labels.csv'}
      frames: 2
      balance_by: group
""")
    out, report = run_calibration(tiny_checkpoint, tmp_path / "cal.pt", cfg, split_path, frames=2, max_per_label=50)
    # calib: calib_a's 2 photos and train_b's 2 photos; train_b's grid is a whole-file test, so it counts too
    assert report["files"] == 5 and report["sources"] == 2
    p = Predictor(out)
    assert p.familiarity is not None
    lo, hi = p.thresholds["real_below"], p.thresholds["fake_above"]
    assert 0 < lo <= 0.4 and 0.6 <= hi < 1
    assert p.meta.calibration["calibration_report"]["files"] == 5
    assert report["min_coverage"] == 0.0  # the rule the real line was fitted under is kept with it
    # the ranking on the calibration sources is reported, for choosing between candidates; here the grid
    # (two small faces) is not scored, so the files scored hold one label and give no AUC
    assert report["scored"] == 4 and report["fake"] == 0 and report["auc"] is None
    from seethrough.datasets.heldout import load_split
    from seethrough.training.calibrate import calibrate
    from seethrough.training.evaluate import items_from_csv

    items = items_from_csv(cross_source / "labels.csv", heldout=load_split(split_path), part="test")
    fit = calibrate(Predictor(tiny_checkpoint), items, familiarity=None, progress=False)
    assert fit.report["real"] == 2 and fit.report["fake"] == 1 and 0.0 <= fit.report["auc"] <= 1.0
    # the familiarity model saw train_a only (test_a and the calib groups are never training crops)
    assert report["familiarity_sources"] == ["cross_source/train_a"]
    assert "part calib" in p.meta.calibration["fitted_on"]


def test_finetune_never_takes_failures_of_held_out_groups(tmp_path):
    from seethrough.training.finetune import trainable_failures

    split = load_split(_split(tmp_path, test=["test_a"], calib=["calib_a"]))
    items = [{"path": "a.jpg", "label": 1, "dataset": "cross_source", "group": "test_a"},
             {"path": "b.jpg", "label": 0, "dataset": "cross_source", "group": "calib_a"},
             {"path": "c.jpg", "label": 1, "dataset": "cross_source", "group": "train_a"},
             {"path": "d.jpg", "label": 0}]  # a hand-made list without dataset/group: the user's own files
    assert [it["path"] for it in trainable_failures(items, split)] == ["c.jpg", "d.jpg"]
    assert trainable_failures(items, None) == items
    with pytest.raises(ConfigError, match="held-out group"):
        trainable_failures(items[:2], split)


def test_thresholds_protect_reals_and_keep_coverage():
    from seethrough.training.calibrate import FAKE_LINE_FPR, fit_thresholds

    rng = np.random.default_rng(0)
    # a weak model: real and fake scores overlap almost completely, in two real and two fake sources
    p = np.r_[rng.uniform(0, 0.8, 200), rng.uniform(0.1, 0.9, 40)]
    y = np.r_[np.zeros(200, int), np.ones(40, int)]
    groups = ["ra"] * 150 + ["rb"] * 50 + ["fa"] * 20 + ["fb"] * 20
    th = fit_thresholds(p, y, groups, min_coverage=0.5)
    for g in ("ra", "rb"):  # the fake line: each real source below the allowed share, roughly
        sel = np.array(groups) == g
        assert (p[sel] >= th["fake_above"]).mean() <= FAKE_LINE_FPR + 0.05
    w = np.array([1 / 150] * 150 + [1 / 50] * 50 + [1 / 20] * 40)
    covered = ((p < th["real_below"]) | (p >= th["fake_above"]))
    assert (w * covered).sum() / w.sum() >= 0.5 - 0.02  # the real line moved up to keep coverage
    assert th["real_below"] <= 0.4
    strict = fit_thresholds(p, y, groups)  # the default: no coverage rule
    assert strict["real_below"] < th["real_below"] and strict["fake_above"] == th["fake_above"]


def test_calibrate_cli_passes_the_coverage_rule_on(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    import seethrough.training.calibrate as cal
    from seethrough.cli import app

    seen = []

    def fake_run(checkpoint, out, config, split_file, **kw):
        seen.append(kw)
        return out, {"thresholds": {}}

    monkeypatch.setattr(cal, "run_calibration", fake_run)
    args = ["calibrate", str(tmp_path / "m.pt"), "--out", str(tmp_path / "c.pt"), "-c", str(tmp_path / "cfg.yaml")]
    assert CliRunner().invoke(app, [*args, "--min-coverage", "0.5"]).exit_code == 0
    assert CliRunner().invoke(app, args).exit_code == 0
    assert seen[0]["min_coverage"] == 0.5 and "min_coverage" not in seen[1]  # absent: the module's MIN_COVERAGE
    assert CliRunner().invoke(app, [*args, "--min-coverage", "1.5"]).exit_code == 2
