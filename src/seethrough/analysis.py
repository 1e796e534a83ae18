"""The one flow: media file → frames → faces → model → :class:`Analysis`.

The CLI, the web app, batch scanning and evaluation all call :func:`analyze`.
Expected problems (unreadable media, no face) become a status with a message;
they never escape as exceptions.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from . import __version__
from .errors import NoFaceError, SeethroughError
from . import facts
from .facts import SCHEMA_VERSION, AnalysisStatus
from .inference import Predictor, file_sha256, get_predictor
from .log import get_logger

log = get_logger(__name__)

SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "analysis.schema.json"
Status = AnalysisStatus  # defined once, in facts
Verdict = facts.Verdict  # likewise
NARRATORS = ("template", "ollama", "openai")


@dataclass
class FrameScore:
    index: int
    time_s: float
    fake_probability: float | None  # None where the frame had no usable face
    face_box: list[float] | None = None
    attention: float | None = None
    regions: dict[str, float] | None = None  # area-normalised Grad-CAM heat per facial region


@dataclass
class Artifacts:
    """Pixels behind the evidence (never serialised): the reported face's crops, their
    heatmaps and the full frames of the key frames (of every sampled frame with
    ``keep_frames``). See :func:`seethrough.explain.evidence_gallery`."""

    crops: list[Any]  # FaceCrop
    cams: np.ndarray  # (T, S, S) float16 in [0, 1], one per crop
    frames: dict[int, np.ndarray]  # frame index -> RGB image


@dataclass
class Analysis:
    """Everything known about one file. ``to_dict()`` is the documented JSON
    (``schemas/analysis.schema.json``)."""

    file: dict[str, Any]
    status: Status
    message: str | None = None
    error_code: str | None = None
    verdict: Verdict | None = None
    fake_probability: float | None = None
    thresholds: dict[str, float] | None = None
    method: dict[str, Any] | None = None
    abstention: dict[str, Any] | None = None  # whether the verdict was withheld, and why (seethrough.abstain)
    provenance: dict[str, Any] | None = None  # what the file says about itself (seethrough.provenance); never the score
    frames: list[FrameScore] = field(default_factory=list)
    tracks: list[dict[str, Any]] = field(default_factory=list)
    evidence: dict[str, Any] | None = None
    narrative: dict[str, Any] | None = None
    media: dict[str, Any] | None = None
    faces: dict[str, Any] | None = None
    model: dict[str, Any] | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    timings_ms: dict[str, float] = field(default_factory=dict)
    schema_version: str = SCHEMA_VERSION
    seethrough_version: str = __version__
    artifacts: Artifacts | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        doc = asdict(replace(self, artifacts=None))
        doc.pop("artifacts")
        return doc


@dataclass
class AnalyzeOptions:
    frames: int = 32
    sampling: Literal["even", "first"] = "even"
    min_face: int = 40
    max_bytes: int | None = None
    explain: bool = True  # Grad-CAM, regions, key frames, caveats (and keep pixels for reports)
    max_faces: int = 4  # faces (tracks) scored; the verdict is the most suspicious one's
    narrator: str | None = "template"  # template | ollama | openai | None (no text)
    narrator_model: str | None = None
    narrator_timeout: float = 20.0
    threads: int | None = None  # face-detector (ONNX Runtime) threads; None = its default (2)
    keep_frames: bool = False  # keep every sampled frame in ``artifacts.frames`` (viewers), not only key frames
    provenance: bool = True  # read Content Credentials and metadata (seethrough.provenance)
    c2pa_trust: str | None = None  # PEM file of trusted root certificates for Content Credentials signers

    def __post_init__(self) -> None:
        if self.narrator is not None and self.narrator not in NARRATORS:
            raise ValueError(f"narrator must be one of {', '.join(NARRATORS)}, got {self.narrator!r}")
        if self.frames < 1 or self.max_faces < 1:
            raise ValueError("frames and max_faces must be at least 1")


def _file_info(path: Path) -> dict[str, Any]:
    info: dict[str, Any] = {"name": path.name, "path": str(path)}
    if path.is_file():
        info["size_bytes"] = path.stat().st_size
        info["sha256"] = file_sha256(path)
    return info


def _provenance(path: Path, opts: AnalyzeOptions) -> dict[str, Any]:
    """The provenance block; whatever goes wrong becomes its note, never a failed analysis."""
    from .provenance import failed_provenance, read_provenance

    try:
        return read_provenance(path, trust=opts.c2pa_trust).to_dict()
    except Exception as exc:  # noqa: BLE001 - provenance is extra evidence, never a reason to fail
        log.exception("provenance of %s failed", path.name)
        return failed_provenance(exc).to_dict()


def _narrate(result: Analysis, opts: AnalyzeOptions) -> None:
    """The plain-words paragraph; a failing narrator never costs the user their result."""
    try:
        from .explain.narrator import narrate

        result.narrative = narrate(result.to_dict(), opts.narrator, model=opts.narrator_model,
                                   timeout=opts.narrator_timeout)
    except Exception:
        log.exception("narrator failed on %s", result.file.get("name"))


def analyze(
    path: str | Path,
    *,
    predictor: Predictor | None = None,
    options: AnalyzeOptions | None = None,
    progress: Any = None,
) -> Analysis:
    """Analyse one image or video.

    ``progress(stage: str, fraction: float)`` is called as stages start: probe, provenance,
    decode, faces, model, explain, narrate, done. Provenance (Content Credentials, metadata) is
    read before the face stage and never changes the score or the verdict.
    """
    from .faces import FacePipeline, RetinaFaceDetector
    from .media import probe, sample_frames

    opts = options or AnalyzeOptions()
    path = Path(path)
    timings: dict[str, float] = {}

    def step(stage: str, frac: float) -> None:
        if progress is not None:
            progress(stage, frac)

    def tick(name: str, t0: float) -> float:
        now = time.perf_counter()
        timings[name] = round((now - t0) * 1000, 2)
        return now

    result = Analysis(file={"name": path.name, "path": str(path)}, status="error", settings=asdict(opts),
                      timings_ms=timings)
    t = t_all = time.perf_counter()
    try:
        step("probe", 0.0)
        result.file = _file_info(path)  # inside: an unreadable file is an error result, not an exception
        info = probe(path, max_bytes=opts.max_bytes)
        result.media = info.to_dict()
        t = tick("probe", t)
        if opts.provenance:
            step("provenance", 0.05)
            result.provenance = _provenance(path, opts)
            t = tick("provenance", t)
        step("decode", 0.1)
        frames = sample_frames(path, n=opts.frames, mode=opts.sampling)
        if opts.keep_frames:  # decoded once: viewers reuse these instead of decoding again
            result.artifacts = Artifacts(crops=[], cams=np.zeros((0, 1, 1), np.float16),
                                         frames={f.index: f.image for f in frames})
        t = tick("decode", t)
        step("faces", 0.3)
        predictor = predictor or get_predictor()
        result.model = predictor.info
        result.thresholds = dict(predictor.thresholds)
        detector = RetinaFaceDetector(threads=opts.threads) if opts.threads else None
        pipeline = FacePipeline(detector, min_face=opts.min_face, crop_size=predictor.size, margin=predictor.crop_margin,
                                max_faces=opts.max_faces)
        faces = pipeline.process(frames)
        result.faces = faces.to_summary()
        t = tick("faces", t)
        result.frames = [FrameScore(f.index, round(f.time_s, 4), None) for f in frames]
        faces.raise_for_status()  # NoFaceError / FaceTooSmallError
        step("model", 0.6)
        scored = {tid: predictor.score([c.crop for c in crops], keep_features=opts.explain)
                  for tid, crops in faces.track_crops.items()}
        t = tick("model", t)
        reported = max(scored, key=lambda tid: (scored[tid].fake_probability, -tid))
        _fill_scores(result, predictor, faces.track_crops, scored, reported)
        if opts.explain:
            step("explain", 0.8)
            _explain(result, predictor, faces.track_crops[reported], scored[reported], frames)
            t = tick("explain", t)
    except NoFaceError as exc:
        result.status, result.message, result.error_code = "no_face", str(exc), exc.code
    except SeethroughError as exc:
        result.status, result.message, result.error_code = "error", str(exc), exc.code
        # A file the detector cannot decode may still say where it came from (not one over the size limit).
        if opts.provenance and result.provenance is None and exc.code not in ("too_large", "empty") and path.is_file():
            result.provenance = _provenance(path, opts)
    except OSError as exc:  # permission denied, vanished, I/O error: the file, not the analysis
        result.status, result.error_code = "error", "unreadable"
        result.message = f"{path.name} cannot be read ({exc.strerror or type(exc).__name__})."
    except Exception as exc:  # a bug or an exotic file: report it, never crash the caller
        log.exception("analysis of %s failed", path)
        result.status, result.error_code = "error", "internal"
        result.message = f"Analysis failed unexpectedly ({type(exc).__name__}); see the log for details."
    if opts.narrator:
        step("narrate", 0.9)
        t = time.perf_counter()
        _narrate(result, opts)
        tick("narrate", t)
    timings["total"] = round((time.perf_counter() - t_all) * 1000, 2)
    step("done", 1.0)
    return result


def _method(probs: dict[str, float]) -> dict[str, Any] | None:
    if not probs:
        return None
    return {
        "predicted": max(probs, key=probs.get),
        "probabilities": {k: round(v, 6) for k, v in probs.items()},
        "note": "probabilities are conditional on the face being manipulated",
    }


def _face_px(crops: list) -> list[float]:
    """Shortest side of each crop's face box, in frame pixels."""
    return [float(min(c.box[2] - c.box[0], c.box[3] - c.box[1])) for c in crops]


