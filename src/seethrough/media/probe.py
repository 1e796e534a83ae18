"""Identify and describe a media file by its content, not its extension.

:func:`probe` returns a :class:`~seethrough.media.types.MediaInfo` or raises one of the
:mod:`seethrough.errors` media errors with a message the user can act on:

* 0 bytes -> :class:`EmptyMediaError`; over ``max_bytes`` -> :class:`MediaTooLargeError`
* text or unknown content -> :class:`UnsupportedMediaError`
* a container whose declared sizes run past the end of the file, or an MP4 without its
  ``moov`` index, or fewer decodable frames than declared -> :class:`TruncatedMediaError`
  (a :class:`CorruptMediaError`)
* undecodable data -> :class:`CorruptMediaError`
* audio only -> :class:`NoVideoStreamError`

This module also reads a video's display matrix into an :class:`Orientation`, which the
decoders apply so that frames come out upright.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Container, Iterator

import numpy as np

from ..errors import (
    CorruptMediaError,
    EmptyMediaError,
    MediaError,
    MediaTooLargeError,
    NoVideoStreamError,
    TruncatedMediaError,
    UnsupportedMediaError,
)
from ..log import get_logger
from .types import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, MediaInfo

log = get_logger(__name__)

#: Formats :func:`sniff_format` can name that are still images (read with Pillow).
IMAGE_FORMATS = frozenset({"jpeg", "png", "webp", "bmp", "gif", "tiff", "heif", "avif"})
#: Formats :func:`sniff_format` can name that are video containers (read with PyAV).
VIDEO_FORMATS = frozenset({"mp4", "mov", "matroska", "webm", "avi", "mpeg", "mpegts", "flv", "ogg", "asf"})

_HEAD_BYTES = 512
_PIL_FORMATS = {"JPEG": "jpeg", "MPO": "jpeg", "PNG": "png", "WEBP": "webp", "BMP": "bmp", "GIF": "gif", "TIFF": "tiff",
                "HEIF": "heif", "AVIF": "avif"}
#: ISO-BMFF brands (``ftyp``) of still images and image sequences: HEIF/HEIC (iPhone photos) and AVIF.
_HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"mif2",
                          b"msf1"})
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_heif_opener: bool | None = None  # registered with Pillow (True), not installed (False), not tried yet (None)
_BMP_DIB_SIZES = {12, 16, 40, 52, 56, 64, 108, 124}


# --------------------------------------------------------------------------- sniffing


def sniff_format(head: bytes) -> str | None:
    """Name the container or image format from a file's first bytes, or ``None``."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "avi"
    if head[:2] == b"BM" and len(head) >= 18 and int.from_bytes(head[14:18], "little") in _BMP_DIB_SIZES:
        return "bmp"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head[4:8] == b"ftyp":
        brands = _ftyp_brands(head)
        if brands & _AVIF_BRANDS:
            return "avif"
        if brands & _HEIF_BRANDS:
            return "heif"
        return "mov" if head[8:12] == b"qt  " else "mp4"
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip"):
        return "mov"  # old QuickTime files start without an ftyp box
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "webm" if b"webm" in head[:64] else "matroska"
    if head[:4] == b"\x00\x00\x01\xba":
        return "mpeg"
    if len(head) > 376 and head[0] == head[188] == head[376] == 0x47:
        return "mpegts"
    if head[:3] == b"FLV":
        return "flv"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:4] == b"\x30\x26\xb2\x75":
        return "asf"
    return None


def _ftyp_brands(head: bytes) -> set[bytes]:
    """Major and compatible brands of an ISO-BMFF ``ftyp`` box at the start of ``head``."""
    size = min(int.from_bytes(head[:4], "big"), len(head))
    return {head[8:12], *(head[i:i + 4] for i in range(16, size - 3, 4))}


def pillow_image():
    """``PIL.Image``, able to open HEIC/HEIF photos too (pillow-heif, registered once per process).
    AVIF is built into Pillow."""
    global _heif_opener
    from PIL import Image

    if _heif_opener is None:
        try:
            import pillow_heif

            pillow_heif.register_heif_opener()
            _heif_opener = True
        except ImportError:
            log.warning("pillow-heif is not installed: HEIC/HEIF photos cannot be read")
            _heif_opener = False
    return Image


