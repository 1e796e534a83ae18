"""REST API over real HTTP (uvicorn on loopback, httpx client), with the tiny model.

One server for the module: submissions, results, dedup, history, batch, hostile uploads,
plain errors, access control.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

import httpx
import pytest

from seethrough.errors import ConfigError
from seethrough.testing import make_face_image, make_truncated_copy
from seethrough.web.context import context_of
from seethrough.web.settings import WebSettings, is_loopback

SCHEMA = Path(__file__).resolve().parents[1] / "src" / "seethrough" / "schemas" / "analysis.schema.json"


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_checkpoint):
    from seethrough.web.server import start_in_thread

    data = tmp_path_factory.mktemp("web-api") / "data"
    settings = WebSettings(data_dir=data, model=tiny_checkpoint, port=0, frames=6, workers=1, job_timeout_s=120)
    srv = start_in_thread(settings)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def client(server):
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per poll otherwise
    with httpx.Client(base_url=server.url, timeout=60) as c:
        yield c


@pytest.fixture(scope="module")
def data_dir(server) -> Path:
    return context_of(server.app).settings.data_dir


def _post(client, path: Path | bytes, name: str, **fields) -> httpx.Response:
    body = path.read_bytes() if isinstance(path, Path) else path
    return client.post("/api/analyses", files={"file": (name, body, "application/octet-stream")},
                       data={k: str(v).lower() for k, v in fields.items()})


def wait_done(client, analysis_id: str, timeout: float = 90.0, seen: set | None = None) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = client.get(f"/api/analyses/{analysis_id}").json()
        if seen is not None and row["status"] == "running":
            seen.add(row["stage"])
        if row["status"] in ("done", "failed"):
            return row
        time.sleep(0.05)
    raise AssertionError(f"analysis {analysis_id} did not finish in {timeout} s")


def assert_plain_error(resp: httpx.Response, status: int, code: str | None = None) -> dict:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    if code:
        assert body["error"]["code"] == code, body
    assert body["error"]["message"].strip()
    assert "Traceback" not in resp.text and 'File "' not in resp.text
    return body["error"]


@pytest.fixture(scope="module")
def video_done(client, face_clip):
    """The generated clip, submitted once and analysed."""
    r = _post(client, face_clip, "clip.mp4")
    assert r.status_code in (200, 202), r.text
    seen: set = set()
    row = wait_done(client, r.json()["id"], seen=seen)
    row["_seen_stages"] = seen
    row["_submit_status"] = r.status_code
    return row


# ------------------------------------------------------------------------- service


def test_health_openapi_and_docs(client):
    h = client.get("/api/health").json()
    assert h["status"] == "ok" and h["database"] == "ok"
    assert h["workers"]["ready"] == 1 and h["workers"]["model"]["name"] == "tiny-test"
    assert h["probes"]["ok"] and h["probes"]["idle_dead"] == 0 and h["probes"]["size"] >= 1
    spec = client.get("/openapi.json").json()
    for path in ("/api/analyses", "/api/analyses/{analysis_id}", "/api/analyses/{analysis_id}/result",
                 "/api/analyses/{analysis_id}/report.{fmt}", "/api/batches", "/api/health"):
        assert path in spec["paths"], path
    assert "multipart/form-data" in spec["paths"]["/api/analyses"]["post"]["requestBody"]["content"]
    # Every status a route really answers is documented (schemathesis found the gaps).
    assert {"404", "409"} <= set(spec["paths"]["/api/analyses/{analysis_id}/result"]["get"]["responses"])
    report = spec["paths"]["/api/analyses/{analysis_id}/report.{fmt}"]["get"]["responses"]
    assert {"application/pdf", "text/html", "application/json"} <= set(report["200"]["content"])
    assert "404" in spec["paths"]["/api/analyses/{analysis_id}"]["delete"]["responses"]
    docs = client.get("/docs")
    assert docs.status_code == 200 and "/api/analyses/{analysis_id}/result" in docs.text
    assert "cdn" not in docs.text.lower() and "https://" not in docs.text  # works offline


def test_video_submitted_analysed_and_downloadable(client, video_done, data_dir):
    import jsonschema

    row = video_done
    assert row["_submit_status"] == 202
    assert row["status"] == "done" and row["analysis_status"] == "ok", row
    assert row["verdict"] in ("real", "uncertain", "fake") and 0 <= row["fake_probability"] <= 1
    assert row["progress"] == 1.0 and row["kind"] == "video"
    # Progress moved through the analysis stages while we polled.
    assert row["_seen_stages"] & {"probe", "decode", "faces", "model", "explain", "narrate", "frames", "gallery", "report"}

    doc = client.get(f"/api/analyses/{row['id']}/result").json()
    jsonschema.validate(doc, json.loads(SCHEMA.read_text()))
    assert doc["verdict"] == row["verdict"] and doc["fake_probability"] == row["fake_probability"]
    assert doc["file"]["name"] == "clip.mp4" and str(data_dir) not in json.dumps(doc)  # no server paths leak
    assert len(doc["frames"]) == 6

    # Sampled frames and evidence images are served by id.
    assert sorted(row["artefacts"]["frames"]) == sorted(f["index"] for f in doc["frames"])
    frame = client.get(f"/api/analyses/{row['id']}/frames/{doc['frames'][0]['index']}")
    assert frame.status_code == 200 and frame.content[:3] == b"\xff\xd8\xff"
    assert row["artefacts"]["gallery"], "no Grad-CAM gallery"
    for g in row["artefacts"]["gallery"]:
        for kind in ("crop", "frame"):
            img = client.get(g[f"{kind}_url"])
            assert img.status_code == 200 and img.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert_plain_error(client.get(f"/api/analyses/{row['id']}/frames/99999"), 404, "not_found")
    assert_plain_error(client.get(f"/api/analyses/{row['id']}/gallery/99/crop"), 404, "not_found")

    pdf = client.get(row["links"]["pdf"])
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert pdf.headers["content-type"] == "application/pdf" and "attachment" in pdf.headers["content-disposition"]
    html = client.get(row["links"]["html"])
    assert html.status_code == 200 and "<html" in html.text.lower() and "sandbox" in html.headers["content-security-policy"]
    js = client.get(row["links"]["json"])
    assert js.json() == doc and "clip-seethrough.json" in js.headers["content-disposition"]


def test_image_submitted_and_analysed(client, face_image):
    r = _post(client, face_image, "portrait.jpg")
    assert r.status_code in (200, 202)
    row = wait_done(client, r.json()["id"])
    assert row["status"] == "done" and row["kind"] == "image" and row["analysis_status"] == "ok"
    assert row["artefacts"]["frames"] == [0]
    doc = client.get(f"/api/analyses/{row['id']}/result").json()
    assert doc["media"]["kind"] == "image" and len(doc["frames"]) == 1


@pytest.mark.parametrize("ext", ["heic", "avif"])
def test_iphone_photos_are_accepted_and_analysed(client, tmp_path, ext):
    """#13: HEIC/HEIF and AVIF photos pass the upload check and are analysed like any photo."""
    from test_media_inputs import write_sideways_photo

    path = write_sideways_photo(tmp_path / f"IMG_0001.{ext}")
    r = _post(client, path, path.name)
    assert r.status_code == 202, r.text
    row = wait_done(client, r.json()["id"])
    assert row["status"] == "done" and row["kind"] == "image" and row["analysis_status"] == "ok", row["error"]
    doc = client.get(f"/api/analyses/{row['id']}/result").json()
    assert (doc["media"]["width"], doc["media"]["height"]) == (480, 640)


