"""The consumer against the real Kafka and Neo4j: replay, dead letters, SIGKILL in the middle of a
large ingest, two consumers in one group, and embedded == Neo4j.

Every test uses its own topic prefix and consumer group and starts from an empty Neo4j database
(Community has one user database). Alerts are switched off: these tests compare the graph with a
bare store that applied the same events; the alert engine has its own tests.
"""
from __future__ import annotations

import base64
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from graph_events import lease, mixed_events, role_change_events, synthetic_lease_events
from kafka_events import publish

from chainrisk.graph.backend import open_sink
from chainrisk.graph.config import Settings
from chainrisk.graph.consumer import ConsumerOptions, consume
from chainrisk.graph.stores.neo4j_store import NeoStore
from chainrisk.graph.stores.nx_store import NxStore

pytestmark = pytest.mark.services
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def settings(isolated_services: Callable[..., Settings]) -> Settings:
    """Services settings with a fresh topic prefix and group, alerts off; topics deleted afterwards."""
    return isolated_services("graph", alerts=False, continuous_analysis=False)


def session_of(neo: NeoStore) -> Any:
    """A session on the store's database, to look at (or set up) the graph directly."""
    return neo.driver.session(database=neo.database)


def run_consumer(settings: Settings, **options: Any) -> Any:
    opts = ConsumerOptions(group=settings.consumer_group, batch_size=options.pop("batch_size", 500), until_idle=True,
                           metrics_interval_s=5, **options)
    return consume(settings, options=opts)


def embedded_dump(tmp_path: Path, events: list[Any]) -> tuple[dict[str, Any], Any]:
    """What an uninterrupted embedded store holds after the events, in one pass."""
    store = NxStore(tmp_path / "expected", save_interval_s=3600)
    store.apply_batch(events, {}, "expected")
    return store.canonical_dump(), store.load_portfolio()


def diff(a: dict[str, Any], b: dict[str, Any]) -> str:
    """The first few elements in only one of two dumps (for assertion messages)."""
    left = {json.dumps(x, sort_keys=True) for x in a["nodes"] + a["relationships"]}
    right = {json.dumps(x, sort_keys=True) for x in b["nodes"] + b["relationships"]}
    return f"only left: {sorted(left - right)[:3]}\nonly right: {sorted(right - left)[:3]}"


def test_every_statement_one_event_per_transaction_in_any_order(neo: NeoStore, tmp_path: Path) -> None:
    """Each event type created, updated, retracted and resurrected in its own transaction, in a
    shuffled order: the Neo4j store ends exactly where the embedded store does."""
    events = mixed_events(27)
    random.Random(27).shuffle(events)
    changes = []
    for event in events:
        changes += neo.apply_batch([event], {}, "one-by-one").changes
    expected_store = NxStore(tmp_path / "expected", save_interval_s=3600)
    expected_changes = []
    for event in events:
        expected_changes += expected_store.apply_batch([event], {}, "one-by-one").changes
    dump = neo.canonical_dump()
    assert dump == expected_store.canonical_dump(), diff(dump, expected_store.canonical_dump())
    assert changes == expected_changes
    assert neo.holder_history("240.1.0.0/16") == expected_store.holder_history("240.1.0.0/16")


def _within(neo: NeoStore) -> set[tuple[str, str]]:
    with session_of(neo) as session:  # a test probe
        return {(r["c"], r["p"]) for r in session.run("MATCH (c:Block)-[:WITHIN]->(p:Block) RETURN c.prefix AS c, p.prefix AS p")}


def _apply_in_thread(neo: NeoStore, events: list[Any]) -> threading.Thread:
    thread = threading.Thread(target=neo.apply_batch, args=(events, {}, "other"), daemon=True)
    thread.start()
    return thread


