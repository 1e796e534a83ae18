"""The training cache (``data.cache_dir``, default ``.seethrough/cache``): what is in it, and pruning.

Training, fine-tuning and fit-head keep what is slow to remake — decoded crop tables, the faces
analyze() crops, embedded examples — under one folder, keyed by what they were made from. Nothing
ever removed them: after a few recipes the folder holds gigabytes. Each loader marks the entry it
reads or writes as used (:func:`mark_used`), so :func:`prune` can drop the least recently used
entries first. An entry is one thing a loader makes as a whole:

- ``crops-<key>/`` decoded crop tables of a crop list (``seethrough train``, ``finetune``);
- ``videos-<key>.npz`` face crops of a video list (``train``, ``finetune``);
- ``faces-<dataset>/`` the faces analyze() crops, per file (``fit-head``);
- ``head-embeddings/<key>.npz`` embedded examples of a fit-head recipe.

Anything else in the folder is listed as ``other`` and never removed; neither is an entry in use
within the last ``busy_minutes`` (a run may be writing it).
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from ..log import get_logger

log = get_logger(__name__)

KINDS = {
    "crops": "decoded crop table (train, finetune)",
    "videos": "face crops of a video list (train, finetune)",
    "faces": "faces as analyze() crops them (fit-head)",
    "head-embeddings": "embedded examples of a fit-head recipe",
    "other": "not made by seethrough's loaders: kept",
}
EMBEDDINGS_DIR = "head-embeddings"


@dataclass(frozen=True)
class Entry:
    path: Path
    kind: str
    bytes: int
    last_used: float  # seconds since the epoch

    @property
    def prunable(self) -> bool:
        return self.kind != "other"


def mark_used(path: Path) -> None:
    """Record that a cache entry (a file or a folder) was just read or written."""
    try:
        os.utime(path)
    except OSError as exc:  # a read-only cache still works; it just cannot be pruned by use
        log.debug("could not mark %s as used: %s", path, exc)


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _kind(path: Path, parent_is_embeddings: bool) -> str:
    name = path.name
    if parent_is_embeddings:
        return EMBEDDINGS_DIR if path.is_file() and name.endswith(".npz") else "other"
    if path.is_dir() and name.startswith(("crops-", "faces-")):
        return name.split("-", 1)[0]
    if path.is_file() and name.startswith("videos-") and name.endswith(".npz"):
        return "videos"
    return "other"


def list_entries(cache_dir: Path) -> list[Entry]:
    """The entries of ``cache_dir``, least recently used first."""
    cache_dir = Path(cache_dir)
    if not cache_dir.exists():
        return []
    if not cache_dir.is_dir():
        raise ConfigError(f"{cache_dir} is not a folder.")
    entries = []
    for child in sorted(cache_dir.iterdir()):
        if child.name == EMBEDDINGS_DIR and child.is_dir():
            for store in sorted(child.iterdir()):
                entries.append(Entry(store, _kind(store, True), _size(store), store.stat().st_mtime))
        else:
            entries.append(Entry(child, _kind(child, False), _size(child), child.stat().st_mtime))
    return sorted(entries, key=lambda e: e.last_used)


def prune(cache_dir: Path, *, older_than_days: float | None = None, max_bytes: int | None = None,
          busy_minutes: float = 60.0, dry_run: bool = False) -> list[Entry]:
    """Remove entries unused for ``older_than_days``, then the least recently used until the loaders'
    entries take at most ``max_bytes``. Returns what was (or, with ``dry_run``, would be) removed."""
    if older_than_days is None and max_bytes is None:
        raise ConfigError("Say what to prune: an age (--older-than) or a size to keep the cache under (--max-size).")
    if (older_than_days is not None and older_than_days < 0) or (max_bytes is not None and max_bytes < 0):
        raise ConfigError("The age and the size to prune to must not be negative.")
    now = time.time()
    entries = [e for e in list_entries(cache_dir) if e.prunable]
    total = sum(e.bytes for e in entries)
    removed = []
    for e in entries:  # least recently used first
        if now - e.last_used <= busy_minutes * 60:
            continue
        too_old = older_than_days is not None and now - e.last_used > older_than_days * 86400
        too_big = max_bytes is not None and total > max_bytes
        if not (too_old or too_big):
            continue
        removed.append(e)
        total -= e.bytes
        if not dry_run:
            if e.path.is_dir():
                shutil.rmtree(e.path)
            else:
                e.path.unlink()
            log.info("removed %s (%s, %d bytes)", e.path, e.kind, e.bytes)
    return removed
