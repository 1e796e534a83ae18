"""Which groups of a labelled set are held out: the committed benchmark split.

A split file (``configs/benchmark_split.json``) names, per dataset, the groups of its
``test`` part (the cross-source benchmark: never used for training, fine-tuning,
calibration or thresholds) and of its ``calib`` part (where calibration, thresholds and
abstention gates are fitted). Every other group is ``train``. A dataset is a labels CSV's
folder name (``dfdc_faces``, ``real_videos``, ``cross_source``); its ``group_column``
says which column holds the group (a source repository, a source video, an identity).

Files of one group share camera, person and encoding, so splits are always by group,
never by file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..errors import ConfigError

Part = Literal["train", "calib", "test"]
PARTS: tuple[Part, ...] = ("train", "calib", "test")


@dataclass(frozen=True)
class DatasetSplit:
    group_column: str
    test: frozenset[str]
    calib: frozenset[str]

    def part_of(self, group: str) -> Part:
        if group in self.test:
            return "test"
        if group in self.calib:
            return "calib"
        return "train"


@dataclass(frozen=True)
class HeldoutSplit:
    path: Path
    version: int
    datasets: dict[str, DatasetSplit]

    def dataset(self, name: str) -> DatasetSplit:
        try:
            return self.datasets[name]
        except KeyError:
            raise ConfigError(f"{self.path} has no split for the dataset {name!r} "
                              f"(it knows {', '.join(sorted(self.datasets))})") from None

    def part_of_row(self, dataset: str, row: dict) -> Part:
        ds = self.dataset(dataset)
        group = row.get(ds.group_column)
        if not group:
            raise ConfigError(f"a {dataset} row has no {ds.group_column!r}: {row.get('path')}")
        return ds.part_of(group)


def default_split_path() -> Path:
    """``configs/benchmark_split.json`` of the source checkout this package runs from."""
    return Path(__file__).resolve().parents[3] / "configs" / "benchmark_split.json"


def load_split(path: str | Path | None = None) -> HeldoutSplit:
    path = Path(path) if path else default_split_path()
    if not path.is_file():
        raise ConfigError(f"Split file not found: {path}")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        datasets = {
            name: DatasetSplit(d.get("group_column", "group"), frozenset(d.get("test", [])), frozenset(d.get("calib", [])))
            for name, d in raw["datasets"].items()
        }
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"{path} is not a valid split file: {exc}") from exc
    for name, d in datasets.items():
        if d.test & d.calib:
            raise ConfigError(f"{path}: {name} puts {sorted(d.test & d.calib)[:3]} in both test and calib")
    return HeldoutSplit(path, int(raw.get("version", 1)), datasets)


def dataset_name(csv_path: str | Path) -> str:
    """The dataset a labels CSV belongs to: the name of its folder."""
    return Path(csv_path).resolve().parent.name
