"""Per-stage cost of one analysis on a generated 720p, 10 s clip: scores only, with the
explanations (Grad-CAM, regions, key frames, template narrator), and with the reports.

    .venv/bin/python bench/bench_analyze.py [--repeat 3] [--model PATH] [--frames 32]

Stage times are the ones ``analyze()`` records in ``timings_ms`` (probe, decode = sampling
the frames, faces = detect + track + landmarks + crops, model = backbone + read-out,
explain = Grad-CAM + region scores + evidence, narrate = template text); the
reports are timed around ``write_report``. Peak memory is the maximum resident set size of
a fresh process that loads the model and explains the clip once. Target (issue #4):
explaining a 10 s 720p clip end to end in under 3 s on 2 CPU cores, no LLM. Writes
``bench/results/analyze.md``.
"""

from __future__ import annotations

import platform
import resource
import statistics
import subprocess
import sys
import time

from _common import bench_clip, clip_bench_args, write_table

STAGES = ("probe", "decode", "faces", "model", "explain", "narrate")


def main() -> None:
    args = clip_bench_args(__doc__)

    import torch

    from seethrough.analysis import AnalyzeOptions, analyze
    from seethrough.inference import Predictor
    from seethrough.report import write_report, write_reports

    clip = bench_clip("st-bench-")
    work = clip.parent
    predictor = Predictor(args.model)
    configs = {
        "scores only": AnalyzeOptions(frames=args.frames, explain=False, narrator=None),
        "explained": AnalyzeOptions(frames=args.frames),
    }
    analyze(clip, predictor=predictor, options=configs["explained"])  # warm-up: loads the models once

    rows: dict[str, dict[str, list[float]]] = {name: {} for name in configs}
    reports: dict[str, list[float]] = {"html": [], "pdf": [], "both": []}
    for _ in range(args.repeat):
        for name, opts in configs.items():
            t = time.perf_counter()
            a = analyze(clip, predictor=predictor, options=opts)
            wall = time.perf_counter() - t
            for k in STAGES:
                if k in a.timings_ms:
                    rows[name].setdefault(k, []).append(a.timings_ms[k] / 1000)
            rows[name].setdefault("total", []).append(wall)
        for kind in ("html", "pdf"):
            t = time.perf_counter()
            write_report(a, work / f"report.{kind}")
            reports[kind].append(time.perf_counter() - t)
        t = time.perf_counter()
        write_reports(a, [work / "both.html", work / "both.pdf"])  # content and charts built once
        reports["both"].append(time.perf_counter() - t)

    code = ("import sys; from seethrough.analysis import analyze; from seethrough.inference import Predictor; "
            "analyze(sys.argv[1], predictor=Predictor(sys.argv[2] if len(sys.argv) > 2 else None))")
    subprocess.run([sys.executable, "-c", code, str(clip), *([str(args.model)] if args.model else [])], check=True)
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

    med = {name: {k: statistics.median(v) for k, v in r.items()} for name, r in rows.items()}
    labels = {"probe": "probe", "decode": f"sample {args.frames} frames", "faces": "faces (detect, track, landmarks, crops)",
              "model": "model (backbone + read-out)", "explain": "explain (Grad-CAM, regions, evidence)",
              "narrate": "narrate (template)", "total": "**whole analyze()**"}
    lines = [
        f"# analyze() on a 1280x720, 10 s H.264 clip, {args.frames} frames",
        "",
        f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads; "
        f"model {predictor.info['name']} ({predictor.info['backbone']}); median of {args.repeat} runs (seconds)",
        "",
        "| stage | scores only | explained |",
        "|---|---|---|",
    ]
    for k, label in labels.items():
        cells = [f"{med[n][k]:.3f}" if k in med[n] else "—" for n in configs]
        lines.append(f"| {label} | {' | '.join(cells)} |")
    html, pdf, both = (statistics.median(reports[k]) for k in ("html", "pdf", "both"))
    total = med["explained"]["total"]
    lines += [
        f"| report: HTML | | {html:.3f} |",
        f"| report: PDF | | {pdf:.3f} |",
        f"| **explained + PDF report** | | **{total + pdf:.3f}** |",
        f"| explained + HTML and PDF reports (`write_reports`) | | {total + both:.3f} |",
        "",
        f"Target: explained end to end under 3 s — {'met' if total + pdf < 3 else 'missed'} "
        f"({total:.2f} s for the analysis with its evidence and narrator, {total + pdf:.2f} s with the PDF report, "
        f"{total + both:.2f} s with both reports).",
        "",
        f"Peak memory of a fresh process explaining the clip once (max RSS): {peak_mb:.0f} MB",
        "",
    ]
    write_table("analyze.md", "\n".join(lines))


if __name__ == "__main__":
    main()
