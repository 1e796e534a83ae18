"""``seethrough fit-head``: new heads on a frozen backbone, fitted on every training source.

Why this exists (issue #12): the default model's heads learned DFDC; its *embedding* is more
general than its heads. A regularised linear read-out of the same 1280 features, fitted on
the training part of every source, separates real from fake on sources it never saw (the
benchmark's ``test`` part) where the trained heads are at chance. Fitting it costs seconds
once the files are embedded, so the recipe runs on a laptop.

The recipe (``head:`` in the training config):

* the files of every listed source, ``train`` part of the committed split only (composites
  never), at most ``per_source`` per source and label;
* their faces cropped **exactly as analyze() crops them** (the checkpoint's crop size and
  margin, the same detector settings; cached by ``seethrough.faces.prep``), so the read-out
  is fitted on what it will be shown;
* ``views`` of each file: its crops as they are and a quality-augmented copy (``data.augment``:
  small faces up-scaled, JPEG, blur, noise, colour, for both labels alike); a file is one
  example, the mean embedding of its crops, as analyze() scores a face track;
* one L2 logistic regression on standardised embeddings; every (source, label) weighs
  ``shares[source]`` in all, however many files it has;
* the method head: a multinomial regression over the fakes whose method (or family) the
  config maps to one of the checkpoint's methods, and over pseudo-fakes of the real files
  (``data.synth``: landmark swaps, reenactment), which teach only the method head.

The result is a detector with ``temporal: mean``: a clip's logit is the mean of its frames'
logits, the frame head and the clip head are the same read-out, and Grad-CAM explains
exactly the score shown. The backbone's weights are copied unchanged, unless ``head.tune``
fine-tunes its last stages between a first read-out and the final one (``tune_top.py``).
"""

from __future__ import annotations

import csv
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..errors import ConfigError
from ..log import get_logger
from .augment import AUGMENT_ADDED_OFF
from .cache import mark_used
from .config import method_index

log = get_logger(__name__)

VIEWS = ("plain", "augmented")
#: Bump when what embed_files computes changes (crops, views, pseudo-fakes, kept inputs): stored
#: examples of an older format are then embedded again instead of reused.
EMBED_FORMAT = 1


@dataclass
class Embedded:
    """One example per (file, view): the mean embedding of the file's face crops."""

    emb: np.ndarray  # (N, D) float32
    labels: np.ndarray  # (N,) 0 real, 1 fake
    sources: list[str]  # the dataset (folder) of the list the file comes from
    groups: list[str]
    methods: list[str]  # what the method head may learn from: the row's method or family, "synth:<family>"
    views: list[str]
    # with head.tune: per example, its crops' input of the stages to fine-tune, (n, C, h, w) float16
    feats: list[np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, mask: np.ndarray) -> Embedded:
        keep = np.flatnonzero(mask)
        pick = lambda xs: None if xs is None else [xs[i] for i in keep]  # noqa: E731
        return Embedded(self.emb[keep], self.labels[keep], pick(self.sources), pick(self.groups),
                        pick(self.methods), pick(self.views), pick(self.feats))

    def save(self, path: Path) -> None:
        """Write to ``path`` (.npz, no pickles), through a temporary file: a crash leaves no half file."""
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {"emb": self.emb, "labels": self.labels,
                  **{k: np.array(getattr(self, k), dtype=str) for k in ("sources", "groups", "methods", "views")}}
        if self.feats is not None:
            arrays["feats"] = np.concatenate(self.feats) if self.feats else np.zeros((0,), np.float16)
            arrays["counts"] = np.array([len(f) for f in self.feats], np.int64)
        tmp = path.with_name(path.name + ".part.npz")
        np.savez(tmp, **arrays)
        tmp.replace(path)

    @staticmethod
    def load(path: Path) -> Embedded:
        with np.load(path, allow_pickle=False) as z:
            feats = None
            if "feats" in z:
                feats = np.split(z["feats"], np.cumsum(z["counts"])[:-1]) if len(z["counts"]) else []
            return Embedded(z["emb"], z["labels"], *[z[k].tolist() for k in ("sources", "groups", "methods", "views")],
                            feats)

    @staticmethod
    def concat(parts: list[Embedded]) -> Embedded:
        feats = None if any(p.feats is None for p in parts) else sum((p.feats for p in parts), [])
        return Embedded(np.concatenate([p.emb for p in parts]), np.concatenate([p.labels for p in parts]),
                        *[sum((getattr(p, k) for p in parts), []) for k in ("sources", "groups", "methods", "views")],
                        feats)


