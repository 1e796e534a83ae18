"""Check: every facial region named is one the evidence names, with the same left/right.

Regions are recognised with their synonyms ("lips" is the mouth, "blending" the boundary);
left and right are the person's own, so "the viewer's left" is refused. A score written
right after a region ("the mouth (1.8 times the average)") must be that region's. Parts of
the head that are not regions (ears, hair, neck) are refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..narrator_facts import Facts, region_words
from .common import NUM, Problem, tol


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
    rf"(?P<n>{NUM})\s*(?:times|x|×|\))",
    re.I)


def _check_score(name: str, text: str, end: int, facts: Facts) -> Problem | None:
    """A score written right after a region ("the mouth (1.8 times ...)") must be that region's."""
    m = _SCORE_AFTER.match(text, end)
    if not m or name not in facts.region_scores:
        return None
    score = facts.region_scores[name]
    if abs(float(m.group("n")) - score) <= tol(m.group("n")) or abs(float(m.group("n")) - round(score, 2)) < 1e-9:
        return None
    return f"gives {region_words(name)} a score of {m.group('n')} but the evidence gives it {score:.2f}"


def _allowed_words(facts: Facts) -> str:
    names = list(dict.fromkeys(facts.regions))
    return ", ".join(region_words(n) for n in names) if names else "none"


def _sides(text: str, prev_end: int, start: int, end: int) -> set[str]:
    """The sides ("left", "right") said of the region word at ``text[start:end]``: just before it in
    its clause ("the left eye", "both eyes") or just after ("the eye on the person's right")."""
    pre = _CLAUSE_BREAK.split(text[prev_end:start])[-1]
    words = re.findall(r"[a-z]+", pre.lower())[-4:]
    sides = {"left", "right"} if "both" in words else {s for s in words if s in ("left", "right")}
    after = _SIDE_AFTER.match(text[end:end + 60])
    if after:
        sides.add(after.group(1).lower())
    return sides


def _sided(w: _RegionWord, text: str, prev_end: int, start: int, end: int, facts: Facts) -> list[Problem | None]:
    """An eye, brow or cheek: the side said must be one the evidence names (and its score right)."""
    problems: list[Problem | None] = []
    said = text[start:end]
    allowed = set(facts.regions)
    sides = _sides(text, prev_end, start, end)
    named = [f"{s}_{w.base}" for s in sides] or [n for n in allowed if n.endswith("_" + w.base)]
    if len(named) == 1:
        problems.append(_check_score(named[0], text, end, facts))
    if sides:
        missing = [s for s in sorted(sides) if f"{s}_{w.base}" not in allowed]
        if missing:
            problems.append(
                f"mentions the person's {' and '.join(sorted(sides))} {said.lower()}, but the evidence names "
                f"only these regions: {_allowed_words(facts)}")
    elif not any(f"{s}_{w.base}" in allowed for s in ("left", "right")):
        problems.append(f"mentions the {said.lower()}, which the evidence does not single out "
                        f"(regions named: {_allowed_words(facts)})")
    return problems


def _unsided(w: _RegionWord, text: str, start: int, end: int, facts: Facts) -> Problem | None:
    """The nose, mouth, forehead, jaw or boundary: one the evidence names (and its score right)."""
    if w.base in facts.regions:
        return _check_score(w.base, text, end, facts)
    said = text[start:end]
    plain = region_words(w.base)
    said = f"the {said.lower()}" + (f" ({plain})" if plain != f"the {said.lower()}" else "")
    return f"mentions {said}, which the evidence does not single out (regions named: {_allowed_words(facts)})"


def check(text: str, facts: Facts) -> list[Problem]:
    problems: list[Problem | None] = []
    matches = sorted(((m.start(), m.end(), w) for w in _REGION_WORDS for m in w.pattern.finditer(text)),
                     key=lambda t: t[0])
    prev_end = 0
    for start, end, w in matches:
        if w.sided:
            problems += _sided(w, text, prev_end, start, end, facts)
        else:
            problems.append(_unsided(w, text, start, end, facts))
        prev_end = end
    for m in _UNSUPPORTED_PARTS.finditer(text):
        problems.append(f"mentions the {m.group(0).lower()}, which is not one of the facial regions in the evidence")
    if _VIEWER_SIDE.search(text):
        problems.append("uses left/right as the viewer sees it; the evidence uses the person's own left and right")
    return [p for p in problems if p]
