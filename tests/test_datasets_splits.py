"""Group-aware, stratified splits: disjoint groups, fractions, determinism, official splits."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from seethrough.datasets import MetaRow, assign_splits, leaking_groups


def make_rows(rng: random.Random, n_groups: int, max_size: int = 6, mixed: float = 0.3) -> list[MetaRow]:
    """Random groups: each real-only, fake-only or mixed, of 1..max_size rows."""
    rows = []
    for g in range(n_groups):
        kind = rng.random()
        for i in range(rng.randint(1, max_size)):
            if kind < mixed:
                label = "real" if i == 0 else "fake"
            else:
                label = "real" if kind < (1 + mixed) / 2 else "fake"
            method = "original" if label == "real" else "Deepfakes"
            rows.append(MetaRow(f"g{g}/{i}.mp4", label, method, "synthetic", group=f"grp{g}"))
    return rows


def split_of(rows: list[MetaRow]) -> dict[str, str]:
    return {r.path: r.split for r in rows}


@pytest.mark.parametrize("case", range(25))
def test_random_configurations_are_group_disjoint_and_near_fraction(case: int) -> None:
    rng = random.Random(case)
    rows = make_rows(rng, n_groups=rng.randint(40, 120))
    val_frac = rng.choice([0.1, 0.2, 0.3, 0.5])
    out = assign_splits(rows, val_frac=val_frac, seed=case)

    assert leaking_groups(out) == set()
    assert {r.split for r in out} == {"train", "val"}
    share = sum(r.split == "val" for r in out) / len(out)
    assert abs(share - val_frac) <= 0.05, (share, val_frac)
    # Stratified: each label's val share is near the fraction too.
    for label in ("real", "fake"):
        labelled = [r for r in out if r.label == label]
        label_share = sum(r.split == "val" for r in labelled) / len(labelled)
        assert abs(label_share - val_frac) <= 0.12, (label, label_share, val_frac)


def test_deterministic_and_independent_of_row_order() -> None:
    rows = make_rows(random.Random(7), n_groups=80)
    first = split_of(assign_splits(rows, seed=3))
    assert split_of(assign_splits(rows, seed=3)) == first
    shuffled = rows[:]
    random.Random(1).shuffle(shuffled)
    assert split_of(assign_splits(shuffled, seed=3)) == first
    assert split_of(assign_splits(rows, seed=4)) != first


def test_input_rows_are_not_modified() -> None:
    rows = make_rows(random.Random(2), n_groups=10)
    assign_splits(rows)
    assert all(r.split == "" for r in rows)


def test_official_splits_win_and_groups_follow_train_or_val() -> None:
    rows = [
        MetaRow("a0.mp4", "real", "original", "d", split="val", group="A"),
        MetaRow("a1.mp4", "fake", "Deepfakes", "d", group="A"),  # follows A into val
        MetaRow("b0.mp4", "real", "original", "d", split="test", group="B"),
        MetaRow("b1.mp4", "fake", "Deepfakes", "d", group="B"),  # test is never inherited
        MetaRow("c0.mp4", "real", "original", "d", split="train", group="C"),
        MetaRow("c1.mp4", "real", "original", "d", split="test", group="C"),
        MetaRow("c2.mp4", "fake", "Deepfakes", "d", group="C"),  # train is C's only train/val split
    ]
    rows += [MetaRow(f"free{i}.mp4", "fake", "Deepfakes", "d", group=f"F{i}") for i in range(10)]
    out = split_of(assign_splits(rows, val_frac=0.0, seed=0))
    assert (out["a0.mp4"], out["a1.mp4"]) == ("val", "val")
    assert (out["b0.mp4"], out["b1.mp4"]) == ("test", "train")
    assert (out["c0.mp4"], out["c1.mp4"], out["c2.mp4"]) == ("train", "test", "train")
    assert all(out[f"free{i}.mp4"] == "train" for i in range(10))
    assert leaking_groups(assign_splits(rows, val_frac=0.0)) == {"B", "C"}


def test_edge_fractions() -> None:
    rows = make_rows(random.Random(5), n_groups=30)
    assert {r.split for r in assign_splits(rows, val_frac=0.0)} == {"train"}
    assert {r.split for r in assign_splits(rows, val_frac=1.0)} == {"val"}
    # Tiny sets still get a val group when a val share is asked for, and keep a train one.
    two = [MetaRow(f"{g}.mp4", "real", "original", "d", group=g) for g in ("x", "y")]
    assert Counter(r.split for r in assign_splits(two, val_frac=0.1)) == {"train": 1, "val": 1}
    assert Counter(r.split for r in assign_splits(two, val_frac=0.95)) == {"train": 1, "val": 1}
    with pytest.raises(ValueError, match="val_frac"):
        assign_splits(rows, val_frac=1.5)


def test_rows_without_group_are_their_own_group() -> None:
    rows = [MetaRow(f"{i}.png", "fake", "unknown", "d") for i in range(50)]
    out = assign_splits(rows, val_frac=0.2)
    assert sum(r.split == "val" for r in out) == 10
    assert leaking_groups(out) == set()


def test_leaking_groups_ignores_unassigned_rows() -> None:
    rows = [
        MetaRow("a.mp4", "real", "original", "d", split="train", group="g"),
        MetaRow("b.mp4", "fake", "Deepfakes", "d", split="", group="g"),
        MetaRow("c.mp4", "fake", "Deepfakes", "d", split="val", group="h"),
        MetaRow("d.mp4", "fake", "Deepfakes", "d", split="test", group="h"),
    ]
    assert leaking_groups(rows) == {"h"}
