"""Decode frames: every frame, the first N, or N spread evenly, rotation applied.

Videos are read with PyAV. :func:`sample_frames` first indexes the video packets (a cheap
demux pass with no decoding) to learn the exact frame count, every frame's timestamp and
where the keyframes are; it then seeks to the keyframe before a target only when that
skips frames it would otherwise decode, tells the decoder to drop non-reference frames
it does not keep, and converts to RGB only the frames it keeps (see
``bench/bench_media.py`` for the measurements behind this plan).
Frame ``index`` is the frame's position in presentation order, so it matches the
``index`` :func:`iter_frames` gives the same frame.
"""

from __future__ import annotations

from pathlib import Path
from typing import Container, Iterator, Literal

import numpy as np

from ..errors import CorruptMediaError, TruncatedMediaError
from ..log import get_logger
from .probe import (
    IMAGE_FORMATS,
    Orientation,
    check_file,
    decoded_frames,
    frame_orientation,
    open_video,
    pillow_image,
    sniff_format,
    video_stream,
)
from .types import Frame

log = get_logger(__name__)

SampleMode = Literal["even", "first"]
Strategy = Literal["auto", "seek", "sequential"]


# ---------------------------------------------------------------------------- images


def load_image(path: str | Path, max_side: int | None = None) -> np.ndarray:
    """Read a still image as RGB uint8 HxWx3, EXIF orientation applied."""
    from PIL import ImageOps

    path, _, _ = check_file(path)
    Image = pillow_image()
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            rgb = _pil_to_rgb(im)
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        if "truncat" in str(exc).lower():
            raise TruncatedMediaError(f"{path.name} is truncated: {exc}. Re-copy or re-download it.") from exc
        raise CorruptMediaError(f"{path.name} cannot be read as an image: {exc}.") from exc
    return _limit_side(rgb, max_side)


def _pil_to_rgb(im) -> np.ndarray:
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(im, dtype=np.float32)
        hi = 65535.0 if im.mode != "I" else max(float(arr.max()), 1.0)
        gray = np.clip(arr / hi * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(gray[..., None], 3, axis=2))
    if im.mode != "RGB":
        im = im.convert("RGB")
    return np.ascontiguousarray(np.asarray(im, dtype=np.uint8))


def _limit_side(img: np.ndarray, max_side: int | None) -> np.ndarray:
    if not max_side or max(img.shape[:2]) <= max_side:
        return img
    import cv2

    h, w = img.shape[:2]
    s = max_side / max(h, w)
    return cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)


def _is_image(path: str | Path) -> bool:
    _, _, head = check_file(path)
    return sniff_format(head) in IMAGE_FORMATS


# ---------------------------------------------------------------------------- videos


class VideoReader:
    """An open video: its main stream, orientation and RGB conversion.

    Use as a context manager. ``threads`` is PyAV's ``thread_type`` (``"AUTO"`` = frame
    and slice threads).
    """

    def __init__(self, path: str | Path, *, max_side: int | None = None, threads: str = "AUTO", strict: bool = False):
        self.path, _, head = check_file(path)
        self.container = open_video(self.path, head)
        try:
            self.stream = video_stream(self.container, self.path)
            for other in self.container.streams:
                if other is not self.stream:
                    other.discard = other.discard.__class__.all  # skip demuxing what we drop
            if threads:
                self.stream.thread_type = threads
        except BaseException:
            self.container.close()
            raise
        self.max_side = max_side
        self.strict = strict
        self.orientation: Orientation | None = None
        rate = self.stream.average_rate or self.stream.guessed_rate or self.stream.base_rate
        self.fps = float(rate) if rate else None
        self.time_base = self.stream.time_base
        self.start_pts = self.stream.start_time

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.container.close()

    def frames(self, wanted: Container[int] | None = None) -> Iterator:
        """PyAV frames from the current position; the first one fixes the orientation.

        With ``wanted`` (timestamps), non-reference frames outside it are not decoded.
        """
        for frame in decoded_frames(self.container, self.stream, self.path, strict=self.strict, wanted=wanted):
            if self.orientation is None:
                self.orientation = frame_orientation(frame, self.stream)
            yield frame

    def seek(self, pts: int) -> None:
        """Jump to the keyframe at or before ``pts`` (stream time base)."""
        self.container.seek(pts, stream=self.stream, backward=True, any_frame=False)

    def time_of(self, frame, index: int) -> float:
        if frame.pts is not None and self.time_base is not None:
            t = float((frame.pts - (self.start_pts or 0)) * self.time_base)
            return max(t, 0.0)
        return index / self.fps if self.fps else 0.0

    def to_frame(self, frame, index: int) -> Frame:
        """Convert a PyAV frame to an upright RGB :class:`Frame` (resized to ``max_side``)."""
        orientation = self.orientation or Orientation()
        w, h = frame.width, frame.height
        out_w, out_h = (h, w) if orientation.swaps_axes else (w, h)
        if self.max_side and max(out_w, out_h) > self.max_side:
            s = self.max_side / max(out_w, out_h)
            rgb = frame.to_ndarray(
                format="rgb24", width=max(1, round(w * s)), height=max(1, round(h * s)), interpolation="AREA"
            )
        else:
            rgb = frame.to_ndarray(format="rgb24")
        return Frame(index=index, time_s=self.time_of(frame, index), image=orientation.apply(rgb))


