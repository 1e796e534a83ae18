"""Stage 2: the temporal head on cached per-frame embeddings, then calibration.

The fine-tuned backbone is frozen; every clip's frames are embedded once. Real video
sequences are turned into pseudo-fake sequences with one set of synthesis parameters
per sequence (the same blend every frame), so the head sees consistent manipulations.
Single crops are clips of one frame. The result is exported as one checkpoint with
labels, preprocessing, config, metrics and calibration.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..log import get_logger
from .config import TrainConfig
from .data import IGNORE, CropTable, FrameDataset, group_split
from .loop import _plot_history, _write_history, build_model, class_weights, load_weights, seed_everything
from .metrics import binary_report, fit_temperature, roc_auc

log = get_logger(__name__)


@dataclass
class Clip:
    frames: list[int]  # indices into the embedding matrix
    label: int
    method: int
    group: str
    name: str
    sequence: bool = False  # from a video source (else a single crop)


def split_clips(clips: list[Clip], val_groups: set[str] | None, val_frac: float, seed: int):
    """Train/val indices. Single crops keep the frame stage's held-out groups (no leak
    from stage 1 into stage 2's validation); video clips are split by their own groups,
    at least one group held out."""
    singles = [i for i, c in enumerate(clips) if not c.sequence]
    seqs = [i for i, c in enumerate(clips) if c.sequence]
    if val_groups is None:
        tr, va = group_split([clips[i].group for i in singles], val_frac, seed)
        val = {singles[i] for i in va}
    else:
        val = {i for i in singles if clips[i].group in val_groups}
    if seqs:
        _, va = group_split([clips[i].group for i in seqs], max(val_frac, 0.2), seed)
        val |= {seqs[i] for i in va}
    is_val = np.array([i in val for i in range(len(clips))])
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


@torch.no_grad()
def embed(model, images: list[np.ndarray], mean, std, batch: int = 64, desc: str = "embedding") -> torch.Tensor:
    """Backbone embeddings (N, C) of uint8 crops (bf16 autocast where the CPU has native bf16)."""
    from ..inference import cpu_has_fast_bf16

    fast_bf16 = cpu_has_fast_bf16()
    model.eval()
    mean = np.array(mean, np.float32) * 255
    std = np.array(std, np.float32) * 255
    out = []
    for i in tqdm(range(0, len(images), batch), desc=desc, unit="batch"):
        x = (np.stack(images[i : i + batch]).astype(np.float32) - mean) / std
        x = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=fast_bf16):
            out.append(model.backbone(x).float())
    return torch.cat(out)


def build_clips(table: CropTable, sequences: CropTable | None, cfg: TrainConfig, max_single: int | None = None):
    """Images to embed and the clips over them: crops as 1-frame clips, videos as sequences + pseudo-fakes."""
    methods = {m: i for i, m in enumerate(cfg.methods)}
    rng = np.random.default_rng(cfg.seed)
    images: list[np.ndarray] = []
    clips: list[Clip] = []
    singles = np.arange(len(table))
    if max_single and len(singles) > max_single:
        singles = np.sort(rng.choice(singles, max_single, replace=False))
    for i in singles:
        y = int(table.labels[i])
        clips.append(Clip([len(images)], y, methods.get(table.methods[i], IGNORE) if y else IGNORE, table.groups[i], table.paths[i]))
        images.append(np.asarray(table.images[i]))
    if sequences is None or not len(sequences):
        return images, clips
    synth_cfg = cfg.data.synth.model_copy(update={"prob": 1.0})
    T = cfg.temporal.frames
    synth = FrameDataset(sequences, cfg.methods, [0.5] * 3, [0.5] * 3, synth=synth_cfg)
    order: dict[str, list[int]] = {}
    for i, p in enumerate(sequences.paths):
        order.setdefault(p, []).append(i)
    for name, idx in order.items():
        idx = idx[:T]
        y = int(sequences.labels[idx[0]])
        group = sequences.groups[idx[0]]
        clips.append(Clip(list(range(len(images), len(images) + len(idx))), y,
                          methods.get(sequences.methods[idx[0]], IGNORE) if y else IGNORE, group, name, True))
        images.extend(np.asarray(sequences.images[i]) for i in idx)
        if y == 1 or np.isnan(sequences.landmarks[idx, 0, 0]).any():
            continue
        for family in synth_cfg.families:
            seq_seed = int(rng.integers(1 << 30))
            # Same generator state for every frame: one blend for the whole clip.
            fakes = [synth.synthesize(i, np.random.default_rng(seq_seed), family)[0].image for i in idx]
            target = synth_cfg.method_of.get(family)
            clips.append(Clip(list(range(len(images), len(images) + len(fakes))), 1,
                              methods.get(target, IGNORE) if target else IGNORE, group, f"{name}#{family}", True))
            images.extend(fakes)
    return images, clips


def _batch(clips: list[Clip], emb: torch.Tensor, rng: np.random.Generator | None, max_t: int):
    """Padded (B,T,C) embeddings + mask; random temporal crops when ``rng`` is given."""
    seqs = []
    for c in clips:
        f = c.frames
        if rng is not None and len(f) > 2:
            n = int(rng.integers(max(2, len(f) // 2), len(f) + 1))
            s = int(rng.integers(0, len(f) - n + 1))
            f = f[s : s + n]
        seqs.append(f[:max_t])
    t = max(len(s) for s in seqs)
    x = emb.new_zeros(len(clips), t, emb.shape[1])
    mask = torch.zeros(len(clips), t, dtype=torch.bool)
    for b, s in enumerate(seqs):
        x[b, : len(s)] = emb[s]
        mask[b, : len(s)] = True
    y = torch.tensor([c.label for c in clips])
    m = torch.tensor([c.method for c in clips])
    return x, mask, y, m


@torch.no_grad()
def _predict(model, clips, emb, max_t, bs=256):
    model.eval()
    logits, frame_logits = [], []
    for i in range(0, len(clips), bs):
        x, mask, _, _ = _batch(clips[i : i + bs], emb, None, max_t)
        out = model.forward_sequence_from_embeddings(x, mask)
        logits.append(out.logits)
        frame_logits.extend(out.frame_logits[b, mask[b]] for b in range(len(x)))
    return torch.cat(logits), frame_logits


def train_temporal(cfg: TrainConfig, frames_ckpt: Path, table: CropTable, sequences: CropTable | None) -> dict:
    """Train the temporal/binary/method heads; returns calibration + metrics, leaves weights in ``model``."""
    seed_everything(cfg.seed)
    out = Path(cfg.output_dir)
    model = build_model(cfg)
    model.load_state_dict(load_weights(frames_ckpt))
    prep = model.preprocessing
    images, clips = build_clips(table, sequences, cfg, max_single=8000)
    log.info("temporal stage: %d clips over %d images", len(clips), len(images))
    emb = embed(model, images, prep["mean"], prep["std"])
    vg = out / "val_groups.json"
    val_groups = set(json.loads(vg.read_text())) if vg.exists() else None
    tr, va = split_clips(clips, val_groups, cfg.data.val_frac, cfg.seed)
    train_c, val_c = [clips[i] for i in tr], [clips[i] for i in va]

    for p in model.parameters():
        p.requires_grad_(False)
    heads = [model.temporal, model.binary_head] + ([model.method_head] if model.method_head is not None else [])
    params = [p for h in heads for p in h.parameters()]
    for p in params:
        p.requires_grad_(True)
    ts = cfg.temporal
    opt = torch.optim.AdamW(params, lr=ts.lr, weight_decay=1e-4)
    labels = np.array([c.label for c in train_c])
    weights = class_weights(labels, 0.0)
    rng = np.random.default_rng(cfg.seed)
    best, best_state, history = -1.0, None, []
    val_y = np.array([c.label for c in val_c])
    t0 = time.time()
    for epoch in range(ts.epochs):
        model.train()
        model.backbone.eval()
        perm = rng.permutation(len(train_c))
        total = 0.0
        for i in range(0, len(perm), ts.batch_size):
            x, mask, y, m = _batch([train_c[j] for j in perm[i : i + ts.batch_size]], emb, rng, ts.frames)
            o = model.forward_sequence_from_embeddings(x, mask)
            loss = F.cross_entropy(o.logits, y, weight=weights)
            if (m != IGNORE).any() and model.method_head is not None:
                loss = loss + cfg.frames.method_loss_weight * F.cross_entropy(o.method_logits, m, ignore_index=IGNORE)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * len(y)
        logits, _ = _predict(model, val_c, emb, ts.frames)
        p = torch.softmax(logits, 1)[:, 1].numpy()
        auc = roc_auc(val_y, p)
        history.append({"epoch": epoch + 1, "step": epoch + 1, "train_loss": total / len(train_c),
                        "val_loss": float(F.cross_entropy(logits, torch.tensor(val_y)).item()),
                        "val_auc": auc, "seconds": time.time() - t0})
        log.info("temporal epoch %d: val AUC %.4f", epoch + 1, auc)
        if not math.isnan(auc) and auc > best:
            best, best_state = auc, {k: v.clone() for k, v in model.state_dict().items()}
    if history:
        _write_history(history, out / "metrics_temporal.csv")
        _plot_history(history, out / "curves_temporal.png")
    if best_state is not None:
        model.load_state_dict(best_state)

    # Calibration on the held-out clips.
    logits, frame_logits = _predict(model, val_c, emb, ts.frames)
    temperature = fit_temperature(logits.numpy(), val_y)
    fl = torch.cat(frame_logits).numpy()
    fy = np.concatenate([[c.label] * len(f) for c, f in zip(val_c, frame_logits)])
    frame_temperature = fit_temperature(fl, fy)
    p = torch.softmax(logits / temperature, 1)[:, 1].numpy()
    reals = np.sort(p[val_y == 0])
    # "fake" needs a score that at most 5% of held-out real clips reach; "real" one under
    # which at most 5% of held-out fakes fall. Never narrower than 0.4..0.6.
    fake_above = float(max(0.6, np.quantile(reals, 0.95))) if len(reals) else 0.65
    fakes = np.sort(p[val_y == 1])
    real_below = float(min(0.4, np.quantile(fakes, 0.05))) if len(fakes) else 0.35
    calibration = {"temperature": temperature, "frame_temperature": frame_temperature,
                   "thresholds": {"real_below": round(real_below, 4), "fake_above": round(min(fake_above, 0.95), 4)},
                   "fitted_on": f"{len(val_c)} held-out clips (group-disjoint)"}
    report = binary_report(val_y, p, threshold=0.5)
    names = np.array([c.name for c in val_c])
    per_source = {}
    for key in ("#self_blend", "#face_swap", "#reenact"):
        sel = np.array([key in n for n in names])
        if sel.any():
            per_source[key[1:]] = {"n": int(sel.sum()), "detected_at_0.5": float((p[sel] >= 0.5).mean())}
    real_seq = np.array([c.sequence and c.label == 0 for c in val_c])
    if real_seq.any():
        per_source["real_videos"] = {"n": int(real_seq.sum()), "called_fake_at_0.5": float((p[real_seq] >= 0.5).mean())}
    metrics = {"temporal_val": report, "temporal_val_pseudo": per_source, "frames_val": _frames_metrics(out)}
    return {"model": model, "calibration": calibration, "metrics": metrics}


def _frames_metrics(out: Path) -> dict:
    import csv

    path = out / "metrics_frames.csv"
    if not path.exists():
        return {}
    rows = list(csv.DictReader(open(path)))
    best = max(rows, key=lambda r: (float(r["val_auc"]) + float(r["val_auc_pseudo"] or r["val_auc"])) / 2)
    return {k: float(v) for k, v in best.items() if v not in ("", None)}
