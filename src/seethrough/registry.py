"""A small name -> object registry shared by backbones, temporal heads and dataset layouts.

Names keep their registration order (dataset layouts are detected in that order); a
second registration under a taken name is refused instead of silently replacing the
first; an unknown name raises the caller's error type with the list of known names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """``kind`` names what is registered, for messages ("backbone", "temporal head")."""

    def __init__(self, kind: str, error: type[Exception] = KeyError, reserved: tuple[str, ...] = ()) -> None:
        self.kind = kind
        self._error = error
        self._reserved = reserved
        self._items: dict[str, T] = {}

    def add(self, name: str, item: T) -> T:
        if name in self._reserved:
            raise ValueError(f"{name!r} is reserved and cannot name a {self.kind}")
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._items[name] = item
        return item

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form of :meth:`add`."""
        return lambda item: self.add(name, item)

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join([*self._items, *self._reserved])
            raise self._error(f"Unknown {self.kind} '{name}'. Available: {known}.") from None

    def names(self) -> list[str]:
        """Registered names in registration order."""
        return list(self._items)

    def values(self) -> Iterator[T]:
        return iter(self._items.values())

    def copy(self) -> Registry[T]:
        """An independent registry with the same entries (tests register into a copy)."""
        twin: Registry[T] = Registry(self.kind, self._error, self._reserved)
        twin._items = dict(self._items)
        return twin

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __len__(self) -> int:
        return len(self._items)


__all__ = ["Registry"]
