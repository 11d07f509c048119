"""Building and holding millions of small objects: without the cyclic garbage collector, and with
repeated values held once."""
from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any


@contextmanager
def without_cyclic_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector: analysis, portfolio loads and write-back rows build
    millions of small acyclic objects, and the collector would only rescan them again and again
    (reference counting still frees them). The collector is re-enabled only if it was enabled."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


class SharedValues:
    """One object per distinct value: hands back the first equal value it was given, so millions of
    graph properties repeating a few values (one file's name, its snapshot id and date, a trust
    anchor) hold references to one string or datetime each instead of a copy each. Only exact str,
    int, datetime and date values are shared; a datetime only with an equal one of the same tzinfo
    (equal instants in two zones print differently). Anything else is handed back as it is."""

    __slots__ = ("_seen",)

    def __init__(self) -> None:
        self._seen: dict[Any, Any] = {}

    def __call__(self, value: Any) -> Any:
        kind = type(value)
        if kind is str or kind is int or kind is date:
            return self._seen.setdefault(value, value)
        if kind is datetime:
            return self._seen.setdefault((value, value.tzinfo), value)
        return value

    def clear(self) -> None:
        self._seen.clear()


_KINDS: dict[str, type] = {}


def compact_dict(kind: str, items: dict[str, Any]) -> dict[str, Any]:
    """A dict of ``items`` whose table of names is shared by the dicts of its ``kind`` (a node
    label): CPython keeps the attribute dicts of one class's instances as one shared key table plus
    each dict's values, half the memory of a plain dict of 15-20 entries. It is a real ``dict`` in
    every respect (adding, removing, order, equality); one given a name that is not in the shared
    table yet, or cleared, silently becomes a plain dict again. The names are set as attributes:
    only that grows the shared table (``dict.update`` would make a plain dict at once)."""
    cls = _KINDS.get(kind)
    if cls is None:
        cls = _KINDS[kind] = type(f"{kind}Properties", (), {})
    holder = cls()
    for name, value in items.items():
        setattr(holder, name, value)
    out: dict[str, Any] = holder.__dict__
    return out