@dataclass
class HeadFit:
    weight: np.ndarray  # (2, D) binary logits, in the raw embedding space
    bias: np.ndarray  # (2,)
    method_weight: np.ndarray | None  # (M, D)
    method_bias: np.ndarray | None
    report: dict = field(default_factory=dict)


def sample_rows(rows: list[dict], per_label: int, seed: int = 0) -> list[dict]:
    """At most ``per_label`` rows of each label, drawn at random, in list order."""
    from .data import label_of

    rng = np.random.default_rng(seed)
    keep: list[int] = []
    for y in (0, 1):
        pool = [i for i, r in enumerate(rows) if label_of(r["label"]) == y]
        keep.extend(rng.permutation(pool)[:per_label].tolist() if pool else [])
    return [rows[i] for i in sorted(keep)]


def prep_settings(predictor, frames: int):
    """The face-crop settings of analyze() for ``predictor`` (as :func:`seethrough.analysis.analyze` uses)."""
    from ..analysis import AnalyzeOptions
    from ..faces.prep import PrepSettings

    return PrepSettings(frames=frames, mode="even", size=predictor.size, margin=predictor.crop_margin,
                        min_face=AnalyzeOptions().min_face)


def crop_source_files(src, rows: list[dict], settings, cache_dir: Path, progress: bool = True) -> list[tuple[dict, Path]]:
    """Crop the faces of ``rows`` as analyze() would (cached); (row, npz) of every file with a face."""
    from ..faces.prep import prep_faces
    from ..datasets.heldout import dataset_name

    root = src.root or src.csv.parent
    out = Path(cache_dir) / f"faces-{dataset_name(src.csv)}"
    columns = list(dict.fromkeys(k for r in rows for k in r))
    with tempfile.TemporaryDirectory() as tmp:
        meta = Path(tmp) / "rows.csv"
        with open(meta, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=columns)
            w.writeheader()
            w.writerows(rows)
        report = prep_faces(meta, out, root=root, settings=settings, progress=progress)
    mark_used(out)
    return [(r, out / o.npz) for r, o in zip(rows, report.rows) if o.status == "ok" and o.npz]


def embed_files(predictor, files: list[tuple[dict, Path]], source: str, views=VIEWS, *, synth=None, augment=None,
                fake_method: str | None = None, seed: int = 0, progress: bool = True,
                keep: torch.nn.Module | None = None) -> Embedded:
    """Per (file, view) mean embeddings of cropped files; with ``synth``, a pseudo-fake of every real file.
    With ``keep`` (a module of the backbone), each example also keeps its crops' outputs of that module."""
    from ..faces.cache import load_faces
    from ..synth import face_swap, reenact, self_blend
    from .augment import AugmentConfig, Augmenter
    from .data import label_of, row_group
    from .tune_top import embed_keeping

    unknown = set(views) - set(VIEWS)
    if unknown:
        raise ConfigError(f"Unknown head views {sorted(unknown)}; choose from {list(VIEWS)}.")
    augment = augment or AugmentConfig()
    out: dict[str, list] = {k: [] for k in ("emb", "labels", "sources", "groups", "methods", "views", "feats")}
    families = list(synth.families) if synth is not None else []
    family_p = np.array([synth.families[f] for f in families], np.float64) if families else None
    reals = [(r, p) for r, p in files if label_of(r["label"]) == 0]

    def add(crops: list[np.ndarray], label: int, group: str, method: str, view: str) -> None:
        e, feats = embed_keeping(predictor, crops, keep)
        if feats is not None:
            out["feats"].append(feats)
        out["emb"].append(e.mean(0).numpy().astype(np.float32))
        out["labels"].append(label)
        out["sources"].append(source)
        out["groups"].append(group)
        out["methods"].append(method)
        out["views"].append(view)

    for k, (r, npz) in enumerate(tqdm(files, desc=f"embedding {source}", unit="file", disable=not progress)):
        faces = load_faces(npz)
        crops = [np.asarray(c) for c in faces.crops]
        label, group = label_of(r["label"]), row_group(r)
        method = "original" if label == 0 else (r.get("method") if fake_method is None else fake_method) or ""
        family = r.get("family") or ""
        tag = f"{method}|{family}" if label == 1 else "original"
        rng = np.random.default_rng([seed, k])
        if "plain" in views:
            add(crops, label, group, tag, "plain")
        if "augmented" in views:
            aug = Augmenter(augment, rng)
            add([aug(c, None)[0] for c in crops], label, group, tag, "augmented")
        lm = np.asarray(faces.landmarks[0])
        if label == 0 and synth is not None and families and not np.isnan(lm).any():
            fam = str(rng.choice(families, p=family_p / family_p.sum()))
            others = [o for o in reals if row_group(o[0]) != group] if fam == "face_swap" else []
            if others:  # a swap needs another identity; with none, self-blending
                other = load_faces(others[int(rng.integers(len(others)))][1])
                syn = face_swap(crops[0], lm, np.asarray(other.crops[0]), np.asarray(other.landmarks[0]), rng)
            elif fam == "reenact":
                syn = reenact(crops[0], lm, rng)
            else:
                fam, syn = "self_blend", self_blend(crops[0], lm, rng)
            add([syn.image], 1, group, f"synth:{fam}", "synth")
    if not out["emb"]:
        return Embedded(np.zeros((0, predictor.model.spec.embedding_dim or 1), np.float32), np.zeros(0, np.int64),
                        [], [], [], [], None if keep is None else [])
    return Embedded(np.stack(out["emb"]), np.array(out["labels"], np.int64), out["sources"], out["groups"],
                    out["methods"], out["views"], out["feats"] if keep is not None else None)


