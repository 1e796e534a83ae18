"""The facts a narrative may state, taken from an analysis document.

One function, :func:`summarize_for_narrator`, decides which facts of an analysis a
narrative may use: it returns the compact evidence sent to an LLM and the same facts as
numbers and names for the fact checker (:class:`Facts`), so the prompt, the template and
the checker can never disagree about what is "in the evidence". It runs one small step per
part of the analysis (verdict, faces, method, regions, timeline, face size, caveats); each
step records a value through ``_prob``, ``_time`` or ``_count``, which give the form the
prompt shows and note every form a narrative may state.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from ..facts import REGION_WORDS, half_up, method_label, overall_pct, pct
from ..provenance.display import headline_statements

#: Key frames and suspicious segments passed on (most suspicious / earliest first).
MAX_KEY_FRAMES = 5
MAX_SEGMENTS = 5

_NUMBER_IN_TEXT = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)(\s*%)?")


def norm_method(name: str) -> str:
    """``"Face 2 Face"`` and ``"face2face"`` -> ``"face2face"``."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def one_decimal(x: float) -> str:
    """A time in seconds or a region score, rounded half up to one decimal: 2.4333 -> ``"2.4"``."""
    return f"{half_up(float(x), 1):.1f}"


def region_words(name: str) -> str:
    return REGION_WORDS.get(name, name.replace("_", " "))


@dataclass
class Facts:
    """Numbers and names a narrative may state (see :func:`summarize_for_narrator`)."""

    status: str
    kind: str  # "video", "image" or "file"
    verdict: str | None = None
    probability: float | None = None
    probability_text: str | None = None
    thresholds: dict[str, float] = field(default_factory=dict)
    probabilities: list[float] = field(default_factory=list)  # everything a percentage may be
    times: list[float] = field(default_factory=list)  # seconds
    integers: set[int] = field(default_factory=set)  # counts and frame indices
    counts: dict[str, set[int]] = field(default_factory=dict)  # "faces", "frames", "segments", "regions"
    numbers: list[float] = field(default_factory=list)  # any other value (scores, px, raw probabilities)
    literals: list[float] = field(default_factory=list)  # numbers written in quoted texts (caveats, message)
    literal_percents: list[float] = field(default_factory=list)  # those of them written as percentages
    regions: list[str] = field(default_factory=list)  # region names a reply may mention
    region_scores: dict[str, float] = field(default_factory=dict)  # top regions' scores
    methods: dict[str, float] = field(default_factory=dict)  # normalised name -> probability
    method_names: dict[str, str] = field(default_factory=dict)  # normalised name -> name as in the doc
    predicted: str | None = None  # normalised name
    quoted: list[str] = field(default_factory=list)  # caveat texts and the status message
    provenance_state: str | None = None  # Content Credentials state (None: no provenance block)
    provenance_declared: bool = False  # valid signed AI-generation declaration
    provenance_signers: list[str] = field(default_factory=list)  # names a reply may give as the signer
    provenance_texts: list[str] = field(default_factory=list)  # the statements a narrative states