def looks_like_text(head: bytes) -> bool:
    """True when the bytes read as plain text (no NULs, valid UTF-8, printable)."""
    if not head or b"\x00" in head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # only a multi-byte character cut at the end is fine
            return False
        text = head[: exc.start].decode("utf-8")
    printable = sum(ch.isprintable() or ch in "\t\r\n\f" for ch in text)
    return printable >= 0.95 * max(len(text), 1)


def text_kind(head: bytes) -> str:
    """What a text file is, in words a user knows (for files that are text, not media)."""
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:512].lower()
    if b"<svg" in start:
        return "an SVG drawing (vector graphics as text)"
    if start.startswith((b"<!doctype html", b"<html")) or b"<html" in start:
        return "an HTML web page"
    if start.startswith(b"<?xml"):
        return "an XML document"
    if start[:1] in (b"{", b"["):
        return "a JSON text file"
    return "a text file"


def not_media_text(path: Path, head: bytes) -> UnsupportedMediaError:
    ext = path.suffix.lower()
    return UnsupportedMediaError(
        f"{path.name} is {text_kind(head)}, not a video or image"
        + (f" (its '{ext}' extension is misleading)." if ext else ".")
    )


def _read_head(path: Path, n: int = _HEAD_BYTES) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(n)


def check_file(path: str | Path, max_bytes: int | None = None) -> tuple[Path, int, bytes]:
    """Check existence, size and limits; return ``(path, size, first bytes)``.

    Raises :class:`FileNotFoundError`, :class:`EmptyMediaError`, :class:`MediaTooLargeError`
    or :class:`UnsupportedMediaError` (not a regular file).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist.")
    if not path.is_file():
        raise UnsupportedMediaError(f"{path} is not a regular file.")
    size = path.stat().st_size
    if size == 0:
        raise EmptyMediaError(f"{path.name} is empty (0 bytes); re-copy or re-download it.")
    if max_bytes is not None and size > max_bytes:
        raise MediaTooLargeError(
            f"{path.name} is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.1f} MB limit; "
            "raise the limit or shorten the file."
        )
    return path, size, _read_head(path)


def detect_kind(path: str | Path, max_bytes: int | None = None) -> str:
    """``"image"`` or ``"video"`` from the content's signature (unknown content -> ``"video"``,
    which FFmpeg then gets to try and reject)."""
    _, _, head = check_file(path, max_bytes)
    return "image" if sniff_format(head) in IMAGE_FORMATS else "video"


# ----------------------------------------------------------------- truncation checks


def _vint(buf: bytes, pos: int) -> tuple[int, int, bool]:
    """Decode an EBML variable-length integer: ``(value, length, is_unknown_size)``."""
    first = buf[pos]
    length = 8 - first.bit_length() + 1
    if first == 0 or pos + length > len(buf):
        raise ValueError("bad EBML vint")
    value = first & (0xFF >> length)
    for b in buf[pos + 1 : pos + length]:
        value = (value << 8) | b
    return value, length, value == (1 << (7 * length)) - 1


def _mp4_problem(path: Path, size: int) -> tuple[str, str] | None:
    seen: set[bytes] = set()
    offset = 0
    with open(path, "rb") as fh:
        while offset + 8 <= size:
            fh.seek(offset)
            hdr = fh.read(16)
            box_size, box_type, hdr_len = int.from_bytes(hdr[:4], "big"), hdr[4:8], 8
            if box_size == 1:
                box_size, hdr_len = int.from_bytes(hdr[8:16], "big"), 16
            elif box_size == 0:
                box_size = size - offset  # the box runs to the end of the file
            name = box_type.decode("latin-1")
            if box_size < hdr_len or not name.isprintable():
                return "corrupt", f"a damaged MP4 box header at byte {offset}"
            seen.add(box_type)
            if offset + box_size > size:
                return "truncated", (
                    f"its '{name}' box needs {offset + box_size} bytes but the file has only {size}"
                )
            offset += box_size
    if b"moov" not in seen:
        return "truncated", "it has no 'moov' index box (the recording or download never finished)"
    return None


def _riff_problem(head: bytes, size: int) -> tuple[str, str] | None:
    declared = int.from_bytes(head[4:8], "little") + 8
    if declared > size:
        return "truncated", f"its RIFF header declares {declared} bytes but the file has only {size}"
    return None


def _matroska_problem(head: bytes, size: int) -> tuple[str, str] | None:
    try:
        hdr_size, n, _ = _vint(head, 4)
        pos = 4 + n + hdr_size
        if head[pos : pos + 4] != b"\x18\x53\x80\x67":  # Segment element id
            return None
        seg_size, n, unknown = _vint(head, pos + 4)
    except (ValueError, IndexError):
        return None
    end = pos + 4 + n + seg_size
    if not unknown and end > size:
        return "truncated", f"its Matroska segment declares {end} bytes but the file has only {size}"
    return None


def container_problem(path: str | Path, fmt: str | None = None) -> tuple[str, str] | None:
    """Compare the sizes a container declares with the file's length.

    Returns ``("truncated" | "corrupt", reason)`` or ``None`` when nothing is wrong or the
    format carries no size to check (MP4/MOV, AVI, WebP, Matroska/WebM are checked).
    """
    path = Path(path)
    size = path.stat().st_size
    head = _read_head(path, 4096)
    fmt = fmt or sniff_format(head)
    if fmt in ("mp4", "mov"):
        return _mp4_problem(path, size)
    if fmt in ("avi", "webp"):
        return _riff_problem(head, size)
    if fmt in ("matroska", "webm"):
        return _matroska_problem(head, size)
    return None


def _media_error(kind: str, path: Path, reason: str) -> MediaError:
    if kind == "truncated":
        return TruncatedMediaError(f"{path.name} is truncated: {reason}. Re-copy or re-download it.")
    return CorruptMediaError(f"{path.name} is corrupt: {reason}.")


# ------------------------------------------------------------------------ orientation


@dataclass(frozen=True)
class Orientation:
    """How to turn decoded pixels upright, as FFmpeg's ``autorotate`` does.

    ``rotation`` is the clockwise angle (0/90/180/270) the display applies; ``ops`` are the
    array operations, in order: ``rot_cw``, ``rot_ccw``, ``transpose``, ``antitranspose``,
    ``hflip``, ``vflip``.
    """

    rotation: int = 0
    ops: tuple[str, ...] = ()

    @property
    def swaps_axes(self) -> bool:
        return any(op in ("rot_cw", "rot_ccw", "transpose", "antitranspose") for op in self.ops)

    def apply(self, img: np.ndarray) -> np.ndarray:
        """Return ``img`` (HxWxC) upright; a no-op (same object) without a rotation."""
        if not self.ops:
            return img
        for op in self.ops:
            if op == "rot_cw":
                img = np.rot90(img, -1)
            elif op == "rot_ccw":
                img = np.rot90(img, 1)
            elif op == "transpose":
                img = img.swapaxes(0, 1)
            elif op == "antitranspose":
                img = np.rot90(img, -1)[::-1]
            elif op == "hflip":
                img = img[:, ::-1]
            elif op == "vflip":
                img = img[::-1]
        return np.ascontiguousarray(img)

    @classmethod
    def from_rotation(cls, clockwise: int) -> Orientation:
        """A pure rotation, e.g. from a legacy ``rotate`` metadata tag (clockwise degrees)."""
        cw = int(round(clockwise / 90.0)) * 90 % 360
        return cls(cw, {0: (), 90: ("rot_cw",), 180: ("rot_cw", "rot_cw"), 270: ("rot_ccw",)}[cw])

    @classmethod
    def from_display_matrix(cls, m: np.ndarray) -> Orientation:
        """Follow FFmpeg's ``fftools`` autorotate rules for a 3x3 16.16 display matrix."""
        a, b, c, d = (float(m[i]) / 65536.0 for i in (0, 1, 3, 4))
        s0, s1 = math.hypot(a, c), math.hypot(b, d)
        if s0 == 0 or s1 == 0:
            return cls()
        ccw = -math.degrees(math.atan2(b / s1, a / s0))  # av_display_rotation_get
        theta = -round(ccw)
        theta -= 360 * math.floor(theta / 360 + 0.9 / 360)
        if abs(theta - 90) < 1:
            return cls(90, ("transpose",) if m[3] > 0 else ("rot_cw",))
        if abs(theta - 180) < 1:
            ops = (("hflip",) if m[0] < 0 else ()) + (("vflip",) if m[4] < 0 else ())
            return cls(180, ops)
        if abs(theta - 270) < 1:
            return cls(270, ("antitranspose",) if m[3] < 0 else ("rot_ccw",))
        if abs(theta) < 1 or abs(theta - 360) < 1:
            return cls(0, ("vflip",) if m[4] < 0 else ())
        log.warning("display matrix rotates by %.1f degrees; rounding to a multiple of 90", theta)
        return cls.from_rotation(int(theta))


