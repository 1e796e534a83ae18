"""The cross-source benchmark's numbers, from the per-file rows ``evaluate`` writes.

What a user meets is the verdict word, so the rates are over verdicts: a fake is *caught*
when its verdict is ``fake`` (TPR at the fake threshold), a real face is *falsely accused*
when its verdict is ``fake`` (FPR), a verdict is *confidently wrong* when it is ``real`` or
``fake`` and wrong, and *coverage* is the share of files that get ``real`` or ``fake`` at all
(``uncertain``, no face and errors do not). ROC-AUC ranks the calibrated probability of the
scored files, with a bootstrap 95% interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np

from .metrics import roc_auc

DECIDED = ("real", "fake")  # the verdicts that decide (uncertain does not)


@dataclass
class Rates:
    n: int
    n_real: int
    n_fake: int
    auc: float
    auc_lo: float
    auc_hi: float
    tpr: float  # fakes called fake
    fpr: float  # reals called fake
    uncertain: float  # share uncertain (of all files)
    wrong: float  # share confidently wrong (of all files)
    coverage: float  # share with a real/fake verdict
    no_face: float


def _auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """ROC-AUC as the Mann-Whitney statistic (ties count half)."""
    neg = np.sort(neg)
    below = np.searchsorted(neg, pos, side="left")
    equal = np.searchsorted(neg, pos, side="right") - below
    return float((below + 0.5 * equal).sum() / (len(pos) * len(neg)))


def bootstrap_auc(labels: np.ndarray, scores: np.ndarray, n: int = 1000, seed: int = 0) -> tuple[float, float, float]:
    """ROC-AUC and its percentile 95% interval from ``n`` resamples within each class."""
    labels, scores = np.asarray(labels), np.asarray(scores, np.float64)
    if len(set(labels.tolist())) < 2:
        return float("nan"), float("nan"), float("nan")
    auc = roc_auc(labels, scores)
    rng = np.random.default_rng(seed)
    pos, neg = scores[labels == 1], scores[labels == 0]
    draws = [_auc(rng.choice(pos, len(pos)), rng.choice(neg, len(neg))) for _ in range(n)]
    lo, hi = np.percentile(draws, [2.5, 97.5])
    return float(auc), float(lo), float(hi)


def rates(rows: list[dict], negatives: Iterable[dict] = (), ci: bool = True) -> Rates:
    """The benchmark's numbers for ``rows``; for a set without real files, the AUC ranks its
    fakes against ``negatives`` (e.g. every held-out real file of the same dataset).
    ``ci=False`` skips the bootstrap interval (NaN bounds)."""
    rows = list(rows)
    n = len(rows)
    real = [r for r in rows if int(r["label"]) == 0]
    fake = [r for r in rows if int(r["label"]) == 1]
    scored = [r for r in rows if r.get("status") == "ok"]
    pool = scored if real and fake else scored + [r for r in negatives if r.get("status") == "ok"]
    y = np.array([int(r["label"]) for r in pool])
    s = np.array([float(r["fake_probability"]) for r in pool])
    if not len(pool):
        auc, lo, hi = (float("nan"),) * 3
    elif ci:
        auc, lo, hi = bootstrap_auc(y, s)
    else:
        auc, lo, hi = roc_auc(y, s), float("nan"), float("nan")

    def share(sel, of) -> float:
        return float(sum(1 for r in of if sel(r)) / len(of)) if of else float("nan")

    return Rates(
        n=n, n_real=len(real), n_fake=len(fake), auc=auc, auc_lo=lo, auc_hi=hi,
        tpr=share(lambda r: r.get("verdict") == "fake", fake),
        fpr=share(lambda r: r.get("verdict") == "fake", real),
        uncertain=share(lambda r: r.get("verdict") == "uncertain", rows),
        wrong=share(lambda r: r.get("verdict") in DECIDED and (r["verdict"] == "fake") != (int(r["label"]) == 1), rows),
        coverage=share(lambda r: r.get("verdict") in DECIDED, rows),
        no_face=share(lambda r: r.get("status") != "ok", rows),
    )


def _f(x: float, pct: bool = True) -> str:
    if x != x:  # NaN
        return "–"
    return f"{100 * x:.0f}%" if pct else f"{x:.3f}"


def _auc_text(r: Rates) -> str:
    return "–" if r.auc != r.auc else f"{r.auc:.3f} [{r.auc_lo:.2f}, {r.auc_hi:.2f}]"


HEADER = "| {} | n (real/fake) | ROC-AUC [95% CI] | TPR@fake | FPR@fake | uncertain | confidently wrong | coverage | no face |"


def table_row(name: str, r: Rates) -> str:
    return (f"| {name} | {r.n} ({r.n_real}/{r.n_fake}) | {_auc_text(r)} | {_f(r.tpr)} | {_f(r.fpr)} | {_f(r.uncertain)} | "
            f"{_f(r.wrong)} | {_f(r.coverage)} | {_f(r.no_face)} |")


def table(title: str, rows_by_name: dict[str, list[dict]], negatives: list[dict] = ()) -> list[str]:
    out = [HEADER.format(title), "|" + "---|" * 9]
    for name, rows in rows_by_name.items():
        out.append(table_row(name, rates(rows, negatives)))
    return out


def by(rows: list[dict], key) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in rows:
        k = key(r)
        if k:
            out.setdefault(k, []).append(r)
    return dict(sorted(out.items()))


def targets(datasets: dict[str, list[dict]]) -> dict[str, float]:
    """The issue's targets, measured: worst confidently-wrong share of a held-out source (each
    cross_source group; DFDC and the real clips as one source each), overall coverage, worst FPR
    of a held-out real source (groups with 5+ real files), DFDC ROC-AUC."""
    cross = datasets.get("cross_source", [])
    groups = list(by(cross, lambda r: r["group"]).values()) + [rows for k, rows in datasets.items()
                                                                if k != "cross_source" and rows]
    everything = [r for rows in datasets.values() for r in rows]
    real_sources = [rates(g, ci=False) for g in by(cross, lambda r: r["group"] if int(r["label"]) == 0 else None).values()
                    if len(g) >= 5]
    dfdc = datasets.get("dfdc_faces")
    return {
        "worst_group_confidently_wrong": max((rates(g, ci=False).wrong for g in groups), default=float("nan")),
        "worst_group_confidently_wrong_5plus": max((rates(g, ci=False).wrong for g in groups if len(g) >= 5),
                                                   default=float("nan")),
        "coverage": rates(everything, ci=False).coverage if everything else float("nan"),
        "confidently_wrong": rates(everything, ci=False).wrong if everything else float("nan"),
        "worst_real_source_fpr": max((r.fpr for r in real_sources), default=float("nan")),
        "dfdc_auc": rates(dfdc, ci=False).auc if dfdc else float("nan"),
    }


@dataclass
class PairedDelta:
    """Model B minus model A on the same files, with a 95% interval from resampling whole groups."""

    n: int
    a: float
    b: float
    lo: float
    hi: float

    @property
    def delta(self) -> float:
        return self.b - self.a


class _Columns:
    """One model's rows as arrays, for measuring many resamples fast (the same rules as :func:`rates`)."""

    def __init__(self, rows: list[dict]) -> None:
        self.y = np.array([int(r["label"]) for r in rows], np.int64)
        self.ok = np.array([r.get("status") == "ok" for r in rows], bool)
        self.s = np.array([float(r["fake_probability"]) if ok else np.nan for r, ok in zip(rows, self.ok)])
        verdict = np.array([r.get("verdict") or "" for r in rows])
        self.decided = np.isin(verdict, DECIDED)
        self.wrong = self.decided & ((verdict == "fake") != (self.y == 1))

    def measure(self, idx: np.ndarray, neg: np.ndarray, what: str) -> float:
        if not len(idx):
            return float("nan")
        if what == "wrong":
            return float(self.wrong[idx].mean())
        if what == "coverage":
            return float(self.decided[idx].mean())
        labels = self.y[idx]
        pool = idx if (labels == 0).any() and (labels == 1).any() else np.concatenate([idx, neg])
        pool = pool[self.ok[pool]]
        pos, negs = self.s[pool[self.y[pool] == 1]], self.s[pool[self.y[pool] == 0]]
        return _auc(pos, negs) if len(pos) and len(negs) else float("nan")


