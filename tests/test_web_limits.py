"""Admission control: per-client upload rate, queue length, free disk, disk full mid-upload.

The app runs without its lifespan (no analysis workers), so queued jobs stay queued and
every refusal can be checked against what was stored: nothing, each time.
"""

from __future__ import annotations

import errno
import math
from collections import namedtuple
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from seethrough.testing import make_face_image
from seethrough.web import limits, uploads
from seethrough.web.limits import RateLimiter
from seethrough.web.context import context_of
from seethrough.web.settings import WebSettings


class FakeClock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def test_token_bucket_per_client():
    clock = FakeClock()
    rl = RateLimiter(per_minute=60, burst=3, clock=clock)
    assert [rl.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert rl.take("a") == pytest.approx(1.0)  # one token a second
    assert rl.take("b") == 0.0  # another client has its own bucket
    clock.t += 0.5
    assert rl.take("a") == pytest.approx(0.5)  # refused takes nothing
    clock.t += 0.5
    assert rl.take("a") == 0.0 and rl.take("a") > 0
    clock.t += 100
    assert rl.take("a", 3) == 0.0  # refilled, but never above the burst
    assert rl.take("a") > 0
    assert math.isinf(rl.take("c", 4))  # more than a burst can never pass
    assert RateLimiter(per_minute=0, burst=1).take("a", 99) == 0.0  # 0 = no limit


def test_bucket_table_is_bounded(monkeypatch):
    monkeypatch.setattr(limits, "MAX_CLIENTS", 5)
    rl = RateLimiter(per_minute=60, burst=1, clock=FakeClock())
    for i in range(20):
        rl.take(f"10.0.0.{i}")
    assert len(rl._buckets) == 5 and "10.0.0.19" in rl._buckets and "10.0.0.0" not in rl._buckets


# ------------------------------------------------------------------- over HTTP


@pytest.fixture
def make_client(tmp_path, tiny_checkpoint):
    from seethrough.web.app import create_app

    made = []

    def make(client_addr: str = "127.0.0.1", **overrides):
        if not made:
            settings = WebSettings(data_dir=tmp_path / "data", model=tiny_checkpoint, port=0, **overrides)
            made.append(create_app(settings))
        c = TestClient(made[0], base_url="http://127.0.0.1", client=(client_addr, 50000))
        return c

    yield make
    for app in made:
        context_of(app).probes.close()
        context_of(app).store.close()


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> list[Path]:
    d = tmp_path_factory.mktemp("limit-media")
    return [make_face_image(d / f"face{i}.png", size=(320 + 16 * i, 240)) for i in range(4)]


def _post(client, path: Path):
    return client.post("/api/analyses", files={"file": (path.name, path.read_bytes(), "image/png")})


def _stored(app) -> tuple[int, list[Path], list[Path]]:
    """(rows in the database, files under uploads/, files under tmp/)."""
    s = context_of(app).settings
    _, total = context_of(app).store.list(limit=1)
    return total, [p for p in s.uploads_dir.rglob("*") if p.is_file()], [p for p in s.tmp_dir.rglob("*") if p.is_file()]


def _refused(resp, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.text
    err = resp.json()["error"]
    assert err["code"] == code and err["message"].strip()
    return err


def test_upload_rate_per_client(make_client, images):
    me = make_client(submit_per_minute=6, submit_burst=2)  # one upload every 10 s, 2 at once
    app = me.app
    assert [_post(me, images[i]).status_code for i in range(2)] == [202, 202]
    before = _stored(app)
    resp = _post(me, images[2])
    err = _refused(resp, 429, "rate_limited")
    assert 1 <= int(resp.headers["retry-after"]) <= 10 and "wait" in err["message"]
    assert _stored(app) == before  # nothing kept of the refused upload
    # Another address has its own allowance.
    other = make_client("192.0.2.7")
    assert _post(other, images[2]).status_code == 202
    # A batch counts every file: one more token is not enough for two files.
    resp = other.post("/api/batches", files=[("files", (p.name, p.read_bytes(), "image/png")) for p in images[:2]])
    _refused(resp, 429, "rate_limited")
    assert _stored(app)[0] == 3 and not _stored(app)[2]


def test_queue_cap(make_client, images):
    c = make_client(max_queued=2)
    assert [_post(c, images[i]).status_code for i in range(2)] == [202, 202]
    before = _stored(c.app)
    resp = _post(c, images[2])
    err = _refused(resp, 503, "queue_full")
    assert resp.headers["retry-after"] == "60" and "2 analyses waiting" in err["message"]
    assert _stored(c.app) == before


DiskUsage = namedtuple("DiskUsage", "total used free")


def test_low_disk_refuses_uploads_before_reading_them(make_client, images, monkeypatch):
    c = make_client(min_free_mb=256)
    size = images[0].stat().st_size
    # Just enough room for the reserve but not for this file on top of it.
    monkeypatch.setattr(limits.shutil, "disk_usage", lambda p: DiskUsage(10**12, 0, 256_000_000 + size // 2))
    _refused(_post(c, images[0]), 507, "disk_full")
    assert _stored(c.app) == (0, [], [])
    monkeypatch.setattr(limits.shutil, "disk_usage", lambda p: DiskUsage(10**12, 0, 200_000_000))
    health = c.get("/api/health").json()  # under the reserve: the server says so before anyone uploads
    assert health["status"] == "degraded" and health["disk"] == {"free_mb": 200, "reserve_mb": 256, "ok": False}
    # Room for the upload itself but not for the results its job will write (#13 F5: only the upload counted).
    monkeypatch.setattr(limits.shutil, "disk_usage", lambda p: DiskUsage(10**12, 0, 256_000_000 + 10 * size))
    assert c.get("/api/health").json()["disk"]["ok"]
    _refused(_post(c, images[0]), 507, "disk_full")
    room = limits.expected_result_bytes(10 * size) + 10 * size
    monkeypatch.setattr(limits.shutil, "disk_usage", lambda p: DiskUsage(10**12, 0, 256_000_000 + room))
    assert _post(c, images[0]).status_code == 202
    # The next upload must also leave room for the results of the job already waiting.
    _refused(_post(c, images[1]), 507, "disk_full")
    pending = context_of(c.app).store.pending_uploads()
    assert pending == (1, size)
    room += limits.expected_result_bytes(pending[1], pending[0])
    monkeypatch.setattr(limits.shutil, "disk_usage", lambda p: DiskUsage(10**12, 0, 256_000_000 + room))
    assert _post(c, images[1]).status_code == 202


def test_disk_full_while_receiving_keeps_nothing(make_client, images, monkeypatch):
    c = make_client()
    real = uploads._Receiver.on_part_data

    def full_disk(self, data, start, end):
        if self._file is not None:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, data, start, end)

    monkeypatch.setattr(uploads._Receiver, "on_part_data", full_disk)
    err = _refused(_post(c, images[0]), 507, "disk_full")
    assert "nothing was kept" in err["message"]
    assert _stored(c.app) == (0, [], [])
    monkeypatch.setattr(uploads._Receiver, "on_part_data", real)
    assert _post(c, images[0]).status_code == 202  # the server carries on


def test_settings_from_env():
    s = WebSettings.from_env({"SEETHROUGH_SUBMIT_PER_MIN": "0", "SEETHROUGH_MAX_QUEUED": "7", "SEETHROUGH_MIN_FREE_MB": "0",
                              "SEETHROUGH_LEASE_S": "30"})
    assert (s.submit_per_minute, s.max_queued, s.min_free_mb, s.lease_s) == (0, 7, 0, 30)
    assert RateLimiter(s.submit_per_minute, s.submit_burst).take("x", 50) == 0.0


def test_wrong_tokens_lock_the_address_out(make_client):
    c = make_client(token="a-long-server-token", auth_failures_per_minute=3)
    for guess in ("a", "b", "c"):
        err = _refused(c.get("/api/analyses", headers={"Authorization": f"Bearer {guess}"}), 401, "unauthorized")
        assert err["message"] == "That token is not right."
    # Locked out: even the right token waits now, so guessing cannot go on at full speed.
    resp = c.get("/api/analyses", headers={"Authorization": "Bearer a-long-server-token"})
    err = _refused(resp, 429, "too_many_attempts")
    assert 1 <= int(resp.headers["retry-after"]) <= 20 and "wrong tokens" in err["message"]
    _refused(c.post("/api/session", json={"token": "d"}), 429, "too_many_attempts")
    # Another address, and the right token, are unaffected; right tokens never count.
    other = make_client("192.0.2.9")
    for _ in range(5):
        assert other.get("/api/analyses", headers={"Authorization": "Bearer a-long-server-token"}).status_code == 200
    assert other.post("/api/session", json={"token": "a-long-server-token"}).status_code == 200
    assert other.get("/api/analyses").status_code == 200  # the session cookie carries the token
    assert _refused(make_client("192.0.2.10").get("/api/analyses"), 401, "unauthorized")["message"].startswith(
        "This server needs")


def test_only_uploads_may_be_large(make_client):
    """F1: a huge body to /api/session is refused unread (declared) or cut off (chunked), with or without a token."""
    c = make_client(token="a-long-server-token", auth_failures_per_minute=3)
    resp = c.post("/api/session", content=b'{"token": "x"}',
                  headers={"content-type": "application/json", "content-length": "500000000"})
    _refused(resp, 413, "too_large")

    def chunks():
        yield b'{"token": "'
        for _ in range(64):
            yield b"a" * 1024
        yield b'"}'

    _refused(c.post("/api/session", content=chunks(), headers={"content-type": "application/json"}), 413, "too_large")
    _refused(c.post("/api/session", content=b"not json", headers={"content-type": "application/json"}), 422, "bad_body")
    # nothing of the above counted as a wrong token; a small body still works
    assert c.post("/api/session", json={"token": "a-long-server-token"}).status_code == 200
    for guess in ("a", "b", "c"):
        _refused(c.post("/api/session", json={"token": guess}), 401, "unauthorized")
    _refused(c.post("/api/session", json={"token": "a-long-server-token"}), 429, "too_many_attempts")


def test_declared_size_is_checked_before_the_disk(make_client, images, monkeypatch):
    """F3: a Content-Length beyond the size limit is 413 (the user's to fix), not 507, even on a low disk."""
    c = make_client(min_free_mb=256)
    monkeypatch.setattr(limits.shutil, "disk_usage", lambda p: DiskUsage(10**12, 0, 10**6))
    body = images[0].read_bytes()
    resp = c.post("/api/analyses", content=body, headers={
        "content-type": "multipart/form-data; boundary=x", "content-length": str(10**13)})
    err = _refused(resp, 413, "too_large")
    assert "larger than this server takes" in err["message"]
    assert _stored(c.app) == (0, [], [])
    _refused(_post(c, images[0]), 507, "disk_full")  # a file of a fitting size meets the disk check
