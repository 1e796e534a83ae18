"""What the provenance block says, defined once: labels, source-type words, generator hints and
the sentences shown on the web page, in reports, by the CLI and by the narrator.

No heavy imports here (``seethrough.facts.for_pages`` serves the labels to the pages).
"""

from __future__ import annotations

#: Labels of the typed summary, for tables (report, CLI) and the web page.
LABELS = {
    "title": "Provenance: what the file says about itself",
    "content_credentials": "Content Credentials (C2PA)",
    "signer": "Signed by",
    "claim_generator": "Signing tool",
    "declared": "Declared as",
    "declared_invalid": "Claimed by the failing credentials",
    "camera": "Camera",
    "edited_with": "Software named",
    "gps": "GPS position",
    "ai_hints": "Generator traces (unsigned)",
    "stripped": "Metadata",
    "container": "Container tags",
}

#: One line under every provenance table: unsigned metadata is a lead, not evidence of origin.
UNSIGNED_NOTE = ("Only valid signed Content Credentials are tamper-evident; any other metadata can be written, "
                 "changed or removed by anyone. The detector's verdict never uses any of it.")

#: ``c2pa.state`` values: what became of the Content Credentials.
C2PA_STATES = {
    "absent": "none in the file",
    "trusted": "valid, signer in the trust list supplied",
    "valid": "valid signature, signer not in a trust list",
    "invalid": "present but fail validation",
    "remote": "stored online, not checked (no network)",
    "unsupported": "cannot be read from this format",
    "error": "could not be read",
    "unavailable": "not checked (c2pa-python is not installed)",
}

#: IPTC digital source types (the last part of http://cv.iptc.org/newscodes/digitalsourcetype/...),
#: as the words of "this image was ...".
SOURCE_TYPE_WORDS = {
    "trainedAlgorithmicMedia": "made by a generative model",
    "compositeWithTrainedAlgorithmicMedia": "made in part by a generative model (a composite with generated content)",
    "algorithmicMedia": "made by an algorithm (not a trained model)",
    "compositeSynthetic": "a composite including synthetic elements",
    "digitalCapture": "captured by a digital camera",
    "computationalCapture": "captured by a camera with computational processing",
    "negativeFilm": "scanned from a film negative",
    "positiveFilm": "scanned from film",
    "print": "scanned from a print",
    "humanEdits": "edited by a person",
    "minorHumanEdits": "lightly edited by a person",
    "algorithmicallyEnhanced": "enhanced by an algorithm",
    "digitalCreation": "created digitally by a person",
    "digitalArt": "created digitally by a person",
    "dataDrivenMedia": "generated from data",
    "screenCapture": "a screen capture",
    "virtualRecording": "a recording of a virtual scene",
    "composite": "a composite of several sources",
    "compositeCapture": "a composite of several captures",
}

#: Source types that declare generative-model output (``declared_ai_generated`` when signed and valid).
AI_SOURCE_TYPES = frozenset({"trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia"})

#: PNG/WebP text-chunk keys that image-generator tools write (Automatic1111/Forge/SD.Next: parameters;
#: ComfyUI: prompt, workflow; InvokeAI: invokeai_metadata, sd-metadata, Dream; NovelAI: Comment + Software).
GENERATOR_TEXT_KEYS = frozenset({"parameters", "prompt", "workflow", "invokeai_metadata", "invokeai_graph",
                                 "sd-metadata", "dream", "generation_data", "comfyui"})

#: Software names that identify an image or video generator when they appear in (unsigned) metadata.
GENERATOR_NAMES = ("stable diffusion", "midjourney", "dall-e", "dall·e", "firefly", "novelai", "comfyui",
                   "invokeai", "automatic1111", "imagen", "flux", "leonardo.ai", "runway", "sora", "ideogram")

