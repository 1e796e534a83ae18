"""``seethrough tune``: hyperparameter search over a training config with Optuna.

Every trial is an ordinary training run (:mod:`seethrough.training`) of a copy of the
base config with sampled values, in its own folder ``<study_dir>/trial_<n>``.

Objective (maximised)
    ``temporal_auc``: ROC-AUC of the exported model on the temporal stage's held-out
    clips (``metrics["temporal_val"]["auc"]`` in the checkpoint; the same group-disjoint
    validation split for every trial). ``frame_score``: the best frame-stage
    validation score (mean of dataset-fake AUC and pseudo-fake AUC, the score the frame
    stage selects its weights by). ``auto`` (default) is ``temporal_auc`` when the
    temporal stage is enabled, else ``frame_score``.

Pruning
    The frame stage reports each evaluation to Optuna as it happens (``on_eval``:
    step = training step, value = frame score) and the pruner may stop the trial there
    and then. Evaluations of an earlier, interrupted attempt (``metrics_frames.csv``) are
    reported too, and the pruner decides once more before the temporal stage runs. A
    pruned trial keeps its frame-stage files.

Storage and resuming
    The study lives in any SQLAlchemy database (default SQLite ``<study_dir>/optuna.db``;
    PostgreSQL works). ``trials`` is the number of finished (complete or pruned)
    trials wanted: a rerun only runs the missing ones, and trials left "running" by a
    killed process on this host are marked failed first (Ctrl-C marks them failed at once).

Search space
    A mapping ``name -> {type: float|int|categorical, low, high, log, step, choices}``
    where ``name`` is a dotted path into the config (``frames.lr``, ``model.hidden``,
    ``data.sources.0.frames``...) or ``augment_strength``: a factor on the probabilities
    of the degrading augmentations (reframe, jpeg, blur, resize, color, noise, cutout),
    clipped to [0, 1]. A ``--space`` YAML file replaces :data:`DEFAULT_SPACE`.
"""

from __future__ import annotations

import csv
import math
import os
import socket
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from .errors import ConfigError
from .log import get_logger
from .training.config import TrainConfig, dump_config

log = get_logger(__name__)

Objective = Literal["auto", "temporal_auc", "frame_score"]
AUGMENT_STRENGTH = "augment_strength"
#: Augmentation probabilities scaled by ``augment_strength`` (flip is not a degradation).
SCALED_AUGMENTS = ("reframe", "jpeg", "blur", "resize", "color", "noise", "cutout")