def test_no_face_image_is_done_with_a_plain_reason(client, tmp_path):
    from seethrough.testing import make_no_face_image

    r = _post(client, make_no_face_image(tmp_path / "wall.png"), "wall.png")
    row = wait_done(client, r.json()["id"])
    assert row["status"] == "done" and row["analysis_status"] == "no_face" and row["verdict"] is None
    doc = client.get(row["links"]["result"]).json()
    assert doc["status"] == "no_face" and "face" in doc["message"].lower()


def test_same_file_reuses_result_unless_rerun(client, face_clip, video_done):
    again = _post(client, face_clip, "copy of clip.mp4")
    assert again.status_code == 200 and again.json()["reused"] is True
    assert again.json()["id"] == video_done["id"]
    rerun = _post(client, face_clip, "clip.mp4", rerun=True)
    assert rerun.status_code == 202 and rerun.json()["reused"] is False
    assert rerun.json()["id"] != video_done["id"]
    row = wait_done(client, rerun.json()["id"])
    assert row["status"] == "done" and row["sha256"] == video_done["sha256"]
    # Same model, same file, same settings: the same verdict.
    assert row["fake_probability"] == pytest.approx(video_done["fake_probability"], abs=1e-6)


def test_result_of_unfinished_job_is_409(client, server):
    from seethrough.web.store import AnalysisRow, new_id, utcnow

    store = context_of(server.app).store
    row = AnalysisRow(id=new_id(), sha256="0" * 64, name="late.jpg", stored_path="uploads/00/none", size_bytes=1,
                      settings_key="x", options={}, narrator="template", status="running", attempts=1,
                      created_at=utcnow(), updated_at=utcnow())
    store.add(row)
    try:
        assert client.get(f"/api/analyses/{row.id}").json()["status"] == "running"
        assert_plain_error(client.get(f"/api/analyses/{row.id}/result"), 409, "not_ready")
        assert_plain_error(client.get(f"/api/analyses/{row.id}/report.pdf"), 409, "not_ready")
    finally:
        store.delete(row.id)


