"""Training data: face crops decoded once into memory, with landmarks, plus torch datasets.

Decoding JPEGs in the loader costs about a quarter of the training speed on two cores,
so a crop table is decoded once and cached as ``.npy`` files (memory-mapped on reuse).
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from ..errors import ConfigError
from ..log import get_logger
from ..synth import face_swap, reenact, self_blend
from .augment import Augmenter, AugmentConfig
from .cache import mark_used
from .config import CropSource, SynthConfig

log = get_logger(__name__)
IGNORE = -100  # method target for samples without a method label (real, self-blend)


@dataclass
class CropTable:
    """N face crops with labels (0 real, 1 fake), methods, groups and 68 landmarks."""

    images: np.ndarray  # (N, S, S, 3) uint8
    landmarks: np.ndarray  # (N, 68, 2) float32, NaN where none was found
    labels: np.ndarray  # (N,) int64
    methods: list[str]  # "original" for real rows
    groups: list[str]
    paths: list[str]  # one per crop; crops of one video share their video's path (a sequence)
    sources: list[str] = field(default_factory=list)  # what source-balanced sampling balances; [] = one source

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, idx: np.ndarray) -> "CropTable":
        idx = np.asarray(idx)
        return CropTable(
            self.images[idx],
            self.landmarks[idx],
            self.labels[idx],
            [self.methods[i] for i in idx],
            [self.groups[i] for i in idx],
            [self.paths[i] for i in idx],
            [self.sources[i] for i in idx] if self.sources else [],
        )

    def source_weights(self, balance: float) -> np.ndarray:
        """Per-crop sampling weights (mean 1) under which a source of n crops gets a share ∝ n ** (1 - balance)."""
        if not self.sources or balance <= 0:
            return np.ones(len(self))
        return balance_weights(self.sources, balance)


def balance_weights(keys: list[str], balance: float = 1.0) -> np.ndarray:
    """Weights (mean 1) under which the items sharing a key get a total share ∝ n ** (1 - balance):
    1 gives every key (source) the same weight however many items it has."""
    _, inverse, counts = np.unique(np.array(keys, dtype=object).astype(str), return_inverse=True, return_counts=True)
    w = counts[inverse].astype(np.float64) ** -balance
    return w * len(w) / w.sum()


def label_of(value) -> int:
    """1 for fake (``fake``/``1``, any case), 0 for anything else (``real``/``0``)."""
    return 1 if str(value).strip().lower() in ("fake", "1") else 0


def read_source_rows(src, what: str = "Crop list") -> list[dict]:
    """The rows of a listed source that training may use: its ``heldout`` part only (benchmark
    and calibration groups never), composites (``grid=1``) never, at most ``limit``."""
    if not src.csv.is_file():
        raise ConfigError(f"{what} not found: {src.csv}")
    with open(src.csv, newline="") as fh:
        rows = list(csv.DictReader(fh))
    missing = {"path", "label"} - set(rows[0].keys() if rows else [])
    if missing:
        raise ConfigError(f"{src.csv} lacks the column(s) {sorted(missing)}")
    if src.heldout is not None:
        from ..datasets.heldout import dataset_name, load_split

        split, dataset = load_split(src.heldout), dataset_name(src.csv)
        rows = [r for r in rows if split.part_of_row(dataset, r) == src.part]
    if src.skip_grid:
        rows = [r for r in rows if str(r.get("grid", "")).strip() != "1"]
    if src.only is not None:
        rows = [r for r in rows if label_of(r["label"]) == (src.only == "fake")]
    if src.limit:
        rows = rows[: src.limit]
    return rows


def row_group(r: dict) -> str:
    return r.get("group") or r.get("source_video") or r.get("identity") or r["path"]


def row_source(src, r: dict) -> str:
    """The source a row counts towards in source-balanced sampling."""
    name = src.csv.parent.name
    return f"{name}/{row_group(r)}" if src.balance_by == "group" else name


def selection_key(src) -> list:
    """What, besides the number of rows, decides which rows a cache holds."""
    return [str(src.heldout), src.part, src.skip_grid, *([src.only] if src.only else [])]


def load_crop_table(src: CropSource, size: int, cache_dir: Path, landmarks: bool = True) -> CropTable:
    """Decode the crops of ``src`` (resized to ``size``) and their landmarks, cached on disk."""
    rows = read_source_rows(src)
    root = src.root or src.csv.parent
    key = hashlib.sha1(json.dumps([str(src.csv), str(root), len(rows), size, landmarks, *selection_key(src)])
                       .encode()).hexdigest()[:12]
    cache = Path(cache_dir) / f"crops-{key}"
    labels = np.array([label_of(r["label"]) for r in rows], np.int64)
    methods = [("original" if y == 0 else (r.get("method") or src.fake_method)) for r, y in zip(rows, labels)]
    groups = [row_group(r) for r in rows]
    paths = [r["path"] for r in rows]
    sources = [row_source(src, r) for r in rows]
    if (cache / "done").exists():
        mark_used(cache)
        images = np.load(cache / "images.npy", mmap_mode="r")
        lms = np.load(cache / "landmarks.npy")
        return CropTable(images, lms, labels, methods, groups, paths, sources)

    cache.mkdir(parents=True, exist_ok=True)
    images = np.lib.format.open_memmap(cache / "images.npy", mode="w+", dtype=np.uint8, shape=(len(rows), size, size, 3))
    lms = np.full((len(rows), 68, 2), np.nan, np.float32)
    predictor = _landmarker() if landmarks else None
    for i, r in enumerate(tqdm(rows, desc=f"decoding {src.csv.name}", unit="img")):
        img = cv2.imread(str(root / r["path"]), cv2.IMREAD_COLOR)
        if img is None:
            log.warning("unreadable crop skipped (kept as black): %s", r["path"])
            continue
        img = cv2.resize(img[..., ::-1], (size, size), interpolation=cv2.INTER_AREA)
        images[i] = img
        if predictor is not None:
            lms[i] = predictor(img)
    images.flush()
    np.save(cache / "landmarks.npy", lms)
    (cache / "done").write_text(str(len(rows)))
    mark_used(cache)
    return CropTable(np.load(cache / "images.npy", mmap_mode="r"), lms, labels, methods, groups, paths, sources)


def _landmarker():
    """68 landmarks for a face crop: detect the face on a padded copy, then predict.

    Tight crops (chin or brows cut off) confuse a detector; grey padding restores the
    context it expects. Returns NaNs when no face is found.
    """
    from ..faces.detector import RetinaFaceDetector
    from ..faces.landmarks import predict_landmarks

    detector = RetinaFaceDetector(score_threshold=0.5)

    def run(img: np.ndarray) -> np.ndarray:
        p = img.shape[0] // 2
        padded = cv2.copyMakeBorder(np.ascontiguousarray(img), p, p, p, p, cv2.BORDER_CONSTANT, value=(127, 127, 127))
        found = detector.detect(padded)
        if not found:
            return np.full((68, 2), np.nan, np.float32)
        face = max(found, key=lambda d: d.area)
        return (predict_landmarks(padded, face) - p).astype(np.float32)

    return run


def group_split(groups: list[str], val_frac: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of train and validation rows; no group is in both."""
    uniq = sorted(set(groups))
    rng = np.random.default_rng(seed)
    rng.shuffle(uniq)
    n_val = max(1, int(round(len(uniq) * val_frac))) if val_frac > 0 else 0
    val_groups = set(uniq[:n_val])
    is_val = np.array([g in val_groups for g in groups])
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


