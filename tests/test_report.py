"""Reports: HTML (self-contained, escaped) and PDF (renders, shows the verdict colour), written atomically."""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import re
import sys
import types
from importlib import resources
from pathlib import Path

from seethrough.facts import SCHEMA_VERSION

import numpy as np
import pytest

jsonschema = pytest.importorskip("jsonschema")
pdfium = pytest.importorskip("pypdfium2")

from seethrough.report import build_content, render_html, render_pdf, report_format, write_report  # noqa: E402
from seethrough.report.html import html_string  # noqa: E402
from seethrough.testing import astronaut_rgb  # noqa: E402
from seethrough.explain.gallery import GalleryItem, heat_overlay  # noqa: E402

FAKE_RED = (0xC6, 0x28, 0x28)
REAL_GREEN = (0x2E, 0x7D, 0x32)
HOSTILE = "<script>alert(1)</script>&co.mp4"
SHA = hashlib.sha256(b"seethrough report test").hexdigest()
MODEL_SHA = hashlib.sha256(b"model").hexdigest()
REGIONS = ["mouth", "boundary", "jaw_chin", "nose", "left_cheek", "right_cheek", "left_eye", "right_eye",
           "forehead", "left_brow", "right_brow"]


# ---------------------------------------------------------------- fixtures: documents and galleries