def frame_orientation(frame, stream=None) -> Orientation:
    """Orientation from a decoded PyAV frame's display matrix (or the stream's ``rotate`` tag)."""
    # ``frame.side_data`` ties the frame into a reference cycle that only the garbage
    # collector breaks; a decoded frame kept alive that way keeps its decoder's threads
    # alive, and a forked worker that later collects it hangs joining them. A tiny copy
    # carries the same side data and owns nothing of the decoder.
    probe_copy = frame.reformat(width=16, height=16)
    for sd in probe_copy.side_data:
        if getattr(sd.type, "name", "") == "DISPLAYMATRIX":
            raw = bytes(sd)
            if len(raw) >= 36:
                return Orientation.from_display_matrix(np.frombuffer(raw[:36], dtype="<i4"))
    tag = (stream.metadata.get("rotate") if stream is not None else None) or "0"
    try:
        return Orientation.from_rotation(int(float(tag)))
    except ValueError:
        return Orientation()


# ----------------------------------------------------------------------- PyAV access


def _av():
    import av

    return av


def open_video(path: str | Path, head: bytes | None = None, fmt: str | None = None):
    """Open ``path`` with PyAV, turning FFmpeg's failure into a specific media error."""
    av = _av()
    path = Path(path)
    try:
        return av.open(str(path), mode="r", metadata_errors="ignore")
    except av.error.FileNotFoundError as exc:
        raise FileNotFoundError(f"{path} does not exist.") from exc
    except av.error.PermissionError as exc:
        raise PermissionError(f"{path} cannot be read (permission denied).") from exc
    except av.error.FFmpegError as exc:
        raise classify_open_failure(path, exc, head, fmt) from exc


