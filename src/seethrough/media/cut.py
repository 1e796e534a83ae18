"""Cut videos to their first N frames, re-encoded as MJPEG ``.avi`` (every frame a JPEG).

Writing goes to a hidden temporary file next to the output (``.NAME.avi.part``) that is
renamed into place only once complete, so an interrupted run never leaves a file that
looks finished; a rerun skips outputs that already hold the requested frames and simply
overwrites stale temporary files. Frames are written upright (rotation applied).
"""

from __future__ import annotations

import gc
import os
from collections import Counter
from dataclasses import asdict, dataclass
from fractions import Fraction
from functools import partial
from pathlib import Path

from ..errors import CorruptMediaError
from ..log import get_logger
from ..parallel import run_parallel
from .decode import VideoReader
from .probe import count_packets, open_video, video_stream
from .types import VIDEO_EXTENSIONS
from .validate import find_media

log = get_logger(__name__)

DEFAULT_FRAMES = 150
#: MJPEG quantiser as ffmpeg's ``-q:v``: 2 is the best quality (largest files), 31 the worst.
DEFAULT_QUALITY = 3
_FF_QP2LAMBDA = 118
STATUSES = ("written", "skipped", "too_short", "failed")


@dataclass
class CutResult:
    """Outcome for one source. ``status``: written, skipped (already complete), too_short
    (fewer frames than asked and ``allow_short`` off: nothing written) or failed."""

    src: str
    dst: str
    status: str
    frames: int = 0
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status in ("written", "skipped")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class CutReport:
    results: list[CutResult]

    @property
    def counts(self) -> dict[str, int]:
        c = Counter(r.status for r in self.results)
        return {s: c[s] for s in STATUSES if c[s]}

    @property
    def failed(self) -> list[CutResult]:
        return [r for r in self.results if r.status in ("failed", "too_short")]


def temp_path(dst: str | Path) -> Path:
    """The temporary name a cut is written under before the final rename."""
    dst = Path(dst)
    return dst.with_name(f".{dst.name}.part")


def output_frames(path: str | Path) -> int | None:
    """Frames in an existing cut output, from its AVI header; ``None`` if absent or unreadable."""
    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        return None
    try:
        container = open_video(path)
    except Exception:  # a damaged output is simply redone
        return None
    try:
        stream = video_stream(container, path)
        return int(stream.frames or 0) if stream.codec_context.name == "mjpeg" else None
    except Exception:
        return None
    finally:
        container.close()


def _is_complete(src: Path, dst: Path, n_frames: int, allow_short: bool) -> int | None:
    have = output_frames(dst)
    if not have:
        return None
    if have == n_frames:
        return have
    if allow_short and have < n_frames and have == min(count_packets(src), n_frames):
        return have
    return None