def _heat_overlay(img: np.ndarray, cx: float, cy: float, sigma: float) -> np.ndarray:
    """A Gaussian blob of heat drawn the product's way (stands in for a Grad-CAM overlay)."""
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    return heat_overlay(img, np.exp(-(((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma**2))).astype(np.float32))


def make_gallery(n: int) -> list[GalleryItem]:
    import cv2

    frame = cv2.resize(astronaut_rgb(), (320, 320), interpolation=cv2.INTER_AREA)  # small: keeps tests fast
    x0, y0, x1, y1 = 94, 25, 175, 131
    crop = cv2.resize(np.ascontiguousarray(frame[y0:y1, x0:x1]), (224, 224), interpolation=cv2.INTER_AREA)
    items = []
    for k in range(n):
        crop_overlay = _heat_overlay(crop, 112 + 8 * k, 170, 30)
        full = frame.copy()
        full[y0:y1, x0:x1] = cv2.resize(crop_overlay, (x1 - x0, y1 - y0))
        cv2.rectangle(full, (x0, y0), (x1, y1), (255, 255, 255), 2)
        items.append(GalleryItem(index=40 - 2 * k, time_s=round((40 - 2 * k) / 24, 4), fake_probability=0.93 - 0.02 * k,
                          top_region="mouth", crop=crop, crop_overlay=crop_overlay, frame_overlay=full))
    return items


def _base(name: str = "interview_clip.mp4") -> dict:
    return {
        "schema_version": SCHEMA_VERSION,
        "seethrough_version": "0.1.0",
        "file": {"name": name, "path": f"/data/{name}", "size_bytes": 2_412_345, "sha256": SHA},
        "status": "ok",
        "message": None,
        "error_code": None,
        "frames": [],
        "settings": {"frames": 32, "sampling": "even", "min_face": 40},
        "timings_ms": {"probe": 12.0, "total": 3210.5},
        "model": {
            "name": "seethrough-default", "version": "1.0", "backbone": "tf_efficientnet_lite0", "temporal": "lstm",
            "file": "default.pt", "sha256": MODEL_SHA,
            "card": {
                "summary": "Scores a face track for manipulation; EfficientNet-Lite0 with an LSTM over frames.",
                "data": "DFDC face crops (16,000) and pseudo-fakes synthesised from real clips.",
                "metrics": {"DFDC held-out ROC-AUC": 0.854, "held-out clips ROC-AUC": 0.882},
                "limits": ["Not validated on diffusion-generated faces.", "Method head not evaluated on real data."],
            },
        },
    }


def video_doc(verdict: str = "fake", p: float = 0.91, name: str = "interview_clip.mp4") -> dict:
    doc = _base(name)
    n, fps, no_face = 32, 24.0, {13, 14, 15}
    rng = np.random.default_rng(0)
    frames, scored = [], []
    for i in range(n):
        idx = round(i * 71 / (n - 1))
        t = round(idx / fps, 4)
        if i in no_face:
            frames.append({"index": idx, "time_s": t, "fake_probability": None, "face_box": None, "attention": None,
                           "regions": None})
            continue
        base = 0.35 + 0.6 * math.exp(-((i - 22) ** 2) / 30) if verdict == "fake" else 0.05 + 0.05 * rng.random()
        prob = float(np.clip(base + 0.04 * rng.standard_normal(), 0.0, 1.0))
        regions = {r: round(float(s), 3) for r, s in zip(REGIONS, np.linspace(1.8, 0.4, len(REGIONS)) + 0.05 * rng.random())}
        frames.append({"index": idx, "time_s": t, "fake_probability": round(prob, 6),
                       "face_box": [150.0, 40.0, 280.0, 210.0], "attention": 0.0, "regions": regions})
        scored.append(frames[-1])
    weights = np.array([f["fake_probability"] for f in scored]) ** 2
    for f, w in zip(scored, weights / weights.sum()):
        f["attention"] = round(float(w), 6)
    doc["frames"] = frames
    key = sorted(scored, key=lambda f: -f["fake_probability"])[:4]
    hot = [f for f in scored if f["fake_probability"] >= 0.722]
    doc.update({
        "verdict": verdict,
        "fake_probability": p,
        "thresholds": {"real_below": 0.191, "fake_above": 0.722},
        "method": {"predicted": "FaceSwap", "probabilities": {"Deepfakes": 0.21, "FaceSwap": 0.64, "Face2Face": 0.15},
                   "note": "probabilities are conditional on the face being manipulated"},
        "tracks": [{"track_id": 0, "n_frames": len(scored), "fake_probability": p, "verdict": verdict,
                    "median_face_px": 130.0, "first_s": 0.0, "last_s": frames[-1]["time_s"], "reported": True}],
        "evidence": {
            "track_id": 0,
            "regions": [{"name": r, "score": round(float(s), 3)} for r, s in zip(REGIONS, np.linspace(1.8, 0.4, len(REGIONS)))],
            "top_regions": ["mouth", "boundary", "jaw_chin"],
            "key_frames": [{"index": f["index"], "time_s": f["time_s"], "fake_probability": f["fake_probability"],
                            "attention": f["attention"], "top_region": "mouth"} for f in key],
            "suspicious_segments": ([{"start_s": hot[0]["time_s"], "end_s": hot[-1]["time_s"],
                                      "peak_probability": max(f["fake_probability"] for f in hot), "n_frames": len(hot)}]
                                    if hot else []),
            "caveats": [{"code": "method_unvalidated",
                         "text": "The method estimate has not been validated on real manipulated videos."}],
            "face_px": {"median": 130.0, "min": 126.0},
            "cam": "Grad-CAM of the frame head for the 'fake' class: red marks what pushed the score up.",
        },
        "narrative": {
            "text": (f"The face in this clip scores {p:.0%} for manipulation. "
                     "The suspicion peaks between 1.5 and 2.5 seconds.\n\nThe model looked mostly at the mouth "
                     "and the blend boundary around the face."),
            "engine": "template", "requested": "template", "fallback_reason": None,
        },
        "media": {"kind": "video", "container": "mov,mp4,m4a,3gp,3g2,mj2", "codec": "h264", "width": 640,
                  "height": 480, "fps": fps, "frame_count": 72, "duration_s": 3.0, "rotation": 0, "has_audio": True,
                  "size_bytes": 2_412_345, "extra": {}},
    })
    return doc


def image_doc() -> dict:
    doc = _base("portrait.jpg")
    doc.update({
        "verdict": "uncertain", "fake_probability": 0.44, "thresholds": {"real_below": 0.191, "fake_above": 0.722},
        "method": {"predicted": "Deepfakes", "probabilities": {"Deepfakes": 0.5, "FaceSwap": 0.3, "Face2Face": 0.2},
                   "note": "probabilities are conditional on the face being manipulated"},
        "frames": [{"index": 0, "time_s": 0.0, "fake_probability": 0.44, "face_box": [150.0, 40.0, 280.0, 210.0],
                    "attention": 1.0, "regions": {"nose": 1.3, "mouth": 0.9}}],
        "evidence": {"track_id": 0, "regions": [{"name": "nose", "score": 1.3}, {"name": "mouth", "score": 0.9}],
                     "top_regions": ["nose"],
                     "key_frames": [{"index": 0, "time_s": 0.0, "fake_probability": 0.44, "top_region": "nose"}],
                     "suspicious_segments": [],
                     "caveats": [{"code": "single_image", "text": "A single image gives the model less to go on."}],
                     "cam": "Grad-CAM heat."},
        "narrative": {"text": "Inconclusive.", "engine": "ollama:llama3.2", "requested": "ollama:llama3.2"},
        "media": {"kind": "image", "container": "jpeg", "codec": "mjpeg", "width": 512, "height": 512},
    })
    return doc


def no_face_doc() -> dict:
    doc = _base("landscape.mp4")
    doc.update({
        "status": "no_face", "error_code": "no_face",
        "message": "No face was found in any of the 32 sampled frames.",
        "verdict": None, "fake_probability": None, "evidence": None, "narrative": None,
        "frames": [{"index": i, "time_s": i / 24, "fake_probability": None} for i in range(0, 64, 2)],
        "media": {"kind": "video", "container": "mp4", "codec": "h264", "width": 320, "height": 240, "fps": 24.0,
                  "frame_count": 64, "duration_s": 2.67},
        "faces": {"n_tracks": 0, "frame_status_counts": {"ok": 0, "no_face": 32, "face_too_small": 0}},
    })
    return doc


def error_doc() -> dict:
    doc = _base("broken.mp4")
    doc.update({"status": "error", "error_code": "truncated", "model": None, "media": None,
                "message": "The file is truncated: only the first 40% of the video could be read."})
    return doc


@pytest.fixture(scope="module")
def validator():
    schema = json.loads(resources.files("seethrough").joinpath("schemas/analysis.schema.json").read_text())
    return jsonschema.Draft202012Validator(schema)


@pytest.fixture(scope="module")
def gallery():
    return make_gallery(3)


@pytest.fixture(scope="module")
def fake_pdf(tmp_path_factory, gallery):
    return render_pdf(video_doc(), gallery, tmp_path_factory.mktemp("pdf") / "fake.pdf")


def _render_page(path: Path, page: int = 0, scale: float = 1.0) -> np.ndarray:
    pdf = pdfium.PdfDocument(str(path))
    try:
        return np.asarray(pdf[page].render(scale=scale).to_pil().convert("RGB"))
    finally:
        pdf.close()


def _pdf_text(path: Path) -> str:
    pdf = pdfium.PdfDocument(str(path))
    try:
        return "\n".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
    finally:
        pdf.close()


def _colour_fraction(img: np.ndarray, rgb: tuple[int, int, int], tol: int = 12) -> float:
    return float(np.all(np.abs(img.astype(int) - np.array(rgb)) <= tol, axis=2).mean())


# ---------------------------------------------------------------- the documents themselves


@pytest.mark.parametrize("make", [video_doc, image_doc, no_face_doc, error_doc, lambda: video_doc("real", 0.06)])
def test_fixture_documents_follow_the_schema(validator, make):
    errors = sorted(validator.iter_errors(make()), key=str)
    assert not errors, [e.message for e in errors]


# ---------------------------------------------------------------- HTML


def test_html_fake_video_is_complete_and_self_contained(tmp_path, gallery):
    doc = video_doc()
    out = render_html(doc, gallery, tmp_path / "sub" / "report.html")
    html = out.read_text(encoding="utf-8")
    assert out.parent.name == "sub"
    assert ">FAKE<" in html and "91%" in html
    assert "The suspicion peaks between 1.5 and 2.5 seconds." in html
    assert "written by: template" in html
    assert SHA in html and MODEL_SHA in html
    assert "blend boundary" in html and "jaw and chin" in html
    assert "If manipulated, it most resembles" in html or "FaceSwap" in html
    assert "evidence, not proof" in html and "Not validated on diffusion-generated faces." in html
    assert "The method estimate has not been validated" in html  # caveats are listed
    assert "3.00 s" in html and "640 × 480 px" in html and "h264" in html
    assert "32 sampled, 29 with a usable face" in html
    # three photographs per key frame (JPEG), all inline; plus timeline, region and method charts (SVG)
    gallery_imgs = re.findall(r'<img class="gallery-img" src="data:image/jpeg;base64,[A-Za-z0-9+/=]+"', html)
    assert len(gallery_imgs) == 3 * len(gallery)
    all_imgs = re.findall(r"<img\b[^>]*>", html)
    assert len(all_imgs) == 3 * len(gallery) + 3
    assert sum('src="data:image/svg+xml;base64,' in tag for tag in all_imgs) == 3
    # nothing is loaded from the network
    assert "http://" not in html and "https://" not in html
    assert not re.search(r"<(script|link)\b", html, re.I) and "@import" not in html and "url(" not in html


def test_html_escapes_hostile_file_name_and_narrative(tmp_path):
    doc = video_doc(name=HOSTILE)
    doc["narrative"]["text"] = 'Looks fine <img src=x onerror="alert(2)"> & done'
    html = render_html(doc, [], tmp_path / "r.html").read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&amp;co.mp4" in html
    assert "<img src=x" not in html and "&lt;img src=x onerror=&#34;alert(2)&#34;&gt; &amp; done" in html


def test_html_real_verdict_hides_method_and_uses_green(tmp_path):
    html = render_html(video_doc("real", 0.06), [], tmp_path / "r.html").read_text(encoding="utf-8")
    assert ">REAL<" in html and "6%" in html and "#2e7d32" in html
    assert "If manipulated, it most resembles" not in html
    assert "Not shown: the verdict is &#39;real&#39;" in html
    assert "No heatmaps were produced" in html


def test_html_image_has_no_timeline_and_names_the_llm(tmp_path):
    html = render_html(image_doc(), make_gallery(1), tmp_path / "r.html").read_text(encoding="utf-8")
    assert "Single image" in html and "UNCERTAIN" in html and "44%" in html
    assert "written by: ollama:llama3.2" in html
    assert len(re.findall(r'<img class="gallery-img"', html)) == 3
    assert len(re.findall(r"<img\b", html)) == 3 + 2  # region and method charts, no timeline
    assert "full image" in html and "frame 40 at" not in html  # a still has no frame number or time
    assert build_content(image_doc(), []).timeline is None


def test_method_families_are_shown_in_words_with_their_ffpp_names(tmp_path):
    doc = image_doc()
    doc["method"] = {"predicted": "reenactment", "note": "probabilities are conditional on the face being manipulated",
                     "probabilities": {"reenactment": 0.55, "learned_face_swap": 0.3, "synthetic_face": 0.15}}
    c = build_content(doc, [])
    assert [r[0] for r in c.method_rows] == ["reenactment", "learned face swap", "synthetic face"]
    assert "FaceForensics++: Face2Face, NeuralTextures" in c.method_rows[0][2]
    assert c.method.alt == "If manipulated, it most resembles reenactment (55%)."
    html = render_html(doc, [], tmp_path / "r.html").read_text(encoding="utf-8")
    assert "Manipulation family" in html and "learned face swap" in html and "learned_face_swap" not in html


def test_gallery_without_frame_overlay_and_long_gallery(tmp_path):
    items = make_gallery(9)
    items[0].frame_overlay = None  # evidence_gallery() leaves it out when the frame was not kept
    c = build_content(video_doc(), items)
    assert len(c.gallery) == 8 and c.gallery[0].frame_overlay is None and "8 most suspicious of 9" in c.gallery_note
    assert html_string(c).count('class="gallery-img"') == 8 * 3 - 1
    assert render_pdf(video_doc(), items[:1], tmp_path / "r.pdf").read_bytes().startswith(b"%PDF")


def _svg_tree(chart):
    import xml.etree.ElementTree as ET

    root = ET.fromstring(chart.svg())
    return root, "{http://www.w3.org/2000/svg}"


def test_charts_are_vector_drawings_that_plot_the_data(tmp_path):
    doc = video_doc()
    c = build_content(doc, [])
    assert "29 of 32 sampled frames scored" in c.timeline.alt
    assert c.regions.alt.startswith("Facial regions by heat; hottest: mouth, blend boundary (face outline), jaw and chin")
    assert c.method.alt == "If manipulated, it most resembles FaceSwap (64%)."
    assert [r[0] for r in c.region_rows][:2] == ["mouth", "blend boundary (face outline)"]
    for chart in (c.timeline, c.regions, c.method):
        root, ns = _svg_tree(chart)
        assert (int(root.get("width")), int(root.get("height"))) == chart.css_size and chart.css_size[0] == 700
        assert root.find(f"{ns}title").text == chart.alt
        assert not [e for e in root.iter() if any("href" in k for k in e.attrib)]  # nothing to load
    # the timeline: one dot per scored frame, at heights ordered as the frame scores are
    root, ns = _svg_tree(c.timeline)
    dots = [e for e in root.iter(f"{ns}circle") if e.get("r") == "1.4"]
    scored = [f["fake_probability"] for f in doc["frames"] if f["fake_probability"] is not None]
    assert len(dots) == len(scored) == 29
    ys = np.array([float(d.get("cy")) for d in dots])
    assert np.array_equal(np.argsort(-ys, kind="stable"), np.argsort(scored, kind="stable"))  # higher score, higher dot
    texts = [e.text for e in root.iter(f"{ns}text")]
    assert {"0%", "25%", "50%", "75%", "100%", "1", "2", "3", "4"} <= set(texts)  # axis and key-frame numbers
    assert "'fake' zone (≥ 72%)" in texts and "no usable face (gap)" in texts
    # bars: lengths proportional to the values
    for chart, values in ((c.regions, [float(r["score"]) for r in doc["evidence"]["regions"]]),
                          (c.method, sorted(doc["method"]["probabilities"].values(), reverse=True))):
        root, ns = _svg_tree(chart)
        bars = [e for e in root.iter(f"{ns}rect") if e.get("fill") not in ("#ffffff",) and float(e.get("height")) > 4]
        widths = np.array([float(b.get("width")) for b in bars])
        assert len(bars) == len(values)
        np.testing.assert_allclose(widths / widths[0], np.array(values) / values[0], rtol=1e-2)
    # the region chart grows with the number of regions; a timeline needs at least one scored frame
    few = build_content({**doc, "evidence": {**doc["evidence"], "regions": doc["evidence"]["regions"][:3]}}, [])
    assert few.regions.height < c.regions.height
    assert build_content({**doc, "frames": [{**f, "fake_probability": None} for f in doc["frames"]]}, []).timeline is None
    # the PDF draws the same shapes as vectors: the chart text is text, and the drawing is the PDF's width
    d = c.timeline.drawing(400)
    assert d.width == pytest.approx(400) and d.height == pytest.approx(c.timeline.height * 400 / c.timeline.width)
    text = _pdf_text(render_pdf(doc, [], tmp_path / "r.pdf"))
    for s in ("fake probability per frame", "face average", "If manipulated, it most resembles", "1.80×"):
        assert s in text, s


@pytest.mark.parametrize("make, badge, words", [
    (no_face_doc, "NO FACE", ["No face was found in any of the 32 sampled frames.", "--frames 64",
                              "0 frames with a face, 32 without"]),
    (error_doc, "ERROR", ["only the first 40% of the video could be read", "Obtain the original file again"]),
])
def test_html_without_verdict_explains_why(tmp_path, make, badge, words):
    html = render_html(make(), [], tmp_path / "r.html").read_text(encoding="utf-8")
    assert f">{badge}<" in html and "Why there is no verdict" in html and "No verdict" in html
    for w in words:
        assert w in html
    assert SHA in html and "evidence, not proof" in html


def test_content_handles_schema_1_0_documents_without_optional_parts():
    doc = {"schema_version": "1.0", "seethrough_version": "0.1.0", "file": {"name": "x.mp4", "path": "x.mp4"},
           "status": "ok", "verdict": "fake", "fake_probability": 0.8, "frames": [{"index": 0, "time_s": 0.0,
           "fake_probability": 0.8}, {"index": 5, "time_s": 0.2, "fake_probability": None}],
           "settings": {}, "timings_ms": {}}
    c = build_content(doc, [])
    assert c.badge.label == "FAKE" and c.probability_text == "80%" and c.timeline is not None
    assert ("SHA-256", "not computed") in c.metadata and c.regions is None


def test_several_faces_and_narrator_fallback_are_reported(tmp_path, validator):
    doc = video_doc()
    other = {**doc["tracks"][0], "track_id": 1, "fake_probability": 0.12, "verdict": "real", "reported": False}
    doc["tracks"].append(other)
    doc["narrative"].update(engine="template", requested="ollama:llama3.2",
                            fallback_reason="Ollama was unreachable at localhost:11434")
    assert not list(validator.iter_errors(doc))
    c = build_content(doc, [])
    assert [r[0] for r in c.tracks] == ["0 (reported)", "1"] and c.tracks[1][3:] == ("12%", "real")
    assert ("Faces / tracks", "2 face tracks scored; verdict from track 0 (the most suspicious)") in c.metadata
    html = render_html(doc, [], tmp_path / "r.html").read_text(encoding="utf-8")
    assert "Faces in the video" in html
    assert "written by: template (ollama:llama3.2 was not used: Ollama was unreachable at localhost:11434)" in html


def test_gallery_photographs_are_embedded_faithfully_as_jpeg(tmp_path, gallery):
    """The report's copies of the evidence images look like the images (JPEG q90, 4:4:4), in both formats."""
    import base64
    import io

    from PIL import Image

    from seethrough.report.images import image_mime

    c = build_content(video_doc(), gallery)
    for view, item in zip(c.gallery, gallery):
        for data, src in ((view.crop, item.crop), (view.crop_overlay, item.crop_overlay),
                          (view.frame_overlay, item.frame_overlay)):
            assert image_mime(data) == "image/jpeg"
            got = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.float64)
            assert got.shape == src.shape  # small enough already: never enlarged
            assert np.abs(got - src).mean() < 2.5, "the embedded picture is not the evidence image"
    assert image_mime(c.timeline.svg()) == "image/svg+xml"  # charts are vector drawings
    with pytest.raises(ValueError, match="not a PNG, JPEG or SVG"):
        image_mime(b"GIF89a")
    # the HTML carries the same bytes; the PDF embeds the JPEG streams as they are (DCTDecode)
    html = render_html(video_doc(), gallery, tmp_path / "r.html").read_text(encoding="utf-8")
    assert base64.b64encode(c.gallery[0].crop_overlay).decode() in html
    pdf = render_pdf(video_doc(), gallery, tmp_path / "r.pdf").read_bytes()
    assert pdf.count(b"/DCTDecode") >= 2 * len(gallery)  # crop overlay and frame of each key frame


