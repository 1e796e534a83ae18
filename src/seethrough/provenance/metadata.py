"""What a file's ordinary metadata says: EXIF, IPTC, XMP, PNG/WebP text chunks and JPEG comments
(Pillow), video container and stream tags (PyAV). Read only, never decoded beyond the header.

GPS: only whether a position is present; coordinates are never read into the result.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from ..log import get_logger

log = get_logger(__name__)

MAX_TEXT = 2000  # characters kept of one text chunk, comment or tag
MAX_XMP = 1_000_000  # bytes of XMP parsed
MAX_HISTORY = 20

#: EXIF tags kept (base IFD and the Exif sub-IFD), by name in the JSON.
_EXIF_BASE = {271: "make", 272: "model", 305: "software", 306: "datetime", 315: "artist", 316: "host_computer",
              33432: "copyright", 270: "image_description"}
_EXIF_SUB = {36867: "datetime_original", 36868: "datetime_digitized", 42035: "lens_make", 42036: "lens_model",
             42033: "body_serial_number", 37510: "user_comment", 42032: "camera_owner_name"}
_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
#: IPTC-IIM datasets kept (record 2).
_IPTC = {(2, 110): "credit", (2, 80): "byline", (2, 115): "source", (2, 116): "copyright", (2, 120): "caption",
         (2, 5): "object_name", (2, 55): "date_created", (2, 65): "originating_program", (2, 105): "headline"}
_NS = {
    "x": "adobe:ns:meta/", "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "xmp": "http://ns.adobe.com/xap/1.0/", "xmpMM": "http://ns.adobe.com/xap/1.0/mm/",
    "stEvt": "http://ns.adobe.com/xap/1.0/sType/ResourceEvent#", "dc": "http://purl.org/dc/elements/1.1/",
    "photoshop": "http://ns.adobe.com/photoshop/1.0/", "Iptc4xmpExt": "http://iptc.org/std/Iptc4xmpExt/2008-02-29/",
    "tiff": "http://ns.adobe.com/tiff/1.0/", "exif": "http://ns.adobe.com/exif/1.0/",
    "dcterms": "http://purl.org/dc/terms/",
}
#: Video tags that name the device (QuickTime/Apple, Android, generic).
_DEVICE_TAGS = {"make": ("com.apple.quicktime.make", "make", "com.android.manufacturer"),
                "model": ("com.apple.quicktime.model", "model", "com.android.model"),
                "software": ("com.apple.quicktime.software", "software", "com.android.version")}
#: Container tags that only describe the file's structure: not provenance.
_STRUCTURAL = frozenset({"major_brand", "minor_version", "compatible_brands", "handler_name", "vendor_id",
                         "language", "duration", "rotate"})


@dataclass
class FileMetadata:
    """Raw metadata of one file (``provenance.metadata`` in the JSON); empty parts are omitted there."""

    kind: str = "file"  # image | video | file
    format: str | None = None
    exif: dict[str, Any] = field(default_factory=dict)
    iptc: dict[str, str] = field(default_factory=dict)
    xmp: dict[str, Any] = field(default_factory=dict)
    text: dict[str, str] = field(default_factory=dict)  # PNG/WebP text chunks, JPEG comment
    container: dict[str, Any] = field(default_factory=dict)  # video: format tags, device, encoder, streams
    gps_present: bool = False
    message: str | None = None  # why part of it could not be read

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in ({}, None) or k in ("kind", "gps_present")}

    @property
    def empty(self) -> bool:
        """Nothing that says anything about origin (structure-only tags do not count)."""
        container = {k: v for k, v in self.container.items() if k not in ("streams", "format_name", "brand")}
        streams = [s for s in self.container.get("streams") or [] if s.get("encoder") or s.get("creation_time")]
        return not (self.exif or self.iptc or self.xmp or self.text or container or streams or self.gps_present)


def _clean(value: Any, limit: int = MAX_TEXT) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    s = str(value).replace("\x00", "").strip()
    if len(s) > limit:
        s = s[:limit] + "…"
    return s or None


def _user_comment(raw: Any) -> str | None:
    """EXIF UserComment: 8 bytes of character code, then the text (Automatic1111 writes its parameters here)."""
    if isinstance(raw, bytes):
        head, body = raw[:8], raw[8:]
        if head.startswith(b"UNICODE"):
            for enc in ("utf-16-be", "utf-16-le"):
                try:
                    return _clean(body.decode(enc))
                except UnicodeDecodeError:
                    continue
        return _clean(body if head.strip(b"\x00 ") in (b"ASCII", b"", b"JIS") else raw)
    return _clean(raw)


# ------------------------------------------------------------------ images


def _exif(img, md: FileMetadata) -> None:
    exif = img.getexif()
    if not exif:
        return
    for tag, name in _EXIF_BASE.items():
        v = _clean(exif.get(tag))
        if v:
            md.exif[name] = v
    try:
        sub = exif.get_ifd(_EXIF_IFD)
    except Exception:  # noqa: BLE001 - a damaged sub-IFD loses only its tags
        sub = {}
    for tag, name in _EXIF_SUB.items():
        if tag in sub:
            v = _user_comment(sub[tag]) if tag == 37510 else _clean(sub[tag])
            if v:
                md.exif[name] = v
    try:
        gps = exif.get_ifd(_GPS_IFD)
    except Exception:  # noqa: BLE001
        gps = {}
    # A position needs latitude (2) and longitude (4); GPS IFDs with only a version or a time are not one.
    md.gps_present = bool(gps) and 2 in gps and 4 in gps


def _iptc(img, md: FileMetadata) -> None:
    from PIL import IptcImagePlugin

    try:
        info = IptcImagePlugin.getiptcinfo(img) or {}
    except Exception:  # noqa: BLE001
        return
    for key, name in _IPTC.items():
        v = info.get(key)
        if isinstance(v, list):
            v = "; ".join(_clean(x) or "" for x in v)
        v = _clean(v)
        if v:
            md.iptc[name] = v


def _xmp_bytes(img) -> bytes | None:
    for key in ("xmp", "XML:com.adobe.xmp"):
        raw = img.info.get(key)
        if raw:
            return raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)
    return None


def _xmp_value(node) -> str | None:
    """Text of a simple property, or of the first item of an rdf:Alt/Seq/Bag."""
    if node is None:
        return None
    items = node.findall(".//rdf:li", _NS)
    if items:
        return _clean("; ".join(filter(None, (_clean(i.text) for i in items))))
    return _clean(node.text)


def parse_xmp(raw: bytes) -> dict[str, Any]:
    """The provenance-relevant XMP properties (creator tool, credit, source type, edit history)."""
    raw = raw[:MAX_XMP]
    start = raw.find(b"<x:xmpmeta")
    if start < 0:
        start = raw.find(b"<rdf:RDF")
    end = raw.rfind(b"</x:xmpmeta>")
    body = raw[start:end + len(b"</x:xmpmeta>")] if start >= 0 and end > start else raw[max(start, 0):]
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:  # no entity tricks in metadata
        return {"unparsed": True}
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return {"unparsed": True}
    out: dict[str, Any] = {}
    props = {"creator_tool": "xmp:CreatorTool", "create_date": "xmp:CreateDate", "modify_date": "xmp:ModifyDate",
             "credit": "photoshop:Credit", "source": "photoshop:Source", "creator": "dc:creator",
             "rights": "dc:rights", "digital_source_type": "Iptc4xmpExt:DigitalSourceType",
             "make": "tiff:Make", "model": "tiff:Model", "software": "tiff:Software",
             "provenance": "dcterms:provenance", "document_id": "xmpMM:DocumentID"}
    for desc in root.iter(f"{{{_NS['rdf']}}}Description"):
        for name, qname in props.items():
            prefix, local = qname.split(":")
            uri = f"{{{_NS[prefix]}}}{local}"
            v = desc.get(uri)
            if v is None:
                v = _xmp_value(desc.find(qname, _NS))
            v = _clean(v, 500)
            if v and name not in out:
                out[name] = v
        history = desc.find("xmpMM:History", _NS)
        if history is not None and "history" not in out:
            events = []
            for li in history.findall(".//rdf:li", _NS)[:MAX_HISTORY]:
                ev = {}
                for key in ("action", "softwareAgent", "when", "changed"):
                    uri = f"{{{_NS['stEvt']}}}{key}"
                    v = li.get(uri)
                    if v is None:
                        child = li.find(f"stEvt:{key}", _NS)
                        v = child.text if child is not None else None
                    v = _clean(v, 200)
                    if v:
                        ev[re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()] = v
                if ev:
                    events.append(ev)
            if events:
                out["history"] = events
    return out


def _text_chunks(img, md: FileMetadata) -> None:
    chunks = dict(getattr(img, "text", None) or {}) if img.format == "PNG" else {}
    if img.format != "PNG":
        comment = img.info.get("comment")
        if comment:
            chunks["comment"] = comment
    for key, value in chunks.items():
        v = _clean(value)
        if v:
            md.text[_clean(key, 80) or "?"] = v


def read_image_metadata(path: str | Path) -> FileMetadata | None:
    """Metadata of an image Pillow can open (HEIC/HEIF through pillow-heif), else None."""
    from PIL import Image, UnidentifiedImageError

    _register_heif()
    try:
        img = Image.open(path)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return None
    with img:
        md = FileMetadata(kind="image", format=img.format)
        for part in (_exif, _iptc, _text_chunks):
            try:
                part(img, md)
            except Exception as exc:  # noqa: BLE001 - one damaged part must not hide the others
                log.debug("metadata %s of %s: %s", part.__name__, path, exc)
                md.message = f"part of the metadata is damaged ({type(exc).__name__})"
        raw = _xmp_bytes(img)
        if raw:
            md.xmp = parse_xmp(raw)
    return md


def _register_heif() -> None:
    try:
        import pillow_heif

        pillow_heif.register_heif_opener()
    except Exception:  # noqa: BLE001 - HEIC photos are then not read; everything else is
        pass


# ------------------------------------------------------------------ videos


def read_video_metadata(path: str | Path) -> FileMetadata | None:
    """Container and stream tags of a file FFmpeg (PyAV) can open, else None."""
    import av

    try:
        container = av.open(str(path), metadata_errors="replace")
    except (av.error.FFmpegError, OSError, ValueError, UnicodeDecodeError):
        return None
    with container:
        if not container.streams.video and not container.streams.audio:
            return None
        tags = {str(k).lower(): _clean(v, 500) for k, v in (container.metadata or {}).items()}
        tags = {k: v for k, v in tags.items() if v}
        md = FileMetadata(kind="video" if container.streams.video else "file", format=container.format.name)
        out: dict[str, Any] = {"format_name": container.format.name}
        for name, keys in _DEVICE_TAGS.items():
            v = next((tags[k] for k in keys if tags.get(k)), None)
            if v:
                out[name] = v
        for key in ("encoder", "creation_time", "com.apple.quicktime.creationdate", "title", "comment", "artist",
                    "copyright", "description", "date", "encoded_by"):
            if tags.get(key):
                out[key.replace("com.apple.quicktime.", "quicktime_")] = tags[key]
        md.gps_present = any(k in tags for k in ("location", "com.apple.quicktime.location.iso6709",
                                                 "location-eng", "com.android.capture.location"))
        extra = {k: v for k, v in tags.items() if k not in _STRUCTURAL and "location" not in k
                 and k.replace("com.apple.quicktime.", "quicktime_") not in out
                 and not any(k in keys for keys in _DEVICE_TAGS.values())}
        if extra:
            out["other_tags"] = dict(list(extra.items())[:30])
        if any(tags.get(k) for k in ("major_brand",)):
            out["brand"] = tags["major_brand"]
        streams = []
        for s in container.streams:
            st = {str(k).lower(): _clean(v, 300) for k, v in (s.metadata or {}).items()}
            keep = {k: v for k, v in st.items() if v and k in ("handler_name", "encoder", "creation_time", "vendor_id")}
            if keep:
                streams.append({"type": s.type, **keep})
        if streams:
            out["streams"] = streams
        md.container = out
    return md


def read_metadata(path: str | Path) -> FileMetadata:
    """Image metadata when Pillow opens the file, else container tags; an empty record when neither can."""
    for reader in (read_image_metadata, read_video_metadata):
        try:
            md = reader(path)
        except Exception as exc:  # noqa: BLE001 - an exotic file: report, do not fail
            log.debug("%s failed on %s: %s", reader.__name__, path, exc)
            md = None
        if md is not None:
            return md
    return FileMetadata(message="neither an image nor a media container that can be opened")