def classify_open_failure(path: Path, exc: BaseException, head: bytes | None = None, fmt: str | None = None) -> MediaError:
    """Explain why FFmpeg could not open ``path``."""
    head = head if head is not None else _read_head(path)
    fmt = fmt or sniff_format(head)
    problem = container_problem(path, fmt) if fmt else None
    if problem:
        return _media_error(problem[0], path, problem[1])
    detail = getattr(exc, "strerror", None) or str(exc)
    if fmt:
        return CorruptMediaError(f"{path.name} looks like {fmt.upper()} but cannot be decoded ({detail}).")
    ext = path.suffix.lower()
    if looks_like_text(head):
        return not_media_text(path, head)
    if ext in VIDEO_EXTENSIONS or ext in IMAGE_EXTENSIONS:
        return CorruptMediaError(
            f"{path.name} has a '{ext}' extension but its content is not a recognisable video or "
            "image: the header is missing or damaged."
        )
    return UnsupportedMediaError(f"{path.name} is not a video or image format seethrough can read.")


def video_stream(container, path: Path):
    """The main video stream (cover-art pictures skipped) or a :class:`NoVideoStreamError`."""
    streams = [s for s in container.streams.video if not _is_attached_pic(s)]
    if not streams:
        if container.streams.audio:
            raise NoVideoStreamError(f"{path.name} contains only audio; a video stream is required.")
        if not len(container.streams):
            # A video container whose stream index lists nothing: the index (e.g. an MP4's moov box) is damaged.
            raise CorruptMediaError(f"{path.name} is a damaged video: the index of its streams is unreadable. "
                                    "Re-copy or re-export it.")
        raise UnsupportedMediaError(f"{path.name} contains no video stream.")
    return streams[0]


