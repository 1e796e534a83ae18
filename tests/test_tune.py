"""`seethrough tune`: Optuna studies over tiny generated training runs."""

from __future__ import annotations

import csv
import socket
import subprocess
import sys

import optuna
import pytest
import yaml
from optuna.trial import TrialState
from typer.testing import CliRunner

from seethrough.cli import app
from seethrough.errors import ConfigError
from seethrough.testing import make_crop_dataset, write_tiny_config
from seethrough.training.config import load_config
from seethrough.tune import (
    AUGMENT_STRENGTH,
    apply_params,
    fail_orphaned_trials,
    frame_scores,
    load_space,
    parse_space,
    tune,
)

pytestmark = pytest.mark.slow  # runs Optuna trials of tiny trainings

SPACE = {
    "frames.lr": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True},
    "temporal.lr": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True},
    "temporal.frames": {"type": "int", "low": 4, "high": 6, "step": 2},
    "model.hidden": {"type": "categorical", "choices": [8, 16]},
    AUGMENT_STRENGTH: {"type": "float", "low": 0.0, "high": 1.0},
    "model.backbone": {"type": "categorical", "choices": ["tiny_cnn"]},
}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """16 real + 16 recoloured crops in 8 groups, 2 short real videos, a tiny_cnn config and a search space."""
    root = make_crop_dataset(tmp_path_factory.mktemp("tunedata"), size=64, video_frames=8)
    write_tiny_config(root, image_size=64, threads=1, frames={"max_val": 16})
    (root / "space.yaml").write_text(yaml.safe_dump(SPACE))
    return root


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_study_runs_resumes_and_best_config_trains(dataset, tmp_path):
    study_dir = tmp_path / "study"
    runner = CliRunner()
    args = ["tune", "--config", str(dataset / "tiny.yaml"), "--study-dir", str(study_dir),
            "--space", str(dataset / "space.yaml")]
    res = runner.invoke(app, [*args, "--trials", "2"])
    assert res.exit_code == 0, res.output
    assert "best config" in res.output and "COMPLETE" in res.output

    storage = f"sqlite:///{study_dir / 'optuna.db'}"
    study = optuna.load_study(study_name="tiny", storage=storage)
    first = study.get_trials()
    assert [t.state for t in first] == [TrialState.COMPLETE] * 2
    for t in first:
        run = study_dir / f"trial_{t.number}"
        assert (run / "model.pt").is_file() and (run / "metrics_frames.csv").is_file()
        assert set(t.params) == set(SPACE)
        # The objective is the temporal stage's held-out AUC stored in the exported checkpoint.
        from seethrough.models import read_checkpoint_meta

        assert t.value == pytest.approx(read_checkpoint_meta(run / "model.pt").metrics["temporal_val"]["auc"])
        assert 0.0 <= t.value <= 1.0
        # Each trial really trained with its sampled values.
        cfg = yaml.safe_load((run / "config.yaml").read_text())
        assert cfg["frames"]["lr"] == pytest.approx(t.params["frames.lr"])
        assert cfg["model"]["hidden"] == t.params["model.hidden"]
        assert cfg["temporal"]["frames"] == t.params["temporal.frames"]
        assert frame_scores(run) and t.intermediate_values  # frame-stage evaluations were reported

    best = max(first, key=lambda t: (t.value, -t.number))
    best_cfg = load_config(study_dir / "best_config.yaml")
    assert best_cfg.frames.lr == pytest.approx(best.params["frames.lr"])
    assert best_cfg.model.hidden == best.params["model.hidden"]
    assert best_cfg.output_dir == study_dir / "best"
    with open(study_dir / "trials.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["state"] for r in rows] == ["COMPLETE", "COMPLETE"]

    # A process killed mid-trial leaves a RUNNING trial: the rerun marks it failed first.
    orphan = study.ask()
    orphan.set_user_attr("worker", {"host": socket.gethostname(), "pid": _dead_pid()})
    res = runner.invoke(app, [*args, "--trials", "3"])
    assert res.exit_code == 0, res.output
    trials = optuna.load_study(study_name="tiny", storage=storage).get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.COMPLETE, TrialState.FAIL, TrialState.COMPLETE]
    assert [t.params for t in trials[:2]] == [t.params for t in first]  # completed trials kept, not redone
    assert [t.value for t in trials[:2]] == [t.value for t in first]
    assert (study_dir / "trial_3" / "model.pt").is_file()

    # Enough finished trials: a rerun trains nothing.
    res = runner.invoke(app, [*args, "--trials", "3"])
    assert res.exit_code == 0, res.output
    assert len(optuna.load_study(study_name="tiny", storage=storage).trials) == 4

    # The best config is a valid training config that trains.
    best_cfg = load_config(study_dir / "best_config.yaml")
    best_cfg.temporal.epochs = 1
    from seethrough.training.run import train

    assert train(best_cfg).is_file()


