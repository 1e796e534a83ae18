"""What a report says, built once from an analysis document and shared by the HTML and PDF renderers.

Everything here is plain text and PNG bytes: the renderers only lay it out (and
escape it: file names, narrator text and model-card text are untrusted).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable, Sequence

from . import charts
from .charts import Chart
from .. import facts
from ..errors import (
    CorruptMediaError,
    EmptyMediaError,
    FaceTooSmallError,
    MediaTooLargeError,
    NoVideoStreamError,
    SeethroughError,
    UnsupportedMediaError,
    error_class,
)
from ..explain.narrator_facts import withheld_reasons
from ..provenance import display_rows, headline_statements
from ..provenance.wording import LABELS as PROVENANCE_LABELS, UNSIGNED_NOTE
from .images import to_jpeg


MAX_GALLERY = 8  # key frames shown; a longer list is cut with a note

LIMITS = (
    "A detector gives evidence, not proof. This report describes what a statistical model saw in "
    "the sampled frames; it does not establish how the footage was made or by whom.",
    "The probability is calibrated on specific data (see the model card). On material unlike that "
    "data the numbers can be off.",
    "It can be wrong on new or unseen generation methods, heavy compression or re-encoding, small or "
    "blurred faces, extreme head poses, occlusions and strong filters.",
    "Heatmaps show where the model looked when it scored a frame, not where an edit was made.",
    "The manipulation family is a resemblance, never an attribution to a tool or a person.",
    "Corroborate before publishing: the original file and its source, metadata, and independent witnesses.",
)


@dataclass(frozen=True)
class Badge:
    label: str  # FAKE / UNCERTAIN / REAL / NO FACE / ERROR
    headline: str  # one short line under the label
    colour: str  # badge background (hex)
    text_colour: str
    tint: str  # a light version for call-out boxes


BADGES = {
    "fake": Badge("FAKE", "likely manipulated", "#c62828", "#ffffff", "#fdecea"),
    "uncertain": Badge("UNCERTAIN", "inconclusive", "#f2a900", "#1f1f1f", "#fff6dc"),
    "real": Badge("REAL", "no clear sign of manipulation", "#2e7d32", "#ffffff", "#e8f5e9"),
    "no_face": Badge("NO FACE", "no verdict", "#546e7a", "#ffffff", "#eceff1"),
    "error": Badge("ERROR", "no verdict", "#4e342e", "#ffffff", "#efebe9"),
}


@dataclass(frozen=True)
class GalleryView:
    rank: int
    index: int
    time_text: str
    probability_text: str
    region: str | None
    crop: bytes
    crop_overlay: bytes
    frame_overlay: bytes | None  # None when the frame image was not kept
    frame_size: tuple[int, int]  # width, height of the encoded frame overlay
    still: bool = False  # from a single image: no frame number or time

    @property
    def caption(self) -> str:
        where = [] if self.still else [f"frame {self.index} at {self.time_text}"]
        parts = [f"#{self.rank}", *where, f"frame score {self.probability_text}"]
        if self.region:
            parts.append(f"hottest region: {self.region}")
        return " · ".join(parts)


@dataclass
class ReportContent:
    """Every piece of text and every image of one report."""

    file_name: str
    status: str
    badge: Badge
    probability_text: str | None
    meaning: str
    status_message: str | None
    what_to_try: list[str]
    narrative: list[str]
    narrative_engine: str | None
    narrative_note: str | None
    is_image: bool
    timeline: Chart | None
    timeline_note: str | None
    segments: list[str]
    gallery: list[GalleryView]
    gallery_note: str | None
    cam_note: str | None
    regions: Chart | None
    region_rows: list[tuple[str, str]]
    regions_note: str | None
    method: Chart | None
    method_rows: list[tuple[str, str, str]]
    method_note: str | None
    tracks: list[tuple[str, str, str, str, str]]
    metadata: list[tuple[str, str]]
    model: list[tuple[str, str]]
    card_summary: list[str]
    card_data: list[str]
    card_metrics: list[str]
    card_limits: list[str]
    limits: list[str]
    caveats: list[str]
    seethrough_version: str
    schema_version: str
    generated_at: str
    # What the file says about itself: a signed AI declaration or broken credentials go above the
    # verdict's meaning (level, text); the summary rows and the other statements get their own section.
    provenance_head: list[tuple[str, str]] = field(default_factory=list)
    provenance_rows: list[tuple[str, str]] = field(default_factory=list)
    provenance_notes: list[str] = field(default_factory=list)
    provenance_title: str = PROVENANCE_LABELS["title"]
    provenance_unsigned: str = UNSIGNED_NOTE
    mono_labels: frozenset[str] = field(default=frozenset({"SHA-256"}))


# ---------------------------------------------------------------- formatting


def _missing(p: float | None) -> bool:
    return p is None or (isinstance(p, float) and math.isnan(p))


def pct(p: float | None) -> str:
    """A probability as the narrator, the web page and the CLI write it (``seethrough.facts.pct``); 'n/a' when missing."""
    return "n/a" if _missing(p) else facts.pct(p)


def overall(p: float | None, thresholds: dict | None) -> str:
    """The file's probability, written so that it never reads equal to a verdict line it is not on."""
    return "n/a" if _missing(p) else facts.overall_pct(p, thresholds)


