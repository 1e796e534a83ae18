"""A training run packed to travel (`seethrough pack-training`), trained where the data is not,
and the frame stage's time budget that such a run (a lent GPU for minutes) relies on."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

from seethrough.cli import app
from seethrough.errors import ConfigError
from seethrough.testing import make_crop_dataset, write_tiny_config

pytestmark = pytest.mark.slow  # trains tiny models


@pytest.fixture()
def dataset(tmp_path):
    root = make_crop_dataset(tmp_path / "data")
    write_tiny_config(root, frames={"epochs": 2, "eval_every": 0})
    return root


def test_a_pack_trains_with_nothing_beside_it(dataset, tmp_path):
    from seethrough.models import read_checkpoint_meta
    from seethrough.training.config import load_config
    from seethrough.training.loop import load_tables
    from seethrough.training.pack import load_packed_table

    res = CliRunner().invoke(app, ["pack-training", "-c", str(dataset / "tiny.yaml"), "--out", str(tmp_path / "pack")])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (tmp_path / "pack").iterdir()) == ["config.yaml", "init.pt", "pack.json", "table.npz"]
    # the crops come back as they were, within JPEG's error, with their labels, groups and landmarks
    table = load_tables(load_config(dataset / "tiny.yaml"))
    packed = load_packed_table(tmp_path / "pack" / "table.npz")
    assert len(packed) == len(table) == 32
    order = [table.paths.index(p) for p in packed.paths]
    assert packed.labels.tolist() == table.labels[order].tolist()
    assert packed.groups == [table.groups[i] for i in order]
    np.testing.assert_allclose(packed.landmarks, table.landmarks[order], atol=1e-4)
    assert np.abs(packed.images.astype(int) - table.images[order].astype(int)).mean() < 3
    cfg = yaml.safe_load((tmp_path / "pack" / "config.yaml").read_text())
    assert cfg["data"]["sources"] == [{"kind": "packed", "path": "table.npz"}]
    assert cfg["frames"]["init_from"] == "init.pt" and cfg["model"]["pretrained"] is False
    assert cfg["temporal"]["enabled"] is False  # the clips of the temporal stage do not travel

    # elsewhere, the data folder gone: the module entry point trains and exports a checkpoint
    away = tmp_path / "elsewhere" / "pack"
    shutil.copytree(tmp_path / "pack", away)
    shutil.rmtree(dataset)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    run = subprocess.run([sys.executable, "-m", "seethrough.training.pack", str(away), str(tmp_path / "out"),
                          "--minutes", "5", "--workers", "0"], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    out = tmp_path / "out"
    assert (out / "model.pt").is_file() and (out / "metrics_frames.csv").is_file()
    history = list(csv.DictReader(open(out / "metrics_frames.csv")))
    assert history and all(0 <= float(r["val_auc"]) <= 1 for r in history)
    meta = read_checkpoint_meta(out / "model.pt")
    assert meta.preprocessing["input_size"] == 96 and meta.methods == ["Deepfakes", "FaceSwap", "Face2Face"]
    start = torch.load(away / "init.pt", weights_only=True)["model"]
    trained = torch.load(out / "model.pt", map_location="cpu", weights_only=False)["state_dict"]
    key = next(k for k in start if k.startswith("backbone.") and k.endswith("weight") and start[k].ndim == 4)
    assert not torch.allclose(start[key].float(), trained[key].float())  # it trained
    # back here, the checkpoint is what fit-head and calibrate start from: it loads and scores
    from seethrough.inference import Predictor

    s = Predictor(out / "model.pt").score([packed.images[0], packed.images[1]])
    assert 0.0 <= s.fake_probability <= 1.0 and len(s.frame_probabilities) == 2


def test_a_size_limit_keeps_the_pack_balanced(dataset, tmp_path):
    from seethrough.training.config import load_config
    from seethrough.training.pack import write_pack

    cfg = load_config(dataset / "tiny.yaml")
    write_pack(cfg, tmp_path / "all")
    weights = (tmp_path / "all" / "init.pt").stat().st_size
    limit = (weights + 40 * 1024) / 2**20  # the starting weights and about a third of the crops
    report = write_pack(cfg, tmp_path / "small", max_mb=limit)
    assert 2 <= report["crops"] < 32 and abs(report["real"] - report["fake"]) <= 1
    assert sum(p.stat().st_size for p in (tmp_path / "small").iterdir()) <= limit * 2**20 + 4096  # + config, report
    with pytest.raises(ConfigError, match="Not one crop fits"):
        write_pack(cfg, tmp_path / "none", max_mb=weights / 2**20)
    (tmp_path / "small" / "notes.txt").write_text("mine")  # the whole folder travels: only the pack in it
    with pytest.raises(ConfigError, match="holds other files"):
        write_pack(cfg, tmp_path / "small", max_mb=limit)
    with pytest.raises(ConfigError, match="already reads a pack"):
        write_pack(load_config(tmp_path / "small" / "config.yaml"), tmp_path / "again")


def test_the_time_budget_shortens_the_frame_stage(dataset):
    from seethrough.training.config import load_config
    from seethrough.training.loop import train_frames

    write_tiny_config(dataset, frames={"epochs": 2000, "max_minutes": 0.25, "eval_every": 0}, temporal=False)
    cfg = load_config(dataset / "tiny.yaml")
    planned = 2000 * 24 // 8  # 24 training crops (a quarter of the groups validate), batches of 8
    t = time.monotonic()
    train_frames(cfg, resume=False)
    elapsed = time.monotonic() - t
    history = list(csv.DictReader(open(cfg.output_dir / "metrics_frames.csv")))
    last = int(history[-1]["step"])
    assert 20 < last < planned  # it ran past the pace probe and stopped far short of 2,000 epochs
    assert elapsed < 90  # 15 s of budget; start-up on top
    assert 2 <= len(history) <= 10  # spread evaluations, not one per epoch
    # run again (resume): the shorter plan holds, nothing more is trained
    t = time.monotonic()
    train_frames(cfg, resume=True)
    assert len(list(csv.DictReader(open(cfg.output_dir / "metrics_frames.csv")))) == len(history)
    assert time.monotonic() - t < 30


def test_a_source_can_give_its_reals_only(dataset):
    from seethrough.training.config import load_config
    from seethrough.training.loop import load_tables

    cfg = yaml.safe_load((dataset / "tiny.yaml").read_text())
    cfg["data"]["sources"][0]["only"] = "real"  # self-blends of reals as the only fakes (configs/model_v4_sbi.yaml)
    (dataset / "reals.yaml").write_text(yaml.safe_dump(cfg))
    reals = load_tables(load_config(dataset / "reals.yaml"))
    everything = load_tables(load_config(dataset / "tiny.yaml"))
    assert len(reals) == 16 and not reals.labels.any()
    assert sorted(reals.paths) == sorted(p for p, y in zip(everything.paths, everything.labels) if y == 0)


def test_the_time_budget_is_refused_under_torchrun(dataset):
    from seethrough.training.config import load_config
    from seethrough.training.distributed import DistContext
    from seethrough.training.loop import train_frames

    write_tiny_config(dataset, frames={"max_minutes": 1}, temporal=False)
    with pytest.raises(ConfigError, match="one process"):
        train_frames(load_config(dataset / "tiny.yaml"), ctx=DistContext(world_size=2, rank=1))
