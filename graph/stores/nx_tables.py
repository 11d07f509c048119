"""The embedded store's fact tables: the nodes of a :data:`TABLE_LINKS` label (VRPs, BGP routes: a
million of them) held as rows of one table per label instead of as networkx nodes.

A networkx node costs its attribute dict plus its successor, predecessor and edge-key dicts
(~1.5 KB for a VRP or a route with its one AS edge); a row is one tuple of the properties that
cannot be derived, in a fixed order per label. ``first``, ``last`` and ``prefix_length`` follow from
``prefix``, ``fact_key`` is the row's key, and the node's relationships (to the AS nodes its
:data:`TABLE_LINKS` property names, :func:`table_asns`) follow from its properties, so none of these
is stored. List values are held as tuples, equal lists of integers as one tuple (a route's
``origins``: thousands of routes share one origin AS). Reading a row gives a new dict equal to the
attribute dict the node would have had (its ``labels`` included); changing that dict changes
nothing until it is put back.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from chainrisk.common.prefixes import prefix_range
from chainrisk.graph.stores.records import PROP_NAMES, TABLE_LINKS, TYPE_OF_LABEL, table_asns

# properties of every table row that are not stored (see the module docstring)
DERIVED = frozenset({"first", "last", "prefix_length", "fact_key"})


class FactTable:
    """The fact nodes of one label: fact key -> row."""

    __slots__ = ("label", "labels", "names", "rel", "rows", "_index", "_tuples")

    def __init__(self, label: str) -> None:
        self.label = label
        self.labels = (label,)
        self.rel = TABLE_LINKS[label][0]
        self.names = tuple(n for n in PROP_NAMES[TYPE_OF_LABEL[label]] if n not in DERIVED)
        assert self.names[0] == "prefix"
        self._index = {name: i for i, name in enumerate(self.names)}
        self.rows: dict[str, tuple[Any, ...]] = {}
        self._tuples: dict[tuple[int, ...], tuple[int, ...]] = {}

    def __len__(self) -> int:
        return len(self.rows)

    def __contains__(self, key: object) -> bool:
        return key in self.rows

    def put(self, key: str, props: dict[str, Any]) -> None:
        """Store ``props`` (a fact element's properties, ``labels`` allowed) as the row of ``key``."""
        row: list[Any] = [None] * len(self.names)
        index = self._index
        for name, value in props.items():
            if name in DERIVED:
                continue
            if name == "labels":
                if tuple(value) != self.labels:
                    raise ValueError(f"a {self.label} node has labels {list(value)}, expected only {self.label}")
                continue
            i = index.get(name)
            if i is None:
                raise ValueError(f"a {self.label} node has no property {name!r}")
            if type(value) is list:
                value = tuple(value)
                if all(type(v) is int for v in value):  # not bools or floats: equal to ints, not the same values
                    value = self._tuples.setdefault(value, value)
            row[i] = value
        if row[0] is None:
            raise ValueError(f"a {self.label} node without prefix")
        self.rows[key] = tuple(row)

    def pop(self, key: str) -> None:
        del self.rows[key]

    def get(self, key: str) -> dict[str, Any] | None:
        row = self.rows.get(key)
        return None if row is None else self._props(key, row)

    def prefix(self, key: str) -> str:
        prefix: str = self.rows[key][0]
        return prefix

    def _props(self, key: str, row: tuple[Any, ...]) -> dict[str, Any]:
        first, last, length = prefix_range(row[0])
        props = {"labels": self.labels, "prefix": row[0], "first": first, "last": last, "prefix_length": length, "fact_key": key}
        for name, value in zip(self.names, row):
            if value is not None and name != "prefix":
                props[name] = list(value) if type(value) is tuple else value
        return props

    def items(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every row as (fact key, properties)."""
        for key, row in self.rows.items():
            yield key, self._props(key, row)

    def prefixes(self) -> Iterator[tuple[str, str]]:
        """Every row as (fact key, prefix)."""
        for key, row in self.rows.items():
            yield key, row[0]

    def targets(self, props: dict[str, Any]) -> list[int]:
        """The AS numbers the node of these properties links to by :attr:`rel`."""
        return table_asns(self.label, props)

    def edges(self) -> Iterator[tuple[str, int]]:
        """Every relationship as (fact key, AS number), each row's in :func:`table_asns` order."""
        position = self._index[TABLE_LINKS[self.label][1]]
        for key, row in self.rows.items():
            for asn in table_asns(self.label, {TABLE_LINKS[self.label][1]: row[position]}):
                yield key, asn


def new_tables() -> dict[str, FactTable]:
    """An empty table per :data:`TABLE_LINKS` label."""
    return {label: FactTable(label) for label in TABLE_LINKS}
