"""The provenance block of an analysis: a short typed summary, the raw fields, and the sentences
every view shows (``Provenance.to_dict()`` is ``provenance`` in the analysis JSON)."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from . import wording as w
from .credentials import Credentials
from .metadata import FileMetadata

Level = Literal["declaration", "warning", "hint", "info"]


@dataclass
class Statement:
    """One sentence about provenance. ``declaration``: a valid signed AI declaration (shown above the
    verdict, stated by the narrator); ``warning``: Content Credentials that fail validation or cannot
    be read; ``hint``: unsigned traces worth following; ``info``: everything else."""

    code: str
    level: Level
    text: str


@dataclass
class Provenance:
    declared_ai_generated: bool = False  # only on valid signed Content Credentials
    declared_by: str | None = None  # the signer of that declaration
    edited_with: list[str] = field(default_factory=list)  # software the file names (any source)
    camera: str | None = None
    stripped: bool = False  # no metadata and no Content Credentials at all
    gps_present: bool = False
    ai_hints: list[str] = field(default_factory=list)  # unsigned generator traces
    c2pa: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    trust_list: dict[str, Any] = field(default_factory=lambda: {"supplied": False})
    statements: list[Statement] = field(default_factory=list)
    note: str | None = None  # a problem reading provenance (the analysis went on)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _camera(md: FileMetadata) -> str | None:
    src = md.exif if md.kind == "image" else md.container
    make, model = (src.get("make") or md.xmp.get("make")), (src.get("model") or md.xmp.get("model"))
    if make and model and model.lower().startswith(make.lower()):
        return model
    return " ".join(x for x in (make, model) if x) or None


def _encoder_name(encoder: str) -> str:
    """``Lavf62.12.102`` -> ``FFmpeg (Lavf62.12.102)``: libavformat writes that tag."""
    return f"FFmpeg ({encoder})" if re.match(r"^Lav[fc]\d", encoder) else encoder


def _software(md: FileMetadata, cred: Credentials) -> list[str]:
    names: list[str] = []
    for v in (md.exif.get("software"), md.xmp.get("creator_tool"), md.xmp.get("software"),
              md.text.get("Software"), md.iptc.get("originating_program")):
        if v:
            names.append(v)
    for ev in md.xmp.get("history") or []:
        if ev.get("software_agent"):
            names.append(ev["software_agent"])
    if md.container.get("encoder"):
        names.append(_encoder_name(md.container["encoder"]))
    if md.container.get("software"):
        names.append(md.container["software"])
    for s in md.container.get("streams") or []:
        if s.get("encoder"):
            names.append(_encoder_name(s["encoder"]))
    if cred.present and cred.state != "remote":
        if cred.claim_generator:
            names.append(cred.claim_generator)
        names += [a["software_agent"] for a in cred.actions if a.get("software_agent")]
    out: list[str] = []
    for n in names:  # "TestGen" is already said by "TestGen 1.0"
        key = n.lower()
        if any(o.lower() == key or o.lower().startswith(key + " ") for o in out):
            continue
        out = [o for o in out if not key.startswith(o.lower() + " ")] + [n]
    return out[:12]


def _ai_hints(md: FileMetadata) -> list[str]:
    hints = []
    for key in md.text:
        if key.lower() in w.GENERATOR_TEXT_KEYS:
            hints.append(f"{'PNG' if md.format == 'PNG' else 'text'} chunk '{key}'")
    comment = md.exif.get("user_comment") or md.exif.get("image_description") or ""
    if re.search(r"\bSteps: \d+.*\bSampler: ", comment, re.S):
        hints.append("generation parameters in the EXIF comment")
    dst = w.source_type_name(md.xmp.get("digital_source_type"))
    if dst in w.AI_SOURCE_TYPES:
        hints.append(f"XMP digital source type '{dst}'")
    for v in (md.exif.get("software"), md.xmp.get("creator_tool"), md.text.get("Software"),
              md.container.get("encoder"), md.container.get("software")):
        if v and any(g in v.lower() for g in w.GENERATOR_NAMES):
            hints.append(f"software '{v}'")
    return list(dict.fromkeys(hints))


def _credential_statements(cred: Credentials, kind: str, supplied: bool) -> list[Statement]:
    signer = cred.signer_name or "an unnamed signer"
    if cred.ok and cred.declares_ai:
        ai = next(t for t in (w.source_type_name(x) for x in cred.digital_source_types) if t in w.AI_SOURCE_TYPES)
        return [Statement("c2pa_declares_ai", "declaration",
                          w.declared_ai_text(signer, kind, ai, cred.state == "trusted", supplied))]
    if cred.ok:
        what = next((w.source_type_words(t) for t in cred.digital_source_types if w.source_type_words(t)), None)
        return [Statement("c2pa_valid", "info", w.valid_credentials_text(signer, kind, cred.state == "trusted", what,
                                                                        supplied))]
    if cred.state == "invalid":
        return [Statement("c2pa_invalid", "warning", w.invalid_credentials_text(cred.signer_name,
                                                                                 cred.failure_reasons()))]
    if cred.state == "remote":
        return [Statement("c2pa_remote", "warning", w.remote_credentials_text(cred.remote_url))]
    if cred.state == "error":
        return [Statement("c2pa_unreadable", "warning", w.unreadable_credentials_text(cred.message or "unknown"))]
    return []


def build(md: FileMetadata, cred: Credentials, *, trust: dict[str, Any] | None = None,
          trust_problem: str | None = None) -> Provenance:
    """The provenance block from what was read."""
    kind = md.kind if md.kind in ("image", "video") else "file"
    prov = Provenance(
        declared_ai_generated=cred.ok and cred.declares_ai,
        declared_by=cred.signer_name if cred.ok and cred.declares_ai else None,
        edited_with=_software(md, cred),
        camera=_camera(md),
        stripped=md.empty and not cred.present,
        gps_present=md.gps_present,
        ai_hints=_ai_hints(md),
        c2pa=cred.to_dict(),
        metadata=md.to_dict(),
        trust_list=trust or {"supplied": False},
    )
    st = prov.statements
    st += _credential_statements(cred, kind, supplied=bool(trust and trust.get("supplied")))
    if trust_problem:
        st.append(Statement("trust_list_unusable", "warning", w.trust_list_problem_text(trust_problem)))
    if prov.ai_hints and not prov.declared_ai_generated:
        st.append(Statement("ai_metadata", "hint", w.ai_hints_text(prov.ai_hints)))
    encoder = md.container.get("encoder") or ""
    if re.match(r"^Lav[fc]\d", encoder):
        st.append(Statement("reencoded", "info", w.reencoded_text(_encoder_name(encoder))))
    if prov.stripped:
        st.append(Statement("stripped", "info", w.STRIPPED_TEXT))
    elif cred.state in ("absent", "unsupported"):
        st.append(Statement("no_c2pa", "info", w.NO_C2PA_TEXT))
    if prov.gps_present:
        st.append(Statement("gps", "info", w.GPS_TEXT))
    notes = [x for x in (md.message, cred.message if cred.state in ("error", "unavailable") else None) if x]
    prov.note = "; ".join(notes) or None
    return prov
