"""The exact graph Neo4j holds for the hand-made risk graph (tests/risk_graph.py), loaded through the
project's Neo4j store: the same sets (tests/risk_graph_expected.py) as the embedded store's test,
tests/unit/test_exact_graph.py."""
from __future__ import annotations

from typing import Any

import pytest
from graph_checks import check_nodes, check_rels
from risk_graph import load_risk_graph
from risk_graph_expected import NODES, RELS, ROLE_LABELS

from chainrisk.graph.config import Settings
from chainrisk.graph.stores.neo4j_store import NeoStore

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def dump(services_settings: Settings) -> dict[str, Any]:
    """The canonical dump of the risk graph loaded into the running Neo4j (the database is emptied first)."""
    settings = services_settings.model_copy(update={"backend": "services"})
    load_risk_graph(settings)
    store = NeoStore(settings)
    try:
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
    assert len(dump["nodes"]) == sum(len(rows) for label, (_, rows) in NODES.items() if label not in ROLE_LABELS)
    assert len(dump["relationships"]) == sum(len(rows) for *_, rows in RELS.values())