def paired_delta(rows_a: list[dict], rows_b: list[dict], what: str = "auc", *, negatives_a: list[dict] = (),
                 negatives_b: list[dict] = (), n: int = 1000, seed: int = 0) -> PairedDelta:
    """``what`` (auc, wrong or coverage) of two models' rows of the same files, and the interval of
    their difference: whole groups (a source, a DFDC video) are resampled together, because files of
    one source share their faults; a difference whose interval holds 0 is not one the data can tell.
    ``negatives_*`` are the real files a fakes-only set is ranked against (as :func:`rates`)."""
    key = lambda r: (r["path"], r.get("group", ""))  # noqa: E731
    b_of = {key(r): r for r in rows_b}
    neg_b = {key(r): r for r in negatives_b}
    pairs = [(r, b_of[key(r)]) for r in rows_a if key(r) in b_of]
    pairs += [(r, neg_b[key(r)]) for r in negatives_a if key(r) in neg_b]
    n_rows = sum(1 for r in rows_a if key(r) in b_of)
    cols_a, cols_b = _Columns([p for p, _ in pairs]), _Columns([q for _, q in pairs])
    is_row = np.arange(len(pairs)) < n_rows
    names, group = np.unique(np.array([r.get("group", "") for r, _ in pairs], dtype=str), return_inverse=True)
    members = [np.flatnonzero(group == g) for g in range(len(names))]

    def both(sel: np.ndarray) -> tuple[float, float]:
        idx, neg = sel[is_row[sel]], sel[~is_row[sel]]
        return cols_a.measure(idx, neg, what), cols_b.measure(idx, neg, what)

    a, b = both(np.arange(len(pairs)))
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n):
        da, db = both(np.concatenate([members[k] for k in rng.choice(len(members), len(members))]))
        if da == da and db == db:
            draws.append(db - da)
    lo, hi = np.percentile(draws, [2.5, 97.5]) if draws else (float("nan"), float("nan"))
    return PairedDelta(n_rows, a, b, float(lo), float(hi))


