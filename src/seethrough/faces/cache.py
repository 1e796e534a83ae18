"""One ``.npz`` per video holding the main face's crops: written atomically, read back typed.

Arrays (T = number of crops, S = crop size):

* ``crops`` uint8 (T, S, S, 3) RGB
* ``landmarks`` float32 (T, 68, 2) in crop coordinates (NaN when landmarks were off)
* ``frame_landmarks`` float32 (T, 68, 2) in frame coordinates
* ``matrices`` float32 (T, 2, 3) frame -> crop
* ``boxes`` float32 (T, 4) ``x0, y0, x1, y1`` in frame coordinates; ``scores`` float32 (T,)
* ``frame_indices`` int64 (T,), ``times`` float64 (T,) seconds
* ``meta`` a JSON string: status, message, settings, frame statuses, source row

Files are loaded with ``allow_pickle=False``. A file that exists is complete: writes go
to a temporary name in the same folder and are renamed into place.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .types import FaceResult

FORMAT_VERSION = 1
_ARRAY_KEYS = ("crops", "landmarks", "frame_landmarks", "matrices", "boxes", "scores", "frame_indices", "times")


@dataclass
class CachedFaces:
    """The content of one cache file."""

    crops: np.ndarray
    landmarks: np.ndarray
    frame_landmarks: np.ndarray
    matrices: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray
    frame_indices: np.ndarray
    times: np.ndarray
    meta: dict = field(default_factory=dict)

    @property
    def status(self) -> str:
        return str(self.meta.get("status", "unknown"))

    def __len__(self) -> int:
        return int(self.crops.shape[0])


def result_arrays(result: FaceResult, crop_size: int) -> dict[str, np.ndarray]:
    """The cache arrays for ``result`` (empty arrays with the right shapes when no crops)."""
    crops = result.crops
    t = len(crops)
    nan68 = np.full((68, 2), np.nan, dtype=np.float32)
    return {
        "crops": np.stack([c.crop for c in crops]).astype(np.uint8) if t else np.zeros((0, crop_size, crop_size, 3), np.uint8),
        "landmarks": np.stack([c.crop_landmarks if c.crop_landmarks is not None else nan68 for c in crops]).astype(np.float32)
        if t
        else np.zeros((0, 68, 2), np.float32),
        "frame_landmarks": np.stack([c.landmarks if c.landmarks is not None else nan68 for c in crops]).astype(np.float32)
        if t
        else np.zeros((0, 68, 2), np.float32),
        "matrices": np.stack([c.matrix for c in crops]).astype(np.float32) if t else np.zeros((0, 2, 3), np.float32),
        "boxes": np.array([c.box for c in crops], dtype=np.float32).reshape(t, 4),
        "scores": np.array([c.score for c in crops], dtype=np.float32),
        "frame_indices": np.array([c.frame_index for c in crops], dtype=np.int64),
        "times": np.array([c.time_s for c in crops], dtype=np.float64),
    }


def save_faces(path: str | Path, result: FaceResult, meta: dict | None = None, *, compress: bool = False) -> Path:
    """Write ``result``'s main-track crops to ``path`` atomically; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    summary = result.to_summary()
    full_meta = {
        "format_version": FORMAT_VERSION,
        "status": result.status,
        "message": result.message,
        "n_frames": len(result.frames),
        "n_tracks": len(result.tracks),
        "main_track_id": result.main_track_id,
        "n_crops": len(result.crops),
        "frame_status": [f.status for f in result.frames],
        "frame_indices_all": [f.frame_index for f in result.frames],
        "settings": result.settings,
        "timings_ms": summary["timings_ms"],
        **(meta or {}),
    }
    arrays = result_arrays(result, int(result.settings.get("crop_size", 224)))
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            (np.savez_compressed if compress else np.savez)(fh, meta=np.array(json.dumps(full_meta)), **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_meta(path: str | Path) -> dict:
    """Only the ``meta`` entry of a cache file (cheap: the crops are not read)."""
    with np.load(path, allow_pickle=False) as data:
        return json.loads(str(data["meta"]))


def load_faces(path: str | Path) -> CachedFaces:
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in _ARRAY_KEYS}
        meta = json.loads(str(data["meta"]))
    return CachedFaces(meta=meta, **arrays)


def is_complete(path: str | Path, settings: dict | None = None) -> bool:
    """True when ``path`` is a readable cache file made with the same ``settings``."""
    path = Path(path)
    if not path.is_file():
        return False
    try:
        with np.load(path, allow_pickle=False) as data:
            if not set(_ARRAY_KEYS) | {"meta"} <= set(data.files):
                return False
            meta = json.loads(str(data["meta"]))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return False
    if meta.get("format_version") != FORMAT_VERSION:
        return False
    if settings is not None:
        stored = meta.get("settings", {})
        return all(stored.get(k) == v for k, v in settings.items())
    return True
