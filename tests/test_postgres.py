"""PostgreSQL for real: the web store, the web app, `seethrough doctor` and `seethrough tune`
against a PostgreSQL server these tests start themselves (see ``pg.py``; they skip with the
reason when the server binaries or the psycopg driver are missing)."""

from __future__ import annotations

import json
import logging
import math
import os
import socket
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from pg import APP_PASSWORD, pg_url, postgres_server  # noqa: F401 - fixtures
from test_web_jobs import _add_upload

from seethrough.web.settings import WebSettings
from seethrough.dburl import normalize_database_url
from seethrough.web.store import AnalysisRow, Store, utcnow

pytestmark = pytest.mark.slow  # starts a PostgreSQL server

SHA_A, SHA_B = "a" * 64, "b" * 64


@pytest.fixture
def store(pg_url):
    s = Store(pg_url)
    yield s
    s.close()


def _create(store: Store, name: str = "clip.mp4", sha: str = SHA_A, key: str = "k1", **fields) -> AnalysisRow:
    fields = {"stored_path": f"uploads/{sha[:2]}/{sha}", "kind": "video", "size_bytes": 1234, "options": {"frames": 4},
              "narrator": "template", **fields}
    return store.create(sha256=sha, name=name, settings_key=key, **fields)


def _result(verdict: str = "fake", p: float = 0.93, **extra) -> dict:
    return {"status": "ok", "verdict": verdict, "fake_probability": p, "narrative": {"engine": "template"},
            "media": {"kind": "video", "fps": 25.0}, "frames": [{"index": 0, "fake_probability": p}], **extra}


# --------------------------------------------------------------------------- store


def test_schema_is_created_once_even_by_concurrent_stores(pg_url, postgres_server):
    """Several processes (or servers) opening a new database at once: one creates the tables."""
    errors, stores = [], []
    barrier = threading.Barrier(6)

    def open_store():
        try:
            barrier.wait()
            stores.append(Store(pg_url))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for s in stores:
        s.close()
    assert not errors, errors
    db = pg_url.rsplit("/", 1)[1]
    types = postgres_server.psql("SELECT column_name || ':' || data_type FROM information_schema.columns "
                                 "WHERE table_name = 'analyses' ORDER BY column_name", database=db).splitlines()
    assert "size_bytes:bigint" in types  # files over 2 GiB fit
    assert "created_at:timestamp without time zone" in types


def test_job_lifecycle(store):
    first = _create(store, "first.mp4")
    second = _create(store, "second.jpg", sha=SHA_B, kind="image")
    assert first.status == "queued" and first.attempts == 0 and first.created_at.tzinfo is None
    assert abs((utcnow() - first.created_at).total_seconds()) < 60  # stored as naive UTC, read back the same
    assert store.counts() == {"queued": 2, "running": 0, "done": 0, "failed": 0}
    assert store.ping()

    claimed = store.claim_next()  # oldest first
    assert claimed.id == first.id and claimed.status == "running" and claimed.attempts == 1
    assert claimed.stage == "starting" and claimed.started_at is not None
    store.set_progress(first.id, "faces", 0.41234567)
    row = store.get(first.id)
    assert (row.stage, row.progress) == ("faces", 0.4123)
    store.set_progress(second.id, "faces", 0.5)  # not running: ignored
    assert store.get(second.id).stage is None

    assert store.finish(first.id, status="done", result=_result(), artefacts={"frames": [0], "gallery": []})
    row = store.get(first.id)
    assert (row.status, row.stage, row.progress) == ("done", "done", 1.0)
    assert (row.analysis_status, row.verdict, row.fake_probability, row.narrative_engine) == ("ok", "fake", 0.93, "template")
    assert row.artefacts == {"frames": [0], "gallery": []} and row.finished_at >= row.started_at
    assert store.get_result(first.id) == _result()

    assert store.claim_next().id == second.id
    assert store.fail(second.id, "corrupt", "second.jpg is damaged.")
    row = store.get(second.id)
    assert (row.status, row.error_code, row.error_message) == ("failed", "corrupt", "second.jpg is damaged.")
    assert store.get_result(second.id) is None
    assert store.claim_next() is None
    assert store.counts() == {"queued": 0, "running": 0, "done": 1, "failed": 1}

    gone = store.delete(second.id)
    assert gone.id == second.id and store.get(second.id) is None and store.delete(second.id) is None
    assert not store.finish(second.id, status="done", result=_result(), artefacts=None)  # deleted meanwhile
    assert store.get_result("0" * 32) is None


