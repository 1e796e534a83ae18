"""Check: every number stated is one of the evidence's values, within the rounding of its digits.

Percentages must be probabilities of the evidence (or tight true bounds such as "more than 99.9%"),
times (``2.4 seconds``, ``1:05``) its times, counts of faces, frames, segments or regions such
counts, and pixel sizes, scores and other numbers its values. Numbers written in the evidence's
own quoted texts (caveats, message) are accepted too.

:func:`stated_numbers` reads the numbers out of a reply; the overall-probability check uses it too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..narrator_facts import Facts
from .common import NUM, Problem, pct_ok, tol

_UNIT = (r"(?P<unit>\s*%|\s*(?:percent|per\s*cent)\b|\s*-?\s*(?:seconds?|secs?|s|minutes?|mins?)(?![A-Za-z])"
         r"|\s*-?\s*frames?\b|\s*(?:px|pixels?)\b|\s*(?:times|x)(?![A-Za-z]))")
_CLOCK = re.compile(r"(?<![\w.:])(\d{1,2}):(\d{2}(?:\.\d+)?)(?![\w:])")
_RANGE = re.compile(rf"(?<![\w.])(?P<a>{NUM})\s*(?:-|–|—|to|and)\s*(?P<b>{NUM}){_UNIT}")
_SINGLE = re.compile(rf"(?<![\w.])(?P<n>{NUM})(?:{_UNIT})?")
_ORDINAL = re.compile(r"(?:st|nd|rd|th)\b")
_WORD_NUMBERS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty".split())}
_WORD_COUNT = re.compile(
    r"\b(" + "|".join(_WORD_NUMBERS) + r")\s+(?:\w+\s+)?(faces?|people|persons|frames?|segments?|stretch(?:es)?|"
    r"regions?|tracks?|seconds?)\b", re.I)
_NOUN_AFTER = re.compile(r"\s*-?\s*(?:[a-z]+\s+)?(faces?|people|persons|tracks?|frames?|segments?|stretch(?:es)?|"
                         r"regions?)\b", re.I)
#: The noun after a count -> which of the evidence's counts (``Facts.counts``) it must be.
_NOUN_KIND = {"face": "faces", "faces": "faces", "people": "faces", "persons": "faces", "track": "faces",
              "tracks": "faces", "frame": "frames", "frames": "frames", "segment": "segments",
              "segments": "segments", "stretch": "segments", "stretches": "segments", "region": "regions",
              "regions": "regions"}


@dataclass(frozen=True)
class ClockTime:
    """A time written as minutes:seconds (``1:05``)."""

    written: str
    seconds: float


@dataclass(frozen=True)
class Written:
    """A number written in digits, with its unit if any."""

    raw: str  # the digits as written: "87", "2.4"
    unit: str  # normalised: "%", "percent", "s", "seconds", "min", "frames", "px", "times", "x" or ""
    whole: str  # as written with the unit, for messages
    before: str  # the 30 characters before it (where "more than" would be)
    noun: str | None  # a count's noun as written after it (" faces"), when it has no unit
    of: str | None  # which count that noun asks for ("faces", "frames"...)

    @property
    def value(self) -> float:
        return float(self.raw)

    @property
    def is_percent(self) -> bool:
        return self.unit in ("%", "percent") or self.unit.startswith("per")


@dataclass(frozen=True)
class WordCount:
    """A count written in words ("two faces", "three seconds")."""

    written: str
    value: int
    noun: str  # lower case: "faces", "seconds"...


Stated = ClockTime | Written | WordCount


def _written(text: str, raw: str, unit: str | None, start: int, whole: str) -> Written:
    noun = _NOUN_AFTER.match(text, start + len(raw))
    return Written(raw=raw, unit=(unit or "").strip().lstrip("-").strip().lower(), whole=whole,
                   before=text[max(0, start - 30):start], noun=noun.group(0) if noun else None,
                   of=_NOUN_KIND[noun.group(1).lower()] if noun else None)


def stated_numbers(text: str) -> list[Stated]:
    """Every number in ``text``: clock times, then ranges' ends, single numbers, counts in words.

    A number is read once: a range's ends are not read again as single numbers, and digits
    that are part of a name ("3D", "4K") are not numbers."""
    found: list[Stated] = []
    taken: list[tuple[int, int]] = []

    def free(a: int, b: int) -> bool:
        return all(b <= s or a >= e for s, e in taken)

    for m in _CLOCK.finditer(text):
        taken.append(m.span())
        found.append(ClockTime(m.group(0), int(m.group(1)) * 60 + float(m.group(2))))
    for m in _RANGE.finditer(text):
        if not free(*m.span()):
            continue
        taken.append(m.span())
        for end in ("a", "b"):
            found.append(_written(text, m.group(end), m.group("unit"), m.start(end), m.group(end) + m.group("unit")))
    for m in _SINGLE.finditer(text):
        if not free(*m.span()):
            continue
        raw, unit = m.group("n"), m.group("unit")
        rest = text[m.end():]
        if not unit and rest[:1].isalpha() and not _ORDINAL.match(rest):
            continue  # part of a name such as "3D" or "4K"
        found.append(_written(text, raw, unit or "", m.start(), m.group(0)))
    for m in _WORD_COUNT.finditer(text):
        found.append(WordCount(m.group(0), _WORD_NUMBERS[m.group(1).lower()], m.group(2).lower()))
    return found


# --------------------------------------------------------------------------- judging one number


def _literal(v: float, facts: Facts) -> bool:
    return any(abs(v - x) < 1e-9 for x in facts.literals)


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
    return _literal(v, facts) or any(abs(v - x) <= tol(raw) for x in facts.numbers)


def _judge_written(n: Written, facts: Facts) -> Problem | None:
    v, raw, unit, whole = n.value, n.raw, n.unit, n.whole.strip()
    if n.is_percent:
        if not pct_ok(v, raw, n.before, facts.probabilities, facts.literal_percents):
            return f"states {whole} but the evidence has no such number"
    elif unit[:1] == "s":
        if not _time_ok(v, facts):
            return f"states {whole} but the evidence has no such time"
    elif unit.startswith("min"):
        if not _time_ok(60 * v, facts):
            return f"states {whole} but the evidence has no such time"
    elif unit.startswith("frame"):
        if not _int_ok(raw, facts, "frames"):
            return f"states {whole} but the evidence has no such count of frames"
    elif unit in ("px", "pixel", "pixels", "times", "x"):
        if not _value_ok(v, raw, facts):
            return f"states {whole} but the evidence has no such number"
    elif "." in raw:
        if not _value_ok(v, raw, facts):
            return f"states {raw} but the evidence has no such number"
    elif not _int_ok(raw, facts, n.of):
        said = f"{raw}{n.noun}" if n.noun else f"the number {raw}"
        return f"states {said} but the evidence has no such " + (f"count of {n.of}" if n.of else
                                                                  "count or frame index")
    return None


def _judge(n: Stated, facts: Facts) -> Problem | None:
    if isinstance(n, ClockTime):
        return None if _time_ok(n.seconds, facts) else f"states the time {n.written} but the evidence has no such time"
    if isinstance(n, WordCount):
        if n.noun.startswith("second"):
            return None if _time_ok(float(n.value), facts) else f"states {n.written} but the evidence has no such time"
        of = _NOUN_KIND[n.noun]
        return None if _int_ok(str(n.value), facts, of) else \
            f"states {n.written} but the evidence has no such count of {of}"
    return _judge_written(n, facts)


def check(text: str, facts: Facts) -> list[Problem]:
    """Each number in ``text`` that the evidence does not hold."""
    return [p for p in (_judge(n, facts) for n in stated_numbers(text)) if p]
