"""Reading verdict claims out of a reply: does it call the face fake, real or the result inconclusive?

Used by the verdict check. The reply is split into clauses and words; a fake or real word
("manipulated", "genuine") is a claim unless it is about something else ("deepfake
detector", "manipulation method", "if the face was manipulated", "real or fake", "its
threshold for a fake verdict"); a negation before it turns it round ("no sign of
manipulation" is a claim that the face is real); next to a probability word it counts only
with a qualifier ("a high probability of manipulation").

:func:`read_claims` expects method names already replaced by
:data:`~.masking.METHOD_PLACEHOLDER` (:func:`~.masking.mark_method_names`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..narrator_facts import Facts
from .common import NUM, tol
from .masking import METHOD_PLACEHOLDER

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
_METHOD_BEFORE = {"style", METHOD_PLACEHOLDER}  # "Face2Face-style manipulation", "a FaceSwap manipulation"
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
class Claim:
    kind: str  # fake, real, uncertain, prob_real
    snippet: str  # the words that make it, as written


def _clauses(text: str) -> list[list[tuple[str, int, int]]]:
    """The words of each clause, lower case, with their positions (numbers are left out)."""
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


def _says_uncertain(tok: str, prev: list[str], nxt: list[str]) -> bool:
    """"inconclusive", "cannot tell", "unclear whether", "no clear verdict"."""
    if tok in _UNSURE or (tok == "uncertain" and not (nxt[:1] and nxt[0] in _BAND)):
        return True
    if tok == "uncertain" and not any(w in _OUTSIDE for w in prev):
        return True
    if tok in _DECIDE and (any(w in _CANNOT for w in prev[-3:])
                           or (prev[-3:] and "not" in prev[-3:] and any(w in ("could", "can", "does", "did")
                                                                         for w in prev[-4:]))):
        return True
    if tok == "unclear" and nxt[:1] == ["whether"]:
        return True
    return bool(tok == "verdict" and (("no" in prev or "not" in prev or any(w.endswith("n't") for w in prev))
                                      and any(w in ("clear", "firm", "definite", "definitive") for w in prev)))


def _polarity(tok: str, prev: list[str], nxt: list[str]) -> str | None:
    """"fake" or "real" for a word that says so, else None."""
    if tok in _FAKE_WORDS or (tok == "generated" and prev[-1:] and prev[-1] in ("ai", "computer", "machine")):
        return "fake"
    if tok in _REAL_WORDS and not (tok == "real" and nxt[:1] and nxt[0] in _NOT_REAL_SENSE):
        return "real"
    return None


def _about_something_else(prev: list[str], nxt: list[str]) -> bool:
    """The word names a detector, a method or a condition, not this face."""
    if (nxt[:1] and nxt[0] in _DETECT_NEXT) or (prev[-1:] and prev[-1] in _DETECT_BEFORE):
        return True  # "deepfake detector", "spotting deepfakes"
    if (nxt[:1] and nxt[0] in _METHOD_NEXT) or (prev[-1:] and prev[-1] in _METHOD_BEFORE) or (
            len(prev) >= 2 and prev[-1] == "of" and prev[-2] in _KIND_WORDS):
        return True  # "manipulation method", "type of manipulation", "Face2Face-style manipulation"
    return any(w in _COND for w in prev)  # "if the face was manipulated", "whether it is real"


def _threshold_after(text: str, end: int, facts: Facts) -> bool:
    m = re.match(rf"\s+(?:at|above|below|under|over|from)\s+(?:or\s+(?:above|below)\s+)?(?P<n>{NUM})\s*(?:%|percent)",
                 text[end:end + 40], re.I)
    return bool(m) and any(abs(100 * t - float(m.group("n"))) <= tol(m.group("n")) for t in facts.thresholds.values())


def _about_threshold(text: str, end: int, prev: list[str], nxt: list[str], facts: Facts) -> bool:
    """"its threshold for a fake verdict", "real below 30%"."""
    return (any(w in _THRESH for w in prev[-5:]) or any(w in _THRESH_NEXT for w in nxt[:2])
            or _threshold_after(text, end, facts))


def _probability_claim(polarity: str, prev: list[str], snippet: str) -> Claim | None:
    """A fake/real word next to a probability word: "a high probability of manipulation" is a claim,
    "the probability of manipulation is 87%" is not, "the probability that it is real" is a wrong one."""
    if polarity == "real":
        return Claim("prob_real", snippet)
    prob_at = [j for j, w in enumerate(prev) if w in _PROB]
    j = prob_at[-1] if prob_at else None
    quals = prev[max(0, j - 2):j] if j is not None else prev[-2:]
    if any(w in _HIGH for w in quals):
        return Claim("fake", snippet)
    if any(w in _LOW for w in quals):
        return Claim("real", snippet)
    return None


def _claim_at(text: str, clause: list[tuple[str, int, int]], toks: list[str], i: int,
              facts: Facts) -> Claim | None:
    tok = toks[i]
    prev, nxt = toks[max(0, i - 6):i], toks[i + 1:i + 4]
    snippet = text[clause[max(0, i - 5)][1]:clause[i][2]]
    if _says_uncertain(tok, prev, nxt):
        return Claim("uncertain", snippet)
    polarity = _polarity(tok, prev, nxt)
    if polarity is None or _about_something_else(prev, nxt):
        return None
    if (prev[-1:] and prev[-1] in ("or", "nor")) or (nxt[:1] and nxt[0] in ("or", "nor")):
        if "neither" in prev or "nor" in prev[-1:] or "nor" in nxt[:1]:
            return Claim("uncertain", snippet)  # "neither real nor fake"
        return None  # "real or fake"
    if _about_threshold(text, clause[i][2], prev, nxt, facts):
        return None
    if _negated(prev):
        polarity = "real" if polarity == "fake" else "fake"
    if any(w in _PROB for w in prev) or (nxt[:1] and nxt[0] in _PROB):
        return _probability_claim(polarity, prev, snippet)
    return Claim(polarity, snippet)


def read_claims(marked: str, facts: Facts) -> list[Claim]:
    """Every verdict claim in ``marked``, the reply with method names marked
    (:func:`~.masking.mark_method_names`); snippets are taken from it."""
    claims = []
    for clause in _clauses(marked):
        toks = [t for t, _, _ in clause]
        for i in range(len(toks)):
            claim = _claim_at(marked, clause, toks, i, facts)
            if claim:
                claims.append(claim)
    return claims
