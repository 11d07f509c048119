"""The parallel Kafka sink against the real Kafka: what it publishes is exactly what the
single-process KafkaSink publishes (per partition the same sequence of keys and values), through the
CLI too, and a publisher that fails or dies is an error with counts, never a silent loss."""
from __future__ import annotations

import os
import signal
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest
from kafka_topics import delete_topics

from chainrisk.graph.config import Settings
from chainrisk.ingest.events import Event

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def lease_events(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Event]]:
    """A generated register (about 4,800 lease hops) and the events the leases worker parses from it."""
    from chainrisk import synthetic
    from chainrisk.ingest import leases
    from chainrisk.ingest.common import ParseContext, SourceFile

    register = tmp_path_factory.mktemp("parallel") / "register.csv"
    synthetic.write_register(synthetic.generate(2000, seed=11), register)
    with SourceFile(register) as src:
        events = list(leases.parse(src, ParseContext(reference=str(register), ingested_at=datetime(2026, 1, 1, tzinfo=timezone.utc))))
    return register, events


@pytest.fixture
def prefix(kafka_config: dict) -> str:
    """A fresh topic prefix; its topics are deleted after the test."""
    name = f"test-parallel-{uuid.uuid4().hex[:10]}"
    yield name
    delete_topics(kafka_config, name)


