"""Throughput of the web app on loopback: analyses per minute with N workers, and
requests per second on the status, result and list endpoints.

    .venv/bin/python bench/bench_web.py [--workers 1 2] [--clips 6] [--seconds 5] [--model PATH]

For each worker count it starts ``seethrough serve`` on 127.0.0.1 (a free port, a fresh
data folder), submits ``--clips`` distinct generated clips at once and times them until
the last one is done; then it hammers the read endpoints from ``--concurrency`` client
threads for ``--seconds`` each (bounded by ``--max-requests``). Only loopback is ever
contacted. Writes ``bench/results/web.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

OUT = Path(__file__).resolve().parent / "results" / "web.md"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data: Path, workers: int, model: Path | None, frames: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = [sys.executable, "-m", "seethrough", "-q", "serve", "--host", "127.0.0.1", "--port", str(port),
           "--workers", str(workers), "--data", str(data)]
    if model:
        cmd += ["--model", str(model)]
    env = {**os.environ, "SEETHROUGH_TOKEN": "", "SEETHROUGH_LOG": "WARNING"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=open(data / "server.log", "w"))
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}; see {data / 'server.log'}")
        try:
            h = httpx.get(f"{url}/api/health", timeout=2).json()
            if h["workers"]["ready"] >= workers:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise SystemExit("server did not become ready in 300 s")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def analyses_per_minute(url: str, clips: list[Path]) -> dict:
    t0 = time.perf_counter()
    ids = []
    with httpx.Client(base_url=url, timeout=120) as c:
        for clip in clips:
            r = c.post("/api/analyses", files={"file": (clip.name, clip.read_bytes(), "video/mp4")})
            r.raise_for_status()
            ids.append(r.json()["id"])
        submitted = time.perf_counter() - t0
        pending, latencies, failed = set(ids), [], 0
        while pending:
            for i in list(pending):
                row = c.get(f"/api/analyses/{i}").json()
                if row["status"] in ("done", "failed"):
                    pending.discard(i)
                    failed += row["status"] == "failed"
                    latencies.append(time.perf_counter() - t0)
            time.sleep(0.2)
            if time.perf_counter() - t0 > 1800:
                raise SystemExit("analyses did not finish within 30 minutes")
    total = time.perf_counter() - t0
    return {"ids": ids, "n": len(ids), "failed": failed, "seconds": total, "submit_s": submitted,
            "per_min": 60 * len(ids) / total, "median_latency": statistics.median(latencies)}


def hammer(url: str, paths: list[str], seconds: float, concurrency: int, max_requests: int) -> dict:
    """Round-robin GETs over ``paths`` from ``concurrency`` threads for ``seconds`` (bounded)."""
    counts, errors, lat = [0] * concurrency, [0] * concurrency, [[] for _ in range(concurrency)]
    budget = max_requests // concurrency
    stop = time.perf_counter() + seconds

    def loop(k: int) -> None:
        with httpx.Client(base_url=url, timeout=10) as c:
            n = 0
            while time.perf_counter() < stop and n < budget:
                t = time.perf_counter()
                r = c.get(paths[(k + n) % len(paths)])
                lat[k].append(time.perf_counter() - t)
                counts[k] += 1
                errors[k] += r.status_code != 200
                n += 1

    t0 = time.perf_counter()
    threads = [threading.Thread(target=loop, args=(k,)) for k in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    all_lat = sorted(x for xs in lat for x in xs)
    return {"requests": sum(counts), "errors": sum(errors), "rps": sum(counts) / elapsed,
            "p50_ms": 1000 * all_lat[len(all_lat) // 2], "p95_ms": 1000 * all_lat[int(len(all_lat) * 0.95)]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--clips", type=int, default=6)
    ap.add_argument("--seconds", type=float, default=5.0, help="hammer time per endpoint")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--max-requests", type=int, default=50_000)
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()

    from seethrough.testing import make_face_video

    work = Path(tempfile.mkdtemp(prefix="st-bench-web-"))
    clips = [make_face_video(work / f"clip{i}.mp4", n_frames=48 + i, fps=24, size=(640, 480)) for i in range(args.clips)]
    rows_a, rows_r = [], []
    for n in args.workers:
        data = work / f"data-w{n}"
        data.mkdir()
        proc, url = start_server(data, n, args.model, args.frames)
        try:
            a = analyses_per_minute(url, clips)
            print(f"{n} worker(s): {a['n']} analyses in {a['seconds']:.1f} s = {a['per_min']:.1f}/min "
                  f"({a['failed']} failed)", flush=True)
            rows_a.append((n, a))
            sample = a["ids"]
            for name, paths in (
                ("status  GET /api/analyses/{id}", [f"/api/analyses/{i}" for i in sample]),
                ("result  GET /api/analyses/{id}/result", [f"/api/analyses/{i}/result" for i in sample]),
                ("list    GET /api/analyses?limit=50", ["/api/analyses?limit=50"]),
                ("health  GET /api/health", ["/api/health"]),
            ):
                r = hammer(url, paths, args.seconds, args.concurrency, args.max_requests)
                print(f"  {name}: {r['rps']:.0f} req/s (p50 {r['p50_ms']:.1f} ms, p95 {r['p95_ms']:.1f} ms, "
                      f"{r['errors']} errors)", flush=True)
                rows_r.append((n, name, r))
        finally:
            stop_server(proc)

    import torch

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    from seethrough.inference import DEFAULT_CHECKPOINT
    from seethrough.models.checkpoint import read_checkpoint_meta

    spec = read_checkpoint_meta(args.model or DEFAULT_CHECKPOINT).model_spec
    model = f"{args.model.name if args.model else 'bundled default'} ({spec.backbone}, temporal {spec.temporal})"
    lines = [
        "# Web app throughput (loopback)",
        "",
        f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}; "
        f"model {model}; {args.frames} frames per clip; server and load generator on the same machine; load average at the end {load}.",
        f"clips: {args.clips} distinct generated 640x480 H.264 clips of ~2 s, submitted at once; every job "
        "writes result JSON, frame thumbnails, the Grad-CAM gallery and the HTML + PDF reports.",
        "",
        "## Analyses per minute",
        "",
        "| workers | analyses | failed | wall time (s) | analyses / min | median time to result (s) |",
        "|---|---|---|---|---|---|",
    ]
    for n, a in rows_a:
        lines.append(f"| {n} | {a['n']} | {a['failed']} | {a['seconds']:.1f} | **{a['per_min']:.1f}** | {a['median_latency']:.1f} |")
    lines += [
        "",
        f"## Read endpoints ({args.concurrency} client threads, {args.seconds:g} s each, workers idle)",
        "",
        "| workers | endpoint | requests | errors | req/s | p50 (ms) | p95 (ms) |",
        "|---|---|---|---|---|---|---|",
    ]
    for n, name, r in rows_r:
        lines.append(f"| {n} | `{name.split(None, 1)[1]}` | {r['requests']} | {r['errors']} | **{r['rps']:.0f}** | "
                     f"{r['p50_ms']:.1f} | {r['p95_ms']:.1f} |")
    lines += ["", "Reproduce: `.venv/bin/python bench/bench_web.py`", ""]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
