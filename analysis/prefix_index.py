"""Two prefix lookup indexes the analysis needs at scale (the integer prefix arithmetic they use is
``chainrisk.common.prefixes``).

* :class:`CoveringIndex` - "which items sit on a prefix that covers (or equals) this one": one dict
  per prefix length, network integer -> items; a lookup probes at most the lengths that occur
  (<= 33 probes). Used for ~730k VRPs and ~1M BGP prefixes.
* :class:`OverlapIndex` - covering *and* contained items (for blocklists, registrations): the
  covering part as above, the contained part by bisecting the sorted start addresses.
"""
from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from typing import Generic, TypeVar

from chainrisk.common.prefixes import MASKS, prefix_ints, prefix_size

T = TypeVar("T")


class CoveringIndex(Generic[T]):
    """Items keyed by prefix; :meth:`covering` returns the items of every prefix that contains or
    equals the queried one, least specific first."""

    def __init__(self) -> None:
        self._by_length: dict[int, dict[int, list[T]]] = {}
        self._lengths: list[int] = []

    def add(self, first: int, length: int, item: T) -> None:
        bucket = self._by_length.get(length)
        if bucket is None:
            bucket = self._by_length[length] = {}
            self._lengths = sorted(self._by_length)
        entries = bucket.get(first)
        if entries is None:
            bucket[first] = [item]
        else:
            entries.append(item)

    def __len__(self) -> int:
        return sum(len(v) for bucket in self._by_length.values() for v in bucket.values())

    def covering(self, first: int, length: int) -> list[T]:
        """Items on prefixes that contain or equal ``first/length``, least specific first."""
        found: list[T] = []
        by_length = self._by_length
        for n in self._lengths:
            if n > length:
                break
            entries = by_length[n].get(first & MASKS[n])
            if entries:
                found.extend(entries)
        return found

    @classmethod
    def from_items(cls, items: Iterable[tuple[str, T]]) -> CoveringIndex[T]:
        """An index of ``(prefix text, item)`` pairs."""
        index: CoveringIndex[T] = cls()
        for prefix, item in items:
            first, length = prefix_ints(prefix)
            index.add(first, length, item)
        return index


class OverlapIndex(Generic[T]):
    """Items keyed by prefix; :meth:`overlapping` returns those whose prefix covers, equals or lies
    inside the queried one. CIDR prefixes either nest or are disjoint, so overlap = covering (length
    <= the query's) + contained (starts inside the query, longer)."""

    def __init__(self, items: Iterable[tuple[str, T]]) -> None:
        self._covering: CoveringIndex[T] = CoveringIndex()
        rows: list[tuple[int, int, int, T]] = []
        for n, (prefix, item) in enumerate(items):
            first, length = prefix_ints(prefix)
            self._covering.add(first, length, item)
            rows.append((first, length, n, item))
        rows.sort(key=lambda r: (r[0], r[1], r[2]))
        self._starts = [r[0] for r in rows]
        self._rows = rows

    def overlapping(self, first: int, length: int) -> list[T]:
        """Items whose prefix covers, equals or lies inside ``first/length``."""
        found = self._covering.covering(first, length)
        last = first + prefix_size(length) - 1
        lo = bisect_left(self._starts, first)
        hi = bisect_right(self._starts, last)
        for _start, item_length, _, item in self._rows[lo:hi]:
            if item_length > length:
                found.append(item)
        return found
