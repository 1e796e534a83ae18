"""Group-aware, label-stratified train/val splits.

Rules, in order:

1. A row whose ``split`` is already set (an official split list) keeps it.
2. A row without a split whose group has official ``train``/``val`` rows in exactly
   one of the two joins that split, so the group stays as whole as the lists allow.
   ``test`` is never inherited: only an official list assigns it (Celeb-DF, for
   instance, lists test videos whose identities also appear in training videos).
3. Every other group is placed whole in ``train`` or ``val``. Groups are stratified by
   the labels they contain (real only, fake only, both); within a stratum they are put
   in an order fixed by a hash of ``(seed, group)`` and greedily added to ``val`` while
   that brings the stratum's val share closer to ``val_frac``.

The result depends only on the rows' groups, labels and official splits and on
``seed``, not on the order of the rows.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import defaultdict
from typing import Iterable

from .rows import MetaRow

TRAIN, VAL = "train", "val"


def _order_key(seed: int, group: str) -> str:
    return hashlib.sha256(f"{seed}\x00{group}".encode()).hexdigest()


def _stratum(rows: list[MetaRow]) -> str:
    labels = {r.label for r in rows}
    return labels.pop() if len(labels) == 1 else "mixed"


def assign_splits(rows: Iterable[MetaRow], val_frac: float = 0.2, seed: int = 0) -> list[MetaRow]:
    """Return copies of ``rows`` with every ``split`` set (see the module docstring).

    ``val_frac`` is the share of the rows without an official split that goes to
    ``val``; with ``val_frac > 0`` and at least two such groups, ``val`` gets at least one.
    """
    if not 0.0 <= val_frac <= 1.0:
        raise ValueError(f"val_frac must be between 0 and 1, got {val_frac}")
    out = [dataclasses.replace(r) for r in rows]

    by_group: dict[str, list[MetaRow]] = defaultdict(list)
    for row in out:
        by_group[row.group_key].append(row)

    free: dict[str, list[MetaRow]] = {}
    for key, members in by_group.items():
        unassigned = [r for r in members if not r.split]
        if not unassigned:
            continue
        official = {r.split for r in members if r.split} & {TRAIN, VAL}
        if len(official) == 1:
            inherited = official.pop()
            for r in unassigned:
                r.split = inherited
        else:
            free[key] = unassigned

    strata: dict[str, list[str]] = defaultdict(list)
    for key, members in free.items():
        strata[_stratum(members)].append(key)

    val_groups: set[str] = set()
    for keys in strata.values():
        keys.sort(key=lambda k: _order_key(seed, k))
        target = val_frac * sum(len(free[k]) for k in keys)
        in_val = 0
        for key in keys:
            size = len(free[key])
            if abs(in_val + size - target) < abs(in_val - target):
                val_groups.add(key)
                in_val += size

    if len(free) >= 2:
        ordered = sorted(free, key=lambda k: (len(free[k]), _order_key(seed, k)))
        if val_frac > 0 and not val_groups:
            val_groups.add(ordered[0])
        elif val_frac < 1 and len(val_groups) == len(free):
            val_groups.discard(ordered[0])

    for key, members in free.items():
        split = VAL if key in val_groups else TRAIN
        for r in members:
            r.split = split
    return out


def leaking_groups(rows: Iterable[MetaRow]) -> set[str]:
    """Groups whose rows sit in more than one split (rows without a split are ignored)."""
    seen: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        if row.split:
            seen[row.group_key].add(row.split)
    return {key for key, splits in seen.items() if len(splits) > 1}


__all__ = ["assign_splits", "leaking_groups"]
