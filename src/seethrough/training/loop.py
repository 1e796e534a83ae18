"""CPU-friendly two-stage training.

Stage 1 fine-tunes the backbone and the per-frame heads on single face crops (real,
dataset fakes and pseudo-fakes). Stage 2 freezes the backbone, caches per-frame
embeddings and trains the temporal head on sequences. Both stages checkpoint often
and resume where they stopped; a fixed seed makes a run repeatable.
"""

from __future__ import annotations

import csv
import json
import math
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, WeightedRandomSampler
from tqdm.auto import tqdm

from ..errors import ConfigError
from ..log import get_logger
from .config import CropSource, PackedSource, TrainConfig, dump_config
from .data import IGNORE, CropTable, FrameDataset, group_split, load_crop_table
from .metrics import roc_auc

log = get_logger(__name__)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def concat_tables(tables: list[CropTable]) -> CropTable:
    if len(tables) == 1:
        return tables[0]
    return CropTable(
        np.concatenate([np.asarray(t.images) for t in tables]),
        np.concatenate([t.landmarks for t in tables]),
        np.concatenate([t.labels for t in tables]),
        sum((t.methods for t in tables), []),
        sum((t.groups for t in tables), []),
        sum((t.paths for t in tables), []),
        sum((t.sources or [f"list{i}"] * len(t) for i, t in enumerate(tables)), []),
    )


def load_tables(cfg: TrainConfig) -> CropTable:
    tables = []
    for src in cfg.data.sources:
        if isinstance(src, PackedSource):
            from .pack import load_packed_table

            tables.append(load_packed_table(src.path))
        elif isinstance(src, CropSource):
            tables.append(load_crop_table(src, cfg.data.image_size, cfg.data.cache_dir))
        else:
            from .videos import load_video_table

            tables.append(load_video_table(src, cfg.data.image_size, cfg.data.crop_margin, cfg.data.cache_dir))
    return concat_tables(tables)


def build_model(cfg: TrainConfig):
    from ..models import build_detector

    return build_detector(
        pretrained=cfg.model.pretrained,
        weights_path=cfg.model.weights_path,
        backbone=cfg.model.backbone,
        temporal=cfg.model.temporal,
        num_methods=len(cfg.methods),
        hidden_size=cfg.model.hidden,
        dropout=cfg.model.dropout,
    )


