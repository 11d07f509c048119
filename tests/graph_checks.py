"""Exact-graph checks in the style of Cartography's ``check_nodes`` / ``check_rels``: read a store's
canonical dump (both stores have ``canonical_dump()``) and return the chosen properties of every
node of a label or every relationship of a type, for a test to compare with a set written out in full.

Nodes are named by the properties a test picks; the ends of a relationship by their label's
identity property unless the test picks others (an Alert by its type and block, say, not its hash id).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


# the property that identifies a node of each label in the dump (fact labels and Retracted: fact_key);
# written out here rather than taken from the store code, which is what these checks test
IDENTITY = {"Party": "key", "Block": "prefix", "AS": "asn", "Maintainer": "name", "Alert": "alert_id"}


def dump_of(store_or_dump: Any) -> dict[str, Any]:
    """A store's canonical dump (a dump passes through: one dump can serve many checks)."""
    return store_or_dump.canonical_dump() if hasattr(store_or_dump, "canonical_dump") else store_or_dump


def check_nodes(store: Any, label: str, key_fields: Sequence[str]) -> set[tuple[Any, ...]]:
    """``key_fields`` of every node carrying ``label`` (absent properties as None). Two nodes with
    the same key fields fail the check: pick fields that tell the nodes apart. A list value comes as a tuple."""
    rows = [tuple(_hashable(n["props"].get(f)) for f in key_fields) for n in dump_of(store)["nodes"] if label in n["labels"]]
    assert len(rows) == len(set(rows)), f"{label} nodes not told apart by {list(key_fields)}: {sorted(rows, key=repr)}"
    return set(rows)


Key = str | Sequence[str] | None


def check_rels(store: Any, rel_type: str, start_label: str, end_label: str, *, start_key: Key = None, end_key: Key = None,
               rel_props: Sequence[str] = ()) -> list[tuple[Any, ...]]:
    """Every ``(start_label)-[:rel_type]->(end_label)`` relationship as ``(start, end, *rel_props)``,
    sorted, repeats kept (two LEASES may join the same parties). ``start`` / ``end`` is the node's
    identity, its ``start_key`` / ``end_key`` property, or the tuple of several. A relationship of
    ``rel_type`` between other labels (pointing the wrong way, say) fails the check."""
    dump = dump_of(store)
    props = {(label, n["props"].get(IDENTITY.get(label, "fact_key"))): n["props"] for n in dump["nodes"] for label in n["labels"]}

    def end(node: list[Any], key: Key) -> Any:
        if key is None:
            return node[1]
        if isinstance(key, str):
            return _hashable(props[(node[0], node[1])].get(key))
        return tuple(_hashable(props[(node[0], node[1])].get(f)) for f in key)

    typed = [r for r in dump["relationships"] if r["type"] == rel_type]
    elsewhere = [(r["start"], r["end"]) for r in typed if (r["start"][0], r["end"][0]) != (start_label, end_label)]
    assert not elsewhere, f"{rel_type} expected only from {start_label} to {end_label}, also found: {elsewhere}"
    rows = [(end(r["start"], start_key), end(r["end"], end_key), *(_hashable(r["props"].get(p)) for p in rel_props)) for r in typed]
    return sorted(rows, key=repr)
