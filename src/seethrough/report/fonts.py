"""Fonts of the PDF report and its charts: DejaVu (shipped with matplotlib), registered with reportlab once."""

from __future__ import annotations

import threading
import unicodedata
from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

from ..log import get_logger

log = get_logger(__name__)


class Fonts:
    """DejaVu fonts shipped with matplotlib, registered once; Helvetica if they are missing."""

    _lock = threading.Lock()
    _ready = False
    sans, bold, italic, serif_bold, mono = "Helvetica", "Helvetica-Bold", "Helvetica-Oblique", "Times-Bold", "Courier"
    glyphs: frozenset[int] | None = None  # code points the sans font can draw (None: Latin-1 only)
    mono_glyphs: frozenset[int] | None = None

    @classmethod
    def ensure(cls) -> type[Fonts]:
        with cls._lock:
            if cls._ready:
                return cls
            cls._ready = True
            try:
                import matplotlib

                folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
                files = {
                    "STSans": "DejaVuSans.ttf", "STSans-Bold": "DejaVuSans-Bold.ttf",
                    "STSans-Oblique": "DejaVuSans-Oblique.ttf", "STSans-BoldOblique": "DejaVuSans-BoldOblique.ttf",
                    "STSerif-Bold": "DejaVuSerif-Bold.ttf", "STMono": "DejaVuSansMono.ttf",
                }
                fonts = {name: TTFont(name, str(folder / fn)) for name, fn in files.items()}
            except Exception as exc:  # noqa: BLE001 - any font problem: fall back to the built-in fonts
                log.warning("DejaVu fonts unavailable (%s); PDF text limited to Latin-1", exc)
                return cls
            for font in fonts.values():
                pdfmetrics.registerFont(font)
            pdfmetrics.registerFontFamily("STSans", normal="STSans", bold="STSans-Bold",
                                          italic="STSans-Oblique", boldItalic="STSans-BoldOblique")
            cls.sans, cls.bold, cls.italic = "STSans", "STSans-Bold", "STSans-Oblique"
            cls.serif_bold, cls.mono = "STSerif-Bold", "STMono"
            cls.glyphs = frozenset(fonts["STSans"].face.charToGlyph)
            cls.mono_glyphs = frozenset(fonts["STMono"].face.charToGlyph)  # covers less than the sans font
            return cls


def drawable(text: str, glyphs: frozenset[int] | None) -> tuple[str, bool]:
    """Replace characters the font cannot draw (and control characters) with U+FFFD / '?'."""
    out, replaced = [], False
    for ch in str(text):
        if ch == "\n":
            out.append(ch)
            continue
        cat = unicodedata.category(ch)
        ok = cat not in ("Cc", "Cs", "Co", "Cn") and (ord(ch) in glyphs if glyphs is not None else ord(ch) < 256)
        if ok:
            out.append(ch)
        else:
            replaced = True
            out.append("\ufffd" if glyphs is not None and 0xFFFD in glyphs else "?")
    return "".join(out), replaced
