"""The Kafka source against the real Kafka: a record on a quiet partition reaches the consumer loop
ahead of a backlog on other partitions (the backlog already fetched), and every record still comes
exactly once, in offset order per partition."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from chainrisk.graph.eventlog.kafka_io import ensure_topics, key_partition
from chainrisk.graph.eventlog.sources import KafkaSource, RawRecord
from chainrisk.graph.stores.nx_store import NxStore

BULK = 6_000
BATCH = 500


@pytest.mark.services
def test_a_quiet_partition_is_not_held_behind_a_backlog(isolated_services, tmp_path: Path) -> None:
    from kafka import KafkaProducer

    settings = isolated_services("fair", state_dir=tmp_path)
    ensure_topics(settings)
    relationships, routing = settings.topic("relationships"), settings.topic("routing")
    producer = KafkaProducer(**settings.kafka_client_config())
    for n in range(BULK):
        key = f"bulk-{n}".encode()
        producer.send(relationships, key=key, value=b"x" * 500, partition=key_partition(key, settings.topic_partitions))
    producer.flush()
    store = NxStore(tmp_path)
    source = KafkaSource(settings, store, settings.consumer_group, BATCH)
    try:
        seen: list[RawRecord] = []
        deadline = time.monotonic() + 60
        while not seen and time.monotonic() < deadline:
            seen.extend(source.poll(BATCH, 1.0))  # the backlog is being fetched
        producer.send(routing, key=b"probe", value=b"probe", partition=0)
        producer.flush()
        probe_batch = None
        batches = 0
        while len(seen) < BULK + 1 and time.monotonic() < deadline:
            batch = source.poll(BATCH, 0.2)
            if not batch:
                continue
            batches += 1
            if any(r.topic == routing for r in batch):
                probe_batch = batches
            seen.extend(batch)
            time.sleep(0.05)  # the loop applies each batch before it polls again
    finally:
        source.close()
        store.close()
        producer.close()
    assert len(seen) == BULK + 1
    assert probe_batch is not None and probe_batch <= 3, f"the probe came in batch {probe_batch} of {batches}"
    for partition in range(settings.topic_partitions):
        offsets = [r.offset for r in seen if r.topic == relationships and r.partition == partition]
        assert offsets == list(range(len(offsets)))  # each once, in order