def _num(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _quote(facts: "Facts", text: str) -> None:
    """Record a text of the evidence's own (caveat, message) and the numbers written in it."""
    facts.quoted.append(text)
    for m in _NUMBER_IN_TEXT.finditer(text):
        facts.literals.append(float(m.group(1)))
        if m.group(2):
            facts.literal_percents.append(float(m.group(1)))


def withheld_reasons(doc: dict) -> list[str]:
    """The texts of why the verdict was withheld (``abstention`` gated), else []."""
    block = doc.get("abstention") or {}
    return [r["text"] for r in block.get("reasons") or [] if r.get("text")] if block.get("gated") else []


def media_kind(doc: dict) -> str:
    kind = (doc.get("media") or {}).get("kind")
    return kind if kind in ("video", "image") else "file"


def face_frame_counts(doc: dict) -> tuple[int, int]:
    """(frames sampled, frames where the reported face was scored)."""
    frames = doc.get("frames") or []
    return len(frames), sum(1 for f in frames if f.get("fake_probability") is not None)


def narrated_provenance(doc: dict) -> list[str]:
    """The provenance statement a narrative states: the signed AI declaration, else the first warning."""
    heads = headline_statements(doc.get("provenance"))
    return [heads[0]["text"]] if heads else []


def _provenance(doc: dict, summary: dict, facts: Facts) -> None:
    prov = doc.get("provenance")
    if not prov:
        return
    c2pa = prov.get("c2pa") or {}
    signer = c2pa.get("signer") or {}
    facts.provenance_state = c2pa.get("state")
    facts.provenance_declared = bool(prov.get("declared_ai_generated"))
    facts.provenance_signers = [n for n in dict.fromkeys(
        (prov.get("declared_by"), signer.get("organization"), signer.get("common_name"))) if n]
    texts = narrated_provenance(doc)
    facts.provenance_texts = texts
    for text in texts:
        _quote(facts, text)
    if texts:
        summary["provenance"] = {
            "what_the_file_says": texts,
            "declared_ai_generated": facts.provenance_declared,
            "meaning": "what the file's own Content Credentials say about its origin; separate from the "
                       "detector's verdict, which does not use them",
        }


# --------------------------------------------------------------------------- recording a fact
# Each of these returns the value as the prompt shows it and records, in ``facts``, every
# form of it a narrative may state.


def _prob(facts: Facts, p: Any) -> str | None:
    """A probability: shown as a percentage (``"87%"``)."""
    v = _num(p)
    if v is None:
        return None
    facts.probabilities.append(v)
    facts.numbers.append(v)
    return pct(v)


def _time(facts: Facts, t: Any) -> float | None:
    """A time in seconds: shown to two decimals; the exact and the shown value may be stated."""
    v = _num(t)
    if v is None:
        return None
    shown = round(v, 2)
    facts.times.extend((v, shown))
    facts.numbers.extend((v, shown))
    return shown


def _count(facts: Facts, n: Any, of: str | None = None) -> int | None:
    """A whole number (a frame index, or a count ``of`` faces, frames, segments or regions)."""
    v = _num(n)
    if v is None or v != int(v):
        return None
    facts.integers.add(int(v))
    facts.numbers.append(v)
    if of:
        facts.counts.setdefault(of, set()).add(int(v))
    return int(v)


# --------------------------------------------------------------------------- the steps


def _failure(doc: dict, summary: dict, facts: Facts) -> None:
    """No verdict (no face, an error): the status message and error code."""
    message = doc.get("message")
    if message:
        summary["message"] = message
        _quote(facts, message)
    if doc.get("error_code"):
        summary["error_code"] = doc["error_code"]


def _verdict(doc: dict, summary: dict, facts: Facts) -> None:
    """The verdict, the overall probability and the thresholds."""
    thresholds = {k: float(v) for k, v in (doc.get("thresholds") or {}).items() if _num(v) is not None}
    facts.thresholds = thresholds
    p = _num(doc.get("fake_probability"))
    facts.verdict = doc.get("verdict")
    facts.probability = p
    summary["verdict"] = facts.verdict
    if p is not None:
        facts.probabilities.append(p)
        facts.numbers.append(p)
        facts.probability_text = overall_pct(p, thresholds)
        summary["probability_of_manipulation"] = facts.probability_text
    if thresholds:
        summary["thresholds"] = {}
        if "real_below" in thresholds:
            summary["thresholds"]["real_below"] = _prob(facts, thresholds["real_below"])
        if "fake_above" in thresholds:
            summary["thresholds"]["fake_at_or_above"] = _prob(facts, thresholds["fake_above"])
    withheld = withheld_reasons(doc)
    if withheld:
        summary["verdict_withheld_because"] = withheld
        for text in withheld:
            _quote(facts, text)


def _faces(doc: dict, summary: dict, facts: Facts) -> None:
    """Frames sampled and with a face; with several faces, each face's frames and probability."""
    n_sampled, n_face = face_frame_counts(doc)
    summary["frames_sampled"] = _count(facts, n_sampled, "frames")
    summary["frames_with_face"] = _count(facts, n_face, "frames")
    tracks = doc.get("tracks") or []
    if len(tracks) <= 1:
        _count(facts, 1, "faces")
        return
    summary["faces_tracked"] = _count(facts, len(tracks), "faces")
    summary["faces"] = []
    for t in sorted(tracks, key=lambda t: -(t.get("fake_probability") or 0)):
        face = {"frames": _count(facts, t.get("n_frames"), "frames"),
                "probability_of_manipulation": _prob(facts, t.get("fake_probability")),
                "verdict": t.get("verdict"), "reported": bool(t.get("reported"))}
        if facts.kind == "video" and _num(t.get("first_s")) is not None and _num(t.get("last_s")) is not None:
            face["seen_from_s"], face["seen_to_s"] = _time(facts, t["first_s"]), _time(facts, t["last_s"])
        summary["faces"].append(face)


def _method(doc: dict, summary: dict, facts: Facts) -> None:
    """The method families' estimates, only when the face may be manipulated."""
    method = doc.get("method")
    if facts.verdict not in ("fake", "uncertain") or not method or not method.get("probabilities"):
        return
    probs = {name: float(v) for name, v in method["probabilities"].items() if _num(v) is not None}
    ranked = sorted(probs.items(), key=lambda kv: -kv[1])
    for name, v in ranked:  # a family key and its label ("learned_face_swap", "learned face swap") normalise alike
        facts.methods[norm_method(name)] = v
        facts.method_names[norm_method(name)] = method_label(name)
    predicted = method.get("predicted")
    facts.predicted = norm_method(predicted) if predicted else None
    summary["method"] = {
        "most_resembles": method_label(predicted) if predicted else None,
        "probabilities_if_manipulated": {method_label(name): _prob(facts, v) for name, v in ranked},
        "note": "These apply only if the face was manipulated: a resemblance to known families, "
                "a rough hint and never proof of how or by whom it was made.",
    }


def _regions(evidence: dict, summary: dict, facts: Facts) -> None:
    """The top facial regions, in words, with their scores."""
    scores = {r["name"]: float(r["score"]) for r in evidence.get("regions") or []}
    top = []
    for name in evidence.get("top_regions") or []:
        entry: dict[str, Any] = {"region": name, "in_words": region_words(name)}
        if name in scores:
            facts.numbers.extend((scores[name], round(scores[name], 2)))
            facts.region_scores[name] = scores[name]
            entry["score"] = round(scores[name], 2)
        top.append(entry)
        facts.regions.append(name)
    summary["top_regions"] = top
    _count(facts, len(top), "regions")
    if top:
        summary["region_score_meaning"] = ("detector attention in the region relative to the face average "
                                           "(1.0 = average)")


def _key_frames(evidence: dict, facts: Facts) -> list[dict]:
    key = []
    for kf in (evidence.get("key_frames") or [])[:MAX_KEY_FRAMES]:
        entry = {"frame": _count(facts, kf.get("index")), "time_s": _time(facts, kf.get("time_s")),
                 "probability_of_manipulation": _prob(facts, kf.get("fake_probability"))}
        if kf.get("top_region"):
            entry["top_region"] = kf["top_region"]
            entry["top_region_in_words"] = region_words(kf["top_region"])
            facts.regions.append(kf["top_region"])
        key.append(entry)
    return key


def _segments(evidence: dict, facts: Facts) -> list[dict]:
    segments = []
    for seg in (evidence.get("suspicious_segments") or [])[:MAX_SEGMENTS]:
        start, end = _num(seg.get("start_s")), _num(seg.get("end_s"))
        entry = {"from_s": _time(facts, start), "to_s": _time(facts, end),
                 "peak_probability_of_manipulation": _prob(facts, seg.get("peak_probability")),
                 "frames": _count(facts, seg.get("n_frames"), "frames")}
        if start is not None and end is not None:  # a reply may give a stretch's length
            facts.times.append(end - start)
        segments.append(entry)
    return segments


def _timeline(evidence: dict, summary: dict, facts: Facts) -> None:
    """Key frames and suspicious segments (not for an image)."""
    key = summary["key_frames"] = _key_frames(evidence, facts)
    segments = summary["suspicious_segments"] = _segments(evidence, facts)
    _count(facts, len(key), "frames")  # "the four key frames"
    _count(facts, len(segments), "segments")  # "two suspicious stretches"
    if key:
        summary["key_frame_meaning"] = "the most suspicious sampled frames, most suspicious first"
    if segments:
        summary["segment_meaning"] = "stretches of consecutive frames at or above the fake threshold"


def _face_size(evidence: dict, summary: dict, facts: Facts) -> None:
    face_px = evidence.get("face_px") or {}
    px = {k: round(float(face_px[k])) for k in ("median", "min") if _num(face_px.get(k)) is not None}
    if px:
        summary["face_size_px"] = px
        for k, v in px.items():
            facts.numbers.extend((float(face_px[k]), float(v)))
            facts.integers.add(int(v))


def _caveats(evidence: dict, summary: dict, facts: Facts) -> None:
    caveat_texts = [c.get("text") for c in evidence.get("caveats") or [] if c.get("text")]
    summary["caveats"] = caveat_texts
    for text in caveat_texts:
        _quote(facts, text)


def summarize_for_narrator(doc: dict) -> tuple[dict, Facts]:
    """The compact evidence for an LLM prompt, and the facts the checker accepts.

    Percentages are given as the strings a narrative should copy (``"87%"``); times in
    seconds to two decimals. Nothing identifying the file (name, path, hash) is included.
    The steps below add to both, in the order the prompt shows them.
    """
    status = doc.get("status") or "error"
    kind = media_kind(doc)
    facts = Facts(status=status, kind=kind)
    summary: dict[str, Any] = {"status": status, "subject": kind}
    duration = _num((doc.get("media") or {}).get("duration_s"))
    if kind == "video" and duration:
        summary["duration_s"] = _time(facts, duration)
    _provenance(doc, summary, facts)
    if status != "ok":
        _failure(doc, summary, facts)
        return summary, facts
    _verdict(doc, summary, facts)
    _faces(doc, summary, facts)
    _method(doc, summary, facts)
    evidence = doc.get("evidence")
    if evidence is None:
        summary["explanations"] = "switched off: no regions, key frames or caveats"
        return summary, facts
    _regions(evidence, summary, facts)
    if kind != "image":
        _timeline(evidence, summary, facts)
    _face_size(evidence, summary, facts)
    _caveats(evidence, summary, facts)
    return summary, facts
