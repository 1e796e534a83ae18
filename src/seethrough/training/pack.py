"""A frame-stage training run packed to travel: crops, labels, landmarks, starting weights and
the config in one folder, for a machine that has a GPU but neither the data folders nor the
crop caches (a lent accelerator gets a copy of the working tree and nothing beside it).

Here, where the data is::

    seethrough pack-training -c configs/model_v4_sbi.yaml --out .pack --max-mb 40

There (PyTorch, timm, OpenCV, PyYAML, tqdm, matplotlib, scikit-learn and pydantic are all it needs; no install
of seethrough; ``scripts/gpu_train.sh`` is the prepared command)::

    PYTHONPATH=src python3 -m seethrough.training.pack .pack OUT --minutes 8 --workers 14

The crops are the ones ``load_tables`` gives for the config (so the committed split holds:
only ``train`` parts, never composites), drawn evenly over the sources and labels until the
whole pack (JPEG crops, compressed arrays, half-precision starting weights) reaches
``--max-mb``. The run is the ordinary frame stage (:func:`~seethrough.training.loop.train_frames`)
under a time budget, exported as a checkpoint that ``seethrough fit-head`` and
``seethrough calibrate`` take back here.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from ..errors import ConfigError
from ..log import get_logger
from .config import PackedSource, TrainConfig, dump_config
from .data import CropTable

log = get_logger(__name__)

TABLE = "table.npz"
CONFIG = "config.yaml"
INIT = "init.pt"
REPORT = "pack.json"


def _sources(table: CropTable) -> list[str]:
    """Each crop's source (one source, ``all``, for a table without them)."""
    return table.sources or ["all"] * len(table)


def choose_rows(table: CropTable, seed: int = 0) -> np.ndarray:
    """Every crop of the table in an order that takes the sources and labels in turn (each
    (source, label) cell shuffled), so any prefix is as balanced as the table allows."""
    rng = np.random.default_rng(seed)
    sources = _sources(table)
    cells: dict[tuple[str, int], list[int]] = {}
    for i, (s, y) in enumerate(zip(sources, table.labels.tolist())):
        cells.setdefault((s, int(y)), []).append(i)
    queues = [list(rng.permutation(v)) for _, v in sorted(cells.items())]
    order: list[int] = []
    while any(queues):
        for q in queues:
            if q:
                order.append(int(q.pop()))
    return np.asarray(order, np.int64)


