"""The fact check for a narrative: does every statement in it come from the evidence?

Conservative by design: a false alarm only costs a fall-back to the template text,
while a wrong number, region, side, method or verdict in a published sentence costs
trust. It checks:

* numbers: every percentage, time, count, score and pixel size must be one of the
  evidence's values, within the rounding of the digits written;
* regions: every facial region named (with synonyms) must be among the regions the
  evidence names, with the same left/right (the person's own);
* methods: every FaceForensics++ family named must have an estimate, the closest one
  must be the predicted one, and none may be presented as certain;
* verdict: the reply must state the verdict and must not contradict it, negations
  ("no sign of manipulation") included;
* provenance: a sentence about what the file says of itself (Content Credentials, signature,
  signer, metadata) must agree with the provenance block: an AI-generation declaration only when a
  valid signed one exists (and it must be stated when it does), "valid"/"invalid" and "trusted"
  as validated, the signer by its name; a reply about broken credentials must warn. Those
  sentences are then left out of the verdict check: "made by a generative model" is the file's
  claim, not the detector's verdict;
* form: plain prose of a sensible length, no jargon such as "logit".

Caveat texts and the status message are the evidence's own words: quoted verbatim
they are exempt from the word checks (their numbers are still checked).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..facts import pct
from .narrator_facts import Facts, region_words, summarize

_NUM = r"\d+(?:\.\d+)?"
_UNIT = (r"(?P<unit>\s*%|\s*(?:percent|per\s*cent)\b|\s*-?\s*(?:seconds?|secs?|s|minutes?|mins?)(?![A-Za-z])"
         r"|\s*-?\s*frames?\b|\s*(?:px|pixels?)\b|\s*(?:times|x)(?![A-Za-z]))")
_CLOCK = re.compile(r"(?<![\w.:])(\d{1,2}):(\d{2}(?:\.\d+)?)(?![\w:])")
_RANGE = re.compile(rf"(?<![\w.])(?P<a>{_NUM})\s*(?:-|–|—|to|and)\s*(?P<b>{_NUM}){_UNIT}")
_SINGLE = re.compile(rf"(?<![\w.])(?P<n>{_NUM})(?:{_UNIT})?")
_ORDINAL = re.compile(r"(?:st|nd|rd|th)\b")
_WORD_NUMBERS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty".split())}
_WORD_COUNT = re.compile(
    r"\b(" + "|".join(_WORD_NUMBERS) + r")\s+(?:\w+\s+)?(faces?|people|persons|frames?|segments?|stretch(?:es)?|"
    r"regions?|tracks?|seconds?)\b", re.I)
_NOUN_AFTER = re.compile(r"\s*-?\s*(?:[a-z]+\s+)?(faces?|people|persons|tracks?|frames?|segments?|stretch(?:es)?|"
                         r"regions?)\b", re.I)
_NOUN_KIND = {"face": "faces", "faces": "faces", "people": "faces", "persons": "faces", "track": "faces",
              "tracks": "faces", "frame": "frames", "frames": "frames", "segment": "segments",
              "segments": "segments", "stretch": "segments", "stretches": "segments", "region": "regions",
              "regions": "regions"}
_MORE = re.compile(r"(?:more than|over|above|greater than|higher than|in excess of|exceeding)\s+$", re.I)
_LESS = re.compile(r"(?:less than|under|below|lower than|beneath)\s+$", re.I)


def strip_thinking(text: str) -> str:
    """Drop ``<think>...</think>`` blocks (and an unclosed one) that some local models emit."""
    text = re.sub(r"<think>.*?</think>", " ", text or "", flags=re.S | re.I)
    if re.search(r"</think>", text, re.I):  # opening tag was part of the prompt template
        text = re.split(r"</think>", text, flags=re.I)[-1]
    text = re.split(r"<think>", text, flags=re.I)[0]
    return text.strip()


def clean_reply(text: str) -> str:
    """The reply as it will be shown: no thinking, no markdown emphasis, no wrapping quotes."""
    text = strip_thinking(text)
    text = re.sub(r"\*\*|__", "", text).strip()
    # a preamble line such as "Here is the paragraph:"
    text = re.sub(r"^(?:here(?:'s| is)|sure)[^\n]{0,80}:\s*\n+", "", text, flags=re.I).strip()
    if len(text) > 1 and text[0] == text[-1] and text[0] in "\"'`":
        text = text[1:-1].strip()
    return text


def _normalise(text: str) -> str:
    for a, b in (("\u2019", "'"), ("\u2018", "'"), ("\u201c", '"'), ("\u201d", '"'), ("\u00a0", " "),
                 ("\u2009", " "), ("\u202f", " "), ("\u2212", "-"), ("\u2011", "-"), ("\u2010", "-")):
        text = text.replace(a, b)
    return text


# --------------------------------------------------------------------------- numbers


def _tol(raw: str) -> float:
    decimals = len(raw.split(".")[1]) if "." in raw else 0
    return 0.5 * 10.0**-decimals + 1e-6


def _literal(v: float, facts: Facts) -> bool:
    return any(abs(v - x) < 1e-9 for x in facts.literals)


def _pct_ok(v: float, raw: str, before: str, probabilities: Sequence[float], literal: Sequence[float] = ()) -> bool:
    """``raw``% matches a probability within the rounding of its digits, or is a tight true bound
    ("more than 99.9%" for 0.9996), or is a percentage quoted in the evidence's own texts."""
    if any(abs(v - x) < 1e-9 for x in literal) or any(abs(100 * x - v) <= _tol(raw) for x in probabilities):
        return True
    step = 2 * _tol(raw)
    if _MORE.search(before):
        return any(0 < 100 * x - v <= step for x in probabilities)
    if _LESS.search(before):
        return any(0 < v - 100 * x <= step for x in probabilities)
    return False


