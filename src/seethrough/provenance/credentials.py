"""Content Credentials (C2PA) with ``c2pa-python``: is there a manifest, is it valid, who signed it,
what does it declare. Offline: remote manifests and OCSP are never fetched.

Trust: signatures, certificate chains and content hashes are always validated. Whether the signer
is *trusted* is only decided against a trust list the user supplies (a PEM file of root
certificates); without one every valid signer is reported as not in a trust list.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from ..errors import SeethroughError
from ..log import get_logger
from .wording import AI_SOURCE_TYPES, FAILURE_WORDS, HASH_MISMATCH_CODES, source_type_name

log = get_logger(__name__)

State = Literal["absent", "trusted", "valid", "invalid", "remote", "unsupported", "error", "unavailable"]

_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----\s+[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----")
#: Validation codes that only say the signer is not in the trust list in use (not a broken signature).
_TRUST_CODES = frozenset({"signingCredential.untrusted"})
MAX_LISTED = 20  # actions and ingredients kept per manifest


class TrustListError(SeethroughError):
    """A trust-list file cannot be used."""

    code = "trust_list"


@dataclass(frozen=True)
class TrustList:
    """Root certificates (PEM) a signer must chain to, to count as trusted."""

    pem: str
    count: int
    source: str

    def describe(self) -> dict[str, Any]:
        return {"supplied": True, "file": Path(self.source).name, "certificates": self.count}


def load_trust_list(path: str | Path) -> TrustList:
    """Read a PEM bundle of trust anchors; :class:`TrustListError` with the reason if it is not one."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise TrustListError(f"The trust list {p} does not exist.") from None
    except IsADirectoryError:
        raise TrustListError(f"The trust list {p} is a folder; give a PEM file of root certificates.") from None
    except OSError as exc:
        raise TrustListError(f"The trust list {p} cannot be read ({exc.strerror or exc}).") from None
    certs = _PEM_CERT.findall(data)
    if not certs:
        raise TrustListError(f"The trust list {p} holds no PEM certificates (-----BEGIN CERTIFICATE----- blocks); "
                             "give the root certificates of the signers you trust, in PEM.")
    return TrustList(pem=b"\n".join(certs).decode("ascii") + "\n", count=len(certs), source=str(p))


@lru_cache(maxsize=8)
def _cached_trust(path: str, mtime_ns: int, size: int) -> TrustList:  # noqa: ARG001 - cache key
    return load_trust_list(path)


def trust_list_for(path: str | Path | None) -> TrustList | None:
    """The trust list at ``path`` (cached while the file is unchanged), or None for no path."""
    if not path:
        return None
    p = Path(path)
    try:
        st = p.stat()
    except OSError:
        return load_trust_list(p)  # raises with the reason
    return _cached_trust(str(p), st.st_mtime_ns, st.st_size)


def _settings(trust: TrustList | None) -> dict[str, Any]:
    """Reader settings: nothing from the network, trust only against the user's list."""
    verify = {"verify_after_reading": True, "remote_manifest_fetch": False, "ocsp_fetch": False,
              "verify_trust": trust is not None, "verify_timestamp_trust": False}
    settings: dict[str, Any] = {"verify": verify}
    if trust is not None:
        settings["trust"] = {"trust_anchors": trust.pem}
    return settings


