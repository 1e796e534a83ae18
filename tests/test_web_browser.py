"""The web app in headless Chromium (Debian's /usr/bin/chromium driven by Playwright; no
browser download): upload a generated clip, watch progress, read the verdict, click the
timeline, see the heatmaps, download the PDF, find and delete it in the history.

Uses the bundled default model, as a person running ``seethrough serve`` would.
"""

from __future__ import annotations

import os
import time

import pytest

CHROMIUM = "/usr/bin/chromium"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"Debian chromium not installed ({CHROMIUM} missing): apt-get install -y chromium"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (Python package) not installed")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from seethrough.web.server import start_in_thread
    from seethrough.web.settings import WebSettings

    data = tmp_path_factory.mktemp("web-browser")
    srv = start_in_thread(WebSettings(data_dir=data, port=0, frames=16))
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(base_url=server.url, accept_downloads=True, viewport={"width": 1200, "height": 900})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" and "status of 4" not in m.text else None)
    pg.js_errors = errors
    yield pg
    context.close()


def test_upload_watch_progress_and_read_the_result(page, face_clip, tmp_path):
    page.goto("/")
    assert page.title().startswith("Analyse")
    page.set_input_files("#file-input", str(face_clip))
    item = page.locator(".q-item").first
    # Live progress: the item goes through upload/queue/analysis states before it finishes.
    seen_states, seen_texts = set(), set()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        seen_states.add(item.get_attribute("data-state"))
        seen_texts.add(item.locator(".q-text").inner_text())
        if item.get_attribute("data-state") in ("done", "failed"):
            break
        time.sleep(0.1)
    assert item.get_attribute("data-state") == "done", item.inner_text()
    assert seen_states & {"queued", "running"}, seen_states
    assert len(seen_texts) >= 2, seen_texts
    assert item.locator(".badge").inner_text() in ("Real", "Uncertain", "Fake")

    item.get_by_role("link", name="See the results").click()
    page.wait_for_selector("#result-body:not([hidden])")
    badge = page.locator("#verdict-badge")
    assert badge.is_visible() and badge.inner_text() in ("Real", "Uncertain", "Fake")
    # the page writes the probability as the report, the narrator and the CLI do (seethrough.facts)
    from seethrough.facts import overall_pct

    doc = page.evaluate("() => ST.api(`/api/analyses/${document.getElementById('result').dataset.id}/result`)")
    shown = overall_pct(doc["fake_probability"], doc["thresholds"])
    assert page.locator("#verdict-score").inner_text() == f"Fake probability {shown} (calibrated)"
    assert len(page.locator("#narrative").inner_text()) > 40
    assert "template" in page.locator("#narrative-engine").inner_text()

    # Timeline: one point per sampled frame; choosing one shows that frame with its face box.
    points = page.locator("#timeline svg g.pt")
    assert points.count() == 16
    target = points.nth(3)
    index = target.get_attribute("data-index")
    target.click()
    caption = page.locator("#frame-caption")
    assert caption.inner_text().startswith(f"Frame {index} at")
    page.wait_for_function("() => { const i = document.getElementById('frame-img'); return i.complete && i.naturalWidth > 0; }")
    assert page.locator("#frame-img").get_attribute("src").endswith(f"/frames/{index}")
    assert "selected" in target.get_attribute("class")
    # Keyboard works too.
    points.nth(5).focus()
    page.keyboard.press("Enter")
    assert caption.inner_text().startswith(f"Frame {points.nth(5).get_attribute('data-index')} at")
    if "no usable face" not in caption.inner_text():
        assert page.locator("#frame-overlay rect.box").count() >= 1

    # Grad-CAM gallery images actually load.
    page.wait_for_function(
        "() => { const imgs = [...document.querySelectorAll('#gallery img')];"
        " return imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0); }")
    assert page.locator("#gallery figure").count() >= 1
    assert page.locator("#regions svg rect.bar").count() >= 5  # the facial regions are charted

    # The PDF report downloads.
    with page.expect_download() as dl:
        page.get_by_role("link", name="Download PDF report").click()
    pdf = tmp_path / "report.pdf"
    dl.value.save_as(pdf)
    assert pdf.read_bytes()[:5] == b"%PDF-"
    assert not page.js_errors, page.js_errors


def test_bad_file_is_explained_in_plain_words(page, tmp_path):
    fake = tmp_path / "holiday.mp4"
    fake.write_text("this is just a text file with a video extension\n" * 5)
    page.goto("/")
    page.set_input_files("#file-input", str(fake))
    item = page.locator(".q-item").first
    page.wait_for_selector(".q-item[data-state=failed]")
    assert "holiday.mp4 is a text file" in item.locator(".q-error").inner_text()


