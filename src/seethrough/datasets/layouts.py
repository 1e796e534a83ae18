"""One small indexer per dataset layout, behind a registry.

An indexer turns a dataset root into :class:`MetaRow` objects with ``label``,
``method``, ``group``, ``source``, ``compression`` and, where the dataset ships an
official split list, ``split``. Frame counts and the remaining splits are filled in
later by :func:`seethrough.datasets.build_metadata`.

Register a new layout with::

    @register_layout("name", detect=looks_like_it, expects="what a root must contain")
    def index_name(root: Path) -> list[MetaRow]: ...

``detect_layout`` tries the layouts in registration order, so generic layouts
(``folders``) are registered last.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, NamedTuple

from ..errors import DatasetLayoutError
from ..log import get_logger
from ..media.types import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS
from ..registry import Registry
from .rows import FAKE, REAL, REAL_METHOD, SPLITS, UNKNOWN_METHOD, MetaRow

log = get_logger(__name__)

AUTO = "auto"


@dataclass(frozen=True)
class Layout:
    """A registered layout: ``index(root)`` builds rows, ``detect(root)`` recognises one."""

    name: str
    index: Callable[[Path], list[MetaRow]]
    detect: Callable[[Path], bool]
    expects: str


_REGISTRY: Registry[Layout] = Registry("dataset layout", DatasetLayoutError, reserved=(AUTO,))


def register_layout(
    name: str, *, detect: Callable[[Path], bool], expects: str
) -> Callable[[Callable[[Path], list[MetaRow]]], Callable[[Path], list[MetaRow]]]:
    """Decorator registering ``fn(root) -> list[MetaRow]`` as layout ``name`` (a taken name is refused)."""

    def deco(fn: Callable[[Path], list[MetaRow]]) -> Callable[[Path], list[MetaRow]]:
        _REGISTRY.add(name, Layout(name=name, index=fn, detect=detect, expects=expects))
        return fn

    return deco


def layout_names() -> list[str]:
    """Registered layout names in detection order (``auto`` not included)."""
    return _REGISTRY.names()


def get_layout(name: str) -> Layout:
    return _REGISTRY.get(name)


def _check_root(root: str | Path) -> Path:
    root = Path(root)
    if not root.is_dir():
        raise DatasetLayoutError(f"Dataset root {root} is not a folder.")
    return root


def detect_layout(root: str | Path) -> str:
    """Name of the first registered layout whose tell-tale files are under ``root``."""
    root = _check_root(root)
    for layout in _REGISTRY.values():
        if layout.detect(root):
            log.info("%s looks like the %s layout", root, layout.name)
            return layout.name
    expected = "; ".join(f"{lay.name}: {lay.expects}" for lay in _REGISTRY.values())
    raise DatasetLayoutError(
        f"Cannot tell the layout of {root}: none of the known layouts matches. Expected one of — {expected}. "
        "Pass --layout explicitly or arrange the files as real/ and fake/ folders."
    )


def index_dataset(root: str | Path, layout: str = AUTO) -> tuple[str, list[MetaRow]]:
    """Index ``root`` with ``layout`` (or the detected one); rows are sorted by path."""
    root = _check_root(root)
    name = detect_layout(root) if layout == AUTO else get_layout(layout).name
    lay = _REGISTRY.get(name)
    rows = lay.index(root)
    if not rows:
        raise DatasetLayoutError(f"No media found under {root} for the {name} layout; expected {lay.expects}.")
    rows.sort(key=lambda r: r.path)
    return name, rows


# ------------------------------------------------------------------------ helpers


def _media_files(folder: Path, extensions: tuple[str, ...] = VIDEO_EXTENSIONS) -> Iterator[Path]:
    """Media files under ``folder`` (recursive, symlinks followed once, hidden skipped), sorted."""
    if not folder.is_dir():
        return
    seen: set[str] = set()
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if not name.startswith(".") and name.lower().endswith(extensions):
                found.append(Path(dirpath) / name)
    yield from sorted(found)


def _rel(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


def _child_dir(parent: Path, name: str) -> Path | None:
    """``parent/name`` matched case-insensitively, or None."""
    exact = parent / name
    if exact.is_dir():
        return exact
    if parent.is_dir():
        for child in sorted(parent.iterdir()):
            if child.is_dir() and child.name.lower() == name.lower():
                return child
    return None


def _subdirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")) if folder.is_dir() else []


def _find_split_file(root: Path, name: str) -> Path | None:
    for folder in (root, root / "splits"):
        if (folder / name).is_file():
            return folder / name
    return None


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:  # keep the smallest id as the root: it names the group
            lo, hi = sorted((ra, rb))
            self.parent[hi] = lo


# ----------------------------------------------------------------------- FF++

FFPP_METHODS = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures", "FaceShifter", "DeepFakeDetection")
_FFPP_COMPRESSION = {"raw": "c0", "c0": "c0", "c23": "c23", "c40": "c40"}
_FF_ID = re.compile(r"^\d+$")
_FF_PAIR = re.compile(r"^(\d+)_(\d+)$")
_DFD_REAL = re.compile(r"^(\d+)__(.+)$")
_DFD_FAKE = re.compile(r"^(\d+)_(\d+)__(.+?)(?:__[A-Za-z0-9]+)?$")


def _looks_like_ffpp(root: Path) -> bool:
    return (root / "original_sequences").is_dir() or (root / "manipulated_sequences").is_dir()


def _ffpp_compression_dirs(parent: Path) -> Iterator[tuple[str, Path]]:
    """``(compression, videos folder)`` for each ``<c>`` folder (masks etc. skipped)."""
    for cdir in _subdirs(parent):
        comp = _FFPP_COMPRESSION.get(cdir.name.lower())
        if comp is None:
            log.debug("skipping %s: not a compression level folder", cdir)
            continue
        videos = cdir / "videos"
        yield comp, videos if videos.is_dir() else cdir


def _ffpp_official_splits(root: Path) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """``id -> split`` and all pairs from ``{train,val,test}.json`` when present."""
    id_split: dict[str, str] = {}
    pairs: list[tuple[str, str]] = []
    for split in SPLITS:
        path = _find_split_file(root, f"{split}.json")
        if path is None:
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            split_pairs = [(str(a), str(b)) for a, b in data]
        except (ValueError, TypeError) as exc:
            raise DatasetLayoutError(
                f"{path} is not an FF++ split file (a JSON list of id pairs like [\"000\", \"003\"]): {exc}"
            ) from None
        for a, b in split_pairs:
            for vid in (a, b):
                if id_split.get(vid, split) != split:
                    log.warning("FF++ id %s is in both %s and %s; keeping %s", vid, id_split[vid], split, id_split[vid])
                id_split.setdefault(vid, split)
            pairs.append((a, b))
        log.info("FF++ official split %s: %d pairs from %s", split, len(split_pairs), path)
    return id_split, pairs


class _FfppEntry(NamedTuple):
    """One FF++ file before grouping: YouTube ids or a DFD actor decide its group."""

    path: str
    label: str
    method: str
    compression: str
    youtube_ids: tuple[str, ...] | None
    actor: str | None
    source: str


@register_layout(
    "ffpp",
    detect=_looks_like_ffpp,
    expects="original_sequences/{youtube,actors}/<c>/videos/*.mp4 and manipulated_sequences/<Method>/<c>/videos/*.mp4",
)
def index_ffpp(root: Path) -> list[MetaRow]:
    """FaceForensics++ (including DeepFakeDetection and FaceShifter).

    Youtube videos are grouped by connected components of the pair graph (fake
    ``000_003`` joins 000 and 003; official split pairs join too), named after the
    smallest id. DeepFakeDetection videos are grouped by the target actor.
    """
    id_split, official_pairs = _ffpp_official_splits(root)
    uf = _UnionFind()
    for a, b in official_pairs:
        uf.union(a, b)

    entries: list[_FfppEntry] = []

    originals = root / "original_sequences"
    for kind_dir in _subdirs(originals):
        kind = kind_dir.name.lower()
        if kind not in ("youtube", "actors"):
            log.warning("skipping %s: expected original_sequences/youtube or original_sequences/actors", kind_dir)
            continue
        for comp, vdir in _ffpp_compression_dirs(kind_dir):
            for f in _media_files(vdir):
                rel, stem = _rel(root, f), f.stem
                if kind == "youtube" and _FF_ID.match(stem):
                    uf.find(stem)
                    entries.append(_FfppEntry(rel, REAL, REAL_METHOD, comp, (stem,), None, stem))
                elif kind == "actors" and (m := _DFD_REAL.match(stem)):
                    entries.append(_FfppEntry(rel, REAL, REAL_METHOD, comp, None, m.group(1), stem))
                else:
                    log.warning("%s: unexpected FF++ file name; it forms its own group", rel)
                    entries.append(_FfppEntry(rel, REAL, REAL_METHOD, comp, None, None, stem))

    for method_dir in _subdirs(root / "manipulated_sequences"):
        method = method_dir.name
        if method not in FFPP_METHODS:
            log.info("FF++: unknown manipulation folder %s; using its name as the method", method)
        for comp, vdir in _ffpp_compression_dirs(method_dir):
            for f in _media_files(vdir):
                rel, stem = _rel(root, f), f.stem
                if m := _FF_PAIR.match(stem):
                    target, src = m.groups()
                    uf.union(target, src)
                    entries.append(_FfppEntry(rel, FAKE, method, comp, (target, src), None, target))
                elif m := _DFD_FAKE.match(stem):
                    target, _src, scene = m.groups()
                    entries.append(_FfppEntry(rel, FAKE, method, comp, None, target, f"{target}__{scene}"))
                else:
                    log.warning("%s: unexpected FF++ file name; it forms its own group", rel)
                    entries.append(_FfppEntry(rel, FAKE, method, comp, None, None, stem))

    rows = []
    for rel, label, method, comp, yt_ids, actor, source in entries:
        split = ""
        if yt_ids is not None:
            group = f"ffpp/yt-{uf.find(yt_ids[0])}"
            splits = [id_split[i] for i in yt_ids if i in id_split]
            if splits:
                split = splits[0]
                if len(set(splits)) > 1:
                    log.warning("%s: its ids are in different official splits %s; using %s", rel, splits, split)
        elif actor is not None:
            group = f"ffpp/actor-{actor}"
        else:
            group = f"ffpp/{Path(rel).stem}"
        rows.append(MetaRow(rel, label, method, "ffpp", split=split, group=group, compression=comp, source=source))
    return rows


# -------------------------------------------------------------------- Celeb-DF

CELEBDF_METHOD = "celebdf_v2"
CELEBDF_TEST_LIST = "List_of_testing_videos.txt"
_CELEB_REAL = re.compile(r"^(id\d+)_(\d+)$")
_CELEB_FAKE = re.compile(r"^(id\d+)_(id\d+)_(\d+)$")
_CELEB_DIRS = ("Celeb-real", "Celeb-synthesis", "YouTube-real")


def _looks_like_celebdf(root: Path) -> bool:
    return any((root / d).is_dir() for d in _CELEB_DIRS)


def _celebdf_test_list(root: Path) -> dict[str, str]:
    """``relative path -> label`` from the official test list (1 = real, 0 = fake)."""
    path = _find_split_file(root, CELEBDF_TEST_LIST)
    if path is None:
        return {}
    listed: dict[str, str] = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or parts[0] not in ("0", "1"):
            raise DatasetLayoutError(
                f"{path}, line {lineno}: expected '<1 for real | 0 for fake> <relative path>', got {line.strip()!r}."
            )
        listed[parts[1].replace("\\", "/").removeprefix("./")] = REAL if parts[0] == "1" else FAKE
    log.info("Celeb-DF official test list: %d videos from %s", len(listed), path)
    return listed


@register_layout(
    "celebdf",
    detect=_looks_like_celebdf,
    expects="Celeb-real/, Celeb-synthesis/ and/or YouTube-real/ folders (optional List_of_testing_videos.txt)",
)
def index_celebdf(root: Path) -> list[MetaRow]:
    """Celeb-DF (v2). Fakes get method ``celebdf_v2`` and are grouped by the target
    identity ``idX`` of ``idX_idY_NNNN`` (the video whose frames were reused); the
    swapped-in identity is not used because every celebrity is swapped with many
    others, which would join all videos into one group. YouTube-real videos are their
    own groups. Videos in ``List_of_testing_videos.txt`` are ``test``.
    """
    test_list = _celebdf_test_list(root)
    rows = []
    for dirname in _CELEB_DIRS:
        folder = _child_dir(root, dirname)
        if folder is None:
            continue
        for f in _media_files(folder):
            rel, stem = _rel(root, f), f.stem
            if dirname == "Celeb-synthesis":
                label, method = FAKE, CELEBDF_METHOD
                m = _CELEB_FAKE.match(stem)
                group, source = (m.group(1), f"{m.group(1)}_{m.group(3)}") if m else (stem, "")
            else:
                label, method = REAL, REAL_METHOD
                m = _CELEB_REAL.match(stem) if dirname == "Celeb-real" else None
                group, source = (m.group(1) if m else f"yt-{stem}"), stem
            if not m and dirname != "YouTube-real":
                log.warning("%s: unexpected Celeb-DF file name; it forms its own group", rel)
            split = ""
            if rel in test_list:
                split = "test"
                if test_list[rel] != label:
                    log.warning("%s: the test list says %s, the folder %s; keeping %s", rel, test_list[rel], label, label)
            rows.append(MetaRow(rel, label, method, "celebdf", split=split, group=f"celebdf/{group}", source=source))
    missing = set(test_list) - {r.path for r in rows}
    if missing:
        log.warning("%d videos of %s are missing under %s (e.g. %s)", len(missing), CELEBDF_TEST_LIST, root, min(missing))
    return rows


# ------------------------------------------------------------------------ DFDC

DFDC_METHOD = "dfdc"
_DFDC_LABELS = {"FAKE": FAKE, "REAL": REAL}
_DFDC_SPLITS = {"test": "test", "val": "val", "valid": "val", "validation": "val"}


def _dfdc_metadata_files(root: Path, max_depth: int | None = None) -> list[Path]:
    found = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        depth = len(Path(dirpath).relative_to(root).parts)
        if max_depth is not None and depth >= max_depth:
            dirnames[:] = []
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        if "metadata.json" in filenames:
            found.append(Path(dirpath) / "metadata.json")
    return sorted(found)


def _load_dfdc_metadata(path: Path) -> dict[str, dict]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise DatasetLayoutError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) and "label" in v for v in data.values()):
        raise DatasetLayoutError(
            f"{path} is not a DFDC metadata file: expected "
            '{"name.mp4": {"label": "FAKE", "original": "other.mp4"}, ...}.'
        )
    return data


def _looks_like_dfdc(root: Path) -> bool:
    for path in _dfdc_metadata_files(root, max_depth=2):
        try:
            _load_dfdc_metadata(path)
            return True
        except DatasetLayoutError:
            continue
    return False


@register_layout(
    "dfdc",
    detect=_looks_like_dfdc,
    expects="metadata.json next to the videos (e.g. dfdc_train_part_0/metadata.json)",
)
def index_dfdc(root: Path) -> list[MetaRow]:
    """DFDC training parts. A fake is grouped with its ``original``; a real is its own
    group. The metadata ``split`` is honoured for ``test``/``val`` only: every training
    part says ``train``, and a validation split still has to be carved out of them.
    """
    rows = []
    for meta_path in _dfdc_metadata_files(root):
        folder = meta_path.parent
        entries = _load_dfdc_metadata(meta_path)
        listed = set()
        missing = 0
        for name, info in sorted(entries.items()):
            f = folder / name
            listed.add(f.name)
            if not f.is_file():
                missing += 1
                continue
            label = _DFDC_LABELS.get(str(info.get("label", "")).upper())
            if label is None:
                log.warning("%s: label %r in %s is neither FAKE nor REAL; skipped", name, info.get("label"), meta_path)
                continue
            original = Path(str(info.get("original") or name)).stem if label == FAKE else f.stem
            split = _DFDC_SPLITS.get(str(info.get("split", "")).lower(), "")
            method = DFDC_METHOD if label == FAKE else REAL_METHOD
            rows.append(MetaRow(_rel(root, f), label, method, "dfdc", split=split, group=f"dfdc/{original}", source=original))
        if missing:
            log.warning("%d videos listed in %s are missing", missing, meta_path)
        unlisted = [f for f in folder.iterdir() if f.suffix.lower() in VIDEO_EXTENSIONS and f.name not in listed]
        if unlisted:
            log.warning("%d videos in %s are not in its metadata.json and were skipped", len(unlisted), folder)
    return rows


# ------------------------------------------------------------ DeeperForensics

DEEPERFORENSICS_METHOD = "deeperforensics"
_DF_FAKE = re.compile(r"^([^_]+)_([A-Za-z]+\d+)$")


def _looks_like_deeperforensics(root: Path) -> bool:
    return (root / "manipulated_videos").is_dir() or (root / "source_videos").is_dir()


def _deeperforensics_lists(root: Path) -> dict[str, str]:
    """``video stem -> split`` from ``lists/splits/{train,val,test}.txt`` when present."""
    stem_split: dict[str, str] = {}
    for split in SPLITS:
        path = root / "lists" / "splits" / f"{split}.txt"
        if not path.is_file():
            continue
        names = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
        for name in names:
            stem_split.setdefault(Path(name.replace("\\", "/")).stem, split)
        log.info("DeeperForensics official split %s: %d videos from %s", split, len(names), path)
    return stem_split


@register_layout(
    "deeperforensics",
    detect=_looks_like_deeperforensics,
    expects="manipulated_videos/<perturbation>/*.mp4 and/or source_videos/<actor>/**/*.mp4",
)
def index_deeperforensics(root: Path) -> list[MetaRow]:
    """DeeperForensics-1.0. Fakes ``<target>_<actor>.mp4`` get method
    ``deeperforensics:<perturbation>`` (the folder, e.g. ``end_to_end``), group = the
    source actor, source = the target video id; source videos are grouped by actor.
    ``lists/splits/*.txt`` name manipulated videos and apply to every perturbation.
    """
    lists = _deeperforensics_lists(root)
    rows = []
    manipulated = root / "manipulated_videos"
    for f in _media_files(manipulated):
        rel, stem = _rel(root, f), f.stem
        parts = f.relative_to(manipulated).parts
        method = f"{DEEPERFORENSICS_METHOD}:{parts[0]}" if len(parts) > 1 else DEEPERFORENSICS_METHOD
        if m := _DF_FAKE.match(stem):
            target, actor = m.groups()
        else:
            log.warning("%s: unexpected DeeperForensics file name; it forms its own group", rel)
            target, actor = "", stem
        rows.append(
            MetaRow(rel, FAKE, method, "deeperforensics", split=lists.get(stem, ""), group=f"deeperforensics/{actor}", source=target)
        )
    sources = root / "source_videos"
    for f in _media_files(sources):
        inner = f.relative_to(sources)
        actor = inner.parts[0] if len(inner.parts) > 1 else f.stem
        source = inner.with_suffix("").as_posix()
        rows.append(
            MetaRow(_rel(root, f), REAL, REAL_METHOD, "deeperforensics", group=f"deeperforensics/{actor}", source=source)
        )
    return rows


# --------------------------------------------------------------- plain folders

_MEDIA_EXTENSIONS = VIDEO_EXTENSIONS + IMAGE_EXTENSIONS


def _looks_like_folders(root: Path) -> bool:
    return _child_dir(root, "real") is not None or _child_dir(root, "fake") is not None


@register_layout(
    "folders",
    detect=_looks_like_folders,
    expects="real/** and fake/** or fake/<method>/** folders of videos or images",
)
def index_folders(root: Path) -> list[MetaRow]:
    """``real/**`` and ``fake/**`` (videos and images). ``fake/<method>/**`` sets the
    method; files directly in ``fake/`` are ``unknown``. Files inside a sub-folder (e.g.
    the frames of one video) share a group; loose files are their own group. The
    ``dataset`` column is the root folder's name.
    """
    dataset = root.resolve().name or "folders"
    rows = []
    for label in (REAL, FAKE):
        base = _child_dir(root, label)
        if base is None:
            continue
        for f in _media_files(base, _MEDIA_EXTENSIONS):
            inner = f.relative_to(base).parts
            if label == REAL:
                method = REAL_METHOD
                rest = inner
            elif len(inner) > 1:
                method, rest = inner[0], inner[1:]
            else:
                method, rest = UNKNOWN_METHOD, inner
            group_path = f.parent if len(rest) > 1 else f.with_suffix("")
            rel = _rel(root, f)
            source = f.stem if label == REAL else ""
            group = f"{dataset}/{_rel(root, group_path)}"
            rows.append(MetaRow(rel, label, method, dataset, group=group, source=source))
    return rows


__all__ = [
    "AUTO",
    "FFPP_METHODS",
    "Layout",
    "detect_layout",
    "get_layout",
    "index_dataset",
    "layout_names",
    "register_layout",
]