def _time_ok(v: float, facts: Facts) -> bool:
    return _literal(v, facts) or any(abs(v - t) <= 0.05 + 1e-6 for t in facts.times)


def _int_ok(raw: str, facts: Facts, of: str | None = None) -> bool:
    """An integer the evidence holds; a count of ``of`` (faces, frames...) must be such a count."""
    if "." in raw:
        return False
    pool = facts.counts.get(of, set()) if of else facts.integers
    return int(raw) in pool or _literal(float(raw), facts)


def _value_ok(v: float, raw: str, facts: Facts) -> bool:
    if "." not in raw and _int_ok(raw, facts):
        return True
    tol = _tol(raw)
    return _literal(v, facts) or any(abs(v - x) <= tol for x in facts.numbers)


def _check_numbers(text: str, facts: Facts) -> tuple[list[str], bool]:
    """Problems with stated numbers, and whether the overall probability was stated."""
    problems: list[str] = []
    taken: list[tuple[int, int]] = []
    overall = facts.probability
    stated_overall = False

    def free(a: int, b: int) -> bool:
        return all(b <= s or a >= e for s, e in taken)

    for m in _CLOCK.finditer(text):
        taken.append(m.span())
        v = int(m.group(1)) * 60 + float(m.group(2))
        if not _time_ok(v, facts):
            problems.append(f"states the time {m.group(0)} but the evidence has no such time")

    def judge(raw: str, unit: str, start: int, whole: str) -> None:
        nonlocal stated_overall
        v = float(raw)
        unit = (unit or "").strip().lstrip("-").strip().lower()
        if unit in ("%", "percent") or unit.startswith("per"):
            before = text[max(0, start - 30):start]
            if not _pct_ok(v, raw, before, facts.probabilities, facts.literal_percents):
                problems.append(f"states {whole.strip()} but the evidence has no such number")
            elif overall is not None and _pct_ok(v, raw, before, [overall]):
                stated_overall = True
        elif unit[:1] == "s":
            if not _time_ok(v, facts):
                problems.append(f"states {whole.strip()} but the evidence has no such time")
        elif unit.startswith("min"):
            if not _time_ok(60 * v, facts):
                problems.append(f"states {whole.strip()} but the evidence has no such time")
        elif unit.startswith("frame"):
            if not _int_ok(raw, facts, "frames"):
                problems.append(f"states {whole.strip()} but the evidence has no such count of frames")
        elif unit in ("px", "pixel", "pixels", "times", "x"):
            if not _value_ok(v, raw, facts):
                problems.append(f"states {whole.strip()} but the evidence has no such number")
        elif "." in raw:
            if not _value_ok(v, raw, facts):
                problems.append(f"states {raw} but the evidence has no such number")
        else:
            noun = _NOUN_AFTER.match(text, start + len(raw))
            of = _NOUN_KIND[noun.group(1).lower()] if noun else None
            if not _int_ok(raw, facts, of):
                said = f"{raw}{noun.group(0)}" if noun else f"the number {raw}"
                problems.append(f"states {said} but the evidence has no such "
                                + (f"count of {of}" if of else "count or frame index"))

    for m in _RANGE.finditer(text):
        if not free(*m.span()):
            continue
        taken.append(m.span())
        judge(m.group("a"), m.group("unit"), m.start("a"), m.group("a") + m.group("unit"))
        judge(m.group("b"), m.group("unit"), m.start("b"), m.group("b") + m.group("unit"))

    for m in _SINGLE.finditer(text):
        if not free(*m.span()):
            continue
        raw, unit = m.group("n"), m.group("unit")
        rest = text[m.end():]
        if not unit and rest[:1].isalpha():
            if not _ORDINAL.match(rest):
                continue  # part of a name such as "3D" or "4K"
        judge(raw, unit or "", m.start(), m.group(0))

    for m in _WORD_COUNT.finditer(text):
        v = _WORD_NUMBERS[m.group(1).lower()]
        noun = m.group(2).lower()
        if noun.startswith("second"):
            if not _time_ok(float(v), facts):
                problems.append(f"states {m.group(0)} but the evidence has no such time")
        elif not _int_ok(str(v), facts, _NOUN_KIND[noun]):
            problems.append(f"states {m.group(0)} but the evidence has no such count of {_NOUN_KIND[noun]}")
    return problems, stated_overall