def fmt_time(s: float | None) -> str:
    if s is None:
        return "n/a"
    if s < 60:
        return f"{s:.2f} s"
    m, sec = divmod(s, 60)
    return f"{int(m)}:{sec:04.1f} ({s:.1f} s)"


def fmt_bytes(n: int | None) -> str:
    if n is None:
        return "n/a"
    size = float(n)
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            human = f"{int(size)} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
            return human if unit == "bytes" else f"{human} ({n:,} bytes)"
        size /= 1000
    return f"{n:,} bytes"  # pragma: no cover


def _sentence(text: str | None) -> str | None:
    text = (text or "").strip()
    return None if not text else text if text[-1] in ".!?" else text + "."


def _lines(value: Any) -> list[str]:
    """Model-card fields may be a string, a list or a mapping: make them lines of text."""
    if value is None:
        return []
    if isinstance(value, str):
        return [p.strip() for p in value.split("\n\n") if p.strip()]
    if isinstance(value, dict):
        return [f"{k}: {v}" for k, v in value.items()]
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value if str(v).strip()]
    return [str(value)]


# ---------------------------------------------------------------- sections


def _meaning(doc: dict, p: float | None, th: dict | None) -> str:
    status, verdict = doc.get("status"), doc.get("verdict")
    if status == "no_face":
        return ("No verdict: the detector analyses faces, and no usable face was found in the sampled "
                "frames. This says nothing about whether the file is authentic.")
    if status == "error":
        return "No verdict: the file could not be analysed. This says nothing about whether it is authentic."
    lo, hi = (th or {}).get("real_below"), (th or {}).get("fake_above")
    if verdict == "fake":
        where = f", at or above the {pct(hi)} line for 'fake'" if hi is not None else ""
        return (f"The detector found strong signs that this face was digitally manipulated (calibrated "
                f"probability {overall(p, th)}{where}). Treat the footage as suspect until its origin is confirmed.")
    withheld = withheld_reasons(doc)
    if verdict == "uncertain" and withheld:
        return ("No verdict: " + " ".join(withheld) + f" (calibrated probability {overall(p, th)}, shown for completeness.) "
                "Verify the footage by other means.")
    if verdict == "uncertain":
        where = f" between the 'real' ({pct(lo)}) and 'fake' ({pct(hi)}) lines" if lo is not None and hi is not None else ""
        return (f"The evidence is inconclusive: the calibrated probability of {overall(p, th)} lies{where} "
                f"where the detector cannot tell either way. Verify the footage by other means.")
    if verdict == "real":
        where = f", below the {pct(lo)} line for 'real'" if lo is not None else ""
        return (f"The detector found no clear sign of face manipulation (calibrated probability {overall(p, th)}{where}). "
                f"This is not proof of authenticity: new generators and heavy compression can evade detection.")
    return "No verdict was recorded for this analysis."


