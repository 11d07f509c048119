"""Test helper: remove the Kafka topics a test made, so repeated runs leave nothing behind in the broker."""
from __future__ import annotations

from typing import Any


def delete_topics(kafka_config: dict[str, Any], prefix: str) -> None:
    """Delete every topic named ``<prefix>.*`` (``kafka_config``: kafka-python client keyword arguments)."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(**kafka_config)
    try:
        mine = [t for t in admin.list_topics() if t.startswith(f"{prefix}.")]
        if mine:
            admin.delete_topics(mine)
    finally:
        admin.close()