def iter_frames(path: str | Path, *, max_side: int | None = None, limit: int | None = None, strict: bool = False) -> Iterator[Frame]:
    """Yield every frame (or the first ``limit``) in order; an image yields one frame."""
    if limit is not None and limit <= 0:
        return
    if _is_image(path):
        yield Frame(index=0, time_s=0.0, image=load_image(path, max_side))
        return
    with VideoReader(path, max_side=max_side, strict=strict) as reader:
        for i, frame in enumerate(reader.frames()):
            yield reader.to_frame(frame, i)
            if limit is not None and i + 1 >= limit:
                return


def even_indices(total: int, n: int) -> list[int]:
    """``n`` frame indices spread evenly over ``range(total)``, first and last included.

    Returns all ``total`` indices when ``n >= total`` (no duplicates).
    """
    if total <= 0 or n <= 0:
        return []
    if n >= total:
        return list(range(total))
    if n == 1:
        return [0]
    return sorted({int(round(x)) for x in np.linspace(0, total - 1, n)})


def sample_frames(
    path: str | Path,
    n: int = 32,
    mode: SampleMode = "even",
    max_side: int | None = None,
    *,
    strategy: Strategy = "auto",
) -> list[Frame]:
    """Return ``n`` frames spread evenly across the video (``"even"``) or its first ``n``.

    A video shorter than ``n`` gives all its frames (fewer than ``n``, never duplicates);
    an image gives one frame (index 0, time 0). ``strategy`` picks the decoding plan:
    ``"seek"`` (packet index + keyframe seeks, see the module doc), ``"sequential"``
    (decode everything, convert only the kept frames) or ``"auto"`` (seek, falling back
    to sequential when the timestamps cannot be trusted).
    """
    if n <= 0:
        return []
    if mode not in ("even", "first"):
        raise ValueError(f"mode must be 'even' or 'first', not {mode!r}")
    if _is_image(path):
        return [Frame(index=0, time_s=0.0, image=load_image(path, max_side))]
    if mode == "first":
        return list(iter_frames(path, max_side=max_side, limit=n))
    if strategy in ("auto", "seek"):
        frames = _sample_by_seeking(path, n, max_side)
        if frames is not None:
            return frames
        if strategy == "seek":
            raise CorruptMediaError(f"{Path(path).name}: timestamps are unusable for seeking; use strategy='sequential'.")
        log.debug("%s: falling back to sequential sampling", Path(path).name)
    return _sample_sequential(path, n, max_side)


class _PacketIndex:
    """Presentation-ordered timestamps of every video packet and the keyframe positions."""

    def __init__(self, pts: list[int], key_pts: list[int]):
        self.pts = sorted(pts)
        self.position = {p: i for i, p in enumerate(self.pts)}
        self.keyframes = sorted(self.position[p] for p in key_pts)

    def __len__(self) -> int:
        return len(self.pts)

    def keyframe_at_or_before(self, pos: int) -> int:
        import bisect

        i = bisect.bisect_right(self.keyframes, pos) - 1
        return self.keyframes[max(i, 0)]


def _index_packets(reader: VideoReader) -> _PacketIndex | None:
    pts: list[int] = []
    key_pts: list[int] = []
    for packet in reader.container.demux(reader.stream):
        if not packet.size or packet.is_discard:
            continue
        if packet.pts is None:
            return None
        pts.append(packet.pts)
        if packet.is_keyframe:
            key_pts.append(packet.pts)
    if not pts or not key_pts or len(set(pts)) != len(pts):
        return None
    return _PacketIndex(pts, key_pts)


def _sample_by_seeking(path: str | Path, n: int, max_side: int | None) -> list[Frame] | None:
    """Seek-and-decode plan; ``None`` when the packet timestamps cannot be trusted."""
    with VideoReader(path, max_side=max_side) as reader:
        index = _index_packets(reader)
        if index is None:
            return None
        if reader.start_pts is None:
            reader.start_pts = index.pts[0]
        out: list[Frame] = []
        frames = None
        next_pos = None  # position of the next frame the decoder will hand out
        targets = even_indices(len(index), n)
        wanted = {index.pts[t] for t in targets}
        for target in targets:
            key = index.keyframe_at_or_before(target)
            if frames is None or next_pos is None or next_pos > target or key > next_pos:
                reader.seek(index.pts[key])
                frames, next_pos = reader.frames(wanted), None
            found = False
            for frame in frames:
                pos = index.position.get(frame.pts) if frame.pts is not None else None
                if pos is None:
                    return None
                next_pos = pos + 1
                if pos == target:
                    out.append(reader.to_frame(frame, target))
                    found = True
                    break
                if pos > target:
                    return None
            if not found:
                if next_pos is None:  # nothing decodes after the seek: do not trust it
                    return None
                log.warning("%s: the video ends before frame %d of %d", reader.path.name, target, len(index))
                break
        return out


def _sample_sequential(path: str | Path, n: int, max_side: int | None) -> list[Frame]:
    """Decode every frame once, keeping the targets; a second pass if the count was wrong."""
    from .probe import count_packets

    expected = count_packets(path)
    for _ in range(2):
        targets = even_indices(expected, n)
        wanted = set(targets)
        kept: list[Frame] = []
        with VideoReader(path, max_side=max_side) as reader:
            count = 0
            for i, frame in enumerate(reader.frames()):
                if i in wanted:
                    kept.append(reader.to_frame(frame, i))
                count = i + 1
        if count == expected:
            return kept
        log.debug("%s: %d frames decoded, %d expected; sampling again", Path(path).name, count, expected)
        expected = count
    return kept
