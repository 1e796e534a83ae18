"""The deterministic narrative: a short paragraph written from the analysis alone.

Every number it writes comes from :func:`~.narrator_facts.summarize_for_narrator`, formatted
the way the fact checker reads it back, so ``check_reply(template_text(doc), doc) == []``.
:func:`template_text` writes one sentence per step (``_verdict_sentence``,
``_confidence_sentence``, ...); :func:`_no_verdict` is the paragraph when there is no verdict.
"""

from __future__ import annotations

from ..facts import VERDICTS, pct
from .narrator_facts import (Facts, face_frame_counts, media_kind, narrated_provenance, norm_method, one_decimal,
                             summarize_for_narrator, withheld_reasons)

_ERROR_HINTS = {
    "corrupt_media": "The file appears to be damaged or incomplete; try to obtain the original file.",
    "truncated_media": "The file appears to be cut short or incomplete; try to obtain the complete original file.",
    "unsupported_media": "The format is not one seethrough can read; a copy converted to a common format "
                         "such as MP4, JPEG or PNG may work.",
    "file_too_large": "The file is larger than the configured size limit; raise the limit or check a shorter excerpt.",
    "internal": "This is a problem inside seethrough rather than a property of the file; please report it.",
}
_ERROR_ALIASES = {"corrupt": "corrupt_media", "empty": "corrupt_media", "truncated": "truncated_media",
                  "unsupported": "unsupported_media", "no_video": "unsupported_media", "too_large": "file_too_large"}


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _caveat_clause(text: str) -> str:
    text = text.strip().rstrip(".!")
    if len(text) > 1 and text[0].isupper() and text[1].islower():
        text = text[0].lower() + text[1:]
    return text


def _no_verdict(doc: dict) -> str:
    kind = media_kind(doc)
    message = (doc.get("message") or "").strip()
    code = doc.get("error_code") or ""
    status = doc.get("status")
    out = list(narrated_provenance(doc))  # what the file says about itself comes first
    if status == "no_face":
        why = "no face large enough to judge" if code == "face_too_small" else "no usable face"
        out.append(f"seethrough gave no verdict for this {kind} because it found {why} in it.")
        if message:
            out.append(_sentence(f"The analysis reported: {message}"))
        out.append("It only judges faces, so it cannot draw any conclusion about this file; "
                   "a copy in which the face is larger and clearly visible may be checkable.")
    else:
        out.append(f"seethrough could not analyse this {kind}, so there is no verdict.")
        if message:
            out.append(_sentence(f"The reason given: {message}"))
        code = _ERROR_ALIASES.get(code, code)
        out.append(_ERROR_HINTS.get(code, "No conclusion can be drawn about this file from this run."))
    return " ".join(out)


def _verdict_sentence(verdict: str, facts: Facts, n_tracks: int) -> str:
    """1. The verdict and the overall probability."""
    kind = facts.kind
    judged = {"fake": f"seethrough judges this {kind} to be a deepfake",
              "real": f"seethrough judges this {kind} to be real",
              "uncertain": f"seethrough's result for this {kind} is inconclusive"}[verdict]
    whose = f"for the most suspicious of the {n_tracks} faces it tracked, " if n_tracks > 1 else ""
    only = "only " if verdict == "real" else ""
    return f"{judged}: {whose}it puts the probability of manipulation at {only}{facts.probability_text}."


def _in_band(verdict: str, facts: Facts, withheld: list[str]) -> bool:
    """An uncertain verdict from falling between the two thresholds (not withheld for a reason)."""
    t = facts.thresholds
    return (verdict == "uncertain" and not withheld and t.get("real_below") is not None
            and t.get("fake_above") is not None)


