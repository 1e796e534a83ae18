"""The backbone on ONNX Runtime: the embedding PyTorch computes, about twice as fast on a CPU.

Most of analyze()'s model time is the backbone's forward pass over the face crops. On 2 CPU
cores, 32 EfficientNet-Lite0 crops take 1.15 s in eager PyTorch and 0.51 s in ONNX Runtime
(same embeddings to ~1e-5; ``bench/bench_peers.py`` times the whole pipeline). The graph is
exported from the loaded backbone (``torch.onnx``, the TorchScript exporter) with two outputs,
the embedding and the input of the Grad-CAM layer, so that explaining costs no second pass,
and cached on disk under the checkpoint's SHA-256 (``$SEETHROUGH_CACHE/onnx``, default
``~/.cache/seethrough/onnx``): the first use of a checkpoint exports (about 2 s for Lite0),
later processes load the file (0.1 s).

The graph holds the checkpoint file's weights. :func:`param_versions` tells whether a module
still holds the tensors it held (their version counters are bumped by every in-place change:
an optimiser step, ``load_state_dict``): the predictor goes back to PyTorch as soon as its
backbone is no longer the file's, before or after the graph was made. Gradients (training,
Grad-CAM's backward through the head) stay in PyTorch.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..log import get_logger

log = get_logger(__name__)

EXPORT_VERSION = 1  # bump when the exported graph changes (invalidates the cached files)
KEEP_FILES = 4  # cached graphs kept (the most recently used)
OPSET = 17


def cache_dir() -> Path:
    """Where exported graphs are kept: ``$SEETHROUGH_CACHE/onnx``, else ``~/.cache/seethrough/onnx``."""
    root = os.environ.get("SEETHROUGH_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "seethrough"
    return Path(root) / "onnx"


class _WithCamInput(nn.Module):
    """(B,3,H,W) -> (embedding, input of the Grad-CAM layer), as one graph."""

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        captured: list[torch.Tensor] = []
        hook = self.backbone.cam_layer.register_forward_hook(lambda _m, inputs, _o: captured.append(inputs[0]))
        try:
            emb = self.backbone(x)
        finally:
            hook.remove()
        return emb, captured[0]


def param_versions(module: nn.Module) -> tuple:
    """Which tensors ``module`` holds and their in-place version counters: equal tuples, equal weights."""
    return tuple((id(t), t._version) for t in (*module.parameters(), *module.buffers()))


def export_graph(backbone: nn.Module, size: int) -> bytes:
    """The ONNX graph of ``backbone`` (eval mode, float32) for (N,3,size,size) inputs."""
    was_training = backbone.training
    wrapper = _WithCamInput(backbone).eval()
    buf = io.BytesIO()
    try:
        with warnings.catch_warnings():  # the TorchScript exporter's deprecation notices are not the user's concern
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(wrapper, torch.zeros(2, 3, size, size), buf, input_names=["x"],
                              output_names=["emb", "cam_in"], opset_version=OPSET, dynamo=False,
                              dynamic_axes={"x": {0: "n"}, "emb": {0: "n"}, "cam_in": {0: "n"}})
    finally:
        backbone.train(was_training)  # the exporter restores the wrapper's mode, not the backbone's
    return buf.getvalue()


def graph_path(key: str, size: int) -> Path:
    """Where the graph of checkpoint ``key`` (its SHA-256) is cached."""
    return cache_dir() / f"{key[:32]}-{size}-v{EXPORT_VERSION}-torch{torch.__version__.split('+')[0]}.onnx"


def _cached_graph(backbone: nn.Module, size: int, key: str) -> tuple[bytes, bool]:
    """(graph, whether it came from the cache) for checkpoint ``key``: the cached file, else an export
    (cached when the folder is writable)."""
    import onnxruntime  # noqa: F401 - fail before exporting when the runtime is missing

    path = graph_path(key, size)
    if path.is_file():
        try:
            os.utime(path)
            return path.read_bytes(), True
        except OSError as exc:
            log.warning("cannot read the cached graph %s (%s): exporting again", path, exc)
    graph = export_graph(backbone, size)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".{os.getpid()}.part")
        tmp.write_bytes(graph)
        tmp.replace(path)
        for old in sorted(path.parent.glob("*.onnx"), key=lambda p: p.stat().st_mtime, reverse=True)[KEEP_FILES:]:
            old.unlink(missing_ok=True)
    except OSError as exc:
        log.info("not caching the exported graph (%s): it is exported again in the next process", exc)
    return graph, False


class OnnxBackbone:
    """A backbone's forward pass on ONNX Runtime's CPU provider."""

    def __init__(self, graph: bytes) -> None:
        """A session for ``graph`` (input ``x``, outputs ``emb`` and, optionally, ``cam_in``), on as many
        threads as PyTorch has now."""
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = torch.get_num_threads()
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(graph, opts, providers=["CPUExecutionProvider"])

    @classmethod
    def load(cls, backbone: nn.Module, size: int, key: str) -> OnnxBackbone:
        """For checkpoint ``key`` (its SHA-256): the cached graph, or an export of ``backbone``. Raises
        ImportError without onnxruntime / onnx, and the exporter's errors for a graph it cannot export."""
        graph, cached = _cached_graph(backbone, size, key)
        try:
            return cls(graph)
        except Exception:
            if not cached:
                raise
            path = graph_path(key, size)
            log.warning("the cached graph %s does not load: exporting it again", path)
            path.unlink(missing_ok=True)
            return cls(_cached_graph(backbone, size, key)[0])

    def __call__(self, x: torch.Tensor, features: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(B, D) embeddings and, with ``features``, the (B, C, h, w) Grad-CAM-layer inputs."""
        names = ["emb", "cam_in"] if features else ["emb"]
        out = self.session.run(names, {"x": np.ascontiguousarray(x.detach().float().cpu().numpy())})
        return torch.from_numpy(out[0]), (torch.from_numpy(out[1]) if features else None)
