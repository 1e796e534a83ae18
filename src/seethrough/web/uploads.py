"""Receive uploads safely: streamed to disk with a size limit, hashed, stored by content.

* The multipart body is parsed as it arrives (nothing is buffered in memory and no
  file grows past the limit): an oversize file stops a single upload with 413; in a batch
  it is dropped as it arrives and gets its own 413 while the other files go on.
* Files are stored as ``<data>/uploads/<sha256[:2]>/<sha256>``: the client's file name
  is never part of a path; it is kept, sanitised, for display only.
* What a file *is* is decided by opening it (``seethrough.media.probe``) in an isolated
  child process (:class:`~seethrough.web.isolation.ProbePool`), never by its extension.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import unicodedata
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from ..errors import error_class
from ..log import get_logger
from .isolation import ProbePool, ProbeResult

log = get_logger(__name__)

MAX_NAME_BYTES = 200
MAX_FIELD_BYTES = 1024
_FORBIDDEN = set('<>:"|?*\\/')

# Outcomes of the probe process that no error class stands for (those carry their own
# ``http_status``, seethrough.errors); anything else that went wrong opening the file is 422.
_PROCESS_STATUS = {
    "probe_killed": 503,  # the check's process was killed from outside: not the file's fault, send again
}


class UploadProblem(Exception):
    """A request-level problem: ``status`` (HTTP), ``code`` and a plain ``message``."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def safe_display_name(raw: str | None) -> str:
    """The client's file name reduced to a harmless display name.

    Directory parts (``../../``, ``C:\\``) are dropped, control and shell-special
    characters removed, leading dots stripped and the length capped; never empty.
    """
    name = unicodedata.normalize("NFKC", raw or "")
    name = name.replace("\\", "/").split("/")[-1]
    name = "".join(ch for ch in name if ch.isprintable() and ch not in _FORBIDDEN)
    name = re.sub(r"\s+", " ", name).strip().lstrip(".").strip()
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        stem, ext = os.path.splitext(name)
        ext = ext if len(ext) <= 12 else ""
        while stem and len((stem + ext).encode("utf-8")) > MAX_NAME_BYTES:
            stem = stem[:-1]
        name = (stem.rstrip() + ext) or "upload"
    return name or "upload"


