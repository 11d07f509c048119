"""An alert listing ten thousand blocks reaches the real Kafka alerts topic (a record Kafka takes:
at most 1 MiB), where it once stopped the consumer with MessageSizeTooLargeError."""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from chainrisk.graph.alerts.delivery import TopicDelivery
from chainrisk.graph.config import Settings
from chainrisk.graph.eventlog.kafka_io import ensure_topics

pytestmark = pytest.mark.services


class SnapshotAlert:
    """An alert as the engine hands it over: its block and its dict."""

    block = "10.0.0.0/8"

    def as_dict(self) -> dict[str, Any]:
        return {"id": "big", "type": "rov_left_valid", "block": self.block, "status": "open",
                "affected": [{"block": f"10.{i // 256}.{i % 256}.0/24", "status": "open", "before": "Valid", "after": "NotFound",
                              "lessees": [f"Lessee {i}"], "event_ids": [f"{i:032x}"]} for i in range(10_000)]}


def test_a_ten_thousand_block_alert_is_published(isolated_services: Callable[..., Settings]) -> None:
    from kafka import KafkaConsumer

    settings = isolated_services("alertsize")
    ensure_topics(settings)
    assert len(json.dumps(SnapshotAlert().as_dict())) > 1024 * 1024
    delivery = TopicDelivery(settings)
    try:
        delivery([SnapshotAlert()])
    finally:
        delivery.close()
    consumer = KafkaConsumer(settings.topic("alerts"), auto_offset_reset="earliest", enable_auto_commit=False, group_id=None,
                             consumer_timeout_ms=5000, **settings.kafka_client_config())
    try:
        (record,) = [json.loads(r.value) for r in consumer]
    finally:
        consumer.close()
    assert (record["id"], record["affected_total"], record["affected_truncated"]) == ("big", 10_000, True)
    assert 0 < len(record["affected"]) < 10_000