_ABOUT_IT = (r"(?:of\s+(?:manipulation|being\s+manipulated|being\s+(?:a\s+)?(?:deep)?fake|a\s+deepfake)"
             r"|that\s+(?:the\s+)?(?:face|video|image|clip|photo|it)\s+(?:was|is|has\s+been)\s+"
             r"(?:manipulated|(?:a\s+)?(?:deep)?fake))")
_PROB_STATED = [
    re.compile(rf"\b(?:probability|likelihood|chance)\s+{_ABOUT_IT}\s+(?:is\s+|was\s+|at\s+|of\s+|stands\s+at\s+|"
               rf"comes\s+to\s+)?(?:only\s+|just\s+|about\s+|roughly\s+|around\s+)?"
               rf"(?P<n>{_NUM})\s*(?:%|percent|per cent)",
               re.I),
    re.compile(rf"(?P<n>{_NUM})\s*(?:%|percent|per cent)\s+(?:overall\s+)?(?:probability|likelihood|chance)\s+"
               rf"{_ABOUT_IT}", re.I),
]
_PART_WORDS = re.compile(r"\b(?:frames?|seconds?|stretch\w*|segments?|peak\w*|moments?|faces|threshold\w*|highest|"
                         r"strongest|key|region|mouth|eyes?|nose|cheeks?|method|resembl\w*)\b|\d\s*s\b", re.I)


def _check_overall(text: str, facts: Facts) -> list[str]:
    """A probability of manipulation stated in a sentence about the whole file must be the overall one."""
    if facts.probability is None:
        return []
    problems = []
    for sentence in re.split(r"(?<=[.!?;])\s+", text):
        if _PART_WORDS.search(sentence):
            continue  # about a frame, a stretch, a face or a threshold
        for pattern in _PROB_STATED:
            for m in pattern.finditer(sentence):
                raw = m.group("n")
                before = sentence[max(0, m.start("n") - 30):m.start("n")]
                if not _pct_ok(float(raw), raw, before, [facts.probability]):
                    problems.append(f"gives {raw}% as the probability of manipulation, but the overall "
                                    f"probability is {facts.probability_text}")
    return problems


# --------------------------------------------------------------------------- masking


def _mask_quotes(text: str, quoted: list[str]) -> str:
    """Blank out verbatim copies of the evidence's own texts (caveats, message)."""
    for q in quoted:
        words = re.findall(r"\w+", q)
        if len(words) < 3:
            continue
        pattern = r"\W+".join(map(re.escape, words))
        text = re.sub(pattern, lambda m: " " * len(m.group(0)), text, flags=re.I)
    return text


# --------------------------------------------------------------------------- regions


@dataclass(frozen=True)
class _RegionWord:
    pattern: re.Pattern
    base: str  # region name, or the side-less base for sided regions ("eye")
    sided: bool


_REGION_WORDS = [
    _RegionWord(re.compile(r"\b(?:eye(?:s|lids?|lashes|lash)?|eye\s+sockets?)\b(?!-catching)", re.I), "eye", True),
    _RegionWord(re.compile(r"\b(?:eye)?brows?\b", re.I), "brow", True),
    _RegionWord(re.compile(r"\bcheek(?:s|bones?)?\b", re.I), "cheek", True),
    _RegionWord(re.compile(r"\b(?:nose|nostrils?|nasal)\b", re.I), "nose", False),
    _RegionWord(re.compile(r"\b(?:mouth|lips?|teeth|tongue)\b", re.I), "mouth", False),
    _RegionWord(re.compile(r"\bforehead\b", re.I), "forehead", False),
    _RegionWord(re.compile(r"\b(?:jaws?|jawline|chin)\b", re.I), "jaw_chin", False),
    _RegionWord(re.compile(
        r"(?<!decision )\bboundar(?:y|ies)\b(?!\s+between)|\bblend(?:ing|ed)?\b|\bseams?\b"
        r"|\b(?:edges?|outline|contours?|border|perimeter|margins?|rim)\s+(?:of|around)\s+(?:the\s+)?"
        r"(?:(?:person|subject)'s\s+)?face\b"
        r"|\b(?:face|facial)\s+(?:edges?|outline|contours?|border|perimeter)\b|\bwhere the face meets\b", re.I),
        "boundary", False),
]
_UNSUPPORTED_PARTS = re.compile(r"\b(ears?|hair|hairline|neck|temples?|throat|shoulders?)\b", re.I)
_VIEWER_SIDE = re.compile(
    r"\b(?:viewer|camera|image|screen|picture|frame|photo|our|my|your)(?:'s)?\s+(?:left|right)\b"
    r"|\b(?:left|right)\s+(?:side\s+)?of\s+the\s+(?:image|frame|picture|screen|photo|video)\b"
    r"|\bfrom\s+the\s+viewer|\bas\s+(?:seen|viewed)\s+(?:by|from|on)\b", re.I)
