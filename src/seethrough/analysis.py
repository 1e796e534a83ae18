"""The one flow: media file → frames → faces → model → :class:`Analysis`.

The CLI, the web app, batch scanning and evaluation all call :func:`analyze`.
Expected problems (unreadable media, no face) become a status with a message;
they never escape as exceptions.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from . import __version__
from .errors import NoFaceError, SeethroughError
from .inference import Predictor, file_sha256, get_predictor
from .log import get_logger

log = get_logger(__name__)

SCHEMA_VERSION = "1.0"
Status = Literal["ok", "no_face", "error"]
Verdict = Literal["real", "uncertain", "fake"]


@dataclass
class FrameScore:
    index: int
    time_s: float
    fake_probability: float | None  # None where the frame had no usable face
    face_box: list[float] | None = None
    attention: float | None = None


@dataclass
class Analysis:
    """Everything known about one file. ``to_dict()`` is the documented JSON."""

    file: dict[str, Any]
    status: Status
    message: str | None = None
    error_code: str | None = None
    verdict: Verdict | None = None
    fake_probability: float | None = None
    method: dict[str, Any] | None = None
    frames: list[FrameScore] = field(default_factory=list)
    media: dict[str, Any] | None = None
    faces: dict[str, Any] | None = None
    model: dict[str, Any] | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    timings_ms: dict[str, float] = field(default_factory=dict)
    schema_version: str = SCHEMA_VERSION
    seethrough_version: str = __version__

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class AnalyzeOptions:
    frames: int = 32
    sampling: Literal["even", "first"] = "even"
    min_face: int = 40
    max_bytes: int | None = None


def _file_info(path: Path) -> dict[str, Any]:
    info: dict[str, Any] = {"name": path.name, "path": str(path)}
    if path.is_file():
        info["size_bytes"] = path.stat().st_size
        info["sha256"] = file_sha256(path)
    return info


def _failed(result: Analysis, status: Status, message: str, code: str, t_all: float) -> Analysis:
    result.status, result.message, result.error_code = status, message, code
    result.timings_ms["total"] = round((time.perf_counter() - t_all) * 1000, 2)
    return result


def analyze(
    path: str | Path,
    *,
    predictor: Predictor | None = None,
    options: AnalyzeOptions | None = None,
    progress: Any = None,
) -> Analysis:
    """Analyse one image or video. ``progress(stage: str, fraction: float)`` is called between stages."""
    from .faces import FacePipeline
    from .media import probe, sample_frames

    opts = options or AnalyzeOptions()
    path = Path(path)
    timings: dict[str, float] = {}
    settings = asdict(opts)

    def step(stage: str, frac: float) -> None:
        if progress is not None:
            progress(stage, frac)

    def tick(name: str, t0: float) -> float:
        now = time.perf_counter()
        timings[name] = round((now - t0) * 1000, 2)
        return now

    result = Analysis(file=_file_info(path), status="error", settings=settings, timings_ms=timings)
    t = t_all = time.perf_counter()
    try:
        step("probe", 0.0)
        info = probe(path, max_bytes=opts.max_bytes)
        result.media = info.to_dict()
        t = tick("probe", t)
        step("decode", 0.1)
        frames = sample_frames(path, n=opts.frames, mode=opts.sampling)
        t = tick("decode", t)
        step("faces", 0.3)
        predictor = predictor or get_predictor()
        result.model = predictor.info
        faces = FacePipeline(min_face=opts.min_face, crop_size=predictor.size, margin=predictor.crop_margin).process(frames)
        result.faces = faces.to_summary()
        t = tick("faces", t)
        result.frames = [FrameScore(f.index, round(f.time_s, 4), None) for f in frames]
        faces.raise_for_status()  # NoFaceError / FaceTooSmallError
        step("model", 0.6)
        scores = predictor.score([c.crop for c in faces.crops])
        t = tick("model", t)
    except NoFaceError as exc:
        return _failed(result, "no_face", str(exc), exc.code, t_all)
    except SeethroughError as exc:
        return _failed(result, "error", str(exc), exc.code, t_all)
    except Exception as exc:  # a bug or an exotic file: report it, never crash the caller
        log.exception("analysis of %s failed", path)
        msg = f"Analysis failed unexpectedly ({type(exc).__name__}); see the log for details."
        return _failed(result, "error", msg, "internal", t_all)

    by_index = {c.frame_index: (i, c) for i, c in enumerate(faces.crops)}
    for fs in result.frames:
        if fs.index in by_index:
            i, c = by_index[fs.index]
            fs.fake_probability = round(float(scores.frame_probabilities[i]), 6)
            fs.face_box = [round(float(v), 1) for v in c.box]
            fs.attention = round(float(scores.attention[i]), 6)
    result.status = "ok"
    result.fake_probability = round(scores.fake_probability, 6)
    result.verdict = predictor.verdict(scores.fake_probability)
    if scores.method_probabilities:
        best = max(scores.method_probabilities, key=scores.method_probabilities.get)
        result.method = {
            "predicted": best,
            "probabilities": {k: round(v, 6) for k, v in scores.method_probabilities.items()},
            "note": "probabilities are conditional on the face being manipulated",
        }
    timings["total"] = round((time.perf_counter() - t_all) * 1000, 2)
    step("done", 1.0)
    return result