def test_results_with_nan_and_long_values_are_stored(store):
    """PostgreSQL refuses NaN in JSON, over-long VARCHARs and NUL characters; SQLite took them all."""
    row = _create(store)
    store.claim_next()
    doc = _result(p=0.5, evidence={"faithfulness": [float("nan"), float("inf"), -float("inf"), 1.5]},
                  narrative={"engine": "openai:" + "m" * 200})
    assert store.finish(row.id, status="done", result=doc, artefacts=None, error_message="bad\x00byte")
    got = store.get(row.id)
    assert got.status == "done" and got.narrative_engine.startswith("openai:mmm") and len(got.narrative_engine) == 80
    assert got.error_message == "badbyte"
    stored = store.get_result(row.id)
    assert stored["evidence"]["faithfulness"] == [None, None, None, 1.5]  # strict JSON, as the API serves it
    json.dumps(stored, allow_nan=False)
    big = _create(store, "huge.mp4", sha=SHA_B, size_bytes=5 * 2**30)
    assert store.get(big.id).size_bytes == 5 * 2**30


def test_concurrent_claims_take_each_job_once(store):
    ids = {_create(store, f"f{i}.jpg", sha=f"{i:064x}").id for i in range(40)}
    claims: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def worker():
        barrier.wait()
        while True:
            row = store.claim_next()
            if row is None:
                return
            with lock:
                claims.append(row.id)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(claims) == sorted(ids)  # every job once, none twice
    assert store.counts()["running"] == 40
    assert {store.get(i).attempts for i in ids} == {1}


def test_dedup_by_content_and_settings(store):
    assert store.find_reusable(SHA_A, "k1") is None
    old = _create(store, "a.mp4")
    new = _create(store, "a copy.mp4")
    other_key = _create(store, "a.mp4", key="k2")
    assert store.find_reusable(SHA_A, "k1").id == new.id  # the newest
    assert store.find_reusable(SHA_A, "k2").id == other_key.id
    store.claim_next(), store.claim_next()
    store.fail(new.id, "timeout", "too slow")  # a failed analysis is not reused
    assert store.find_reusable(SHA_A, "k1").id == old.id
    assert store.count_sha_refs(SHA_A) == 3 and store.count_sha_refs(SHA_B) == 0
    store.delete(old.id)
    assert store.find_reusable(SHA_A, "k1") is None and store.count_sha_refs(SHA_A) == 2


def test_list_and_search(store):
    rows = [
        _create(store, "Holiday Snap.png", batch_id="1" * 32),
        _create(store, "under_score.jpg", sha=SHA_B),
        _create(store, "100% real.mp4", batch_id="1" * 32),
        _create(store, "Ünïcode clip.mp4"),
    ]
    for r in rows[:2]:
        store.claim_next()
        store.finish(r.id, status="done", result=_result("real" if r is rows[0] else "fake"), artefacts=None)

    def names(**kw):
        items, total = store.list(**kw)
        assert total >= len(items)
        return [r.name for r in items], total

    assert names() == (["Ünïcode clip.mp4", "100% real.mp4", "under_score.jpg", "Holiday Snap.png"], 4)  # newest first
    assert names(q="HOLIDAY") == (["Holiday Snap.png"], 1)  # case-insensitive
    assert names(q="_")[0] == ["under_score.jpg"]  # LIKE wildcards are literal
    assert names(q="%")[0] == ["100% real.mp4"]
    assert names(q="Ünïcode")[0] == ["Ünïcode clip.mp4"]
    assert names(q=rows[1].id[:10].upper())[0] == ["under_score.jpg"]  # id prefix
    assert names(q="bbbbbb")[0] == ["under_score.jpg"]  # sha256 prefix
    assert names(verdict="real") == (["Holiday Snap.png"], 1)
    assert names(status="queued")[1] == 2
    assert names(batch_id="1" * 32)[0] == ["100% real.mp4", "Holiday Snap.png"]
    assert names(limit=2, offset=1) == (["100% real.mp4", "under_score.jpg"], 4)
    assert names(q="nothing like it") == ([], 0)