class FrameDataset(Dataset):
    """Single face crops → (tensor, label, method target, mask), with pseudo-fakes on the fly.

    A real crop becomes a pseudo-fake with probability ``synth.prob`` (training only);
    the returned mask marks the manipulated pixels (zeros for untouched images).
    """

    def __init__(
        self,
        table: CropTable,
        methods: list[str],
        mean: list[float],
        std: list[float],
        *,
        augment: AugmentConfig | None = None,
        synth: SynthConfig | None = None,
        seed: int = 0,
        deterministic: bool = False,
    ):
        self.table = table
        self.method_index = {m: i for i, m in enumerate(methods)}
        self.mean = np.array(mean, np.float32) * 255
        self.std = np.array(std, np.float32) * 255
        self.augment_cfg = augment
        self.synth = synth
        self.seed = seed
        self.deterministic = deterministic
        self.epoch = 0
        self._real = np.flatnonzero((table.labels == 0) & ~np.isnan(table.landmarks[:, 0, 0]))
        fams = synth.families if synth else {}
        self._families = list(fams)
        total = sum(fams.values()) or 1.0
        self._family_p = np.array([fams[f] / total for f in self._families])

    def __len__(self) -> int:
        return len(self.table)

    def _rng(self, i: int) -> np.random.Generator:
        if self.deterministic:
            return np.random.default_rng([self.seed, i])
        return np.random.default_rng([self.seed, self.epoch, i, int(torch.randint(0, 2**31 - 1, ()).item())])

    def synthesize(self, i: int, rng: np.random.Generator, family: str | None = None) -> tuple[np.ndarray, str]:
        """Turn real crop ``i`` into a pseudo-fake (``family`` drawn when not given); returns (Synthetic, family)."""
        t = self.table
        img, lm = np.asarray(t.images[i]), t.landmarks[i]
        family = family or str(rng.choice(self._families, p=self._family_p))
        others = [j for j in self._real if t.groups[j] != t.groups[i]] if family == "face_swap" else []
        if others:  # a swap needs another identity; with none, fall back to self-blending
            j = int(rng.choice(others))
            out = face_swap(img, lm, np.asarray(t.images[j]), t.landmarks[j], rng)
        elif family == "reenact":
            out = reenact(img, lm, rng)
        else:
            out = self_blend(img, lm, rng)
        return out, family

    def __getitem__(self, i: int):
        t = self.table
        rng = self._rng(i)
        img = np.asarray(t.images[i])
        label = int(t.labels[i])
        method = self.method_index.get(t.methods[i], IGNORE) if label == 1 else IGNORE
        mask = np.zeros(img.shape[:2], np.float32)
        can_synth = label == 0 and self.synth is not None and not np.isnan(t.landmarks[i, 0, 0])
        if can_synth and rng.random() < self.synth.prob:
            syn, family = self.synthesize(i, rng)
            img, mask, label = syn.image, syn.mask, 1
            target = self.synth.method_of.get(family)
            method = self.method_index.get(target, IGNORE) if target else IGNORE
        if self.augment_cfg is not None:
            img, mask = Augmenter(self.augment_cfg, rng)(img, mask)
        x = torch.from_numpy(((img.astype(np.float32) - self.mean) / self.std).transpose(2, 0, 1).copy())
        return x, label, method, torch.from_numpy(np.ascontiguousarray(mask))