_SIDE_AFTER = re.compile(
    r"\s+on\s+(?:the\s+)?(?:(?:person|subject|man|woman|individual)'s\s+|their\s+|his\s+|her\s+)?(left|right)\b", re.I)
_CLAUSE_BREAK = re.compile(r"[,;:.!?()]")


_SCORE_AFTER = re.compile(
    rf"\s*[(,:—–-]?\s*(?:with\s+|at\s+|scored?\s+|scoring\s+)?(?:a\s+score\s+of\s+)?"
    rf"(?P<n>{_NUM})\s*(?:times|x|×|\))",
    re.I)


def _check_score(name: str, text: str, end: int, facts: Facts) -> str | None:
    """A score written right after a region ("the mouth (1.8 times ...)") must be that region's."""
    m = _SCORE_AFTER.match(text, end)
    if not m or name not in facts.region_scores:
        return None
    score = facts.region_scores[name]
    if abs(float(m.group("n")) - score) <= _tol(m.group("n")) or abs(float(m.group("n")) - round(score, 2)) < 1e-9:
        return None
    return f"gives {region_words(name)} a score of {m.group('n')} but the evidence gives it {score:.2f}"


def _allowed_words(facts: Facts) -> str:
    names = list(dict.fromkeys(facts.regions))
    return ", ".join(region_words(n) for n in names) if names else "none"


def _check_regions(text: str, facts: Facts) -> list[str]:
    problems: list[str] = []
    allowed = set(facts.regions)
    matches = sorted(((m.start(), m.end(), w) for w in _REGION_WORDS for m in w.pattern.finditer(text)),
                     key=lambda t: t[0])
    prev_end = 0
    for start, end, w in matches:
        said = text[start:end]
        if w.sided:
            pre = text[prev_end:start]
            pre = _CLAUSE_BREAK.split(pre)[-1]
            words = re.findall(r"[a-z]+", pre.lower())[-4:]
            sides = {"left", "right"} if "both" in words else {s for s in words if s in ("left", "right")}
            after = _SIDE_AFTER.match(text[end:end + 60])
            if after:
                sides.add(after.group(1).lower())
            named = [f"{s}_{w.base}" for s in sides] or [n for n in allowed if n.endswith("_" + w.base)]
            if len(named) == 1:
                problems.append(_check_score(named[0], text, end, facts) or "")
            if sides:
                missing = [s for s in sorted(sides) if f"{s}_{w.base}" not in allowed]
                if missing:
                    problems.append(
                        f"mentions the person's {' and '.join(sorted(sides))} {said.lower()}, but the evidence names "
                        f"only these regions: {_allowed_words(facts)}")
            elif not any(f"{s}_{w.base}" in allowed for s in ("left", "right")):
                problems.append(f"mentions the {said.lower()}, which the evidence does not single out "
                                f"(regions named: {_allowed_words(facts)})")
        elif w.base not in allowed:
            plain = region_words(w.base)
            said = f"the {said.lower()}" + (f" ({plain})" if plain != f"the {said.lower()}" else "")
            problems.append(f"mentions {said}, which the evidence does not single out "
                            f"(regions named: {_allowed_words(facts)})")
        else:
            problems.append(_check_score(w.base, text, end, facts) or "")
        prev_end = end
    for m in _UNSUPPORTED_PARTS.finditer(text):
        problems.append(f"mentions the {m.group(0).lower()}, which is not one of the facial regions in the evidence")
    if _VIEWER_SIDE.search(text):
        problems.append("uses left/right as the viewer sees it; the evidence uses the person's own left and right")
    return [p for p in problems if p]


# --------------------------------------------------------------------------- methods


_METHOD_PATTERNS = [
    ("deepfakes", re.compile(r"\bDeep[Ff]akes\b")),
    ("face2face", re.compile(r"\bface\s?2\s?face\b", re.I)),
    ("faceswap", re.compile(r"\bFace[\s-]?Swap\b|\b(?i:faceswap)\b")),
    ("neuraltextures", re.compile(r"\bneural\s?textures\b", re.I)),
    ("faceshifter", re.compile(r"\bface\s?shifter\b", re.I)),
]
_DISPLAY = {"deepfakes": "Deepfakes", "face2face": "Face2Face", "faceswap": "FaceSwap",
            "neuraltextures": "NeuralTextures", "faceshifter": "FaceShifter"}
_RESEMBLES = re.compile(
    r"\b(?:most\s+(?:closely\s+)?(?:resembles?|resembling|like|likely|matches|similar|consistent)|closest|"
    r"best\s+match(?:es)?|top\s+(?:match|candidate)|likeliest|primary|main)\b[^.;:!?(),]{0,40}$", re.I)
_CERTAIN_BEFORE = re.compile(
    r"(?:\b(?:made|created|generated|produced|done|faked|manipulated|altered|swapped|forged|edited)\s+"
    r"(?:\w+\s+){0,2}?(?:with|using|by|via|through|in)\s+(?:the\s+|a\s+|an\s+)?"
    r"|\b(?:is|was)\s+(?:a|an)\s+|\b(?:method|technique|tool)\s+(?:used\s+)?(?:is|was)\s+)$", re.I)
