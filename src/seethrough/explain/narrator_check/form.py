"""Check: the reply is plain prose of a sensible length, without jargon such as "logit"."""

from __future__ import annotations

import re

from ..narrator_facts import Facts
from .common import Problem

MAX_SENTENCES = 8  # 3 to 6 are asked for; a little slack before the reply is refused


def check(text: str, facts: Facts) -> list[Problem]:
    problems = []
    if re.search(r"\blogits?\b|\bsoftmax\b|\bsigmoid\b", text, re.I):
        problems.append("uses jargon (logit/softmax/sigmoid) that readers will not understand")
    if "```" in text or re.search(r"^\s*(?:[-*#]|\d+\.)\s", text, re.M) or re.search(r"[{}]", text):
        problems.append("is not a plain paragraph (lists, headings, code or JSON)")
    n = len([s for s in re.split(r"(?<=[.!?])\s+(?=[A-Z\"'(a-z])", text.strip()) if s.strip()])
    if n > MAX_SENTENCES:
        problems.append(f"is {n} sentences long; 3 to 6 were asked for")
    return problems
