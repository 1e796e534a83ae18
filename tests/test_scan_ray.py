"""seethrough scan on Ray: a local Ray instance started here gives the same database as the
local process pool, and a crashing actor is recorded as an error and replaced."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from seethrough.scan import FAULT_ENV, ScanConfig, run_scan
from seethrough.testing import make_face_image, make_face_video, make_no_face_image

ray = pytest.importorskip("ray")


@pytest.fixture
def files(tmp_path) -> Path:
    d = tmp_path / "media"
    d.mkdir()
    make_face_video(d / "clip.mp4", n_frames=10, size=(320, 240))
    make_face_image(d / "face.jpg", size=(320, 240))
    make_no_face_image(d / "blank.png")
    shutil.copy(d / "face.jpg", d / "face_again.jpg")
    make_face_image(d / "crash_me.jpg", size=(330, 250))
    return d


def _results(db: Path) -> dict[str, tuple]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT sha256, status, error_code, verdict, fake_probability, method, kind, "
                            "analysis_json IS NOT NULL FROM results").fetchall()
        paths = conn.execute("SELECT path, sha256 FROM paths").fetchall()
    by_sha = {r[0]: r[1:] for r in rows}
    return {Path(p).name: by_sha[sha] for p, sha in paths}


def _workers(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {w for (w,) in conn.execute("SELECT worker FROM results WHERE worker != ''")}


@pytest.mark.slow  # 15-35 s on 2 cores (load-dependent): starting Ray and its actors dominates
def test_ray_scan_equals_local_pool(files, tmp_path, tiny_checkpoint, monkeypatch):
    monkeypatch.setenv(FAULT_ENV, "crash:crash_me")
    common = dict(checkpoint=tiny_checkpoint, frames=8, workers=2, threads=1, progress=False, timeout_s=60)
    local = run_scan([files], ScanConfig(db=tmp_path / "local.db", **common))

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        on_ray = run_scan([files], ScanConfig(db=tmp_path / "ray.db", ray_address="auto", **common))
        assert ray.is_initialized()  # a Ray connection made by the caller is left to the caller
    finally:
        ray.shutdown()

    assert (local.backend, on_ray.backend) == ("local", "ray")
    for s in (local, on_ray):
        assert (s.files, s.unique, s.duplicates, s.analysed) == (5, 4, 1, 4)
        assert s.errors == {"worker_crashed": 1} and s.no_face == 1
    assert on_ray.worker_stats["restarts"] == 1  # the crashed actor was replaced

    a, b = _results(tmp_path / "local.db"), _results(tmp_path / "ray.db")
    assert set(a) == set(b) == {"clip.mp4", "face.jpg", "face_again.jpg", "blank.png", "crash_me.jpg"}
    for name in a:  # same status, error code, verdict, method, kind; same probability
        (sa, ca, va, pa, *ra), (sb, cb, vb, pb, *rb) = a[name], b[name]
        assert (sa, ca, va, ra) == (sb, cb, vb, rb), name
        assert (pa is None and pb is None) or pa == pytest.approx(pb, abs=1e-5), name
    assert a["clip.mp4"][0] == a["face.jpg"][0] == "ok"
    assert a["crash_me.jpg"][:2] == ("error", "worker_crashed") and not a["crash_me.jpg"][-1]
    # Different processes did the work (the Ray actors, not the local pool's workers).
    assert _workers(tmp_path / "ray.db").isdisjoint(_workers(tmp_path / "local.db"))