def share_weights(sources: list[str], labels: np.ndarray, shares: dict[str, float] | None = None) -> np.ndarray:
    """Weights (mean 1) giving each source ``shares[source]`` in all (equal when not given),
    split evenly between its labels, evenly among each label's examples."""
    names = sorted(set(sources))
    shares = shares or {}
    unlisted = [n for n in names if n not in shares]
    rest = max(0.0, 1.0 - sum(shares.get(n, 0.0) for n in names))
    share = {n: shares.get(n, rest / len(unlisted) if unlisted else 0.0) for n in names}
    keys = [f"{s}|{y}" for s, y in zip(sources, labels)]
    _, inverse, counts = np.unique(np.array(keys, dtype=object).astype(str), return_inverse=True, return_counts=True)
    n_labels = {n: len({y for s, y in zip(sources, labels) if s == n}) for n in names}
    w = np.array([share[s] / n_labels[s] for s in sources]) / counts[inverse]
    if w.sum() <= 0:
        raise ConfigError("head.shares gives every training source a zero share.")
    return w * len(w) / w.sum()


def _fit_logistic(x: np.ndarray, y: np.ndarray, w: np.ndarray, c: float) -> tuple[np.ndarray, np.ndarray]:
    """L2 logistic regression on standardised ``x``; returns (coef, intercept) in the raw space."""
    from sklearn.linear_model import LogisticRegression

    mu = x.mean(0)
    sd = x.std(0) + 1e-6
    clf = LogisticRegression(C=c, max_iter=5000).fit((x - mu) / sd, y, sample_weight=w)
    coef = clf.coef_ / sd  # (K or 1, D)
    intercept = clf.intercept_ - coef @ mu
    return coef, intercept


def fit_heads(data: Embedded, *, c: float = 0.003, shares: dict[str, float] | None = None,
              method_of: dict[str, str] | None = None, methods: list[str] | None = None) -> HeadFit:
    """The binary read-out of the real and fake files of ``data`` (pseudo-fakes, view ``synth``, left
    out) and, with ``methods``, the method read-out of its fakes and pseudo-fakes.

    ``method_of`` maps a fake's method or family (or ``synth:<family>``) to one of ``methods``;
    fakes with no mapping take no part in the method fit.
    """
    binary = np.array([v != "synth" for v in data.views])
    real = data.subset(binary)
    if len(set(real.labels.tolist())) < 2:
        raise ConfigError("The head needs real and fake training files; the sources gave one label only.")
    w = share_weights(real.sources, real.labels, shares)
    coef, intercept = _fit_logistic(real.emb, real.labels, w, c)
    # two-logit head with softmax(l)[1] == sigmoid(coef·x + b): logits (0, coef·x + b)
    weight = np.concatenate([np.zeros_like(coef), coef]).astype(np.float32)
    bias = np.array([0.0, float(intercept[0])], np.float32)
    report = {"examples": len(real), "real": int((real.labels == 0).sum()), "fake": int((real.labels == 1).sum()),
              "sources": {n: real.sources.count(n) for n in sorted(set(real.sources))}, "c": c,
              "shares": shares or {}, "by_view": {v: data.views.count(v) for v in dict.fromkeys(data.views)}}
    mw = mb = None
    if methods:
        target = np.array([method_index(m, method_of or {}, methods) for m in data.methods])
        sel = (data.labels == 1) & (target >= 0)
        present = sorted(set(target[sel].tolist()))
        if len(present) >= 2:
            mcoef, mint = _fit_logistic(data.emb[sel], target[sel],
                                        share_weights(list(map(str, target[sel])), np.zeros(sel.sum())), c)
            if len(present) == 2:  # sklearn gives one row for two classes
                mcoef, mint = np.concatenate([-mcoef / 2, mcoef / 2]), np.array([-mint[0] / 2, mint[0] / 2])
            mw = np.zeros((len(methods), data.emb.shape[1]), np.float32)
            mb = np.full(len(methods), -30.0, np.float32)  # a method no training fake showed is never predicted
            for row, k in enumerate(present):
                mw[k], mb[k] = mcoef[row], mint[row]
            report["methods"] = {methods[k]: int((target[sel] == k).sum()) for k in present}
        else:
            log.warning("method head: fewer than two methods among the training fakes; left at zero")
    return HeadFit(weight, bias, mw, mb, report)


