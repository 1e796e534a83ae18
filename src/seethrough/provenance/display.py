"""The provenance block as rows and lines for the CLI and the reports (the web page renders the same
labels, served by ``seethrough.facts.for_pages``). Works on the JSON dict, so old documents without
the block show nothing."""

from __future__ import annotations

from typing import Any

from .wording import C2PA_STATES, LABELS, source_type_words

#: Levels shown before the verdict (a signed AI declaration, broken or unreadable credentials).
HEADLINE_LEVELS = ("declaration", "warning")


def statement_texts(block: dict | None, levels: tuple[str, ...] | None = None) -> list[str]:
    if not block:
        return []
    return [s["text"] for s in block.get("statements") or [] if s.get("text") and (levels is None or s.get("level") in levels)]


def headline_statements(block: dict | None) -> list[dict[str, Any]]:
    """Declaration first, then warnings: what every view puts above the detector's verdict."""
    if not block:
        return []
    found = [s for s in block.get("statements") or [] if s.get("level") in HEADLINE_LEVELS]
    return sorted(found, key=lambda s: HEADLINE_LEVELS.index(s["level"]))


def display_rows(block: dict | None) -> list[tuple[str, str]]:
    """(label, value) rows of the typed summary; raw fields stay in the JSON."""
    if not block:
        return []
    c2pa = block.get("c2pa") or {}
    state = c2pa.get("state") or "absent"
    rows: list[tuple[str, str]] = [(LABELS["content_credentials"], C2PA_STATES.get(state, state))]
    signer = c2pa.get("signer") or {}
    if c2pa.get("present") and (signer.get("organization") or signer.get("common_name")):
        who = ", ".join(x for x in (signer.get("common_name"), signer.get("organization")) if x)
        if signer.get("issuer"):
            who += f" (certificate issued by {signer['issuer']})"
        rows.append((LABELS["signer"], who))
    if c2pa.get("present") and c2pa.get("claim_generator"):
        rows.append((LABELS["claim_generator"], c2pa["claim_generator"]))
    declared = [source_type_words(t) or t for t in c2pa.get("digital_source_types") or []]
    if declared:
        rows.append((LABELS["declared" if state in ("valid", "trusted") else "declared_invalid"], "; ".join(declared)))
    if block.get("camera"):
        rows.append((LABELS["camera"], block["camera"]))
    if block.get("edited_with"):
        rows.append((LABELS["edited_with"], ", ".join(block["edited_with"])))
    if block.get("ai_hints"):
        rows.append((LABELS["ai_hints"], "; ".join(block["ai_hints"])))
    rows.append((LABELS["gps"], "present (coordinates not shown)" if block.get("gps_present") else "none"))
    rows.append((LABELS["stripped"], "none at all (stripped)" if block.get("stripped") else "present"))
    return rows