def _left_running(name: str, attempts: int) -> AnalysisRow:
    """A row its server left running after ``attempts`` tries."""
    now = utcnow()
    return AnalysisRow(id=os.urandom(16).hex(), sha256=SHA_A, name=name, stored_path=f"uploads/{SHA_A[:2]}/{SHA_A}",
                       kind="video", size_bytes=1234, settings_key="k1", options={"frames": 4}, narrator="template",
                       status="running", stage="model", attempts=attempts, progress=0.5, created_at=now,
                       updated_at=now, started_at=now)


def test_requeue_and_restart_recovery(store):
    a, b, d = (_create(store, f"{n}.mp4") for n in "abd")
    for _ in range(2):
        store.claim_next()  # a, b running with attempts 1; d queued
    c = store.add(_left_running("c.mp4", attempts=2))  # c was already interrupted once before
    store.requeue([a.id], undo_attempt=True)  # a graceful stop: not the file's fault
    assert (store.get(a.id).status, store.get(a.id).attempts) == ("queued", 0)
    store.requeue([], undo_attempt=True)
    requeued, failed = store.recover()
    assert requeued == [b.id] and failed == [c.id]
    row_b, row_c = store.get(b.id), store.get(c.id)
    assert (row_b.status, row_b.attempts, row_b.stage) == ("queued", 1, None)
    assert row_c.status == "failed" and row_c.error_code == "interrupted" and "interrupted twice" in row_c.error_message
    assert store.get(d.id).status == "queued"
    # attempts never go below 0
    e = store.add(_left_running("e.mp4", attempts=0))
    store.requeue([e.id], undo_attempt=True)
    assert store.get(e.id).attempts == 0
    assert store.recover() == ([], [])


def test_bad_urls_are_plain_errors(postgres_server):
    from seethrough.errors import ConfigError

    with pytest.raises(ConfigError, match="password authentication failed") as exc:
        Store(postgres_server.url("postgres", password="wrong-secret"))
    assert "wrong-secret" not in str(exc.value) and "***" in str(exc.value)
    with pytest.raises(ConfigError, match="Cannot open the database"):
        Store(postgres_server.url("postgres", port=_closed_port()))


def test_url_forms(postgres_server):
    assert normalize_database_url("postgres://u:p@h/db").startswith("postgresql")
    assert normalize_database_url("sqlite:///x.db") == "sqlite:///x.db"
    assert normalize_database_url("postgresql+psycopg2://u@h/db") == "postgresql+psycopg2://u@h/db"
    # the plain form works with the driver the extra installs
    db = postgres_server.create_database("plain")
    try:
        s = Store(postgres_server.url(db, driver="postgresql"))
        assert s.ping() and s.engine.dialect.name == "postgresql"
        s.close()
    finally:
        postgres_server.drop_database(db)


# --------------------------------------------------------------------------- web app


def _insert(store: Store, settings: WebSettings, src: Path, name: str, status: str, attempts: int) -> str:
    sha, rel = _add_upload(settings.data_dir, src)
    row = AnalysisRow(id=os.urandom(16).hex(), sha256=sha, name=name, stored_path=rel, size_bytes=src.stat().st_size,
                      settings_key="left-behind", options=settings.analysis_options(), narrator="template",
                      status=status, attempts=attempts, progress=0.3, created_at=utcnow(),
                      updated_at=utcnow() - timedelta(minutes=10))  # its server stopped beating long ago
    return store.add(row).id