@dataclass
class Credentials:
    """What the Content Credentials of one file say (``provenance.c2pa`` in the JSON)."""

    state: State = "absent"
    present: bool = False
    validation_state: str | None = None  # the library's word: Valid, Trusted, Invalid
    signer: dict[str, Any] | None = None  # common_name, organization, issuer, serial, not_before, not_after, alg
    claim_generator: str | None = None
    title: str | None = None
    format: str | None = None
    actions: list[dict[str, Any]] = field(default_factory=list)
    digital_source_types: list[str] = field(default_factory=list)  # of the active manifest and its ingredients
    ingredients: list[dict[str, Any]] = field(default_factory=list)
    hash_matches: bool | None = None  # None: absent, or the library did not check a content hash
    failures: list[dict[str, str]] = field(default_factory=list)  # code, explanation
    manifests: int = 0
    remote_url: str | None = None
    message: str | None = None
    library: str | None = None  # c2pa-rs version

    @property
    def ok(self) -> bool:
        return self.state in ("valid", "trusted")

    @property
    def declares_ai(self) -> bool:
        return any(source_type_name(t) in AI_SOURCE_TYPES for t in self.digital_source_types)

    @property
    def signer_name(self) -> str | None:
        s = self.signer or {}
        return s.get("organization") or s.get("common_name")

    def failure_reasons(self) -> list[str]:
        out = []
        for f in self.failures:
            words = FAILURE_WORDS.get(f["code"]) or f.get("explanation") or f["code"]
            if words not in out:
                out.append(words)
        return out

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _text(x: Any, limit: int = 300) -> str | None:
    if x is None:
        return None
    s = " ".join(str(x).split())
    return s[:limit] or None


def _agent(value: Any) -> str | None:
    """A softwareAgent / claim_generator_info entry: a string or ``{name, version}``."""
    if isinstance(value, dict):
        name, version = value.get("name"), value.get("version")
        return _text(f"{name} {version}" if name and version else name)
    return _text(value)


def _certificate(crjson: dict, label: str | None) -> dict[str, Any]:
    """Subject and issuer of the signing certificate, from the crJSON report of the manifest."""
    for m in crjson.get("manifests") or []:
        if label and m.get("label") != label:
            continue
        info = ((m.get("signature") or {}).get("certificateInfo")) or {}
        subject, issuer = info.get("subject") or {}, info.get("issuer") or {}
        validity = info.get("validity") or {}
        return {"common_name": _text(subject.get("CN")), "organization": _text(subject.get("O")),
                "subject": _dn(subject), "issuer": _dn(issuer), "issuer_organization": _text(issuer.get("O") or issuer.get("CN")),
                "serial": _text(info.get("serialNumber")), "not_before": validity.get("notBefore"),
                "not_after": validity.get("notAfter")}
    return {}


def _dn(parts: dict) -> str | None:
    if not parts:
        return None
    return _text(", ".join(f"{k}={v}" for k, v in parts.items()))


def _failures(results: dict | None, store: dict) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    results = results or {}
    groups = [(results.get("activeManifest") or {}).get("failure") or []]
    for delta in results.get("ingredientDeltas") or []:
        groups.append(((delta.get("validationDeltas") or {}).get("failure")) or [])
    if not any(groups):
        groups = [[s for s in store.get("validation_status") or [] if s.get("code")]]
    for group in groups:
        for f in group:
            code = str(f.get("code") or "")
            if code and code not in _TRUST_CODES and not any(x["code"] == code for x in out):
                out.append({"code": code, "explanation": _text(f.get("explanation")) or code})
    return out


def _hash_checked(results: dict | None) -> bool | None:
    active = (results or {}).get("activeManifest") or {}
    codes = [str(s.get("code")) for s in (active.get("success") or []) + (active.get("failure") or [])]
    if any(c in HASH_MISMATCH_CODES for c in codes):
        return False
    if any(c.endswith("Hash.match") and c.startswith("assertion.") and "hashedURI" not in c for c in codes):
        return True
    return None