# ---------------------------------------------------------------- PDF


def test_pdf_fake_video_renders_with_red_badge_and_text(fake_pdf):
    data = fake_pdf.read_bytes()
    assert data.startswith(b"%PDF-") and b"%%EOF" in data[-1024:]
    page = _render_page(fake_pdf)
    assert page.std() > 20, "page 1 looks blank"
    assert _colour_fraction(page, FAKE_RED) > 0.004  # the badge: ~56 x 40 mm of red
    assert _colour_fraction(page, REAL_GREEN) < 0.0005
    text = _pdf_text(fake_pdf)
    for s in ("FAKE", "91%", SHA, "blend boundary", "evidence, not proof", "page 1 of", "written by: template",
              "Limits of this report"):
        assert s in text, s


def test_pdf_real_video_badge_is_green(tmp_path):
    out = render_pdf(video_doc("real", 0.06), [], tmp_path / "real.pdf")
    page = _render_page(out)
    assert _colour_fraction(page, REAL_GREEN) > 0.004 and _colour_fraction(page, FAKE_RED) < 0.0005
    assert "REAL" in _pdf_text(out)


@pytest.mark.parametrize("make, label", [(no_face_doc, "NO FACE"), (error_doc, "ERROR"), (image_doc, "UNCERTAIN")])
def test_pdf_other_outcomes_render(tmp_path, make, label):
    out = render_pdf(make(), [], tmp_path / "r.pdf")
    text = _pdf_text(out)
    assert out.read_bytes().startswith(b"%PDF") and label in text and SHA in text


