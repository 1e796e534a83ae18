"""The job queue: isolated workers that crash, overrun or run out of memory; restarts.

A runner in this module (imported by the spawned workers through ``job_runner``)
misbehaves on purpose depending on the file name, and analyses normally otherwise.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import signal
import time
from collections import namedtuple
from datetime import timedelta
from pathlib import Path

import pytest

from seethrough.web.settings import WebSettings
from seethrough.web.store import AnalysisRow, Store, utcnow

MEMORY_LIMIT_MB = 6144


def _disk_full_while_saving(job, predictor, progress):
    """run_job on a disk that fills up while the frames are saved: every image write gets ENOSPC."""
    from PIL import Image

    from seethrough.web.worker import run_job

    def no_space(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    real, Image.Image.save = Image.Image.save, no_space
    try:
        return run_job(job, predictor, progress)
    finally:
        Image.Image.save = real


def chaos_runner(job, predictor, progress):
    """Misbehave by file name: crash.jpg segfaults, sleep.jpg hangs, hog.jpg exhausts memory,
    slow.jpg reports each stage slowly; once.jpg hangs on its first run only (to be killed);
    fills.jpg fills the disk on its first run (``disk-full`` flag in the data folder, which the
    test's disk_usage reads) and works on the next, full.jpg finds the disk full on every run;
    anything else is a normal analysis."""
    from seethrough.web.worker import run_job

    name = job["name"]
    first_run = Path(job["result_dir"]).parent / f"{job['id']}.ran"  # survives the run's own folders
    if name in ("once.jpg", "fills.jpg") and not first_run.exists():
        first_run.touch()
        if name == "once.jpg":
            progress("decode", 0.1)
            time.sleep(600)
        (Path(job["result_dir"]).parents[1] / "disk-full").touch()
        return _disk_full_while_saving(job, predictor, progress)
    if name == "full.jpg":
        return _disk_full_while_saving(job, predictor, progress)
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
    return store.add(row).id


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
            os.kill(self.pid, signal.SIGSEGV)  # as if the decoder had crashed on the file
            return real_recv(self, timeout)

        monkeypatch.setattr(isolation.Child, "recv", dies_on_the_file)
        r = pool.probe(face_image, None)
        assert not r.ok and r.error_code == "worker_crashed" and "crashed the media decoder" in r.message
        monkeypatch.setattr(isolation.Child, "recv", real_recv)
        r = pool.probe(face_image, None)
        assert r.ok and r.info["kind"] == "image"
        bad = tmp_path / "x.mp4"
        bad.write_bytes(b"\x00\x00\x00\x18ftypisom" + os.urandom(4000))
        r = pool.probe(bad, None)
        assert not r.ok and r.error_code in ("truncated", "corrupt")
    finally:
        pool.close()


def test_a_probe_child_killed_from_outside_is_not_blamed_on_the_file(monkeypatch, face_image):
    """kill -9 of a busy probe child read as 'needs more memory to open than this server allows'."""
    from seethrough.web import isolation

    pool = isolation.ProbePool(1, 0, timeout_s=20)
    real_send = isolation.Child.send
    kills = {"left": 1}
    try:
        def killed_from_outside(self, msg):
            if kills["left"]:
                kills["left"] -= 1
                os.kill(self.pid, signal.SIGKILL)  # just as the file is handed over
                self.proc.join(5)
            return real_send(self, msg)

        monkeypatch.setattr(isolation.Child, "send", killed_from_outside)
        r = pool.probe(face_image, None)
        assert r.ok and r.info["kind"] == "image" and kills["left"] == 0  # tried again in a fresh child
        kills["left"] = 2
        r = pool.probe(face_image, None)
        assert not r.ok and r.error_code == "probe_killed" and "interrupted twice" in r.message
        from seethrough.web.uploads import probe_status

        assert probe_status(r) == 503
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


# ------------------------------------------------ #13 F5, F6: full disk, killed workers, orphans

DiskUsage = namedtuple("DiskUsage", "total used free")


def _kill_worker_when_running(manager, rid: str, run: int) -> None:
    """SIGKILL the worker of ``rid`` once its ``run``-th run has reported progress (as ``kill -9`` would)."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        row = manager.store.get(rid)
        sup = next((s for s in manager.supervisors if s.current_job == rid and s.child is not None), None)
        if row.status == "running" and row.attempts == run and row.stage == "decode" and sup is not None:
            os.kill(sup.child.pid, signal.SIGKILL)
            return
        time.sleep(0.05)
    raise AssertionError(f"run {run} of {rid} never started: {manager.store.get(rid).status}")


def test_a_worker_killed_from_outside_is_not_out_of_memory_and_its_job_runs_again(manager, face_image):
    """F6: kill -9 of a worker read as 'ran out of memory (limit 8192 MB)' and failed the job for good."""
    once = _submit(manager, face_image, "once.jpg")  # hangs on its first run only
    _kill_worker_when_running(manager, once, run=1)
    row = _wait(manager.store, [once])[once]
    assert row.status == "done" and row.attempts == 2 and row.verdict, (row.error_code, row.error_message)

    twice = _submit(manager, face_image, "sleep.jpg")  # hangs on every run: killed on both
    _kill_worker_when_running(manager, twice, run=1)
    _kill_worker_when_running(manager, twice, run=2)
    row = _wait(manager.store, [twice])[twice]
    assert row.status == "failed" and row.error_code == "killed" and row.attempts == 2
    assert "stopped from outside the server (SIGKILL" in row.error_message and "twice" in row.error_message
    assert "memory" not in row.error_message.split("(or by")[0]
    assert not (manager.settings.results_dir / twice).exists()


def test_death_reasons_tell_a_signal_from_a_memory_death():
    from seethrough.web.isolation import death_reason

    assert death_reason(-signal.SIGKILL, 8192, oom_killed=False)[0] == "killed"
    assert death_reason(137, 8192, oom_killed=False)[0] == "killed"
    assert death_reason(-signal.SIGTERM, 8192)[0] == "killed"
    code, msg = death_reason(-signal.SIGKILL, 8192, oom_killed=True)
    assert code == "out_of_memory" and "system stopped it" in msg
    assert "or by the system, short of memory" in death_reason(-signal.SIGKILL, 8192, oom_killed=None)[1]
    assert death_reason(-signal.SIGSEGV, 8192)[0] == "worker_crashed"
    assert death_reason(-signal.SIGABRT, 8192) == ("out_of_memory", "The analysis ran out of memory (limit 8192 MB) "
                                                                    "and was stopped.")


def test_a_disk_that_fills_while_saving_fails_as_disk_full_and_the_job_waits_for_space(manager, face_image,
                                                                                         monkeypatch):
    """F5: ENOSPC while saving frames failed every job as 'internal' ('failed unexpectedly')."""
    from seethrough.web import api, limits

    flag = manager.settings.data_dir / "disk-full"  # the runner sets it when it 'fills the disk'
    real = shutil.disk_usage
    monkeypatch.setattr(limits.shutil, "disk_usage",
                        lambda p: DiskUsage(10**12, 10**12, 0) if flag.exists() else real(p))
    rid = _submit(manager, face_image, "fills.jpg")
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        row = manager.store.get(rid)
        if row.status == "queued" and row.stage == "waiting_disk" or row.status in ("done", "failed"):
            break
        time.sleep(0.05)
    assert row.status == "queued" and row.stage == "waiting_disk" and row.attempts == 1, (row.status, row.error_message)
    assert api.summary(row)["stage_text"] == "Waiting for disk space on the server"
    time.sleep(1.5)
    assert manager.store.get(rid).status == "queued"  # no worker takes it while its results cannot fit
    assert manager.health()["waiting_for_disk"] >= 1
    flag.unlink()  # space is free again
    manager.notify()
    row = _wait(manager.store, [rid])[rid]
    assert row.status == "done" and row.attempts == 2 and row.verdict

    full = _submit(manager, face_image, "full.jpg")  # the disk is full on every run
    row = _wait(manager.store, [full])[full]
    assert row.status == "failed" and row.error_code == "disk_full" and row.attempts == 2
    assert row.error_message.startswith("The server ran out of disk space while saving this file's results")
    assert "twice" in row.error_message and "unexpectedly" not in row.error_message
    assert not (manager.settings.results_dir / full).exists()


def test_a_leftover_worker_never_touches_a_new_runs_files(tmp_path):
    """A worker of an earlier run of a job (orphaned by a killed server) must not delete or
    write the folders of the run that replaced it."""
    from seethrough.web.worker import _cleanup_partial, owns

    old = {"id": "j", "result_dir": str(tmp_path / "r"), "work_dir": str(tmp_path / "w"), "attempt": "1-old"}
    for d in ("r", "w"):
        (tmp_path / d).mkdir()
        (tmp_path / d / ".attempt").write_text("2-new")
        (tmp_path / d / "result.json").write_text("{}")
    assert not owns(old)
    _cleanup_partial(old)
    assert (tmp_path / "r" / "result.json").exists() and (tmp_path / "w" / "result.json").exists()
    new = {**old, "attempt": "2-new"}
    assert owns(new)
    _cleanup_partial(new)
    assert not (tmp_path / "r").exists() and not (tmp_path / "w").exists()


_SERVER = """
import os, sys, time

if __name__ == "__main__":
    from seethrough.web.isolation import Child
    from seethrough.web.worker import worker_main

    spec = {"model": sys.argv[1], "memory_limit_mb": 0, "runner": "test_web_jobs:chaos_runner", "threads": 1,
            "log_level": None, "server_pid": os.getpid()}
    child = Child(worker_main, (spec,), name="seethrough-worker-orphan")
    child.start()
    assert child.recv(120)[0] == "ready"
    job = {"id": "orphan", "name": "sleep.jpg", "upload_path": sys.argv[2], "options": {}, "result_dir": sys.argv[3],
           "work_dir": sys.argv[3] + "-work", "attempt": "1-x"}
    child.send(("job", job))
    assert child.recv(60)[0] == "progress"
    print(child.pid, flush=True)
    time.sleep(600)
"""


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def test_a_worker_stops_when_its_server_is_killed(tmp_path, tiny_checkpoint, face_image):
    """An orphaned worker of a killed server ran on (until its next progress message, then
    deleted its result folder): it must end with its server."""
    import subprocess
    import sys

    script = tmp_path / "server.py"
    script.write_text(_SERVER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}
    server = subprocess.Popen([sys.executable, str(script), str(tiny_checkpoint), str(face_image),
                               str(tmp_path / "results" / "orphan")], stdout=subprocess.PIPE, text=True, env=env)
    worker = None
    try:
        worker = int(server.stdout.readline())
        assert not _gone(worker)
        server.kill()  # kill -9 of the server, its worker busy on a job
        server.wait(10)
        deadline = time.monotonic() + 10
        while not _gone(worker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _gone(worker), "the worker of a killed server is still running"
    finally:
        if server.poll() is None:
            server.kill()
        if worker is not None and not _gone(worker):
            os.kill(worker, signal.SIGKILL)
