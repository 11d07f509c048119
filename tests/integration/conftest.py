"""What the integration tests against the real Kafka + Neo4j share: a wiped Neo4j store. Each module
defines its ``settings`` fixture (an ``isolated_services(...)`` call), which ``neo`` uses."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from chainrisk.graph.config import Settings
from chainrisk.graph.stores.neo4j_store import NeoStore


@pytest.fixture
def neo(settings: Settings) -> Iterator[NeoStore]:
    """The Neo4j store of ``settings``, schema ensured and every node deleted first."""
    store = NeoStore(settings)
    store.ensure_schema()
    store.wipe()
    yield store
    store.close()