def _decide(predictor: Predictor, scores: Any, crops: list, media: dict | None) -> tuple[str, dict[str, Any]]:
    """The verdict word of one face, and the abstention block: a gated face is ``uncertain``
    whatever its score (seethrough.abstain says when and why)."""
    from .abstain import gate

    block = gate(media=media, face_px=_face_px(crops), unfamiliarity=scores.unfamiliarity,
                 familiarity_limit=predictor.familiarity_limit)
    return ("uncertain" if block["gated"] else predictor.verdict(scores.fake_probability)), block


def _fill_scores(result: Analysis, predictor: Predictor, track_crops: dict, scored: dict, reported: int) -> None:
    """Verdict, method and per-frame scores from the reported (most suspicious) face; a summary per face."""
    for tid, crops in track_crops.items():
        sc = scored[tid]
        if len(crops) == 1:  # a still (or one usable frame): the frame *is* the clip, so one number
            sc.frame_probabilities = np.array([sc.fake_probability])
        verdict, block = _decide(predictor, sc, crops, result.media)
        if tid == reported:
            result.verdict, result.abstention = verdict, block
        result.tracks.append({
            "track_id": tid,
            "n_frames": len(crops),
            "fake_probability": round(sc.fake_probability, 6),
            "verdict": verdict,
            "method": _method(sc.method_probabilities),
            "median_face_px": round(float(np.median(_face_px(crops))), 1),
            "first_s": round(crops[0].time_s, 4),
            "last_s": round(crops[-1].time_s, 4),
            "boxes": [{"index": c.frame_index, "box": [round(float(v), 1) for v in c.box],
                       "fake_probability": round(float(p), 6)} for c, p in zip(crops, sc.frame_probabilities)],
            "reported": tid == reported,
        })
    sc = scored[reported]
    by_index = {c.frame_index: i for i, c in enumerate(track_crops[reported])}
    for fs in result.frames:
        if fs.index in by_index:
            i = by_index[fs.index]
            fs.fake_probability = round(float(sc.frame_probabilities[i]), 6)
            fs.face_box = [round(float(v), 1) for v in track_crops[reported][i].box]
            fs.attention = round(float(sc.attention[i]), 6)
    result.status = "ok"
    result.fake_probability = round(sc.fake_probability, 6)
    result.method = _method(sc.method_probabilities)


