"""Per-stage cost of one analysis (no heatmaps) on a generated 720p, 10 s clip.

    .venv/bin/python bench/bench_analyze.py [--repeat 3] [--model PATH]

Stages: probe, sampling 32 frames, face stage (detect + track + landmarks + crops),
model (32 crops through backbone + temporal head, bf16 on CPU), whole ``analyze()``.
Peak memory is the process's maximum resident set size. Writes
``bench/results/analyze.md``.
"""

from __future__ import annotations

import argparse
import platform
import resource
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--frames", type=int, default=32)
    args = ap.parse_args()

    import torch

    from seethrough.analysis import AnalyzeOptions, analyze
    from seethrough.faces import FacePipeline
    from seethrough.inference import Predictor
    from seethrough.media import probe, sample_frames
    from seethrough.testing import make_face_video

    work = Path(tempfile.mkdtemp(prefix="st-bench-"))
    clip = make_face_video(work / "720p.mp4", n_frames=250, fps=25, size=(1280, 720), scale=1.2)
    predictor = Predictor(args.model)
    pipe = FacePipeline(crop_size=predictor.size, margin=predictor.crop_margin)
    opts = AnalyzeOptions(frames=args.frames)
    analyze(clip, predictor=predictor, options=opts)  # warm-up: loads models once

    times: dict[str, list[float]] = {k: [] for k in ("probe", "sample", "faces", "model", "analyze")}
    for _ in range(args.repeat):
        t = time.perf_counter()
        probe(clip)
        times["probe"].append(time.perf_counter() - t)
        t = time.perf_counter()
        frames = sample_frames(clip, n=args.frames)
        times["sample"].append(time.perf_counter() - t)
        t = time.perf_counter()
        faces = pipe.process(frames)
        times["faces"].append(time.perf_counter() - t)
        t = time.perf_counter()
        predictor.score([c.crop for c in faces.crops])
        times["model"].append(time.perf_counter() - t)
        t = time.perf_counter()
        analyze(clip, predictor=predictor, options=opts)
        times["analyze"].append(time.perf_counter() - t)
    # Peak memory of a fresh process that only loads the model and analyses the clip once.
    import subprocess
    import sys

    code = ("import sys; from seethrough.analysis import analyze; from seethrough.inference import Predictor; "
            "analyze(sys.argv[1], predictor=Predictor(sys.argv[2] if len(sys.argv) > 2 else None))")
    subprocess.run([sys.executable, "-c", code, str(clip), *([str(args.model)] if args.model else [])], check=True)
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

    lines = [
        f"# analyze() on a 1280x720, 10 s H.264 clip, {args.frames} frames, no heatmaps",
        "",
        f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads; "
        f"model {predictor.info['name']} ({predictor.info['backbone']}); median of {args.repeat}",
        "",
        "| stage | seconds |",
        "|---|---|",
    ]
    labels = {"probe": "probe", "sample": f"sample {args.frames} frames", "faces": "faces (detect, track, landmarks, crops)",
              "model": f"model ({len(faces.crops)} crops)", "analyze": "**whole analyze()**"}
    for k, label in labels.items():
        lines.append(f"| {label} | {statistics.median(times[k]):.3f} |")
    lines += ["", f"peak memory of a fresh process analysing the clip once (max RSS): {peak_mb:.0f} MB", ""]
    text = "\n".join(lines)
    out = Path(__file__).parent / "results" / "analyze.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
