"""The lease-chain workers publish to the real Kafka: read back, the messages are the dry-run events,
keyed by block, on the topic of their type."""
from __future__ import annotations

import uuid
from pathlib import Path

import pytest

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
        _delete_topics(kafka_config, prefix)


def _delete_topics(kafka_config: dict, prefix: str) -> None:
    """Remove this test's topics so repeated runs leave nothing behind in the broker."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(**kafka_config)
    try:
        mine = [t for t in admin.list_topics() if t.startswith(f"{prefix}.")]
        if mine:
            admin.delete_topics(mine)
    finally:
        admin.close()
