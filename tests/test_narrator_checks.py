"""The narrator's fact check is one module per check, each registered and with one signature."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import seethrough.explain.narrator_check as nc
from seethrough.explain.narrator_check import masking
from seethrough.explain.narrator_check.claims import read_claims
from seethrough.explain.narrator_facts import Facts

#: Modules of the package that are shared steps, not checks.
HELPERS = {"claims", "common", "masking", "reply"}


def _check_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(nc.__path__) if m.name not in HELPERS)


def test_every_check_module_is_registered_with_the_same_signature():
    registered = {c.run for c in nc.CHECKS}
    names = _check_modules()
    assert names, "no check modules found"
    for name in names:
        module = importlib.import_module(f"{nc.__name__}.{name}")
        assert module.__doc__ and module.__doc__.startswith("Check:"), name
        assert list(inspect.signature(module.check).parameters) == ["text", "facts"], name
        assert module.check in registered, f"{name}.check is not in CHECKS"
    assert sorted(c.name for c in nc.CHECKS) == names
    assert len(nc.CHECKS) == len(registered)


def test_each_check_returns_a_list_of_problems():
    facts = Facts(status="ok", kind="video", verdict="fake", probability=0.87, probability_text="87%",
                  probabilities=[0.87])
    for c in nc.CHECKS:
        out = c.run("seethrough judges this video to be a deepfake: 87% probability of manipulation.", facts)
        assert isinstance(out, list) and all(isinstance(p, str) for p in out), c.name


def test_method_names_are_marked_before_verdict_words_are_read():
    facts = Facts(status="ok", kind="video", verdict="real")
    text = "It most resembles DeepFakes, then a Face Swap manipulation and Face2Face manipulation."
    marked = masking.mark_method_names(text)
    assert marked.count(masking.METHOD_PLACEHOLDER) == 3
    assert read_claims(marked, facts) == []  # no method name is read as "fake"
    assert [c.kind for c in read_claims(text, facts)]  # unmarked, "DeepFakes" and "Swap" would be


def test_every_method_name_a_reply_may_write_is_read_and_shown():
    from seethrough.explain.narrator_check.common import METHOD_DISPLAY, METHOD_PATTERNS, method_mentions
    from seethrough.explain.narrator_facts import norm_method
    from seethrough.facts import FFPP_METHOD_NOTES, METHOD_FAMILIES, method_label

    keys = [k for k, _ in METHOD_PATTERNS]
    assert set(keys) == set(METHOD_DISPLAY) == {norm_method(n) for n in [*FFPP_METHOD_NOTES, *METHOD_FAMILIES]}
    for name in [*FFPP_METHOD_NOTES, *METHOD_FAMILIES]:  # each shown name is read back as itself
        shown = method_label(name)
        assert [m[2] for m in method_mentions(f"It resembles {shown}.")] == [norm_method(name)], shown
