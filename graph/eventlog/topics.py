"""Writing to and following one topic of raw (key, value) messages - the alerts topic - on the
embedded log or on Kafka. ``graph/backend.py`` picks the one for the configured backend.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any, Protocol

from chainrisk.graph.config import Settings


class TopicWriter(Protocol):
    def write(self, messages: list[tuple[bytes, bytes]]) -> None:
        """Append ``(key, value)`` messages; durable (fsynced / acknowledged) on return."""

    def close(self) -> None: ...


class LogTopicWriter:
    """Appends to a topic of the embedded log (which keeps values only: one partition, no keys)."""

    def __init__(self, event_log: Any, topic: str) -> None:
        self.log = event_log
        self.topic = topic

    def write(self, messages: list[tuple[bytes, bytes]]) -> None:
        self.log.append(self.topic, [value for _, value in messages])

    def close(self) -> None:
        self.log.close()


class KafkaTopicWriter:
    """Publishes to the Kafka topic ``<prefix>.<topic>``, each message to its key's partition."""

    def __init__(self, settings: Settings, topic: str) -> None:
        from chainrisk.graph.eventlog.kafka_io import KafkaSink

        self.topic = settings.topic(topic)
        self.sink = KafkaSink(settings, create_topics=False, quiet=True)

    def write(self, messages: list[tuple[bytes, bytes]]) -> None:
        for key, value in messages:
            self.sink.send_raw(self.topic, key, value)
        self.sink.flush()

    def close(self) -> None:
        self.sink.close()


def follow_log_topic(event_log: Any, topic: str, poll_s: float = 0.5) -> Iterator[bytes]:
    """The values appended to the embedded log's ``topic`` from now on, as they arrive (endless)."""
    offset = event_log.end_offset(topic)
    while True:
        records = event_log.read(topic, offset, 100)
        for record in records:
            yield record.value
        if records:
            offset = records[-1].offset + 1
        else:
            time.sleep(poll_s)


def follow_kafka_topic(settings: Settings, topic: str) -> Iterator[bytes]:
    """The values published to Kafka's ``<prefix>.<topic>`` from now on, as they arrive (endless;
    no consumer group: nothing is committed)."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(settings.topic(topic), auto_offset_reset="latest", enable_auto_commit=False,
                             group_id=None, **settings.kafka_client_config())
    try:
        for record in consumer:
            yield record.value
    finally:
        consumer.close()
