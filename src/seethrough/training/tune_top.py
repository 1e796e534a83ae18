"""Fine-tune the last backbone stages after the linear read-out (``head.tune`` in a fit-head config).

Why: a linear read-out of a frozen embedding can only weigh what the embedding already shows
(sessions 5-7: it holds on new sources, but self-blends of clean photos stay invisible to it).
Training the whole backbone needs hours on a GPU; the *last* stages are a small share of the
compute and most of the parameters, so they train on 2 CPU cores in minutes when the input of
those stages is computed once and kept (the crops' feature maps after the frozen stages).

The recipe is "linear probe, then fine-tune" (LP-FT): the read-out fitted first starts the
fine-tuning, so the early steps do not wreck features the probe relies on, and the result
holds better on new distributions than fine-tuning from a random head (Kumar et al., 2022).
Batch-norm statistics stay frozen; each step draws files with probability proportional to the
read-out's source-share weights, so the sources weigh what they weigh in the read-out. Pseudo-
fakes of the real files (``data.synth``; self-blends above all) may take ``synth_share`` of the
draws: a fake that differs from its real only by the blend leaves no shortcut to learn.

Only EfficientNet-style timm trunks (``blocks``, ``conv_head``, ``bn2``) can be split.
"""

from __future__ import annotations

import math
import time
from contextlib import nullcontext

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ..errors import ConfigError
from ..log import get_logger

log = get_logger(__name__)


class TopStages(nn.Module):
    """The last ``n`` stages of an EfficientNet-style trunk, its head conv and pooling: the
    cached input of those stages (B, C, h, w) -> the embedding (B, D). Shares the trunk's modules."""

    def __init__(self, trunk: nn.Module, n: int) -> None:
        super().__init__()
        if not all(hasattr(trunk, k) for k in ("blocks", "conv_head", "bn2")):
            raise ConfigError(f"head.tune: the {type(trunk).__name__} backbone has no EfficientNet stages to "
                              "fine-tune; set head.tune.blocks to 0.")
        if not 1 <= n < len(trunk.blocks):
            raise ConfigError(f"head.tune.blocks must be between 1 and {len(trunk.blocks) - 1}; got {n}.")
        self.stages = nn.ModuleList(trunk.blocks[len(trunk.blocks) - n:])
        self.conv_head, self.bn2 = trunk.conv_head, trunk.bn2
        self.cut = trunk.blocks[len(trunk.blocks) - n - 1]  # whose output is cached

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous(memory_format=torch.channels_last)
        for stage in self.stages:
            x = stage(x)
        return self.bn2(self.conv_head(x)).mean(dim=(2, 3))


def cut_layer(model, n: int) -> nn.Module:
    """The module whose output :func:`tune_top` needs cached for a ``n``-stage fine-tune."""
    return TopStages(model.backbone.model, n).cut


def embed_keeping(predictor, crops: list[np.ndarray], keep: nn.Module | None) -> tuple[torch.Tensor, np.ndarray | None]:
    """``predictor.embed(crops)`` and, with ``keep``, the crops' outputs of that module (float16), taken
    on the way: the stored inputs of the stages :func:`tune_top` trains."""
    kept: list[torch.Tensor] = []
    hook = None if keep is None else keep.register_forward_hook(
        lambda _m, _i, output: kept.append(output.detach().contiguous().half()))
    try:
        # a forward hook needs PyTorch's forward pass; without one, the predictor's runtime (ONNX on a CPU)
        with predictor.lock, (predictor.eager() if keep is not None else nullcontext()), torch.no_grad():
            emb, _ = predictor.embed(crops)
    finally:
        if hook is not None:
            hook.remove()
    return emb, (torch.cat(kept).numpy() if keep is not None else None)


def _embed(top: TopStages, feats: list[np.ndarray], chunk: int = 256) -> np.ndarray:
    """Mean embedding of each example's cached crops, with the top stages as they are now."""
    flat = np.concatenate(feats)
    owner = np.repeat(np.arange(len(feats)), [len(f) for f in feats])
    with torch.no_grad():
        emb = torch.cat([top(torch.from_numpy(flat[i : i + chunk]).float()) for i in range(0, len(flat), chunk)])
    sums = torch.zeros(len(feats), emb.shape[1]).index_add_(0, torch.from_numpy(owner), emb)
    return (sums / torch.from_numpy(np.bincount(owner, minlength=len(feats))).unsqueeze(1)).numpy()