def build_head_detector(source, fit: HeadFit, methods: list[str]):
    """A ``temporal: mean`` detector: ``source``'s backbone (a loaded detector, as it is) with the fitted heads."""
    from ..models import DeepfakeDetector

    model = DeepfakeDetector(source.backbone, temporal="mean", num_methods=len(methods),
                             dropout=source.spec.dropout)
    with torch.no_grad():
        for head in (model.frame_head, model.binary_head):
            head.weight.copy_(torch.from_numpy(fit.weight))
            head.bias.copy_(torch.from_numpy(fit.bias))
        if model.method_head is not None:
            if fit.method_weight is None:
                model.method_head.weight.zero_()
                model.method_head.bias.zero_()
            else:
                model.method_head.weight.copy_(torch.from_numpy(fit.method_weight))
                model.method_head.bias.copy_(torch.from_numpy(fit.method_bias))
    return model.eval()


def split_groups(groups: list[str], val_frac: float, seed: int = 0) -> np.ndarray:
    """Boolean mask of the views whose group falls in a random ``val_frac`` of the groups."""
    uniq = sorted(set(groups))
    rng = np.random.default_rng(seed)
    val = set(rng.permutation(uniq)[: int(round(val_frac * len(uniq)))].tolist())
    return np.array([g in val for g in groups])


def _auc(y: np.ndarray, s: np.ndarray) -> float | None:
    from .metrics import roc_auc

    return None if len(set(y.tolist())) < 2 else round(roc_auc(y, s), 4)


def _embedding_key(cfg, bf16: bool) -> str:
    """What the embedded examples depend on: the starting checkpoint, the lists and split files (not the
    media they name), the data and sampling settings, the stage whose inputs are kept, the precision the
    backbone ran in, and the version of the code."""
    import hashlib

    from .. import __version__
    from ..inference import file_sha256

    h = hashlib.sha256(f"{__version__}|{EMBED_FORMAT}|bf16={bf16}".encode())
    files = [cfg.head.init_from] + [p for s in cfg.listed_sources for p in (s.csv, s.heldout) if p]
    for path in files:
        h.update(file_sha256(path).encode())
    head = cfg.head
    data = json.loads(cfg.data.model_dump_json())
    for name in AUGMENT_ADDED_OFF:  # left out while off: the stores made before they existed stay valid
        if not data["augment"].get(name):
            data["augment"].pop(name, None)
    h.update(json.dumps([data, head.per_source, head.frames, head.views,
                         head.synth, head.tune.blocks, cfg.seed], sort_keys=True).encode())
    return h.hexdigest()[:16]


def auc_by_source(labels: np.ndarray, scores: np.ndarray, sources: list[str]) -> dict[str, dict]:
    """ROC-AUC per source, for the sources with 5+ files of each label (an AUC of fewer says nothing)."""
    out = {}
    for n in sorted(set(sources)):
        m = np.array(sources) == n
        y = labels[m]
        if min((y == 0).sum(), (y == 1).sum()) >= 5:
            out[n] = {"auc": _auc(y, scores[m]), "real": int((y == 0).sum()), "fake": int((y == 1).sum())}
    return out