def _wait(client, ids, timeout: float = 90.0) -> dict[str, dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = {i: client.get(f"/api/analyses/{i}").json() for i in ids}
        if all(r["status"] in ("done", "failed") for r in rows.values()):
            return rows
        time.sleep(0.1)
    raise AssertionError({i: r["status"] for i, r in rows.items()})


def test_web_app_on_postgres(pg_url, tmp_path, tiny_checkpoint, face_image):
    """Submit, analyse, reuse, list, delete over HTTP; jobs a dead server left behind are resumed."""
    import httpx

    from seethrough.testing import make_face_image
    from seethrough.web.server import start_in_thread

    settings = WebSettings(data_dir=tmp_path / "data", database_url=pg_url, model=tiny_checkpoint, port=0, frames=4)
    settings.ensure_dirs()
    store = Store(pg_url)
    once = _insert(store, settings, face_image, "interrupted.jpg", "running", attempts=1)
    twice = _insert(store, settings, face_image, "cursed.jpg", "running", attempts=2)
    (settings.results_dir / twice).mkdir(parents=True)
    store.close()

    logging.getLogger("httpx").setLevel(logging.WARNING)
    srv = start_in_thread(settings)
    try:
        with httpx.Client(base_url=srv.url, timeout=60) as c:
            health = c.get("/api/health").json()
            assert health["status"] == "ok" and health["database"] == "ok"
            img = make_face_image(tmp_path / "portrait.jpg", size=(480, 360)).read_bytes()
            r = c.post("/api/analyses", files={"file": ("portrait.jpg", img, "image/jpeg")})
            assert r.status_code == 202, r.text
            rid = r.json()["id"]
            rows = _wait(c, [rid, once, twice])

            row = rows[rid]
            assert row["status"] == "done" and row["analysis_status"] == "ok" and row["kind"] == "image", row
            assert row["verdict"] in ("real", "uncertain", "fake") and row["attempts"] == 1
            doc = c.get(f"/api/analyses/{rid}/result").json()
            assert doc["verdict"] == row["verdict"] and doc["fake_probability"] == row["fake_probability"]
            assert doc["file"]["name"] == "portrait.jpg"
            again = c.post("/api/analyses", files={"file": ("again.jpg", img, "image/jpeg")})
            assert again.status_code == 200 and again.json()["reused"] is True and again.json()["id"] == rid

            assert rows[once]["status"] == "done" and rows[once]["attempts"] == 2 and rows[once]["verdict"]
            assert rows[twice]["status"] == "failed" and rows[twice]["error"]["code"] == "interrupted"
            assert not (settings.results_dir / twice).exists()

            listed = c.get("/api/analyses", params={"q": "PORTRAIT"}).json()
            assert [i["id"] for i in listed["items"]] == [rid] and listed["total"] == 1
            assert c.get("/api/analyses").json()["total"] == 3
            assert c.delete(f"/api/analyses/{rid}").status_code == 204
            assert c.get(f"/api/analyses/{rid}").status_code == 404
            assert c.get("/api/health").json()["queue"] == {"queued": 0, "running": 0, "done": 1, "failed": 1}
    finally:
        srv.stop()


# --------------------------------------------------------------------------- doctor


def _cli(*args: str):
    """Run the CLI in-process; it points logging at the runner's stream, which closes: put ours back."""
    from typer.testing import CliRunner

    from seethrough import log as st_log
    from seethrough.cli import app

    logger = logging.getLogger("seethrough")
    saved = (list(logger.handlers), logger.level, logger.propagate, st_log._CONFIGURED)
    try:
        return CliRunner().invoke(app, list(args))
    finally:
        logger.handlers[:] = saved[0]
        logger.setLevel(saved[1])
        logger.propagate, st_log._CONFIGURED = saved[2], saved[3]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_doctor_checks_postgres(pg_url, postgres_server):
    from seethrough import doctor

    ok = doctor.check_database(pg_url)
    assert ok.status == "ok" and "reachable" in ok.detail and APP_PASSWORD not in ok.detail
    plain = doctor.check_database(pg_url.replace("postgresql+psycopg://", "postgresql://"))
    assert plain.status == "ok", plain

    wrong_pw = doctor.check_database(postgres_server.url("postgres", password="not-the-password"))
    assert wrong_pw.status == "fail" and "password authentication failed" in wrong_pw.detail
    assert "not-the-password" not in wrong_pw.detail and "password" in wrong_pw.fix
    no_server = doctor.check_database(postgres_server.url("postgres", port=_closed_port()))
    assert no_server.status == "fail" and "running" in no_server.fix
    no_db = doctor.check_database(postgres_server.url("no_such_database"))
    assert no_db.status == "fail" and "no_such_database" in no_db.detail and no_db.fix

    res = _cli("doctor", "--json", "--database-url", pg_url)
    by_name = {c["name"]: c for c in json.loads(res.stdout)["checks"]}
    assert by_name["database"]["status"] == "ok", by_name["database"]
    res = _cli("doctor", "--json", "--database-url", postgres_server.url("postgres", password="x"))
    assert res.exit_code == 1
    db = {c["name"]: c for c in json.loads(res.stdout)["checks"]}["database"]
    assert db["status"] == "fail" and db["fix"]


# --------------------------------------------------------------------------- tune


@pytest.fixture
def tiny_tune_config(tmp_path):
    from seethrough.testing import make_crop_dataset, write_tiny_config

    root = make_crop_dataset(tmp_path / "data", n=8, size=64, groups=4, videos=0)
    write_tiny_config(root, name="tiny-pg", image_size=64, hidden=8, threads=1,
                      frames={"eval_every": 1, "max_val": 8}, temporal=False)
    (root / "space.yaml").write_text("frames.lr: {type: float, low: 0.001, high: 0.01, log: true}\n"
                                     "model.hidden: {type: categorical, choices: [8, 16]}\n")
    return root


def test_tune_study_on_postgres(pg_url, tiny_tune_config, tmp_path, monkeypatch):
    """A real trial through the CLI, then a killed trial and a resume, all in a PostgreSQL study."""
    import optuna
    from optuna.trial import TrialState

    from seethrough import tune as tune_mod
    from seethrough.training.config import load_config

    study_dir = tmp_path / "study"
    res = _cli("tune", "-c", str(tiny_tune_config / "tiny.yaml"), "--study-dir", str(study_dir),
               "--space", str(tiny_tune_config / "space.yaml"), "--storage", pg_url, "--trials", "1", "--pruner", "none")
    assert res.exit_code == 0, res.output
    assert "COMPLETE" in res.output and APP_PASSWORD not in res.output
    study = optuna.load_study(study_name="tiny-pg", storage=pg_url)
    (first,) = study.get_trials()
    assert first.state == TrialState.COMPLETE and 0.0 <= first.value <= 1.0 and set(first.params) == {"frames.lr", "model.hidden"}
    assert (study_dir / "best_config.yaml").is_file() and study.user_attrs["objective"] == "frame_score"

    # A trial left RUNNING by a killed process; the next run marks it failed and adds the missing trials.
    orphan = study.ask()
    orphan.set_user_attr("worker", {"host": socket.gethostname(), "pid": _dead_pid()})

    def quick_trial(trial, base, space, study_dir, objective):  # no training: only the storage is under test
        params = {name: p.suggest(trial, name) for name, p in space.items()}
        trial.set_user_attr("worker", {"host": socket.gethostname(), "pid": os.getpid()})
        trial.report(0.5, step=1)
        return 0.25 + params["frames.lr"]

    monkeypatch.setattr(tune_mod, "run_trial", quick_trial)
    cfg = load_config(tiny_tune_config / "tiny.yaml")
    out = tune_mod.tune(cfg, 3, study_dir, storage=pg_url, space=tune_mod.load_space(tiny_tune_config / "space.yaml"),
                        pruner="none")
    assert out.ran == 2 and APP_PASSWORD not in out.storage and "***" in out.storage
    assert [t.state for t in out.trials] == ["COMPLETE", "FAIL", "COMPLETE", "COMPLETE"]
    assert out.trials[0].value == pytest.approx(first.value)  # the first trial was kept, not redone
    again = tune_mod.tune(cfg, 3, study_dir, storage=pg_url, space=tune_mod.load_space(tiny_tune_config / "space.yaml"))
    assert again.ran == 0 and len(again.trials) == 4

    with pytest.raises(Exception, match="Cannot open the study storage") as exc:
        tune_mod.tune(cfg, 1, tmp_path / "other", storage=pg_url.replace(APP_PASSWORD, "wrong-pw"))
    assert "wrong-pw" not in str(exc.value)


def _dead_pid() -> int:
    import subprocess
    import sys

    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_nan_never_reaches_postgres_json():
    """The serializer the store uses: strict JSON, non-finite floats become null."""
    from seethrough.web.store import json_dumps

    assert json.loads(json_dumps({"a": [1.0, math.nan], "b": {"c": math.inf}})) == {"a": [1.0, None], "b": {"c": None}}
    assert json_dumps({"x": 1}) == '{"x": 1}'
