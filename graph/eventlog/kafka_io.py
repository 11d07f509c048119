"""Kafka side of the transport (kafka-python 3.0): topic creation and the ingest's EventSink.

Topics ``<prefix>.relationships|routing|reputation|alerts|dlq`` get ``Settings.topic_partitions``
partitions and the broker's default replication. Messages are keyed by the event's block, so all
events about one block land on one partition, in order.

The producer is idempotent (kafka-python 3.0 enables it by default; it is set explicitly here so a
conflicting setting fails loudly): ``acks='all'``, retries until ``delivery_timeout_ms``, at most 5
requests in flight, so a retried send can neither duplicate nor reorder messages within a partition.

The sink picks each keyed message's partition itself, exactly as Kafka's default partitioner does
(murmur2 of the key, made positive, modulo the topic's current partition count), but remembers it
per key: kafka-python's murmur2 is pure Python, and a block's events come in runs.
"""
from __future__ import annotations

import sys
from collections import Counter
from functools import lru_cache
from typing import Any

from chainrisk.graph.config import Settings
from chainrisk.ingest.events import INGEST_TOPICS, TOPIC_OF_TYPE, Event

ALL_TOPICS = (*INGEST_TOPICS, "alerts", "dlq")
KEY_PARTITION_CACHE_SIZE = 1 << 16  # keys whose partition the sink remembers (a miss only costs murmur2 again)


class KafkaDeliveryError(Exception):
    """Some messages were not acknowledged by Kafka; the message says how many and the first error."""


def topic_names(settings: Settings, names: tuple[str, ...] = ALL_TOPICS) -> list[str]:
    return [settings.topic(n) for n in names]


def ensure_topics(settings: Settings, names: tuple[str, ...] = ALL_TOPICS, timeout_ms: int = 30_000) -> list[str]:
    """Create the missing topics (idempotent); returns the names created."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(**settings.kafka_client_config(), request_timeout_ms=timeout_ms, bootstrap_timeout_ms=10_000)
    try:
        existing = set(admin.list_topics())
        missing = [t for t in topic_names(settings, names) if t not in existing]
        if missing:
            spec = {t: {"num_partitions": settings.topic_partitions, "replication_factor": -1} for t in missing}
            response = admin.create_topics(spec, timeout_ms=timeout_ms, raise_errors=False)
            failed = [(t["name"], t.get("error_message") or t["error_code"]) for t in response["topics"]
                      if t["error_code"] not in (0, 36)]  # 36: TOPIC_ALREADY_EXISTS (another process won the race)
            if failed:
                raise RuntimeError(f"Kafka could not create topics: {failed}")
            admin.wait_for_topics(missing, timeout_ms=timeout_ms)
        return missing
    finally:
        admin.close()


def producer_config(settings: Settings) -> dict[str, Any]:
    """KafkaProducer settings: idempotent, all replicas acknowledge, batched."""
    return {
        **settings.kafka_client_config(),
        "acks": "all",
        "enable_idempotence": True,
        "max_in_flight_requests_per_connection": 5,
        "linger_ms": 20,
        "batch_size": 256 * 1024,
        "delivery_timeout_ms": 120_000,
        "request_timeout_ms": 30_000,
    }


def key_partition(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner (Java's and kafka-python's) gives a message with
    ``key`` on a topic with ``partitions`` partitions: murmur2(key) made positive, mod ``partitions``."""
    from kafka.partitioner.default import murmur2

    return (murmur2(key) & 0x7FFFFFFF) % partitions


_remembered_key_partition = lru_cache(maxsize=KEY_PARTITION_CACHE_SIZE)(key_partition)


class KafkaSink:
    """EventSink publishing each event to ``<prefix>.<topic of its type>``, key = block."""

    def __init__(self, settings: Settings, *, create_topics: bool = True, quiet: bool = False) -> None:
        from kafka import KafkaProducer

        if create_topics:
            ensure_topics(settings)
        self.settings = settings
        self.quiet = quiet
        self.producer = KafkaProducer(**producer_config(settings))
        self.sent: Counter[str] = Counter()
        self.failed = 0
        self.first_error: str | None = None
        self._closed = False
        self._topic_of_type = {event_type: settings.topic(name) for event_type, name in TOPIC_OF_TYPE.items()}

    def _on_error(self, exc: BaseException) -> None:
        self.failed += 1
        if self.first_error is None:
            self.first_error = f"{type(exc).__name__}: {exc}"

    def send_raw(self, topic: str, key: bytes | None, value: bytes) -> None:
        """Publish one message to the full topic name ``topic``; a keyed one to the partition Kafka's
        default partitioner would choose (:func:`key_partition`)."""
        partition = None
        if key is not None:
            # the topic's partitions as the producer's metadata has them now (waits for metadata the first time)
            partition = _remembered_key_partition(key, len(self.producer.partitions_for(topic)))
        self.producer.send(topic, key=key, value=value, partition=partition).add_errback(self._on_error)
        self.sent[topic] += 1

    def publish(self, event: Event) -> None:
        self.send_raw(self._topic_of_type[event.type], event.block.encode(), event.to_json())

    def flush(self) -> None:
        """Wait until every message sent so far is acknowledged; raise if any was not."""
        self.producer.flush()
        if self.failed:
            raise KafkaDeliveryError(f"{self.failed} message(s) were not delivered to Kafka: {self.first_error}")

    def summary(self) -> str:
        parts = ", ".join(f"{t} {n}" for t, n in sorted(self.sent.items())) or "nothing"
        return f"kafka: published {sum(self.sent.values())} message(s) ({parts}); {self.failed} failed"

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.flush()
        finally:
            self.producer.close()
            if not self.quiet:
                print(self.summary(), file=sys.stderr)
