"""The fact check for a narrative: does every statement in it come from the evidence?

Conservative by design: a false alarm only costs a fall-back to the template text,
while a wrong number, region, side, method or verdict in a published sentence costs
trust. One module per check, each a function ``check(text, facts) -> list[Problem]``
(:data:`~.common.Check`), run in the order of :data:`CHECKS` by :func:`check_reply`:

* :mod:`.numbers`: every percentage, time, count, score and pixel size must be one of the
  evidence's values, within the rounding of the digits written;
* :mod:`.overall`: the overall probability of manipulation must be stated, and no other
  one given for the whole file;
* :mod:`.provenance`: a sentence about what the file says of itself (Content Credentials,
  signature, signer, metadata) must agree with the provenance block: an AI-generation
  declaration only when a valid signed one exists (and it must be stated when it does),
  "valid"/"invalid" and "trusted" as validated, the signer by its name; a reply about
  broken credentials must warn;
* :mod:`.regions`: every facial region named (with synonyms) must be among the regions the
  evidence names, with the same left/right (the person's own);
* :mod:`.methods`: every FaceForensics++ family named must have an estimate, the closest one
  must be the predicted one, and none may be presented as certain;
* :mod:`.verdict`: the reply must state the verdict and must not contradict it, negations
  ("no sign of manipulation") included (the words are read by :mod:`.claims`);
* :mod:`.form`: plain prose of a sensible length, no jargon such as "logit".

The region, method and verdict checks read the reply's *own statements*
(:func:`~.masking.own_statements`): caveat texts and the status message are the
evidence's own words, so quoted verbatim they are exempt from the word checks (their
numbers are still checked), and the provenance sentences are the file's claims ("made by
a generative model"), checked by :mod:`.provenance` and not as the detector's verdict.

To add a check: a module with ``check(text, facts)``, and an entry in :data:`CHECKS`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..narrator_facts import summarize_for_narrator
from . import form, methods, numbers, overall, provenance, regions, verdict
from .common import Check, Problem, provenance_spans
from .masking import own_statements
from .reply import clean_reply, normalise, strip_thinking

__all__ = ["CHECKS", "Check", "Problem", "check_reply", "clean_reply", "provenance_spans", "strip_thinking"]


@dataclass(frozen=True)
class Registered:
    """A check and what it reads: the whole reply, or only its own statements (see the module docstring)."""

    name: str
    run: Check
    own_statements: bool = False


#: The checks, in the order their problems are reported.
CHECKS: tuple[Registered, ...] = (
    Registered("numbers", numbers.check),
    Registered("overall", overall.check),
    Registered("provenance", provenance.check),
    Registered("regions", regions.check, own_statements=True),
    Registered("methods", methods.check, own_statements=True),
    Registered("verdict", verdict.check, own_statements=True),
    Registered("form", form.check),
)


def check_reply(text: str, doc: dict) -> list[Problem]:
    """Problems with a narrative ``text`` for the analysis ``doc``; an empty list means it passes.

    Every number, facial region, left/right, method family and verdict word in the text
    must agree with the evidence (see the module docstring for the rules).
    """
    _, facts = summarize_for_narrator(doc)
    text = normalise(clean_reply(text))
    if not text:
        return ["the reply is empty"]
    statements = own_statements(text, facts)
    problems: list[Problem] = []
    for check in CHECKS:
        problems += check.run(statements if check.own_statements else text, facts)
    return list(dict.fromkeys(problems))
