"""The neo4j-admin CSV files of the bulk load (graph/stores/neo4j_import.py), read back: every node
and relationship of a folded graph with its labels, typed properties and ends; the consumer's
bookkeeping nodes; values Neo4j could not type refused. (Importing them into a real Neo4j:
tests/integration/test_bulk_load_services.py.) SYNTHETIC DATA in 240.0.0.0/4."""
from __future__ import annotations

import csv
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from graph_events import mixed_events

from chainrisk.graph.stores.neo4j_import import (
    ARRAY_DELIMITER,
    ImportDataError,
    machinery_nodes,
    value_kind,
    write_import_files,
)
from chainrisk.graph.stores.nx_store import NxStore
from chainrisk.graph.stores.records import block_props


def read(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def parse(kind: str, text: str) -> Any:
    if text == "":
        return None
    if kind.endswith("[]"):
        return [parse(kind[:-2], part) for part in text.split(ARRAY_DELIMITER)]
    return {"long": int, "double": float, "string": str, "boolean": lambda t: t == "true",
            "datetime": datetime.fromisoformat, "date": date.fromisoformat}[kind](text)


def test_value_kinds() -> None:
    assert [value_kind(v) for v in (True, 3, 1.5, "x", datetime(2026, 1, 1, tzinfo=timezone.utc), date(2026, 1, 1))] == [
        "boolean", "long", "double", "string", "datetime", "date"]
    assert value_kind(["a", "b"]) == "string[]" and value_kind([1, 2]) == "long[]"
    assert value_kind(None) is None and value_kind([]) is None
    with pytest.raises(ImportDataError, match="mixed types"):
        value_kind([1, "a"])


def test_files_hold_the_folded_graph_exactly(tmp_path: Path) -> None:
    store = NxStore(tmp_path / "fold", persist=False)
    store.apply_batch(mixed_events(4), {("relationships", 0): 10}, "g")
    files = write_import_files(store, tmp_path / "csv", {})
    graph_nodes, graph_edges = dict(store.node_items()), list(store.edge_items())
    assert files.node_count == len(graph_nodes) and files.relationship_count == len(graph_edges)
    ids: dict[str, Any] = {}
    nodes: dict[Any, dict[str, Any]] = {}
    for label, path in files.nodes:
        header, rows = read(path)
        assert header[:2] == [":ID", ":LABEL"]
        columns = [h.split(":") for h in header[2:]]
        for row in rows:
            props = {name: value for (name, kind), text in zip(columns, row[2:]) if (value := parse(kind, text)) is not None}
            labels = tuple(row[1].split(ARRAY_DELIMITER))
            node = next(n for n, d in graph_nodes.items() if n[0] == label and all(d.get(k) == v for k, v in props.items())
                        and len(d) == len(props) + 1)
            ids[row[0]] = node
            nodes[node] = {"labels": labels, **props}
    assert nodes == {n: dict(d) for n, d in graph_nodes.items()}
    edges = []
    for rel_type, path in files.relationships:
        header, rows = read(path)
        assert header[:3] == [":START_ID", ":END_ID", ":TYPE"]
        columns = [h.split(":") for h in header[3:]]
        for row in rows:
            assert row[2] == rel_type
            props = {name: value for (name, kind), text in zip(columns, row[3:]) if (value := parse(kind, text)) is not None}
            edges.append((ids[row[0]], ids[row[1]], sorted({"type": rel_type, **props}.items())))
    assert sorted(edges, key=repr) == sorted(((u, v, sorted(d.items())) for u, v, d in graph_edges), key=repr)
    store.close()


def test_bookkeeping_nodes() -> None:
    blocks = [block_props(p) for p in ("240.1.0.0/16", "240.1.2.0/24", "238.0.0.0/7")]
    extra = machinery_nodes("g", {("relationships", 0): 7, ("routing", 0): 3},
                            {"s1": {"seen": 2, "added": 1, "changed": 0, "unchanged": 0, "stale": 1, "duplicate": 0, "done": True}},
                            ((b["first"], b["last"], b["prefix_length"]) for b in blocks))
    assert extra["ConsumerOffset"] == [{"group": "g", "topic": "relationships", "partition": 0, "next_offset": 7},
                                       {"group": "g", "topic": "routing", "partition": 0, "next_offset": 3}]
    assert extra["SnapshotProgress"][0]["done"] is True and extra["SnapshotProgress"][0]["seen"] == 2
    assert extra["Meta"] == [{"name": "blocks/238", "prefix_lengths": [7]}, {"name": "blocks/239", "prefix_lengths": [7]},
                             {"name": "blocks/240", "prefix_lengths": [16, 24]}]


def test_a_property_of_two_types_is_refused(tmp_path: Path) -> None:
    store = NxStore(tmp_path / "fold", persist=False)
    store.g.add_node(("Party", "a"), labels=("Party",), key="a", party_id="7")
    store.g.add_node(("Party", "b"), labels=("Party",), key="b", party_id=7)
    with pytest.raises(ImportDataError, match="Party.party_id holds values of two types"):
        write_import_files(store, tmp_path / "csv", {})
