"""``seethrough finetune``: continue a checkpoint on the files it got wrong.

The misclassified files (``failures.json`` from ``seethrough evaluate``) are cropped
like any video source, optionally mixed with a replay of the original crops so the
model does not forget them, and the frame stage continues from the checkpoint at a
low learning rate. Labels, calibration and the temporal head are carried over.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..log import get_logger
from .config import CropSource, TrainConfig, VideoSource
from .data import label_of
from .loop import build_model, concat_tables, load_weights, train_frames
from .run import export
from .videos import load_video_table

log = get_logger(__name__)


def read_failures(path: str | Path) -> list[dict]:
    """The items of a failures list (``failures.json`` from ``seethrough evaluate``, or a
    hand-made list such as ``configs/default_model_reals.json``), with relative media
    paths resolved against the list's own folder, so a committed list works from any
    working directory."""
    path = Path(path)
    try:
        items = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"Cannot read the failures list {path}: {exc}") from exc
    if not isinstance(items, list) or not all(isinstance(it, dict) and "path" in it and "label" in it for it in items):
        raise ConfigError(f"{path} is not a failures list: expected a JSON list of {{\"path\", \"label\"}} objects.")
    if not items:
        raise ConfigError(f"{path} lists no failures: nothing to fine-tune on.")
    base = path.resolve().parent
    return [{**it, "path": str((base / it["path"]).resolve())} for it in items]


def finetune(
    checkpoint: Path,
    failures: Path,
    out_dir: Path,
    *,
    epochs: float = 2.0,
    lr: float = 5e-5,
    freeze_stages: int = 3,
    frames: int = 8,
    replay: Path | None = None,
    replay_n: int = 2000,
    exclude_groups: set[str] | None = None,
) -> Path:
    from ..models import read_checkpoint_meta

    meta = read_checkpoint_meta(checkpoint)
    config = {k: v for k, v in meta.config.items() if k != "model_version"}
    try:
        cfg = TrainConfig.model_validate(config)
    except Exception as exc:
        raise ConfigError(f"{checkpoint} does not carry a usable training config: {exc}") from exc
    items = read_failures(failures)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    listing = out_dir / "failures.csv"
    with open(listing, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["path", "label", "method", "group"])
        w.writeheader()
        for it in items:
            label = "fake" if label_of(it["label"]) else "real"
            w.writerow({"path": it["path"], "label": label,
                        "method": it.get("method") or "", "group": it["path"]})
    cfg.output_dir = out_dir
    if not Path(cfg.data.cache_dir).is_dir():  # reuse the original run's decoded crops when present
        cfg.data.cache_dir = out_dir / "cache"
    cfg.frames = cfg.frames.model_copy(update={
        "init_from": Path(checkpoint), "epochs": epochs, "lr": lr, "freeze_stages": freeze_stages,
        "warmup_steps": 5, "eval_every": 0, "checkpoint_every": 20,
        "batch_size": min(cfg.frames.batch_size, 16)})
    src = VideoSource(csv=listing, root=Path("/"), frames=frames)
    tables = [load_video_table(src, cfg.data.image_size, cfg.data.crop_margin, cfg.data.cache_dir)]
    if replay:
        from .data import load_crop_table

        rep = load_crop_table(CropSource(csv=replay), cfg.data.image_size, cfg.data.cache_dir)
        # Keep held-out groups (e.g. the original run's val_groups.json) out of the replay.
        allowed = np.array([g not in (exclude_groups or set()) for g in rep.groups])
        idx = np.sort(np.random.default_rng(cfg.seed).permutation(np.flatnonzero(allowed))[:replay_n])
        tables.append(rep.subset(idx))
    table = concat_tables(tables)
    log.info("fine-tuning on %d failure crops (+%d replay)", len(tables[0]), len(table) - len(tables[0]))
    best = train_frames(cfg, table)
    model = build_model(cfg)
    model.load_state_dict(load_weights(best))
    metrics = dict(meta.metrics or {})
    metrics["finetune"] = {"from": str(checkpoint), "failures": len(items), "epochs": epochs, "lr": lr}
    return export(cfg, model, meta.calibration or {}, metrics, out_dir / "model.pt")
