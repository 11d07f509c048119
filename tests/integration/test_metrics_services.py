"""`chainrisk consume --metrics-port` against the real Kafka and Neo4j: the same counters as the
embedded default (tests/unit/test_consumer_metrics.py) move by exactly what Neo4j applied, the lag
gauge reaches 0 over the assigned partitions, and /healthz and /readyz answer 200."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from graph_events import mixed_events
from kafka_events import publish
from metrics_http import Samples, by_type, get, outcomes_one_by_one, scrape, wait_for
from own_services import own_neo4j

from chainrisk.graph.config import Settings
from chainrisk.graph.stores.neo4j_store import NeoStore
from chainrisk.ingest.events import INGEST_TOPICS

pytestmark = pytest.mark.services
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def settings(isolated_services: Callable[..., Settings]) -> Settings:
    return isolated_services("metrics", alerts=False, continuous_analysis=False)


def test_metrics_of_a_long_running_services_consumer(settings: Settings, neo: NeoStore, tmp_path: Path, free_port) -> None:
    events = mixed_events(4)
    publish(settings, events)
    expected = outcomes_one_by_one(tmp_path / "direct", events)
    port = free_port()
    env = {**os.environ, "CHAINRISK_TOPIC_PREFIX": settings.topic_prefix, "CHAINRISK_ALERTS": "false", "CHAINRISK_CONTINUOUS_ANALYSIS": "false",
           "CHAINRISK_TOPIC_PARTITIONS": str(settings.topic_partitions), "CHAINRISK_METRICS_PORT": str(port)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "chainrisk.cli.main", "consume", "--backend", "services", "--group", settings.consumer_group,
         "--state-dir", str(settings.state_dir), "--batch-size", "16"],
        cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: scrape(port)[("chainrisk_records_read_total", ())] == len(events), "every record read", proc, timeout=120)
        samples = scrape(port)
        assert by_type(samples) == expected  # the embedded test's expectation, one event at a time
        lags = lambda: [v for (name, _), v in scrape(port).items() if name == "chainrisk_consumer_lag_records"]  # noqa: E731
        wait_for(lambda: len(lags()) == 3 * settings.topic_partitions and set(lags()) == {0}, "lag 0 on every partition", proc)
        stored = {labels: v for (name, labels), v in scrape(port).items() if name == "chainrisk_stored_offset"}
        assert sum(stored.values()) == len(events) and {dict(k)["topic"] for k in stored} <= set(INGEST_TOPICS)
        assert get(port, "/healthz") == (200, "ok\n")
        assert get(port, "/readyz") == (200, "ready\n")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert f"consumed {len(events)} records" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


@pytest.fixture(name="own_neo4j")
def own_neo4j_fixture(services_settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    """A Neo4j of this test's own: the shared one is never stopped."""
    with own_neo4j(services_settings, tmp_path / "own-neo4j") as own:
        yield own


def settled(metrics: Samples) -> float:
    """How many events the consumer has applied (or found retracted, stale or duplicate), while the
    continuous analysis has no applied change waiting; -1 while it has."""
    if metrics.get(("chainrisk_analysis_unanalysed_change_age_seconds", ()), 0.0) > 0:
        return -1
    return sum(value for key, value in metrics.items()
               if key[0] in {f"chainrisk_events_{n}_total" for n in ("applied", "retracted", "stale", "duplicate")})


