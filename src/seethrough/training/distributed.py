"""Distributed data-parallel training, started by ``torchrun``.

``torchrun --nproc_per_node=N -m seethrough train -c CONFIG`` (add ``--nnodes``,
``--node_rank`` and ``--rdzv_endpoint`` for several machines) runs the frame stage in N
processes: each takes its share of every epoch (``DistributedSampler``), gradients are
averaged across processes after every step (NCCL on GPUs, gloo on CPUs), and rank 0
alone evaluates, writes checkpoints and runs the cheap temporal stage. ``batch_size`` in
the config is per process; the global batch is ``batch_size x world size``. Without
torchrun's environment variables everything runs in one process, as before.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from ..log import get_logger

log = get_logger(__name__)


@dataclass
class DistContext:
    world_size: int = 1
    rank: int = 0
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def close(self) -> None:
        if self.enabled and dist.is_initialized():
            dist.destroy_process_group()


def setup() -> DistContext:
    """Join the process group torchrun describes in the environment (or run alone)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available()
    device = torch.device(f"cuda:{local}" if cuda else "cpu")
    if world > 1 and not dist.is_initialized():
        if cuda:
            torch.cuda.set_device(device)
        dist.init_process_group(backend="nccl" if cuda else "gloo")
        log.info("distributed training: rank %d of %d (%s)", rank, world, "nccl" if cuda else "gloo")
    elif world == 1 and cuda:
        device = torch.device("cuda")
    return DistContext(world, rank, local, device)


class FrameObjective(nn.Module):
    """``forward(x)`` = the detector's frame-stage outputs, so DDP sees a ``forward`` it can wrap."""

    def __init__(self, detector: nn.Module) -> None:
        super().__init__()
        self.detector = detector

    def forward(self, x: torch.Tensor):
        return self.detector.forward_frames(x)


def wrap(model: nn.Module, ctx: DistContext) -> nn.Module:
    """The module to call in training steps: DDP around the frame objective when distributed."""
    objective = FrameObjective(model)
    if not ctx.enabled:
        return objective
    from torch.nn.parallel import DistributedDataParallel

    # The temporal head takes no part in the frame stage: its parameters get no gradient.
    return DistributedDataParallel(objective, device_ids=[ctx.local_rank] if ctx.device.type == "cuda" else None,
                                   find_unused_parameters=True)


def parameter_digest(model: nn.Module) -> str:
    """A hash of every trainable parameter: equal on all ranks when gradients were synchronised."""
    h = hashlib.sha256()
    for name, p in sorted(model.named_parameters()):
        h.update(name.encode())
        h.update(p.detach().float().cpu().numpy().tobytes())
    return h.hexdigest()


def record_rank(out: Path, ctx: DistContext, model: nn.Module, steps: int) -> None:
    """``rank<N>.json`` in the run folder: what this process trained (an audit of the sync)."""
    if ctx.enabled:
        (out / f"rank{ctx.rank}.json").write_text(json.dumps({
            "rank": ctx.rank, "world_size": ctx.world_size, "steps": steps, "device": str(ctx.device),
            "parameters_sha256": parameter_digest(model)}))
