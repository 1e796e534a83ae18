"""Robustness: do verdicts survive the edits a photo goes through before a user sends it?

    .venv/bin/python bench/bench_robustness.py [--model PATH] [--data ../shared/data]
        [--split configs/benchmark_split.json] [--dfdc 300] [--edits jpeg75 half ...] [--part test|calib]
        [--out bench/results/robustness.md]

The held-out images of the benchmark (the ``test`` part of the committed split: every
``cross_source`` image of a held-out source, composites aside, and ``--dfdc`` DFDC crops of
held-out videos, drawn with a fixed seed; ``--part calib``: the calibration sources' instead,
to choose between candidates without looking at the benchmark) are analysed as they are and after each edit of
``seethrough.training.robustness.EDITS`` (re-encodes, resizes, a crop, black and white,
sharpening, noise), one at a time, by ``seethrough evaluate`` (analyze(), scores only). Per
edit: the benchmark's numbers (ROC-AUC, fakes and reals called fake, coverage, confidently
wrong) and how the verdicts moved against the original files: changed, flipped between
`real` and `fake`, newly confidently wrong, the median shift of the fake probability. The
edited copies and predictions go to ``runs/robustness/<model sha>/<part>/`` (they come from files of
../shared: never committed); an edit's predictions are reused when they exist (``--fresh``).
"""

from __future__ import annotations

import argparse
import csv
import platform
import sys
from dataclasses import replace
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--split", type=Path, default=ROOT / "configs" / "benchmark_split.json")
    ap.add_argument("--dfdc", type=int, default=300, help="DFDC crops of held-out videos (0: none)")
    ap.add_argument("--edits", nargs="*", default=None, help="a subset of the edits (default: all)")
    ap.add_argument("--limit", type=int, default=None, help="only the first N cross_source images (a quick look)")
    ap.add_argument("--part", choices=("test", "calib"), default="test",
                    help="the split's part: test (the benchmark) or calib (to choose between candidates)")
    ap.add_argument("--out", type=Path, default=None,
                    help="the table (default: bench/results/robustness.md; with --part calib, beside its predictions)")
    ap.add_argument("--fresh", action="store_true", help="recompute predictions that exist")
    args = ap.parse_args()

    import numpy as np
    from tqdm import tqdm

    from seethrough.analysis import AnalyzeOptions
    from seethrough.datasets.heldout import load_split
    from seethrough.inference import Predictor
    from seethrough.log import setup_logging
    from seethrough.training.evaluate import evaluate, items_from_csv
    from seethrough.training.generalisation import by, rates, table
    from seethrough.training.robustness import EDITS, edited_copy, flips

    setup_logging("WARNING")
    split = load_split(args.split)
    items = [it for it in items_from_csv(args.data / "cross_source" / "labels.csv", heldout=split, part=args.part)
             if it.kind == "image" and not it.grid][: args.limit]
    if args.dfdc:
        dfdc = items_from_csv(args.data / "dfdc_faces" / "labels.csv", heldout=split, part=args.part)
        pick = np.random.default_rng(0).permutation(len(dfdc))[: args.dfdc]
        items += [dfdc[i] for i in sorted(pick)]
    edits = args.edits or list(EDITS)
    unknown = [e for e in edits if e not in EDITS]
    if unknown:
        sys.exit(f"unknown edit(s): {', '.join(unknown)}; choose from {', '.join(EDITS)}")

    predictor = Predictor(args.model)
    work = ROOT / "runs" / "robustness" / predictor.sha256[:12] / args.part
    out = args.out or (ROOT / "bench" / "results" / "robustness.md" if args.part == "test" else work / "robustness.md")
    options = AnalyzeOptions(explain=False, narrator=None)

    def predictions(name: str, files: list) -> list[dict]:
        pred = work / name / "predictions.csv"

        def read() -> list[dict]:
            with open(pred, newline="") as fh:
                return list(csv.DictReader(fh))

        rows = read() if pred.is_file() and not args.fresh else []
        if [r["path"] for r in rows] != [str(f.path.resolve()) for f in files]:  # none, or for another list
            evaluate(files, work / name, predictor=predictor, options=options)
            rows = read()
        for r, it in zip(rows, items):  # evaluate() writes one row per file, in order
            r["key"] = str(it.path)
        return rows

    results = {"original": predictions("original", items)}
    for name in edits:
        copies = work / name / "files"
        edited = []
        for i, it in enumerate(tqdm(items, desc=f"edit {name}", unit="file", mininterval=10)):
            dst = copies / f"{i:05d}_{it.path.stem}"
            done = [p for p in (dst.with_suffix(".jpg"), dst.with_suffix(".png")) if p.is_file()]
            path = done[0] if done and not args.fresh else edited_copy(it.path, name, dst)
            edited.append(replace(it, path=path))
        results[name] = predictions(name, edited)

    th = predictor.thresholds
    orig = results["original"]
    lines = [
        "# Robustness to common edits",
        "",
        f"Model `{predictor.info['name']}` ({predictor.path.name}, sha256 {predictor.sha256[:12]}), thresholds real "
        f"below {th['real_below']:.3f}, fake at or above {th['fake_above']:.3f}. Files: the held-out images of the "
        f"{'benchmark' if args.part == 'test' else 'calibration sources'} (`{args.part}` part of `{args.split.name}`): {sum(1 for it in items if it.dataset == 'cross_source')} "
        f"`cross_source` images (composites aside) and {sum(1 for it in items if it.dataset == 'dfdc_faces')} DFDC "
        f"crops of held-out videos; analyze(), scores only; {date.today().isoformat()}, "
        f"{platform.processor() or platform.machine()}.",
        "",
        "Each edit is applied alone to the original file; edits that are not a re-encode are saved losslessly (PNG). "
        "Changed: the verdict differs from the original's. Flipped: `real` became `fake` or the reverse. Newly wrong: "
        "confidently wrong after the edit, not before. Shift: the fake probability after minus before "
        "(median of its size; mean with its sign, + towards fake).",
        "",
        "## Verdicts against the original files",
        "",
        "| edit | what | files | changed | flipped | newly wrong | median shift | mean shift |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in edits:
        f = flips(orig, results[name])
        lines.append(f"| {name} | {EDITS[name].what} | {f.n} | {100 * f.changed:.0f}% | {100 * f.confident_flips:.1f}% | "
                     f"{100 * f.newly_wrong:.1f}% | {f.median_shift:.3f} | {f.mean_shift:+.3f} |")
    for dataset, title in (("cross_source", "`cross_source` held-out images"), ("dfdc_faces", "DFDC crops")):
        sets = {name: [r for r in rows if r["dataset"] == dataset] for name, rows in results.items()}
        if not sets["original"]:
            continue
        lines += ["", f"## {title}: the benchmark's numbers per edit", ""]
        lines += table("edit", sets)
    reals = by([r for r in orig if r["dataset"] == "cross_source" and int(r["label"]) == 0], lambda r: r["group"])
    worst = {name: max((rates([r for r in results[name] if r["group"] == g], ci=False).fpr, g) for g in reals
                       if len(reals[g]) >= 5) for name in results}
    lines += ["", "## Real photos called fake, worst held-out source with 5+ images", "",
              "| edit | worst FPR | source |", "|---|---|---|"]
    lines += [f"| {name} | {100 * fpr:.0f}% | {g} |" for name, (fpr, g) in worst.items()]
    flags = (f" --dfdc {args.dfdc}" if args.dfdc != 300 else "") + (f" --part {args.part}" if args.part != "test" else "")
    lines += ["", f"Reproduce: `.venv/bin/python bench/bench_robustness.py{flags}`", ""]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
