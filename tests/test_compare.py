"""`seethrough compare`: the side-by-side real vs fake figure, on generated media."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from seethrough.cli import app
from seethrough.compare import (
    CompareError,
    check_outputs,
    compare,
    compare_figure,
    panel_from_analysis,
)
from seethrough.testing import make_face_image, make_face_video, make_no_face_image


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("compare")
    return {
        "image": make_face_image(d / "real face.jpg", size=(480, 360)),
        "video": make_face_video(d / "fake.mp4", n_frames=24, size=(480, 360)),
        "noface": make_no_face_image(d / "wall.png"),
    }


def _png(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def test_png_and_pdf_figure(inputs, tiny_predictor, tmp_path):
    outs = [tmp_path / "fig.png", tmp_path / "sub" / "fig.pdf"]
    res = compare(inputs["image"], inputs["video"], outs, predictor=tiny_predictor, frames=8)
    assert res.outputs == outs and all(o.is_file() for o in outs)
    img = _png(outs[0])
    h, w = img.shape[:2]
    assert 1000 < w < 2500 and 1200 < h < 3000 and h > w  # 200 dpi portrait figure
    assert img.std() > 20  # not blank: photos, heatmaps, bars
    assert (img.min(axis=2) < 235).mean() > 0.3  # a third of the page is drawn on
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 5000  # photographs, not just flat shapes
    pdf = outs[1].read_bytes()
    assert pdf.startswith(b"%PDF") and len(pdf) > 10_000

    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(str(outs[1]))
    assert len(doc) == 1
    text = doc[0].get_textpage().get_text_range()
    assert "REAL input: real face.jpg" in text and "FAKE input: fake.mp4" in text
    for p in (res.real, res.fake):
        assert p.verdict.upper() in text and f"{p.fake_probability:.2f}" in text


def test_panels_follow_the_analysis(inputs, tiny_predictor, tmp_path):
    res = compare(inputs["image"], inputs["video"], [tmp_path / "f.png"], predictor=tiny_predictor, frames=8)
    real, fake = res.real, res.fake
    a_fake = res.analyses[1]
    assert real.role == "REAL" and real.name == "real face.jpg" and real.is_image and real.index == 0
    assert fake.role == "FAKE" and not fake.is_image
    # Default: the most suspicious key frame of the analysis.
    assert fake.index == a_fake.evidence["key_frames"][0]["index"]
    assert fake.verdict == a_fake.verdict and fake.fake_probability == pytest.approx(a_fake.fake_probability)
    assert real.crop.shape == real.overlay.shape and real.crop.dtype == np.uint8
    assert not np.array_equal(real.crop, real.overlay)  # the heatmap is drawn on the crop
    vals = [v for _, v in fake.regions]
    assert vals == sorted(vals, reverse=True) and 0 < len(vals) <= 5


def test_requested_frame_picks_the_nearest_scored_frame(inputs, tiny_predictor, tmp_path):
    from seethrough.analysis import AnalyzeOptions, analyze

    a = analyze(inputs["video"], predictor=tiny_predictor, options=AnalyzeOptions(frames=8, narrator=None))
    scored = [f.index for f in a.frames if f.fake_probability is not None]
    target = scored[2] + 1  # between sampled frames
    panel = panel_from_analysis(a, "FAKE", frame=target)
    assert panel.index == min(scored, key=lambda i: (abs(i - target), i))
    assert panel.requested == target
    assert panel.regions_scope == "frame"
    exact = panel_from_analysis(a, "FAKE", frame=scored[-1])
    assert exact.index == scored[-1] and exact.requested is None
    # A non-key frame has its own heatmap, computed when the clip was analysed.
    keys = {k["index"] for k in a.evidence["key_frames"]}
    other = next(i for i in scored if i not in keys)
    p = panel_from_analysis(a, "FAKE", frame=other)
    assert p.index == other and not np.array_equal(p.overlay, panel_from_analysis(a, "FAKE").overlay)
    fig = compare_figure(p, exact)
    assert len(fig.axes) == 7  # 2 x (crop, overlay, bars) + colour bar


def test_no_face_input_is_a_clear_error(inputs, tiny_predictor, tmp_path):
    with pytest.raises(CompareError, match="FAKE input wall.png: no usable face"):
        compare(inputs["image"], inputs["noface"], [tmp_path / "f.png"], predictor=tiny_predictor, frames=4)
    assert not (tmp_path / "f.png").exists()


def test_output_names_are_checked():
    with pytest.raises(CompareError, match=".png or .pdf"):
        check_outputs([__import__("pathlib").Path("fig.jpg")])
    with pytest.raises(CompareError, match="at least one"):
        check_outputs([])


def test_cli(inputs, tiny_checkpoint, tmp_path):
    runner = CliRunner()
    png, pdf = tmp_path / "cli.png", tmp_path / "cli.pdf"
    res = runner.invoke(app, ["compare", str(inputs["image"]), str(inputs["video"]), "--out", str(png), "--out",
                              str(pdf), "--model", str(tiny_checkpoint), "--frames", "6", "--frame-fake", "5"])
    assert res.exit_code == 0, res.output
    assert png.is_file() and pdf.is_file() and "figure:" in res.output

    res = runner.invoke(app, ["compare", str(inputs["noface"]), str(inputs["video"]), "--out", str(tmp_path / "x.png"),
                              "--model", str(tiny_checkpoint), "--frames", "4"])
    assert res.exit_code == 1
    assert "REAL input wall.png: no usable face" in res.output
    assert not (tmp_path / "x.png").exists()

    res = runner.invoke(app, ["compare", str(inputs["image"]), str(inputs["video"]), "--out", str(tmp_path / "x.svg"),
                              "--model", str(tiny_checkpoint)])
    assert res.exit_code == 2 and ".png or .pdf" in res.output