def _is_attached_pic(stream) -> bool:
    try:
        return bool(stream.disposition & stream.disposition.__class__.attached_pic)
    except (AttributeError, TypeError):
        return False


def decoded_frames(container, stream, path: Path, *, strict: bool = False, wanted: Container[int] | None = None) -> Iterator:
    """Decode ``stream`` from the container's current position, yielding PyAV frames.

    With ``strict`` a decoding error raises :class:`CorruptMediaError`; otherwise the bad
    packet is logged and skipped. ``wanted`` (packet timestamps) lets the decoder skip
    non-reference frames outside it: they are never output, and no kept frame depends
    on them, so kept frames are bit-identical to a full decode.
    """
    av = _av()
    cc = stream.codec_context
    mode = "DEFAULT"
    cc.skip_frame = mode
    for packet in container.demux(stream):
        if wanted is not None:
            want = "DEFAULT" if packet.pts is None or packet.pts in wanted else "NONREF"
            if want != mode:
                cc.skip_frame = mode = want
        try:
            frames = packet.decode()
        except av.error.FFmpegError as exc:
            if strict:
                raise CorruptMediaError(
                    f"{path.name} is corrupt: decoding failed near {float(packet.time or 0):.2f} s "
                    f"({getattr(exc, 'strerror', None) or exc})."
                ) from exc
            log.warning("%s: skipping an undecodable packet (%s)", path.name, exc)
            continue
        yield from frames


# ---------------------------------------------------------------------------- probe


def probe(path: str | Path, *, max_bytes: int | None = None, count_frames: bool = False, verify: bool = False) -> MediaInfo:
    """Describe a video or image file.

    ``count_frames`` counts video packets (fast, no decoding) instead of trusting the
    header; ``verify`` decodes every frame, counts them exactly and raises
    :class:`CorruptMediaError` / :class:`TruncatedMediaError` on damage or when clearly fewer
    frames decode than the header declares.
    """
    path, size, head = check_file(path, max_bytes)
    fmt = sniff_format(head)
    if fmt in IMAGE_FORMATS:
        return _probe_image(path, fmt, size)
    return _probe_video(path, fmt, head, size, count_frames=count_frames, verify=verify)


def _probe_image(path: Path, fmt: str, size: int) -> MediaInfo:
    from PIL import UnidentifiedImageError

    Image = pillow_image()
    if fmt == "heif" and not _heif_opener:
        raise UnsupportedMediaError(f"{path.name} is a HEIC/HEIF photo, which needs pillow-heif to be read: "
                                    "pip install pillow-heif.")
    try:
        with Image.open(path) as im:
            pil_format = im.format or ""
            # (pillow-heif decodes a HEIF photo upright, by its own irot/imir boxes, and then says 1 here)
            exif_orientation = int(im.getexif().get(0x0112, 1) or 1)
            im.load()
            width, height = im.size
            n_images = int(getattr(im, "n_frames", 1) or 1)
            mode = im.mode
    except Image.DecompressionBombError as exc:
        raise MediaTooLargeError(f"{path.name} has too many pixels to decode safely ({exc}).") from exc
    except UnidentifiedImageError as exc:
        head = _read_head(path)
        if looks_like_text(head):  # SVG, HTML... that FFmpeg's image2 or svg demuxer claimed
            raise not_media_text(path, head) from exc
        raise CorruptMediaError(f"{path.name} looks like {fmt.upper()} but its header is damaged.") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        if "truncat" in str(exc).lower():
            raise TruncatedMediaError(f"{path.name} is truncated: {exc}. Re-copy or re-download it.") from exc
        raise CorruptMediaError(f"{path.name} is corrupt: {exc}.") from exc
    if pil_format not in _PIL_FORMATS:
        raise UnsupportedMediaError(f"{path.name} is a {pil_format or 'unknown'} image, which is not supported.")
    rotation = {3: 180, 4: 180, 5: 90, 6: 90, 7: 270, 8: 270}.get(exif_orientation, 0)
    if exif_orientation in (5, 6, 7, 8):
        width, height = height, width
    return MediaInfo(
        path=str(path),
        kind="image",
        container=_PIL_FORMATS[pil_format],
        codec=_PIL_FORMATS[pil_format],
        width=width,
        height=height,
        frame_count=1,
        rotation=rotation,
        size_bytes=size,
        extra={"exif_orientation": exif_orientation, "mode": mode, "n_images": n_images},
    )