@dataclass
class ReceivedFile:
    """One file part, streamed to a temporary file."""

    raw_name: str
    name: str
    temp_path: Path | None = None
    size: int = 0
    sha256: str = ""
    # Set when this file was refused while it arrived (in a batch: the other files still count).
    problem: "UploadProblem | None" = None
    _hash: "hashlib._Hash" = field(default_factory=hashlib.sha256, repr=False)
    _fh: object | None = field(default=None, repr=False)

    def drop(self) -> None:
        """Close and delete what was received of this file."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        if self.temp_path is not None:
            self.temp_path.unlink(missing_ok=True)
            self.temp_path = None


@dataclass
class ReceivedForm:
    files: list[ReceivedFile] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)

    def discard(self) -> None:
        for f in self.files:
            f.drop()


class _Receiver:
    """python-multipart callbacks that write file parts straight to disk."""

    def __init__(self, tmp_dir: Path, max_file_bytes: int, max_files: int):
        self.tmp_dir, self.max_file_bytes, self.max_files = tmp_dir, max_file_bytes, max_files
        self.form = ReceivedForm()
        self._hname, self._hvalue = b"", b""
        self._disposition = b""
        self._file: ReceivedFile | None = None
        self._field_name: str | None = None
        self._field_data = bytearray()

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self.on_part_begin,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
            "on_header_field": lambda d, s, e: setattr(self, "_hname", self._hname + d[s:e]),
            "on_header_value": lambda d, s, e: setattr(self, "_hvalue", self._hvalue + d[s:e]),
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
        }

    def on_part_begin(self) -> None:
        self._disposition, self._file, self._field_name = b"", None, None
        self._field_data = bytearray()

    def on_header_end(self) -> None:
        if self._hname.strip().lower() == b"content-disposition":
            self._disposition = self._hvalue
        self._hname, self._hvalue = b"", b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        if b"name" not in options:
            raise UploadProblem(400, "bad_request", "A form part has no field name.")
        field_name = options[b"name"].decode("utf-8", "replace")
        if b"filename" in options:
            if len(self.form.files) >= self.max_files:
                raise UploadProblem(400, "too_many_files", f"At most {self.max_files} file(s) can be sent in one request"
                                    + (": use POST /api/batches for several." if self.max_files == 1 else "."))
            raw = options[b"filename"].decode("utf-8", "replace")
            f = ReceivedFile(raw_name=raw, name=safe_display_name(raw))
            f.temp_path = self.tmp_dir / f"{uuid.uuid4().hex}.part"
            f._fh = open(f.temp_path, "wb")  # noqa: SIM115 - closed in on_part_end / discard
            self.form.files.append(f)
            self._file = f
        else:
            if len(self.form.fields) >= 20:
                raise UploadProblem(400, "bad_request", "Too many form fields.")
            self._field_name = field_name

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        f = self._file
        if f is not None:
            if f.problem is not None:
                return  # refused already: the rest of this part is read and dropped
            f.size += len(chunk)
            if f.size > self.max_file_bytes:
                problem = UploadProblem(
                    413, "too_large",
                    f"{f.name} is larger than the {self.max_file_bytes / 1e6:g} MB limit of this server.",
                )
                if self.max_files == 1:
                    raise problem
                # In a batch, this file gets its own refusal and the others go on.
                f.problem = problem
                f.drop()
                return
            f._hash.update(chunk)
            f._fh.write(chunk)
        else:
            if len(self._field_data) + len(chunk) > MAX_FIELD_BYTES:
                raise UploadProblem(400, "bad_request", "A form field is too long.")
            self._field_data.extend(chunk)

    def on_part_end(self) -> None:
        f = self._file
        if f is not None:
            if f.problem is None:
                f._fh.close()
                f._fh = None
                f.sha256 = f._hash.hexdigest()
        elif self._field_name is not None:
            self.form.fields[self._field_name] = self._field_data.decode("utf-8", "replace")


async def receive_multipart(request: Request, tmp_dir: Path, *, max_file_bytes: int, max_files: int) -> ReceivedForm:
    """Stream a ``multipart/form-data`` body to temporary files; raises :class:`UploadProblem`."""
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    if ctype != b"multipart/form-data" or b"boundary" not in params:
        raise UploadProblem(415, "not_multipart", "Send the file as multipart/form-data (a form upload).")
    tmp_dir.mkdir(parents=True, exist_ok=True)
    rx = _Receiver(tmp_dir, max_file_bytes, max_files)
    parser = MultipartParser(params[b"boundary"], rx.callbacks())
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except UploadProblem:
        rx.form.discard()
        raise
    except OSError as exc:
        rx.form.discard()
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            log.error("disk full while receiving an upload in %s", tmp_dir)
            raise UploadProblem(507, "disk_full", "The server ran out of disk space while receiving the file; "
                                                  "nothing was kept. Try again later.") from None
        raise
    except Exception as exc:  # noqa: BLE001 - a malformed body is the client's problem
        rx.form.discard()
        log.info("malformed multipart body: %s", exc)
        raise UploadProblem(400, "bad_request", "The upload could not be read (the form data is malformed or incomplete).") from None
    for f in rx.form.files:
        if f._fh is not None:  # body ended inside a part
            rx.form.discard()
            raise UploadProblem(400, "bad_request", "The upload ended before the file was complete.")
    return rx.form


def store_upload(f: ReceivedFile, data_dir: Path) -> str:
    """Move a received file to its content address; returns the path relative to ``data_dir``."""
    rel = Path("uploads") / f.sha256[:2] / f.sha256
    dest = data_dir / rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        f.temp_path.unlink(missing_ok=True)
    else:
        os.chmod(f.temp_path, 0o600)
        os.replace(f.temp_path, dest)
    f.temp_path = None
    return str(rel)


def probe_upload(pool: ProbePool, data_dir: Path, stored: str, name: str, max_bytes: int) -> ProbeResult:
    """Open the stored upload in an isolated child, under its display name (for the messages)."""
    scratch = data_dir / "tmp" / uuid.uuid4().hex
    scratch.mkdir(parents=True)
    try:
        link = scratch / name
        os.symlink((data_dir / stored).resolve(), link)
        return pool.probe(link, max_bytes)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def probe_status(result: ProbeResult) -> int:
    """The HTTP status of a failed upload check: the error class's, else the process outcome's."""
    cls = error_class(result.error_code)
    return cls.http_status if cls is not None else _PROCESS_STATUS.get(result.error_code or "", 422)
