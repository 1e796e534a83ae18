"""The one registry helper behind backbones, temporal heads and dataset layouts."""

from __future__ import annotations

import pytest

from seethrough.errors import DatasetLayoutError, ModelError
from seethrough.registry import Registry


def test_registry_keeps_order_refuses_duplicates_and_names_the_known():
    reg: Registry[int] = Registry("widget", ModelError, reserved=("auto",))
    reg.add("b", 2)
    assert reg.register("a")(1) == 1
    assert reg.names() == ["b", "a"] and list(reg.values()) == [2, 1]
    assert "a" in reg and "c" not in reg and len(reg) == 2
    assert reg.get("a") == 1
    with pytest.raises(ValueError, match="widget 'a' is already registered"):
        reg.add("a", 3)
    assert reg.get("a") == 1  # the first registration stays
    with pytest.raises(ValueError, match="reserved"):
        reg.add("auto", 4)
    with pytest.raises(ModelError, match=r"Unknown widget 'c'\. Available: b, a, auto\."):
        reg.get("c")
    twin = reg.copy()
    twin.add("c", 3)
    assert "c" not in reg and twin.names() == ["b", "a", "c"]


def test_a_second_layout_of_a_taken_name_is_refused():
    from seethrough.datasets import layouts

    with pytest.raises(ValueError, match="dataset layout 'ffpp' is already registered"):
        layouts.register_layout("ffpp", detect=lambda root: False, expects="nothing")(lambda root: [])
    assert layouts.get_layout("ffpp").expects != "nothing"
    with pytest.raises(DatasetLayoutError, match="Unknown dataset layout 'nope'"):
        layouts.get_layout("nope")
