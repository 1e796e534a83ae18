"""The job queue: isolated workers that crash, overrun or run out of memory; restarts.

A runner in this module (imported by the spawned workers through ``job_runner``)
misbehaves on purpose depending on the file name, and analyses normally otherwise.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import time
from datetime import timedelta
from pathlib import Path

import pytest

from seethrough.web.settings import WebSettings
from seethrough.web.store import AnalysisRow, Store, utcnow

MEMORY_LIMIT_MB = 6144


def chaos_runner(job, predictor, progress):
    """Misbehave by file name: crash.jpg segfaults, sleep.jpg hangs, hog.jpg exhausts memory,
    slow.jpg reports each stage slowly; anything else is a normal analysis."""
    from seethrough.web.worker import run_job

    name = job["name"]
    if name == "crash.jpg":
        ctypes.string_at(0)  # SIGSEGV, as a decoder bug would
    if name == "sleep.jpg":
        progress("decode", 0.1)
        time.sleep(600)
    if name == "hog.jpg":
        progress("decode", 0.1)
        hoard = [bytearray(256 << 20) for _ in range(4 * MEMORY_LIMIT_MB // 256)]  # past RLIMIT_AS
        return {"status": "done", "result": None, "artefacts": None, "n": len(hoard)}
    if name == "slow.jpg":
        return run_job(job, predictor, lambda stage, f: (progress(stage, f), time.sleep(0.12)))
    return run_job(job, predictor, progress)


def _add_upload(data: Path, src: Path) -> tuple[str, str]:
    from seethrough.inference import file_sha256

    sha = file_sha256(src)
    rel = f"uploads/{sha[:2]}/{sha}"
    (data / rel).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, data / rel)
    return sha, rel


def _insert(store: Store, settings: WebSettings, data: Path, src: Path, name: str, status: str = "queued",
            attempts: int = 0, silent_s: float = 600) -> str:
    """A row as a server left it; a running one's server has not beaten for ``silent_s``."""
    sha, rel = _add_upload(data, src)
    row = AnalysisRow(id=os.urandom(16).hex(), sha256=sha, name=name, stored_path=rel, size_bytes=src.stat().st_size,
                      settings_key="test", options=settings.analysis_options(), narrator="template", status=status,
                      attempts=attempts, progress=0.0, created_at=utcnow(),
                      updated_at=utcnow() - timedelta(seconds=silent_s if status == "running" else 0))
    with store._session.begin() as s:
        s.add(row)
    return row.id


def _wait(store: Store, ids, timeout: float = 90.0) -> dict[str, AnalysisRow]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = {i: store.get(i) for i in ids}
        if all(r.status in ("done", "failed") for r in rows.values()):
            return rows
        time.sleep(0.1)
    raise AssertionError({i: store.get(i).status for i in ids})


@pytest.fixture(scope="module")
def manager(tmp_path_factory, tiny_checkpoint):
    from seethrough.web.jobs import JobManager

    data = tmp_path_factory.mktemp("web-jobs")
    settings = WebSettings(data_dir=data, model=tiny_checkpoint, frames=4, job_timeout_s=60,
                           memory_limit_mb=MEMORY_LIMIT_MB, job_runner="test_web_jobs:chaos_runner")
    settings.ensure_dirs()
    store = Store(settings.db_url)
    m = JobManager(settings, store)
    m.start()
    yield m
    m.stop()
    store.close()


def _submit(manager, src: Path, name: str) -> str:
    rid = _insert(manager.store, manager.settings, manager.settings.data_dir, src, name)
    manager.notify()
    return rid


def test_progress_is_recorded_stage_by_stage(manager, face_image):
    rid = _submit(manager, face_image, "slow.jpg")
    stages, fractions = [], []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        row = manager.store.get(rid)
        if row.status == "running" and row.stage and (not stages or stages[-1] != row.stage):
            stages.append(row.stage)
            fractions.append(row.progress)
        if row.status in ("done", "failed"):
            break
        time.sleep(0.03)
    assert row.status == "done", row.error_message
    assert {"probe", "faces", "model", "report"} <= set(stages), stages
    assert fractions == sorted(fractions)  # progress only moves forward
    assert row.progress == 1.0 and row.verdict in ("real", "uncertain", "fake")