def test_pdf_survives_hostile_and_non_latin_names(tmp_path):
    name = "<b>Интервью</b> & 采访 \x07.mp4"
    doc = video_doc(name=name)
    doc["narrative"]["text"] = "Unclosed <i>markup & <para> tags"
    out = render_pdf(doc, make_gallery(1), tmp_path / "r.pdf")
    text = _pdf_text(out)
    assert "<b>Интервью</b> &" in text  # Cyrillic drawn by the embedded DejaVu font, markup shown literally
    assert "采访" not in text and "\ufffd" in text  # no CJK glyphs: replaced, not crashed
    assert "Unclosed <i>markup & <para> tags" in text
    html = render_html(doc, [], tmp_path / "r.html").read_text(encoding="utf-8")
    assert "&lt;b&gt;Интервью&lt;/b&gt; &amp; 采访" in html  # HTML keeps the full name


# ---------------------------------------------------------------- writing


class _FakeAnalysis:
    def __init__(self, doc):
        self.doc = doc

    def to_dict(self):
        return copy.deepcopy(self.doc)


def test_write_report_picks_format_by_suffix(tmp_path, monkeypatch, gallery):
    calls = []

    def fake_gallery(analysis):
        calls.append(analysis)
        return gallery[:2]

    # A stand-in for seethrough.explain (the real one imports torch: seconds): write_report imports it lazily.
    explain = types.ModuleType("seethrough.explain")
    explain.evidence_gallery = fake_gallery
    monkeypatch.setitem(sys.modules, "seethrough.explain", explain)
    a = _FakeAnalysis(video_doc())
    html = write_report(a, tmp_path / "deep" / "er" / "Out.HTM")
    pdf = write_report(a, tmp_path / "out.pdf")
    assert html.read_text(encoding="utf-8").count('class="gallery-img"') == 6
    assert pdf.read_bytes().startswith(b"%PDF") and len(calls) == 2
    with pytest.raises(ValueError, match=r"\.html, \.htm or \.pdf"):
        write_report(a, tmp_path / "out.docx")
    assert report_format("x.pdf") == "pdf"
    with pytest.raises(ValueError, match="no suffix"):
        report_format(tmp_path / "report")