def test_history_search_and_delete(page, server, face_image):
    import httpx

    r = httpx.post(f"{server.url}/api/analyses", files={"file": ("zebra-portrait.jpg", face_image.read_bytes())}, timeout=60)
    rid = r.json()["id"]
    page.goto("/history")
    page.fill("#q", "zebra")
    page.click("#search-form button[type=submit]")
    sync_api.expect(page.locator("#history tbody tr")).to_have_count(1)  # only the match is left
    row = page.locator(f"#history tbody tr[data-id='{rid}']")
    assert row.is_visible()
    assert page.locator("#history-count").inner_text() == "1 analysis"
    page.on("dialog", lambda d: d.accept())
    row.get_by_role("button", name="Delete zebra-portrait.jpg").click()
    page.wait_for_selector("#history-empty:not([hidden])")
    assert httpx.get(f"{server.url}/api/analyses/{rid}").status_code == 404


def test_page_formatter_matches_the_python_one(page):
    from test_formatting import CASES

    from seethrough.facts import REGION_LABELS, VERDICT_LABELS, method_label

    page.goto("/")
    assert page.evaluate("() => ST.region('jaw_chin')") == REGION_LABELS["jaw_chin"]
    assert page.evaluate("() => ST.VERDICT_LABEL") == VERDICT_LABELS
    assert page.evaluate("() => ST.methodLabel('synthetic_face')") == method_label("synthetic_face") == "synthetic face"
    assert page.evaluate("() => ST.methodLabel('Face2Face')") == "Face2Face"  # a FaceForensics++ head's own names
    for p, thresholds, text in CASES:
        assert page.evaluate("([p, t]) => ST.overallPct(p, t)", [p, thresholds]) == text, (p, thresholds)


def _open_stored_result(page, aid: str, name: str, **fields) -> None:
    """Open the result page of a stored image analysis served by stand-in API routes: a minimal
    analysis document with ``fields`` (verdict, method, provenance, ...) and its job row."""
    from seethrough.facts import SCHEMA_VERSION

    doc = {"schema_version": SCHEMA_VERSION, "seethrough_version": "x", "file": {"name": name, "path": name},
           "status": "ok", "thresholds": {"real_below": 0.3, "fake_above": 0.7}, "frames": [], "tracks": [],
           "evidence": None, "narrative": {"text": "words", "engine": "template", "requested": "template"},
           "media": {"kind": "image", "width": 64, "height": 64}, "model": {"name": "m"}, "settings": {},
           "timings_ms": {}, **fields}
    row = {"id": aid, "name": name, "kind": "image", "size_bytes": 10, "created_at": time.time(), "status": "done",
           "stage_text": "Finished", "progress": 1, "sha256": "cd" * 32,
           "links": {"result": f"/api/analyses/{aid}/result"}, "artefacts": {"problems": [], "frames": [], "gallery": []}}
    page.route(f"**/api/analyses/{aid}", lambda r: r.fulfill(json=row))
    page.route(f"**/api/analyses/{aid}/result", lambda r: r.fulfill(json=doc))
    page.goto(f"/analyses/{aid}")


def test_provenance_is_shown_above_the_verdict_with_the_rows_the_reports_use(page):
    """A stored result with a signed AI declaration (served by a stand-in API route): the declaration
    sits above the verdict, the card shows the same rows as the reports and the CLI."""
    import json

    from seethrough.provenance import display_rows
    from seethrough.testing.provenance import example_block

    block = example_block("image", "valid")
    _open_stored_result(page, "ab" * 16, "gen.jpg", verdict="real", fake_probability=0.05, provenance=block)
    page.wait_for_selector("#provenance-card:not([hidden])")
    alert = page.locator("#provenance-alerts .alert").first
    assert alert.inner_text().endswith(block["statements"][0]["text"])
    assert alert.bounding_box()["y"] < page.locator("#verdict-badge").bounding_box()["y"]
    shown = page.evaluate("() => [...document.querySelectorAll('#provenance-rows dt')].map(dt => "
                          "[dt.textContent, dt.nextElementSibling.textContent])")
    assert [tuple(x) for x in shown] == display_rows(block), json.dumps(shown)
    assert not page.js_errors, page.js_errors


def test_method_card_names_families_in_words(page):
    """A stored uncertain result of a family head (a stand-in API route): the card's bars and note use
    the families' labels, most likely first."""
    _open_stored_result(page, "cd" * 16, "f.jpg", verdict="uncertain", fake_probability=0.5, method={
        "predicted": "talking_head", "note": "probabilities are conditional on the face being manipulated",
        "probabilities": {"learned_face_swap": 0.2, "talking_head": 0.7, "synthetic_face": 0.1}})
    page.wait_for_selector("#method-card:not([hidden])")
    assert page.locator("#method-title").inner_text() == "Manipulation family"
    assert page.locator("#method-note").inner_text().startswith("Most similar to talking head.")
    text = page.locator("#methods").inner_text()
    assert text.index("talking head") < text.index("learned face swap") < text.index("synthetic face")
    assert "_" not in text
    assert not page.js_errors, page.js_errors