def _confidence_sentence(verdict: str, facts: Facts, withheld: list[str]) -> str | None:
    """2. How confident: why a verdict was withheld, the uncertain band, or the distance to the threshold."""
    real_below, fake_above = facts.thresholds.get("real_below"), facts.thresholds.get("fake_above")
    if withheld:
        return "It withholds a verdict: " + " ".join(
            (_caveat_clause(t) + "." if i == 0 else t) for i, t in enumerate(withheld))
    if _in_band(verdict, facts, withheld):
        return (f"That falls in the uncertain band between its threshold of {pct(real_below)} for a real "
                f"verdict and its threshold of {pct(fake_above)} for a fake verdict, so the evidence does "
                "not clearly point either way.")
    if verdict not in ("fake", "real") or (fake_above if verdict == "fake" else real_below) is None:
        return None
    p = facts.probability
    limit = fake_above if verdict == "fake" else real_below
    margin = (p - limit) if verdict == "fake" else (limit - p)
    side = "above" if verdict == "fake" else "below"
    if margin >= 0.15:
        how, call = f"well {side}", "so the call is clear"
    elif margin >= 0.05:
        how, call = side, "so the call is fairly firm"
    elif margin > 0:
        how, call = f"only just {side}", "so the call is a close one and deserves caution"
    else:
        how, call = "right at", "so the call is a close one and deserves caution"
    return f"That is {how} its threshold of {pct(limit)} for a {verdict} verdict, {call}."


def _method_sentence(summary: dict, facts: Facts) -> str | None:
    """3. Which method family it most resembles (only when the face may be manipulated)."""
    method = summary.get("method")
    if not (method and method.get("most_resembles") and norm_method(method["most_resembles"]) in facts.methods):
        return None
    name = method["most_resembles"]
    value = method["probabilities_if_manipulated"].get(name)
    weak = value is not None and facts.methods.get(norm_method(name), 1.0) < 0.5
    return (f"If the face was manipulated, the manipulation family it most resembles is {name}"
            + (f" ({value})" if value else "")
            + (", a weak match" if weak else "")
            + "; these method estimates assume manipulation and are only a rough hint, never proof.")


def _where_sentence(verdict: str, summary: dict, facts: Facts, evidence: dict | None) -> str:
    """4. Where on the face: the top regions, the first with its score."""
    if evidence is None:
        where = " or moment in the video" if facts.kind == "video" else ""
        return (f"Detailed explanations were switched off for this analysis, so there is no breakdown "
                f"by facial region{where}.")
    regions = summary.get("top_regions") or []
    if not regions:
        return "No single part of the face stood out in the heatmaps."
    words = [r["in_words"] for r in regions]
    raw = {r["name"]: r["score"] for r in evidence.get("regions") or []}
    if regions[0]["region"] in raw:
        words[0] += f" ({one_decimal(raw[regions[0]['region']])} times the face average)"
    if verdict == "real":  # the maps show where the (weak) evidence for "fake" was, not a finding
        return f"What little the detector found suspicious was mostly in {_join(words)}."
    return f"The heatmaps show the detector paid most attention to {_join(words)}."


def _frames_part(doc: dict, summary: dict) -> list[str]:
    """How many of the sampled frames had a face analysed."""
    n_sampled, n_face = face_frame_counts(doc)
    duration = (doc.get("media") or {}).get("duration_s")
    span = f"the {one_decimal(duration)}-second video" if summary.get("duration_s") else "the video"
    if n_sampled == 0:
        return []
    if n_face == n_sampled:
        return [f"A face was analysed in all {n_sampled} frames sampled from {span}"]
    return [f"A face was analysed in {n_face} of the {n_sampled} frames sampled from {span}"]


def _segments_part(evidence: dict) -> list[str]:
    """The suspicious stretches (at most three), with their peak."""
    all_segments = evidence.get("suspicious_segments") or []
    segments = all_segments[:3]
    if not segments:
        return ["no stretch reached the threshold for a fake verdict"] if evidence.get("key_frames") else []
    bounds = [(one_decimal(s["start_s"]), one_decimal(s["end_s"])) for s in segments]
    ranges = [f"from {a} to {b} seconds" if a != b else f"at {a} seconds" for a, b in bounds]
    peak = pct(max(s["peak_probability"] for s in segments))
    if len(segments) == 1 and ranges[0].startswith("from"):
        return [f"the suspicious stretch runs {ranges[0]}, peaking at {peak}"]
    if len(segments) == 1:
        return [f"the only suspicious moment is {ranges[0]}, where the score reached {peak}"]
    among = ", among others," if len(all_segments) > len(segments) else ""
    return [f"suspicious stretches appear{among} {_join(ranges)}, peaking at {peak}"]


