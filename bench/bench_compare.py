"""Two models on the cross-source benchmark, file by file: is the difference one the data can tell?

    .venv/bin/python bench/bench_compare.py A B [--out bench/results/compare.md]

A and B are checkpoints (their per-file predictions must exist: run ``bench_generalisation.py
--model`` on each first) or the 12-character sha names of folders under ``runs/generalisation/``.
For each dataset, each fake family and all files: ROC-AUC, confidently wrong and coverage of A
and of B, and B − A with a 95% interval from resampling whole groups (a held-out source, a DFDC
video). The benchmark's held-out sources are few and small, so a gap of 0.02 in AUC is often
noise; this says which gaps are not. It reads predictions only (seconds, no model runs).
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "runs" / "generalisation"
DATASETS = ("dfdc_faces", "real_videos", "cross_source")


def predictions_dir(name: str) -> Path:
    """The folder of a model's per-file predictions, from a checkpoint path or a sha prefix."""
    path = Path(name)
    if path.is_file():
        from seethrough.inference import file_sha256

        name = file_sha256(path)[:12]
    folder = RUNS / name[:12]
    if not folder.is_dir():
        sys.exit(f"no predictions for {name} under {RUNS}: run bench/bench_generalisation.py --model on it first")
    return folder


def load(folder: Path) -> dict[str, list[dict]]:
    out = {}
    for d in DATASETS:
        f = folder / d / "predictions.csv"
        if f.is_file():
            with open(f, newline="") as fh:
                out[d] = list(csv.DictReader(fh))
    return out


def render(a_name: str, b_name: str, a: dict[str, list[dict]], b: dict[str, list[dict]]) -> str:
    from seethrough.training.generalisation import by, paired_delta

    def row(name: str, what: str, ra, rb, na=(), nb=()) -> str:
        d = paired_delta(ra, rb, what, negatives_a=list(na), negatives_b=list(nb))
        if d.a != d.a or d.b != d.b:
            return f"| {name} | {what} | {d.n} | – | – | – |"
        fmt = (lambda x: f"{x:.3f}") if what == "auc" else (lambda x: f"{100 * x:.1f}%")
        told = " **" if d.lo > 0 or d.hi < 0 else ""  # NaN bounds (no resample measurable) tell nothing
        return (f"| {name} | {what} | {d.n} | {fmt(d.a)} | {fmt(d.b)} | "
                f"{'+' if d.delta >= 0 else '−'}{fmt(abs(d.delta))} [{fmt(d.lo)}, {fmt(d.hi)}]{told} |")

    lines = [f"# {b_name} against {a_name} on the cross-source benchmark", "",
             "B − A on the same files; 95% interval from resampling whole groups (a source, a DFDC video); "
             "** marks a difference whose interval leaves out 0. A family holds fakes of 2-6 sources: its "
             "percentile intervals are narrower than the truth, read them as a hint.", "",
             "| set | measure | files | A | B | B − A [95% CI] |", "|---|---|---|---|---|---|"]
    def everything(rows_by_dataset):  # one group per (dataset, group): names may repeat across datasets
        return [{**r, "group": f"{d}/{r.get('group', '')}"} for d, rows in rows_by_dataset.items() for r in rows]

    everything_a, everything_b = everything(a), everything(b)
    for what in ("wrong", "coverage"):
        lines.append(row("all files", what, everything_a, everything_b))
    for d in DATASETS:
        if d in a and d in b:
            for what in ("auc", "wrong", "coverage"):
                lines.append(row(d, what, a[d], b[d]))
    if "cross_source" in a and "cross_source" in b:
        reals_a = [r for r in a["cross_source"] if int(r["label"]) == 0]
        reals_b = [r for r in b["cross_source"] if int(r["label"]) == 0]
        fam_a = by([r for r in a["cross_source"] if int(r["label"]) == 1], lambda r: r["family"] or "unknown")
        fam_b = by([r for r in b["cross_source"] if int(r["label"]) == 1], lambda r: r["family"] or "unknown")
        for fam, rows in fam_a.items():
            lines.append(row(f"cross_source {fam}", "auc", rows, fam_b.get(fam, []), reals_a, reals_b))
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a", help="the reference model (checkpoint or sha prefix), e.g. the shipped one")
    ap.add_argument("b", help="the candidate")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    a, b = predictions_dir(args.a), predictions_dir(args.b)
    text = render(a.name, b.name, load(a), load(b))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
