"""Publishing test events to the real Kafka (integration tests and benchmarks' smoke tests)."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from chainrisk.graph.config import Settings
from chainrisk.graph.eventlog.kafka_io import KafkaSink


def publish(settings: Settings, events: Iterable[Any]) -> None:
    """Publish ``events`` to the topics of ``settings`` and wait until Kafka has acknowledged them all."""
    sink = KafkaSink(settings, quiet=True)
    for event in events:
        sink.publish(event)
    sink.close()