def _probe_video(path: Path, fmt: str | None, head: bytes, size: int, *, count_frames: bool, verify: bool) -> MediaInfo:
    problem = container_problem(path, fmt) if fmt else None
    if problem:
        raise _media_error(problem[0], path, problem[1])
    container = open_video(path, head, fmt)
    try:
        fmt_name = container.format.name
        if fmt_name == "image2" or fmt_name.endswith("_pipe"):
            # FFmpeg recognised a still image we did not sniff; Pillow decides.
            return _probe_image(path, fmt_name.replace("_pipe", ""), size)
        stream = video_stream(container, path)
        stream.thread_type = "AUTO" if verify else "SLICE"  # frame threads delay the first frame
        cc = stream.codec_context
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else None
        if stream.duration and stream.time_base:
            duration = float(stream.duration * stream.time_base)
        elif container.duration:
            duration = container.duration / 1_000_000
        else:
            duration = None
        declared = int(stream.frames or 0) or None
        if declared:
            frame_count, source = declared, "header"
        elif duration and fps:
            frame_count, source = int(round(duration * fps)), "estimate"
        else:
            frame_count, source = None, "unknown"

        frames = decoded_frames(container, stream, path, strict=verify)
        try:
            first = next(frames, None)
            if first is None or (verify and first.is_corrupt):
                raise CorruptMediaError(f"{path.name} is corrupt: its video stream has no decodable frame.")
            orientation = frame_orientation(first, stream)
            coded_w, coded_h, pix_fmt = first.width, first.height, getattr(first.format, "name", None)
            del first
            if verify:
                counted = 1 + _count_decoded(frames, path)
                _check_shortfall(path, counted, frame_count if source != "unknown" else None, source)
                frame_count, source = counted, "decoded"
        finally:
            frames.close()
        if count_frames and not verify:
            frame_count, source = _count_packets(path, head, fmt), "packets"
        width, height = (coded_h, coded_w) if orientation.swaps_axes else (coded_w, coded_h)
        return MediaInfo(
            path=str(path),
            kind="video",
            container=fmt if fmt in VIDEO_FORMATS else fmt_name.split(",")[0],
            codec=cc.name,
            width=width,
            height=height,
            fps=fps,
            frame_count=frame_count,
            duration_s=duration,
            rotation=orientation.rotation,
            has_audio=bool(container.streams.audio),
            size_bytes=size,
            extra={
                "frame_count_source": source,
                "coded_width": coded_w,
                "coded_height": coded_h,
                "pix_fmt": pix_fmt,
                "bit_rate": container.bit_rate or None,
                "format_name": fmt_name,
                "orientation_ops": list(orientation.ops),
            },
        )
    finally:
        container.close()


def _count_decoded(frames: Iterator, path: Path) -> int:
    """Count the remaining frames of a strict :func:`decoded_frames`, failing on corrupt ones."""
    n = 0
    for frame in frames:
        if frame.is_corrupt:
            raise CorruptMediaError(f"{path.name} is corrupt: frame {n + 1} decodes with errors.")
        n += 1
    return n


def _check_shortfall(path: Path, counted: int, expected: int | None, source: str) -> None:
    if not expected:
        return
    tolerance = max(2, int(0.02 * expected))
    if counted < expected - tolerance:
        raise TruncatedMediaError(
            f"{path.name} is truncated: only {counted} of the {expected} frames its header "
            f"{'declares' if source == 'header' else 'implies'} can be decoded. Re-copy or re-download it."
        )


def _count_packets(path: Path, head: bytes, fmt: str | None) -> int:
    """Count the video stream's packets in a fresh pass (one packet is one frame)."""
    container = open_video(path, head, fmt)
    try:
        stream = video_stream(container, path)
        return sum(1 for p in container.demux(stream) if p.size and not p.is_discard)
    finally:
        container.close()


def count_packets(path: str | Path) -> int:
    """Number of video frames counted from the packets, without decoding."""
    path, _, head = check_file(path)
    return _count_packets(path, head, sniff_format(head))