def test_crashing_worker_fails_only_its_job_and_is_replaced(manager, face_image):
    restarts = manager.health()["restarts"]
    crash = _submit(manager, face_image, "crash.jpg")
    after = _submit(manager, face_image, "after-crash.jpg")
    rows = _wait(manager.store, [crash, after])
    assert rows[crash].status == "failed" and rows[crash].error_code == "worker_crashed"
    assert "crashed" in rows[crash].error_message and "SIGSEGV" in rows[crash].error_message
    assert rows[after].status == "done" and rows[after].analysis_status == "ok"
    assert manager.health()["restarts"] == restarts + 1
    assert not (manager.settings.results_dir / crash).exists()


def test_overrunning_job_is_stopped_with_a_plain_reason(manager, face_image, monkeypatch):
    monkeypatch.setattr(manager.settings, "job_timeout_s", 3.0)
    rid = _submit(manager, face_image, "sleep.jpg")
    row = _wait(manager.store, [rid])[rid]
    assert row.status == "failed" and row.error_code == "timeout"
    assert row.error_message.startswith("The file took longer than 3 s to analyse")
    monkeypatch.setattr(manager.settings, "job_timeout_s", 60.0)
    ok = _submit(manager, face_image, "next.jpg")
    assert _wait(manager.store, [ok])[ok].status == "done"


def test_deleting_a_running_job_stops_its_worker(manager, face_image):
    rid = _submit(manager, face_image, "sleep.jpg")  # would hang for 10 minutes
    deadline = time.monotonic() + 60
    while manager.store.get(rid).status != "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert manager.store.get(rid).status == "running"
    manager.store.delete(rid)
    manager.cancel(rid)  # right after the claim: the worker may not have the job in hand yet
    assert not manager.cancel("no-such-job")
    t0 = time.monotonic()
    ok = _submit(manager, face_image, "after-delete.jpg")
    assert _wait(manager.store, [ok], timeout=60)[ok].status == "done"
    assert time.monotonic() - t0 < 50  # the hanging job did not hold the only worker until its timeout
    assert manager.store.get(rid) is None and not (manager.settings.results_dir / rid).exists()


def test_memory_limit_fails_the_job_not_the_server(manager, face_image):
    rid = _submit(manager, face_image, "hog.jpg")
    row = _wait(manager.store, [rid])[rid]
    assert row.status == "failed" and row.error_code == "out_of_memory"
    assert "ran out of memory" in row.error_message and f"{MEMORY_LIMIT_MB} MB" in row.error_message
    ok = _submit(manager, face_image, "after-hog.jpg")
    assert _wait(manager.store, [ok])[ok].status == "done"


def test_damage_found_only_during_analysis_fails_the_job_with_the_reason(manager, face_clip, tmp_path):
    """The upload check opens the file; damage that only shows when decoding fails the job instead."""
    from seethrough.testing import make_truncated_copy

    cut = make_truncated_copy(face_clip, tmp_path / "cut.mp4", keep=0.5)
    rid = _submit(manager, cut, "cut.mp4")  # inserted directly: as if it had passed the upload check
    row = _wait(manager.store, [rid])[rid]
    assert row.status == "failed" and row.error_code in ("truncated", "corrupt"), (row.error_code, row.error_message)
    assert "cut.mp4" in row.error_message and row.analysis_status == "error"
    assert manager.store.get_result(rid)["status"] == "error"  # the analysis document is kept


def test_graceful_stop_requeues_running_job(tmp_path, tiny_checkpoint, face_image):
    from seethrough.web.jobs import JobManager

    settings = WebSettings(data_dir=tmp_path, model=tiny_checkpoint, frames=4, job_runner="test_web_jobs:chaos_runner")
    settings.ensure_dirs()
    store = Store(settings.db_url)
    m = JobManager(settings, store)
    m.start()
    rid = _insert(store, settings, tmp_path, face_image, "sleep.jpg")
    m.notify()
    deadline = time.monotonic() + 90
    while store.get(rid).status != "running" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert store.get(rid).attempts == 1
    m.stop()
    row = store.get(rid)
    assert row.status == "queued" and row.attempts == 0  # a clean stop is not the file's fault
    store.close()


