"""When the model must not give a verdict: the abstention gates.

A score is only worth a real/fake verdict when the face is one the model can judge.
Three gates turn a verdict into ``uncertain`` and say why:

* ``face_too_small``: the face is smaller than :data:`GATE_FACE_PX` (blending traces are
  gone after upsampling to the model's input);
* ``heavy_compression``: fewer bits per pixel than :data:`GATE_IMAGE_BPP` (images) or
  :data:`GATE_VIDEO_BPP` (video): compression hides and imitates manipulation traces;
* ``unfamiliar_face``: the face's embedding is far from everything the model was trained
  on (:class:`FamiliarityModel`, a Mahalanobis distance fitted on training embeddings
  only); on such faces the score is not evidence either way.

The gates never change ``fake_probability``: they only withhold the verdict word.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

#: Faces whose shortest side is below this many pixels get no verdict.
GATE_FACE_PX = 56
#: Image (JPEG/WebP) bits per pixel below this: no verdict (a 640x480 face photo at JPEG quality ~8).
GATE_IMAGE_BPP = 0.25
#: Video bits per pixel per frame below this: no verdict (FF++ "c40", the heaviest setting
#: detectors are usually trained on, is about 0.02; x264 at crf 51 gives ~0.018).
GATE_VIDEO_BPP = 0.02

REASON_TEXT = {
    "face_too_small": "The face is too small ({face_px:.0f} px across) for the model to judge; "
                      "below {limit} px the traces it looks for are gone.",
    "heavy_compression": "The file is too heavily compressed ({bpp:.3f} bits per pixel) for the model to judge; "
                         "compression at this level hides and imitates manipulation traces.",
    "unfamiliar_face": "This face is unlike the faces the model was trained on (unfamiliarity {score:.2f}, "
                       "limit {limit:.2f}), so its score is not evidence either way.",
}


@dataclass
class FamiliarityModel:
    """How far a face embedding is from the training faces, in units the gate compares.

    Embeddings are projected on the ``k`` main directions of the training embeddings and
    whitened; the score is the smallest squared Mahalanobis distance to the real and the
    fake class means (shared covariance) divided by ``k``, plus half the norm of the part of
    the embedding outside the ``k`` directions relative to the training median (so about 1.5
    for a typical training face).
    """

    mean: np.ndarray  # (D,)
    components: np.ndarray  # (D, k) orthonormal
    scale: np.ndarray  # (k,) standard deviation along each component (within class)
    class_means: np.ndarray  # (C, k) in whitened units
    residual_scale: float  # typical training residual norm
    threshold: float  # scores above it gate the verdict

    @classmethod
    def fit(cls, emb: np.ndarray, labels: np.ndarray, k: int = 32, quantile: float = 0.99) -> "FamiliarityModel":
        """Fit on training embeddings ``emb`` (N, D) with labels 0 real / 1 fake; the
        threshold is the ``quantile`` of the training scores themselves."""
        emb = np.asarray(emb, np.float64)
        labels = np.asarray(labels)
        mean = emb.mean(0)
        x = emb - mean
        k = int(min(k, x.shape[1], max(1, x.shape[0] - 2)))
        _, _, vt = np.linalg.svd(x, full_matrices=False)
        comp = vt[:k].T
        z = x @ comp
        classes = [c for c in (0, 1) if (labels == c).any()]
        cm = np.stack([z[labels == c].mean(0) for c in classes])
        within = np.concatenate([z[labels == c] - cm[i] for i, c in enumerate(classes)])
        scale = within.std(0) + 1e-6
        resid = np.linalg.norm(x - z @ comp.T, axis=1)
        model = cls(mean.astype(np.float32), comp.astype(np.float32), scale.astype(np.float32),
                    (cm / scale).astype(np.float32), float(np.median(resid) + 1e-6), float("inf"))
        model.threshold = float(np.quantile(model.score(emb), quantile))
        return model

    def score(self, emb: np.ndarray) -> np.ndarray:
        """Unfamiliarity of each embedding (N, D) → (N,); a single (D,) gives a 0-d array."""
        emb = np.asarray(emb, np.float64)
        x = emb - self.mean
        z = x @ self.components
        w = z / self.scale
        d2 = ((w[..., None, :] - self.class_means) ** 2).sum(-1).min(-1) / self.components.shape[1]
        resid = np.linalg.norm(x - z @ self.components.T, axis=-1) / self.residual_scale
        return d2 + 0.5 * resid

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean.tolist(), "components": self.components.tolist(), "scale": self.scale.tolist(),
                "class_means": self.class_means.tolist(), "residual_scale": self.residual_scale,
                "threshold": self.threshold}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "FamiliarityModel":
        return cls(np.asarray(d["mean"], np.float32), np.asarray(d["components"], np.float32),
                   np.asarray(d["scale"], np.float32), np.asarray(d["class_means"], np.float32),
                   float(d["residual_scale"]), float(d["threshold"]))


def reason(code: str, **facts: Any) -> dict[str, str]:
    return {"code": code, "text": REASON_TEXT[code].format(**facts)}


def gate(*, media: dict | None, face_px: Sequence[float], unfamiliarity: float | None,
         familiarity_limit: float | None) -> dict[str, Any]:
    """The ``abstention`` block of an analysis: whether the verdict is withheld, and why."""
    from .explain.evidence import bits_per_pixel

    media = media or {}
    reasons: list[dict[str, str]] = []
    if face_px:
        median = float(np.median(face_px))
        if median < GATE_FACE_PX:
            reasons.append(reason("face_too_small", face_px=median, limit=GATE_FACE_PX))
    bpp = bits_per_pixel(media)
    limit = GATE_IMAGE_BPP if media.get("kind") == "image" else GATE_VIDEO_BPP
    if bpp is not None and bpp < limit:
        reasons.append(reason("heavy_compression", bpp=bpp))
    if unfamiliarity is not None and familiarity_limit is not None and unfamiliarity > familiarity_limit:
        reasons.append(reason("unfamiliar_face", score=unfamiliarity, limit=familiarity_limit))
    return {
        "gated": bool(reasons),
        "unfamiliarity": None if unfamiliarity is None else round(float(unfamiliarity), 4),
        "unfamiliarity_limit": None if familiarity_limit is None else round(float(familiarity_limit), 4),
        "reasons": reasons,
    }