#: Reasons a C2PA validation failed, in words (the code prefix before the first dot or the whole code).
FAILURE_WORDS = {
    "assertion.dataHash.mismatch": "the content no longer matches its signed hash, so it was changed after signing",
    "assertion.bmffHash.mismatch": "the content no longer matches its signed hash, so it was changed after signing",
    "assertion.boxesHash.mismatch": "the content no longer matches its signed hash, so it was changed after signing",
    "assertion.collectionHash.mismatch": "the content no longer matches its signed hash, so it was changed "
                                         "after signing",
    "assertion.hashedURI.mismatch": "a signed statement inside the credentials was altered",
    "claimSignature.mismatch": "the signature does not match the signed claim",
    "claimSignature.missing": "the signature is missing",
    "signingCredential.expired": "the signing certificate had expired",
    "signingCredential.revoked": "the signing certificate was revoked",
    "signingCredential.invalid": "the signing certificate is not valid for signing",
    "timeStamp.mismatch": "the time stamp does not match",
}
HASH_MISMATCH_CODES = frozenset(k for k in FAILURE_WORDS if k.endswith("Hash.mismatch"))


def source_type_name(uri: str | None) -> str | None:
    """``http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia`` -> ``trainedAlgorithmicMedia``."""
    if not uri:
        return None
    return str(uri).rstrip("/").rsplit("/", 1)[-1] or None


def source_type_words(uri: str | None) -> str | None:
    name = source_type_name(uri)
    return SOURCE_TYPE_WORDS.get(name or "", None)


# ------------------------------------------------------------------ the sentences

def _trust_words(trusted: bool, supplied: bool) -> str:
    if trusted:
        return "is in the trust list supplied"
    return "is not in the trust list supplied" if supplied else "is not in a trust list"


def declared_ai_text(signer: str, kind: str, source_type: str, trusted: bool, supplied: bool = False) -> str:
    """The signed AI-generation declaration, shown above the verdict and stated by the narrator."""
    words = SOURCE_TYPE_WORDS.get(source_type, "made by a generative model")
    if trusted:
        how = f"the signature is valid and {signer} {_trust_words(True, supplied)}"
    else:
        how = (f"the signature is valid, but {signer} {_trust_words(False, supplied)}, so who holds the signing "
               "certificate is not confirmed")
    return f"Content Credentials signed by {signer} say this {kind} was {words}; {how}."


def valid_credentials_text(signer: str, kind: str, trusted: bool, what: str | None, supplied: bool = False) -> str:
    trust = _trust_words(trusted, supplied)[3:]
    said = f"; they say this {kind} was {what}" if what else ""
    return f"Content Credentials signed by {signer} ({trust}) are valid{said}."


def invalid_credentials_text(signer: str | None, reasons: list[str]) -> str:
    by = f" signed by {signer}" if signer else ""
    why = "; ".join(reasons) if reasons else "validation failed"
    return (f"Warning: this file carries Content Credentials{by} that fail validation ({why}). "
            "Do not rely on what they say: the file was changed after signing, or the credentials are "
            "damaged or forged.")


def remote_credentials_text(url: str | None) -> str:
    where = f" at {url}" if url else ""
    return (f"The file points to Content Credentials stored online{where}; seethrough never fetches anything "
            "from the network, so they were not checked.")


def unreadable_credentials_text(reason: str) -> str:
    return f"The Content Credentials in this file could not be read ({reason})."


NO_C2PA_TEXT = ("The file carries no Content Credentials. That proves nothing: most cameras and tools do not "
                "sign yet, and most platforms remove them.")
STRIPPED_TEXT = ("The file carries no metadata at all. That proves nothing either way: most platforms and "
                 "messaging apps remove metadata when a file is uploaded or shared.")
GPS_TEXT = "The metadata holds a GPS position (not shown)."


def ai_hints_text(hints: list[str]) -> str:
    return (f"Unsigned metadata points to an image generator ({'; '.join(hints)}). Anyone can add or remove "
            "such metadata, so it is a lead to follow, not proof.")


def reencoded_text(encoder: str) -> str:
    return (f"The container was written by {encoder}: the file was re-encoded or repackaged, so it is not the "
            "original file from a camera or phone.")


def trust_list_problem_text(reason: str) -> str:
    return f"The trust list could not be used ({reason}); signers are reported as not in a trust list."
