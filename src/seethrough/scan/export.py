"""Exports of a results database: CSV (one row per file) and JSONL (one line per file,
with the full analysis). Both stream from the database and are written atomically."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

from .store import EXPORT_COLUMNS, ResultStore, StoreError


def _settings_key(store: ResultStore, settings_key: str | None) -> str:
    key = settings_key or store.latest_settings_key()
    if key is None:
        raise StoreError(f"{store.path} holds no scan yet; nothing to export.")
    return key


def _atomic_target(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(f".{path.name}.{os.getpid()}.part")


def export_csv(store: ResultStore, path: str | Path, *, settings_key: str | None = None) -> int:
    """Write :data:`~seethrough.scan.store.EXPORT_COLUMNS` for every file; returns the row count.
    ``settings_key`` defaults to the settings of the latest scan."""
    path = Path(path)
    key = _settings_key(store, settings_key)
    tmp = _atomic_target(path)
    n = 0
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=EXPORT_COLUMNS)
        writer.writeheader()
        for row in store.export_rows(key):
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
            n += 1
    tmp.replace(path)
    return n


def export_jsonl(store: ResultStore, path: str | Path, *, settings_key: str | None = None) -> int:
    """One JSON object per file: the CSV fields plus ``analysis`` (``Analysis.to_dict()``, or
    null when the worker died before producing one); returns the line count."""
    path = Path(path)
    key = _settings_key(store, settings_key)
    tmp = _atomic_target(path)
    n = 0
    with open(tmp, "w", encoding="utf-8") as fh:
        for row in store.export_rows(key, with_analysis=True):
            fh.write(json.dumps(row, separators=(",", ":")) + "\n")
            n += 1
    tmp.replace(path)
    return n
