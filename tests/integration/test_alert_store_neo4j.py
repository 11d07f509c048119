"""The Neo4j store's alert operations (``load_alerts`` / ``save_alerts`` of the GraphStore protocol,
acknowledging through them) give what the embedded store gives, step by step: the same alerts back,
the same Alert nodes and CONCERNS / AFFECTS relationships (tests/unit/test_alert_store.py checks
the embedded store's)."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from alert_cases import run_alert_operations, upstream_alert

from chainrisk.graph.config import Settings
from chainrisk.graph.stores.neo4j_store import NeoStore
from chainrisk.graph.stores.nx_store import NxStore

pytestmark = pytest.mark.services


def test_neo4j_alert_operations_match_the_embedded_store(isolated_services: Callable[..., Settings], tmp_path: Path) -> None:
    neo = NeoStore(isolated_services("alert-store"))
    try:
        neo.ensure_schema()
        neo.wipe()
        on_neo4j = run_alert_operations(neo)
        neo_dump = neo.canonical_dump()
    finally:
        neo.close()
    embedded = NxStore(tmp_path, save_interval_s=3600)
    embedded_steps = run_alert_operations(embedded)

    assert len(on_neo4j["saved"]["all"]) == 2 and len(on_neo4j["saved"]["elements"]["rels"]) == 4
    assert on_neo4j["after_ack"]["by_id"][0]["status"] == "acknowledged"
    assert on_neo4j["after_ack"]["by_id"][0]["id"] == upstream_alert().alert_id
    for step in ("empty", "saved", "replaced", "acknowledged", "after_ack", "ack_errors"):
        assert on_neo4j[step] == embedded_steps[step], step
    assert neo_dump == embedded.canonical_dump()
