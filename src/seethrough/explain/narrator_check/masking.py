"""Named steps that hide parts of a reply from the word checks, keeping every other position.

* :func:`own_statements`: the reply less the evidence's own words quoted verbatim (caveats,
  the status message) and less the sentences about the file's own provenance claims. The
  region, method and verdict checks read this: "made by a generative model" in a provenance
  sentence is the file's claim, not the detector's verdict, and a quoted caveat may name a
  region the evidence does not single out.
* :func:`mark_method_names`: every method family name replaced by :data:`METHOD_PLACEHOLDER`,
  so that "DeepFakes" or "Face Swap" is not read as a claim that the face is fake, and
  "Face2Face manipulation" is read as a method's name (see ``claims.read_claims``).
"""

from __future__ import annotations

import re

from ..narrator_facts import Facts
from .common import method_mentions, provenance_spans

#: What :func:`mark_method_names` writes in place of a method family's name (one lower-case word,
#: so the verdict-word reader sees it as one token).
METHOD_PLACEHOLDER = "methodname"


def mask_quotes(text: str, quoted: list[str]) -> str:
    """Blank out verbatim copies of the evidence's own texts (caveats, message)."""
    for q in quoted:
        words = re.findall(r"\w+", q)
        if len(words) < 3:
            continue
        pattern = r"\W+".join(map(re.escape, words))
        text = re.sub(pattern, lambda m: " " * len(m.group(0)), text, flags=re.I)
    return text


def mask_spans(text: str, spans: list[tuple[int, int]]) -> str:
    """Blank out ``text[a:b]`` for each span."""
    for a, b in spans:
        text = text[:a] + " " * (b - a) + text[b:]
    return text


def own_statements(text: str, facts: Facts) -> str:
    """``text`` with the evidence's quoted texts and the provenance sentences blanked out."""
    return mask_spans(mask_quotes(text, facts.quoted), provenance_spans(text))


def mark_method_names(text: str) -> str:
    """``text`` with each method family's name replaced by :data:`METHOD_PLACEHOLDER`.

    Positions after a name shift; use the result only where snippets are taken from it."""
    for start, end, _key in reversed(method_mentions(text)):
        text = text[:start] + METHOD_PLACEHOLDER + text[end:]
    return text
