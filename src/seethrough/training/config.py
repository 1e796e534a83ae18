"""Training configuration: a YAML file validated by pydantic.

Every run writes its resolved config next to its metrics and checkpoints, so a
result can always be traced back to exactly what produced it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..errors import ConfigError
from .augment import AugmentConfig


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Listed(_Strict):
    """What every listed source shares: which rows are used and how they are drawn."""

    csv: Path
    root: Path | None = None  # folder the paths are relative to (default: the CSV's folder)
    limit: int | None = None  # use at most this many rows (quick experiments, tests)
    # The committed held-out split (configs/benchmark_split.json): only rows of ``part`` are used,
    # so benchmark and calibration groups never reach training.
    heldout: Path | None = None
    part: Literal["train", "calib", "test"] = "train"
    skip_grid: bool = True  # composites (grid=1) are whole-file tests, never training crops
    only: Literal["real", "fake"] | None = None  # use only the rows of this label (e.g. reals for self-blends)
    # What "a source" is for source-balanced sampling (frames.source_balance): the whole list,
    # or each of its groups (e.g. cross_source's repositories).
    balance_by: Literal["list", "group"] = "list"


class CropSource(_Listed):
    """Face crops listed in a CSV (``path,label[,group][,method]``), e.g. the DFDC crops."""

    kind: Literal["crops"] = "crops"
    fake_method: str = "Deepfakes"  # method label for fake rows without a method column


class VideoSource(_Listed):
    """Videos or images listed in a metadata CSV (``seethrough prep meta``, or a ``cross_source``-style
    list); faces are cropped on the fly and cached."""

    kind: Literal["videos"] = "videos"
    frames: int = 16


class PackedSource(_Strict):
    """Face crops packed into one file by ``seethrough pack-training`` (see ``training/pack.py``):
    a run that travels to a machine without the data folders."""

    kind: Literal["packed"] = "packed"
    path: Path


class SynthConfig(_Strict):
    """Pseudo-fakes made from real faces during training (see ``seethrough.synth``)."""

    prob: float = 0.5  # chance that a real training face is turned into a pseudo-fake
    families: dict[str, float] = Field(default_factory=lambda: {"self_blend": 0.6, "face_swap": 0.2, "reenact": 0.2})
    # Method-head label of each family; None = blend-only artefacts, excluded from the method loss.
    method_of: dict[str, str | None] = Field(
        default_factory=lambda: {"self_blend": None, "face_swap": "FaceSwap", "reenact": "Face2Face"}
    )


class DataConfig(_Strict):
    sources: list[Annotated[CropSource | VideoSource | PackedSource, Field(discriminator="kind")]]
    image_size: int = 224
    crop_margin: float = 1.0  # face crop margin at inference for video sources (1.0 = tight, as the DFDC crops)
    val_frac: float = 0.1
    synth: SynthConfig = Field(default_factory=SynthConfig)
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    cache_dir: Path = Path(".seethrough/cache")


class ModelConfig(_Strict):
    backbone: str = "efficientnet_lite0"
    pretrained: bool = True
    weights_path: Path | None = None
    temporal: Literal["lstm", "bilstm", "mean"] = "lstm"
    hidden: int = 128
    dropout: float = 0.3


class FrameStage(_Strict):
    epochs: float = 2.0  # fractional epochs allowed (CPU budgets); 0 = keep init_from as is (stage 2 only)
    init_from: Path | None = None  # start from these weights (a frames_best.pt or a checkpoint) instead of ImageNet
    freeze_stages: int = 0  # keep the stem and the first N backbone stages at ImageNet weights (3x faster on CPU)
    batch_size: int = 32
    lr: float = 3e-4
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    method_loss_weight: float = 0.3
    class_weighting: bool = True
    oversample: bool = False
    # 0: draw every crop equally often; 1: every source (a list, or a group of a list with
    # balance_by: group) equally often; in between: a source's share grows as its size ** (1 - x).
    source_balance: float = Field(default=0.0, ge=0.0, le=1.0)
    eval_every: int = 0  # steps; 0 = once per epoch
    checkpoint_every: int = 100  # steps between resumable checkpoints
    # a time budget: after the first steps, the stage is shortened to end within it (the learning-rate
    # schedule with it); None = the epochs above, however long they take
    max_minutes: float | None = Field(default=None, gt=0)
    max_val: int = 2000  # validation items per evaluation (CPU budget)


class TemporalStage(_Strict):
    enabled: bool = True
    sources: list[VideoSource] = Field(default_factory=list)  # sequences, besides the crops as clips of one
    epochs: int = 15  # 0 = keep the temporal head of init_from and only recalibrate
    batch_size: int = 32
    lr: float = 1e-3
    frames: int = 16


class TuneStage(_Strict):
    """``head.tune``: fine-tune the last backbone stages after the linear read-out (``training/tune_top.py``)."""

    blocks: int = Field(default=0, ge=0)  # 0 = the backbone stays frozen (read-out only)
    epochs: float = Field(default=3.0, gt=0)
    lr: float = Field(default=1e-4, gt=0)
    weight_decay: float = Field(default=0.01, ge=0)
    batch: int = Field(default=32, ge=2)  # files per step
    crops: int = Field(default=4, ge=1)  # crops of a file drawn per step (a clip has up to ``frames``)
    synth_share: float = Field(default=0.0, ge=0, lt=1)  # share of the draws given to pseudo-fakes
    # the fakes the fine-tuning learns from: every training fake, or the pseudo-fakes only (SBI-style;
    # the files' fakes then reach only the final read-out)
    fakes: Literal["all", "synth"] = "all"

    @model_validator(mode="after")
    def _synth_needs_a_share(self) -> "TuneStage":
        if self.fakes == "synth" and self.blocks and self.synth_share <= 0:
            raise ValueError("head.tune.fakes: synth needs a synth_share above 0 (the pseudo-fakes' share of the draws)")
        return self


class HeadStage(_Strict):
    """``seethrough fit-head``: new linear heads on a frozen backbone, optionally its last stages fine-tuned
    (``tune``; see ``training/head.py``)."""

    init_from: Path | None = None  # checkpoint whose backbone is kept (as it is, unless tune fine-tunes its last stages)
    per_source: int = 1500  # files per listed source and label, at most
    frames: int = 16  # frames cropped per video (analyze() samples up to 32; the mean embedding is stable by 16)
    views: list[Literal["plain", "augmented"]] = Field(default_factory=lambda: ["plain", "augmented"])
    synth: bool = True  # pseudo-fakes of the real files, for the method head only
    c: float = Field(default=0.003, gt=0)  # inverse L2 strength (on standardised embeddings)
    # share of each source (dataset folder name) in the binary fit; unlisted sources split the rest
    shares: dict[str, float] = Field(default_factory=dict)
    val_frac: float = Field(default=0.1, ge=0.0, lt=1.0)  # groups held out of a first fit, for the report
    # the written model averages the embeddings of each face crop and its mirror image when it scores
    # (the heads are fitted on single views either way)
    flip_average: bool = False
    # which training fakes teach which method: a fake's method or family, or synth:<family> for pseudo-fakes
    method_of: dict[str, str] = Field(default_factory=lambda: {
        "Deepfakes": "Deepfakes", "face_swap": "Deepfakes", "reenactment": "Face2Face",
        "synth:face_swap": "FaceSwap", "synth:reenact": "Face2Face"})
    tune: TuneStage = Field(default_factory=TuneStage)

    @model_validator(mode="after")
    def _tune_synth_needs_synth(self) -> "HeadStage":
        if self.tune.blocks and self.tune.synth_share > 0 and not self.synth:
            raise ValueError("head.tune.synth_share draws pseudo-fakes, which head.synth: false does not make; "
                             "set head.synth: true or synth_share: 0")
        return self


def method_index(tag: str, method_of: dict[str, str], methods: list[str]) -> int:
    """Which of ``methods`` a training fake teaches the method head, by ``head.method_of``: ``tag`` is
    ``method|family`` for a fake (its method tried first), ``synth:<family>`` for a pseudo-fake; -1 for none."""
    for key in (tag, *tag.split("|")):
        if key and key in method_of and method_of[key] in methods:
            return methods.index(method_of[key])
    return -1


class TrainConfig(_Strict):
    name: str = "run"
    seed: int = 0
    output_dir: Path = Path("runs/run")
    threads: int | None = None
    workers: int = 1  # DataLoader worker processes for decoding/augmentation
    data: DataConfig
    model: ModelConfig = Field(default_factory=ModelConfig)
    frames: FrameStage = Field(default_factory=FrameStage)
    temporal: TemporalStage = Field(default_factory=TemporalStage)
    head: HeadStage = Field(default_factory=HeadStage)
    methods: list[str] = Field(default_factory=lambda: ["Deepfakes", "FaceSwap", "Face2Face"])

    @property
    def listed_sources(self) -> list[CropSource | VideoSource]:
        """The data sources read from lists (CSV files), not from a pack."""
        return [s for s in self.data.sources if not isinstance(s, PackedSource)]

    def resolve_paths(self, base: Path) -> "TrainConfig":
        """Make every relative path absolute against ``base`` (the config file's folder)."""
        def fix(p: Path | None) -> Path | None:
            if p is None or p.is_absolute():
                return p
            return (base / p).resolve()

        for packed in self.data.sources:
            if isinstance(packed, PackedSource):
                packed.path = fix(packed.path)
        for s in [*self.listed_sources, *self.temporal.sources]:
            s.csv = fix(s.csv)
            s.root = fix(s.root)
            s.heldout = fix(s.heldout)
        self.model.weights_path = fix(self.model.weights_path)
        self.frames.init_from = fix(self.frames.init_from)
        self.head.init_from = fix(self.head.init_from)
        self.output_dir = fix(self.output_dir)
        self.data.cache_dir = fix(self.data.cache_dir)
        return self


def load_config(path: str | Path) -> TrainConfig:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"Config file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    try:
        cfg = TrainConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path} is not a valid training config:\n{exc}") from exc
    return cfg.resolve_paths(path.parent.resolve())


def dump_config(cfg: TrainConfig, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