def method_targets(config: dict, methods: list[str]):
    """``row -> name``: the method-head name a benchmark fake should get, by the model's own training
    map (its config's ``head.method_of``; a listed source's ``fake_method`` stands in for a row's
    method, as in training); None where the map names none of ``methods``."""
    from ..datasets.heldout import dataset_name
    from .config import method_index

    method_of = (config.get("head") or {}).get("method_of") or {}
    fake_method = {dataset_name(s["csv"]): s["fake_method"] for s in (config.get("data") or {}).get("sources", [])
                   if s.get("csv") and s.get("fake_method")}

    def target(row: dict) -> str | None:
        method = fake_method.get(row.get("dataset", "")) or row.get("method") or ""
        k = method_index(f"{method}|{row.get('family') or ''}", method_of, methods)
        return methods[k] if k >= 0 else None
    return target


def method_table(rows_by_name: dict[str, list[dict]], target, label=str) -> list[str]:
    """Per group of fakes: the family the method head should name, how many scored fakes it names,
    and what it names most often (``label`` shows a name)."""
    out = ["| fakes | should be named | n scored | named right | named most often |", "|---|---|---|---|---|"]
    for name, rows in rows_by_name.items():
        scored = [r for r in rows if int(r["label"]) == 1 and r.get("status") == "ok" and r.get("predicted_method")]
        want = {target(r) for r in scored} - {None}
        if not scored or not want:
            continue
        right = sum(r["predicted_method"] == target(r) for r in scored)
        named = [r["predicted_method"] for r in scored]
        top = max(set(named), key=lambda m: (named.count(m), m))
        out.append(f"| {name} | {', '.join(label(w) for w in sorted(want))} | {len(scored)} | "
                   f"{_f(right / len(scored))} | {label(top)} ({named.count(top)}) |")
    return out
