"""Check: the reply states the verdict and nothing contradicts it.

It must call the face what the verdict says (fake, real, or the result inconclusive), and
nothing else, negations ("no sign of manipulation" calls it real) included; without a
verdict (no face, an error) it must not call the face either. "The probability that the
face is real" is refused: the evidence gives the probability of manipulation.
"""

from __future__ import annotations

from ..narrator_facts import Facts
from .claims import read_claims
from .common import Problem
from .masking import mark_method_names

_CLAIM_WORDS = {"fake": "calls the face manipulated", "real": "calls the face real",
                "uncertain": "calls the result inconclusive"}


def check(text: str, facts: Facts) -> list[Problem]:
    problems: list[Problem] = []
    claims = read_claims(mark_method_names(text), facts)
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