def _what_to_try(doc: dict) -> list[str]:
    status = doc.get("status")
    if status == "ok":
        return []
    error = error_class(doc.get("error_code")) or SeethroughError  # by the error's type, not pieces of its code
    if status == "no_face":
        if issubclass(error, FaceTooSmallError):
            return ["Use the highest-resolution original available: faces must be large enough to analyse.",
                    "Crop or zoom the footage around the face before analysing it.",
                    "Lower the minimum face size (--min-face), knowing that small faces give less reliable results."]
        if (doc.get("media") or {}).get("kind") == "image":
            return ["Check that the picture shows a face that is visible, reasonably frontal and not covered.",
                    "If the face is small in the picture, use a higher-resolution original."]
        return ["Check that a face is visible, reasonably frontal and not covered in at least part of the footage.",
                "Sample more frames (--frames 64) so that short appearances of a face are caught.",
                "If the face is small in the picture, use a higher-resolution original."]
    if issubclass(error, (CorruptMediaError, EmptyMediaError)):
        return ["Obtain the original file again: this copy is damaged or incomplete.",
                "If it was downloaded, download it again and compare its SHA-256 with the source."]
    if issubclass(error, (UnsupportedMediaError, NoVideoStreamError)):
        return ["Convert the file to MP4 (H.264) or to JPEG/PNG and analyse the converted copy, "
                "noting the conversion in your records."]
    if issubclass(error, MediaTooLargeError):
        return ["Trim the clip to the part with the face in question, or raise the size limit for this analysis."]
    return ["Run the analysis again; if it fails the same way, report it with the log output and this report."]


def _metadata(doc: dict) -> list[tuple[str, str]]:
    f, m = doc.get("file") or {}, doc.get("media") or {}
    frames = doc.get("frames") or []
    rows: list[tuple[str, str]] = [("File name", str(f.get("name", "")))]
    rows.append(("SHA-256", f.get("sha256") or "not computed"))
    rows.append(("Size", fmt_bytes(f.get("size_bytes", m.get("size_bytes")))))
    if m:
        rows.append(("Kind", str(m.get("kind") or "n/a")))
        fmt = " / ".join(str(x) for x in (_container(m.get("container"), f.get("name")), m.get("codec")) if x)
        rows.append(("Container / codec", fmt or "n/a"))
        if m.get("width") and m.get("height"):
            res = f"{m['width']} × {m['height']} px"
            if m.get("rotation"):
                res += f" (displayed rotated {m['rotation']}°)"
            rows.append(("Resolution", res))
        if m.get("kind") != "image":
            rows.append(("Frame rate", f"{m['fps']:.2f} fps" if m.get("fps") else "n/a"))
            rows.append(("Duration", fmt_time(m.get("duration_s"))))
            if m.get("frame_count") is not None:
                rows.append(("Frames in file", f"{m['frame_count']:,}"))
            rows.append(("Audio track", "yes" if m.get("has_audio") else "no"))
    is_image = m.get("kind") == "image"
    if frames and not is_image:
        scored = sum(fr.get("fake_probability") is not None for fr in frames)
        rows.append(("Frames analysed", f"{len(frames)} sampled, {scored} with a usable face"))
    faces = _faces_text(doc)
    if faces:
        rows.append(("Faces / tracks", faces))
    ev = doc.get("evidence") or {}
    px = ev.get("face_px") or {}
    if px.get("median") is not None:
        extra = f", smallest {px['min']:.0f} px" if px.get("min") is not None else ""
        rows.append(("Face size", f"median {px['median']:.0f} px (shortest side){extra}"))
    s = doc.get("settings") or {}
    bits = []
    if "frames" in s and not is_image:
        bits.append(f"{s['frames']} frames ({s.get('sampling', 'even')} sampling)")
    if "min_face" in s:
        bits.append(f"min face {s['min_face']} px")
    if bits:
        rows.append(("Settings", ", ".join(bits)))
    total = (doc.get("timings_ms") or {}).get("total")
    if total is not None:
        rows.append(("Analysis time", f"{total / 1000:.1f} s" if total >= 1000 else f"{total:.0f} ms"))
    return rows


def _container(container: str | None, file_name: str | None) -> str | None:
    """FFmpeg names demuxers by family ("mov,mp4,m4a,3gp,3g2,mj2"): show the member the file claims to be."""
    if not container or "," not in container:
        return container
    members = container.split(",")
    ext = (file_name or "").rsplit(".", 1)[-1].lower() if "." in (file_name or "") else ""
    return ext if ext in members else members[0]


