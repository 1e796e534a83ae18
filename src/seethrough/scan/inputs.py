"""Which files a scan looks at: folders (recursive, by extension), single files and list files."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from ..errors import SeethroughError
from ..media.types import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS

MEDIA_EXTENSIONS = frozenset({*VIDEO_EXTENSIONS, *IMAGE_EXTENSIONS})
LIST_SUFFIXES = (".txt", ".lst")
_COMMENT = re.compile(r"\s#.*$")  # "# ..." after whitespace; a '#' inside a file name stays


class ScanInputError(SeethroughError):
    """An input of the scan cannot be used at all (missing folder, unreadable list)."""

    code = "scan_input"


@dataclass
class Inputs:
    """The files to scan (absolute, in a stable order) and list entries that do not exist."""

    files: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes (the digest ``seethrough.inference.file_sha256`` gives,
    without importing torch into the scan driver)."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _abs(path: Path) -> str:
    return os.path.abspath(path)  # absolute without resolving symlinks: the name the user knows


def _excluded(path: str, excluded: set[str]) -> bool:
    """``path`` is an excluded path or lies under one."""
    return path in excluded or any(path.startswith(e + os.sep) for e in excluded)


def _walk(root: Path, excluded: set[str]) -> Iterable[str]:
    """Media files under ``root`` by extension; hidden names and excluded paths skipped."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames
                             if not d.startswith(".") and not _excluded(_abs(Path(dirpath, d)), excluded))
        for name in sorted(filenames):
            if name.startswith(".") or Path(name).suffix.lower() not in MEDIA_EXTENSIONS:
                continue
            p = _abs(Path(dirpath, name))
            if not _excluded(p, excluded):
                yield p


def read_list(list_file: Path) -> list[Path]:
    """Paths in a list file: one per line, ``#`` at the start or after a space starts a comment;
    relative paths are relative to the list's folder."""
    try:
        text = list_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScanInputError(f"Cannot read the list file {list_file}: {exc}") from None
    out = []
    for line in text.splitlines():
        entry = "" if line.lstrip().startswith("#") else _COMMENT.sub("", line).strip()
        if entry:
            p = Path(entry).expanduser()
            out.append(p if p.is_absolute() else list_file.parent / p)
    return out


def find_inputs(inputs: Iterable[str | Path], *, exclude: Iterable[str | Path] = ()) -> Inputs:
    """Expand the scan's arguments into files.

    A folder is searched recursively for media extensions (hidden files skipped); a
    ``.txt``/``.lst`` file is a list of paths (which may be folders); any other file is
    taken as given, whatever its extension (``analyze()`` decides whether it is media).
    ``exclude`` (the results database, the evidence folder, export files) is never scanned.
    Duplicated paths are kept once.
    """
    excluded = {_abs(Path(e)) for e in exclude}
    seen: set[str] = set()
    result = Inputs()

    def add(p: str) -> None:
        if p not in seen and not _excluded(p, excluded):
            seen.add(p)
            result.files.append(p)

    def expand(path: Path, from_list: bool) -> None:
        if path.is_dir():
            for p in _walk(path, excluded):
                add(p)
        elif path.is_file():
            if path.suffix.lower() in LIST_SUFFIXES and not from_list:
                for entry in read_list(path):
                    expand(entry, True)
            else:
                add(_abs(path))
        elif from_list:
            result.missing.append(_abs(path))
        else:
            raise ScanInputError(f"{path} does not exist (give folders, media files or .txt/.lst lists of paths).")

    for item in inputs:
        expand(Path(item).expanduser(), False)
    return result
