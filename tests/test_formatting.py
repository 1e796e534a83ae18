"""Facts shown in several places, defined once: how a probability is written, region and verdict words,
the default database (the narrator, the reports, the CLI, the web pages and `seethrough doctor` agree)."""

from __future__ import annotations

import pytest

from seethrough.facts import overall_pct, pct

#: (p, thresholds, text) shared with the browser test, which checks the page's formatter against it.
CASES = [
    (0.8731, None, "87%"),
    (0.695, {"real_below": 0.3, "fake_above": 0.7}, "69.5%"),  # never reads equal to the 70% line
    (0.6951, {"real_below": 0.3, "fake_above": 0.7}, "69.5%"),
    (0.7, {"real_below": 0.3, "fake_above": 0.7}, "70%"),  # on the line: no extra digit
    (0.997, None, "99.7%"),
    (0.9996, None, "more than 99.9%"),
    (0.003, None, "0.3%"),
    (0.0004, None, "less than 0.1%"),
    (0.005, None, "1%"),  # half up
]


@pytest.mark.parametrize("p,thresholds,text", CASES)
def test_probability_text(p, thresholds, text):
    assert overall_pct(p, thresholds) == text
    if thresholds is None:
        assert pct(p) == text


def test_the_same_analysis_reads_the_same_everywhere(tiny_predictor, face_image, capsys):
    from seethrough.analysis import AnalyzeOptions, analyze
    from seethrough.cli.cmd_main import _print_text
    from seethrough.explain.narrator_facts import summarize_for_narrator
    from seethrough.explain.narrator_template import template_text
    from seethrough.report import build_content

    a = analyze(face_image, predictor=tiny_predictor, options=AnalyzeOptions(explain=False, narrator=None))
    assert a.status == "ok"
    a.fake_probability, a.verdict = 0.6951, "uncertain"
    a.thresholds = {"real_below": 0.3, "fake_above": 0.7}
    a.abstention = None
    doc = a.to_dict()

    content = build_content(doc)
    assert content.probability_text == "69.5%"
    assert "69.5%" in content.meaning and "(30%)" in content.meaning and "(70%)" in content.meaning
    _, facts = summarize_for_narrator(doc)
    assert facts.probability_text == "69.5%"
    assert "69.5%" in template_text(doc)
    _print_text(a)
    printed = capsys.readouterr()
    assert "fake probability 69.5%" in " ".join((printed.out + printed.err).split())


def test_every_region_has_one_label_and_one_phrase():
    from seethrough.facts import REGION_LABELS, REGION_WORDS, region_label
    from seethrough.faces.regions import PART_REGIONS

    assert set(REGION_LABELS) == set(REGION_WORDS) == set(PART_REGIONS) | {"boundary"}
    assert region_label("right_eye") == "right eye (person's)" and region_label("new_part") == "new part"


def test_method_families_have_a_label_and_a_note_naming_ffpp_where_one_fits():
    from seethrough.facts import FFPP_FAMILY, FFPP_METHOD_NOTES, METHOD_FAMILIES, for_pages, method_label, method_note
    from seethrough.explain.narrator_facts import norm_method

    for key in METHOD_FAMILIES:
        assert norm_method(method_label(key)) == norm_method(key) and "_" not in method_label(key)
        assert method_note(key)
    assert method_label("learned_face_swap") == "learned face swap"
    assert "FaceForensics++: Deepfakes, FaceShifter" in method_note("learned_face_swap")
    assert "FaceForensics++" not in method_note("talking_head")
    # a FaceForensics++ head's names are shown as they are, each in one family
    assert method_label("Face2Face") == "Face2Face" and method_note("Face2Face") == "expression reenactment"
    assert set(FFPP_FAMILY) == set(FFPP_METHOD_NOTES) and FFPP_FAMILY["FaceSwap"] == "graphics_face_swap"
    assert for_pages()["method_labels"]["synthetic_face"] == "synthetic face"


def test_doctor_and_web_app_agree_on_the_default_database(monkeypatch, tmp_path):
    from seethrough.doctor import default_database_url
    from seethrough.web.settings import WebSettings

    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("SEETHROUGH_DATA", raising=False)
    assert default_database_url() == WebSettings().db_url
    monkeypatch.setenv("SEETHROUGH_DATA", str(tmp_path))
    assert default_database_url() == WebSettings.from_env().db_url == f"sqlite:///{tmp_path.resolve()}/seethrough.db"


@pytest.mark.parametrize("n, text", [(0, "0 B"), (999, "999 B"), (1000, "1.0 KB"), (2_500_000, "2.5 MB"),
                                     (7_230_000_000, "7.2 GB")])
def test_size_text(n, text):
    from seethrough.facts import parse_size, size_text

    assert size_text(n) == text
    assert parse_size(text) == pytest.approx(n, rel=0.03)  # what is shown reads back as about the same size


def test_parse_size_reads_units_and_refuses_anything_else():
    from seethrough.errors import ConfigError
    from seethrough.facts import parse_size

    assert parse_size("2GB") == 2 * 10**9 and parse_size("500 mb") == 5 * 10**8 and parse_size("1.5kb") == 1500
    assert parse_size("1000") == 1000
    for bad in ("", "lots", "2 GiB", "-1MB", "1e3"):
        with pytest.raises(ConfigError, match="Not a size"):
            parse_size(bad)
