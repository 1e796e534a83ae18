"""Load a detector checkpoint once and score face crops with it."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from .abstain import FamiliarityModel
from .errors import ModelError
from .log import get_logger

log = get_logger(__name__)

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_CHECKPOINT = WEIGHTS_DIR / "default.pt"


def cpu_has_fast_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX).

    Without it PyTorch emulates bf16 and autocast is ~12x *slower* than float32 (measured:
    32 Lite0 crops 10.2 s in bf16 against 0.8 s in fp32 on an AVX2-only CPU)."""
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except (AttributeError, RuntimeError):
        return False


RUNTIMES = ("auto", "torch", "onnx")

# Verdict band on the calibrated fake probability when a checkpoint carries none.
DEFAULT_THRESHOLDS = {"real_below": 0.35, "fake_above": 0.65}


@dataclass
class Scores:
    """Calibrated scores for one face sequence."""

    fake_probability: float
    frame_probabilities: np.ndarray  # (T,)
    method_probabilities: dict[str, float]  # conditional on "fake"
    attention: np.ndarray  # (T,)
    features: torch.Tensor | None = None  # (T, C, h, w) input of the Grad-CAM layer, when asked for
    unfamiliarity: float | None = None  # distance of the face from the training faces (None: no model for it)
    mirrored: np.ndarray | None = None  # (T,) bool: the crops scored (and explained) as their mirror image