def _fill(cred: Credentials, store: dict, results: dict | None, crjson: dict) -> None:
    manifests = store.get("manifests") or {}
    label = store.get("active_manifest")
    active = manifests.get(label) or {}
    cred.manifests = len(manifests)
    cred.title = _text(active.get("title"))
    cred.format = _text(active.get("format"))
    gens = active.get("claim_generator_info") or []
    cred.claim_generator = _agent(gens[0]) if gens else _text(active.get("claim_generator"))
    sig = active.get("signature_info") or {}
    cert = _certificate(crjson, label)
    cred.signer = {"common_name": cert.get("common_name") or _text(sig.get("common_name")),
                   "organization": cert.get("organization") or _text(sig.get("issuer")),
                   "subject": cert.get("subject"), "issuer": cert.get("issuer"),
                   "issuer_organization": cert.get("issuer_organization"), "serial": cert.get("serial"),
                   "not_before": cert.get("not_before"), "not_after": cert.get("not_after"),
                   "alg": _text(sig.get("alg")), "signed_at": _text(sig.get("time"))}
    types: list[str] = []

    def actions_of(manifest: dict) -> list[dict]:
        found = []
        for a in manifest.get("assertions") or []:
            if str(a.get("label", "")).startswith("c2pa.actions"):
                found += (a.get("data") or {}).get("actions") or []
        return found

    for a in actions_of(active)[:MAX_LISTED]:
        entry = {"action": _text(a.get("action")), "digital_source_type": _text(a.get("digitalSourceType")),
                 "software_agent": _agent(a.get("softwareAgent")), "when": _text(a.get("when"))}
        cred.actions.append({k: v for k, v in entry.items() if v is not None})
        if entry["digital_source_type"]:
            types.append(entry["digital_source_type"])
    for ing in (active.get("ingredients") or [])[:MAX_LISTED]:
        child = manifests.get(ing.get("active_manifest") or "") or {}
        ing_types = [t for t in (_text(a.get("digitalSourceType")) for a in actions_of(child)) if t]
        types += ing_types
        cred.ingredients.append({k: v for k, v in {
            "title": _text(ing.get("title")), "format": _text(ing.get("format")),
            "relationship": _text(ing.get("relationship")), "has_credentials": bool(child),
            "digital_source_types": ing_types or None,
        }.items() if v is not None})
    cred.digital_source_types = list(dict.fromkeys(types))
    cred.failures = _failures(results, store)
    cred.hash_matches = _hash_checked(results)


def read_credentials(path: str | Path, trust: TrustList | None = None) -> Credentials:
    """The Content Credentials of ``path``; problems become ``state`` and ``message``, never exceptions."""
    try:
        import c2pa
    except Exception as exc:  # noqa: BLE001 - missing or broken native library
        log.warning("c2pa-python unavailable: %s", exc)
        return Credentials(state="unavailable", message=f"c2pa-python cannot be imported ({type(exc).__name__})")
    cred = Credentials(library=_text(c2pa.sdk_version()))
    try:
        context = c2pa.Context.from_dict(_settings(trust))
        reader = c2pa.Reader.try_create(str(path), context=context)
    except c2pa.C2paError as exc:
        text = str(exc)
        name = type(exc).__name__
        if "NotSupported" in name or text.startswith("NotSupported"):
            cred.state, cred.message = "unsupported", "this file format cannot carry Content Credentials that c2pa reads"
        elif "Remote" in name or text.startswith("Remote"):
            m = re.search(r"https?://\S+", text)
            cred.state, cred.present, cred.remote_url = "remote", True, m.group(0) if m else None
            cred.message = "a remote manifest is referenced; nothing is fetched"
        else:
            cred.state, cred.present, cred.message = "error", True, _text(text, 200)
        return cred
    if reader is None:
        return cred
    with reader:
        cred.present = True
        store = json.loads(reader.json())
        results = reader.get_validation_results()
        try:
            crjson = json.loads(reader.crjson())
        except Exception:  # noqa: BLE001 - only the certificate's issuer is lost
            crjson = {}
        try:
            if not reader.is_embedded():
                cred.remote_url = reader.get_remote_url()
        except Exception:  # noqa: BLE001
            pass
        state = (reader.get_validation_state() or "").strip()
    cred.validation_state = state or None
    _fill(cred, store, results, crjson)
    if state == "Trusted":
        cred.state = "trusted"
    elif state == "Valid":  # failures, if any, are an ingredient's (kept in the JSON)
        cred.state = "valid"
    else:
        cred.state = "invalid"
    return cred