def test_start_up_sweeps_what_a_killed_server_left(tmp_path, tiny_checkpoint, face_image):
    """Partial uploads of a server killed mid-upload and scratch folders of jobs killed or deleted
    while running are removed when a server starts; a running job's folder and a fresh upload stay."""
    from seethrough.web.jobs import STALE_PART_S, JobManager

    settings = WebSettings(data_dir=tmp_path, model=tiny_checkpoint, frames=4)
    settings.ensure_dirs()
    store = Store(settings.db_url)
    old, fresh = settings.tmp_dir / "old.part", settings.tmp_dir / "fresh.part"
    for p in (old, fresh):
        p.write_bytes(b"half an upload")
    os.utime(old, (time.time() - STALE_PART_S - 60,) * 2)
    running = _insert(store, settings, tmp_path, face_image, "run.jpg", status="running", silent_s=0)
    done = _insert(store, settings, tmp_path, face_image, "done.jpg", status="done")
    for rid in (running, done, "deleted-job"):
        (settings.work_dir / rid).mkdir()
        (settings.work_dir / rid / "frame.jpg").write_bytes(b"x")
    (settings.work_dir / done / "dangling").symlink_to(tmp_path / "gone")
    m = JobManager(settings, store)
    try:
        assert m.sweep_leftovers() == (1, 2)
        assert not old.exists() and fresh.exists()
        assert sorted(p.name for p in settings.work_dir.iterdir()) == [running]
    finally:
        store.close()


def test_restart_resumes_queued_and_interrupted_jobs(tmp_path, tiny_checkpoint, face_image, face_clip):
    """Jobs left behind by a server that died: running once -> re-run; running twice -> failed; queued -> run."""
    import httpx

    from seethrough.web.server import start_in_thread

    settings = WebSettings(data_dir=tmp_path, model=tiny_checkpoint, port=0, frames=4)
    settings.ensure_dirs()
    store = Store(settings.db_url)
    once = _insert(store, settings, tmp_path, face_clip, "interrupted.mp4", status="running", attempts=1)
    twice = _insert(store, settings, tmp_path, face_image, "cursed.jpg", status="running", attempts=2)
    queued = _insert(store, settings, tmp_path, face_image, "waiting.jpg", status="queued")
    (settings.results_dir / twice).mkdir(parents=True)
    store.close()

    srv = start_in_thread(settings)
    try:
        with httpx.Client(base_url=srv.url, timeout=30) as c:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                rows = {i: c.get(f"/api/analyses/{i}").json() for i in (once, twice, queued)}
                if all(r["status"] in ("done", "failed") for r in rows.values()):
                    break
                time.sleep(0.2)
    finally:
        srv.stop()
    assert rows[once]["status"] == "done" and rows[once]["attempts"] == 2 and rows[once]["verdict"]
    assert rows[queued]["status"] == "done" and rows[queued]["attempts"] == 1
    assert rows[twice]["status"] == "failed" and rows[twice]["error"]["code"] == "interrupted"
    assert "interrupted twice" in rows[twice]["error"]["message"]
    assert not (settings.results_dir / twice).exists()


def test_probe_pool_survives_a_crashing_decoder(tmp_path, monkeypatch, face_image):
    """A file that kills the probe process becomes a 422-style result; the next probe works."""
    from seethrough.web import isolation

    pool = isolation.ProbePool(1, 0, timeout_s=20)
    real_recv = isolation.Child.recv
    try:
        def dies_on_the_file(self, timeout):
            os.kill(self.pid, 9)  # as if the decoder had died on the file
            return real_recv(self, timeout)

        monkeypatch.setattr(isolation.Child, "recv", dies_on_the_file)
        r = pool.probe(face_image, None)
        assert not r.ok and r.error_code == "out_of_memory"  # SIGKILL reads as the OOM killer
        monkeypatch.setattr(isolation.Child, "recv", real_recv)
        r = pool.probe(face_image, None)
        assert r.ok and r.info["kind"] == "image"
        bad = tmp_path / "x.mp4"
        bad.write_bytes(b"\x00\x00\x00\x18ftypisom" + os.urandom(4000))
        r = pool.probe(bad, None)
        assert not r.ok and r.error_class in ("TruncatedMediaError", "CorruptMediaError")
    finally:
        pool.close()


