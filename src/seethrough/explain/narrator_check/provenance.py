"""Check: what the reply says of the file's own provenance agrees with the provenance block.

In the sentences about what the file says of itself (Content Credentials, signature, signer,
metadata: :func:`~.common.provenance_spans`): an AI-generation declaration only when a valid
signed one exists (and it must be stated when it does), "valid"/"invalid" and "trusted" as
validated, the signer by its name; a reply about credentials that fail validation must warn.
"""

from __future__ import annotations

import re

from ..narrator_facts import Facts
from .common import Problem, provenance_spans

_AI_CLAIM = re.compile(r"\bgenerative\b|\bai[-\s]+(?:generated|made|created)\b|\bartificial\s+intelligence\b"
                       r"|\b(?:generated|made|created)\s+(?:by|with|using)\s+(?:an?\s+)?(?:ai|model|algorithm)\b"
                       r"|\btrainedAlgorithmicMedia\b|\bsynthetic(?:ally)?\b", re.I)
_VALID = re.compile(r"\b(?:valid|verified|intact|validated|checks?\s+out)\b", re.I)
_INVALID = re.compile(r"\b(?:invalid|broken|tampered|mismatch\w*|fail\w*|altered|changed|forged|damaged|"
                      r"(?:does|do)\s+not\s+match|no\s+longer\s+match\w*)\b", re.I)
_TRUSTED = re.compile(r"(?<![-\w])trusted\b|\bin\s+(?:a|the|your)\s+(?:\w+\s+)?trust\s+list\b", re.I)
_UNTRUSTED = re.compile(r"\buntrusted\b|\bnot\s+(?:\w+\s+)?trusted\b|\bnot\s+in\s+(?:a|the|any|your)\s+(?:\w+\s+)?trust\s+list\b",
                        re.I)
_SIGNED_BY = re.compile(r"\bsigned\s+by\s+(?P<name>[^,;:()]+?)(?=\s+(?:say|says|said|state|states|declare|declares|"
                        r"and|are|is|was|were|who|which|that|\(|,|;|:|\.)|[,;:().]|$)", re.I)
_NEGATION = re.compile(r"\b(?:no|not|never|without|none|nothing|neither|nor)\b|n't\b", re.I)
_CLAUSE = re.compile(r"[,;:()\u2014\u2013]|\s-\s|\bbut\b", re.I)


def _claims_in(sentence: str, pattern: re.Pattern) -> list[bool]:
    """For each match of ``pattern``: True when stated, False when negated within its clause."""
    return [not _NEGATION.search(part[:m.start()]) for part in _CLAUSE.split(sentence) for m in pattern.finditer(part)]


def _norm_name(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", name.lower()).strip()


def _ai_declaration(sentence: str, facts: Facts) -> tuple[list[Problem], bool]:
    """Problems with what ``sentence`` says of an AI-generation declaration, and whether it states one."""
    problems, said = [], False
    for stated in _claims_in(sentence, _AI_CLAIM):
        if stated and not facts.provenance_declared:
            problems.append("says the file's credentials or metadata declare it AI-generated, but the evidence "
                            "holds no valid signed declaration")
        elif not stated and facts.provenance_declared:
            problems.append("denies the signed AI-generation declaration the evidence holds")
        said = said or stated
    return problems, said


def _validity(sentence: str, state: str | None) -> tuple[list[Problem], bool]:
    """Problems with what ``sentence`` says of validation and trust, and whether it calls them invalid."""
    problems = []
    ok = state in ("valid", "trusted")
    invalid = [s for s in _claims_in(sentence, _INVALID) if s]
    valid = _claims_in(sentence, _VALID)
    said_invalid = bool(invalid or any(not v for v in valid))
    if said_invalid and ok:
        problems.append("says the Content Credentials fail validation, but they are valid")
    if any(valid) and not ok:
        problems.append("says the Content Credentials are valid, but "
                        + ("they fail validation" if state == "invalid" else "no valid ones were found"))
    untrusted = bool(_UNTRUSTED.search(sentence))
    trusted = bool(_TRUSTED.search(_UNTRUSTED.sub(" ", sentence)))
    if trusted and state != "trusted":
        problems.append("says the signer is trusted, but no trust list the signer is in was supplied")
    if untrusted and state == "trusted":
        problems.append("says the signer is not trusted, but it is in the trust list supplied")
    return problems, said_invalid


def _signers(sentence: str, facts: Facts) -> list[Problem]:
    problems = []
    for m in _SIGNED_BY.finditer(sentence):
        name = _norm_name(m.group("name"))
        if name and not any(name.startswith(_norm_name(s)) or _norm_name(s).startswith(name)
                            for s in facts.provenance_signers):
            known = ", ".join(facts.provenance_signers) or "no signer"
            problems.append(f"names {m.group('name').strip()} as the signer, but the evidence has {known}")
    return problems


def check(text: str, facts: Facts) -> list[Problem]:
    problems: list[Problem] = []
    said_ai = said_invalid = False
    for a, b in provenance_spans(text):
        sentence = text[a:b]
        found, said = _ai_declaration(sentence, facts)
        problems += found
        said_ai = said_ai or said
        found, said = _validity(sentence, facts.provenance_state)
        problems += found
        said_invalid = said_invalid or said
        problems += _signers(sentence, facts)
    if facts.provenance_declared and not said_ai:
        problems.append("does not state the signed declaration that the file was made by a generative model "
                        f"({facts.provenance_texts[0] if facts.provenance_texts else 'see the provenance'})")
    if facts.provenance_state == "invalid" and facts.provenance_texts and not said_invalid:
        problems.append("does not warn that the file's Content Credentials fail validation")
    return problems
