"""What the bench scripts share: the clip benchmarks' options and clip, and where a table goes.

Run a bench script as ``python bench/<name>.py``: this folder is then first on the import path.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def clip_bench_args(doc: str | None) -> argparse.Namespace:
    """``--repeat``, ``--model``, ``--frames`` of the benchmarks that time analyze() on the clip."""
    ap = argparse.ArgumentParser(description=(doc or "").splitlines()[0] if doc else None)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--model", type=Path, default=None, help="checkpoint (default: the bundled model)")
    ap.add_argument("--frames", type=int, default=32)
    return ap.parse_args()


def bench_clip(prefix: str) -> Path:
    """The generated 10 s, 1280x720, 25 fps H.264 face clip the speed tables are measured on."""
    from seethrough.testing import make_face_video

    work = Path(tempfile.mkdtemp(prefix=prefix))
    return make_face_video(work / "720p.mp4", n_frames=250, fps=25, size=(1280, 720), scale=1.2)


def write_table(name: str, text: str) -> Path:
    """Write ``results/<name>`` and print it."""
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / name
    out.write_text(text, encoding="utf-8")
    print(text)
    return out
