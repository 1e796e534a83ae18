"""Facts that several parts of the product show, defined once and imported (no heavy imports here)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal, get_args

#: How one analysis ended: a verdict (``ok``), no usable face, or an error (with its code).
AnalysisStatus = Literal["ok", "no_face", "error"]

#: The verdicts, in order from "no sign" to "manipulated", and how a page or report labels them.
Verdict = Literal["real", "uncertain", "fake"]
VERDICTS: tuple[str, ...] = get_args(Verdict)
VERDICT_LABELS = {"real": "Real", "uncertain": "Uncertain", "fake": "Fake"}

#: Facial regions (keys of ``seethrough.faces.regions``): the label in tables and charts, the words in
#: sentences. Left and right are the person's own, as in the landmark convention.
REGIONS = {
    "right_eye": ("right eye (person's)", "the person's right eye"),
    "left_eye": ("left eye (person's)", "the person's left eye"),
    "right_brow": ("right eyebrow (person's)", "the person's right eyebrow"),
    "left_brow": ("left eyebrow (person's)", "the person's left eyebrow"),
    "nose": ("nose", "the nose"),
    "mouth": ("mouth", "the mouth"),
    "right_cheek": ("right cheek (person's)", "the person's right cheek"),
    "left_cheek": ("left cheek (person's)", "the person's left cheek"),
    "forehead": ("forehead", "the forehead"),
    "jaw_chin": ("jaw and chin", "the jaw and chin"),
    "boundary": ("blend boundary (face outline)", "the blending boundary around the face"),
}
REGION_LABELS = {k: label for k, (label, _) in REGIONS.items()}
REGION_WORDS = {k: words for k, (_, words) in REGIONS.items()}


def region_label(key: str | None) -> str | None:
    """The table/chart label of a region key (an unknown key is shown with spaces)."""
    if not key:
        return None
    return REGION_LABELS.get(key, key.replace("_", " "))


#: The manipulation families of the bundled model's method head (the keys of a checkpoint's
#: ``methods``), each with what it covers and the FaceForensics++ methods it includes. A key's
#: label is the key with spaces ("learned face swap"), so a name normalises alike either way.
METHOD_FAMILIES = {
    "learned_face_swap": ("a learned model puts another person's face on the head (DeepFaceLab, SimSwap, "
                          "InSwapper, GHOST)", ("Deepfakes", "FaceShifter")),
    "graphics_face_swap": ("another face warped onto the landmarks and blended in", ("FaceSwap",)),
    "reenactment": ("the person's own face driven by another's expression or motion (First Order Motion, "
                    "LivePortrait)", ("Face2Face", "NeuralTextures")),
    "talking_head": ("talking-head or lip-sync synthesis from audio or one photo (Wav2Lip, SadTalker, "
                     "AniPortrait)", ()),
    "synthetic_face": ("a whole face generated, of no real person (GAN or diffusion: StyleGAN, FLUX)", ()),
    "attribute_editing": ("age, expression or hair changed in a generator's latent space (InterFaceGAN, "
                          "StyleCLIP, SAM)", ()),
}
#: What each FaceForensics++ method is (a model trained with ``seethrough train`` names these).
FFPP_METHOD_NOTES = {
    "Deepfakes": "learned face swap (autoencoder)",
    "FaceSwap": "graphics-based face swap",
    "Face2Face": "expression reenactment",
    "NeuralTextures": "neural-rendering reenactment",
    "FaceShifter": "learned face swap (GAN)",
}
#: The family a FaceForensics++ method belongs to.
FFPP_FAMILY = {m: key for key, (_, ffpp) in METHOD_FAMILIES.items() for m in ffpp}


def method_label(name: str) -> str:
    """How a method-head name is shown: a family key with spaces, any other name (FF++'s) as it is."""
    return name.replace("_", " ") if name in METHOD_FAMILIES else name


def method_note(name: str) -> str:
    """One line on what a method-head name covers, with FaceForensics++'s names where they fit."""
    if name in METHOD_FAMILIES:
        what, ffpp = METHOD_FAMILIES[name]
        return what + (f"; FaceForensics++: {', '.join(ffpp)}" if ffpp else "")
    return FFPP_METHOD_NOTES.get(name, "")


def for_pages() -> dict:
    """What the web pages' script needs of these facts (served inside every page)."""
    from .provenance.wording import C2PA_STATES, LABELS, SOURCE_TYPE_WORDS, UNSIGNED_NOTE

    return {"verdict_labels": VERDICT_LABELS, "region_labels": REGION_LABELS,
            "method_labels": {k: method_label(k) for k in METHOD_FAMILIES},
            "provenance": {"labels": LABELS, "c2pa_states": C2PA_STATES, "source_types": SOURCE_TYPE_WORDS,
                           "unsigned_note": UNSIGNED_NOTE}}


#: Where the web app keeps its database, uploads and results unless SEETHROUGH_DATA says otherwise,
#: and the SQLite file in it (``DATABASE_URL`` replaces the file).
WEB_DATA_DIR = ".seethrough/web"
WEB_DB_FILE = "seethrough.db"


def sqlite_url(data_dir: str | Path) -> str:
    """The web app's default database: SQLite in ``data_dir``."""
    return f"sqlite:///{(Path(data_dir) / WEB_DB_FILE).resolve()}"


#: Version of the analysis JSON (``schemas/analysis.schema.json``): minor versions only add fields.
SCHEMA_VERSION = "1.4"


# ---------------------------------------------------------------- how a probability is written
# One formatter for the narrator, the reports, the web page (through the API) and the CLI, so a
# reader never sees 70% in one place and 69.5% in another for the same analysis.


def half_up(x: float, decimals: int) -> float:
    scale = 10**decimals
    return math.floor(x * scale + 0.5) / scale


def pct(p: float, decimals: int | None = None) -> str:
    """A probability as a percentage a reader can quote: 0.8731 -> ``"87%"``.

    Whole percent by default; one decimal near the ends (0.997 -> ``"99.7%"``) so a
    probability is never shown as 0% or 100%, and a bound beyond that
    (``"more than 99.9%"``, ``"less than 0.1%"``).
    """
    v = 100.0 * float(p)
    if decimals is None:
        if 0.5 <= v < 99.5:
            decimals = 0
        elif 0.05 <= v < 99.95:
            decimals = 1
        elif v >= 99.95:
            return "more than 99.9%"
        else:
            return "less than 0.1%"
    r = half_up(v, decimals)
    return f"{r:.{decimals}f}%"


def overall_pct(p: float, thresholds: dict | None) -> str:
    """Like :func:`pct`, with more decimals when the rounded value would equal a
    rounded threshold it is not equal to (0.695 vs 0.70 -> ``"69.5%"``, not ``"70%"``)."""
    shown = pct(p)
    if not thresholds or not shown[0].isdigit():
        return shown
    for decimals in (0, 1, 2):
        shown = pct(p, decimals) if decimals else pct(p)
        clash = False
        for t in thresholds.values():
            if t is None or abs(float(t) - p) < 1e-12:
                continue
            if half_up(100 * float(t), decimals) == half_up(100 * p, decimals):
                clash = True
        if not clash:
            return shown
    return shown


# ---------------------------------------------------------------- how a size in bytes is written
# Decimal units (1 MB = 10^6 bytes), as the web app's upload limits are stated.

SIZE_UNITS = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}


def size_text(n: int) -> str:
    """``1_234_567`` -> ``"1.2 MB"``; under 1 KB in bytes."""
    for unit in ("TB", "GB", "MB", "KB"):
        if n >= SIZE_UNITS[unit]:
            return f"{n / SIZE_UNITS[unit]:.1f} {unit}"
    return f"{n} B"


def parse_size(text: str) -> int:
    """``"2GB"``, ``"500 MB"``, ``"1.5gb"``, ``"1000"`` (bytes) -> bytes; a clear error otherwise."""
    import re

    from .errors import ConfigError

    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT]?B)?\s*", text, re.IGNORECASE)
    if not m:
        raise ConfigError(f"Not a size: {text!r}; write it as 500MB, 2GB or a number of bytes.")
    return int(float(m.group(1)) * SIZE_UNITS[(m.group(2) or "B").upper()])
