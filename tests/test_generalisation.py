"""The cross-source benchmark's numbers from per-file rows (the bench script renders them)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from seethrough.training.generalisation import bootstrap_auc, rates, table, targets


def row(label, p, verdict, status="ok", group="g", dataset="cross_source"):
    return {"label": label, "fake_probability": p, "verdict": verdict, "status": status, "group": group,
            "dataset": dataset}


def test_rates_count_verdicts_as_users_see_them():
    rows = [row(1, 0.9, "fake"), row(1, 0.2, "real"), row(1, 0.5, "uncertain"),
            row(0, 0.1, "real"), row(0, 0.8, "fake"), row(0, None, None, status="no_face")]
    r = rates(rows)
    assert (r.n, r.n_real, r.n_fake) == (6, 3, 3)
    assert r.tpr == pytest.approx(1 / 3)  # one of three fakes called fake
    assert r.fpr == pytest.approx(1 / 3)  # one of three reals called fake (the no-face one is not)
    assert r.wrong == pytest.approx(2 / 6)  # the fake called real and the real called fake
    assert r.coverage == pytest.approx(4 / 6)
    assert r.uncertain == pytest.approx(1 / 6) and r.no_face == pytest.approx(1 / 6)
    assert 0 <= r.auc_lo <= r.auc <= r.auc_hi <= 1


def test_fake_only_source_is_ranked_against_the_negatives():
    fakes = [row(1, p, "fake") for p in (0.7, 0.8, 0.9)]
    reals = [row(0, p, "real") for p in (0.1, 0.2, 0.75)]
    r = rates(fakes, negatives=reals)
    assert r.auc == pytest.approx(8 / 9)
    assert math.isnan(rates(fakes).auc)


def test_bootstrap_interval_narrows_with_more_data():
    rng = np.random.default_rng(0)
    def width(n):
        y = np.r_[np.zeros(n), np.ones(n)]
        s = np.r_[rng.normal(0, 1, n), rng.normal(1, 1, n)]
        auc, lo, hi = bootstrap_auc(y, s, n=300)
        assert lo <= auc <= hi
        return hi - lo
    assert width(400) < width(25)


def test_targets_and_table():
    rows = {"cross_source": [row(0, 0.1, "real", group="a"), row(0, 0.9, "fake", group="a")]
            + [row(0, 0.1, "real", group="b")] * 5 + [row(1, 0.2, "real", group="c")],
            "dfdc_faces": [row(0, 0.2, "real", dataset="dfdc_faces"), row(1, 0.9, "fake", dataset="dfdc_faces")]}
    t = targets(rows)
    assert t["worst_group_confidently_wrong"] == 1.0  # source c: its one fake called real
    assert t["worst_group_confidently_wrong_5plus"] == 0.0  # b (5 files) is all right
    assert t["dfdc_auc"] == 1.0
    assert t["worst_real_source_fpr"] == 0.0  # only b has 5+ real files
    lines = table("source", {"a": rows["cross_source"][:2]})
    assert lines[0].startswith("| source | n (real/fake) |") and lines[2].startswith("| a | 2 (2/0) |")


def test_fast_auc_matches_sklearn():
    from sklearn.metrics import roc_auc_score

    from seethrough.training.generalisation import _auc

    rng = np.random.default_rng(1)
    pos, neg = rng.integers(0, 5, 40) / 4, rng.integers(0, 5, 30) / 4  # many ties
    assert _auc(pos, neg) == pytest.approx(roc_auc_score(np.r_[np.ones(40), np.zeros(30)], np.r_[pos, neg]))


def _paired_rows(shift: float, n_groups: int = 30, seed: int = 0):
    """Two models' rows of the same files; B's fakes score ``shift`` higher than A's."""
    rng = np.random.default_rng(seed)
    a, b = [], []
    for g in range(n_groups):
        for i in range(6):
            label = i % 2
            p = float(np.clip(rng.normal(0.4 + 0.2 * label, 0.2), 0.01, 0.99))
            q = float(np.clip(p + shift * label, 0.01, 0.99))
            for rows, s in ((a, p), (b, q)):
                verdict = "fake" if s >= 0.7 else "real" if s < 0.3 else "uncertain"
                rows.append({**row(label, s, verdict, group=f"g{g}"), "path": f"{g}/{i}.jpg"})
    return a, b