def read_partitions(kafka_config: dict, topic: str, timeout_s: float = 30.0) -> dict[int, list[tuple[bytes, bytes]]]:
    """Every message of ``topic`` (up to its end offsets now) as {partition: [(key, value), ...] in offset order}."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(**kafka_config, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        read: dict[int, list[tuple[bytes, bytes]]] = {tp.partition: [] for tp in partitions}
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < ends[tp] for tp in partitions) and time.monotonic() < deadline:
            for tp, messages in consumer.poll(timeout_ms=1000).items():
                read[tp.partition].extend((m.key, m.value) for m in messages)
        return read
    finally:
        consumer.close()


def is_running(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie (dead, not yet reaped)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def publish_all(sink, events: list[Event]) -> None:
    try:
        for event in events:
            sink.publish(event)
    finally:
        sink.close()


@pytest.mark.parametrize("processes", [2, 3])
def test_parallel_sink_publishes_what_the_single_process_sink_publishes(
        services_settings: Settings, kafka_config: dict, prefix: str, lease_events: tuple[Path, list[Event]], processes: int) -> None:
    from chainrisk.graph.eventlog.kafka_io import KafkaSink, key_partition
    from chainrisk.graph.eventlog.kafka_publish import ParallelKafkaSink

    _register, events = lease_events
    single = Settings(state_dir=services_settings.state_dir, topic_prefix=f"{prefix}.single")
    parallel = Settings(state_dir=services_settings.state_dir, topic_prefix=f"{prefix}.parallel")
    publish_all(KafkaSink(single, quiet=True), events)
    sink = ParallelKafkaSink(parallel, processes, quiet=True, chunk_records=97)  # many chunks, of odd sizes
    publish_all(sink, events)
    assert sink.failed == 0 and sum(sink.sent.values()) == len(events)

    expected = read_partitions(kafka_config, single.topic("relationships"))
    published = read_partitions(kafka_config, parallel.topic("relationships"))
    assert sum(map(len, published.values())) == len(events)
    assert published == expected
    # and each partition holds its events in file order (a block's events in order)
    for partition, messages in published.items():
        assert messages == [(e.block.encode(), e.to_json()) for e in events if key_partition(e.block.encode(), 6) == partition]


def test_cli_ingest_publishes_through_the_configured_processes(
        services_settings: Settings, kafka_config: dict, prefix: str, lease_events: tuple[Path, list[Event]], run_cli, tmp_path: Path) -> None:
    from chainrisk.graph.eventlog.kafka_io import key_partition
    from chainrisk.ingest.events import decode_event

    register, events = lease_events
    env = {"CHAINRISK_TOPIC_PREFIX": prefix, "CHAINRISK_STATE_DIR": str(services_settings.state_dir), "CHAINRISK_PUBLISH_PROCESSES": "2"}
    done = run_cli("ingest", "leases", str(register), "--backend", "services", "--quiet", "--rejects", str(tmp_path / "rejects.jsonl"), env=env)
    assert done.returncode == 0, done.stderr
    assert f"published {len(events)} message(s)" in done.stderr and "through 2 publisher processes; 0 failed" in done.stderr
    # the CLI stamps its own ingested_at: compare keys and event ids, each partition in file order
    published = read_partitions(kafka_config, f"{prefix}.relationships")
    assert {p: [(key, decode_event(value).event_id) for key, value in messages] for p, messages in published.items()} == {
        p: [(e.block.encode(), e.event_id) for e in events if key_partition(e.block.encode(), 6) == p] for p in published}
    assert sum(map(len, published.values())) == len(events)


def test_a_killed_publisher_is_an_error_with_the_count_it_may_have_lost(
        services_settings: Settings, kafka_config: dict, prefix: str, lease_events: tuple[Path, list[Event]]) -> None:
    from chainrisk.graph.eventlog.kafka_io import KafkaDeliveryError, key_partition
    from chainrisk.graph.eventlog.kafka_publish import ParallelKafkaSink, publisher_of

    _register, events = lease_events
    settings = Settings(state_dir=services_settings.state_dir, topic_prefix=prefix)
    sink = ParallelKafkaSink(settings, 2, quiet=True, chunk_records=50)
    half = len(events) // 2
    before, after = events[:half], events[half:]
    for event in before:
        sink.publish(event)
    sink.flush()  # everything so far is acknowledged
    victim = sink.pids[1]
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while is_running(victim) and time.monotonic() < deadline:  # the sink reaps it later
        time.sleep(0.05)
    to_victim = [e for e in after if publisher_of(key_partition(e.block.encode(), 6), 2) == 1]
    to_survivor = [e for e in after if publisher_of(key_partition(e.block.encode(), 6), 2) == 0]
    assert to_victim and to_survivor

    with pytest.raises(KafkaDeliveryError, match=rf"publisher process 2 of 2 \(pid {victim}\) died \(killed by signal SIGKILL\)"):
        for event in after:
            sink.publish(event)  # the first chunk handed to the dead publisher fails at once
    published_after_death = after[:after.index(event) + 1]
    lost = sum(1 for e in published_after_death if publisher_of(key_partition(e.block.encode(), 6), 2) == 1)
    with pytest.raises(KafkaDeliveryError) as closing:
        sink.close()
    assert str(closing.value).startswith(f"{lost} message(s) were not delivered to Kafka: publisher process 2 of 2 (pid {victim}) died "
                                         f"(killed by signal SIGKILL); {lost} message(s) handed to it since its last confirmed flush may be lost")
    assert all(p.process.poll() is not None for p in sink._publishers)  # no publisher left running

    # the survivor's partitions hold all their events; the victim's at least the flushed ones
    published = read_partitions(kafka_config, settings.topic("relationships"))
    survivor_expected = [e for e in before + published_after_death if publisher_of(key_partition(e.block.encode(), 6), 2) == 0]
    assert sorted(m for p, ms in published.items() if publisher_of(p, 2) == 0 for m in ms) == sorted((e.block.encode(), e.to_json()) for e in survivor_expected)
    victim_flushed = {(e.block.encode(), e.to_json()) for e in before if publisher_of(key_partition(e.block.encode(), 6), 2) == 1}
    assert victim_flushed <= {m for p, ms in published.items() if publisher_of(p, 2) == 1 for m in ms}


def test_a_message_kafka_refuses_is_counted_and_named(services_settings: Settings, prefix: str, lease_events: tuple[Path, list[Event]]) -> None:
    from chainrisk.graph.eventlog.kafka_io import KafkaDeliveryError
    from chainrisk.graph.eventlog.kafka_publish import ParallelKafkaSink

    _register, events = lease_events
    settings = Settings(state_dir=services_settings.state_dir, topic_prefix=prefix)
    sink = ParallelKafkaSink(settings, 2, quiet=True)
    for event in events[:100]:
        sink.publish(event)
    sink.send_raw(settings.topic("relationships"), b"240.0.0.0/24", b"x" * (2 * 1024 * 1024))  # over the producer's max_request_size
    with pytest.raises(KafkaDeliveryError, match=r"^1 message\(s\) were not delivered to Kafka: publisher process [12] of 2 \(pid \d+\): MessageSizeTooLargeError"):
        sink.flush()
    sink.close()  # the failure was raised once already; closing does not raise it again
    assert sink.failed == 1 and sum(sink.sent.values()) == 101


def test_ctrl_c_stops_the_ingest_and_its_publishers(services_settings: Settings, prefix: str, tmp_path: Path) -> None:
    """SIGINT to the ingest (as Ctrl-C sends to the terminal's process group) ends it and its
    publisher processes within seconds."""
    import subprocess
    import sys

    from chainrisk import synthetic

    register = tmp_path / "big.csv"
    synthetic.write_register(synthetic.generate(60_000, seed=3), register)
    env = {**os.environ, "CHAINRISK_TOPIC_PREFIX": prefix, "CHAINRISK_STATE_DIR": str(services_settings.state_dir),
           "CHAINRISK_PUBLISH_PROCESSES": "2"}
    ingest = subprocess.Popen([sys.executable, "-m", "chainrisk.cli.main", "ingest", "leases", str(register), "--backend", "services", "--quiet",
                               "--rejects", str(tmp_path / "rejects.jsonl")], env=env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    children: set[int] = set()
    deadline = time.monotonic() + 60
    while len(children) < 2 and time.monotonic() < deadline and ingest.poll() is None:
        for task in Path(f"/proc/{ingest.pid}/task").iterdir():
            children.update(int(pid) for pid in (task / "children").read_text().split())
        time.sleep(0.1)
    assert len(children) == 2, "the ingest did not start two publisher processes"
    time.sleep(2)  # publishing
    os.killpg(ingest.pid, signal.SIGINT)  # the whole group, as a terminal's Ctrl-C does
    _out, err = ingest.communicate(timeout=60)
    assert ingest.returncode != 0
    assert "Traceback" not in err
    assert not [pid for pid in children if is_running(pid)]
