"""The exact graph the embedded store holds for the hand-made risk graph (tests/risk_graph.py): every
node of every label and every relationship of every type, compared with the sets written out in
tests/risk_graph_expected.py. tests/integration/test_exact_graph_neo4j.py runs the same sets against Neo4j."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from graph_checks import check_nodes, check_rels
from risk_graph import build_risk_graph
from risk_graph_expected import NODES, RELS, ROLE_LABELS

from chainrisk.graph.stores.nx_store import NxStore


@pytest.fixture(scope="module")
def dump(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    store = NxStore(Path(tmp_path_factory.mktemp("risk-graph")), save_interval_s=3600)
    try:
        build_risk_graph(store)
        return store.canonical_dump()
    finally:
        store.close()


@pytest.mark.parametrize("label", sorted(NODES))
def test_nodes_of_each_label(dump: dict[str, Any], label: str) -> None:
    fields, expected = NODES[label]
    assert check_nodes(dump, label, fields) == expected


@pytest.mark.parametrize("rel_type", sorted(RELS))
def test_relationships_of_each_type(dump: dict[str, Any], rel_type: str) -> None:
    start, end, keys, expected = RELS[rel_type]
    assert check_rels(dump, rel_type, start, end, **keys) == sorted(expected, key=repr)


def test_the_graph_holds_nothing_else(dump: dict[str, Any]) -> None:
    assert {label for n in dump["nodes"] for label in n["labels"]} == set(NODES)
    assert {r["type"] for r in dump["relationships"]} == set(RELS)
    # role labels sit on Party nodes; every other node has one label
    assert len(dump["nodes"]) == sum(len(rows) for label, (_, rows) in NODES.items() if label not in ROLE_LABELS)
    assert len(dump["relationships"]) == sum(len(rows) for *_, rows in RELS.values())