def test_paired_delta_tells_a_real_difference_from_none():
    from seethrough.training.generalisation import paired_delta

    a, b = _paired_rows(shift=0.2)
    d = paired_delta(a, b, "auc", n=300)
    assert d.n == len(a) and d.b > d.a and d.lo > 0  # B ranks better, and the interval says so
    assert d.a == pytest.approx(rates(a, ci=False).auc) and d.b == pytest.approx(rates(b, ci=False).auc)
    same = paired_delta(a, [dict(r) for r in reversed(a)], "auc", n=300)  # pairing is by file, not by order
    assert same.delta == 0 and same.lo == 0 and same.hi == 0
    w = paired_delta(a, b, "wrong", n=300)
    assert w.a == pytest.approx(rates(a, ci=False).wrong) and w.b == pytest.approx(rates(b, ci=False).wrong)
    c = paired_delta(a, b, "coverage", n=300)
    assert c.a == pytest.approx(rates(a, ci=False).coverage) and c.b == pytest.approx(rates(b, ci=False).coverage)
    assert c.lo <= c.delta <= c.hi
    small_a, small_b = _paired_rows(shift=0.02, n_groups=4)  # a small gap on four groups: not told
    tiny = paired_delta(small_a, small_b, "auc", n=300)
    assert tiny.lo <= 0 <= tiny.hi


def test_paired_delta_ranks_a_fakes_only_set_against_the_negatives():
    from seethrough.training.generalisation import paired_delta

    a, b = _paired_rows(shift=0.3)
    fakes_a, fakes_b = [r for r in a if r["label"] == 1], [r for r in b if r["label"] == 1]
    reals_a, reals_b = [r for r in a if r["label"] == 0], [r for r in b if r["label"] == 0]
    d = paired_delta(fakes_a, fakes_b, "auc", negatives_a=reals_a, negatives_b=reals_b, n=200)
    assert d.n == len(fakes_a)
    assert d.a == pytest.approx(rates(fakes_a, reals_a, ci=False).auc) and d.lo > 0
    assert math.isnan(paired_delta(fakes_a, fakes_b, "auc", n=10).a)  # no reals to rank against


def test_method_table_uses_the_models_own_training_map():
    from seethrough.training.generalisation import method_table, method_targets

    methods = ["learned_face_swap", "reenactment", "synthetic_face"]
    config = {"head": {"method_of": {"Deepfakes": "learned_face_swap", "face_swap": "learned_face_swap",
                                     "reenactment": "reenactment", "gan": "synthetic_face"}},
              "data": {"sources": [{"csv": "/x/dfdc_faces/labels.csv", "fake_method": "Deepfakes"},
                                   {"csv": "/x/cross_source/labels.csv"}]}}
    target = method_targets(config, methods)

    def fake(family, named, dataset="cross_source", method="m", status="ok"):
        return {**row(1, 0.8, "fake", status=status, dataset=dataset), "family": family, "method": method,
                "predicted_method": named}

    assert target(fake("", "", dataset="dfdc_faces", method="unknown")) == "learned_face_swap"  # the source's fake_method
    assert target(fake("gan", "")) == "synthetic_face" and target(fake("editing", "")) is None
    rows = {"gan": [fake("gan", "synthetic_face"), fake("gan", "learned_face_swap"), fake("gan", "synthetic_face"),
                    fake("gan", None, status="no_face"), {**row(0, 0.1, "real"), "predicted_method": "reenactment"}],
            "editing": [fake("editing", "reenactment")]}
    lines = method_table(rows, target, label=lambda m: m.replace("_", " "))
    assert lines[2] == "| gan | synthetic face | 3 | 67% | synthetic face (2) |"
    assert len(lines) == 3  # editing has no family in the map: no row