def _faces_text(doc: dict) -> str | None:
    """Faces found and tracked, from the tracks, the face stage's summary or the frames; None if unknown."""
    tracks = doc.get("tracks") or []
    faces = doc.get("faces") or {}
    counts = faces.get("frame_status_counts") or {}
    parts = []
    if tracks:
        reported = next((t for t in tracks if t.get("reported")), None)
        part = f"{len(tracks)} face track{'s' if len(tracks) != 1 else ''} scored"
        if reported is not None and len(tracks) > 1:
            part += f"; verdict from track {reported['track_id']} (the most suspicious)"
        parts.append(part)
    elif faces.get("n_tracks") is not None:
        parts.append(f"{faces['n_tracks']} face track{'s' if faces['n_tracks'] != 1 else ''}")
    if counts:
        parts.append(f"{counts.get('ok', 0)} frames with a face, {counts.get('no_face', 0)} without, "
                     f"{counts.get('face_too_small', 0)} too small")
    if not parts and doc.get("status") == "ok":
        scored = sum(f.get("fake_probability") is not None for f in doc.get("frames") or [])
        parts.append(f"a face scored in {scored} frame{'s' if scored != 1 else ''}")
    if not parts and doc.get("status") == "no_face":
        parts.append("no usable face")
    return "; ".join(parts) or None


def _model(doc: dict) -> tuple[list[tuple[str, str]], dict]:
    model = doc.get("model") or {}
    rows = [(label, str(model[key])) for key, label in (
        ("name", "Model"), ("version", "Version"), ("backbone", "Backbone"), ("temporal", "Temporal head"),
        ("file", "Weights file"), ("sha256", "SHA-256"),
    ) if model.get(key) not in (None, "")]
    th = doc.get("thresholds") or {}
    if th.get("real_below") is not None and th.get("fake_above") is not None:
        rows.append(("Verdict lines", f"real below {pct(th['real_below'])}, fake at or above {pct(th['fake_above'])}, "
                                      f"uncertain in between"))
    return rows, model.get("card") or {}


def _tracks(doc: dict) -> list[tuple[str, str, str, str, str]]:
    tracks = doc.get("tracks") or []
    if len(tracks) < 2:
        return []
    rows = []
    for t in tracks:
        span = f"{fmt_time(t.get('first_s'))} – {fmt_time(t.get('last_s'))}" if t.get("first_s") is not None else "n/a"
        rows.append((f"{t['track_id']}{' (reported)' if t.get('reported') else ''}", str(t["n_frames"]),
                     span, pct(t["fake_probability"]), str(t["verdict"])))
    return rows


def _gallery(gallery: Sequence[Any], still: bool) -> list[GalleryView]:
    views = []
    for rank, item in enumerate(list(gallery)[:MAX_GALLERY], start=1):
        frame = getattr(item, "frame_overlay", None)
        frame_jpg, size = to_jpeg(frame, max_side=900, with_size=True) if frame is not None else (None, (0, 0))
        views.append(GalleryView(
            rank=rank,
            index=int(item.index),
            time_text=fmt_time(float(item.time_s)),
            probability_text=pct(item.fake_probability),
            region=facts.region_label(getattr(item, "top_region", None)),
            still=still,
            crop=to_jpeg(item.crop, max_side=320),
            crop_overlay=to_jpeg(item.crop_overlay, max_side=320),
            frame_overlay=frame_jpg,
            frame_size=size,
        ))
    return views


def _timeline(doc: dict, is_image: bool) -> tuple[Chart | None, str | None]:
    frames = doc.get("frames") or []
    if doc.get("status") != "ok":
        return None, None
    if is_image:
        return None, "Single image: there is no timeline; the verdict rests on one picture."
    if not any(f.get("fake_probability") is not None for f in frames):
        return None, "No frame was scored, so there is no timeline."
    ev = doc.get("evidence") or {}
    chart = charts.timeline_chart(
        frames,
        thresholds=doc.get("thresholds"),
        key_frames=ev.get("key_frames") or [],
        segments=ev.get("suspicious_segments") or [],
        overall=doc.get("fake_probability"),
    )
    return chart, None


def _regions(ev: dict) -> tuple[Chart | None, list[tuple[str, str]]]:
    regions = [(r["name"], float(r["score"])) for r in ev.get("regions") or []]
    if not regions:
        return None, []
    chart = charts.region_chart([(facts.region_label(k) or k, s) for k, s in regions])
    return chart, [(facts.region_label(k) or k, f"{s:.2f}×") for k, s in regions]


def _method(doc: dict) -> tuple[Chart | None, list[tuple[str, str, str]], str | None]:
    method = doc.get("method") or {}
    probs = method.get("probabilities") or {}
    if doc.get("status") != "ok" or not probs:
        return None, [], None
    if doc.get("verdict") == "real":
        return None, [], ("Not shown: the verdict is 'real', and the method estimate only means something "
                          "if the face is manipulated.")
    ordered = sorted(probs.items(), key=lambda kv: -kv[1])
    chart = charts.method_chart([(facts.method_label(k), v) for k, v in ordered])
    rows = [(facts.method_label(k), pct(v), facts.method_note(k)) for k, v in ordered]
    note = method.get("note") or "probabilities are conditional on the face being manipulated"
    note = note[:1].upper() + note[1:]
    return chart, rows, note