_CERTAIN_AFTER = re.compile(r"^(?:[-\s]style)?(?:\s+(?:method|technique|tool|approach|software))?\s*"
                            r"(?:was|were|had been)\s+(?:\w+\s+)?used\b", re.I)
_HEDGE = re.compile(r"\b(?:if|likely|likeliest|probably|possibly|perhaps|may|might|could|resembles?|resembling|"
                    r"resemblance|suggests?|consistent|assum\w*|conditional|closest|similar|hint|estimates?|"
                    r"estimated)\b", re.I)
_SURE = re.compile(r"\b(?:definitely|certainly|clearly|undoubtedly|surely|for sure|confirmed|confirms|proves?|"
                   r"proven|conclusively|without (?:a )?doubt)\b", re.I)
_PCT_AFTER = re.compile(
    rf"^(?:[-\s]style)?(?:\s+(?:manipulation|method|technique|family))?\s*[(,:—–-]?\s*(?:at|with|about|around|"
    rf"roughly|approximately|of)?\s*(?:a\s+)?(?:probability|likelihood|score|chance)?\s*(?:of)?\s*"
    rf"(?P<n>{_NUM})\s*(?:%|percent|per cent)", re.I)
_PCT_BEFORE = re.compile(rf"(?P<n>{_NUM})\s*(?:%|percent|per cent)\)?\s*(?:for|on|to)?\s*(?:the\s+)?$", re.I)


def _sentence_at(text: str, i: int) -> str:
    start = max(text.rfind(". ", 0, i), text.rfind("; ", 0, i), text.rfind("! ", 0, i), text.rfind("? ", 0, i))
    ends = [j for j in (text.find(". ", i), text.find("; ", i)) if j != -1]
    return text[start + 1 if start >= 0 else 0:(min(ends) if ends else len(text))]


def _method_mentions(text: str) -> list[tuple[int, int, str]]:
    found = [(m.start(), m.end(), key) for key, pat in _METHOD_PATTERNS for m in pat.finditer(text)]
    return sorted(found)


def _check_methods(text: str, facts: Facts) -> list[str]:
    problems: list[str] = []
    for start, end, key in _method_mentions(text):
        name = facts.method_names.get(key, _DISPLAY[key])
        if key not in facts.methods:
            why = ("no method estimates are given" if not facts.methods else
                   "the evidence has estimates only for " + ", ".join(facts.method_names.values()))
            problems.append(f"mentions {name}, which is not among the method estimates in the evidence ({why})")
            continue
        before, after = text[max(0, start - 80):start], text[end:end + 80]
        sentence = _sentence_at(text, start)
        predicted = facts.method_names.get(facts.predicted or "", facts.predicted)
        if _RESEMBLES.search(before) and key != facts.predicted:
            problems.append(f"presents {name} as the closest method but the evidence ranks {predicted} first")
        certain = bool(_CERTAIN_BEFORE.search(before) or _CERTAIN_AFTER.match(after))
        if (certain and not _HEDGE.search(sentence)) or _SURE.search(sentence):
            problems.append(f"presents {name} as certain; method estimates are only a hint that applies "
                            "if the face was manipulated")
        m = _PCT_AFTER.match(after) or _PCT_BEFORE.search(before[-25:])
        if m and abs(100 * facts.methods[key] - float(m.group("n"))) > _tol(m.group("n")):
            problems.append(f"gives {name} {m.group('n')}% but the evidence gives it {pct(facts.methods[key])}")
    return problems


# --------------------------------------------------------------------------- verdict


_FAKE_WORDS = {"fake", "faked", "fakes", "deepfake", "deepfaked", "deepfakes", "manipulated", "manipulation",
               "manipulations", "doctored", "forged", "forgery", "altered", "tampered", "tampering", "synthetic",
               "synthesised", "synthesized", "swap", "swapped", "swaps", "counterfeit", "falsified", "spoofed"}
_REAL_WORDS = {"real", "authentic", "genuine", "unaltered", "unmanipulated", "untampered", "unedited", "pristine"}
_NOT_REAL_SENSE = {"world", "time", "life", "estate", "worlds"}
_NEG = {"not", "no", "never", "without", "nothing", "neither", "nor", "unlikely", "hardly", "barely", "little",
        "free", "lack", "lacks", "absence", "absent", "none"}
_DETECT_NEXT = {"detector", "detectors", "detection", "detecting", "classifier", "model", "models", "tool",
                "tools", "analysis", "check", "checks", "checker", "research", "dataset", "datasets", "benchmark"}
_DETECT_BEFORE = {"detect", "detects", "detecting", "spot", "spotting", "identify", "identifying", "catch",
                  "catching", "recognise", "recognize", "recognising", "recognizing"}
_METHOD_NEXT = {"method", "methods", "technique", "techniques", "type", "types", "family", "families", "style",
                "kind", "kinds", "category", "categories", "approach", "approaches", "software", "estimate",
                "estimates"}