def load_weights(path: Path) -> dict:
    """A detector state dict from a ``frames_best.pt`` or an exported checkpoint."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = state.get("model", state.get("state_dict", state))
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}


def freeze_early_stages(model, n: int) -> list:
    """Freeze the stem and the first ``n`` stages of the backbone; returns the frozen modules.

    Backpropagating through the high-resolution early stages is most of the cost of a
    training step on a CPU; their ImageNet filters (edges, textures) transfer well.
    """
    if n <= 0:
        return []
    trunk = model.backbone.model
    if hasattr(trunk, "blocks"):  # timm EfficientNet family
        frozen = [trunk.conv_stem, trunk.bn1, *list(trunk.blocks)[:n]]
    elif hasattr(trunk, "layer1"):  # ResNet/ResNeXt
        frozen = [trunk.conv1, trunk.bn1, *[getattr(trunk, f"layer{i}") for i in range(1, n + 1) if hasattr(trunk, f"layer{i}")]]
    else:
        log.warning("freeze_stages ignored: unknown backbone layout %s", type(trunk).__name__)
        return []
    for mod in frozen:
        mod.requires_grad_(False)
        mod.eval()
    return frozen


def class_weights(labels: np.ndarray, synth_share: float) -> torch.Tensor:
    """Inverse-frequency weights for real/fake, counting expected pseudo-fakes as fake."""
    n_real = float((labels == 0).sum()) * (1 - synth_share)
    n_fake = float((labels == 1).sum()) + float((labels == 0).sum()) * synth_share
    n = n_real + n_fake
    return torch.tensor([n / (2 * max(n_real, 1.0)), n / (2 * max(n_fake, 1.0))], dtype=torch.float32)


@dataclass
class EvalResult:
    auc: float
    auc_pseudo: float
    accuracy: float
    loss: float

    @property
    def score(self) -> float:
        """Model selection: the mean of dataset-fake AUC and pseudo-fake AUC (when both exist)."""
        vals = [v for v in (self.auc, self.auc_pseudo) if not math.isnan(v)]
        return float(np.mean(vals)) if vals else float("nan")


@torch.no_grad()
def predict_frames(model, loader: DataLoader) -> tuple[np.ndarray, np.ndarray]:
    """(fake probabilities, labels) for every item of ``loader``."""
    model.eval()
    device = next(model.parameters()).device
    probs, labels = [], []
    for x, y, _, _ in loader:
        logits = model.forward_frames(x.to(device))[0].cpu()
        probs.append(torch.softmax(logits.float(), 1)[:, 1].numpy())
        labels.append(y.numpy())
    return np.concatenate(probs), np.concatenate(labels)


def evaluate_frames(model, val: CropTable, cfg: TrainConfig, prep: dict) -> EvalResult:
    """Validation on dataset fakes as they are, and on pseudo-fakes of the validation reals."""
    bs = cfg.frames.batch_size
    plain = FrameDataset(val, cfg.methods, prep["mean"], prep["std"], seed=cfg.seed, deterministic=True)
    p, y = predict_frames(model, DataLoader(plain, batch_size=bs))
    eps = 1e-6
    loss = float(-np.mean(y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps)))
    auc_pseudo = float("nan")
    reals = np.flatnonzero((val.labels == 0) & ~np.isnan(val.landmarks[:, 0, 0]))
    if len(reals) and cfg.data.synth.prob > 0:
        synth_cfg = cfg.data.synth.model_copy(update={"prob": 1.0})
        fake_ds = FrameDataset(val.subset(reals), cfg.methods, prep["mean"], prep["std"], synth=synth_cfg,
                               seed=cfg.seed + 1, deterministic=True)
        pf, _ = predict_frames(model, DataLoader(fake_ds, batch_size=bs))
        auc_pseudo = roc_auc(np.r_[np.zeros(len(reals)), np.ones(len(pf))], np.r_[p[y == 0][: len(reals)], pf])
    return EvalResult(roc_auc(y, p), auc_pseudo, float(((p >= 0.5) == y).mean()), loss)


def _lr_at(step: int, total: int, base: float, warmup: int) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return base * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))


def train_frames(cfg: TrainConfig, table: CropTable | None = None, resume: bool = True, ctx=None,
                 on_eval=None) -> Path:
    """Stage 1. Returns the path of the best frame-stage weights (``frames_best.pt``).

    ``ctx`` (:class:`~seethrough.training.distributed.DistContext`) spreads the stage over
    torchrun's processes; only rank 0 evaluates and writes files. ``on_eval(step, EvalResult)``
    is called after each evaluation (rank 0); an exception it raises (e.g. Optuna's
    ``TrialPruned``) stops the stage there.
    """
    from .distributed import DistContext, record_rank, wrap

    ctx = ctx or DistContext()
    if cfg.frames.max_minutes and ctx.enabled:  # each process would time itself and stop at a step of its own
        raise ConfigError("frames.max_minutes works in one process (one GPU or the CPU); under torchrun set epochs.")
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    if ctx.is_main:
        dump_config(cfg, out / "config.yaml")
    seed_everything(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    table = table if table is not None else load_tables(cfg)
    tr_idx, va_idx = group_split(table.groups, cfg.data.val_frac, cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    va_idx = np.sort(rng.permutation(va_idx)[: cfg.frames.max_val])
    train_t, val_t = table.subset(tr_idx), table.subset(va_idx)
    if ctx.is_main:
        np.save(out / "val_index.npy", va_idx)
        (out / "val_groups.json").write_text(json.dumps(sorted(set(val_t.groups))))
    log.info("frame stage: %d train / %d val crops (%d groups held out)", len(train_t), len(val_t), len(set(val_t.groups)))

    model = build_model(cfg)
    if cfg.frames.init_from:
        model.load_state_dict(load_weights(cfg.frames.init_from))
        log.info("initialised from %s", cfg.frames.init_from)
    frozen = freeze_early_stages(model, cfg.frames.freeze_stages)
    model.to(ctx.device)
    prep = model.preprocessing
    ds = FrameDataset(train_t, cfg.methods, prep["mean"], prep["std"], augment=cfg.data.augment,
                      synth=cfg.data.synth, seed=cfg.seed)
    fs = cfg.frames
    synth_share = cfg.data.synth.prob * float(np.mean(~np.isnan(train_t.landmarks[train_t.labels == 0, 0, 0]))) if (train_t.labels == 0).any() else 0.0
    weights = (class_weights(train_t.labels, synth_share) if fs.class_weighting else torch.ones(2)).to(ctx.device)
    sampler = _sampler(ds, train_t.labels, fs.oversample, cfg.seed, ctx, train_t.source_weights(fs.source_balance))
    g = torch.Generator().manual_seed(cfg.seed + ctx.rank)
    loader = DataLoader(ds, batch_size=fs.batch_size, shuffle=sampler is None, sampler=sampler, drop_last=True,
                        num_workers=cfg.workers, persistent_workers=cfg.workers > 0, generator=g)
    total = max(1, int(math.ceil(fs.epochs * len(ds) / (fs.batch_size * ctx.world_size))))
    step_fn = wrap(model, ctx)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=fs.lr, weight_decay=fs.weight_decay)
    eval_every = fs.eval_every or len(loader)

    step, best, history = 0, -1.0, []
    last = out / "frames_last.pt"
    if fs.epochs == 0:  # no frame training: the initial weights go straight to stage 2
        if ctx.is_main:
            torch.save({"model": model.state_dict(), "step": 0, "score": float("nan")}, out / "frames_best.pt")
        ctx.barrier()
        return out / "frames_best.pt"
    if resume and last.exists():
        state = torch.load(last, map_location=ctx.device, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        step, best, history = state["step"], state["best"], state["history"]
        total = min(total, state.get("total", total))  # a time budget's shorter plan holds on resume
        torch.set_rng_state(state["torch_rng"].cpu())
        log.info("resumed frame stage at step %d/%d (best score %.4f)", step, total, best)
    if step >= total:
        return out / "frames_best.pt"

    log.info("class weights real/fake = %.3f/%.3f; %d steps of %d x %d process(es)", weights[0], weights[1], total,
             fs.batch_size, ctx.world_size)
    bar = tqdm(total=total, initial=step, desc="frame stage", unit="step", dynamic_ncols=True, disable=not ctx.is_main)
    t0, run_loss, n_loss = time.time(), 0.0, 0
    budget = _TimeBudget(fs.max_minutes) if fs.max_minutes else None
    warmup = fs.warmup_steps
    if budget is not None and not fs.eval_every:
        eval_every = total + 1  # none while the pace is measured; then spread over the steps that fit
    while step < total:
        ds.epoch = step // len(loader)
        if hasattr(loader.sampler, "set_epoch"):
            loader.sampler.set_epoch(ds.epoch)
        _train_mode(model, frozen)
        for x, y, m, _ in loader:
            x, y, m = x.to(ctx.device), y.to(ctx.device), m.to(ctx.device)
            for gparam in opt.param_groups:
                gparam["lr"] = _lr_at(step, total, fs.lr, warmup)
            frame_logits, method_logits, _ = step_fn(x)
            loss = F.cross_entropy(frame_logits, y, weight=weights)
            if (m != IGNORE).any():
                loss = loss + fs.method_loss_weight * F.cross_entropy(method_logits, m, ignore_index=IGNORE)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 5.0)
            opt.step()
            step += 1
            run_loss, n_loss = run_loss + loss.item(), n_loss + 1
            bar.update(1)
            if budget is not None and (fit := budget.steps_that_fit(step, total)) is not None:
                total = fit
                bar.total = total
                bar.refresh()
                warmup = min(warmup, max(1, total // 10))  # a short run still decays its learning rate
                if not fs.eval_every:  # the evaluations, spread over the steps that fit
                    eval_every = max(len(loader), (total - step) // _TimeBudget.EVALUATIONS)
            bar.set_postfix(loss=f"{run_loss / n_loss:.3f}")
            done = step >= total
            if (step % eval_every == 0 or done) and ctx.is_main:
                res = evaluate_frames(model, val_t, cfg, prep)
                row = {"step": step, "epoch": round(step / len(loader), 3), "train_loss": run_loss / max(n_loss, 1),
                       "val_loss": res.loss, "val_auc": res.auc, "val_auc_pseudo": res.auc_pseudo,
                       "val_acc": res.accuracy, "lr": opt.param_groups[0]["lr"], "seconds": time.time() - t0}
                history.append(row)
                _write_history(history, out / "metrics_frames.csv")
                _plot_history(history, out / "curves_frames.png")
                log.info("step %d: val AUC %.4f, pseudo-fake AUC %.4f, acc %.3f", step, res.auc, res.auc_pseudo, res.accuracy)
                run_loss, n_loss = 0.0, 0
                if res.score > best or best < 0:
                    best = res.score
                    torch.save({"model": model.state_dict(), "step": step, "score": best}, out / "frames_best.pt")
                if on_eval is not None:
                    on_eval(step, res)
                _train_mode(model, frozen)
            if (step % fs.checkpoint_every == 0 or done) and ctx.is_main:
                _atomic_save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "best": best,
                              "total": total, "history": history, "torch_rng": torch.get_rng_state()}, last)
            if done:
                break
    bar.close()
    record_rank(out, ctx, model, step)
    ctx.barrier()  # every rank leaves with frames_best.pt written
    return out / "frames_best.pt"


class _TimeBudget:
    """Shortens a stage to end within ``minutes``. Once, after :attr:`PROBE` steps (or a tenth of
    the budget, if that comes first, with two steps at least) the planned total becomes the steps
    that fit in the time left, at the pace measured from the end of the first step (so the loader's
    start-up and the first step's warm-up do not count as pace). Evaluations and checkpoints are
    allowed :attr:`MARGIN` of the time; without ``eval_every`` the stage evaluates
    :attr:`EVALUATIONS` times (at most once per epoch), not after every epoch."""

    PROBE = 20
    MARGIN = 0.15
    EVALUATIONS = 8

    def __init__(self, minutes: float) -> None:
        self.minutes = minutes
        self.t_start = time.monotonic()
        self.deadline = self.t_start + minutes * 60
        self.first: tuple[int, float] | None = None  # (step, time) at the end of the first step
        self.decided = False

    def steps_that_fit(self, step: int, total: int) -> int | None:
        """The new total (never longer than ``total``) at the step that decides it; None otherwise."""
        now = time.monotonic()
        if self.first is None:
            self.first = (step, now)
            return None
        done = step - self.first[0]
        if self.decided or done < 2 or (done < self.PROBE and now - self.t_start < 0.1 * self.minutes * 60):
            return None
        self.decided = True
        per_step = (now - self.first[1]) / done
        fit = step + int((self.deadline - now) * (1 - self.MARGIN) / per_step)
        new_total = max(step, min(total, fit))
        if new_total < total:
            log.info("time budget: %d of %d planned steps fit (%.2f s a step)", new_total, total, per_step)
        return new_total


def _sampler(ds, labels: np.ndarray, oversample: bool, seed: int, ctx, source_weights: np.ndarray | None = None):
    """None (plain shuffling), class-balanced and/or source-balanced drawing, and/or this rank's share of the data."""
    balanced = source_weights is not None and not np.allclose(source_weights, source_weights[0])
    if oversample or balanced:
        w = np.ones(len(labels)) if source_weights is None else np.asarray(source_weights, np.float64)
        if oversample:
            w = w * (1.0 / np.bincount(labels, minlength=2).clip(min=1))[labels]
        g = torch.Generator().manual_seed(seed + ctx.rank)
        return WeightedRandomSampler(torch.as_tensor(w), num_samples=len(labels) // ctx.world_size, replacement=True,
                                     generator=g)
    if ctx.enabled:
        from torch.utils.data import DistributedSampler

        return DistributedSampler(ds, num_replicas=ctx.world_size, rank=ctx.rank, shuffle=True, seed=seed,
                                  drop_last=True)
    return None


def _train_mode(model, frozen: list) -> None:
    model.train()
    for mod in frozen:  # frozen stages keep their BatchNorm statistics
        mod.eval()


def _atomic_save(obj, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _write_history(history: list[dict], path: Path) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(history[0].keys()))
        w.writeheader()
        w.writerows(history)


def _plot_history(history: list[dict], path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    steps = [h["step"] for h in history]
    fig = Figure(figsize=(10, 3.5))  # no pyplot: callers' plotting state (e.g. notebooks) is left alone
    FigureCanvasAgg(fig)
    a, b = fig.subplots(1, 2)
    a.plot(steps, [h["train_loss"] for h in history], "o-", label="train")
    a.plot(steps, [h["val_loss"] for h in history], "o-", label="validation")
    a.set_xlabel("step"), a.set_ylabel("loss"), a.legend()
    for key, label in (("val_auc", "dataset fakes"), ("val_auc_pseudo", "pseudo-fakes")):
        b.plot(steps, [h.get(key, float("nan")) for h in history], "o-", label=label)
    b.set_xlabel("step"), b.set_ylabel("validation AUC"), b.set_ylim(0.4, 1.0), b.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