def test_list_search_and_delete(client, tmp_path, data_dir, video_done):
    img = make_face_image(tmp_path / "to-delete.png", size=(480, 360))
    r = _post(client, img, "holiday snap.png")
    row = wait_done(client, r.json()["id"])
    stored = data_dir / "uploads" / row["sha256"][:2] / row["sha256"]
    results = data_dir / "results" / row["id"]
    assert stored.is_file() and results.is_dir()

    found = client.get("/api/analyses", params={"q": "holiday"}).json()
    assert [i["id"] for i in found["items"]] == [row["id"]] and found["total"] == 1
    assert client.get("/api/analyses", params={"q": row["id"][:10]}).json()["items"][0]["id"] == row["id"]
    by_verdict = client.get("/api/analyses", params={"verdict": video_done["verdict"]}).json()
    assert video_done["id"] in [i["id"] for i in by_verdict["items"]]
    assert all(i["verdict"] == video_done["verdict"] for i in by_verdict["items"])
    assert client.get("/api/analyses", params={"status": "failed", "q": "holiday"}).json()["total"] == 0
    assert client.get("/api/analyses", params={"q": "\x00"}).json()["total"] == 0  # SQLite once matched all at NUL
    page = client.get("/api/analyses", params={"limit": 1}).json()
    assert len(page["items"]) == 1 and page["total"] >= 3
    assert_plain_error(client.get("/api/analyses", params={"verdict": "maybe"}), 422, "invalid_request")
    assert_plain_error(client.get("/api/analyses", params={"limit": 0}), 422, "invalid_request")

    assert client.delete(f"/api/analyses/{row['id']}").status_code == 204
    assert_plain_error(client.get(f"/api/analyses/{row['id']}"), 404, "not_found")
    assert not results.exists() and not stored.exists()
    assert client.get("/api/analyses", params={"q": "holiday"}).json()["total"] == 0
    assert_plain_error(client.delete(f"/api/analyses/{row['id']}"), 404, "not_found")
    assert_plain_error(client.get("/api/analyses/not-an-id"), 404, "not_found")


def test_of_two_concurrent_deletes_one_wins(client, server, tmp_path, monkeypatch):
    img = make_face_image(tmp_path / "twice.png", size=(400, 300))
    row = wait_done(client, _post(client, img, "twice.png").json()["id"])
    store = context_of(server.app).store
    stale = store.get(row["id"])
    store.delete(row["id"])  # the other request got there first, after this one had read the row
    monkeypatch.setattr(store, "get", lambda analysis_id: stale)
    assert_plain_error(client.delete(f"/api/analyses/{row['id']}"), 404, "not_found")


