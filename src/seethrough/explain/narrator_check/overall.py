"""Check: the overall probability of manipulation is stated, and no other one is given for the file.

A reply about an analysed face must state the overall probability (as a percentage that
matches it within its rounding). A probability stated in a sentence about the whole file
("the probability of manipulation is 60%") must be that one; sentences about a frame, a
stretch, a face, a region, a method or a threshold may give theirs.
"""

from __future__ import annotations

import re

from ..narrator_facts import Facts
from .common import NUM, Problem, pct_ok
from .numbers import Written, stated_numbers

_ABOUT_IT = (r"(?:of\s+(?:manipulation|being\s+manipulated|being\s+(?:a\s+)?(?:deep)?fake|a\s+deepfake)"
             r"|that\s+(?:the\s+)?(?:face|video|image|clip|photo|it)\s+(?:was|is|has\s+been)\s+"
             r"(?:manipulated|(?:a\s+)?(?:deep)?fake))")
_PROB_STATED = [
    re.compile(rf"\b(?:probability|likelihood|chance)\s+{_ABOUT_IT}\s+(?:is\s+|was\s+|at\s+|of\s+|stands\s+at\s+|"
               rf"comes\s+to\s+)?(?:only\s+|just\s+|about\s+|roughly\s+|around\s+)?"
               rf"(?P<n>{NUM})\s*(?:%|percent|per cent)",
               re.I),
    re.compile(rf"(?P<n>{NUM})\s*(?:%|percent|per cent)\s+(?:overall\s+)?(?:probability|likelihood|chance)\s+"
               rf"{_ABOUT_IT}", re.I),
]
#: A sentence with one of these is about part of the file (or a threshold), not the whole.
_PART_WORDS = re.compile(r"\b(?:frames?|seconds?|stretch\w*|segments?|peak\w*|moments?|faces|threshold\w*|highest|"
                         r"strongest|key|region|mouth|eyes?|nose|cheeks?|method|resembl\w*)\b|\d\s*s\b", re.I)


def _states_overall(text: str, facts: Facts) -> bool:
    """Whether some percentage in ``text`` is the overall probability (within its rounding)."""
    return any(isinstance(n, Written) and n.is_percent
               and pct_ok(n.value, n.raw, n.before, facts.probabilities, facts.literal_percents)
               and pct_ok(n.value, n.raw, n.before, [facts.probability])
               for n in stated_numbers(text))


def _whole_file_probabilities(text: str, facts: Facts) -> list[Problem]:
    """A probability of manipulation stated in a sentence about the whole file must be the overall one."""
    problems = []
    for sentence in re.split(r"(?<=[.!?;])\s+", text):
        if _PART_WORDS.search(sentence):
            continue  # about a frame, a stretch, a face or a threshold
        for pattern in _PROB_STATED:
            for m in pattern.finditer(sentence):
                raw = m.group("n")
                before = sentence[max(0, m.start("n") - 30):m.start("n")]
                if not pct_ok(float(raw), raw, before, [facts.probability]):
                    problems.append(f"gives {raw}% as the probability of manipulation, but the overall "
                                    f"probability is {facts.probability_text}")
    return problems


def check(text: str, facts: Facts) -> list[Problem]:
    if facts.probability is None:
        return []
    problems = []
    if facts.status == "ok" and not _states_overall(text, facts):
        problems.append(f"does not state the overall probability of manipulation ({facts.probability_text})")
    return problems + _whole_file_probabilities(text, facts)
