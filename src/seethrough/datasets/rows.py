"""The metadata row: one media file of a dataset (no imports from the rest of the package).

One CSV row describes one media file of a dataset:

``path``
    Relative to the dataset root, POSIX separators.
``label``
    ``real`` or ``fake``.
``method``
    How a fake was made (FF++ names such as ``Deepfakes``, ``celebdf_v2``, ``dfdc``,
    ``deeperforensics:<perturbation>``, a folder name, or ``unknown``). Real rows use
    ``original``.
``dataset``
    ``ffpp``, ``celebdf``, ``dfdc``, ``deeperforensics`` or, for plain folders, the
    root folder's name.
``split``
    ``train``, ``val`` or ``test`` (empty only before splits are assigned).
``frames``
    Frame count, empty when not counted or unreadable (images count as 1).
``group``
    Identity / source-video key; splits never put one group in two splits unless an
    official split list does.
``compression``
    ``c0``, ``c23`` or ``c40`` when known, else empty.
``source``
    The original (real) video this row is, or was made from, when known.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

REAL = "real"
FAKE = "fake"
LABELS = (REAL, FAKE)
REAL_METHOD = "original"
UNKNOWN_METHOD = "unknown"
SPLITS = ("train", "val", "test")
COLUMNS = ("path", "label", "method", "dataset", "split", "frames", "group", "compression", "source")


@dataclass(slots=True)
class MetaRow:
    """One media file of a dataset; see the module docstring for the columns."""

    path: str
    label: str
    method: str
    dataset: str
    split: str = ""
    frames: int | None = None
    group: str = ""
    compression: str = ""
    source: str = ""

    def __post_init__(self) -> None:
        if self.label not in LABELS:
            raise ValueError(f"label must be one of {LABELS}, got {self.label!r} for {self.path}")
        if self.split and self.split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS} or empty, got {self.split!r} for {self.path}")

    @property
    def is_fake(self) -> bool:
        return self.label == FAKE

    @property
    def group_key(self) -> str:
        """The group, or the path for rows without one (each is then its own group)."""
        return self.group or f"path:{self.path}"

    def to_record(self) -> dict[str, str]:
        rec = {k: ("" if v is None else str(v)) for k, v in asdict(self).items()}
        return {c: rec[c] for c in COLUMNS}


__all__ = ["COLUMNS", "FAKE", "LABELS", "REAL", "REAL_METHOD", "SPLITS", "UNKNOWN_METHOD", "MetaRow"]