def cut_video(
    src: str | Path,
    dst: str | Path,
    n_frames: int = DEFAULT_FRAMES,
    quality: int = DEFAULT_QUALITY,
    *,
    allow_short: bool = False,
    overwrite: bool = False,
) -> CutResult:
    """Write the first ``n_frames`` of ``src`` to ``dst`` as MJPEG AVI at ``quality`` (2-31,
    lower is better, like ``ffmpeg -q:v``).

    Skips when ``dst`` is already complete (unless ``overwrite``). A source with fewer
    frames gives status ``too_short`` and no output, or all its frames with
    ``allow_short``. Unreadable sources raise :class:`~seethrough.errors.MediaError`.
    """
    src, dst = Path(src), Path(dst)
    if n_frames < 1:
        raise ValueError("n_frames must be at least 1")
    if not 2 <= quality <= 31:
        raise ValueError("quality is an MJPEG quantiser from 2 (best) to 31 (worst)")
    if not overwrite:
        have = _is_complete(src, dst, n_frames, allow_short)
        if have:
            return CutResult(str(src), str(dst), "skipped", have, "already complete")

    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(dst)
    try:
        written = _encode(src, tmp, n_frames, quality)
        if written < n_frames and not allow_short:
            tmp.unlink(missing_ok=True)
            return CutResult(str(src), str(dst), "too_short", written, f"{src.name} has only {written} of {n_frames} frames")
        check = output_frames(tmp)
        if check != written:
            raise CorruptMediaError(f"the output for {src.name} reads back {check} frames, not {written}.")
        os.replace(tmp, dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    log.debug("cut %s -> %s (%d frames)", src, dst, written)
    return CutResult(str(src), str(dst), "written", written)


def _encode(src: Path, tmp: Path, n_frames: int, quality: int) -> int:
    import av

    written = 0
    with VideoReader(src, strict=True) as reader:
        rate = reader.stream.average_rate or reader.stream.guessed_rate or Fraction(25)
        with av.open(str(tmp), "w", format="avi") as out:
            stream = None
            for i, frame in enumerate(reader.frames()):
                if i >= n_frames:
                    break
                orientation = reader.orientation
                if orientation is not None and orientation.ops:
                    frame = av.VideoFrame.from_ndarray(reader.to_frame(frame, i).image, format="rgb24")
                if stream is None:
                    stream = out.add_stream("mjpeg", rate=rate)
                    stream.width, stream.height, stream.pix_fmt = frame.width, frame.height, "yuvj420p"
                    stream.codec_context.qscale = True
                    stream.codec_context.global_quality = quality * _FF_QP2LAMBDA
                    stream.options = {"qmin": str(quality), "qmax": str(quality)}
                elif (frame.width, frame.height) != (stream.width, stream.height):
                    frame = frame.reformat(width=stream.width, height=stream.height)
                frame.pts = i
                frame.time_base = 1 / Fraction(rate)
                for packet in stream.encode(frame):
                    out.mux(packet)
                written += 1
            if stream is None:
                raise CorruptMediaError(f"{src.name} has no decodable frame to cut.")
            for packet in stream.encode():
                out.mux(packet)
    return written


def plan_outputs(src_dir: str | Path, out_dir: str | Path) -> list[tuple[Path, Path]]:
    """Pair every video under ``src_dir`` with ``out_dir/<same relative path>.avi``.

    Sources that would share an output name (``a.mp4`` and ``a.mov``) keep their
    extension in it (``a.mp4.avi``, ``a.mov.avi``).
    """
    src_dir, out_dir = Path(src_dir), Path(out_dir)
    sources = [p for p in find_media(src_dir, exclude=[out_dir]) if p.suffix.lower() in VIDEO_EXTENSIONS]
    rels = [p.relative_to(src_dir) for p in sources]
    names = Counter(r.with_suffix(".avi") for r in rels)
    return [
        (p, out_dir / (r.with_suffix(".avi") if names[r.with_suffix(".avi")] == 1 else r.with_name(r.name + ".avi")))
        for p, r in zip(sources, rels)
    ]


def _cut_pair(pair: tuple[str, str], **kwargs) -> CutResult:
    return cut_video(pair[0], pair[1], **kwargs)


def cut_dir(
    src_dir: str | Path,
    out_dir: str | Path,
    n_frames: int = DEFAULT_FRAMES,
    quality: int = DEFAULT_QUALITY,
    *,
    workers: int | None = None,
    allow_short: bool = False,
    overwrite: bool = False,
    progress: bool = True,
) -> CutReport:
    """Cut every video under ``src_dir`` into ``out_dir`` (mirrored folders), in parallel."""
    src_dir = Path(src_dir)
    if not src_dir.is_dir():
        raise NotADirectoryError(f"{src_dir} is not a folder.")
    if not 2 <= quality <= 31:
        raise ValueError("quality is an MJPEG quantiser from 2 (best) to 31 (worst)")
    pairs = [(str(s), str(d)) for s, d in plan_outputs(src_dir, out_dir)]
    gc.collect()  # no half-dead decoders inherited by forked workers (see probe.frame_orientation)
    fn = partial(_cut_pair, n_frames=n_frames, quality=quality, allow_short=allow_short, overwrite=overwrite)
    results = []
    for out in run_parallel(fn, pairs, workers=workers, desc="cutting", progress=progress):
        if out.ok:
            results.append(out.result)
        else:
            src, dst = out.item
            log.warning("%s: %s", src, out.error)
            results.append(CutResult(src, dst, "failed", 0, str(out.error)))
    results.sort(key=lambda r: r.src)
    return CutReport(results)
