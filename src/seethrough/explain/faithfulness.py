"""How faithful the explanations are: measured on fakes whose manipulated area is known.

Two measurements (``bench/bench_faithfulness.py`` runs them on real faces):

- **Pointing game on regions.** :func:`local_blend` blends a perturbed copy of a face
  crop into *one* facial region, so the manipulated area (``mask``) is known and local.
  :func:`pointing_hit` takes the region ranked first by
  :func:`~seethrough.explain.regions.region_scores` on the Grad-CAM map and calls it a
  *hit* when it is one of the :func:`hit_regions` of the mask. :func:`random_baseline`
  is the exact hit probability of picking a region at random (uniformly, or in
  proportion to its area) over the same candidate regions.
- **Deletion curve.** :func:`deletion_curve` replaces the hottest ``k`` % of pixels
  (by the CAM, or by a random map of the same smoothness) with a blurred copy of the
  crop (or the real original, to restore it) and records the model's score after each
  step; a faithful map makes the fake probability fall faster, i.e. gives a lower
  :func:`deletion_auc` than random.

Candidate regions are exactly those :func:`region_scores` can rank: the ten part
regions and ``boundary`` (not ``face``), each with at least ``min_pixels`` pixels.
"""

from __future__ import annotations

import math
from typing import Callable, Collection, NamedTuple, Sequence

import cv2
import numpy as np

from ..faces.regions import PART_REGIONS, region_masks
from ..synth.pseudo import Synthetic
from .regions import region_scores

#: Fractions of the crop's pixels deleted along a deletion curve.
DELETION_FRACTIONS = (0.0, 0.05, 0.10, 0.20, 0.30, 0.50)
#: Regions :func:`local_blend` can manipulate.
BLEND_REGIONS = PART_REGIONS + ("boundary",)
#: A region is "manipulated" when at least this share of its pixels has mask > 0.5.
MIN_OVERLAP = 0.25
#: Regions smaller than this are not ranked (the default of :func:`region_scores`).
MIN_PIXELS = 20

ScoreFn = Callable[[list[np.ndarray]], np.ndarray]


class Pointing(NamedTuple):
    """The top-ranked region of a map (``None`` for a flat, all-zero map) and whether it hit."""

    region: str | None
    hit: bool


# ---------------------------------------------------------------- fakes with a known mask


