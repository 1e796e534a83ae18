"""The edits of the robustness bench and its verdict comparison (seethrough.training.robustness)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from seethrough.testing.media import astronaut_rgb
from seethrough.training.robustness import EDITS, edited_copy, flips


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    """A 1600 x 1600 JPEG photo (bigger than a sharing site keeps)."""
    path = tmp_path_factory.mktemp("rob") / "astronaut.jpg"
    Image.fromarray(cv2.resize(astronaut_rgb(), (1600, 1600), interpolation=cv2.INTER_CUBIC)).save(path, quality=95)
    return path


def _load(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float64)


def test_each_edit_does_what_it_says(photo, tmp_path):
    src = _load(photo)
    out = {name: edited_copy(photo, name, tmp_path / name / "x.jpeg") for name in EDITS}
    assert {p.suffix for n, p in out.items() if n in ("jpeg75", "jpeg40", "social")} == {".jpg"}
    assert {p.suffix for n, p in out.items() if n not in ("jpeg75", "jpeg40", "social")} == {".png"}
    for name in ("jpeg75", "jpeg40"):
        img = Image.open(out[name])
        assert img.format == "JPEG" and img.size == (1600, 1600)
    # the lower the quality, the further from the source (and both change it)
    err = {n: np.abs(_load(out[n]) - src).mean() for n in ("jpeg75", "jpeg40")}
    assert 0 < err["jpeg75"] < err["jpeg40"]
    social = Image.open(out["social"])
    from PIL import JpegImagePlugin

    assert social.size == (1080, 1080) and JpegImagePlugin.get_sampling(social) == 2  # 4:2:0
    assert Image.open(out["half"]).size == (800, 800) and Image.open(out["double"]).size == (3200, 3200)
    crop = _load(out["crop80"])
    assert crop.shape[:2] == (1280, 1280)
    np.testing.assert_allclose(crop, src[160:1440, 160:1440])  # lossless: the very pixels of the centre
    grey = _load(out["grey"])
    assert np.array_equal(grey[..., 0], grey[..., 1]) and np.array_equal(grey[..., 1], grey[..., 2])

    def sharpness(img):
        return cv2.Laplacian(cv2.cvtColor(img.astype(np.uint8), cv2.COLOR_RGB2GRAY), cv2.CV_64F).var()

    assert sharpness(_load(out["sharpen"])) > 1.5 * sharpness(src)
    assert 3.0 < (_load(out["noise"]) - src).std() < 5.0  # sigma 4, a little less where clipped


def test_unknown_edit_is_refused_and_writes_nothing(photo, tmp_path):
    with pytest.raises(ValueError, match="unknown edit 'sepia'; choose from jpeg75"):
        edited_copy(photo, "sepia", tmp_path / "x")
    assert not list(tmp_path.iterdir())


def _row(key, label, verdict, p, status="ok"):
    return {"key": key, "label": str(label), "verdict": verdict, "fake_probability": str(p), "status": status}


def test_flips_count_changes_against_the_same_files():
    before = [_row("a", 0, "real", 0.1), _row("b", 1, "fake", 0.9), _row("c", 0, "uncertain", 0.5),
              _row("d", 1, "real", 0.2), _row("e", 0, "real", 0.1, status="no_face")]
    after = [_row("a", 0, "fake", 0.8),       # a real photo flipped to fake: newly wrong
             _row("b", 1, "uncertain", 0.6),  # changed, not flipped
             _row("c", 0, "uncertain", 0.5),  # unchanged
             _row("d", 1, "fake", 0.8),       # flipped the right way: not newly wrong
             _row("e", 0, "fake", 0.9),       # not scored before: not compared
             _row("z", 0, "fake", 0.9)]       # not in the original list
    f = flips(before, after)
    assert f.n == 4
    assert f.changed == 3 / 4 and f.confident_flips == 2 / 4 and f.newly_wrong == 1 / 4
    assert f.median_shift == pytest.approx(np.median([0.7, 0.3, 0.0, 0.6]))
    assert f.mean_shift == pytest.approx(np.mean([0.7, -0.3, 0.0, 0.6]))
    assert np.isnan(flips(before, []).changed)


def test_edited_copies_go_through_evaluate(tiny_predictor, tmp_path):
    """The bench's path on generated photos: originals and edited copies scored by evaluate(), compared by file."""
    from dataclasses import replace

    from seethrough.testing.media import make_face_image
    from seethrough.training.evaluate import Item, evaluate

    items = [Item(path=make_face_image(tmp_path / f"face{i}.jpg", size=(1280, 960), scale=1.0 + 0.1 * i), label=i % 2,
                  method="")
             for i in range(3)]

    def rows(files, name):
        evaluate(files, tmp_path / name, predictor=tiny_predictor)
        import csv

        with open(tmp_path / name / "predictions.csv", newline="") as fh:
            out = list(csv.DictReader(fh))
        return [{**r, "key": str(it.path)} for r, it in zip(out, items)]

    orig = rows(items, "original")
    half = rows([replace(it, path=edited_copy(it.path, "half", tmp_path / "half" / it.path.stem)) for it in items], "half")
    assert [r["status"] for r in orig] == ["ok"] * 3 and [r["status"] for r in half] == ["ok"] * 3
    f = flips(orig, half)
    assert f.n == 3 and f.median_shift >= 0
    shifts = [abs(float(b["fake_probability"]) - float(a["fake_probability"])) for a, b in zip(orig, half)]
    assert f.median_shift == pytest.approx(float(np.median(shifts)))
