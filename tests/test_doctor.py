"""`seethrough doctor`: real checks on this machine, stand-in services, exit codes."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from typer.testing import CliRunner

from seethrough import doctor
from seethrough.cli import app
from seethrough.doctor import Check


@pytest.fixture(scope="module")
def real_checks() -> dict[str, Check]:
    return {c.name: c for c in (fn() for fn in (doctor.check_python, doctor.check_torch, doctor.check_accelerators,
                                                doctor.check_onnxruntime, doctor.check_model,
                                                doctor.check_face_detector, doctor.check_landmarks,
                                                doctor.check_gradcam, doctor.check_av))}


@pytest.mark.parametrize("name", ["python", "torch", "accelerators", "onnxruntime", "model", "face detector",
                                  "landmarks", "grad-cam", "video decoding"])
def test_installed_components_are_ok(real_checks, name):
    c = real_checks[name]
    assert c.status == "ok", c
    assert c.detail and c.fix is None


def test_details_name_what_was_found(real_checks):
    import av
    import onnxruntime
    import torch

    from seethrough.inference import DEFAULT_CHECKPOINT, file_sha256

    assert torch.__version__ in real_checks["torch"].detail
    assert onnxruntime.__version__ in real_checks["onnxruntime"].detail
    assert "CPUExecutionProvider" in real_checks["onnxruntime"].detail
    assert file_sha256(DEFAULT_CHECKPOINT)[:16] in real_checks["model"].detail
    assert "h264" in real_checks["video decoding"].detail and av.__version__ in real_checks["video decoding"].detail


def test_bad_model_file_fails_with_fix(tmp_path):
    missing = doctor.check_model(tmp_path / "nope.pt")
    assert missing.status == "fail" and "not found" in missing.detail and missing.fix
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint at all")
    bad = doctor.check_model(junk)
    assert bad.status == "fail" and "does not load" in bad.detail and bad.fix


def test_tiny_checkpoint_passes(tiny_checkpoint):
    c = doctor.check_model(tiny_checkpoint)
    assert c.status == "ok" and "tiny_cnn" in c.detail


class _Tags(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"models": [{"name": "llama3.2:latest"}]}).encode() if self.path == "/api/tags" else b"{}"
        self.send_response(200 if self.path == "/api/tags" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture()
def ollama_standin():
    server = HTTPServer(("127.0.0.1", 0), _Tags)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_ollama_reachable_is_ok(ollama_standin):
    c = doctor.check_ollama(ollama_standin)
    assert c.status == "ok" and "llama3.2:latest" in c.detail


def test_ollama_from_environment(ollama_standin, monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", ollama_standin.removeprefix("http://"))  # Ollama accepts host:port
    assert doctor.check_ollama().status == "ok"


def test_ollama_unreachable_is_only_a_warning():
    c = doctor.check_ollama(f"http://127.0.0.1:{_closed_port()}", timeout=0.5)
    assert c.status == "warn"
    assert "--narrator template" in c.fix


def test_database_urls(tmp_path):
    import sqlite3

    db = tmp_path / "app.db"
    sqlite3.connect(db).close()
    assert doctor.check_database(f"sqlite:///{db}").status == "ok"
    later = doctor.check_database(f"sqlite:///{tmp_path / 'new' / 'app.db'}")
    assert later.status == "ok" and "not created yet" in later.detail
    assert not (tmp_path / "new").exists()  # the doctor creates nothing

    unopenable = doctor.check_database(f"sqlite:///{tmp_path}")  # a folder, not a database file
    assert unopenable.status == "fail" and "DATABASE_URL" in unopenable.fix
    refused = doctor.check_database(f"postgresql://u:secret@127.0.0.1:{_closed_port()}/db")
    assert refused.status == "fail" and refused.fix  # no driver installed, or connection refused
    assert "secret" not in refused.detail  # passwords are masked
    nonsense = doctor.check_database("not a url")
    assert nonsense.status == "fail" and "DATABASE_URL" in nonsense.fix
    unknown = doctor.check_database("nosuchdb://host/db")
    assert unknown.status == "fail" and "unknown database type" in unknown.detail and "sqlite:///" in unknown.fix


def test_database_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'x' / 'y.db'}")
    assert str(tmp_path / "x" / "y.db") in doctor.default_database_url()
    monkeypatch.delenv("DATABASE_URL")
    monkeypatch.setenv("SEETHROUGH_DATA", str(tmp_path / "data"))
    assert doctor.default_database_url() == f"sqlite:///{tmp_path / 'data' / 'seethrough.db'}"


def test_disk_and_chromium(tmp_path, monkeypatch):
    c = doctor.check_disk(tmp_path / "not" / "there")
    assert c.status in ("ok", "warn", "fail") and "GiB free" in c.detail
    monkeypatch.setattr(doctor, "FAIL_FREE_GB", 1e9)
    assert doctor.check_disk(tmp_path).status == "fail"
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("PLAYWRIGHT_BROWSERS_PATH", raising=False)
    missing = doctor.check_chromium()
    assert missing.status == "warn" and "playwright install chromium" in missing.fix


def test_a_crashing_check_becomes_a_failure():
    @doctor._never_raises("boom")
    def boom() -> Check:
        raise RuntimeError("kaput")

    c = boom()
    assert c.status == "fail" and "kaput" in c.detail and c.fix


def test_exit_code():
    assert doctor.exit_code([Check("a", "ok", ""), Check("b", "warn", "", "x")]) == 0
    assert doctor.exit_code([Check("a", "ok", ""), Check("b", "fail", "", "x")]) == 1


def _cli(*args, env=None):
    return CliRunner().invoke(app, ["doctor", *args], env=env)


def test_cli_table_json_and_exit_codes(tmp_path, ollama_standin, monkeypatch):
    # The disk check reads the real disk (CI machines can have under 1 GiB free); its
    # thresholds have their own test above, so here any free space passes.
    monkeypatch.setattr(doctor, "FAIL_FREE_GB", 0.0)
    monkeypatch.setattr(doctor, "WARN_FREE_GB", 0.0)
    good_db = f"sqlite:///{tmp_path / 'web.db'}"
    res = _cli("--database-url", good_db, "--ollama-host", ollama_standin)
    assert res.exit_code == 0, res.output
    for name in ("python", "torch", "onnxruntime", "model", "ollama", "database", "disk"):
        assert name in res.output
    assert "OK" in res.output

    res = _cli("--json", "--database-url", good_db, "--ollama-host", ollama_standin)
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["ok"] is True
    by_name = {c["name"]: c for c in doc["checks"]}
    assert by_name["ollama"]["status"] == "ok" and by_name["database"]["status"] == "ok"
    assert all(set(c) == {"name", "status", "detail", "fix"} for c in doc["checks"])

    res = _cli("--json", "--database-url", f"postgresql://u@127.0.0.1:{_closed_port()}/db",
               "--ollama-host", f"http://127.0.0.1:{_closed_port()}")
    assert res.exit_code == 1
    by_name = {c["name"]: c for c in json.loads(res.stdout)["checks"]}
    assert by_name["database"]["status"] == "fail" and by_name["database"]["fix"]
    assert by_name["ollama"]["status"] == "warn"  # a missing narrator never fails the doctor

    res = _cli("--database-url", "not a url")
    assert res.exit_code == 1 and "FAIL" in res.output