def _perturb(crop: np.ndarray, center: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A colour/contrast-shifted, blurred or sharpened, slightly moved and scaled copy."""
    h, w = crop.shape[:2]
    out = crop.astype(np.float32)
    gain = 1.0 + rng.choice([-1.0, 1.0], 3) * rng.uniform(0.05, 0.12, 3)
    offset = rng.choice([-1.0, 1.0], 3) * rng.uniform(4.0, 14.0, 3)
    out = out * gain + offset
    kind = rng.integers(3)
    if kind == 0:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.8, 1.6))
    elif kind == 1:
        out = out + rng.uniform(0.5, 1.2) * (out - cv2.GaussianBlur(out, (0, 0), 1.0))
    scale = rng.uniform(0.96, 1.04)
    angle = rng.uniform(0, 2 * math.pi)
    shift = rng.uniform(0.005, 0.015) * max(h, w)
    tx, ty = shift * math.cos(angle), shift * math.sin(angle)
    m = np.array([[scale, 0, (1 - scale) * center[0] + tx], [0, scale, (1 - scale) * center[1] + ty]], np.float32)
    out = cv2.warpAffine(out, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
    return np.clip(out, 0, 255)


def feathered_mask(region: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """A soft version of a boolean region mask, float32 in [0, 1].

    The region is dilated by ~12% of its size and blurred as much, so values at its
    own edge stay near 0.8 of the peak (mask > 0.5 covers the region once scaled by
    an opacity of at least 0.65) while the blend fades out smoothly around it.
    """
    area = float(region.sum())
    if area == 0:
        raise ValueError("cannot feather an empty region mask")
    r = math.sqrt(area)
    jitter = rng.uniform(0.8, 1.2) if rng is not None else 1.0
    d = max(1, int(round(0.12 * r * jitter)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * d + 1, 2 * d + 1))
    mask = cv2.dilate(region.astype(np.float32), kernel)
    mask = cv2.GaussianBlur(mask, (0, 0), max(1.0, 0.12 * r * jitter))
    return (mask / max(float(mask.max()), 1e-6)).astype(np.float32)


def local_blend(
    crop: np.ndarray,
    crop_landmarks: np.ndarray,
    region: str,
    rng: np.random.Generator,
    min_pixels: int = MIN_PIXELS,
) -> Synthetic:
    """Blend a perturbed copy of ``crop`` into one facial ``region`` only.

    The copy is colour/contrast shifted, blurred or sharpened and moved/scaled by a
    few pixels (as in :func:`~seethrough.synth.self_blend`), then alpha-blended through
    :func:`feathered_mask` of the region at an opacity of 0.8-1.0. ``mask`` is the
    per-pixel blend weight: pixels where it is 0 are unchanged.
    """
    if region not in BLEND_REGIONS:
        raise ValueError(f"unknown region {region!r}; choose one of {', '.join(BLEND_REGIONS)}")
    if crop.ndim != 3 or crop.shape[2] != 3 or crop.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 crop, got {crop.dtype} of shape {crop.shape}")
    target = region_masks(crop_landmarks, crop.shape)[region]
    if int(target.sum()) < min_pixels:
        raise ValueError(f"region {region!r} has {int(target.sum())} pixels in this crop (< {min_pixels})")
    ys, xs = np.nonzero(target)
    src = _perturb(crop, np.array([xs.mean(), ys.mean()]), rng)
    mask = feathered_mask(target, rng) * rng.uniform(0.8, 1.0)
    out = src * mask[..., None] + crop.astype(np.float32) * (1.0 - mask[..., None])
    image = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return Synthetic(image, mask.astype(np.float32), f"local_blend:{region}")


# ---------------------------------------------------------------- pointing game


def candidate_regions(crop_landmarks: np.ndarray, shape: tuple[int, ...], min_pixels: int = MIN_PIXELS) -> dict[str, np.ndarray]:
    """The regions :func:`region_scores` ranks: parts and ``boundary`` with >= ``min_pixels`` pixels."""
    masks = region_masks(crop_landmarks, shape)
    masks.pop("face")
    return {name: m for name, m in masks.items() if int(m.sum()) >= min_pixels}


def hit_regions(
    crop_landmarks: np.ndarray, mask: np.ndarray, min_overlap: float = MIN_OVERLAP, min_pixels: int = MIN_PIXELS
) -> frozenset[str]:
    """Candidate regions with at least ``min_overlap`` of their pixels manipulated (mask > 0.5)."""
    changed = np.asarray(mask) > 0.5
    regions = candidate_regions(crop_landmarks, changed.shape, min_pixels)
    return frozenset(name for name, m in regions.items() if float(changed[m].mean()) >= min_overlap)


def _targets(crop_landmarks, mask, targets, min_overlap, min_pixels) -> frozenset[str]:
    if targets is not None:
        return frozenset(targets)
    if mask is None:
        raise ValueError("give either a manipulation mask or the target region names")
    return hit_regions(crop_landmarks, mask, min_overlap, min_pixels)


def pointing_hit(
    cam: np.ndarray,
    crop_landmarks: np.ndarray,
    mask: np.ndarray | None = None,
    *,
    targets: Collection[str] | None = None,
    min_overlap: float = MIN_OVERLAP,
    min_pixels: int = MIN_PIXELS,
) -> Pointing:
    """Is the region ranked first on ``cam`` a manipulated one?

    Manipulated regions are ``targets`` when given (e.g. ``{"boundary"}`` for the seam
    of a whole-face blend), else :func:`hit_regions` of ``mask`` (same shape as
    ``cam``). A map with no heat on the face ranks nothing and counts as a miss.
    """
    if mask is not None and np.shape(mask)[:2] != cam.shape:
        raise ValueError(f"mask shape {np.shape(mask)} does not match the map's {cam.shape}")
    hits = _targets(crop_landmarks, mask, targets, min_overlap, min_pixels)
    if float(cam.max() - cam.min()) <= 1e-8:
        return Pointing(None, False)
    scores = region_scores(cam, crop_landmarks, min_pixels=min_pixels)
    if not scores or max(scores.values()) <= 0:  # no heat on the face: nothing is ranked
        return Pointing(None, False)
    top = max(scores, key=scores.get)
    return Pointing(top, top in hits)


def random_baseline(
    crop_landmarks: np.ndarray,
    mask: np.ndarray | None = None,
    *,
    shape: tuple[int, ...] | None = None,
    targets: Collection[str] | None = None,
    weighted: bool = False,
    min_overlap: float = MIN_OVERLAP,
    min_pixels: int = MIN_PIXELS,
) -> float:
    """Exact hit probability of a region picked at random among the candidates.

    Uniform over regions, or with ``weighted`` in proportion to each region's pixel
    count. ``shape`` is needed only when ``targets`` replace ``mask``.
    """
    hw = np.shape(mask)[:2] if mask is not None else shape
    if hw is None:
        raise ValueError("random_baseline needs the mask or the crop shape")
    regions = candidate_regions(crop_landmarks, hw, min_pixels)
    if not regions:
        return 0.0
    hits = _targets(crop_landmarks, mask, targets, min_overlap, min_pixels)
    weights = {name: (float(m.sum()) if weighted else 1.0) for name, m in regions.items()}
    return sum(w for name, w in weights.items() if name in hits) / sum(weights.values())


# ---------------------------------------------------------------- deletion curve


def random_saliency(shape: tuple[int, ...], rng: np.random.Generator, grid: int = 7) -> np.ndarray:
    """A random map as smooth as a Grad-CAM: uniform noise on a ``grid`` x ``grid`` lattice, upsampled."""
    h, w = int(shape[0]), int(shape[1])
    small = rng.random((grid, grid)).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def deletion_order(saliency: np.ndarray, rng: np.random.Generator, within: np.ndarray | None = None) -> np.ndarray:
    """Flat pixel indices, most salient first; pixels inside ``within`` before all others; ties at random."""
    s = np.asarray(saliency, np.float64).ravel()
    tie = rng.random(s.size)
    keys = [tie, -s]
    if within is not None:
        keys.append(~np.asarray(within, bool).ravel())
    return np.lexsort(keys)


def fill_image(crop: np.ndarray, fill: str | np.ndarray = "blur") -> np.ndarray:
    """What deleted pixels become.

    ``"blur"``: a strongly blurred copy (sigma 5% of the side); ``"mean"``: the mean
    colour; an image of the crop's shape: its pixels (e.g. the real original of a fake,
    so deleting *restores* it).
    """
    if isinstance(fill, np.ndarray):
        if fill.shape != crop.shape:
            raise ValueError(f"fill image shape {fill.shape} does not match the crop's {crop.shape}")
        return fill.astype(np.uint8, copy=False)
    if fill == "blur":
        return cv2.GaussianBlur(crop, (0, 0), 0.05 * max(crop.shape[:2]))
    if fill == "mean":
        return np.broadcast_to(crop.reshape(-1, 3).mean(0).round().astype(np.uint8), crop.shape).copy()
    raise ValueError(f"unknown fill {fill!r}; use 'blur', 'mean' or an image")


def deletion_images(
    crop: np.ndarray,
    cam: np.ndarray,
    fractions: Sequence[float] = DELETION_FRACTIONS,
    mode: str = "cam",
    rng: np.random.Generator | None = None,
    *,
    fill: str | np.ndarray = "blur",
    within: np.ndarray | None = None,
    grid: int = 7,
) -> list[np.ndarray]:
    """``crop`` with its top ``fractions`` of pixels deleted, one image per fraction.

    ``mode="cam"`` orders pixels by ``cam`` (hottest first); ``mode="random"`` by a
    :func:`random_saliency` map of the same smoothness (so deletions are blobs, not
    scattered pixels). With ``within`` (a boolean mask), pixels inside it go first
    (e.g. random deletion confined to the face). Deleted pixels take ``fill``
    (:func:`fill_image`).
    """
    if cam.shape != crop.shape[:2]:
        raise ValueError(f"map shape {cam.shape} does not match the crop's {crop.shape[:2]}")
    fr = np.asarray(fractions, np.float64)
    if fr.ndim != 1 or fr.size == 0 or (fr < 0).any() or (fr > 1).any():
        raise ValueError(f"fractions must be a non-empty list of values in [0, 1], got {list(fractions)}")
    rng = rng if rng is not None else np.random.default_rng(0)
    if mode == "cam":
        saliency = cam
    elif mode == "random":
        saliency = random_saliency(cam.shape, rng, grid)
    else:
        raise ValueError(f"unknown mode {mode!r}; use 'cam' or 'random'")
    order = deletion_order(saliency, rng, within)
    h, w = cam.shape
    filled = fill_image(crop, fill).reshape(-1, 3)
    images = []
    for f in fr:
        k = int(round(f * h * w))
        img = crop.reshape(-1, 3).copy()
        img[order[:k]] = filled[order[:k]]
        images.append(img.reshape(crop.shape))
    return images


def deletion_curve(
    score_fn: ScoreFn,
    crop: np.ndarray,
    cam: np.ndarray,
    fractions: Sequence[float] = DELETION_FRACTIONS,
    mode: str = "cam",
    rng: np.random.Generator | None = None,
    *,
    fill: str | np.ndarray = "blur",
    within: np.ndarray | None = None,
    grid: int = 7,
) -> np.ndarray:
    """Scores of ``crop`` after deleting the top ``fractions`` of its pixels (see :func:`deletion_images`).

    ``score_fn`` takes a list of HxWx3 uint8 images and returns one score per image;
    it is called once, with every fraction's image.
    """
    images = deletion_images(crop, cam, fractions, mode, rng, fill=fill, within=within, grid=grid)
    scores = np.asarray(score_fn(images), np.float64).ravel()
    if scores.size != len(images):
        raise ValueError(f"score_fn returned {scores.size} scores for {len(images)} images")
    return scores


def deletion_auc(fractions: Sequence[float], scores: np.ndarray) -> float:
    """Area under a deletion curve divided by its fraction span: the mean score along it."""
    x = np.asarray(fractions, np.float64)
    y = np.asarray(scores, np.float64)
    span = float(x[-1] - x[0])
    if span <= 0:
        raise ValueError("a deletion curve needs at least two increasing fractions")
    return float(np.sum((y[1:] + y[:-1]) * np.diff(x)) / 2.0 / span)


def frame_fake_probability(predictor, crops: list[np.ndarray], batch: int = 32) -> np.ndarray:
    """Calibrated per-frame fake probability of each crop (the frame head, as in ``Predictor.score``)."""
    import torch

    if not crops:
        return np.zeros(0, np.float64)
    out = []
    with predictor.lock, torch.no_grad():
        for i in range(0, len(crops), batch):
            emb, _ = predictor.embed(crops[i : i + batch])  # the views analyze() scores (a mirror too, if it does)
            logits = predictor.model.frame_head(emb).float()
            out.append(torch.softmax(logits / predictor.frame_temperature, -1)[:, 1])
    return torch.cat(out).numpy().astype(np.float64)


# ---------------------------------------------------------------- intervals


def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion ``k / n`` (95% for ``z = 1.96``)."""
    if n <= 0:
        return (float("nan"), float("nan"))
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (max(0.0, centre - half), min(1.0, centre + half))


def bootstrap_ci(values: Sequence[float], rng: np.random.Generator, n_boot: int = 2000, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values``."""
    v = np.asarray(values, np.float64)
    if v.size == 0:
        return (float("nan"), float("nan"))
    means = v[rng.integers(0, v.size, (n_boot, v.size))].mean(1)
    a = (1 - level) / 2
    return (float(np.quantile(means, a)), float(np.quantile(means, 1 - a)))
