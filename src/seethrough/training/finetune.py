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


def trainable_failures(items: list[dict], split) -> list[dict]:
    """The failures fine-tuning may use: none of a group the held-out ``split`` keeps for the
    benchmark or for calibration (rows ``evaluate`` wrote carry their ``dataset`` and ``group``)."""
    if split is None:
        return items
    kept = [it for it in items
            if not (it.get("dataset") in split.datasets and it.get("group")
                    and split.dataset(it["dataset"]).part_of(it["group"]) != "train")]
    if len(kept) < len(items):
        log.warning("fine-tuning skips %d failures of held-out (benchmark or calibration) groups",
                    len(items) - len(kept))
    if not kept:
        raise ConfigError("Every failure is in a held-out group (benchmark or calibration) of the split: "
                          "those are never trained on. Evaluate on training groups to fine-tune.")
    return kept


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
    split_file: Path | None = None,
) -> Path:
    from ..datasets.heldout import dataset_name, default_split_path, load_split
    from ..models import read_checkpoint_meta

    split_file = split_file or (default_split_path() if default_split_path().is_file() else None)
    split = load_split(split_file) if split_file else None

    meta = read_checkpoint_meta(checkpoint)
    config = {k: v for k, v in meta.config.items() if k != "model_version"}
    try:
        cfg = TrainConfig.model_validate(config)
    except Exception as exc:
        raise ConfigError(f"{checkpoint} does not carry a usable training config: {exc}") from exc
    items = trainable_failures(read_failures(failures), split)
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
        "warmup_steps": 5, "eval_every": 0, "checkpoint_every": 20, "max_minutes": None,
        "batch_size": min(cfg.frames.batch_size, 16)})
    src = VideoSource(csv=listing, root=Path("/"), frames=frames)
    tables = [load_video_table(src, cfg.data.image_size, cfg.data.crop_margin, cfg.data.cache_dir)]
    if replay:
        from .data import load_crop_table

        held = split_file if split is not None and dataset_name(replay) in split.datasets else None
        rep = load_crop_table(CropSource(csv=replay, heldout=held), cfg.data.image_size, cfg.data.cache_dir)
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