def tune_top(model, data, fit, tune, *, shares: dict[str, float] | None, val: np.ndarray, seed: int = 0,
             progress: bool = True, half: bool = False) -> dict:
    """Fine-tune the last ``tune.blocks`` stages of ``model``'s trunk (in place) on ``data``'s cached
    stage inputs, starting from the read-out ``fit``; returns the per-epoch validation report.

    ``val`` marks the examples of groups held out of the fine-tuning (their AUC is logged per epoch).
    Afterwards ``data.emb`` holds the embeddings of the tuned trunk, ready for the final read-out;
    with ``half`` (the checkpoint stores float16 weights) the tuned weights are first rounded to what
    will be stored, so the read-out is fitted on the trunk that ships.
    """
    from .head import _auc, auc_by_source, share_weights

    if data.feats is None:
        raise ValueError("tune_top needs the cached stage inputs (embed_files(..., keep=...))")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    top = TopStages(model.backbone.model, tune.blocks).float()
    top.eval()  # frozen batch-norm statistics; the weights train
    head = nn.Linear(fit.weight.shape[1], 1)
    with torch.no_grad():
        head.weight.copy_(torch.from_numpy(fit.weight[1:2]))
        head.bias.copy_(torch.from_numpy(fit.bias[1:2]))
    is_synth = np.array([v == "synth" for v in data.views])
    if tune.fakes == "synth":  # reals against their pseudo-fakes; the files' fakes wait for the final read-out
        train = ~val & np.where(is_synth, True, data.labels == 0)
    else:
        train = ~val & (~is_synth | (tune.synth_share > 0))
    sources = [("synth" if s else src) for s, src in zip(is_synth, data.sources)]
    base = {k: v * (1.0 - tune.synth_share) for k, v in (shares or {}).items()}
    if tune.synth_share > 0:
        base["synth"] = tune.synth_share
    idx = np.flatnonzero(train)
    w = share_weights([sources[i] for i in idx], data.labels[idx], base)
    p = w / w.sum()
    params = list(top.parameters()) + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=tune.lr, weight_decay=tune.weight_decay)
    steps_per_epoch = max(1, math.ceil(len(idx) / tune.batch))
    total = max(1, int(round(tune.epochs * steps_per_epoch)))
    warm = max(1, total // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / total))))
    loss_fn = nn.BCEWithLogitsLoss()
    val_plain = np.flatnonzero(val & np.array([v == "plain" for v in data.views]))
    val_synth = np.flatnonzero(val & is_synth)
    report: dict = {"blocks": tune.blocks, "examples": int(len(idx)), "steps": total, "epochs": []}
    log.info("fit-head tune: %d stages, %d examples (%d pseudo-fakes, fakes: %s), %d steps of %d files, lr %g",
             tune.blocks, len(idx), int(is_synth[idx].sum()), tune.fakes, total, tune.batch, tune.lr)

    def evaluate(step: int) -> None:
        top.eval()
        row: dict = {"step": step}
        if len(val_plain):
            w = head.weight.detach().numpy()[0]
            s = _embed(top, [data.feats[i] for i in val_plain]) @ w
            y = data.labels[val_plain]
            if (auc := _auc(y, s)) is not None:
                row["val_auc"] = auc
            by_source = auc_by_source(y, s, [data.sources[i] for i in val_plain])
            row.update({f"auc:{n}": v["auc"] for n, v in by_source.items()})
            if len(val_synth) and (y == 0).any():  # the reals' pseudo-fakes against the reals
                s_syn = _embed(top, [data.feats[i] for i in val_synth]) @ w
                row["auc:synth"] = _auc(np.r_[np.zeros((y == 0).sum()), np.ones(len(s_syn))], np.r_[s[y == 0], s_syn])
        report["epochs"].append(row)
        log.info("fit-head tune: step %d/%d: %s", step, total, row)

    evaluate(0)
    marks = {int(round(total * k / max(1, math.ceil(tune.epochs)))) for k in range(1, math.ceil(tune.epochs) + 1)}
    start = time.monotonic()
    bar = tqdm(range(total), desc="tuning top stages", unit="step", disable=not progress)
    for step in bar:
        pick = rng.choice(idx, size=tune.batch, p=p)
        feats, owner = [], []
        for k, i in enumerate(pick):
            f = data.feats[i]
            if len(f) > tune.crops:
                f = f[np.sort(rng.choice(len(f), tune.crops, replace=False))]
            feats.append(f)
            owner.extend([k] * len(f))
        x = torch.from_numpy(np.concatenate(feats)).float()
        emb = top(x)
        own = torch.tensor(owner)
        mean = torch.zeros(len(pick), emb.shape[1]).index_add(0, own, emb) / torch.bincount(own).unsqueeze(1)
        loss = loss_fn(head(mean).squeeze(1), torch.from_numpy(data.labels[pick]).float())
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        bar.set_postfix(loss=f"{loss.item():.3f}")
        if step + 1 in marks:
            evaluate(step + 1)
    report["seconds"] = round(time.monotonic() - start, 1)
    if half:
        with torch.no_grad():
            for p in top.parameters():
                p.copy_(p.half().float())
    data.emb = _embed(top, data.feats).astype(np.float32)
    return report
