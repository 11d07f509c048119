"""Choosing the backend: the embedded log + networkx graph (default), or Kafka + Neo4j (``services``)."""
from __future__ import annotations

from pathlib import Path

from chainrisk.graph.config import Settings
from chainrisk.graph.stores.protocol import GraphStore
from chainrisk.ingest.common import EventSink


def log_dir(settings: Settings) -> Path:
    """Where the embedded event log lives."""
    return Path(settings.state_dir) / "log"


def open_sink(settings: Settings) -> EventSink:
    """The sink ingest publishes to: Kafka for ``backend = "services"``, else the embedded log."""
    if settings.backend == "services":
        from chainrisk.graph.eventlog.kafka_publish import open_kafka_sink

        return open_kafka_sink(settings)
    from chainrisk.graph.eventlog.embedded import EventLog, EventLogSink
    from chainrisk.graph.statefiles import ensure_private_dir

    # before anything is parsed: a state folder that cannot be written stops the ingest at once
    return EventLogSink(EventLog(ensure_private_dir(log_dir(settings))))


def open_store(settings: Settings) -> GraphStore:
    """The graph store: Neo4j for ``backend = "services"``, else the embedded networkx graph."""
    if settings.backend == "services":
        from chainrisk.graph.stores.neo4j_store import NeoStore

        return NeoStore(settings)
    from chainrisk.graph.stores.nx_store import NxStore

    return NxStore(Path(settings.state_dir))