def test_block_creation_waits_only_for_batches_creating_blocks_in_the_same_slash_eight(neo: NeoStore, tmp_path: Path) -> None:
    """A batch whose block transaction created a /16 in 240/8 and has not committed holds 240/8's block lock: a batch
    creating a block in 241/8 goes ahead meanwhile, one creating a /24 inside the /16 waits, then
    sees the /16 and links to it."""
    held_events = [lease("240.1.0.0/16", "Holder A", "Lessee A")]
    with session_of(neo) as session:  # holding a batch's transaction open is the point
        held = session.begin_transaction()
        try:
            prepared = neo.prepare_batch(held_events)
            neo.add_blocks(held, prepared.references.blocks, prepared)  # the blocks' own transaction
            elsewhere = _apply_in_thread(neo, [lease("241.2.3.0/24", "Holder B", "Lessee B")])
            elsewhere.join(timeout=60)
            assert not elsewhere.is_alive(), "a batch in another /8 waited for the open transaction"
            inside = _apply_in_thread(neo, [lease("240.1.2.0/24", "Holder C", "Lessee C")])
            inside.join(timeout=3)
            assert inside.is_alive(), "a block inside the uncommitted /16 was created without waiting for its /8 lock"
            held.commit()
        finally:
            if held.closed() is False:
                held.rollback()
    inside.join(timeout=60)
    assert not inside.is_alive()
    assert _within(neo) == {("240.1.2.0/24", "240.1.0.0/16")}
    neo.apply_batch(held_events, {}, "held")  # the held batch's own transaction (or its replay after a crash)
    expected = NxStore(tmp_path / "expected", save_interval_s=3600)
    expected.apply_batch(held_events + [lease("241.2.3.0/24", "Holder B", "Lessee B"), lease("240.1.2.0/24", "Holder C", "Lessee C")],
                         {}, "expected")
    assert neo.canonical_dump() == expected.canonical_dump()


def _party_labels(neo: NeoStore) -> dict[str, list[str]]:
    with session_of(neo) as session:  # a test probe
        return {r["key"]: sorted(r["labels"]) for r in session.run("MATCH (p:Party) RETURN p.key AS key, labels(p) AS labels")}


def _labels_from_leases(neo: NeoStore) -> dict[str, list[str]]:
    """Party key -> its labels by the rule, read off Neo4j's current LEASES."""
    roles: dict[str, set[str]] = {key: {"Party"} for key in _party_labels(neo)}
    with session_of(neo) as session:
        rows = list(session.run("MATCH (a:Party)-[l:LEASES]->(b:Party) "
                                "RETURN a.key AS a, l.provider_role AS out, b.key AS b, l.recipient_role AS in"))
    for r in rows:
        if r["out"] in ("holder", "upstream", "broker"):
            roles[r["a"]].add(r["out"].capitalize())
        if r["in"] in ("upstream", "broker", "lessee"):
            roles[r["b"]].add(r["in"].capitalize())
    return {key: sorted(found) for key, found in roles.items()}


def test_party_role_labels_follow_the_current_leases(neo: NeoStore, tmp_path: Path) -> None:
    """Hops gaining, changing and losing roles in batches of random size: after every batch each
    party's labels are those its current LEASES give it, and both stores hold the same graph."""
    events = role_change_events(41) + role_change_events(42)
    rng = random.Random(41)
    local = NxStore(tmp_path / "expected", save_interval_s=3600)
    at, lost = 0, 0
    before: dict[str, list[str]] = {}
    while at < len(events):
        chunk = events[at:at + rng.randint(1, 20)]
        at += len(chunk)
        neo.apply_batch(chunk, {}, "roles")
        local.apply_batch(chunk, {}, "roles")
        labels = _party_labels(neo)
        assert labels == _labels_from_leases(neo)
        lost += sum(1 for key, had in before.items() if set(had) - set(labels[key]))
        before = labels
    assert lost > 0, "the events should take roles away too"
    dump = neo.canonical_dump()
    assert dump == local.canonical_dump(), diff(dump, local.canonical_dump())


def test_replay_from_offset_zero_gives_the_identical_graph(settings: Settings, neo: NeoStore, tmp_path: Path) -> None:
    events = mixed_events(21) + mixed_events(22)
    publish(settings, events)
    first = run_consumer(settings, batch_size=37)
    assert first.records == len(events)
    dump = neo.canonical_dump()
    expected, portfolio = embedded_dump(tmp_path, events)
    assert dump == expected, diff(dump, expected)
    assert neo.load_portfolio() == portfolio

    # the same group after the graph (and with it the stored offsets) is gone: from offset 0 again
    neo.wipe()
    replay = run_consumer(settings, batch_size=200)
    assert replay.records == len(events)
    assert neo.canonical_dump() == dump

    # a second group over the existing graph: every event is a duplicate or stale, nothing changes
    again = run_consumer(settings.model_copy(update={"consumer_group": settings.consumer_group + "-again"}))
    assert (again.records, again.applied, again.retracted) == (len(events), 0, 0)
    assert neo.canonical_dump() == dump


