"""``seethrough train``: both stages end to end, exported as one checkpoint."""

from __future__ import annotations

from pathlib import Path


from .. import __version__
from ..log import get_logger
from .config import TrainConfig, dump_config
from .loop import load_tables, train_frames

log = get_logger(__name__)


def export(cfg: TrainConfig, model, calibration: dict, metrics: dict, path: Path, half: bool = True) -> Path:
    from ..models import save_checkpoint

    config = cfg.model_dump(mode="json")
    config["model_version"] = f"{cfg.name}-{__version__}"
    return save_checkpoint(
        path,
        model,
        labels={"binary": ["real", "fake"], "methods": list(cfg.methods)},
        preprocessing={**model.preprocessing, "input_size": cfg.data.image_size},
        config=config,
        metrics=metrics,
        calibration=calibration,
        half=half,
    )


def train(cfg: TrainConfig, resume: bool = True) -> Path | None:
    """Frame stage, temporal stage, calibration; returns the exported checkpoint path.

    Under ``torchrun`` the frame stage runs data-parallel (see
    :mod:`seethrough.training.distributed`); ranks other than 0 return None after it.
    """
    from .distributed import setup

    ctx = setup()
    try:
        return _train(cfg, resume, ctx)
    finally:
        ctx.close()


def _train(cfg: TrainConfig, resume: bool, ctx) -> Path | None:
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    if ctx.is_main:
        dump_config(cfg, out / "config.yaml")
        table = load_tables(cfg)  # rank 0 fills the crop cache first; the others then read it
        ctx.barrier()
    else:
        ctx.barrier()
        table = load_tables(cfg)
    best = train_frames(cfg, table, resume=resume, ctx=ctx)
    if not ctx.is_main:
        return None
    sequences = None
    if cfg.temporal.enabled and cfg.temporal.sources:
        from .loop import concat_tables
        from .videos import load_video_table

        sequences = concat_tables([
            load_video_table(s, cfg.data.image_size, cfg.data.crop_margin, cfg.data.cache_dir) for s in cfg.temporal.sources
        ])
    if cfg.temporal.enabled:
        from .temporal import train_temporal

        result = train_temporal(cfg, best, table, sequences)
        model, calibration, metrics = result["model"], result["calibration"], result["metrics"]
    else:
        from .loop import build_model, load_weights

        model = build_model(cfg)
        model.load_state_dict(load_weights(best))
        calibration, metrics = {}, {}
    path = export(cfg, model, calibration, metrics, out / "model.pt")
    log.info("exported %s", path)
    return path
