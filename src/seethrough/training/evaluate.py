"""``seethrough evaluate``: run :func:`~seethrough.analysis.analyze` over a labelled set.

Writes ``metrics.json`` (video- and frame-level), ``confusion.csv``/``confusion.png``,
``classification_report.txt``, ``per_method.csv``, ``predictions.csv`` and
``failures.json`` (misclassified files with their scores, the input of
``seethrough finetune``).
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..facts import VERDICTS
from ..log import get_logger
from .data import label_of, row_group
from .generalisation import rates
from .metrics import binary_report, multiclass_report, roc_auc

log = get_logger(__name__)


@dataclass
class Item:
    path: Path
    label: int  # 0 real, 1 fake
    method: str
    group: str = ""  # source / source video / identity: what the split holds out
    family: str = ""  # manipulation family of a fake (cross_source ``family``)
    kind: str = ""  # image / video / animation, where the list says
    grid: bool = False  # a composite of several faces: a whole-file test ("a manipulated face is in here")
    dataset: str = ""  # the labels CSV's folder name


def items_from_csv(csv_path: Path, root: Path | None = None, split: str | None = None, *,
                   heldout=None, part: str | None = None) -> list[Item]:
    """Rows of a labelled list; paths relative to ``root`` or the CSV.

    Reads ``seethrough prep meta`` CSVs (``path,label[,method][,split]``) and the
    ``cross_source``-style lists (``kind,family,method,group,grid``; images, videos and
    animations alike). ``split`` keeps rows of that ``split`` column; ``part``
    (train/calib/test) keeps rows whose group is in that part of the ``heldout`` split
    (:func:`seethrough.datasets.heldout.load_split`).
    """
    from ..datasets.heldout import PARTS, dataset_name

    root = root or csv_path.parent
    dataset = dataset_name(csv_path)
    if part is not None:
        if part not in PARTS:
            raise ValueError(f"part must be one of {', '.join(PARTS)}, got {part!r}")
        if heldout is None:
            from ..datasets.heldout import load_split

            heldout = load_split()
    items = []
    with open(csv_path, newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"path", "label"} - set(reader.fieldnames or [])
        if missing:
            raise KeyError(f"{csv_path} lacks the column(s) {', '.join(sorted(missing))}")
        for r in reader:
            if split and r.get("split") and r["split"] != split:
                continue
            if part is not None and heldout.part_of_row(dataset, r) != part:
                continue
            y = label_of(r["label"])
            family = (r.get("family") or "") if y == 1 else ""
            method = r.get("method") or family or ("original" if y == 0 else "unknown")
            items.append(Item(root / r["path"], y, "original" if y == 0 else method,
                              group=row_group(r),
                              family=family, kind=r.get("kind") or "", grid=str(r.get("grid", "")).strip() == "1",
                              dataset=dataset))
    return items


def evaluate(items: list[Item], out_dir: Path, *, predictor=None, options=None, threshold: float = 0.5) -> dict:
    from ..analysis import analyze
    from ..inference import get_predictor

    predictor = predictor or get_predictor()
    out_dir.mkdir(parents=True, exist_ok=True)
    rows, frame_scores, frame_labels = [], [], []
    for it in tqdm(items, desc="evaluating", unit="file"):
        a = analyze(it.path, predictor=predictor, options=options)
        gate = a.abstention or {}
        row = {"path": str(Path(it.path).resolve()), "label": it.label, "method": it.method, "status": a.status,
               "fake_probability": a.fake_probability, "verdict": a.verdict,
               "predicted_method": (a.method or {}).get("predicted"), "message": a.message,
               "dataset": it.dataset, "group": it.group, "family": it.family, "kind": it.kind, "grid": int(it.grid),
               "abstained": ",".join(r["code"] for r in gate.get("reasons", [])) if gate.get("gated") else "",
               "unfamiliarity": gate.get("unfamiliarity")}
        rows.append(row)
        if a.status == "ok":
            fs = [f.fake_probability for f in a.frames if f.fake_probability is not None]
            frame_scores += fs
            frame_labels += [it.label] * len(fs)
    ok = [r for r in rows if r["status"] == "ok"]
    y = np.array([r["label"] for r in ok])
    p = np.array([r["fake_probability"] for r in ok], dtype=float)
    metrics = {
        "n_files": len(rows),
        "n_scored": len(ok),
        "n_no_face": sum(r["status"] == "no_face" for r in rows),
        "n_error": sum(r["status"] == "error" for r in rows),
        "video": binary_report(y, p, threshold) if len(ok) else {},
        "frame": {"n": len(frame_scores), "auc": roc_auc(np.array(frame_labels), np.array(frame_scores))},
        "verdicts": {v: sum(r["verdict"] == v for r in ok) for v in VERDICTS},
        # TPR/FPR of the fake verdict, confidently wrong, coverage (seethrough.training.generalisation)
        "verdict_rates": asdict(rates(rows, ci=False)) if rows else {},
        "model": predictor.info,
    }
    per_method = _per_method(ok, threshold)
    metrics["per_method"] = per_method
    known = [r for r in ok if r["label"] == 1 and r["method"] in predictor.methods]
    if known:
        names = predictor.methods
        metrics["method"] = multiclass_report(
            [names.index(r["method"]) for r in known], [names.index(r["predicted_method"]) for r in known], names
        )
    failures = [r for r in ok if (r["fake_probability"] >= threshold) != bool(r["label"])]
    _write(out_dir, rows, metrics, per_method, failures)
    return metrics


def _per_method(ok: list[dict], threshold: float) -> list[dict]:
    reals = np.array([r["fake_probability"] for r in ok if r["label"] == 0], dtype=float)
    out = []
    for m in sorted({r["method"] for r in ok}):
        ps = np.array([r["fake_probability"] for r in ok if r["method"] == m], dtype=float)
        is_real = m == "original"
        out.append({
            "method": m,
            "n": len(ps),
            "mean_fake_probability": float(ps.mean()),
            # share called fake (for reals: the false-positive rate)
            "called_fake": float((ps >= threshold).mean()),
            "auc_vs_real": float("nan") if is_real or not len(reals) else
            roc_auc(np.r_[np.zeros(len(reals)), np.ones(len(ps))], np.r_[reals, ps]),
        })
    return out


def _write(out_dir: Path, rows, metrics, per_method, failures) -> None:
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, default=float))
    with open(out_dir / "predictions.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0].keys()) if rows else ["path"])
        w.writeheader()
        w.writerows(rows)
    with open(out_dir / "per_method.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["method", "n", "mean_fake_probability", "called_fake", "auc_vs_real"])
        w.writeheader()
        w.writerows(per_method)
    (out_dir / "failures.json").write_text(json.dumps(failures, indent=2))
    video = metrics.get("video") or {}
    cm = video.get("confusion", [[0, 0], [0, 0]])
    with open(out_dir / "confusion.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["", "predicted real", "predicted fake"])
        w.writerow(["real", *cm[0]])
        w.writerow(["fake", *cm[1]])
    lines = [f"files: {metrics['n_files']}, scored: {metrics['n_scored']}, no face: {metrics['n_no_face']}, errors: {metrics['n_error']}"]
    for k in ("accuracy", "macro_precision", "macro_recall", "macro_f1", "auc", "eer"):
        if k in video:
            lines.append(f"video {k}: {video[k]:.4f}")
    lines.append(f"frame auc: {metrics['frame']['auc']:.4f} over {metrics['frame']['n']} frames")
    vr = metrics.get("verdict_rates") or {}
    if vr:
        lines.append(f"verdicts: coverage {vr['coverage']:.3f} (real or fake), uncertain {vr['uncertain']:.3f}, "
                     f"confidently wrong {vr['wrong']:.3f}, fakes called fake {vr['tpr']:.3f}, "
                     f"reals called fake {vr['fpr']:.3f}")
    if "method" in metrics:
        lines.append(f"method accuracy: {metrics['method']['accuracy']:.4f}, macro F1 {metrics['method']['macro_f1']:.4f}")
    (out_dir / "classification_report.txt").write_text("\n".join(lines) + "\n")
    _plot_confusion(cm, out_dir / "confusion.png")


def _plot_confusion(cm, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3.6, 3.2))  # no pyplot: callers' plotting state (e.g. notebooks) is left alone
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.imshow(np.array(cm), cmap="Blues")
    for i in range(2):
        for j in range(2):
            ax.text(j, i, str(cm[i][j]), ha="center", va="center", fontsize=12)
    ax.set_xticks([0, 1], ["real", "fake"]), ax.set_yticks([0, 1], ["real", "fake"])
    ax.set_xlabel("predicted"), ax.set_ylabel("true")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
