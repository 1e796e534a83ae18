"""seethrough scan: inputs, results store, worker, the local process pool, crash safety and the CLI.

Generated media and the tiny checkpoint only; worker faults (a crash, a hang, a slow file)
are injected through SEETHROUGH_SCAN_FAULT, which the driver hands to its workers.
"""

from __future__ import annotations

import _thread
import csv
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from seethrough.cli import app
from seethrough.scan import (
    FAULT_ENV,
    Job,
    JobResult,
    ResultStore,
    ScanConfig,
    ScanInputError,
    StoreLockedError,
    evidence_folder,
    export_csv,
    find_inputs,
    run_scan,
    scan_settings,
)
from seethrough.scan.inputs import sha256_file
from seethrough.scan.store import store_files
from seethrough.testing import make_face_image, make_face_video, make_no_face_image

# -- fixtures -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    """A small mixed folder: two videos, one copy under another name, a face image, an image
    without a face, a text file named .mp4, a hidden image and a non-media file."""
    d = tmp_path_factory.mktemp("scan_media")
    (d / "sub").mkdir()
    make_face_video(d / "clip_a.mp4", n_frames=12, size=(320, 240))
    make_face_video(d / "sub" / "clip_b.avi", n_frames=10, size=(320, 240), motion=False)
    shutil.copy(d / "clip_a.mp4", d / "sub" / "clip_a_copy.mp4")
    make_face_image(d / "face.jpg", size=(320, 240))
    make_no_face_image(d / "blank.png")
    (d / "broken.mp4").write_text("this is not a video\n")
    make_face_image(d / ".hidden.jpg", size=(300, 220))
    (d / "notes.md").write_text("not media\n")
    return d


def _faulty(folder: Path) -> tuple[Path, Path]:
    """Two more distinct face images whose names trigger the injected crash and hang."""
    return (make_face_image(folder / "crash_me.jpg", size=(330, 250)),
            make_face_image(folder / "hang_me.jpg", size=(340, 250)))


def _rows(db: Path, sql: str, *args) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, args).fetchall()


def _by_name(db: Path) -> dict[str, tuple]:
    """file name -> (status, error_code, verdict, fake_probability, sha256) through the paths table."""
    rows = _rows(db, "SELECT p.path, r.status, r.error_code, r.verdict, r.fake_probability, p.sha256 "
                     "FROM paths p JOIN results r ON r.sha256 = p.sha256")
    return {Path(r[0]).name: r[1:] for r in rows}


def _cfg(db: Path, ckpt: Path, **kw) -> ScanConfig:
    return ScanConfig(db=db, checkpoint=ckpt, frames=kw.pop("frames", 8), progress=False, **kw)


# -- inputs, settings, store (no workers) -------------------------------------------------


def test_find_inputs_folders_lists_and_exclusions(tmp_path):
    root = tmp_path / "in"
    (root / "deep" / ".cache").mkdir(parents=True)
    for rel in ("a.mp4", "B.JPG", "deep/c.mkv", "deep/.d.mp4", "deep/.cache/e.mp4", "deep/notes.md", "skip/f.png"):
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x")
    other = tmp_path / "elsewhere.bin"
    other.write_bytes(b"y")
    lst = tmp_path / "lists" / "files.lst"
    lst.parent.mkdir()
    lst.write_text(
        "# a comment line\n"
        "../in/a.mp4   # the same file again, relative to the list\n"
        f"{other}\n"
        "\n"
        "../in/deep\n"
        "missing.mp4\n"
        "../in/results.db\n"
    )
    (root / "results.db").write_bytes(b"SQLite format 3\0")
    found = find_inputs([root, lst], exclude=[root / "skip", *store_files(root / "results.db")])
    names = [Path(p).relative_to(tmp_path).as_posix() for p in found.files]
    # Folders: media extensions (any case), hidden names and excluded folders skipped; each path once.
    # Lists: explicit files are taken whatever their extension (analyze() decides what is media),
    # except the results database itself.
    assert names == ["in/B.JPG", "in/a.mp4", "in/deep/c.mkv", "elsewhere.bin"]
    assert found.missing == [str(lst.parent / "missing.mp4")]
    assert all(os.path.isabs(p) for p in found.files)
    with pytest.raises(ScanInputError, match="does not exist"):
        find_inputs([tmp_path / "nope"])


def test_settings_key_and_hashes(tmp_path, tiny_checkpoint):
    from seethrough.inference import DEFAULT_CHECKPOINT, file_sha256
    from seethrough.scan import core

    assert core.DEFAULT_CHECKPOINT == DEFAULT_CHECKPOINT  # the driver's copy of the path stays right
    assert sha256_file(tiny_checkpoint) == file_sha256(tiny_checkpoint)
    base = scan_settings(_cfg(tmp_path / "r.db", tiny_checkpoint))
    assert base.model_sha256 == file_sha256(tiny_checkpoint)
    assert base.key == scan_settings(_cfg(tmp_path / "other.db", tiny_checkpoint, workers=3)).key
    changed = [
        scan_settings(_cfg(tmp_path / "r.db", tiny_checkpoint, frames=16)),
        scan_settings(_cfg(tmp_path / "r.db", tiny_checkpoint, min_face=80)),
        scan_settings(_cfg(tmp_path / "r.db", tiny_checkpoint, evidence_dir=tmp_path / "ev")),
        scan_settings(_cfg(tmp_path / "r.db", None)),  # the bundled model
    ]
    assert len({base.key, *(s.key for s in changed)}) == 5
    opts = changed[2].analyze_options()
    assert opts.explain and opts.narrator == "template"
    assert not base.analyze_options().explain and base.analyze_options().narrator is None


def test_store_records_paths_attempts_and_results(tmp_path, tiny_checkpoint):
    db = tmp_path / "r.db"
    settings = scan_settings(_cfg(db, tiny_checkpoint))
    sha = "ab" * 32
    with ResultStore(db) as store:
        with pytest.raises(StoreLockedError):
            ResultStore(db)  # one writer at a time
        scan_id = store.open_scan(settings, backend="local", workers=1, inputs=["x"])
        store.record_path("/m/one.mp4", sha, 10, 1, scan_id)
        store.record_path("/m/two.mp4", sha, 10, 1, scan_id)
        store.record_path("/m/three.mp4", "cd" * 32, 5, 1, scan_id)  # seen, never analysed
        attempt = store.start_attempt(scan_id, Job(sha, "/m/one.mp4", 10), settings.key)
        assert store.lookup(sha, settings.key) is None
        with ResultStore(db, writer=False) as reader:  # exports read while a scan writes
            assert reader.count_results() == 0
        store.save_result(attempt, scan_id, settings.key, JobResult(
            sha, "/m/one.mp4", "ok", verdict="fake", fake_probability=0.9, method="FaceSwap",
            analysis={"status": "ok"}, elapsed_s=0.5, worker="h:1", peak_rss_mb=100.0), size_bytes=10)
        row = store.lookup(sha, settings.key)
        assert (row["status"], row["verdict"]) == ("ok", "fake")
        assert store.lookup(sha, "another-settings") is None
        assert store.paths_of(sha) == ["/m/one.mp4", "/m/two.mp4"]
        rows = list(store.export_rows(settings.key, with_analysis=True))
        assert [(r["path"], r["status"]) for r in rows] == [
            ("/m/one.mp4", "ok"), ("/m/three.mp4", "pending"), ("/m/two.mp4", "ok")]
        assert rows[0]["analysis"] == {"status": "ok"} and rows[0]["method"] == "FaceSwap"
        n = export_csv(store, tmp_path / "out.csv")
    assert n == 3
    with open(tmp_path / "out.csv", newline="") as fh:
        assert [r["fake_probability"] for r in csv.DictReader(fh)] == ["0.9", "", "0.9"]
    with ResultStore(db) as store:  # the lock went with the store; the scan left "running" was killed
        store.open_scan(settings, backend="local", workers=1, inputs=[])
    assert _rows(db, "SELECT state FROM scans ORDER BY scan_id") == [("abandoned",), ("running",)]
    assert _rows(db, "SELECT finished_at IS NOT NULL, outcome FROM attempts") == [(1, "ok")]


def test_worker_matches_analyze_and_writes_evidence(tmp_path, tiny_checkpoint, face_image):
    from seethrough.analysis import analyze
    from seethrough.inference import get_predictor
    from seethrough.scan.types import CHANGED
    from seethrough.scan.worker import ScanWorker, WorkerSpec

    settings = scan_settings(_cfg(tmp_path / "r.db", tiny_checkpoint, evidence_dir=tmp_path / "ev"))
    worker = ScanWorker(WorkerSpec(settings=settings, checkpoint=str(tiny_checkpoint),
                                   evidence_dir=str(tmp_path / "ev"), warmup=False))
    sha = sha256_file(face_image)
    res = worker.run(Job(sha, str(face_image)))
    direct = analyze(face_image, predictor=get_predictor(tiny_checkpoint), options=settings.analyze_options())
    assert res.status == "ok" and res.fake_probability == direct.fake_probability
    assert res.verdict == direct.verdict and res.analysis["file"]["sha256"] == sha
    assert res.analysis["evidence"]["key_frames"] and res.peak_rss_mb > 50
    folder = evidence_folder(tmp_path / "ev", sha)
    assert res.evidence_dir == str(folder) and folder.parent.name == sha[:2]
    names = sorted(p.name for p in folder.iterdir())
    assert "report.html" in names and "analysis.json" in names
    assert any(n.endswith("_crop.png") for n in names) and any(n.endswith("_frame.png") for n in names)
    assert "<html" in (folder / "report.html").read_text(encoding="utf-8").lower()
    assert json.loads((folder / "analysis.json").read_text())["fake_probability"] == res.fake_probability
    # A file whose bytes changed since it was hashed is not filed under the old hash.
    changed = worker.run(Job("0" * 64, str(face_image)))
    assert changed.status == "error" and changed.error_code == CHANGED and changed.verdict is None


# -- scans with worker processes ----------------------------------------------------------


def test_cli_scan_end_to_end(media, tiny_checkpoint, tmp_path, monkeypatch):
    folder = tmp_path / "m"
    shutil.copytree(media, folder)
    _faulty(folder)
    db, csv_path, jsonl_path = tmp_path / "results.db", tmp_path / "r.csv", tmp_path / "r.jsonl"
    monkeypatch.setenv(FAULT_ENV, "crash:crash_me;hang:hang_me")
    args = ["scan", str(folder), "--out", str(db), "--model", str(tiny_checkpoint), "-j", "2", "--frames", "8",
            "--timeout", "6", "--csv", str(csv_path), "--jsonl", str(jsonl_path)]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 1, r.output  # three files could not be analysed (the table says which)
    for text in ("analysed now", "uncertain", "no face", "error: worker_crashed", "error: timeout",
                 "error: unsupported", "files/min"):
        assert text in r.output, text

    got = _by_name(db)
    assert set(got) == {"clip_a.mp4", "clip_a_copy.mp4", "clip_b.avi", "face.jpg", "blank.png", "broken.mp4",
                        "crash_me.jpg", "hang_me.jpg"}  # hidden and non-media files never scanned
    assert got["clip_a.mp4"] == got["clip_a_copy.mp4"] and got["clip_a.mp4"][0] == "ok"
    assert got["clip_b.avi"][0] == got["face.jpg"][0] == "ok"
    assert got["blank.png"][:2] == ("no_face", "no_face")
    assert got["broken.mp4"][:2] == ("error", "unsupported")
    assert got["crash_me.jpg"][:2] == ("error", "worker_crashed")
    assert got["hang_me.jpg"][:2] == ("error", "timeout")
    # Seven contents, each analysed exactly once (the copy was not analysed again).
    assert _rows(db, "SELECT COUNT(*), SUM(attempts) FROM results") == [(7, 7)]
    assert _rows(db, "SELECT COUNT(*), COUNT(finished_at) FROM attempts") == [(7, 7)]
    # The stored JSON is the documented analysis document, and the columns agree with it.
    import jsonschema

    from seethrough.analysis import SCHEMA_PATH

    schema = json.loads(SCHEMA_PATH.read_text())
    for status, verdict, p, doc in _rows(db, "SELECT status, verdict, fake_probability, analysis_json FROM results "
                                             "WHERE analysis_json IS NOT NULL"):
        doc = json.loads(doc)
        jsonschema.validate(doc, schema)
        assert (doc["status"], doc["verdict"], doc["fake_probability"]) == (status, verdict, p)
    assert _rows(db, "SELECT COUNT(*) FROM results WHERE analysis_json IS NULL") == [(2,)]  # crash and hang

    with open(csv_path, newline="") as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == 8 and {Path(t["path"]).name for t in table} == set(got)
    by = {Path(t["path"]).name: t for t in table}
    assert by["hang_me.jpg"]["error_code"] == "timeout" and "limit" in by["hang_me.jpg"]["error"]
    assert by["clip_a.mp4"]["sha256"] == by["clip_a_copy.mp4"]["sha256"]
    # What each file says about itself travels into the export (seethrough.provenance).
    assert by["face.jpg"]["metadata_stripped"] == "True" and by["face.jpg"]["c2pa"] == "absent"
    assert by["clip_a.mp4"]["edited_with"].startswith("FFmpeg (Lavf") and by["clip_a.mp4"]["declared_ai_generated"] == "False"
    assert by["crash_me.jpg"]["c2pa"] == ""  # no analysis, no provenance
    lines = [json.loads(x) for x in jsonl_path.read_text().splitlines()]
    assert len(lines) == 8
    jl = {Path(x["path"]).name: x for x in lines}
    assert jl["face.jpg"]["analysis"]["status"] == "ok" and jl["crash_me.jpg"]["analysis"] is None

    # Same settings again: nothing analysed, nothing attempted, no worker started.
    monkeypatch.delenv(FAULT_ENV)
    t0 = time.perf_counter()
    again = run_scan([folder], _cfg(db, tiny_checkpoint, workers=2, timeout_s=6))
    assert (again.skipped, again.analysed, again.duplicates, again.unique) == (7, 0, 1, 7)
    assert again.errors == {"unsupported": 1, "worker_crashed": 1, "timeout": 1} and again.no_face == 1
    assert time.perf_counter() - t0 < 5
    assert _rows(db, "SELECT COUNT(*) FROM attempts") == [(7,)]
    # Exports from the database alone give the same file.
    r = CliRunner().invoke(app, ["scan", "--out", str(db), "--export-only", "--csv", str(tmp_path / "again.csv")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "again.csv").read_text() == csv_path.read_text()


def test_retry_errors_and_other_settings(media, tiny_checkpoint, tmp_path, monkeypatch):
    folder = tmp_path / "m"
    folder.mkdir()
    face = shutil.copy(media / "face.jpg", folder / "face.jpg")
    crash, _ = _faulty(folder)
    db = tmp_path / "r.db"
    monkeypatch.setenv(FAULT_ENV, "crash:crash_me")
    first = run_scan([face, crash], _cfg(db, tiny_checkpoint))
    assert first.errors == {"worker_crashed": 1} and first.verdicts["uncertain"] + first.verdicts["real"] \
        + first.verdicts["fake"] == 1
    monkeypatch.delenv(FAULT_ENV)
    # --retry-errors: the crashed file is analysed again (and now works); the good one is skipped.
    retry = run_scan([face, crash], _cfg(db, tiny_checkpoint, retry_errors=True))
    assert (retry.analysed, retry.skipped, retry.errors) == (1, 1, {})
    assert _by_name(db)["crash_me.jpg"][0] == "ok"
    assert _rows(db, "SELECT attempts FROM results WHERE path LIKE '%crash_me.jpg'") == [(2,)]
    # Other settings (evidence on) are another result: analysed again, evidence written.
    ev = run_scan([face], _cfg(db, tiny_checkpoint, evidence_dir=tmp_path / "ev"))
    assert (ev.analysed, ev.skipped) == (1, 0)
    assert _rows(db, "SELECT COUNT(DISTINCT settings_key), COUNT(*) FROM results") == [(2, 3)]
    folder_ev = evidence_folder(tmp_path / "ev", sha256_file(face))
    assert (folder_ev / "report.html").is_file() and list(folder_ev.glob("*_crop.png"))
    assert _rows(db, "SELECT evidence_dir FROM results WHERE evidence_dir IS NOT NULL") == [(str(folder_ev),)]


def _count_results(db: Path) -> int:
    try:
        return _rows(db, "SELECT COUNT(*) FROM results")[0][0]
    except sqlite3.Error:  # not created yet
        return 0


def _wait_for(db: Path, n: int, timeout: float = 120.0, proc: subprocess.Popen | None = None) -> None:
    t0 = time.monotonic()
    while _count_results(db) < n:
        assert proc is None or proc.poll() is None, "the scan ended before it could be stopped"
        assert time.monotonic() - t0 < timeout, f"fewer than {n} results after {timeout} s"
        time.sleep(0.1)


def test_resume_after_sigkill_and_ctrl_c(media, tiny_checkpoint, tmp_path, monkeypatch):
    folder = tmp_path / "m"
    shutil.copytree(media, folder)
    db = tmp_path / "results.db"
    cmd = [sys.executable, "-c", "from seethrough.cli import main; main()", "-q", "scan", str(folder), "--out",
           str(db), "--model", str(tiny_checkpoint), "--frames", "8", "--no-progress"]
    env = {**os.environ, FAULT_ENV: "sleep:0.8"}  # slow files: the kill lands mid-scan

    # 1. SIGKILL the whole scan (driver and workers) once two results are committed.
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_for(db, 2, proc=proc)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    before = {sha for (sha,) in _rows(db, "SELECT sha256 FROM results")}
    assert 2 <= len(before) < 5  # five contents: the copy of clip_a is the same content
    assert _rows(db, "SELECT state FROM scans") == [("running",)]

    # 2. Ctrl-C (in this process) once one more result is in: clean stop, exit code 130.
    monkeypatch.setenv(FAULT_ENV, "sleep:0.8")
    target = len(before) + 1

    def interrupt() -> None:
        _wait_for(db, target)
        _thread.interrupt_main()

    threading.Thread(target=interrupt, daemon=True).start()
    r = CliRunner().invoke(app, cmd[3:])
    assert r.exit_code == 130, r.output
    assert "interrupted" in r.output and "left for the next run" in r.output
    assert [s for (s,) in _rows(db, "SELECT state FROM scans")] == ["abandoned", "interrupted"]
    middle = {sha for (sha,) in _rows(db, "SELECT sha256 FROM results")}
    assert before < middle and len(middle) < 5

    # 3. Finish: every content present exactly once, nothing done before analysed again.
    monkeypatch.delenv(FAULT_ENV)
    done = run_scan([folder], _cfg(db, tiny_checkpoint))
    assert done.skipped == len(middle) and done.analysed == 5 - len(middle)
    assert _rows(db, "SELECT COUNT(*), COUNT(DISTINCT sha256) FROM results") == [(5, 5)]
    finished = dict(_rows(db, "SELECT sha256, COUNT(finished_at) FROM attempts GROUP BY sha256"))
    assert len(finished) == 5 and set(finished.values()) == {1}  # each content analysed to the end once
    for sha in before:  # committed before the SIGKILL: never started again
        assert _rows(db, "SELECT COUNT(*) FROM attempts WHERE sha256 = ?", sha) == [(1,)]
    last_scan = _rows(db, "SELECT MAX(scan_id) FROM scans")[0][0]
    redone_last = {sha for (sha,) in _rows(db, "SELECT sha256 FROM attempts WHERE scan_id = ?", last_scan)}
    assert redone_last and not redone_last & middle  # the last run only did what was missing
    # Files that were in flight at a stop were simply redone.
    redone = _rows(db, "SELECT COUNT(*) FROM attempts WHERE finished_at IS NULL")[0][0]
    assert redone >= 1
    assert _rows(db, "SELECT SUM(attempts) FROM results")[0][0] == 5 + redone


def test_export_carries_provenance_and_a_trust_list_is_part_of_the_settings(tmp_path, tiny_checkpoint):
    import dataclasses
    import hashlib

    db = tmp_path / "r.db"
    settings = scan_settings(_cfg(db, tiny_checkpoint))
    # Without a trust list the key is the one earlier versions computed: their databases resume.
    legacy = {k: v for k, v in dataclasses.asdict(settings).items() if k != "c2pa_trust"}
    blob = json.dumps(legacy, sort_keys=True, separators=(",", ":"))
    assert settings.key == hashlib.sha256(blob.encode()).hexdigest()[:16]
    pem = tmp_path / "roots.pem"
    pem.write_text("x")
    trusted = scan_settings(_cfg(db, tiny_checkpoint, c2pa_trust=pem))
    assert trusted.key != settings.key and trusted.analyze_options().c2pa_trust == str(pem.resolve())
    prov = {"declared_ai_generated": True, "c2pa": {"state": "valid"}, "camera": None,
            "edited_with": ["TestGen 1.0", "FFmpeg (Lavf62.12.102)"], "stripped": False}
    with ResultStore(db) as store:
        scan_id = store.open_scan(settings, backend="local", workers=1, inputs=["x"])
        for name, sha, analysis in (("/m/gen.jpg", "ab" * 32, {"status": "ok", "provenance": prov}),
                                    ("/m/old.jpg", "cd" * 32, {"status": "ok"})):
            store.record_path(name, sha, 10, 1, scan_id)
            attempt = store.start_attempt(scan_id, Job(sha, name, 10), settings.key)
            store.save_result(attempt, scan_id, settings.key, JobResult(sha, name, "ok", verdict="real",
                              fake_probability=0.1, analysis=analysis, elapsed_s=0.1, worker="h:1"), size_bytes=10)
        rows = {r["path"]: r for r in store.export_rows(settings.key)}
        export_csv(store, tmp_path / "out.csv")
    assert rows["/m/gen.jpg"]["declared_ai_generated"] is True and rows["/m/gen.jpg"]["c2pa"] == "valid"
    assert rows["/m/gen.jpg"]["edited_with"] == "TestGen 1.0; FFmpeg (Lavf62.12.102)"
    assert rows["/m/gen.jpg"]["metadata_stripped"] is False
    assert rows["/m/old.jpg"]["declared_ai_generated"] is None and rows["/m/old.jpg"]["c2pa"] is None  # before 1.3
    with open(tmp_path / "out.csv", newline="") as fh:
        table = {r["path"]: r for r in csv.DictReader(fh)}
    assert table["/m/gen.jpg"]["declared_ai_generated"] == "True" and table["/m/old.jpg"]["c2pa"] == ""
