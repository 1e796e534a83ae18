"""Training and inference throughput of the default backbone on this CPU.

    .venv/bin/python bench/bench_training.py [--batch 32] [--steps 3]

Images/s for: forward fp32, forward bf16 autocast, forward+backward with the whole
backbone trained, and with the stem + first 3 stages frozen (the default recipe).
Writes ``bench/results/training.md``.
"""

from __future__ import annotations

import argparse
import statistics
import time

from _common import write_table


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--backbone", default="efficientnet_lite0")
    args = ap.parse_args()

    import torch

    from seethrough.models import build_detector
    from seethrough.training.loop import freeze_early_stages

    x = torch.randn(args.batch, 3, 224, 224)

    def rate(fn) -> float:
        fn()  # warm-up
        ts = []
        for _ in range(args.steps):
            t = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t)
        return args.batch / statistics.median(ts)

    rows = []
    model = build_detector(pretrained=False, backbone=args.backbone, num_methods=3).eval()
    with torch.no_grad():
        rows.append(("forward fp32", rate(lambda: model.forward_frames(x))))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            rows.append(("forward bf16 autocast", rate(lambda: model.forward_frames(x))))
    for freeze in (0, 3):
        model = build_detector(pretrained=False, backbone=args.backbone, num_methods=3).train()
        frozen = freeze_early_stages(model, freeze)

        def step():
            out = model.forward_frames(x)
            out.frame_logits.sum().backward()

        label = "forward+backward, whole backbone" if not frozen else f"forward+backward, first {freeze} stages frozen"
        rows.append((label, rate(step)))
    lines = [f"# {args.backbone} at 224x224, batch {args.batch}, {torch.get_num_threads()} threads", "",
             "| pass | images/s |", "|---|---|"] + [f"| {k} | {v:.1f} |" for k, v in rows] + [""]
    write_table("training.md", "\n".join(lines))


if __name__ == "__main__":
    main()