def _explain(result: Analysis, predictor: Predictor, crops: list, scores: Any, frames: list) -> None:
    """Grad-CAM per crop, region scores per frame, key frames, segments and caveats."""
    from .explain import CAM_DESCRIPTION, aggregate_regions, gradcam_from_features, region_scores
    from .explain import evidence as ev

    cams = gradcam_from_features(predictor, scores.features, mirrored=scores.mirrored)
    per_frame: dict[int, dict[str, float]] = {}
    for c, cam in zip(crops, cams):
        if c.crop_landmarks is not None:
            per_frame[c.frame_index] = {k: round(v, 4) for k, v in region_scores(cam, c.crop_landmarks).items()}
    for fs in result.frames:
        fs.regions = per_frame.get(fs.index)
    scored = [fs for fs in result.frames if fs.regions is not None and fs.fake_probability is not None]
    # Frames the model found more suspicious count more: their heat is the evidence for "fake".
    regions = aggregate_regions([fs.regions for fs in scored], [0.05 + fs.fake_probability for fs in scored])
    keys = ev.key_frames(result.frames)
    face_px = _face_px(crops)
    reported = next(t["track_id"] for t in result.tracks if t["reported"])
    result.evidence = {
        "track_id": reported,
        "regions": regions,
        "top_regions": ev.top_regions(regions),
        "key_frames": keys,
        "suspicious_segments": ev.suspicious_segments(result.frames, predictor.thresholds["fake_above"]),
        "caveats": ev.caveats(media=result.media, face_px=face_px, n_scored=len(crops), n_sampled=len(result.frames),
                              n_tracks=len(result.tracks), reported_track=reported, verdict=result.verdict,
                              method=result.method, abstention=result.abstention,
                              monochrome=ev.is_monochrome([c.crop for c in crops])),
        "face_px": {"median": round(float(np.median(face_px)), 1), "min": round(float(np.min(face_px)), 1)},
        "cam": CAM_DESCRIPTION,
    }
    wanted = {k["index"] for k in keys}
    kept = result.artifacts.frames if result.artifacts else {f.index: f.image for f in frames if f.index in wanted}
    result.artifacts = Artifacts(crops=crops, cams=cams.astype(np.float16), frames=kept)