def build_content(doc: dict, gallery: Iterable[Any] = (), *, now: datetime | None = None) -> ReportContent:
    """Turn an analysis document (schema 1.x) and its evidence gallery into report content."""
    status = doc.get("status") or "error"
    verdict = doc.get("verdict")
    badge = BADGES.get(verdict) if status == "ok" and verdict in BADGES else BADGES["no_face" if status == "no_face" else "error"]
    p = doc.get("fake_probability") if status == "ok" else None
    th = doc.get("thresholds")
    media = doc.get("media") or {}
    is_image = media.get("kind") == "image"
    ev = doc.get("evidence") or {}
    narrative = doc.get("narrative") or {}
    gallery = list(gallery or [])

    timeline, timeline_note = _timeline(doc, is_image)
    regions_chart, region_rows = _regions(ev)
    method_chart, method_rows, method_note = _method(doc)
    model_rows, card = _model(doc)

    regions_note = None
    if status == "ok" and not region_rows:
        regions_note = "Explanations were not computed for this analysis, so there are no region scores."
    gallery_note = None
    cam_note = " ".join(x for x in (
        _sentence(ev.get("cam")),
        "Frame scores come from the model's per-frame output; the verdict uses the calibrated whole-track "
        "probability, so the two can differ." if gallery else None,
    ) if x) or None
    if len(gallery) > MAX_GALLERY:
        gallery_note = f"Showing the {MAX_GALLERY} most suspicious of {len(gallery)} key frames."
    elif not gallery and status == "ok":
        gallery_note = "No heatmaps were produced for this analysis."

    fallback = narrative.get("fallback_reason")
    narrative_note = None
    if fallback:
        narrative_note = f"{narrative.get('requested', 'The requested narrator')} was not used: {fallback}"

    segments = [
        f"{fmt_time(s['start_s'])} to {fmt_time(s['end_s'])}: {s['n_frames']} frame{'s' if s['n_frames'] != 1 else ''} "
        f"at or above the 'fake' line, peak {pct(s['peak_probability'])}"
        for s in ev.get("suspicious_segments") or []
    ]
    text = narrative.get("text") or ""
    generated = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    prov = doc.get("provenance")
    head = headline_statements(prov)
    return ReportContent(
        file_name=str((doc.get("file") or {}).get("name", "")),
        status=status,
        badge=badge,
        probability_text=overall(p, th) if p is not None else None,
        meaning=_meaning(doc, p, th),
        status_message=doc.get("message") if status != "ok" else None,
        what_to_try=_what_to_try(doc),
        narrative=[para.strip() for para in text.split("\n\n") if para.strip()],
        narrative_engine=narrative.get("engine"),
        narrative_note=narrative_note,
        is_image=is_image,
        timeline=timeline,
        timeline_note=timeline_note,
        segments=segments,
        gallery=_gallery(gallery, is_image),
        gallery_note=gallery_note,
        cam_note=cam_note,
        regions=regions_chart,
        region_rows=region_rows,
        regions_note=regions_note,
        method=method_chart,
        method_rows=method_rows,
        method_note=method_note,
        tracks=_tracks(doc),
        metadata=_metadata(doc),
        model=model_rows,
        card_summary=_lines(card.get("summary")),
        card_data=_lines(card.get("data")),
        card_metrics=_lines(card.get("metrics")),
        card_limits=_lines(card.get("limits")),
        limits=list(LIMITS),
        caveats=[str(c.get("text", "")) for c in ev.get("caveats") or [] if c.get("text")],
        seethrough_version=str(doc.get("seethrough_version", "")),
        schema_version=str(doc.get("schema_version", "")),
        generated_at=generated.strftime("%Y-%m-%d %H:%M UTC"),
        provenance_head=[(h["level"], h["text"]) for h in head],
        provenance_rows=display_rows(prov),
        provenance_notes=[st["text"] for st in (prov or {}).get("statements") or [] if st not in head]
        + ([f"Note: {prov['note']}"] if prov and prov.get("note") else []),
    )