@pytest.mark.slow
def test_write_report_end_to_end_on_a_real_analysis(tmp_path, face_image, tiny_predictor, validator):
    """analyze() on a generated photo (tiny random model) -> evidence_gallery() -> both report formats."""
    from seethrough.analysis import analyze

    a = analyze(face_image, predictor=tiny_predictor)
    assert a.status == "ok"
    doc = a.to_dict()
    assert not list(validator.iter_errors(doc))
    html = write_report(a, tmp_path / "r.html").read_text(encoding="utf-8")
    pdf = write_report(a, tmp_path / "r.pdf")
    n_key = len(doc["evidence"]["key_frames"]) if doc.get("evidence") else 0
    assert html.count('class="gallery-img"') == 3 * n_key
    assert doc["file"]["sha256"] in html and doc["verdict"].upper() in html
    text = _pdf_text(pdf)
    assert doc["file"]["sha256"] in text and doc["verdict"].upper() in text and "Single image" in text


def test_failure_mid_render_leaves_no_file_and_keeps_the_old_one(tmp_path, monkeypatch, gallery):
    from seethrough.report import charts

    target = tmp_path / "r.pdf"

    def boom(*a, **k):
        raise RuntimeError("chart failed")

    monkeypatch.setattr(charts, "region_chart", boom)
    with pytest.raises(RuntimeError):
        render_pdf(video_doc(), gallery, target)
    assert list(tmp_path.iterdir()) == []

    target.write_bytes(b"old report")
    with pytest.raises(RuntimeError):
        render_html(video_doc(), gallery, target.with_suffix(".html"))
    with pytest.raises(RuntimeError):
        render_pdf(video_doc(), gallery, target)
    assert target.read_bytes() == b"old report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.pdf"]


