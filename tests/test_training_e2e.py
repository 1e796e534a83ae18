"""A tiny end-to-end run on generated data: train → checkpoint → evaluate → analyze."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from seethrough.cli import app
from seethrough.testing import make_crop_dataset, write_tiny_config

pytestmark = pytest.mark.slow  # trains tiny models end to end (CLI, DDP)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = make_crop_dataset(tmp_path_factory.mktemp("tinydata"))
    write_tiny_config(root, frames={"epochs": 2, "eval_every": 3, "checkpoint_every": 2})
    return root


def test_train_evaluate_analyze(dataset):
    runner = CliRunner()
    res = runner.invoke(app, ["train", "--config", str(dataset / "tiny.yaml")])
    assert res.exit_code == 0, res.output
    run = dataset / "run"
    for name in ("config.yaml", "metrics_frames.csv", "curves_frames.png", "frames_best.pt", "frames_last.pt",
                 "metrics_temporal.csv", "curves_temporal.png", "model.pt"):
        assert (run / name).is_file(), name
    history = list(csv.DictReader(open(run / "metrics_frames.csv")))
    assert len(history) >= 2 and all(0 <= float(r["val_auc"]) <= 1 for r in history)

    from seethrough.models import read_checkpoint_meta

    meta = read_checkpoint_meta(run / "model.pt")
    assert meta.methods == ["Deepfakes", "FaceSwap", "Face2Face"]
    assert meta.preprocessing["input_size"] == 96
    assert meta.calibration["temperature"] > 0
    assert meta.calibration["thresholds"]["real_below"] <= meta.calibration["thresholds"]["fake_above"]
    assert meta.config["name"] == "tiny"

    # A second invocation resumes: nothing left to train, same artefacts.
    res = runner.invoke(app, ["train", "--config", str(dataset / "tiny.yaml")])
    assert res.exit_code == 0, res.output

    # Evaluate on generated videos (labelled real and fake) with the trained model.
    meta_csv = dataset / "eval.csv"
    meta_csv.write_text("path,label,method\nvideos/v0.mp4,real,original\nvideos/v1.mp4,fake,Deepfakes\ncrops/r0.jpg,real,original\n")
    out = dataset / "eval"
    res = runner.invoke(app, ["evaluate", str(meta_csv), "--out", str(out), "--model", str(run / "model.pt"), "--frames", "6"])
    assert res.exit_code == 0, res.output
    for name in ("metrics.json", "predictions.csv", "per_method.csv", "failures.json", "confusion.csv",
                 "confusion.png", "classification_report.txt"):
        assert (out / name).is_file(), name
    m = json.loads((out / "metrics.json").read_text())
    assert m["n_files"] == 3 and m["n_scored"] + m["n_no_face"] + m["n_error"] == 3
    failures = json.loads((out / "failures.json").read_text())
    assert all(set(f) >= {"path", "label", "fake_probability"} for f in failures)
    assert all(Path(f["path"]).is_absolute() for f in failures)  # usable from any folder

    # Fine-tune on a failures list (written by hand so it is never empty; a relative path
    # is relative to the list).
    fails = dataset / "fails.json"
    fails.write_text(json.dumps([{"path": "videos/v1.mp4", "label": 1, "method": "Deepfakes"},
                                 {"path": str(dataset / "crops" / "r0.jpg"), "label": 0, "method": "original"}]))
    res = runner.invoke(app, ["finetune", "--checkpoint", str(run / "model.pt"), "--failures", str(fails),
                              "--out", str(dataset / "ft"), "--epochs", "1", "--replay", str(dataset / "crops.csv"),
                              "--replay-n", "8"])
    assert res.exit_code == 0, res.output
    ft = read_checkpoint_meta(dataset / "ft" / "model.pt")
    assert ft.metrics["finetune"]["failures"] == 2
    assert ft.calibration == meta.calibration and ft.methods == meta.methods

    res = runner.invoke(app, ["analyze", str(dataset / "videos" / "v0.mp4"), "--format", "json",
                              "--model", str(run / "model.pt"), "--frames", "6"])
    assert res.exit_code == 0, res.output
    a = json.loads(res.stdout)
    assert a["status"] == "ok" and a["verdict"] in ("real", "uncertain", "fake")
    assert a["model"]["name"] == "tiny"


def test_distributed_training_on_cpu_with_two_processes(dataset, tmp_path):
    """torchrun, 2 processes, gloo: each trains on half the data, gradients are averaged, rank 0 exports."""
    import subprocess
    import sys

    import yaml

    cfg = yaml.safe_load((dataset / "tiny.yaml").read_text())
    cfg["output_dir"] = str(tmp_path / "ddp")
    cfg["frames"]["batch_size"] = 4
    (dataset / "ddp.yaml").write_text(yaml.safe_dump(cfg))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "seethrough", "train", "-c", str(dataset / "ddp.yaml")]
    env = {**__import__("os").environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    run = tmp_path / "ddp"
    assert (run / "model.pt").is_file() and (run / "frames_best.pt").is_file()
    ranks = [json.loads((run / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert {r["world_size"] for r in ranks} == {2}
    # 24 training crops / (4 per process x 2 processes) x 2 epochs = 6 steps, the same on both ranks.
    assert ranks[0]["steps"] == ranks[1]["steps"] == 6
    # Gradients were all-reduced every step: both processes end with identical weights.
    assert ranks[0]["parameters_sha256"] == ranks[1]["parameters_sha256"]
    import re

    assert len(re.findall(r"^checkpoint:", res.stderr, re.M)) == 1  # only rank 0 exports