class Predictor:
    """A loaded detector plus its labels, preprocessing and calibration."""

    def __init__(self, checkpoint: str | Path | None = None, device: str = "cpu", bf16: bool | None = None,
                 runtime: str | None = None):
        """``runtime``: where the backbone's forward pass runs. ``auto`` (default, or ``$SEETHROUGH_RUNTIME``):
        ONNX Runtime on a CPU without fast bfloat16, else PyTorch; ``torch``; ``onnx`` (an error when it
        cannot be used). See :mod:`seethrough.models.onnx_runtime`."""
        from .models import load_checkpoint

        path = Path(checkpoint) if checkpoint else DEFAULT_CHECKPOINT
        if not path.is_file():
            raise ModelError(
                f"Model file not found: {path}. The default model ships in the package "
                "(seethrough/weights/default.pt); pass --model to use another checkpoint."
            )
        self.path = path
        self.model, self.meta = load_checkpoint(path, map_location=device)
        self.model.eval()
        from .models.onnx_runtime import param_versions

        self._loaded = param_versions(self.model.backbone)  # the weights of the file (its graph is cached by sha256)
        self.device = device
        self.bf16 = (device == "cpu" and cpu_has_fast_bf16()) if bf16 is None else bf16
        self.chunk = 8  # frames per backbone batch
        self.runtime_choice = (runtime or os.environ.get("SEETHROUGH_RUNTIME") or "auto").strip().lower()
        if self.runtime_choice not in RUNTIMES:
            raise ModelError(f"Unknown runtime {self.runtime_choice!r}: choose one of {', '.join(RUNTIMES)}.")
        self._onnx = None  # the backbone on ONNX Runtime, made at the first forward pass that can use it
        self._onnx_failed: str | None = None
        self._eager = False
        prep = self.meta.preprocessing
        self.size = int(prep.get("input_size", 224))
        self.mean = np.array(prep["mean"], np.float32) * 255
        self.std = np.array(prep["std"], np.float32) * 255
        self.methods: list[str] = self.meta.methods
        cal = self.meta.calibration or {}
        self.temperature = float(cal.get("temperature", 1.0))
        self.frame_temperature = float(cal.get("frame_temperature", self.temperature))
        self.thresholds = {**DEFAULT_THRESHOLDS, **(cal.get("thresholds") or {})}
        fam = cal.get("familiarity")
        self.familiarity = FamiliarityModel.from_dict(fam) if fam else None
        self.crop_margin = float(self.meta.config.get("data", {}).get("crop_margin", 1.0))
        # Score a face as it is and mirrored (a model setting, as fitted and calibrated): see mirrored_views().
        self.flip_average = bool((self.meta.config.get("inference") or {}).get("flip_average", False))
        # One forward at a time: hold it around embed() and anything that runs the model.
        self.lock = threading.Lock()
        self.sha256 = file_sha256(path)
        self.card = self._load_card(path)

    def _load_card(self, path: Path) -> dict | None:
        """The model card summary: ``config["card"]`` in the checkpoint, else ``<stem>.card.json`` beside it."""
        card = self.meta.config.get("card")
        side = path.with_name(path.stem + ".card.json")
        if card is None and side.is_file():
            try:
                card = json.loads(side.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                log.warning("ignoring unreadable model card %s: %s", side, exc)
        return card if isinstance(card, dict) else None

    @property
    def info(self) -> dict:
        return {
            "name": self.meta.config.get("name", self.path.stem),
            "version": self.meta.config.get("model_version", self.meta.seethrough_version),
            "backbone": self.meta.model_spec.backbone,
            "temporal": self.meta.model_spec.temporal,
            "file": self.path.name,
            "sha256": self.sha256,
            **({"card": self.card} if self.card else {}),
        }

    def to_tensor(self, crops: list[np.ndarray]) -> torch.Tensor:
        import cv2

        arr = np.stack([
            c if c.shape[0] == self.size else cv2.resize(c, (self.size, self.size), interpolation=cv2.INTER_AREA)
            for c in crops
        ]).astype(np.float32)
        arr = (arr - self.mean) / self.std
        return torch.from_numpy(arr.transpose(0, 3, 1, 2).copy())

    def mirrored_views(self, n: int) -> np.ndarray:
        """Which of a track's ``n`` crops :meth:`score` sees as their mirror image. With the model's
        ``flip_average``, the crops of a track of several alternate between the face as it is and
        mirrored (both views at the cost of one; neighbouring frames show nearly the same face), and a
        single crop (a photo) is scored both ways inside :meth:`embed`. Without it: none."""
        out = np.zeros(n, bool)
        if self.flip_average and n > 1:
            out[1::2] = True
        return out

    @torch.no_grad()
    def embed(self, crops: list[np.ndarray], keep_features: bool = False,
              mirrored: np.ndarray | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(T, D) embeddings of face crops and, with ``keep_features``, the (T, C, h, w)
        input of the Grad-CAM layer captured on the way (so explaining costs no second
        pass through the trunk). Crops marked in ``mirrored`` are embedded as their mirror
        image (their features are of that view). Without ``mirrored``, a model with
        ``flip_average`` embeds every crop as the mean of the crop's and its mirror image's.
        Call with ``self.lock`` held."""
        x = self.to_tensor(crops).to(self.device)
        if mirrored is not None and mirrored.any():
            idx = torch.from_numpy(np.flatnonzero(mirrored))
            x[idx] = torch.flip(x[idx], dims=[3])
        emb, feats = self._embed_tensor(x, keep_features)
        if self.flip_average and mirrored is None:  # the mirror adds no Grad-CAM input: the maps explain the crop
            emb = (emb + self._embed_tensor(torch.flip(x, dims=[3]))[0]) / 2
        return emb, feats

    @property
    def runtime(self) -> str:
        """``onnxruntime`` or ``torch``: where the next forward pass of the backbone runs."""
        return "onnxruntime" if self._onnx_backbone() is not None else "torch"

    @contextmanager
    def eager(self):
        """Run the backbone in PyTorch inside the block (for forward hooks on its modules)."""
        before, self._eager = self._eager, True
        try:
            yield
        finally:
            self._eager = before

    def _onnx_backbone(self):
        """The backbone on ONNX Runtime when this predictor may and can use it (else None)."""
        if self._eager or self.runtime_choice == "torch" or self._onnx_failed:
            return None
        if self.device != "cpu" or (self.bf16 and self.runtime_choice == "auto"):
            return None
        backbone = self.model.backbone
        from .models.onnx_runtime import OnnxBackbone, param_versions

        if param_versions(backbone) != self._loaded:  # the graph (cached by the file's sha256) is the file's
            log.info("the backbone's weights are no longer the checkpoint's: PyTorch from now on")
            self._onnx, self._onnx_failed = None, "the weights changed after loading"
            return None
        if self._onnx is None:
            try:
                self._onnx = OnnxBackbone.load(backbone, self.size, self.sha256)
            except Exception as exc:  # noqa: BLE001 - any failure leaves the PyTorch path, which always works
                self._onnx_failed = f"{type(exc).__name__}: {exc}"
                if self.runtime_choice == "onnx":
                    raise ModelError(f"The backbone cannot run on ONNX Runtime ({self._onnx_failed}); "
                                     "use runtime auto or torch.") from exc
                log.warning("ONNX Runtime not used for %s (%s): the backbone runs in PyTorch", self.path.name,
                            self._onnx_failed)
                return None
        return self._onnx

    def _embed_tensor(self, x: torch.Tensor, keep_features: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Embeddings of a (T,3,S,S) batch and, with ``keep_features``, the Grad-CAM layer's inputs.
        In chunks: the same result as one batch, a fraction of the peak memory."""
        chunks = [x[i : i + self.chunk] for i in range(0, len(x), self.chunk)]
        onnx = self._onnx_backbone()
        if onnx is not None:
            outs = [onnx(c, keep_features) for c in chunks]
        else:
            outs = [self._embed_torch(c, keep_features) for c in chunks]
        emb = torch.cat([e for e, _ in outs])
        return emb, (torch.cat([f for _, f in outs]) if keep_features else None)

    def _embed_torch(self, x: torch.Tensor, keep_features: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        captured: list[torch.Tensor] = []
        hook = None
        if keep_features:
            hook = self.model.backbone.cam_layer.register_forward_hook(
                lambda _m, inputs, _out: captured.append(inputs[0].detach().float()))
        try:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16 and self.device == "cpu"):
                emb = self.model.backbone(x).float()
        finally:
            if hook is not None:
                hook.remove()
        return emb, (captured[0] if keep_features else None)

    @torch.no_grad()
    def score(self, crops: list[np.ndarray], keep_features: bool = False) -> Scores:
        """Score the crops of one face track (an image is a track of one crop)."""
        if not crops:
            raise ValueError("score() needs at least one face crop")
        mirrored = self.mirrored_views(len(crops))
        with self.lock:
            emb, feats = self.embed(crops, keep_features, mirrored=mirrored if mirrored.any() else None)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16 and self.device == "cpu"):
                out = self.model.forward_sequence_from_embeddings(emb.unsqueeze(0))
        logits = out.logits.float()[0].cpu()
        frame_logits = out.frame_logits.float()[0].cpu()
        p = torch.softmax(logits / self.temperature, -1)[1].item()
        pf = torch.softmax(frame_logits / self.frame_temperature, -1)[:, 1].numpy()
        mp = torch.softmax(out.method_logits.float()[0].cpu(), -1).numpy() if self.methods else np.zeros(0)
        return Scores(
            fake_probability=float(p),
            frame_probabilities=pf.astype(np.float64),
            method_probabilities={m: float(v) for m, v in zip(self.methods, mp)},
            attention=out.attention.float()[0].cpu().numpy().astype(np.float64),
            features=feats,
            unfamiliarity=self.unfamiliarity(emb),
            mirrored=mirrored,
        )

    def unfamiliarity(self, emb: torch.Tensor) -> float | None:
        """How unlike the training faces one face track is: the score of its mean (T, D) embedding."""
        if self.familiarity is None:
            return None
        return float(self.familiarity.score(emb.float().mean(0).cpu().numpy()))

    @property
    def familiarity_limit(self) -> float | None:
        return None if self.familiarity is None else self.familiarity.threshold

    def verdict(self, p: float) -> str:
        if p >= self.thresholds["fake_above"]:
            return "fake"
        if p < self.thresholds["real_below"]:
            return "real"
        return "uncertain"


@lru_cache(maxsize=4)
def _cached_predictor(path: str) -> Predictor:
    return Predictor(path)


def get_predictor(checkpoint: str | Path | None = None) -> Predictor:
    """A process-wide cached :class:`Predictor` (the model is loaded once)."""
    return _cached_predictor(str(Path(checkpoint).resolve() if checkpoint else DEFAULT_CHECKPOINT))


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()