def test_delete_keeps_an_upload_other_analyses_use(client, face_image, data_dir):
    first = _post(client, face_image, "a.jpg", rerun=True).json()
    second = _post(client, face_image, "b.jpg", rerun=True).json()
    wait_done(client, first["id"]), wait_done(client, second["id"])
    stored = data_dir / "uploads" / first["sha256"][:2] / first["sha256"]
    assert client.delete(f"/api/analyses/{first['id']}").status_code == 204
    assert stored.is_file()  # still used by the second analysis
    assert client.get(f"/api/analyses/{second['id']}/result").status_code == 200


def test_batch_upload_reports_each_file(client, face_clip, tmp_path):
    img = make_face_image(tmp_path / "batch.jpg", size=(520, 390))
    files = [
        ("files", ("clip.mp4", face_clip.read_bytes(), "video/mp4")),
        ("files", ("batch.jpg", img.read_bytes(), "image/jpeg")),
        ("files", ("notes.mp4", b"these are my meeting notes, not a video\n" * 20, "video/mp4")),
    ]
    r = client.post("/api/batches", files=files)
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["accepted"] == 2 and body["rejected"] == 1
    codes = [i["status_code"] for i in body["items"]]
    assert codes[0] == 200 and body["items"][0]["analysis"]["reused"] is True
    assert codes[1] == 202 and codes[2] == 415
    assert "text file" in body["items"][2]["error"]["message"]
    row = wait_done(client, body["items"][1]["analysis"]["id"])
    assert row["status"] == "done" and row["batch_id"] == body["batch_id"]
    listed = client.get("/api/analyses", params={"batch": body["batch_id"]}).json()
    assert [i["id"] for i in listed["items"]] == [row["id"]]


# -------------------------------------------------------------------- hostile input


def test_text_file_renamed_mp4_is_415(client):
    r = _post(client, b"hello, this is plain text pretending to be a video\n" * 10, "movie.mp4")
    err = assert_plain_error(r, 415, "unsupported")
    assert "text file" in err["message"] and "movie.mp4" in err["message"]


def test_truncated_video_is_422_with_reason(client, face_clip, tmp_path):
    cut = make_truncated_copy(face_clip, tmp_path / "cut.mp4", keep=0.4)
    err = assert_plain_error(_post(client, cut, "cut.mp4"), 422, "truncated")
    assert "truncated" in err["message"] and "cut.mp4" in err["message"]


def test_empty_file_is_400(client):
    err = assert_plain_error(_post(client, b"", "empty.mp4"), 400, "empty")
    assert "0 bytes" in err["message"]


def test_oversize_upload_is_413_and_leaves_nothing(client, server, face_clip, data_dir, monkeypatch):
    monkeypatch.setattr(context_of(server.app).settings, "max_upload_bytes", 50_000)
    before = set((data_dir / "uploads").rglob("*"))
    err = assert_plain_error(_post(client, face_clip, "big.mp4"), 413, "too_large")
    assert "limit" in err["message"]
    assert set((data_dir / "uploads").rglob("*")) == before
    assert not list((data_dir / "tmp").glob("*.part"))


def test_an_oversize_file_in_a_batch_is_refused_alone(client, server, face_clip, tmp_path, data_dir, monkeypatch):
    img = make_face_image(tmp_path / "small.jpg", size=(360, 270))
    assert img.stat().st_size < 50_000 < face_clip.stat().st_size
    monkeypatch.setattr(context_of(server.app).settings, "max_upload_bytes", 50_000)
    r = client.post("/api/batches", files=[("files", ("big.mp4", face_clip.read_bytes(), "video/mp4")),
                                           ("files", ("small.jpg", img.read_bytes(), "image/jpeg"))])
    assert r.status_code == 202, r.text
    big, small = r.json()["items"]
    assert big["status_code"] == 413 and big["error"]["code"] == "too_large" and "big.mp4" in big["error"]["message"]
    assert small["ok"] and small["analysis"]["name"] == "small.jpg"
    assert not list((data_dir / "tmp").glob("*.part"))  # nothing of the refused file is kept