_KIND_WORDS = {"type", "types", "kind", "kinds", "form", "forms", "family", "families", "style", "sort", "method",
               "methods", "technique", "techniques"}
_COND = {"if", "assuming", "assume", "assumes", "assumed", "suppose", "supposing", "conditional", "whether",
         "hypothetically"}
_THRESH = {"threshold", "thresholds", "cutoff"}
_THRESH_NEXT = {"threshold", "thresholds", "cutoff", "band", "zone", "range", "side"}
_PROB = {"probability", "probabilities", "likelihood", "chance", "chances", "odds", "score", "scores", "risk"}
_HIGH = {"high", "higher", "strong", "stronger", "large", "significant", "substantial", "considerable", "big",
         "very", "overwhelming", "elevated"}
_LOW = {"low", "lower", "small", "slim", "tiny", "little", "minimal", "negligible", "modest", "remote"}
_BAND = {"band", "zone", "range", "region", "area", "middle", "territory", "margin", "grey", "gray"}
_OUTSIDE = {"above", "below", "outside", "beyond", "clear", "out", "not", "never", "well"}
_UNSURE = {"inconclusive", "undecided", "indeterminate", "unsure", "ambiguous"}
_CANNOT = {"cannot", "can't", "couldn't", "unable"}
_DECIDE = {"tell", "decide", "determine", "conclude", "say"}
_TOKEN = re.compile(r"\d+(?:\.\d+)?%?|[A-Za-z][A-Za-z0-9']*|[,;:.!?()\[\]—–\"]")


@dataclass(frozen=True)
class _Claim:
    kind: str  # fake, real, uncertain, prob_real
    snippet: str


def _clauses(text: str) -> list[list[tuple[str, int, int]]]:
    out: list[list[tuple[str, int, int]]] = [[]]
    for m in _TOKEN.finditer(text):
        tok = m.group(0)
        if tok[0].isdigit():
            continue
        if not tok[0].isalpha():
            if out[-1]:
                out.append([])
            continue
        out[-1].append((tok.lower(), m.start(), m.end()))
    return [c for c in out if c]


def _negated(prev: list[str]) -> bool:
    window = prev[-4:]
    if any(w in _NEG or w.endswith("n't") for w in window):
        return True
    pairs = list(zip(window, window[1:]))
    return ("rather", "than") in pairs or ("instead", "of") in pairs


def _threshold_after(text: str, end: int, facts: Facts) -> bool:
    m = re.match(rf"\s+(?:at|above|below|under|over|from)\s+(?:or\s+(?:above|below)\s+)?(?P<n>{_NUM})\s*(?:%|percent)",
                 text[end:end + 40], re.I)
    return bool(m) and any(abs(100 * t - float(m.group("n"))) <= _tol(m.group("n")) for t in facts.thresholds.values())


def _claims(text: str, facts: Facts) -> list[_Claim]:
    claims: list[_Claim] = []
    for clause in _clauses(text):
        toks = [t for t, _, _ in clause]
        for i, tok in enumerate(toks):
            prev, nxt = toks[max(0, i - 6):i], toks[i + 1:i + 4]
            start, end = clause[max(0, i - 5)][1], clause[i][2]
            snippet = text[start:end]
            # inconclusive
            if tok in _UNSURE or (tok == "uncertain" and not (nxt[:1] and nxt[0] in _BAND)):
                claims.append(_Claim("uncertain", snippet))
                continue
            if tok == "uncertain" and not any(w in _OUTSIDE for w in prev):
                claims.append(_Claim("uncertain", snippet))
                continue
            if tok in _DECIDE and (any(w in _CANNOT for w in prev[-3:])
                                   or (prev[-3:] and "not" in prev[-3:] and any(w in ("could", "can", "does", "did")
                                                                                 for w in prev[-4:]))):
                claims.append(_Claim("uncertain", snippet))
                continue
            if tok == "unclear" and nxt[:1] == ["whether"]:
                claims.append(_Claim("uncertain", snippet))
                continue
            if tok == "verdict" and (("no" in prev or "not" in prev or any(w.endswith("n't") for w in prev))
                                     and any(w in ("clear", "firm", "definite", "definitive") for w in prev)):
                claims.append(_Claim("uncertain", snippet))
                continue
            # real / fake words
            if tok in _FAKE_WORDS or (tok == "generated" and prev[-1:] and prev[-1] in ("ai", "computer", "machine")):
                polarity = "fake"
            elif tok in _REAL_WORDS and not (tok == "real" and nxt[:1] and nxt[0] in _NOT_REAL_SENSE):
                polarity = "real"
            else:
                continue
            if (nxt[:1] and nxt[0] in _DETECT_NEXT) or (prev[-1:] and prev[-1] in _DETECT_BEFORE):
                continue  # "deepfake detector", "spotting deepfakes"
            if (nxt[:1] and nxt[0] in _METHOD_NEXT) or (prev[-1:] and prev[-1] in ("style", "methodname")) or (
                    len(prev) >= 2 and prev[-1] == "of" and prev[-2] in _KIND_WORDS):
                continue  # "manipulation method", "type of manipulation", "Face2Face-style manipulation"
            if any(w in _COND for w in prev):
                continue  # "if the face was manipulated", "whether it is real"
            if (prev[-1:] and prev[-1] in ("or", "nor")) or (nxt[:1] and nxt[0] in ("or", "nor")):
                if "neither" in prev or "nor" in prev[-1:] or "nor" in nxt[:1]:
                    claims.append(_Claim("uncertain", snippet))
                continue  # "real or fake"
            if (any(w in _THRESH for w in prev[-5:]) or any(w in _THRESH_NEXT for w in nxt[:2])
                    or _threshold_after(text, clause[i][2], facts)):
                continue  # "its threshold for a fake verdict", "real below 30%"
            if _negated(prev):
                polarity = "real" if polarity == "fake" else "fake"
            prob_at = [j for j, w in enumerate(prev) if w in _PROB]
            if prob_at or (nxt[:1] and nxt[0] in _PROB):
                if polarity == "real":
                    claims.append(_Claim("prob_real", snippet))
                    continue
                j = prob_at[-1] if prob_at else None
                quals = prev[max(0, j - 2):j] if j is not None else prev[-2:]
                if any(w in _HIGH for w in quals):
                    claims.append(_Claim("fake", snippet))
                elif any(w in _LOW for w in quals):
                    claims.append(_Claim("real", snippet))
                continue  # "the probability of manipulation is 87%"
            claims.append(_Claim(polarity, snippet))
    return claims