def test_poison_messages_go_to_the_dead_letter_topic_and_the_rest_is_applied(settings: Settings, neo: NeoStore,
                                                                             tmp_path: Path) -> None:
    from kafka import KafkaConsumer, KafkaProducer

    events = mixed_events(23)
    publish(settings, events[:40])
    poison = [
        (b"240.1.1.0/24", b"\x00\x01 not json", "not JSON"),
        (b"240.1.2.0/24", b'{"schema_version": 7, "type": "lease_hop"}', "unknown schema_version 7"),
        (b"240.1.3.0/24", json.dumps({**json.loads(events[0].to_json()), "block": "240.1.3.9/24"}).encode(),
         "invalid event: "),
    ]
    producer = KafkaProducer(**settings.kafka_client_config(), acks="all")
    where = []
    for key, value, _ in poison:
        meta = producer.send(settings.topic("relationships"), key=key, value=value).get(timeout=30)
        where.append((meta.topic, meta.partition, meta.offset))
    producer.close()
    publish(settings, events[40:])

    stats = run_consumer(settings, batch_size=25)
    assert stats.dead_lettered == 3 and stats.records == len(events) + 3
    expected, _ = embedded_dump(tmp_path, events)
    assert neo.canonical_dump() == expected

    reader = KafkaConsumer(settings.topic("dlq"), **settings.kafka_client_config(), auto_offset_reset="earliest",
                           enable_auto_commit=False, consumer_timeout_ms=10_000)
    dead = [json.loads(m.value) for m in reader]
    reader.close()
    assert sorted((d["topic"], d["partition"], d["offset"]) for d in dead) == sorted(where)
    by_place = {(d["topic"], d["partition"], d["offset"]): d for d in dead}
    for (key, value, reason), place in zip(poison, where):
        record = by_place[place]
        assert record["reason"].startswith(reason), record["reason"]
        assert record["key"] == key.decode()
        raw = record["value"].encode() if record["value_encoding"] == "utf-8" else base64.b64decode(record["value"])
        assert raw == value


def _lease_count(neo: NeoStore) -> int:
    with session_of(neo) as session:  # a test probe
        return int(session.run("MATCH ()-[l:LEASES]->() RETURN count(l) AS n").single()["n"])


def _consumer_process(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CHAINRISK_TOPIC_PREFIX": settings.topic_prefix, "CHAINRISK_ALERTS": "false", "CHAINRISK_CONTINUOUS_ANALYSIS": "false",
           "CHAINRISK_TOPIC_PARTITIONS": str(settings.topic_partitions)}
    return subprocess.Popen(
        [sys.executable, "-m", "chainrisk.cli.main", "consume", "--backend", "services", "--until-idle",
         "--group", settings.consumer_group, "--state-dir", str(settings.state_dir), "--batch-size", "1000",
         "--metrics-interval", "5"],
        cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=log.open("ab"), stderr=subprocess.STDOUT)


def test_consumer_killed_with_sigkill_during_a_large_ingest_ends_identical(settings: Settings, neo: NeoStore,
                                                                           tmp_path: Path) -> None:
    events = synthetic_lease_events(24_000, seed=11)
    events += mixed_events(24)  # some registrations, retracts, stale versions and duplicates among them
    distinct = len({e.fact_key for e in events if e.type == "lease_hop"})
    publish(settings, events)
    rng = random.Random(4)
    kill_at = sorted(rng.uniform(lo, hi) for lo, hi in ((0.05, 0.3), (0.35, 0.6), (0.65, 0.9)))
    log = tmp_path / "consume.log"
    kills = []
    started = time.monotonic()
    for fraction in kill_at:
        proc = _consumer_process(settings, log)
        deadline = time.monotonic() + 240
        while _lease_count(neo) < fraction * distinct:
            assert proc.poll() is None, f"consumer ended before the kill point:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, "no progress"
            time.sleep(0.2)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills.append(_lease_count(neo))
    final = _consumer_process(settings, log)
    assert final.wait(timeout=480) == 0, log.read_text()[-3000:]
    seconds = time.monotonic() - started

    expected, portfolio = embedded_dump(tmp_path, events)
    dump = neo.canonical_dump()
    assert dump == expected, diff(dump, expected)
    assert neo.load_portfolio() == portfolio
    leases = _lease_count(neo)
    expected_leases = sum(1 for r in expected["relationships"] if r["type"] == "LEASES")
    assert leases == expected_leases  # no lost and no duplicated relationships
    print(f"\nSIGKILL test: {len(events)} events ({distinct} lease facts), killed {len(kills)} times at "
          f"{kills} LEASES, final {leases} LEASES, {len(dump['nodes'])} nodes, {len(dump['relationships'])} relationships, "
          f"{seconds:.0f} s including restarts")