def test_failure_while_writing_removes_the_temp_file(tmp_path, monkeypatch):
    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        render_html(error_doc(), [], tmp_path / "r.html")
    assert list(tmp_path.iterdir()) == []


def test_successful_write_leaves_only_the_report(tmp_path):
    render_pdf(no_face_doc(), [], tmp_path / "a.pdf")
    render_html(no_face_doc(), [], tmp_path / "a.html")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.html", "a.pdf"]
    assert oct((tmp_path / "a.pdf").stat().st_mode & 0o777) == "0o644"


# ---------------------------------------------------------------- provenance


def test_signed_ai_declaration_is_shown_above_the_verdict_in_both_reports(tmp_path, validator):
    from seethrough.provenance.wording import LABELS
    from seethrough.testing.provenance import example_block

    doc = video_doc("real", 0.06)
    doc["provenance"] = example_block("video", "valid")
    assert not list(validator.iter_errors(doc))
    declaration = doc["provenance"]["statements"][0]["text"]
    html = render_html(doc, [], tmp_path / "r.html").read_text(encoding="utf-8")
    at = html.index("Content Credentials signed by Example AI Lab say this video was made by a generative model")
    assert at < html.index("What this means.")
    assert LABELS["title"] in html and "not in a trust list" in html
    text = " ".join(_pdf_text(render_pdf(doc, [], tmp_path / "r.pdf")).split())
    assert " ".join(declaration.split())[:80] in text
    assert text.index("Content Credentials signed by") < text.index("What this means")
    c = build_content(doc)
    assert c.provenance_head == [("declaration", declaration)]
    assert dict(c.provenance_rows)[LABELS["declared"]] == "made by a generative model"