_CLAIM_WORDS = {"fake": "calls the face manipulated", "real": "calls the face real",
                "uncertain": "calls the result inconclusive"}


def _check_verdict(text: str, facts: Facts) -> list[str]:
    problems: list[str] = []
    for start, end, _key in reversed(_method_mentions(text)):
        text = text[:start] + "methodname" + text[end:]
    claims = _claims(text, facts)
    for c in claims:
        if c.kind == "prob_real":
            problems.append(f'speaks of the probability that the face is real ("{c.snippet}"); the evidence gives '
                            "the probability of manipulation")
    if facts.status != "ok" or facts.verdict is None:
        for c in claims:
            if c.kind in ("fake", "real"):
                problems.append(f'{_CLAIM_WORDS[c.kind]} ("{c.snippet}") but seethrough gave no verdict '
                                f"(status {facts.status})")
        return problems
    for c in claims:
        if c.kind in _CLAIM_WORDS and c.kind != facts.verdict:
            problems.append(f'{_CLAIM_WORDS[c.kind]} ("{c.snippet}") but the verdict is {facts.verdict}')
    if not any(c.kind == facts.verdict for c in claims):
        problems.append(f"does not state the verdict ({facts.verdict})")
    return problems


# --------------------------------------------------------------------------- provenance


_PROV_SENTENCE = re.compile(r"\b(?:credentials?|c2pa|manifests?|metadata|exif|xmp|sign(?:ed|ing|atures?|ers?)|"
                            r"certificates?|trust\s+list|provenance|declar\w*)\b", re.I)
_AI_CLAIM = re.compile(r"\bgenerative\b|\bai[-\s]+(?:generated|made|created)\b|\bartificial\s+intelligence\b"
                       r"|\b(?:generated|made|created)\s+(?:by|with|using)\s+(?:an?\s+)?(?:ai|model|algorithm)\b"
                       r"|\btrainedAlgorithmicMedia\b|\bsynthetic(?:ally)?\b", re.I)
_VALID = re.compile(r"\b(?:valid|verified|intact|validated|checks?\s+out)\b", re.I)
_INVALID = re.compile(r"\b(?:invalid|broken|tampered|mismatch\w*|fail\w*|altered|changed|forged|damaged|"
                      r"(?:does|do)\s+not\s+match|no\s+longer\s+match\w*)\b", re.I)
_TRUSTED = re.compile(r"(?<![-\w])trusted\b|\bin\s+(?:a|the|your)\s+(?:\w+\s+)?trust\s+list\b", re.I)
_UNTRUSTED = re.compile(r"\buntrusted\b|\bnot\s+(?:\w+\s+)?trusted\b|\bnot\s+in\s+(?:a|the|any|your)\s+(?:\w+\s+)?trust\s+list\b",
                        re.I)
_SIGNED_BY = re.compile(r"\bsigned\s+by\s+(?P<name>[^,;:()]+?)(?=\s+(?:say|says|said|state|states|declare|declares|"
                        r"and|are|is|was|were|who|which|that|\(|,|;|:|\.)|[,;:().]|$)", re.I)
_NEGATION = re.compile(r"\b(?:no|not|never|without|none|nothing|neither|nor)\b|n't\b", re.I)
_CLAUSE = re.compile(r"[,;:()\u2014\u2013]|\s-\s|\bbut\b", re.I)


def _sentences(text: str) -> list[tuple[int, int]]:
    spans, start = [], 0
    for m in re.finditer(r"(?<=[.!?])\s+", text):
        spans.append((start, m.start()))
        start = m.end()
    spans.append((start, len(text)))
    return [(a, b) for a, b in spans if text[a:b].strip()]


