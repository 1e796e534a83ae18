"""Cross-source benchmark: how the model does on sources it never saw.

    .venv/bin/python bench/bench_generalisation.py [--model PATH] [--data ../shared/data]
        [--split configs/benchmark_split.json] [--frames 32] [--out bench/results/generalisation.md]

Runs ``seethrough evaluate`` (analyze(), scores only, as users run it) over the ``test`` part
of the committed split of every development set: DFDC crops of held-out source videos, real
clips of held-out identities, and whole held-out sources of ``cross_source`` (images, videos
and animations; composites with ``grid=1`` count as whole-file tests). Writes the table per
dataset, per held-out source, per fake family and per real source, and the issue's targets,
to ``--out``; per-file predictions go to ``runs/generalisation/<model sha>/`` (they name
files of ../shared, so they are never committed). A model's rows are reused when they
exist (``--fresh`` recomputes).
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import sys
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ("dfdc_faces", "real_videos", "cross_source")


def run_dataset(name: str, data: Path, split, predictor, frames: int, out: Path, fresh: bool) -> list[dict]:
    from seethrough.analysis import AnalyzeOptions
    from seethrough.training.evaluate import evaluate, items_from_csv

    pred = out / name / "predictions.csv"
    if not pred.is_file() or fresh:
        items = items_from_csv(data / name / "labels.csv", heldout=split, part="test")
        evaluate(items, out / name, predictor=predictor,
                 options=AnalyzeOptions(frames=frames, explain=False, narrator=None))
    with open(pred, newline="") as fh:
        return list(csv.DictReader(fh))


def render(datasets: dict[str, list[dict]], predictor, split_path: Path, frames: int) -> str:
    from seethrough.facts import method_label
    from seethrough.training.generalisation import by, method_table, method_targets, table, targets

    cross = datasets.get("cross_source", [])
    cross_reals = [r for r in cross if int(r["label"]) == 0]
    th = predictor.thresholds
    t = targets(datasets)
    kinds = {r["group"]: r.get("kind", "") for r in cross}
    lines = [
        "# Cross-source benchmark",
        "",
        f"Model `{predictor.info['name']}` ({predictor.path.name}, sha256 {predictor.sha256[:12]}), "
        f"thresholds real below {th['real_below']:.3f}, fake at or above {th['fake_above']:.3f}; "
        f"familiarity gate {'on' if predictor.familiarity is not None else 'off'}. Held-out part `test` of "
        f"`{split_path.relative_to(ROOT) if split_path.is_relative_to(ROOT) else split_path}`; "
        f"analyze(), {frames} frames, scores only; {date.today().isoformat()}, {platform.processor() or platform.machine()}.",
        "",
        "TPR/FPR: share of fakes / reals whose verdict is `fake`. Confidently wrong: a `real` or `fake` verdict "
        "that is wrong, as a share of all files. Coverage: share with a `real` or `fake` verdict. No face: no usable "
        "face (or unreadable). ROC-AUC ranks the calibrated probability of scored files (bootstrap 95% interval); "
        "a source with fakes only is ranked against every held-out cross_source real file.",
        "",
        "## Targets (issue #11)",
        "",
        "| target | measured |",
        "|---|---|",
        f"| confidently wrong ≤ 10% in every held-out source | worst {100 * t['worst_group_confidently_wrong']:.0f}% "
        f"(of sources with 5+ files: {100 * t['worst_group_confidently_wrong_5plus']:.0f}%) |",
        f"| coverage ≥ 50% overall | {100 * t['coverage']:.0f}% (confidently wrong overall {100 * t['confidently_wrong']:.1f}%) |",
        f"| FPR at the fake threshold ≤ 5% on every held-out real source (5+ files) | worst {100 * t['worst_real_source_fpr']:.0f}% |",
        f"| DFDC held-out ROC-AUC ≥ 0.854 | {t['dfdc_auc']:.3f} |",
        "",
        "## Per dataset",
        "",
        *table("dataset", {k: v for k, v in datasets.items() if v}),
        "",
        "## Per fake family (cross_source held-out sources; AUC against all their real files)",
        "",
        *table("family", by([r for r in cross if int(r["label"]) == 1], lambda r: r["family"] or "unknown"), cross_reals),
        "",
        "## Per held-out source (cross_source)",
        "",
        *table("source", {f"{g} ({kinds.get(g, '')})": rows for g, rows in by(cross, lambda r: r["group"]).items()},
               cross_reals),
        "",
        "## Real files by kind (cross_source)",
        "",
        *table("kind", by(cross_reals, lambda r: r.get("kind") or "unknown")),
        "",
        "## Method head (held-out fakes)",
        "",
        "Which family the method head names for each held-out fake, whatever its verdict (the estimate is "
        "conditional on manipulation), against the family its training map gives that fake's method or family.",
        "",
        *method_table({**by([r for r in cross if int(r["label"]) == 1], lambda r: r["family"] or "unknown"),
                       "DFDC": [r for r in datasets.get("dfdc_faces", []) if int(r["label"]) == 1]},
                      method_targets(predictor.meta.config, predictor.methods), method_label),
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--split", type=Path, default=ROOT / "configs" / "benchmark_split.json")
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "generalisation.md")
    ap.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    ap.add_argument("--fresh", action="store_true", help="recompute predictions that already exist")
    args = ap.parse_args()

    from seethrough.datasets.heldout import load_split
    from seethrough.inference import Predictor
    from seethrough.log import setup_logging

    setup_logging()
    if not args.data.is_dir():
        sys.exit(f"development data not found: {args.data} (the benchmark needs ../shared/data)")
    predictor = Predictor(args.model)
    split = load_split(args.split)
    runs = ROOT / "runs" / "generalisation" / predictor.sha256[:12]
    datasets = {name: run_dataset(name, args.data, split, predictor, args.frames, runs, args.fresh)
                for name in args.datasets}
    text = render(datasets, predictor, args.split.resolve(), args.frames)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    (runs / "summary.json").write_text(json.dumps({"model": predictor.info, "out": str(args.out)}, indent=1))
    print(text)


if __name__ == "__main__":
    main()
