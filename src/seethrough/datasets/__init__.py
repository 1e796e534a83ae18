"""Dataset metadata: index a dataset folder into one CSV of labelled, split media files.

>>> rows = build_metadata("/data/FaceForensics++", layout="auto", count_frames=False)
>>> write_metadata_csv(rows, "meta.csv")

Layouts live in :mod:`.layouts`, splitting in :mod:`.splits`, the row type, CSV I/O and
summary in :mod:`.meta`.
"""

from __future__ import annotations

from pathlib import Path

from ..log import get_logger
from .layouts import AUTO, FFPP_METHODS, Layout, detect_layout, get_layout, index_dataset, layout_names, register_layout
from .meta import MetaSummary, count_frames, read_metadata_csv, summarize_metadata, write_metadata_csv
from .rows import COLUMNS, FAKE, LABELS, REAL, REAL_METHOD, SPLITS, UNKNOWN_METHOD, MetaRow
from .meta import count_frames as _count_frames  # build_metadata's flag shadows the name
from .splits import assign_splits, leaking_groups

log = get_logger(__name__)


def build_metadata(
    root: str | Path,
    layout: str = AUTO,
    val_frac: float = 0.2,
    seed: int = 0,
    count_frames: bool = True,
    workers: int | None = None,
    progress: bool = True,
) -> list[MetaRow]:
    """Index ``root``, assign splits and (optionally) count frames; rows sorted by path.

    Official splits shipped with the dataset win; the other rows are split into
    train/val by group (see :func:`assign_splits`). Raises :class:`DatasetLayoutError`
    when the layout is unknown, cannot be detected, or finds no media.
    """
    name, rows = index_dataset(root, layout)
    official = sum(bool(r.split) for r in rows)
    rows = assign_splits(rows, val_frac=val_frac, seed=seed)
    log.info("%s: %d files indexed as %s (%d with an official split)", root, len(rows), name, official)
    leaks = leaking_groups(rows)
    if leaks:
        log.warning(
            "%d groups span several splits because the official split lists put them there (e.g. %s)",
            len(leaks),
            min(leaks),
        )
    if count_frames:
        _count_frames(rows, root, workers=workers, progress=progress)
    return rows


__all__ = [
    "AUTO",
    "COLUMNS",
    "FAKE",
    "FFPP_METHODS",
    "LABELS",
    "REAL",
    "REAL_METHOD",
    "SPLITS",
    "UNKNOWN_METHOD",
    "Layout",
    "MetaRow",
    "MetaSummary",
    "assign_splits",
    "build_metadata",
    "count_frames",
    "detect_layout",
    "get_layout",
    "index_dataset",
    "layout_names",
    "leaking_groups",
    "read_metadata_csv",
    "register_layout",
    "summarize_metadata",
    "write_metadata_csv",
]