def test_forced_pruner_prunes_before_the_temporal_stage(dataset, tmp_path):
    cfg = load_config(dataset / "tiny.yaml")
    res = tune(cfg, 1, tmp_path / "pruned", space=parse_space(SPACE),
               pruner=optuna.pruners.ThresholdPruner(lower=1.5))  # an AUC-based score never reaches 1.5
    assert [t.state for t in res.trials] == ["PRUNED"]
    run = tmp_path / "pruned" / "trial_0"
    assert (run / "metrics_frames.csv").is_file() and (run / "frames_best.pt").is_file()
    # Pruned live, at the frame stage's first evaluation, not after the whole stage.
    assert len(frame_scores(run)) == 1
    assert not (run / "model.pt").exists()  # the temporal stage never ran
    assert res.best is None and res.best_config is None and not (tmp_path / "pruned" / "best_config.yaml").exists()
    assert res.finished == 1
    # Pruned trials count as finished: asking for one trial again runs nothing.
    again = tune(cfg, 1, tmp_path / "pruned", space=parse_space(SPACE), pruner="none")
    assert again.ran == 0 and len(again.trials) == 1
    # A study keeps its objective.
    with pytest.raises(ConfigError, match="maximises temporal_auc"):
        tune(cfg, 2, tmp_path / "pruned", space=parse_space(SPACE), objective="frame_score")


def test_apply_params_paths_and_augment_strength(dataset):
    cfg = load_config(dataset / "tiny.yaml")
    out = apply_params(cfg, {"frames.lr": 0.01, "data.sources.0.limit": 4, AUGMENT_STRENGTH: 2.0,
                             "model.backbone": "efficientnet_lite1"})
    assert out.frames.lr == 0.01 and out.data.sources[0].limit == 4 and out.model.backbone == "efficientnet_lite1"
    assert out.data.augment.jpeg == pytest.approx(min(1.0, 2 * cfg.data.augment.jpeg))
    assert out.data.augment.reframe == 1.0  # clipped
    assert out.data.augment.flip == cfg.data.augment.flip  # not a degradation: unscaled
    assert cfg.frames.lr == 0.003  # the base config is untouched
    zero = apply_params(cfg, {AUGMENT_STRENGTH: 0.0}).data.augment
    assert zero.jpeg == zero.blur == zero.cutout == 0.0
    with pytest.raises(ConfigError, match="frames.lrr"):
        apply_params(cfg, {"frames.lrr": 0.1})
    with pytest.raises(ConfigError, match="not an index"):
        apply_params(cfg, {"data.sources.3.limit": 1})
    with pytest.raises(ConfigError, match="valid training config"):
        apply_params(cfg, {"model.temporal": "transformer"})


def test_space_files(tmp_path):
    default = load_space(None)
    assert {"frames.lr", "temporal.lr", "temporal.frames", "model.hidden", AUGMENT_STRENGTH, "model.backbone"} <= set(default)
    bad = tmp_path / "bad.yaml"
    bad.write_text("frames.lr: {type: float, low: 0.1, high: 0.01}\n")
    with pytest.raises(ConfigError, match="low < high"):
        load_space(bad)
    bad.write_text("model.hidden: {type: categorical, choices: []}\n")
    with pytest.raises(ConfigError, match="choices"):
        load_space(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_space(tmp_path / "missing.yaml")


def test_unknown_backbone_is_refused_before_training(dataset, tmp_path):
    cfg = load_config(dataset / "tiny.yaml")
    space = parse_space({"model.backbone": {"type": "categorical", "choices": ["tiny_cnn", "resnet9000"]}})
    with pytest.raises(ConfigError, match="resnet9000"):
        tune(cfg, 1, tmp_path / "s", space=space)
    assert not list((tmp_path / "s").glob("trial_*"))


def test_orphans_of_other_hosts_are_left_alone(tmp_path):
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'o.db'}", study_name="s")
    mine, theirs, alive = study.ask(), study.ask(), study.ask()
    mine.set_user_attr("worker", {"host": socket.gethostname(), "pid": _dead_pid()})
    theirs.set_user_attr("worker", {"host": "another-machine", "pid": 1})
    alive.set_user_attr("worker", {"host": socket.gethostname(), "pid": 1})
    assert fail_orphaned_trials(study) == [mine.number]
    states = [t.state for t in study.get_trials()]
    assert states == [TrialState.FAIL, TrialState.RUNNING, TrialState.RUNNING]


def test_cli_errors(dataset, tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["tune", "-c", str(dataset / "tiny.yaml"), "--study-dir", str(tmp_path / "s"),
                              "--storage", "nosuchdialect://x", "--space", str(dataset / "space.yaml")])
    assert res.exit_code == 2 and "Cannot open the study storage" in res.output
    bad = tmp_path / "space.yaml"
    bad.write_text("model.width: {type: int, low: 1, high: 4}\n")
    res = runner.invoke(app, ["tune", "-c", str(dataset / "tiny.yaml"), "--study-dir", str(tmp_path / "s"),
                              "--space", str(bad)])
    assert res.exit_code == 2 and "model.width" in res.output


def test_frame_score_objective_without_temporal_stage(dataset, tmp_path):
    cfg = load_config(dataset / "tiny.yaml")
    cfg.temporal.enabled = False
    space = parse_space({k: v for k, v in SPACE.items() if not k.startswith("temporal.")})
    res = tune(cfg, 1, tmp_path / "frames-only", space=space, pruner="none")
    assert res.objective == "frame_score"
    (row,) = res.trials
    assert row.state == "COMPLETE" and row.temporal_auc is None
    best_score = max(s for _, s in frame_scores(tmp_path / "frames-only" / "trial_0"))
    assert row.value == pytest.approx(best_score) == pytest.approx(row.frame_score)
    assert (tmp_path / "frames-only" / "trial_0" / "model.pt").is_file()
    with pytest.raises(ConfigError, match="temporal stage"):
        tune(cfg, 1, tmp_path / "x", space=space, objective="temporal_auc")
