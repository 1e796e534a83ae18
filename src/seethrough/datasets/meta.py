"""The metadata CSV, frame counting and a summary of a dataset's rows.

One CSV row is one :class:`~seethrough.datasets.rows.MetaRow` (its module lists the
columns); the header is :data:`~seethrough.datasets.rows.COLUMNS`.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from ..errors import DatasetLayoutError
from ..log import get_logger
from .rows import COLUMNS, FAKE, LABELS, REAL, REAL_METHOD, SPLITS, UNKNOWN_METHOD, MetaRow
from .splits import leaking_groups

log = get_logger(__name__)

_REQUIRED_COLUMNS = ("path", "label")

# ---------------------------------------------------------------------------- CSV I/O


def write_metadata_csv(rows: Iterable[MetaRow], path: str | Path) -> Path:
    """Write ``rows`` with the header :data:`COLUMNS`; parent folders are created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow(row.to_record())
    return path


def read_metadata_csv(path: str | Path) -> list[MetaRow]:
    """Read a metadata CSV. ``path`` and ``label`` are required; other columns default.

    Raises :class:`DatasetLayoutError` naming the file and line for a bad header or cell.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetLayoutError(f"Metadata file {path} does not exist; build it with `seethrough prep meta`.")
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        header = [h.strip() for h in (reader.fieldnames or [])]
        missing = [c for c in _REQUIRED_COLUMNS if c not in header]
        if missing:
            raise DatasetLayoutError(
                f"Metadata file {path} lacks the column(s) {', '.join(missing)}; "
                f"expected a header like {','.join(COLUMNS)}."
            )
        reader.fieldnames = header
        rows = []
        for lineno, rec in enumerate(reader, start=2):
            try:
                rows.append(_row_from_record(rec))
            except ValueError as exc:
                raise DatasetLayoutError(f"{path}, line {lineno}: {exc}") from None
    return rows


def _row_from_record(rec: dict[str, str | None]) -> MetaRow:
    def cell(name: str) -> str:
        return (rec.get(name) or "").strip()

    if not cell("path"):
        raise ValueError("empty path")
    frames_txt = cell("frames")
    try:
        frames = int(frames_txt) if frames_txt else None
    except ValueError:
        raise ValueError(f"frames must be an integer or empty, got {frames_txt!r}") from None
    label = cell("label").lower()
    return MetaRow(
        path=cell("path"),
        label=label,
        method=cell("method") or (REAL_METHOD if label == REAL else UNKNOWN_METHOD),
        dataset=cell("dataset"),
        split=cell("split").lower(),
        frames=frames,
        group=cell("group"),
        compression=cell("compression"),
        source=cell("source"),
    )


# ---------------------------------------------------------------------- frame counting


def _probe_frames(path: str) -> int | None:
    """Frame count of one file (images count as 1); raises on unreadable media."""
    from ..media.probe import probe  # lazy: keeps `prep meta --no-count-frames` light
    info = probe(path, count_frames=True)  # counts packets: exact, without decoding
    if info.kind == "image":
        return 1
    return int(info.frame_count) if info.frame_count is not None else None


def count_frames(rows: list[MetaRow], root: str | Path, *, workers: int | None = None, progress: bool = True) -> int:
    """Fill ``row.frames`` in place by probing each file in parallel.

    An unreadable file keeps ``frames=None`` and is logged as a warning. Returns the
    number of files that could not be counted.
    """
    root = Path(root)
    items = [(i, str(root / row.path)) for i, row in enumerate(rows)]
    failed = 0
    from ..parallel import run_parallel

    for out in run_parallel(_probe_indexed, items, workers=workers, desc="counting frames", progress=progress):
        index, file = out.item
        if out.ok:
            rows[index].frames = out.result
            if out.result is None:
                failed += 1
                log.warning("%s: frame count unknown", file)
        else:
            rows[index].frames = None
            failed += 1
            log.warning("%s: cannot count frames (%s)", file, out.error)
    return failed


def _probe_indexed(item: tuple[int, str]) -> int | None:
    return _probe_frames(item[1])


# ---------------------------------------------------------------------------- summary


@dataclass
class MetaSummary:
    """Counts over a list of rows. ``table`` keys are ``(split, label, method)``."""

    total: int
    by_label: dict[str, int]
    by_method: dict[str, int]
    by_split: dict[str, int]
    by_dataset: dict[str, int]
    table: dict[tuple[str, str, str], int]
    groups: int
    frames_total: int
    frames_missing: int
    leaking_groups: list[str] = field(default_factory=list)

    def split_label_counts(self) -> dict[tuple[str, str], int]:
        counts: Counter[tuple[str, str]] = Counter()
        for (split, label, _), n in self.table.items():
            counts[(split, label)] += n
        return dict(counts)


def summarize_metadata(rows: Iterable[MetaRow]) -> MetaSummary:
    """Count rows per label, method, split and dataset, and list leaking groups."""
    rows = list(rows)

    def ordered(counter: Counter[str], first: Iterable[str] = ()) -> dict[str, int]:
        first = [k for k in first if k in counter]
        rest = sorted(k for k in counter if k not in first)
        return {k: counter[k] for k in [*first, *rest]}

    table = Counter((r.split, r.label, r.method) for r in rows)
    split_rank = {s: i for i, s in enumerate(SPLITS)}
    return MetaSummary(
        total=len(rows),
        by_label=ordered(Counter(r.label for r in rows), LABELS),
        by_method=ordered(Counter(r.method for r in rows), (REAL_METHOD,)),
        by_split=ordered(Counter(r.split for r in rows), SPLITS),
        by_dataset=ordered(Counter(r.dataset for r in rows)),
        table={
            k: table[k]
            for k in sorted(table, key=lambda k: (split_rank.get(k[0], len(SPLITS)), k[0], LABELS.index(k[1]), k[2]))
        },
        groups=len({r.group_key for r in rows}),
        frames_total=sum(r.frames or 0 for r in rows),
        frames_missing=sum(r.frames is None for r in rows),
        leaking_groups=sorted(leaking_groups(rows)),
    )


__all__ = [
    "COLUMNS",
    "FAKE",
    "LABELS",
    "REAL",
    "REAL_METHOD",
    "SPLITS",
    "UNKNOWN_METHOD",
    "MetaRow",
    "MetaSummary",
    "count_frames",
    "read_metadata_csv",
    "summarize_metadata",
    "write_metadata_csv",
]