def _key_frame_part(verdict: str, evidence: dict) -> list[str]:
    """The most suspicious (for a real verdict: the highest-scoring) frame."""
    key = evidence.get("key_frames") or []
    if not key:
        return []
    top = key[0]
    if verdict == "real":
        return [f"the highest-scoring frame, at {one_decimal(top['time_s'])} seconds, "
                f"scored {pct(top['fake_probability'])}"]
    return [f"the single most suspicious frame is at {one_decimal(top['time_s'])} seconds "
            f"({pct(top['fake_probability'])})"]


def _when_sentence(doc: dict, verdict: str, summary: dict, facts: Facts, evidence: dict | None) -> str | None:
    """5. When: frames analysed, suspicious stretches, the key frame (one sentence)."""
    if facts.kind == "image":
        return "This is a single image, so there is no timeline to examine."
    parts = _frames_part(doc, summary)
    if evidence is not None:
        parts += _segments_part(evidence) + _key_frame_part(verdict, evidence)
    if not parts:
        return None
    parts[0] = parts[0][0].upper() + parts[0][1:]
    if len(parts) == 3:
        return f"{parts[0]}; {parts[1]}, and {parts[2]}."
    return "; ".join(parts) + "."


def _caveat_sentences(doc: dict, verdict: str, facts: Facts, withheld: list[str], n_before: int) -> list[str]:
    """6. The caveats not said already: one sentence each while the paragraph stays within six
    sentences (``n_before`` are written), the rest joined into the last."""
    evidence = doc.get("evidence")
    if evidence is None:
        return []
    tracks = doc.get("tracks") or []
    said = {r.get("code") for r in (doc.get("abstention") or {}).get("reasons") or []} if withheld else set()
    said |= {code for code, yes in (("several_faces", len(tracks) > 1),
                                   ("uncertain_band", _in_band(verdict, facts, withheld)),
                                   ("single_image", facts.kind == "image")) if yes}
    texts = [_caveat_clause(c["text"]) for c in evidence.get("caveats") or []
             if c.get("text") and c.get("code") not in said]
    texts = [t for t in texts if t]
    if not texts:
        return []
    out = []
    alone = max(0, min(len(texts), 6 - n_before) - 1)
    rest = texts[alone:]
    for i, t in enumerate(texts[:alone]):
        out.append(("Keep in mind: " + t) + "." if i == 0 else _sentence(t[0].upper() + t[1:]))
    joined = "; ".join(rest) + "."
    out.append(("Keep in mind: " + joined) if not alone else "Also, " + joined[0].lower() + joined[1:])
    return out


def template_text(doc: dict) -> str:
    """A 3-6 sentence paragraph explaining the result in ``doc`` (``Analysis.to_dict()``).

    In order: what the file's own Content Credentials say (before, and apart from, the
    detector's verdict), then one step per sentence: verdict, confidence, method, where,
    when, caveats. A step with nothing to say writes nothing.
    """
    status = doc.get("status")
    verdict = doc.get("verdict")
    if status != "ok" or verdict not in VERDICTS or doc.get("fake_probability") is None:
        if status == "ok":  # scored but no verdict: should not happen; say so plainly
            return ("seethrough produced no verdict for this file. "
                    "No conclusion can be drawn about it from this run. "
                    "Run the analysis again and report the problem if it persists.")
        return _no_verdict(doc)

    summary, facts = summarize_for_narrator(doc)
    evidence = doc.get("evidence")
    withheld = withheld_reasons(doc)
    sentences: list[str] = list(narrated_provenance(doc))
    sentences.append(_verdict_sentence(verdict, facts, len(doc.get("tracks") or [])))
    for sentence in (_confidence_sentence(verdict, facts, withheld),
                     _method_sentence(summary, facts),
                     _where_sentence(verdict, summary, facts, evidence),
                     _when_sentence(doc, verdict, summary, facts, evidence)):
        if sentence:
            sentences.append(sentence)
    sentences += _caveat_sentences(doc, verdict, facts, withheld, len(sentences))
    return " ".join(sentences)
