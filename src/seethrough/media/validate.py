"""Check a folder of media before training or cutting: which files are usable and why not.

Every file is decoded completely (:func:`~seethrough.media.probe.probe` with
``verify=True``), so corrupt data in the middle of a video is caught, not only broken
headers. Nothing is ever deleted; bad files can be moved aside.
"""

from __future__ import annotations

import csv
import gc
import shutil
from collections import Counter
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Iterable, Literal

from ..errors import MediaError
from ..log import get_logger
from ..parallel import run_parallel
from .probe import probe
from .types import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS

log = get_logger(__name__)

#: Reason codes, in the order a summary lists them.
REASONS = ("ok", "too_short", "truncated", "corrupt", "empty", "no_video", "unsupported", "too_large", "unreadable")
CSV_COLUMNS = ("path", "ok", "reason", "message", "frames", "fps", "width", "height", "duration_s", "codec")
DEFAULT_MIN_FRAMES = 150


@dataclass
class ValidationResult:
    """Verdict on one file. ``reason`` is ``"ok"`` or one of :data:`REASONS`."""

    path: str
    ok: bool
    reason: str
    message: str = ""
    kind: str | None = None
    frames: int | None = None
    fps: float | None = None
    width: int | None = None
    height: int | None = None
    duration_s: float | None = None
    codec: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ValidationReport:
    """All verdicts for a folder, where the CSV went and which files were moved."""

    root: Path
    results: list[ValidationResult]
    csv_path: Path | None = None
    moved: dict[str, str] = field(default_factory=dict)  # original path -> new path

    @property
    def bad(self) -> list[ValidationResult]:
        return [r for r in self.results if not r.ok]

    @property
    def counts(self) -> dict[str, int]:
        """Number of files per reason, in :data:`REASONS` order (zero counts omitted)."""
        c = Counter(r.reason for r in self.results)
        return {reason: c[reason] for reason in (*REASONS, *sorted(set(c) - set(REASONS))) if c[reason]}


def validate_file(path: str | Path, min_frames: int = DEFAULT_MIN_FRAMES, *, max_bytes: int | None = None) -> ValidationResult:
    """Decode ``path`` fully and say whether it is usable; never raises for bad media.

    ``min_frames`` applies to videos only (a still image is one frame by nature).
    """
    path = Path(path)
    try:
        info = probe(path, max_bytes=max_bytes, verify=True)
    except MediaError as exc:
        return ValidationResult(str(path), False, exc.code, str(exc))
    except OSError as exc:
        return ValidationResult(str(path), False, "unreadable", f"{path.name} cannot be read: {exc.strerror or exc}.")
    result = ValidationResult(
        str(path),
        True,
        "ok",
        kind=info.kind,
        frames=info.frame_count,
        fps=round(info.fps, 3) if info.fps else None,
        width=info.width,
        height=info.height,
        duration_s=round(info.duration_s, 3) if info.duration_s is not None else None,
        codec=info.codec,
    )
    if info.kind == "video" and (info.frame_count or 0) < min_frames:
        result.ok, result.reason = False, "too_short"
        result.message = f"{path.name} has {info.frame_count} frames, fewer than the {min_frames} required (--min-frames)."
    return result


def find_media(root: str | Path, *, exclude: Iterable[str | Path] = ()) -> list[Path]:
    """Media files under ``root`` by extension (case-insensitive), sorted; hidden files and
    anything under an ``exclude`` folder are skipped."""
    root = Path(root)
    excluded = [Path(e).resolve() for e in exclude]
    exts = {*VIDEO_EXTENSIONS, *IMAGE_EXTENSIONS}
    found = []
    for p in root.rglob("*"):
        rel = p.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or p.suffix.lower() not in exts or not p.is_file():
            continue
        resolved = p.resolve()
        if any(resolved.is_relative_to(e) for e in excluded):
            continue
        found.append(p)
    return sorted(found)


def write_csv(results: Iterable[ValidationResult], csv_path: str | Path, root: str | Path | None = None) -> Path:
    """Write :data:`CSV_COLUMNS`; paths are relative to ``root`` when given (POSIX style)."""
    csv_path = Path(csv_path)
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = csv_path.with_name(f".{csv_path.name}.part")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for r in results:
            row = {k: v for k, v in r.to_dict().items() if k in CSV_COLUMNS}
            row["path"] = _display_path(Path(r.path), root)
            row["ok"] = "true" if r.ok else "false"
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
    tmp.replace(csv_path)
    return csv_path


def _display_path(path: Path, root: str | Path | None) -> str:
    if root is not None:
        try:
            return path.relative_to(root).as_posix()
        except ValueError:
            pass
    return path.as_posix()


def move_aside(path: Path, root: Path, dest_root: Path) -> Path:
    """Move ``path`` to ``dest_root`` keeping its path relative to ``root``; never overwrite
    (an existing name gets ``.1``, ``.2``, ... before the extension)."""
    try:
        rel = path.relative_to(root)
    except ValueError:
        rel = Path(path.name)
    dst = dest_root / rel
    k = 1
    while dst.exists():
        dst = dest_root / rel.parent / f"{rel.stem}.{k}{rel.suffix}"
        k += 1
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(path), str(dst))
    return dst


def validate_dir(
    root: str | Path,
    *,
    min_frames: int = DEFAULT_MIN_FRAMES,
    csv_path: str | Path | Literal[False] | None = None,
    move_bad: str | Path | None = None,
    workers: int | None = None,
    max_bytes: int | None = None,
    progress: bool = True,
) -> ValidationReport:
    """Validate every media file under ``root`` in parallel.

    Writes the CSV (default ``root/validation.csv``; ``csv_path=False`` skips it) and, with
    ``move_bad``, moves the bad files there mirroring their relative paths.
    """
    root = Path(root)
    if not root.is_dir():
        raise NotADirectoryError(f"{root} is not a folder.")
    files = find_media(root, exclude=[move_bad] if move_bad else [])
    gc.collect()  # no half-dead decoders inherited by forked workers (see probe.frame_orientation)
    check = partial(validate_file, min_frames=min_frames, max_bytes=max_bytes)
    results: list[ValidationResult] = []
    for out in run_parallel(check, [str(f) for f in files], workers=workers, desc="validating", progress=progress):
        if out.ok:
            results.append(out.result)
        else:  # validate_file only lets unexpected failures through
            log.warning("%s: %s", out.item, out.error)
            results.append(ValidationResult(str(out.item), False, "unreadable", f"{Path(out.item).name}: {out.error}"))
    results.sort(key=lambda r: r.path)
    report = ValidationReport(root, results)
    if csv_path is not False:
        report.csv_path = write_csv(results, csv_path or root / "validation.csv", root)
    if move_bad:
        dest = Path(move_bad)
        for r in report.bad:
            report.moved[r.path] = str(move_aside(Path(r.path), root, dest))
            log.info("moved %s -> %s", r.path, report.moved[r.path])
    return report
