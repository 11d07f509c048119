"""Choosing the backend: the embedded log + networkx graph (default), or Kafka + Neo4j (``services``).

The one place that reads ``settings.backend`` to open something: the sink ingest publishes to, the
graph store, the consumer's record source and dead letters, and the alerts topic (writing and
following). Everything else calls these.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from chainrisk.graph.config import Settings
from chainrisk.graph.eventlog.sources import DeadLetters, RecordSource
from chainrisk.graph.eventlog.topics import TopicWriter
from chainrisk.graph.stores.protocol import GraphStore
from chainrisk.ingest.common import EventSink


def _services(settings: Settings) -> bool:
    return settings.backend == "services"


def log_dir(settings: Settings) -> Path:
    """Where the embedded event log lives."""
    return Path(settings.state_dir) / "log"


def event_log_name(settings: Settings) -> str:
    """Which event log ingest publishes to, as the ingest's snapshot state names it
    (graph/snapshot_ledger.py): the Kafka cluster and topic prefix, or the embedded log's folder."""
    if _services(settings):
        return f"kafka {settings.kafka_bootstrap} {settings.topic_prefix}"
    return f"embedded {log_dir(settings).resolve()}"


def open_sink(settings: Settings) -> EventSink:
    """The sink ingest publishes to: Kafka for ``backend = "services"``, else the embedded log."""
    if _services(settings):
        from chainrisk.graph.eventlog.kafka_publish import open_kafka_sink

        return open_kafka_sink(settings)
    from chainrisk.graph.eventlog.embedded import EventLog, EventLogSink
    from chainrisk.graph.statefiles import ensure_private_dir

    # before anything is parsed: a state folder that cannot be written stops the ingest at once
    return EventLogSink(EventLog(ensure_private_dir(log_dir(settings))))


def open_store(settings: Settings) -> GraphStore:
    """The graph store: Neo4j for ``backend = "services"``, else the embedded networkx graph."""
    if _services(settings):
        from chainrisk.graph.stores.neo4j_store import NeoStore

        return NeoStore(settings)
    from chainrisk.graph.stores.nx_store import NxStore

    return NxStore(Path(settings.state_dir))


def _no_retry(action: Callable[[], Any], what: str) -> Any:
    return action()


def open_records(
    settings: Settings,
    store: GraphStore,
    group: str,
    batch_size: int,
    retry: Callable[[Callable[[], Any], str], Any] = _no_retry,
) -> tuple[RecordSource, DeadLetters]:
    """The consumer's record source (positioned at ``store``'s offsets of ``group``) and its
    dead-letter sink: the ingest topics and ``<prefix>.dlq`` on Kafka (topics created if missing),
    else the embedded log's. ``retry(action, what)`` runs each step that needs Kafka (the
    consumer retries while it is unavailable); the embedded log is opened directly."""
    from chainrisk.graph.eventlog import sources

    if _services(settings):
        from chainrisk.graph.eventlog.kafka_io import ensure_topics

        retry(lambda: ensure_topics(settings), "Kafka")
        source: RecordSource = retry(lambda: sources.KafkaSource(settings, store, group, batch_size), "Kafka")
        try:
            return source, sources.KafkaDeadLetters(settings, group)
        except BaseException:
            source.close()
            raise
    from chainrisk.graph.eventlog.embedded import EventLog

    log_source = sources.LogSource(EventLog(log_dir(settings)), store.stored_offsets(group))
    return log_source, sources.LogDeadLetters(EventLog(log_dir(settings)), group)


def open_topic_writer(settings: Settings, topic: str) -> TopicWriter:
    """A writer of raw messages to ``topic`` (e.g. ``"alerts"``): Kafka's ``<prefix>.<topic>``, or
    the embedded log's ``<topic>``."""
    from chainrisk.graph.eventlog import topics

    if _services(settings):
        return topics.KafkaTopicWriter(settings, topic)
    from chainrisk.graph.eventlog.embedded import EventLog

    return topics.LogTopicWriter(EventLog(log_dir(settings)), topic)


def follow_topic(settings: Settings, topic: str) -> Iterator[bytes]:
    """The values written to ``topic`` from now on, as they arrive (endless)."""
    from chainrisk.graph.eventlog import topics

    if _services(settings):
        return topics.follow_kafka_topic(settings, topic)
    from chainrisk.graph.eventlog.embedded import EventLog

    return topics.follow_log_topic(EventLog(log_dir(settings)), topic)
