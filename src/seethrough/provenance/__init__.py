"""Provenance evidence: what a file says about itself (Content Credentials, EXIF/IPTC/XMP, text chunks,
container tags). Read before the face stage of :func:`seethrough.analysis.analyze`; it never changes
the detector's score or verdict, and a failure here never fails an analysis.

Heavy imports (c2pa, Pillow, PyAV) happen inside the functions.
"""

from __future__ import annotations

import time
from pathlib import Path

from ..log import get_logger
from .credentials import Credentials, TrustList, TrustListError, load_trust_list, read_credentials, trust_list_for
from .display import display_rows, headline_statements, statement_texts
from .metadata import FileMetadata, read_metadata
from .summary import Provenance, Statement, build

log = get_logger(__name__)

#: Environment variable naming a default trust list (PEM) for every command and the web app.
TRUST_ENV = "SEETHROUGH_C2PA_TRUST"


def read_provenance(path: str | Path, *, trust: str | Path | None = None) -> Provenance:
    """The provenance block of ``path``. ``trust``: a PEM file of trusted root certificates.

    Never raises for a property of the file: unreadable parts become the block's ``note`` and a
    trust list that cannot be used becomes a warning (signers are then not in a trust list).
    """
    t0 = time.perf_counter()
    trust_list, problem = None, None
    if trust:
        try:
            trust_list = trust_list_for(trust)
        except TrustListError as exc:
            problem = str(exc)
    md = read_metadata(path)
    cred = read_credentials(path, trust_list)
    prov = build(md, cred, trust=trust_list.describe() if trust_list else None, trust_problem=problem)
    log.debug("provenance of %s in %.1f ms: c2pa %s", Path(path).name, (time.perf_counter() - t0) * 1000, cred.state)
    return prov


def failed_provenance(exc: BaseException) -> Provenance:
    """The block when reading provenance failed unexpectedly: empty, with the reason as its note."""
    return Provenance(note=f"provenance could not be read ({type(exc).__name__}); the analysis went on without it",
                      c2pa=Credentials(state="error", message=type(exc).__name__).to_dict())


__all__ = ["Credentials", "FileMetadata", "Provenance", "Statement", "TRUST_ENV", "TrustList", "TrustListError",
           "display_rows", "failed_provenance", "headline_statements", "load_trust_list", "read_provenance",
           "statement_texts"]
