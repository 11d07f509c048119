"""The time of the last full analysis, recorded with the graph: Neo4j keeps what the embedded store
keeps (a reopened store reads it back; the graph's dump does not change)."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from chainrisk.graph.config import Settings
from chainrisk.graph.stores.neo4j_store import NeoStore
from chainrisk.graph.stores.nx_store import NxStore
from chainrisk.graph.stores.protocol import GraphStore

pytestmark = pytest.mark.services
AT = datetime(2026, 11, 20, 6, 30, tzinfo=timezone.utc)


def record_twice(store: GraphStore, reopen: Callable[[], GraphStore]) -> list[datetime | None]:
    seen = [store.last_full_analysis()]
    dump = store.canonical_dump()
    store.record_full_analysis(AT)
    store.record_full_analysis(AT + timedelta(hours=1))  # the later run replaces the earlier
    assert store.canonical_dump() == dump  # machinery, not graph
    store.close()
    again = reopen()
    try:
        seen.append(again.last_full_analysis())
    finally:
        again.close()
    return seen


def test_neo4j_records_the_last_full_analysis_as_the_embedded_store_does(isolated_services: Callable[..., Settings], tmp_path: Path) -> None:
    settings = isolated_services("full-analysis")
    neo = NeoStore(settings)
    neo.ensure_schema()
    neo.wipe()
    on_neo4j = record_twice(neo, lambda: NeoStore(settings))
    embedded = record_twice(NxStore(tmp_path), lambda: NxStore(tmp_path))
    assert on_neo4j == embedded == [None, AT + timedelta(hours=1)]
