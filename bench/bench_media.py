"""Time frame sampling strategies on generated 720p, 10 s H.264 clips.

    python bench/bench_media.py [--n 32] [--repeat 3] [--workdir DIR]

Clips: ``gop250`` (libx264 ultrafast: one keyframe, no B-frames, the generator's
default) and ``gop50`` (veryfast, keyframe every 2 s, 3 B-frames: closer to camera and
web video). Strategies: ``seek`` and ``sequential`` (see ``seethrough.media.decode``),
the same with frame threading off, and OpenCV ``grab``/``retrieve`` as the reference.
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import write_table


def write_clip(path: Path, *, gop: int, bframes: int, preset: str, seconds: float = 10, fps: int = 25) -> Path:
    import av

    from seethrough.testing.media import compose_frame

    if path.exists():
        return path
    w, h = 1280, 720
    n = int(seconds * fps)
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.options = {"preset": preset, "crf": "23", "g": str(gop), "bf": str(bframes)}
        for i in range(n):
            u = i / (n - 1)
            img = compose_frame(w, h, scale=1.2, cx=0.5 + 0.2 * math.sin(2 * math.pi * u), cy=0.5, t=u * 6)
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def opencv_grab(path: Path, n: int) -> list[np.ndarray]:
    import cv2

    cap = cv2.VideoCapture(str(path))
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    wanted = set(np.linspace(0, total - 1, n).round().astype(int).tolist())
    out = []
    for i in range(total):
        if not cap.grab():
            break
        if i in wanted:
            ok, bgr = cap.retrieve()
            out.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    cap.release()
    return out


def pyav_convert_all(path: Path, n: int) -> list[np.ndarray]:
    """Naive baseline: decode and convert every frame, then pick."""
    from seethrough.media.decode import even_indices, iter_frames

    frames = [f.image for f in iter_frames(path)]
    return [frames[i] for i in even_indices(len(frames), n)]


def timed(fn, repeat: int) -> tuple[float, int]:
    times, count = [], 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        count = len(fn())
        times.append(time.perf_counter() - t0)
    return statistics.median(times), count


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "seethrough-bench-media")
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)

    from seethrough.media import decode

    clips = {
        "gop250": write_clip(args.workdir / "gop250.mp4", gop=250, bframes=0, preset="ultrafast"),
        "gop50": write_clip(args.workdir / "gop50.mp4", gop=50, bframes=3, preset="veryfast"),
    }

    def no_threads(strategy):
        def run(path, n):
            original = decode.VideoReader.__init__.__kwdefaults__["threads"]
            decode.VideoReader.__init__.__kwdefaults__["threads"] = None
            try:
                return decode.sample_frames(path, n, strategy=strategy)
            finally:
                decode.VideoReader.__init__.__kwdefaults__["threads"] = original

        return run

    methods = {
        "pyav seek (AUTO threads)": lambda p, n: decode.sample_frames(p, n, strategy="seek"),
        "pyav sequential (AUTO threads)": lambda p, n: decode.sample_frames(p, n, strategy="sequential"),
        "pyav seek (default threads)": no_threads("seek"),
        "pyav sequential (default threads)": no_threads("sequential"),
        "pyav decode+convert all": pyav_convert_all,
        "opencv grab/retrieve": opencv_grab,
        "pyav first n": lambda p, n: decode.sample_frames(p, n, mode="first"),
        "pyav seek, max_side=320": lambda p, n: decode.sample_frames(p, n, max_side=320, strategy="seek"),
    }
    lines = [f"# Sampling {args.n} frames from a 1280x720, 10 s H.264 clip (median of {args.repeat})", "",
             "gop250: one keyframe, no B-frames; gop50: keyframe every 2 s, 3 B-frames.", "",
             "| clip | method | seconds | frames |", "|---|---|---|---|"]
    for clip, path in clips.items():
        for name, fn in methods.items():
            secs, count = timed(lambda fn=fn, path=path: fn(path, args.n), args.repeat)
            lines.append(f"| {clip} | {name} | {secs:.3f} | {count} |")
    write_table("media.md", "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