def test_readyz_follows_neo4j_stopped_and_back(settings: Settings, own_neo4j: Settings, tmp_path: Path, free_port) -> None:
    """A consumer on the shared Kafka and a Neo4j of the test's own, idle after applying every event:
    stopping that Neo4j turns /readyz 503 (the idle probe), starting it again turns it 200 with a
    reconnect counted, and the consumer, never having exited, applies what arrives next."""
    from chainrisk.graph.services import runner

    first, second = mixed_events(5)[:40], mixed_events(6)[:30]
    publish(settings, first)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAINRISK_")} | {
        "CHAINRISK_TOPIC_PREFIX": settings.topic_prefix, "CHAINRISK_ALERTS": "false", "CHAINRISK_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "CHAINRISK_TOPIC_PARTITIONS": str(settings.topic_partitions), "CHAINRISK_METRICS_PORT": str(port),
        "CHAINRISK_NEO4J_URI": own_neo4j.neo4j_uri, "CHAINRISK_STATE_DIR": str(own_neo4j.state_dir)}
    log = (tmp_path / "consumer.log").open("w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "chainrisk.cli.main", "consume", "--backend", "services", "--group", settings.consumer_group,
         "--batch-size", "16", "--retries", "30", "--retry-backoff", "0.5"],
        cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        wait_for(lambda: scrape(port)[("chainrisk_records_read_total", ())] == len(first), "the first events read", proc, timeout=120)
        # idle: every event applied and the continuous analysis caught up (no transaction under way)
        wait_for(lambda: settled(scrape(port)) == len(first), "the first events applied and analysed", proc, timeout=120)
        wait_for(lambda: get(port, "/readyz") == (200, "ready\n"), "ready", proc)
        assert scrape(port)[("chainrisk_consumer_assigned_partitions", ())] == 3 * settings.topic_partitions

        runner.down(own_neo4j, only=(runner.NEO4J,))
        wait_for(lambda: get(port, "/readyz")[0] == 503, "503 with Neo4j stopped", proc, timeout=60)
        status, reason = get(port, "/readyz")
        # the idle probe, or a poll that met a rebalance (it seeks to the offsets stored in Neo4j) retrying
        assert status == 503 and reason.startswith(("graph store unreachable", "graph store unavailable")), reason
        assert scrape(port)[("chainrisk_consumer_ready", ())] == 0
        assert get(port, "/healthz") == (200, "ok\n")

        runner.up(own_neo4j, only=(runner.NEO4J,))
        wait_for(lambda: get(port, "/readyz") == (200, "ready\n"), "200 with Neo4j back", proc, timeout=60)
        assert scrape(port)[("chainrisk_reconnects_total", (("what", "graph store"),))] >= 1

        publish(settings, second)
        wait_for(lambda: settled(scrape(port)) == len(first) + len(second), "the second events applied and analysed", proc)
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
        log.seek(0)
        assert proc.returncode == 0, log.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        log.close()


def test_readyz_is_503_while_no_partition_is_assigned(services_settings: Settings, isolated_services: Callable[..., Settings],
                                                      tmp_path: Path, free_port: Callable[[], int]) -> None:
    """Two consumers in one group over topics of one partition each: the assignor gives all three to
    one member, the other answers 503 "no partitions assigned"; once the first stops, the second is
    given them (after the stopped member's session expires) and answers 200. No event is published:
    Neo4j is only read (the stored offsets)."""
    from chainrisk.graph.eventlog.kafka_io import KafkaSink

    settings = isolated_services("metrics-parts", alerts=False, topic_partitions=1)
    KafkaSink(settings, quiet=True).close()  # the topics, one partition each
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAINRISK_")} | {
        "CHAINRISK_TOPIC_PREFIX": settings.topic_prefix, "CHAINRISK_ALERTS": "false", "CHAINRISK_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "CHAINRISK_NEO4J_URI": settings.neo4j_uri, "CHAINRISK_NEO4J_PASSWORD_FILE": str(services_settings.password_file())}
    procs: dict[int, subprocess.Popen[str]] = {}
    try:
        for n in range(2):
            port = free_port()
            procs[port] = subprocess.Popen(
                [sys.executable, "-m", "chainrisk.cli.main", "consume", "--backend", "services", "--group", settings.consumer_group,
                 "--state-dir", str(tmp_path / f"state{n}"), "--metrics-port", str(port)],
                cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        assigned = lambda port: scrape(port).get(("chainrisk_consumer_assigned_partitions", ()))  # noqa: E731
        first = next(iter(procs.values()))
        wait_for(lambda: sorted(assigned(p) or 0 for p in procs) == [0, 3], "three partitions given to one member", first, timeout=120)
        holder, idle = sorted(procs, key=lambda p: -(assigned(p) or 0))
        wait_for(lambda: get(idle, "/readyz")[0] == 503, "503 on the member without partitions", procs[idle])
        status, reason = get(idle, "/readyz")
        assert reason.startswith("no partitions assigned"), reason
        assert scrape(idle)[("chainrisk_consumer_ready", ())] == 0
        assert get(holder, "/readyz") == (200, "ready\n")

        procs[holder].send_signal(signal.SIGTERM)
        assert procs[holder].wait(timeout=60) == 0
        wait_for(lambda: get(idle, "/readyz") == (200, "ready\n"), "200 once the partitions are reassigned", procs[idle], timeout=120)
        assert assigned(idle) == 3
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
            proc.communicate()