def test_path_traversal_name_is_display_only(client, server, tmp_path, data_dir):
    img = make_face_image(tmp_path / "t.jpg", size=(500, 380))
    r = _post(client, img, "../../../../etc/passwd.jpg")
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["name"] == "passwd.jpg"
    row = context_of(server.app).store.get(body["id"])
    assert row.stored_path == f"uploads/{row.sha256[:2]}/{row.sha256}"
    assert (data_dir / row.stored_path).is_file()
    assert not (data_dir.parent / "etc").exists() and not Path("/etc/passwd.jpg").exists()
    wait_done(client, body["id"])
    r2 = _post(client, make_face_image(tmp_path / "u.jpg", size=(510, 380)), "..\\..\\windows\\evil.jpg")
    assert r2.json()["name"] == "evil.jpg"
    wait_done(client, r2.json()["id"])


def test_concurrent_uploads(client, server, tmp_path):
    imgs = [make_face_image(tmp_path / f"c{i}.jpg", size=(400 + 8 * i, 300)) for i in range(3)]
    shared = make_face_image(tmp_path / "shared.jpg", size=(460, 330))
    jobs = [(p, p.name) for p in imgs] + [(shared, f"shared-{i}.jpg") for i in range(3)]
    results: list = [None] * len(jobs)

    def go(i, path, name):
        with httpx.Client(base_url=server.url, timeout=60) as c:
            results[i] = _post(c, path, name)

    threads = [threading.Thread(target=go, args=(i, p, n)) for i, (p, n) in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    assert all(r is not None and r.status_code in (200, 202) for r in results), [r and r.text for r in results]
    shared_ids = {r.json()["id"] for r in results[3:]}
    assert len(shared_ids) == 1  # identical content at the same moment: one job
    ids = {r.json()["id"] for r in results}
    assert len(ids) == 4
    for i in ids:
        assert wait_done(client, i)["status"] == "done"
    assert client.get("/api/health").json()["status"] == "ok"


def test_malformed_requests_are_plain_errors(client):
    assert_plain_error(client.post("/api/analyses", content=b"{}", headers={"content-type": "application/json"}),
                       415, "not_multipart")
    assert_plain_error(client.post("/api/analyses", files={"other": (None, "x")}), 400, "no_file")
    err = assert_plain_error(client.post("/api/analyses", files={"file": (None, "not a file part")}), 400, "no_file")
    assert "arrived as text" in err["message"]
    # A page far beyond any history is a plain 422, not a database overflow (found by schemathesis).
    assert_plain_error(client.get("/api/analyses", params={"offset": 126408092468800962560, "status": "failed"}), 422)
    assert client.get("/api/analyses", params={"offset": 10**9}).json()["items"] == []
    two = [("file", ("a.jpg", b"1", "image/jpeg")), ("file", ("b.jpg", b"2", "image/jpeg"))]
    err = assert_plain_error(client.post("/api/analyses", files=two), 400, "too_many_files")
    assert "/api/batches" in err["message"]
    bad = client.post("/api/analyses", content=b"--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.mp4\"\r\n\r\nabc",
                      headers={"content-type": "multipart/form-data; boundary=xyz"})
    assert_plain_error(bad, 400, "bad_request")
    assert_plain_error(client.get("/api/nothing-here"), 404)
    assert_plain_error(client.put("/api/analyses"), 405)


def test_internal_error_has_no_traceback(client, server, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("secret internal detail /srv/private/path")

    monkeypatch.setattr(context_of(server.app).store, "list", boom)
    r = client.get("/api/analyses")
    err = assert_plain_error(r, 500, "internal")
    assert "secret" not in r.text and "RuntimeError" not in r.text
    assert "server log" in err["message"]
    page = client.get("/no/such/page", headers={"accept": "text/html"})
    assert page.status_code == 404 and "<html" in page.text and "Traceback" not in page.text


# ------------------------------------------------------------------ access control


def test_token_required_beyond_loopback():
    with pytest.raises(ConfigError, match="token"):
        WebSettings(host="0.0.0.0")
    with pytest.raises(ConfigError):
        WebSettings(host="192.168.1.20", token="   ")
    assert WebSettings(host="0.0.0.0", token="s3cret").token == "s3cret"
    assert WebSettings(host="localhost").token is None
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("[::1]") and is_loopback("127.8.0.1")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.0.0.1") and not is_loopback("example.org")


def _request(headers: dict[str, str]):
    from starlette.requests import Request

    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "method": "GET", "path": "/api/analyses", "headers": raw, "query_string": b""})


