"""Check: every manipulation method or family named has an estimate, and is hedged.

A name (a FaceForensics++ method: Deepfakes, Face2Face, FaceSwap, NeuralTextures, FaceShifter;
or a family of the bundled model: learned face swap, reenactment, ...) must be among the
evidence's estimates, directly or through its family ("Deepfakes" names the learned-face-swap
estimate; "reenactment" the Face2Face one of a FaceForensics++ head); the one called closest
must be the predicted one; none may be presented as certain ("made with FaceSwap" without a
hedge, "clearly Face2Face"); a percentage given to one must be its own estimate.
"""

from __future__ import annotations

import re

from ...facts import pct
from ..narrator_facts import Facts
from .common import FAMILY_OF, MEMBERS, METHOD_DISPLAY, NUM, Problem, method_mentions, tol

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
    rf"(?P<n>{NUM})\s*(?:%|percent|per cent)", re.I)
_PCT_BEFORE = re.compile(rf"(?P<n>{NUM})\s*(?:%|percent|per cent)\)?\s*(?:for|on|to)?\s*(?:the\s+)?$", re.I)


def _sentence_at(text: str, i: int) -> str:
    start = max(text.rfind(". ", 0, i), text.rfind("; ", 0, i), text.rfind("! ", 0, i), text.rfind("? ", 0, i))
    ends = [j for j in (text.find(". ", i), text.find("; ", i)) if j != -1]
    return text[start + 1 if start >= 0 else 0:(min(ends) if ends else len(text))]


def _estimates(key: str, facts: Facts) -> set[str]:
    """The estimates a name stands for: its own, its family's, or its FaceForensics++ members'."""
    if key in facts.methods:
        return {key}
    if FAMILY_OF.get(key) in facts.methods:
        return {FAMILY_OF[key]}
    return MEMBERS.get(key, set()) & set(facts.methods)


def check(text: str, facts: Facts) -> list[Problem]:
    problems: list[Problem] = []
    for start, end, key in method_mentions(text):
        name = facts.method_names.get(key, METHOD_DISPLAY[key])
        named = _estimates(key, facts)
        if not named:
            why = ("no method estimates are given" if not facts.methods else
                   "the evidence has estimates only for " + ", ".join(facts.method_names.values()))
            problems.append(f"mentions {name}, which is not among the method estimates in the evidence ({why})")
            continue
        before, after = text[max(0, start - 80):start], text[end:end + 80]
        sentence = _sentence_at(text, start)
        predicted = facts.method_names.get(facts.predicted or "", facts.predicted)
        if _RESEMBLES.search(before) and facts.predicted not in named:
            problems.append(f"presents {name} as the closest method but the evidence ranks {predicted} first")
        certain = bool(_CERTAIN_BEFORE.search(before) or _CERTAIN_AFTER.match(after))
        if (certain and not _HEDGE.search(sentence)) or _SURE.search(sentence):
            problems.append(f"presents {name} as certain; method estimates are only a hint that applies "
                            "if the face was manipulated")
        m = _PCT_AFTER.match(after) or _PCT_BEFORE.search(before[-25:])
        if m and len(named) == 1:
            value = facts.methods[next(iter(named))]
            if abs(100 * value - float(m.group("n"))) > tol(m.group("n")):
                problems.append(f"gives {name} {m.group('n')}% but the evidence gives it {pct(value)}")
    return problems