def provenance_spans(text: str) -> list[tuple[int, int]]:
    """Where the sentences about what the file says of itself are."""
    return [(a, b) for a, b in _sentences(text) if _PROV_SENTENCE.search(text[a:b])]


def _negated_before(clause: str, at: int) -> bool:
    return bool(_NEGATION.search(clause[:at]))


def _claims_in(sentence: str, pattern: re.Pattern) -> list[bool]:
    """For each match of ``pattern``: True when stated, False when negated within its clause."""
    out = []
    pos = 0
    for part in _CLAUSE.split(sentence):
        for m in pattern.finditer(part):
            out.append(not _negated_before(part, m.start()))
        pos += len(part)
    return out


def _norm_name(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", name.lower()).strip()


def _check_provenance(text: str, facts: Facts) -> list[str]:
    problems: list[str] = []
    state = facts.provenance_state
    ok = state in ("valid", "trusted")
    said_ai = said_invalid = False
    for a, b in provenance_spans(text):
        sentence = text[a:b]
        for stated in _claims_in(sentence, _AI_CLAIM):
            if stated and not facts.provenance_declared:
                problems.append("says the file's credentials or metadata declare it AI-generated, but the evidence "
                                "holds no valid signed declaration")
            elif not stated and facts.provenance_declared:
                problems.append("denies the signed AI-generation declaration the evidence holds")
            said_ai = said_ai or stated
        invalid = [s for s in _claims_in(sentence, _INVALID) if s]
        valid = _claims_in(sentence, _VALID)
        if invalid or any(not v for v in valid):
            said_invalid = True
            if ok:
                problems.append("says the Content Credentials fail validation, but they are valid")
        if any(valid) and not ok:
            problems.append("says the Content Credentials are valid, but "
                            + ("they fail validation" if state == "invalid" else "no valid ones were found"))
        untrusted = bool(_UNTRUSTED.search(sentence))
        trusted = bool(_TRUSTED.search(_UNTRUSTED.sub(" ", sentence)))
        if trusted and state != "trusted":
            problems.append("says the signer is trusted, but no trust list the signer is in was supplied")
        if untrusted and state == "trusted":
            problems.append("says the signer is not trusted, but it is in the trust list supplied")
        for m in _SIGNED_BY.finditer(sentence):
            name = _norm_name(m.group("name"))
            if name and not any(name.startswith(_norm_name(s)) or _norm_name(s).startswith(name)
                                for s in facts.provenance_signers):
                known = ", ".join(facts.provenance_signers) or "no signer"
                problems.append(f"names {m.group('name').strip()} as the signer, but the evidence has {known}")
    if facts.provenance_declared and not said_ai:
        problems.append("does not state the signed declaration that the file was made by a generative model "
                        f"({facts.provenance_texts[0] if facts.provenance_texts else 'see the provenance'})")
    if state == "invalid" and facts.provenance_texts and not said_invalid:
        problems.append("does not warn that the file's Content Credentials fail validation")
    return problems


def _mask_spans(text: str, spans: list[tuple[int, int]]) -> str:
    for a, b in spans:
        text = text[:a] + " " * (b - a) + text[b:]
    return text


# --------------------------------------------------------------------------- form


def _check_form(text: str) -> list[str]:
    problems = []
    if re.search(r"\blogits?\b|\bsoftmax\b|\bsigmoid\b", text, re.I):
        problems.append("uses jargon (logit/softmax/sigmoid) that readers will not understand")
    if "```" in text or re.search(r"^\s*(?:[-*#]|\d+\.)\s", text, re.M) or re.search(r"[{}]", text):
        problems.append("is not a plain paragraph (lists, headings, code or JSON)")
    n = len([s for s in re.split(r"(?<=[.!?])\s+(?=[A-Z\"'(a-z])", text.strip()) if s.strip()])
    if n > 8:
        problems.append(f"is {n} sentences long; 3 to 6 were asked for")
    return problems


def check_reply(text: str, doc: dict) -> list[str]:
    """Problems with a narrative ``text`` for the analysis ``doc``; an empty list means it passes.

    Every number, facial region, left/right, method family and verdict word in the text
    must agree with the evidence (see the module docstring for the rules).
    """
    _, facts = summarize(doc)
    text = _normalise(clean_reply(text))
    if not text:
        return ["the reply is empty"]
    problems, stated_overall = _check_numbers(text, facts)
    if facts.status == "ok" and facts.probability is not None and not stated_overall:
        problems.append(f"does not state the overall probability of manipulation ({facts.probability_text})")
    problems += _check_overall(text, facts)
    problems += _check_provenance(text, facts)
    # Sentences about the file's own claims are checked above, not as statements of the verdict.
    masked = _mask_spans(_mask_quotes(text, facts.quoted), provenance_spans(text))
    problems += _check_regions(masked, facts)
    problems += _check_methods(masked, facts)
    problems += _check_verdict(masked, facts)
    problems += _check_form(text)
    return list(dict.fromkeys(problems))
