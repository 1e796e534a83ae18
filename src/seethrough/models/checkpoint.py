"""One-file checkpoints: weights plus everything needed to use them.

A checkpoint is ``torch.save`` of a plain dict holding only tensors, str, int, float,
bool, None, lists and dicts, so it loads with ``torch.load(weights_only=True)`` (no
code runs on load). The model is rebuilt from ``model_spec`` with ``pretrained=False``,
so loading never needs the ImageNet weights or a network.
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePath
from typing import Any

import torch

from seethrough import __version__
from seethrough.errors import ModelError
from seethrough.log import get_logger
from seethrough.models.detector import DeepfakeDetector, ModelSpec

log = get_logger(__name__)

FORMAT = "seethrough-checkpoint"
FORMAT_VERSION = 1
BINARY_LABELS = ["real", "fake"]


@dataclass
class CheckpointMeta:
    """Everything in a checkpoint except the weights."""

    model_spec: ModelSpec
    labels: dict[str, list[str]]
    preprocessing: dict[str, Any]
    config: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] | None = None
    calibration: dict[str, Any] | None = None
    seethrough_version: str = __version__
    format_version: int = FORMAT_VERSION
    created: str = ""
    weights_dtype: str = "float32"
    path: Path | None = None

    @property
    def methods(self) -> list[str]:
        """Manipulation-method names, in ``method_logits`` order."""
        return list(self.labels.get("methods", []))

    @property
    def binary_labels(self) -> list[str]:
        return list(self.labels.get("binary", BINARY_LABELS))


def save_checkpoint(
    path: str | os.PathLike[str],
    model: DeepfakeDetector,
    *,
    labels: dict[str, Any],
    preprocessing: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    calibration: dict[str, Any] | None = None,
    half: bool = False,
) -> Path:
    """Write ``model`` and its metadata to ``path`` atomically; returns the path.

    ``labels`` is ``{"binary": ["real", "fake"], "methods": [...]}`` ("binary" may be
    omitted). ``preprocessing`` defaults to the backbone's. ``half=True`` stores float
    tensors as float16 (half the size; loaded back as float32).
    """
    path = Path(path)
    labels = _check_labels(labels, model.num_methods)
    state = {k: _store_tensor(v, half) for k, v in model.state_dict().items()}
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "seethrough_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model_spec": model.spec.to_dict(),
        "labels": labels,
        "preprocessing": _plain(preprocessing if preprocessing is not None else model.preprocessing,
                                "preprocessing"),
        "config": _plain(config or {}, "config"),
        "metrics": _plain(metrics, "metrics"),
        "calibration": _plain(calibration, "calibration"),
        "weights_dtype": "float16" if half else "float32",
        "state_dict": state,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    log.info("saved checkpoint %s (%.1f MB, %s)", path, path.stat().st_size / 1e6, payload["weights_dtype"])
    return path


def read_checkpoint_meta(path: str | os.PathLike[str]) -> CheckpointMeta:
    """Read only the metadata (still reads the file, but builds no model)."""
    path = Path(path)
    return _meta(_read(path), path)


def load_checkpoint(path: str | os.PathLike[str],
                    map_location: str | torch.device = "cpu") -> tuple[DeepfakeDetector, CheckpointMeta]:
    """Rebuild the model from ``path`` (in eval mode, float32) and return it with its metadata."""
    path = Path(path)
    payload = _read(path)
    meta = _meta(payload, path)
    state = payload.get("state_dict")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelError(f"Checkpoint {path} has no valid 'state_dict'.")
    model = DeepfakeDetector.from_spec(meta.model_spec, pretrained=False)
    own = model.state_dict()
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    wrong = [k for k in own if k in state and state[k].shape != own[k].shape]
    if missing or unexpected or wrong:
        raise ModelError(
            f"Checkpoint {path} does not match its own model_spec ({len(missing)} missing, "
            f"{len(unexpected)} unexpected, {len(wrong)} mis-shaped tensors, e.g. "
            f"{(missing + unexpected + wrong)[:3]}). The file is damaged or was edited."
        )
    model.load_state_dict(state, strict=True)  # copies into float32 parameters
    model.to(map_location).eval()
    return model, meta


# --------------------------------------------------------------------------- helpers


def _read(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ModelError(f"Checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure here means "not a usable checkpoint"
        raise ModelError(
            f"{path} is not a readable seethrough checkpoint ({type(exc).__name__}: {str(exc)[:200]}). "
            "It may be truncated or not a checkpoint at all."
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ModelError(f"{path} is not a seethrough checkpoint (its '{FORMAT}' marker is missing).")
    version = payload.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelError(
            f"{path} uses checkpoint format {version!r}, newer than this seethrough "
            f"({__version__}, format {FORMAT_VERSION}) reads. Upgrade seethrough."
        )
    return payload


def _meta(payload: dict[str, Any], path: Path) -> CheckpointMeta:
    spec_dict = payload.get("model_spec")
    if not isinstance(spec_dict, dict):
        raise ModelError(f"Checkpoint {path} has no 'model_spec'.")
    return CheckpointMeta(
        model_spec=ModelSpec.from_dict(spec_dict),
        labels=payload.get("labels") or {"binary": BINARY_LABELS, "methods": []},
        preprocessing=payload.get("preprocessing") or {},
        config=payload.get("config") or {},
        metrics=payload.get("metrics"),
        calibration=payload.get("calibration"),
        seethrough_version=str(payload.get("seethrough_version", "unknown")),
        format_version=int(payload["format_version"]),
        created=str(payload.get("created", "")),
        weights_dtype=str(payload.get("weights_dtype", "float32")),
        path=path,
    )


def _store_tensor(t: torch.Tensor, half: bool) -> torch.Tensor:
    t = t.detach().to("cpu")
    if half and t.is_floating_point():
        t = t.to(torch.float16)
    return t.clone().contiguous()


def _check_labels(labels: dict[str, Any], num_methods: int) -> dict[str, list[str]]:
    if not isinstance(labels, dict):
        raise ModelError("labels must be a dict like {'binary': ['real', 'fake'], 'methods': [...]}.")
    binary = [str(x) for x in labels.get("binary", BINARY_LABELS)]
    methods = [str(x) for x in labels.get("methods", [])]
    if len(binary) != 2:
        raise ModelError(f"labels['binary'] must name exactly 2 classes, got {binary}.")
    if len(methods) != num_methods:
        raise ModelError(f"labels['methods'] has {len(methods)} names but the model has {num_methods} method outputs.")
    if len(set(methods)) != len(methods):
        raise ModelError(f"labels['methods'] has duplicates: {methods}.")
    out = {k: [str(x) for x in v] for k, v in labels.items() if isinstance(v, (list, tuple))}
    out.update(binary=binary, methods=methods)
    return out


def _plain(value: Any, where: str) -> Any:
    """Convert to types ``torch.load(weights_only=True)`` accepts, or raise ModelError."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ModelError(f"{where} has a non-string key {k!r}; checkpoint metadata keys must be strings.")
            out[k] = _plain(v, f"{where}.{k}")
        return out
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:  # numpy / torch scalars
        return _plain(value.item(), where)
    if isinstance(value, enum.Enum):
        return _plain(value.value, where)
    raise ModelError(
        f"{where} holds a {type(value).__name__}; checkpoint metadata may only contain "
        "str, int, float, bool, None, lists and dicts."
    )


__all__ = ["FORMAT", "FORMAT_VERSION", "CheckpointMeta", "load_checkpoint", "read_checkpoint_meta",
           "save_checkpoint"]