def test_failing_credentials_are_a_warning_and_no_metadata_proves_nothing(tmp_path):
    from seethrough.testing.provenance import example_block

    doc = video_doc()
    doc["provenance"] = example_block("video", "invalid")
    c = build_content(doc)
    assert [level for level, _ in c.provenance_head] == ["warning"]
    assert "fail validation" in c.provenance_head[0][1]
    html = render_html(doc, [], tmp_path / "w.html").read_text(encoding="utf-8")
    assert 'class="provenance-warning"' in html and "Provenance warning." in html
    doc["provenance"] = example_block("video", "absent", stripped=True)
    c = build_content(doc)
    assert c.provenance_head == [] and any("proves nothing" in t for t in c.provenance_notes)
    assert "none at all (stripped)" in dict(c.provenance_rows).values()


def test_documents_without_provenance_have_no_provenance_section(tmp_path):
    c = build_content(video_doc())
    assert c.provenance_head == [] and c.provenance_rows == [] and c.provenance_notes == []
    assert "Provenance" not in render_html(video_doc(), [], tmp_path / "n.html").read_text(encoding="utf-8")


@pytest.mark.parametrize("status,code,advice", [
    ("no_face", "face_too_small", "highest-resolution original"),
    ("error", "truncated", "Obtain the original file again"),
    ("error", "corrupt", "Obtain the original file again"),
    ("error", "empty", "Obtain the original file again"),
    ("error", "unsupported", "Convert the file to MP4"),
    ("error", "no_video", "Convert the file to MP4"),
    ("error", "too_large", "Trim the clip"),
    ("error", "unreadable", "Run the analysis again"),  # no error class: an I/O failure
])
def test_what_to_try_follows_the_type_of_the_error(status, code, advice):
    from seethrough.report.content import _what_to_try

    doc = error_doc()
    doc.update({"status": status, "error_code": code})
    assert any(advice in line for line in _what_to_try(doc)), _what_to_try(doc)


def test_charts_write_numbers_as_the_tables_do():
    from seethrough.facts import pct
    from seethrough.report import charts

    assert charts.method_chart([("synthetic face", 0.997), ("reenactment", 0.003)]).alt == \
        f"If manipulated, it most resembles synthetic face ({pct(0.997)})." == \
        "If manipulated, it most resembles synthetic face (99.7%)."
