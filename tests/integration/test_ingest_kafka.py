"""The lease-chain workers publish to the real Kafka: read back, the messages are the dry-run events,
keyed by block, on the topic of their type."""
from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from kafka_topics import delete_topics

from chainrisk.ingest.events import TOPIC_OF_TYPE, decode_event

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real"
SAMPLES = [
    ("arin", "arin_rdap_whois/arin_whois_n+104.144.194.0_2018.txt"),
    ("rpsl", "rpsl_whois/ipwhois_whois_responses_multi_rir.json"),
    ("transfers", "transfers/arin_transfers_example_from_nro-transfer-log-draft.json"),
]


def _read_topic(kafka_config: dict, topic: str, expected: int) -> list[tuple[bytes, bytes]]:
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(topic, **kafka_config, auto_offset_reset="earliest", enable_auto_commit=False, consumer_timeout_ms=10_000)
    try:
        messages: list[tuple[bytes, bytes]] = []
        for message in consumer:
            messages.append((message.key, message.value))
            if len(messages) >= expected:
                break
        return messages
    finally:
        consumer.close()


@pytest.mark.services
@pytest.mark.parametrize(("worker", "relative"), SAMPLES)
def test_published_events_read_back_from_kafka(services_settings, kafka_config, run_cli, tmp_path: Path, worker: str, relative: str) -> None:
    sample = REAL / relative
    if not sample.is_file():
        pytest.skip(f"real sample {relative} not found under {REAL}")
    prefix = f"test-ingest-{uuid.uuid4().hex[:10]}"
    env = {"CHAINRISK_TOPIC_PREFIX": prefix, "CHAINRISK_STATE_DIR": str(services_settings.state_dir)}
    args = ("ingest", worker, str(sample), "--observed-at", "2024-01-01", "--rejects", str(tmp_path / "rejects.jsonl"))
    dry = run_cli(*args, "--dry-run", env=env)
    assert dry.returncode == 0, dry.stderr
    expected = [decode_event(line) for line in dry.stdout.splitlines()]
    assert expected
    try:
        published = run_cli(*args, "--backend", "services", env=env)
        assert published.returncode == 0, published.stderr
        for topic in sorted({TOPIC_OF_TYPE[e.type] for e in expected}):
            wanted = [e for e in expected if TOPIC_OF_TYPE[e.type] == topic]
            messages = _read_topic(kafka_config, f"{prefix}.{topic}", len(wanted))
            events = [decode_event(value) for _key, value in messages]
            assert sorted(e.event_id for e in events) == sorted(e.event_id for e in wanted)
            assert all(key == event.block.encode() for (key, _value), event in zip(messages, events))
    finally:
        delete_topics(kafka_config, prefix)


@pytest.mark.services
def test_kafka_sink_partitions_as_the_default_partitioner_in_file_order(services_settings, kafka_config, tmp_path: Path) -> None:
    """KafkaSink picks partitions itself: every message lands where a producer with Kafka's default
    partitioner puts the same key, with the value the event serialises to, and each partition holds
    its events in file order (so a block's events stay in order)."""
    from datetime import datetime, timezone

    from kafka import KafkaProducer

    from chainrisk import synthetic
    from chainrisk.graph.config import Settings
    from chainrisk.graph.eventlog.kafka_io import KafkaSink, ensure_topics, key_partition
    from chainrisk.ingest import leases
    from chainrisk.ingest.common import ParseContext, SourceFile

    register = tmp_path / "register.csv"
    synthetic.write_register(synthetic.generate(150, seed=5), register)
    with SourceFile(register) as src:
        events = list(leases.parse(src, ParseContext(reference=str(register), ingested_at=datetime(2026, 1, 1, tzinfo=timezone.utc))))
    prefix = f"test-partitions-{uuid.uuid4().hex[:10]}"
    settings = Settings(state_dir=services_settings.state_dir, topic_prefix=prefix)
    try:
        sink = KafkaSink(settings, quiet=True)
        assert sink.producer.config["enable_idempotence"] is True and sink.producer.config["acks"] in ("all", -1)
        for event in events:
            sink.publish(event)
        sink.close()
        ensure_topics(settings, ("default-partitioner",))
        plain = KafkaProducer(**kafka_config)  # kafka-python's DefaultPartitioner (murmur2 of the key)
        for event in events:
            plain.send(f"{prefix}.default-partitioner", key=event.block.encode(), value=event.to_json())
        plain.flush()
        plain.close()
        published = _read_records(kafka_config, f"{prefix}.relationships", len(events))
        reference = _read_records(kafka_config, f"{prefix}.default-partitioner", len(events))
    finally:
        delete_topics(kafka_config, prefix)
    assert sorted(published) == sorted(reference)  # same (partition, key, value) triples
    for partition in {p for p, _k, _v in published}:
        in_file_order = [(e.block.encode(), e.to_json()) for e in events if key_partition(e.block.encode(), settings.topic_partitions) == partition]
        assert [(k, v) for p, k, v in published if p == partition] == in_file_order


def _read_records(kafka_config: dict, topic: str, expected: int) -> list[tuple[int, bytes, bytes]]:
    """(partition, key, value) of the topic's first ``expected`` messages, each partition in offset order."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(topic, **kafka_config, auto_offset_reset="earliest", enable_auto_commit=False, consumer_timeout_ms=10_000)
    try:
        records: list[tuple[int, int, bytes, bytes]] = []
        for message in consumer:
            records.append((message.partition, message.offset, message.key, message.value))
            if len(records) >= expected:
                break
    finally:
        consumer.close()
    return [(p, k, v) for p, _o, k, v in sorted(records)]