DEFAULT_SPACE: dict[str, dict[str, Any]] = {
    "frames.lr": {"type": "float", "low": 1e-4, "high": 3e-3, "log": True},
    "temporal.lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
    "temporal.frames": {"type": "int", "low": 8, "high": 32, "step": 8},
    "model.hidden": {"type": "categorical", "choices": [64, 128, 256]},
    AUGMENT_STRENGTH: {"type": "float", "low": 0.5, "high": 1.5},
    "model.backbone": {"type": "categorical", "choices": ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"]},
}


class Param(BaseModel):
    """One searched dimension."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["float", "int", "categorical"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: list[Any] | None = None

    @model_validator(mode="after")
    def _check(self) -> Param:
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("a categorical parameter needs a non-empty 'choices' list")
        else:
            if self.low is None or self.high is None or not self.low < self.high:
                raise ValueError("float and int parameters need low < high")
            if self.log and self.low <= 0:
                raise ValueError("log scale needs low > 0")
            if self.log and self.step is not None:
                raise ValueError("log and step cannot be combined")
        return self

    def suggest(self, trial, name: str) -> Any:
        if self.type == "categorical":
            return trial.suggest_categorical(name, self.choices)
        if self.type == "int":
            return trial.suggest_int(name, int(self.low), int(self.high), step=int(self.step or 1), log=self.log)
        return trial.suggest_float(name, self.low, self.high, step=self.step, log=self.log)

    def example(self) -> Any:
        """A value of the right type (to check that the parameter applies to a config)."""
        if self.type == "categorical":
            return self.choices[0]
        return int(self.low) if self.type == "int" else float(self.low)


SearchSpace = dict[str, Param]


def parse_space(raw: dict[str, Any]) -> SearchSpace:
    if not isinstance(raw, dict) or not raw:
        raise ConfigError("A search space is a non-empty mapping of parameter name -> {type, low, high, ...}.")
    space = {}
    for name, spec in raw.items():
        try:
            space[str(name)] = Param.model_validate(spec)
        except ValidationError as exc:
            raise ConfigError(f"Search space parameter {name!r} is invalid:\n{exc}") from None
    return space


def load_space(path: str | Path | None) -> SearchSpace:
    """The YAML search space at ``path``, or :data:`DEFAULT_SPACE`."""
    if path is None:
        return parse_space(DEFAULT_SPACE)
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"Search space file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    return parse_space(raw)


def _set_path(tree: Any, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = tree
    for i, key in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            if not key.isdigit() or int(key) >= len(node):
                raise ConfigError(f"{dotted!r}: {key!r} is not an index of a {len(node)}-item list")
            idx = int(key)
            if last:
                node[idx] = value
            else:
                node = node[idx]
        elif isinstance(node, dict) and key in node:
            if last:
                node[key] = value
            else:
                node = node[key]
        else:
            raise ConfigError(f"{dotted!r} is not a setting of the training config ({key!r} not found)")


def apply_params(cfg: TrainConfig, params: dict[str, Any]) -> TrainConfig:
    """A validated copy of ``cfg`` with ``params`` (dotted paths, or ``augment_strength``) set."""
    raw = cfg.model_dump(mode="json")
    for name, value in params.items():
        if name == AUGMENT_STRENGTH:
            aug = raw["data"]["augment"]
            for key in SCALED_AUGMENTS:
                aug[key] = round(min(1.0, max(0.0, float(aug[key]) * float(value))), 6)
        else:
            _set_path(raw, name, value)
    try:
        return TrainConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"The sampled values {params} do not make a valid training config:\n{exc}") from None


def check_space(cfg: TrainConfig, space: SearchSpace) -> None:
    """Raise :class:`ConfigError` if a parameter of ``space`` does not apply to ``cfg``."""
    apply_params(cfg, {name: p.example() for name, p in space.items()})
    backbone = space.get("model.backbone")
    if backbone is not None:
        from .models import available_backbones

        unknown = [b for b in (backbone.choices or []) if b not in available_backbones()]
        if unknown:
            raise ConfigError(f"Unknown backbone(s) in the search space: {', '.join(map(str, unknown))}; "
                              f"available: {', '.join(available_backbones())}")


def frame_scores(run_dir: Path) -> list[tuple[int, float]]:
    """``(step, score)`` per frame-stage evaluation in ``metrics_frames.csv`` (score as the frame stage selects by)."""
    from .training.loop import EvalResult

    path = Path(run_dir) / "metrics_frames.csv"
    if not path.is_file():
        return []
    out = []
    with open(path, newline="") as fh:
        for r in csv.DictReader(fh):
            res = EvalResult(float(r["val_auc"] or "nan"), float(r["val_auc_pseudo"] or "nan"),
                             float(r["val_acc"] or "nan"), float(r["val_loss"] or "nan"))
            out.append((int(r["step"]), res.score))
    return out


def _resolve_objective(cfg: TrainConfig, objective: Objective) -> str:
    if objective == "auto":
        return "temporal_auc" if cfg.temporal.enabled else "frame_score"
    if objective == "temporal_auc" and not cfg.temporal.enabled:
        raise ConfigError("objective temporal_auc needs the temporal stage (temporal.enabled: true)")
    return objective


def _finite(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None


def run_trial(trial, base: TrainConfig, space: SearchSpace, study_dir: Path, objective: str) -> float:
    """One trial: sample, frame stage, report + maybe prune, temporal stage + export, objective."""
    import optuna

    from .models import read_checkpoint_meta
    from .training.distributed import setup
    from .training.loop import load_tables, train_frames
    from .training.run import train

    params = {name: p.suggest(trial, name) for name, p in space.items()}
    cfg = apply_params(base, params)
    cfg.name = f"{base.name}-trial{trial.number}"
    cfg.output_dir = Path(study_dir) / f"trial_{trial.number}"
    trial.set_user_attr("output_dir", str(cfg.output_dir))
    trial.set_user_attr("worker", {"host": socket.gethostname(), "pid": os.getpid()})
    log.info("trial %d: %s", trial.number, params)

    reported: set[int] = set()

    def report(step: int, score: float) -> None:
        if math.isfinite(score) and step not in reported:
            reported.add(step)
            trial.report(score, step)

    def on_eval(step: int, res) -> None:  # live, after every frame-stage evaluation
        report(step, res.score)
        if trial.should_prune():
            trial.set_user_attr("frame_score", _finite(res.score))
            raise optuna.TrialPruned(f"pruned at frame-stage step {step} (score {res.score:.4f})")

    ctx = setup()
    try:
        train_frames(cfg, load_tables(cfg), resume=True, ctx=ctx, on_eval=on_eval)
    finally:
        ctx.close()
    scores = frame_scores(cfg.output_dir)  # also evaluations of an earlier, interrupted attempt
    for step, score in scores:
        report(step, score)
    finite = [s for _, s in scores if math.isfinite(s)]
    best_frame = max(finite) if finite else float("nan")
    trial.set_user_attr("frame_score", _finite(best_frame))
    if trial.should_prune():
        raise optuna.TrialPruned(f"pruned after the frame stage (score {best_frame:.4f})")

    path = train(cfg, resume=True)  # the frame stage is done: this resumes into the temporal stage
    trial.set_user_attr("checkpoint", str(path))
    auc = _finite(((read_checkpoint_meta(path).metrics or {}).get("temporal_val") or {}).get("auc"))
    trial.set_user_attr("temporal_auc", auc)
    value = auc if objective == "temporal_auc" else _finite(best_frame)
    if value is None:
        # NaN fails the trial in Optuna; say why (usually a validation split with one class).
        log.warning("trial %d: objective %s is undefined (does the validation split hold both classes?)",
                    trial.number, objective)
        return float("nan")
    return value


@dataclass
class TrialRow:
    number: int
    state: str  # COMPLETE | PRUNED | FAIL | RUNNING | WAITING
    value: float | None
    params: dict[str, Any]
    duration_s: float | None
    frame_score: float | None = None
    temporal_auc: float | None = None
    output_dir: str | None = None


@dataclass
class TuneResult:
    study_name: str
    storage: str  # the study database URL, password masked
    study_dir: Path
    objective: str
    trials: list[TrialRow] = field(default_factory=list)
    best: TrialRow | None = None
    best_config: Path | None = None
    ran: int = 0  # trials attempted by this call

    @property
    def finished(self) -> int:
        return sum(t.state in ("COMPLETE", "PRUNED") for t in self.trials)


def _rows(study) -> list[TrialRow]:
    rows = []
    for t in study.get_trials(deepcopy=False):
        dur = t.duration.total_seconds() if t.duration is not None else None
        rows.append(TrialRow(t.number, t.state.name, t.value if t.values else None, dict(t.params), dur,
                             t.user_attrs.get("frame_score"), t.user_attrs.get("temporal_auc"),
                             t.user_attrs.get("output_dir")))
    return rows


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def fail_orphaned_trials(study) -> list[int]:
    """Mark failed the trials left RUNNING by a dead process of this host; returns their numbers."""
    from optuna.trial import TrialState

    host, failed = socket.gethostname(), []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        w = t.user_attrs.get("worker") or {}
        if w.get("host") == host and w.get("pid") != os.getpid() and not _pid_alive(int(w.get("pid", -1))):
            study.tell(t.number, state=TrialState.FAIL)
            failed.append(t.number)
    if failed:
        log.warning("marked interrupted trial(s) %s as failed", failed)
    return failed


def _make_pruner(pruner):
    import optuna

    if pruner is None or pruner == "none":
        return optuna.pruners.NopPruner()
    if pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)
    if isinstance(pruner, optuna.pruners.BasePruner):
        return pruner
    raise ConfigError(f"unknown pruner {pruner!r}; use median or none")


def default_storage(study_dir: Path) -> str:
    return f"sqlite:///{(Path(study_dir) / 'optuna.db').resolve()}"


def write_trials_csv(rows: list[TrialRow], path: Path) -> None:
    names = sorted({k for r in rows for k in r.params})
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["trial", "state", "value", "frame_score", "temporal_auc", "duration_s", *names])
        for r in rows:
            w.writerow([r.number, r.state, r.value, r.frame_score, r.temporal_auc,
                        None if r.duration_s is None else round(r.duration_s, 2), *[r.params.get(n) for n in names]])


def tune(
    base: TrainConfig,
    trials: int,
    study_dir: str | Path,
    *,
    storage: str | None = None,
    study_name: str | None = None,
    space: SearchSpace | None = None,
    pruner: Any = "median",
    objective: Objective = "auto",
    timeout: float | None = None,
    seed: int | None = None,
) -> TuneResult:
    """Run (or resume) a study until ``trials`` trials have finished; writes
    ``best_config.yaml``, ``trials.csv`` and ``space.yaml`` into ``study_dir``."""
    import optuna
    from optuna.trial import TrialState

    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ConfigError("seethrough tune runs one process; start it without torchrun")
    if trials < 1:
        raise ConfigError("--trials must be at least 1")
    study_dir = Path(study_dir).resolve()
    study_dir.mkdir(parents=True, exist_ok=True)
    space = space if space is not None else load_space(None)
    check_space(base, space)
    obj = _resolve_objective(base, objective)
    from .dburl import masked_url, normalize_database_url

    url = normalize_database_url(storage) if storage else default_storage(study_dir)
    shown = masked_url(url) if storage else url  # never print a database password
    name = study_name or base.name
    try:
        with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna, and stable since 2.x
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            rdb = optuna.storages.RDBStorage(url, heartbeat_interval=60, grace_period=180)
    except Exception as exc:  # noqa: BLE001 - bad URL, missing driver, unreachable server
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        raise ConfigError(f"Cannot open the study storage {shown}: {reason[0] if reason else type(exc).__name__}") from None
    study = optuna.create_study(study_name=name, storage=rdb, direction="maximize", load_if_exists=True,
                                pruner=_make_pruner(pruner))
    known = study.user_attrs.get("objective")
    if known and known != obj:
        raise ConfigError(f"Study {name!r} maximises {known}, not {obj}; pass another --study-name or --objective {known}.")
    study.set_user_attr("objective", obj)
    study.set_user_attr("study_dir", str(study_dir))
    fail_orphaned_trials(study)
    study.sampler = optuna.samplers.TPESampler(seed=(base.seed if seed is None else seed) + len(study.trials))
    (study_dir / "space.yaml").write_text(yaml.safe_dump({k: p.model_dump(exclude_none=True) for k, p in space.items()},
                                                         sort_keys=False))

    done = sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in study.get_trials(deepcopy=False))
    todo = max(0, trials - done)
    log.info("study %s: %d finished trial(s), running %d more", name, done, todo)
    t0 = time.time()
    try:
        if todo:
            optuna.logging.set_verbosity(optuna.logging.WARNING)
            study.optimize(lambda tr: run_trial(tr, base, space, study_dir, obj), n_trials=todo, timeout=timeout,
                           catch=(RuntimeError, FloatingPointError), gc_after_trial=True)
    finally:  # also after Ctrl-C: what finished so far is summarised
        best_config = _write_outputs(study, base, study_dir)
    log.info("study %s: %d trial(s) run in %.1f s", name, todo, time.time() - t0)
    return summarize_study(study, study_dir, shown, obj, best_config, ran=todo)


def _write_outputs(study, base: TrainConfig, study_dir: Path) -> Path | None:
    """``trials.csv`` and, once a trial completed, ``best_config.yaml`` (its output_dir is <study_dir>/best)."""
    rows = _rows(study)
    write_trials_csv(rows, study_dir / "trials.csv")
    best = best_trial(study)
    if best is None:
        return None
    cfg = apply_params(base, best.params)
    cfg.name = f"{base.name}-best"
    cfg.output_dir = study_dir / "best"
    path = study_dir / "best_config.yaml"
    dump_config(cfg, path)
    header = (f"# Best trial {best.number} of study {study.study_name!r}: {study.user_attrs.get('objective', 'value')} "
              f"= {best.value:.4f}\n# params: {best.params}\n# Train it: seethrough train -c {path}\n")
    path.write_text(header + path.read_text())
    return path


def best_trial(study):
    """The best COMPLETE trial, or None."""
    from optuna.trial import TrialState

    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.value is not None]
    return max(done, key=lambda t: (t.value, -t.number)) if done else None


def summarize_study(study, study_dir: Path, url: str, objective: str, best_config: Path | None = None,
              ran: int = 0) -> TuneResult:
    rows = _rows(study)
    best = best_trial(study)
    best_row = next((r for r in rows if best is not None and r.number == best.number), None)
    return TuneResult(study.study_name, url, Path(study_dir), objective, rows, best_row, best_config, ran)