def encode(image: np.ndarray, quality: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()


def write_pack(cfg: TrainConfig, out: Path, *, max_mb: float = 40.0, quality: int = 90,
               table: CropTable | None = None) -> dict:
    """Write the pack for ``cfg`` into ``out``, at most ``max_mb`` in all (crops, arrays, starting
    weights); returns what went in (also ``out/pack.json``)."""
    import torch

    from .loop import build_model, load_weights, load_tables

    if any(isinstance(s, PackedSource) for s in cfg.data.sources):
        raise ConfigError("This config already reads a pack: pack the config that lists the data.")
    table = table if table is not None else load_tables(cfg)
    if not len(table):
        raise ConfigError("The config's sources give no training crops to pack.")
    out.mkdir(parents=True, exist_ok=True)
    strangers = sorted(p.name for p in out.iterdir() if p.name not in (TABLE, CONFIG, INIT, REPORT))
    if strangers:  # all of the folder travels: nothing but the pack may be in it
        raise ConfigError(f"{out} holds other files ({', '.join(strangers[:3])}): pack into an empty folder.")
    budget = int(max_mb * 2**20)

    # The starting weights travel as a state dict (half precision: half the size).
    model = build_model(cfg)
    if cfg.frames.init_from:
        model.load_state_dict(load_weights(cfg.frames.init_from))
    torch.save({"model": {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}},
               out / INIT)
    left = budget - (out / INIT).stat().st_size

    order = choose_rows(table, cfg.seed)
    blobs, size = [], 0
    for i in order:
        blob = encode(np.asarray(table.images[i]), quality)
        if size + len(blob) > left:
            break
        blobs.append(blob)
        size += len(blob)
    while blobs:  # the arrays beside the crops count too: drop crops from the end until all fits
        sub = _write_table(out / TABLE, table, order[: len(blobs)], blobs)
        over = (out / TABLE).stat().st_size - left
        if over <= 0:
            break
        blobs = blobs[: max(0, len(blobs) - max(1, int(over / (size / len(blobs)))) - 1)]
        size = sum(map(len, blobs))
    if not blobs:
        (out / TABLE).unlink(missing_ok=True)
        raise ConfigError(f"Not one crop fits in {max_mb} MB beside the starting weights.")

    packed = cfg.model_copy(deep=True)
    packed.data.sources = [PackedSource(path=Path(TABLE))]
    packed.data.cache_dir = Path("cache")
    packed.model.pretrained, packed.model.weights_path = False, None
    packed.frames.init_from = Path(INIT)
    packed.temporal.enabled, packed.temporal.sources = False, []  # sequences do not travel; fit-head follows
    packed.output_dir = Path("run")
    dump_config(packed, out / CONFIG)
    sources = np.array(_sources(sub))
    report = {
        "crops": len(sub), "of": len(table), "real": int((sub.labels == 0).sum()), "fake": int((sub.labels == 1).sum()),
        "by_source": {s: int(n) for s, n in zip(*np.unique(sources, return_counts=True))},
        "jpeg_quality": quality, "mb": round(sum(p.stat().st_size for p in out.iterdir()) / 2**20, 1),
    }
    (out / REPORT).write_text(json.dumps(report, indent=1))
    log.info("packed %d of %d crops into %s (%.1f MB)", report["crops"], report["of"], out, report["mb"])
    return report


def _write_table(path: Path, table: CropTable, rows: np.ndarray, blobs: list[bytes]) -> CropTable:
    """The crops (JPEG bytes, one buffer) and their arrays, compressed; returns the packed subset."""
    sub = table.subset(np.asarray(rows))
    offsets = np.cumsum([0, *map(len, blobs)]).astype(np.int64)
    np.savez_compressed(path, jpeg=np.frombuffer(b"".join(blobs), np.uint8), offsets=offsets,
                        landmarks=sub.landmarks.astype(np.float32), labels=sub.labels.astype(np.int64),
                        methods=np.array(sub.methods), groups=np.array(sub.groups), paths=np.array(sub.paths),
                        sources=np.array(_sources(sub)))
    return sub


def load_packed_table(path: Path) -> CropTable:
    """The crop table of a pack (crops decoded back to RGB)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"Packed crops not found: {path}")
    with np.load(path) as z:
        jpeg, offsets = z["jpeg"], z["offsets"]
        images = np.stack([
            cv2.cvtColor(cv2.imdecode(jpeg[offsets[i]:offsets[i + 1]], cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
            for i in range(len(offsets) - 1)])
        return CropTable(images, z["landmarks"], z["labels"], z["methods"].tolist(), z["groups"].tolist(),
                         z["paths"].tolist(), z["sources"].tolist())


def run_pack(pack: Path, out: Path, *, minutes: float | None = None, workers: int | None = None) -> Path:
    """Train the frame stage of a pack (on a GPU when there is one) and export ``out/model.pt``."""
    from .config import load_config
    from .run import train

    cfg = load_config(pack / CONFIG)
    cfg.output_dir = out.resolve()
    if minutes:
        cfg.frames.max_minutes = minutes
    if workers is not None:
        cfg.workers = workers
    return train(cfg, resume=True)


def main(argv: list[str] | None = None) -> None:
    from ..log import setup_logging

    ap = argparse.ArgumentParser(prog="python -m seethrough.training.pack",
                                 description="Train the frame stage of a pack made by `seethrough pack-training`.")
    ap.add_argument("pack", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--minutes", type=float, default=None, help="time budget of the frame stage")
    ap.add_argument("--workers", type=int, default=None, help="data-loading processes (default: the config's)")
    args = ap.parse_args(argv)
    setup_logging(None)
    path = run_pack(args.pack, args.out, minutes=args.minutes, workers=args.workers)
    log.info("checkpoint: %s", path)


if __name__ == "__main__":
    main()
