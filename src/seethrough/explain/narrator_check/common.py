"""What several checks share: the Problem type, number atoms, rounding tolerance, sentences.

Kept small on purpose: a regex or word list used by one check lives in that check's module.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from ...facts import FFPP_FAMILY, FFPP_METHOD_NOTES, METHOD_FAMILIES, method_label
from ..narrator_facts import Facts, norm_method

#: One thing a reply gets wrong, as a phrase that follows "the reply ...": ``"states 91% but the
#: evidence has no such number"``. A check returns a list of them; an empty list means it passes.
Problem = str

#: What every check is: the reply text and the evidence's facts in, the problems found out.
Check = Callable[[str, Facts], list[Problem]]

#: A number as written: ``87``, ``2.4``.
NUM = r"\d+(?:\.\d+)?"

MORE = re.compile(r"(?:more than|over|above|greater than|higher than|in excess of|exceeding)\s+$", re.I)
LESS = re.compile(r"(?:less than|under|below|lower than|beneath)\s+$", re.I)


def tol(raw: str) -> float:
    """Half a unit of the last digit written: ``"87"`` -> 0.5, ``"87.3"`` -> 0.05."""
    decimals = len(raw.split(".")[1]) if "." in raw else 0
    return 0.5 * 10.0**-decimals + 1e-6


def pct_ok(v: float, raw: str, before: str, probabilities: Sequence[float], literal: Sequence[float] = ()) -> bool:
    """``raw``% matches a probability within the rounding of its digits, or is a tight true bound
    ("more than 99.9%" for 0.9996), or is a percentage quoted in the evidence's own texts.

    ``before`` is the text just before the number (where "more than" would be)."""
    if any(abs(v - x) < 1e-9 for x in literal) or any(abs(100 * x - v) <= tol(raw) for x in probabilities):
        return True
    step = 2 * tol(raw)
    if MORE.search(before):
        return any(0 < 100 * x - v <= step for x in probabilities)
    if LESS.search(before):
        return any(0 < v - 100 * x <= step for x in probabilities)
    return False


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each non-empty sentence (split after ``.``, ``!``, ``?``)."""
    spans, start = [], 0
    for m in re.finditer(r"(?<=[.!?])\s+", text):
        spans.append((start, m.start()))
        start = m.end()
    spans.append((start, len(text)))
    return [(a, b) for a, b in spans if text[a:b].strip()]


# --------------------------------------------------------------------------- provenance sentences

#: A sentence with one of these words is about what the file says of itself (credentials, metadata).
PROV_SENTENCE = re.compile(r"\b(?:credentials?|c2pa|manifests?|metadata|exif|xmp|sign(?:ed|ing|atures?|ers?)|"
                           r"certificates?|trust\s+list|provenance|declar\w*)\b", re.I)


def provenance_spans(text: str) -> list[tuple[int, int]]:
    """Where the sentences about what the file says of itself are."""
    return [(a, b) for a, b in sentence_spans(text) if PROV_SENTENCE.search(text[a:b])]


# --------------------------------------------------------------------------- method names

#: The method-head names as a reply may write them, by normalised name: the FaceForensics++ methods
#: and the bundled model's families (``facts.METHOD_FAMILIES``).
METHOD_PATTERNS = [
    ("deepfakes", re.compile(r"\bDeep[Ff]akes\b")),
    ("face2face", re.compile(r"\bface\s?2\s?face\b", re.I)),
    ("faceswap", re.compile(r"\bFace[\s-]?Swap\b|\b(?i:faceswap)\b")),
    ("neuraltextures", re.compile(r"\bneural\s?textures\b", re.I)),
    ("faceshifter", re.compile(r"\bface\s?shifter\b", re.I)),
    ("learnedfaceswap", re.compile(r"\blearned[\s-]+face[\s-]?swap(?:s|ping)?\b", re.I)),
    ("graphicsfaceswap", re.compile(r"\bgraphics(?:[\s-]based)?[\s-]+face[\s-]?swap(?:s|ping)?\b", re.I)),
    ("reenactment", re.compile(r"\b(?:expression\s+)?re-?enactments?\b", re.I)),
    ("talkinghead", re.compile(r"\btalking[\s-]heads?\b", re.I)),
    ("syntheticface", re.compile(r"\b(?:fully\s+)?synthetic\s+faces?\b", re.I)),
    ("attributeediting", re.compile(r"\battribute\s+edit(?:ing|s)?\b", re.I)),
]
#: How a normalised name is shown when the evidence does not name it.
METHOD_DISPLAY = {**{norm_method(m): m for m in FFPP_METHOD_NOTES},
                  **{norm_method(k): method_label(k) for k in METHOD_FAMILIES}}
#: The family (normalised) of each FaceForensics++ method (normalised), and the reverse.
FAMILY_OF = {norm_method(m): norm_method(f) for m, f in FFPP_FAMILY.items()}
MEMBERS = {f: {m for m, g in FAMILY_OF.items() if g == f} for f in set(FAMILY_OF.values())}


def method_mentions(text: str) -> list[tuple[int, int, str]]:
    """(start, end, normalised name) of every method name, in order; a name inside a longer one
    ("Face Swap" in "Learned Face Swap") is the longer one's."""
    found = sorted(((m.start(), m.end(), key) for key, pat in METHOD_PATTERNS for m in pat.finditer(text)),
                   key=lambda f: (f[0], -f[1]))
    kept: list[tuple[int, int, str]] = []
    for f in found:
        if not kept or f[0] >= kept[-1][1]:
            kept.append(f)
    return kept