def _validate(data: Embedded, in_val: np.ndarray, head) -> tuple[HeadFit | None, dict]:
    """A read-out fitted without the groups of ``in_val`` and its AUC on their plain views, by source."""
    if not in_val.any():
        return None, {}
    first = fit_heads(data.subset(~in_val), c=head.c, shares=head.shares)
    held = data.subset(in_val & np.array([v == "plain" for v in data.views]))
    score = held.emb @ first.weight[1] + first.bias[1]
    metrics = {"val_files": len(held), "val_auc": _auc(held.labels, score),
               "val_by_source": auc_by_source(held.labels, score, held.sources)}
    log.info("fit-head: in-domain validation on held-out groups: %s", metrics)
    return first, metrics


def run_fit_head(config: Path, out: Path | None = None, *, progress: bool = True) -> tuple[Path, dict]:
    """The whole step from a training config: crop and embed its training files as analyze() does,
    report the in-domain validation AUC (groups held out of a first fit), refit on all, write."""
    from .. import __version__
    from ..datasets.heldout import dataset_name
    from ..inference import Predictor
    from ..models import save_checkpoint
    from .config import CropSource, load_config
    from .data import read_source_rows
    from .loop import seed_everything
    from .tune_top import cut_layer, tune_top

    cfg = load_config(config)
    head = cfg.head
    if head.init_from is None:
        raise ConfigError(f"{config}: head.init_from must name the checkpoint whose backbone is kept.")
    seed_everything(cfg.seed)
    out = Path(out) if out else cfg.output_dir / "model.pt"
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cfg.listed_sources:
        raise ConfigError(f"{config}: fit-head reads its files from listed sources (CSV), not from a pack.")
    predictor = Predictor(head.init_from)
    predictor.flip_average = False  # the heads are fitted on single views, whatever init_from does when it scores
    settings = prep_settings(predictor, head.frames)
    keep = cut_layer(predictor.model, head.tune.blocks) if head.tune.blocks else None
    stored = Path(cfg.data.cache_dir) / "head-embeddings" / f"{_embedding_key(cfg, predictor.bf16)}.npz"
    if stored.is_file():
        mark_used(stored)
        data = Embedded.load(stored)
        log.info("fit-head: %d embedded examples from %s", len(data), stored)
    else:
        parts = []
        for src in cfg.listed_sources:
            rows = sample_rows(read_source_rows(src, "Head source"), head.per_source, cfg.seed)
            files = crop_source_files(src, rows, settings, cfg.data.cache_dir, progress=progress)
            log.info("fit-head: %s: %d of %d files have a face", src.csv, len(files), len(rows))
            parts.append(embed_files(predictor, files, dataset_name(src.csv), tuple(head.views),
                                     synth=cfg.data.synth if head.synth else None, augment=cfg.data.augment,
                                     fake_method=src.fake_method if isinstance(src, CropSource) else None,
                                     seed=cfg.seed, progress=progress, keep=keep))
        data = Embedded.concat(parts)
        data.save(stored)
    if not len(data):
        raise ConfigError("No training file had a face: nothing to fit the head on.")
    methods = list(cfg.methods)
    in_val = split_groups(data.groups, head.val_frac, cfg.seed)
    if not (head.val_frac > 0 and 0 < in_val.sum() < len(in_val)):
        in_val = np.zeros(len(data), bool)
    first, metrics = _validate(data, in_val, head)
    if head.tune.blocks:
        metrics = {"before_tune": metrics}
        start = first or fit_heads(data, c=head.c, shares=head.shares)
        metrics["tune"] = tune_top(predictor.model, data, start, head.tune, shares=head.shares, val=in_val,
                                   seed=cfg.seed, progress=progress, half=predictor.meta.weights_dtype == "float16")
        metrics.update(_validate(data, in_val, head)[1])
    fit = fit_heads(data, c=head.c, shares=head.shares, method_of=dict(head.method_of), methods=methods)
    model = build_head_detector(predictor.model, fit, methods)
    src_meta = predictor.meta
    config_dump = json.loads(cfg.model_dump_json())
    config_dump["data"]["crop_margin"] = predictor.crop_margin  # what analyze() crops with, as fitted
    config_dump["model_version"] = f"{cfg.name}-{__version__}"
    config_dump["inference"] = {"flip_average": head.flip_average}
    save_checkpoint(out, model, labels={"binary": list(src_meta.binary_labels), "methods": methods},
                    preprocessing=src_meta.preprocessing, config={**config_dump, "backbone_from": str(head.init_from)},
                    metrics={"head": fit.report, **metrics},
                    calibration={"temperature": 1.0, "thresholds": {"real_below": 0.4, "fake_above": 0.6}},
                    half=src_meta.weights_dtype == "float16")
    log.info("fit-head: wrote %s", out)
    return out, {**fit.report, **metrics}
