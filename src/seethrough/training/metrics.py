"""Classification metrics shared by training, evaluation and calibration."""

from __future__ import annotations

import numpy as np
from sklearn import metrics as skm


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC-AUC, or NaN when only one class is present."""
    labels = np.asarray(labels)
    if len(np.unique(labels)) < 2:
        return float("nan")
    return float(skm.roc_auc_score(labels, scores))


def eer(labels: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """Equal error rate and the threshold where it is reached."""
    labels = np.asarray(labels)
    if len(np.unique(labels)) < 2:
        return float("nan"), float("nan")
    fpr, tpr, thr = skm.roc_curve(labels, scores)
    fnr = 1 - tpr
    i = int(np.nanargmin(np.abs(fnr - fpr)))
    return float((fpr[i] + fnr[i]) / 2), float(thr[i])


def binary_report(labels: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> dict:
    """Accuracy, macro P/R/F1, AUC, EER and the confusion matrix for real(0)/fake(1)."""
    labels = np.asarray(labels).astype(int)
    scores = np.asarray(scores, dtype=float)
    pred = (scores >= threshold).astype(int)
    p, r, f, _ = skm.precision_recall_fscore_support(labels, pred, labels=[0, 1], average="macro", zero_division=0)
    e, e_thr = eer(labels, scores)
    return {
        "n": int(len(labels)),
        "accuracy": float((pred == labels).mean()) if len(labels) else float("nan"),
        "macro_precision": float(p),
        "macro_recall": float(r),
        "macro_f1": float(f),
        "auc": roc_auc(labels, scores),
        "eer": e,
        "eer_threshold": e_thr,
        "threshold": float(threshold),
        "confusion": skm.confusion_matrix(labels, pred, labels=[0, 1]).tolist(),
    }


def multiclass_report(labels: np.ndarray, pred: np.ndarray, names: list[str]) -> dict:
    labels, pred = np.asarray(labels).astype(int), np.asarray(pred).astype(int)
    idx = list(range(len(names)))
    p, r, f, _ = skm.precision_recall_fscore_support(labels, pred, labels=idx, average="macro", zero_division=0)
    return {
        "n": int(len(labels)),
        "accuracy": float((labels == pred).mean()) if len(labels) else float("nan"),
        "macro_precision": float(p),
        "macro_recall": float(r),
        "macro_f1": float(f),
        "confusion": skm.confusion_matrix(labels, pred, labels=idx).tolist(),
        "labels": list(names),
        "report": skm.classification_report(labels, pred, labels=idx, target_names=names, zero_division=0, output_dict=True),
    }


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """Temperature T minimising the NLL of softmax(logits / T) (grid + refinement)."""
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels).astype(int)

    def nll(t: float) -> float:
        z = logits / t
        z = z - z.max(1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(1, keepdims=True))
        return float(-logp[np.arange(len(labels)), labels].mean())

    grid = np.exp(np.linspace(np.log(0.25), np.log(10), 60))
    best = min(grid, key=nll)
    for step in (0.1, 0.02):
        cand = best * np.exp(np.linspace(-step * 5, step * 5, 11))
        best = min(cand, key=nll)
    return float(best)