def test_idle_probe_children_killed_behind_its_back_are_replaced(face_image):
    """F2: kill -9 of the idle probe children must not fail the next uploads (it failed two of them)."""
    from seethrough.web import isolation

    pool = isolation.ProbePool(2, 0, timeout_s=20)
    try:
        children = [pool._take(), pool._take()]
        for c in children:
            pool._give(c)
        for c in children:
            os.kill(c.pid, 9)
        deadline = time.monotonic() + 10
        while any(c.alive for c in children) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pool.status()["idle_dead"] == 2  # what health reports before anyone uploads
        for _ in range(3):
            r = pool.probe(face_image, None)
            assert r.ok and r.info["kind"] == "image"
        st = pool.status()
        assert st["replaced"] == 2 and st["idle_dead"] == 0 and st["ok"]
    finally:
        pool.close()


def test_a_database_error_fails_only_that_job_and_the_supervisor_carries_on(manager, face_image, monkeypatch):
    from sqlalchemy.exc import OperationalError

    store = manager.store
    real_finish, real_claim = store.finish, store.claim_next
    trouble = {"finish": 1, "claim": 2}

    def flaky_finish(analysis_id, **kw):
        if kw.get("status") == "done" and trouble["finish"]:
            trouble["finish"] -= 1
            raise OperationalError("UPDATE analyses ...", {}, Exception("server closed the connection unexpectedly"))
        return real_finish(analysis_id, **kw)

    def flaky_claim():
        if trouble["claim"]:
            trouble["claim"] -= 1
            raise OperationalError("SELECT ...", {}, Exception("connection refused"))
        return real_claim()

    monkeypatch.setattr(store, "finish", flaky_finish)
    lost = _submit(manager, face_image, "lost.jpg")
    rows = _wait(store, [lost])
    assert rows[lost].status == "failed" and rows[lost].error_code == "internal"
    assert "submit it again" in rows[lost].error_message and "Traceback" not in rows[lost].error_message
    assert not (manager.settings.results_dir / lost).exists()
    monkeypatch.setattr(store, "claim_next", flaky_claim)  # the database is away for a moment
    ok = _submit(manager, face_image, "after-db-error.jpg")
    assert _wait(store, [ok])[ok].status == "done" and trouble == {"finish": 0, "claim": 0}


def test_servers_sharing_a_database_never_take_each_others_running_jobs(tmp_path, tiny_checkpoint, face_image):
    """A second server on the same database leaves the first one's running job alone while
    the first beats; a job whose server stopped beating is taken over once its lease ends."""
    from seethrough.web.jobs import JobManager

    def server(lease_s: float) -> JobManager:
        settings = WebSettings(data_dir=tmp_path, model=tiny_checkpoint, frames=4, job_timeout_s=120, lease_s=lease_s,
                               job_runner="test_web_jobs:chaos_runner")
        settings.ensure_dirs()
        m = JobManager(settings, Store(settings.db_url))
        m.start()
        return m

    a = server(lease_s=2)
    b = None
    try:
        busy = _submit(a, face_image, "sleep.jpg")  # a runs it (and keeps beating) for as long as we let it
        deadline = time.monotonic() + 60
        while a.store.get(busy).status != "running" and time.monotonic() < deadline:
            time.sleep(0.1)
        dead = _insert(a.store, a.settings, tmp_path, face_image, "orphan.jpg", status="running", attempts=1, silent_s=1)
        b = server(lease_s=2)
        time.sleep(4)  # two leases: the beating job must stay a's, the silent one becomes b's
        row = b.store.get(busy)
        assert row.status == "running" and row.attempts == 1 and a.supervisors[0].current_job == busy
        orphan = _wait(b.store, [dead])[dead]
        assert orphan.status == "done" and orphan.attempts == 2
    finally:
        a.cancel(busy)
        for m in (a, b):
            if m is not None:
                m.stop()
                m.store.close()
