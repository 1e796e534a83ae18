"""Video sources for training: sample frames, crop the main face, cache the crops.

Rows of one video share its ``path`` so the temporal stage can rebuild sequences.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..errors import ConfigError, SeethroughError
from ..log import get_logger
from .cache import mark_used
from .config import VideoSource
from .data import CropTable, label_of, read_source_rows, row_group, row_source, selection_key

log = get_logger(__name__)


def load_video_table(src: VideoSource, size: int, margin: float, cache_dir: Path) -> CropTable:
    from ..faces import FacePipeline
    from ..media import sample_frames

    rows = read_source_rows(src, "Video list")
    root = src.root or src.csv.parent
    key = hashlib.sha1(json.dumps([str(src.csv), str(root), len(rows), size, margin, src.frames, *selection_key(src)])
                       .encode()).hexdigest()[:12]
    cache = Path(cache_dir) / f"videos-{key}.npz"
    source_of = {r["path"]: row_source(src, r) for r in rows}
    if cache.exists():
        mark_used(cache)
        z = np.load(cache, allow_pickle=False)
        paths = list(z["paths"])
        return CropTable(z["images"], z["landmarks"], z["labels"], list(z["methods"]), list(z["groups"]), paths,
                         [source_of.get(p, src.csv.parent.name) for p in paths])

    pipe = FacePipeline(crop_size=size, margin=margin)
    images, lms, labels, methods, groups, paths = [], [], [], [], [], []
    for r in tqdm(rows, desc=f"cropping {src.csv.name}", unit="video"):
        try:
            result = pipe.process(sample_frames(root / r["path"], n=src.frames, mode="even"))
        except SeethroughError as exc:
            log.warning("skipped %s: %s", r["path"], exc)
            continue
        if not result.ok:
            log.warning("skipped %s: %s", r["path"], result.message)
            continue
        y = label_of(r["label"])
        for c in result.crops:
            images.append(c.crop)
            lms.append(c.crop_landmarks if c.crop_landmarks is not None else np.full((68, 2), np.nan, np.float32))
            labels.append(y)
            methods.append("original" if y == 0 else (r.get("method") or "unknown"))
            groups.append(row_group(r))
            paths.append(r["path"])
    if not images:
        raise ConfigError(f"No face crops could be made from the videos in {src.csv}")
    table = CropTable(np.stack(images), np.stack(lms).astype(np.float32), np.array(labels, np.int64),
                      methods, groups, paths, [source_of[p] for p in paths])
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp.npz")
    np.savez(tmp, images=table.images, landmarks=table.landmarks, labels=table.labels,
             methods=np.array(methods), groups=np.array(groups), paths=np.array(paths))
    tmp.replace(cache)
    return table