def test_two_consumers_in_one_group_share_the_partitions(settings: Settings, neo: NeoStore, tmp_path: Path) -> None:
    events = synthetic_lease_events(3000, seed=5) + mixed_events(25)
    publish(settings, events)
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    procs = [_consumer_process(settings, log) for log in logs]
    for proc, log in zip(procs, logs):
        assert proc.wait(timeout=300) == 0, log.read_text()[-3000:]
    assigned = [[line for line in log.read_text().splitlines() if "partitions assigned:" in line and "assigned: none" not in line]
                for log in logs]
    assert all(assigned), "each consumer got partitions at some point"
    expected, _ = embedded_dump(tmp_path, events)
    assert neo.canonical_dump() == expected


def test_consume_processes_runs_a_group_of_consumers_that_ends_as_one_would(settings: Settings, neo: NeoStore,
                                                                              tmp_path: Path) -> None:
    """`chainrisk consume --processes 2` starts two consumers in the group (both get partitions),
    exits 0 once both caught up, and the graph is the one the events give."""
    events = synthetic_lease_events(2000, seed=9) + mixed_events(27)
    publish(settings, events)
    log = tmp_path / "consume.log"
    env = {**os.environ, "CHAINRISK_TOPIC_PREFIX": settings.topic_prefix, "CHAINRISK_ALERTS": "false", "CHAINRISK_CONTINUOUS_ANALYSIS": "false",
           "CHAINRISK_TOPIC_PARTITIONS": str(settings.topic_partitions)}
    done = subprocess.run(
        [sys.executable, "-m", "chainrisk.cli.main", "consume", "--backend", "services", "--until-idle", "--processes", "2",
         "--group", settings.consumer_group, "--state-dir", str(settings.state_dir), "--batch-size", "500"],
        cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=log.open("wb"), stderr=subprocess.STDOUT, timeout=300)
    text = log.read_text()
    assert done.returncode == 0, text[-3000:]
    assert text.count("consumed ") == 2, text[-3000:]  # one summary line per process
    expected, _ = embedded_dump(tmp_path, events)
    assert neo.canonical_dump() == expected


def test_embedded_and_services_backends_agree(settings: Settings, neo: NeoStore, tmp_path: Path) -> None:
    events = mixed_events(26) + synthetic_lease_events(500, seed=3)
    embedded = Settings(backend="embedded", state_dir=tmp_path / "embedded", alerts=False, continuous_analysis=False)
    sink = open_sink(embedded)
    for event in events:
        sink.publish(event)
    sink.close()
    run_consumer(embedded.model_copy(update={"consumer_group": "embedded"}), batch_size=64)
    publish(settings, events)
    run_consumer(settings, batch_size=64)
    local = NxStore(embedded.state_dir)
    assert neo.canonical_dump() == local.canonical_dump()
    assert neo.load_portfolio() == local.load_portfolio()
    some_blocks = sorted({e.block for e in events if e.type == "lease_hop"})[:20]
    assert neo.hops_for_blocks(some_blocks) == local.hops_for_blocks(some_blocks)
    assert neo.holder_history("240.1.0.0/16") == local.holder_history("240.1.0.0/16") != []
    blocks = [{"prefix": b, "depth_min": 1, "secured_until": date(2027, 1, 31), "spofs": ["x"], "renewal_gaps": []}
              for b in some_blocks]
    spofs = [{"party": h.provider, "block": h.block, "position": 0} for h in local.hops_for_blocks(some_blocks[:5])]
    for store in (neo, local):
        store.write_analysis(blocks, spofs)
        store.write_analysis(blocks[5:], spofs[:3])  # the second run replaces the first
    assert neo.canonical_dump() == local.canonical_dump()


def test_unavailable_servers_end_with_a_clear_message_and_status_2(settings: Settings, run_cli, free_port) -> None:
    env = {"CHAINRISK_TOPIC_PREFIX": settings.topic_prefix, "CHAINRISK_STATE_DIR": str(settings.state_dir)}
    args = ("consume", "--backend", "services", "--until-idle", "--retries", "2", "--retry-backoff", "0.1")
    neo4j_down = run_cli(*args, env={**env, "CHAINRISK_NEO4J_URI": f"bolt://127.0.0.1:{free_port()}"})
    assert neo4j_down.returncode == 2
    assert "graph store unavailable (ServiceUnavailable" in neo4j_down.stderr and "attempt 1/2" in neo4j_down.stderr
    assert "no offsets moved past the last applied batch" in neo4j_down.stderr
    kafka_down = run_cli(*args, env={**env, "CHAINRISK_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}"})
    assert kafka_down.returncode == 2
    assert "error: Kafka unavailable after 2 attempts" in kafka_down.stderr
    assert "Traceback" not in neo4j_down.stderr + kafka_down.stderr