def test_routes_reach_the_app_through_its_typed_context():
    """Only ``web/context.py`` reads ``app.state``; routes take ``ctx: Context`` (#14 item 5)."""
    web = SCHEMA.parents[1] / "web"
    assert sorted(p.name for p in web.glob("*.py") if "app.state" in p.read_text()) == ["context.py"]


def test_token_dependency():
    from fastapi import HTTPException

    from seethrough.web.security import check_token

    s = WebSettings(host="0.0.0.0", token="s3cret")
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"X-Seethrough-Token": "s3cre"}, {"Cookie": "seethrough_token=nope"}):
        with pytest.raises(HTTPException) as exc:
            check_token(s, _request(headers))
        assert exc.value.status_code == 401 and exc.value.detail["code"] == "unauthorized"
    for headers in ({"Authorization": "Bearer s3cret"}, {"X-Seethrough-Token": "s3cret"}, {"Cookie": "seethrough_token=s3cret"}):
        check_token(s, _request(headers))
    check_token(WebSettings(), _request({}))  # loopback without a token: open


def test_token_protects_the_api_and_the_browser_session(client, server, monkeypatch):
    monkeypatch.setattr(context_of(server.app).settings, "token", "s3cret")
    assert_plain_error(client.get("/api/analyses"), 401, "unauthorized")
    assert_plain_error(client.post("/api/analyses", files={"file": ("a.jpg", b"x")}), 401, "unauthorized")
    assert client.get("/api/health").json()["token_required"] is True  # health stays open
    assert client.get("/api/analyses", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert_plain_error(client.post("/api/session", json={"token": "guess"}), 401, "unauthorized")
    with httpx.Client(base_url=server.url, timeout=30) as browser_like:
        r = browser_like.post("/api/session", json={"token": "s3cret"})
        assert r.status_code == 200 and "httponly" in r.headers["set-cookie"].lower()
        assert browser_like.get("/api/analyses").status_code == 200  # the cookie carries the token
    assert client.get("/").status_code == 200  # pages are shells: the data behind them needs the token


def test_cross_site_and_foreign_host_refused(client, server):
    r = client.delete("/api/analyses/" + "0" * 32, headers={"Origin": "http://evil.example"})
    assert_plain_error(r, 403, "cross_site")
    same = client.delete("/api/analyses/" + "0" * 32, headers={"Origin": server.url})
    assert_plain_error(same, 404, "not_found")
    assert_plain_error(client.get("/api/health", headers={"Host": "evil.example"}), 400, "bad_host")


def test_serve_refuses_public_host_without_token(tmp_path):
    from typer.testing import CliRunner

    from seethrough import log as st_log
    from seethrough.cli import app

    logger = logging.getLogger("seethrough")
    saved = (list(logger.handlers), logger.level, logger.propagate, st_log._CONFIGURED)
    try:
        r = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0", "--data", str(tmp_path)], env={"SEETHROUGH_TOKEN": ""})
    finally:  # the CLI points logging at the runner's stream, which closes: put ours back
        logger.handlers[:] = saved[0]
        logger.setLevel(saved[1])
        logger.propagate, st_log._CONFIGURED = saved[2], saved[3]
    assert r.exit_code == 2
    assert "token" in r.output.lower()
