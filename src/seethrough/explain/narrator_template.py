"""The deterministic narrative: a short paragraph written from the analysis alone.

Every number it writes comes from :func:`~.narrator_facts.summarize`, formatted the way
the fact checker reads it back, so ``check_reply(template_text(doc), doc) == []``.
"""

from __future__ import annotations

from ..facts import VERDICTS, pct
from .narrator_facts import (face_frame_counts, media_kind, narrated_provenance, norm_method, one_decimal, summarize,
                             withheld_reasons)

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


def template_text(doc: dict) -> str:
    """A 3-6 sentence paragraph explaining the result in ``doc`` (``Analysis.to_dict()``)."""
    status = doc.get("status")
    verdict = doc.get("verdict")
    if status != "ok" or verdict not in VERDICTS or doc.get("fake_probability") is None:
        if status == "ok":  # scored but no verdict: should not happen; say so plainly
            return ("seethrough produced no verdict for this file. "
                    "No conclusion can be drawn about it from this run. "
                    "Run the analysis again and report the problem if it persists.")
        return _no_verdict(doc)

    summary, facts = summarize(doc)
    kind = facts.kind
    shown = facts.probability_text
    p = facts.probability
    tracks = doc.get("tracks") or []
    evidence = doc.get("evidence")
    # 0. what the file's own Content Credentials say, before (and apart from) the detector's verdict
    sentences: list[str] = list(narrated_provenance(doc))

    # 1. verdict and probability
    judged = {"fake": f"seethrough judges this {kind} to be a deepfake",
              "real": f"seethrough judges this {kind} to be real",
              "uncertain": f"seethrough's result for this {kind} is inconclusive"}[verdict]
    whose = f"for the most suspicious of the {len(tracks)} faces it tracked, " if len(tracks) > 1 else ""
    only = "only " if verdict == "real" else ""
    sentences.append(f"{judged}: {whose}it puts the probability of manipulation at {only}{shown}.")

    # 2. how confident: distance to the thresholds
    t = facts.thresholds
    real_below, fake_above = t.get("real_below"), t.get("fake_above")
    withheld = withheld_reasons(doc)
    banded = verdict == "uncertain" and not withheld and real_below is not None and fake_above is not None
    if withheld:
        sentences.append("It withholds a verdict: " + " ".join(
            (_caveat_clause(t) + "." if i == 0 else t) for i, t in enumerate(withheld)))
    elif banded:
        sentences.append(f"That falls in the uncertain band between its threshold of {pct(real_below)} for a real "
                         f"verdict and its threshold of {pct(fake_above)} for a fake verdict, so the evidence does "
                         "not clearly point either way.")
    elif verdict in ("fake", "real") and (fake_above if verdict == "fake" else real_below) is not None:
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
        sentences.append(f"That is {how} its threshold of {pct(limit)} for a {verdict} verdict, {call}.")

    # 3. which method family (only when the face may be manipulated)
    method = summary.get("method")
    if method and method.get("most_resembles") and norm_method(method["most_resembles"]) in facts.methods:
        name = method["most_resembles"]
        value = method["probabilities_if_manipulated"].get(name)
        weak = value is not None and facts.methods.get(norm_method(name), 1.0) < 0.5
        sentences.append(
            f"If the face was manipulated, the technique it most resembles is {name}"
            + (f" ({value})" if value else "")
            + (", a weak match" if weak else "")
            + "; these method estimates assume manipulation and are only a rough hint, never proof.")

    # 4. where on the face
    if evidence is None:
        where = " or moment in the video" if kind == "video" else ""
        sentences.append(f"Detailed explanations were switched off for this analysis, so there is no breakdown "
                         f"by facial region{where}.")
    else:
        regions = summary.get("top_regions") or []
        if regions:
            words = [r["in_words"] for r in regions]
            raw = {r["name"]: r["score"] for r in evidence.get("regions") or []}
            if regions[0]["region"] in raw:
                words[0] += f" ({one_decimal(raw[regions[0]['region']])} times the face average)"
            if verdict == "real":  # the maps show where the (weak) evidence for "fake" was, not a finding
                sentences.append(f"What little the detector found suspicious was mostly in {_join(words)}.")
            else:
                sentences.append(f"The heatmaps show the detector paid most attention to {_join(words)}.")
        else:
            sentences.append("No single part of the face stood out in the heatmaps.")

    # 5. when: frames, stretches, key frames
    if kind == "image":
        sentences.append("This is a single image, so there is no timeline to examine.")
    else:
        n_sampled, n_face = face_frame_counts(doc)
        duration = (doc.get("media") or {}).get("duration_s")
        span = f"the {one_decimal(duration)}-second video" if summary.get("duration_s") else "the video"
        if n_sampled == 0:
            parts = []
        elif n_face == n_sampled:
            parts = [f"A face was analysed in all {n_sampled} frames sampled from {span}"]
        else:
            parts = [f"A face was analysed in {n_face} of the {n_sampled} frames sampled from {span}"]
        if evidence is not None:
            all_segments = evidence.get("suspicious_segments") or []
            segments = all_segments[:3]
            key = evidence.get("key_frames") or []
            if segments:
                bounds = [(one_decimal(s["start_s"]), one_decimal(s["end_s"])) for s in segments]
                ranges = [f"from {a} to {b} seconds" if a != b else f"at {a} seconds" for a, b in bounds]
                peak = pct(max(s["peak_probability"] for s in segments))
                if len(segments) == 1 and ranges[0].startswith("from"):
                    parts.append(f"the suspicious stretch runs {ranges[0]}, peaking at {peak}")
                elif len(segments) == 1:
                    parts.append(f"the only suspicious moment is {ranges[0]}, where the score reached {peak}")
                else:
                    among = ", among others," if len(all_segments) > len(segments) else ""
                    parts.append(f"suspicious stretches appear{among} {_join(ranges)}, peaking at {peak}")
            elif key:
                parts.append("no stretch reached the threshold for a fake verdict")
            if key:
                top = key[0]
                if verdict == "real":
                    parts.append(f"the highest-scoring frame, at {one_decimal(top['time_s'])} seconds, "
                                 f"scored {pct(top['fake_probability'])}")
                else:
                    parts.append(f"the single most suspicious frame is at {one_decimal(top['time_s'])} seconds "
                                 f"({pct(top['fake_probability'])})")
        if parts:
            parts[0] = parts[0][0].upper() + parts[0][1:]
            if len(parts) == 3:
                sentences.append(f"{parts[0]}; {parts[1]}, and {parts[2]}.")
            else:
                sentences.append("; ".join(parts) + ".")

    # 6. caveats
    if evidence is not None:
        said = {r.get("code") for r in (doc.get("abstention") or {}).get("reasons") or []} if withheld else set()
        said |= {code for code, yes in (("several_faces", len(tracks) > 1),
                                       ("uncertain_band", banded),
                                       ("single_image", kind == "image")) if yes}
        texts = [_caveat_clause(c["text"]) for c in evidence.get("caveats") or []
                 if c.get("text") and c.get("code") not in said]
        texts = [t for t in texts if t]
        if texts:  # one sentence each while the paragraph stays within six, the rest joined
            alone = max(0, min(len(texts), 6 - len(sentences)) - 1)
            rest = texts[alone:]
            for i, t in enumerate(texts[:alone]):
                sentences.append(("Keep in mind: " + t) + "." if i == 0 else _sentence(t[0].upper() + t[1:]))
            joined = "; ".join(rest) + "."
            sentences.append(("Keep in mind: " + joined) if not alone else "Also, " + joined[0].lower() + joined[1:])

    return " ".join(sentences)
