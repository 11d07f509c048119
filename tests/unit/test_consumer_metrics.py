"""`chainrisk consume --metrics-port`: a long-running consumer on the embedded default serves
/metrics (parsed with prometheus_client's own parser), /healthz and /readyz, and its counters move
by exactly what the store applied."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from graph_events import mixed_events
from metrics_http import Samples, by_type, get, outcomes_one_by_one, scrape, wait_for

from chainrisk.common.timestamps import as_utc
from chainrisk.graph.backend import open_sink
from chainrisk.graph.config import load_settings
from chainrisk.graph.eventlog.embedded import EventLog
from chainrisk.graph.metrics import OUTCOMES, ConsumerMetrics, serve
from chainrisk.ingest.events import INGEST_TOPICS

REPO_ROOT = Path(__file__).resolve().parents[2]
POISON = [b"not json at all", b'{"schema_version": 2, "type": "lease_hop"}']


def publish(state: Path, events: list) -> None:
    sink = open_sink(load_settings(state_dir=state))
    for event in events:
        sink.publish(event)
    sink.close()


@pytest.fixture
def consumer(tmp_path: Path, free_port: Callable[[], int]) -> Iterator[Callable[..., tuple[subprocess.Popen[str], int]]]:
    procs: list[subprocess.Popen[str]] = []

    def start(state: Path, *args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], int]:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHAINRISK_")} | {"CHAINRISK_ALERTS": "false", "CHAINRISK_CONTINUOUS_ANALYSIS": "false"} | (env or {})
        proc = subprocess.Popen([sys.executable, "-m", "chainrisk.cli.main", "consume", "--state-dir", str(state),
                                 "--metrics-port", str(port), "--batch-size", "16", *args],
                                cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        procs.append(proc)
        return proc, port

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_metrics_and_health_of_a_long_running_embedded_consumer(tmp_path: Path, consumer) -> None:
    state = tmp_path / "state"
    events = mixed_events(3)
    publish(state, events[:25])
    EventLog(state / "log").append("relationships", POISON)
    publish(state, events[25:])
    expected = outcomes_one_by_one(tmp_path / "direct", events)
    assert {outcome for _, _, outcome in expected} == set(OUTCOMES)  # the mix exercises every outcome
    records = len(events) + len(POISON)

    started = time.time()
    proc, port = consumer(state)
    wait_for(lambda: scrape(port)[("chainrisk_records_read_total", ())] == records, "every record read", proc)
    samples = scrape(port)
    assert by_type(samples) == expected
    assert samples[("chainrisk_events_dead_lettered_total", (("topic", "relationships"), ("type", "lease_hop")))] == 1
    assert samples[("chainrisk_events_dead_lettered_total", (("topic", "relationships"), ("type", "unknown")))] == 1
    assert samples[("chainrisk_batch_apply_seconds_count", ())] == samples[("chainrisk_batches_total", ())] > 0
    assert samples[("chainrisk_event_to_graph_seconds_count", ())] == samples[("chainrisk_batches_total", ())]
    # each batch observes its oldest event's age at its commit: between the youngest and the oldest event's age now
    ingested = [as_utc(e.provenance.ingested_at).timestamp() for e in events]
    batches = samples[("chainrisk_batches_total", ())]
    assert batches * (started - max(ingested)) <= samples[("chainrisk_event_to_graph_seconds_sum", ())] <= batches * (time.time() - min(ingested))
    log = EventLog(state / "log")
    ends = {topic: log.end_offset(topic) for topic in INGEST_TOPICS}
    log.close()
    assert {t: samples[("chainrisk_stored_offset", (("partition", "0"), ("topic", t)))] for t in ends if ends[t]} == \
        {t: n for t, n in ends.items() if n}
    wait_for(lambda: partition_samples(scrape(port), "chainrisk_consumer_lag_records") == dict.fromkeys(INGEST_TOPICS, 0.0), "lag 0", proc)
    assert scrape(port)[("chainrisk_consumer_assigned_partitions", ())] == len(INGEST_TOPICS)
    assert get(port, "/healthz") == (200, "ok\n")
    assert get(port, "/readyz") == (200, "ready\n")
    assert scrape(port)[("chainrisk_consumer_ready", ())] == 1
    assert get(port, "/nothing")[0] == 404

    # the same events again: every one a duplicate or stale, nothing applied; the counters move by exactly that
    publish(state, events)
    wait_for(lambda: scrape(port)[("chainrisk_records_read_total", ())] == records + len(events), "the replay read", proc)
    after = scrape(port)
    assert total(after, "applied") == total(samples, "applied") and total(after, "retracted") == total(samples, "retracted")
    moved = sum(total(after, n) - total(samples, n) for n in ("stale", "duplicate"))
    assert moved == len(events)
    for (name, labels), _ in after.items():  # bounded labels only: never a prefix or a party
        assert {key for key, _ in labels} <= {"topic", "partition", "type", "kind", "status", "target", "what", "le"}, (name, labels)

    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert f"consumed {records + len(events)} records" in out


def total(samples: Samples, outcome: str) -> float:
    return sum(v for (name, _), v in samples.items() if name == f"chainrisk_events_{outcome}_total")


def partition_samples(samples: Samples, metric: str) -> dict[str, float]:
    return {dict(labels)["topic"]: v for (name, labels), v in samples.items() if name == metric}


def test_readyz_is_503_with_the_reason_until_the_consumer_runs_and_while_it_retries() -> None:
    metrics = ConsumerMetrics()
    server = serve(metrics, "127.0.0.1", 0)
    try:
        status, body = get(server.port, "/readyz")
        assert status == 503 and body.startswith("starting")
        assert get(server.port, "/healthz")[0] == 200
        metrics.running()
        assert get(server.port, "/readyz") == (200, "ready\n")
        metrics.retrying("graph store", ConnectionRefusedError("refused"), 2, 6)
        assert get(server.port, "/readyz") == (503, "graph store unavailable (ConnectionRefusedError), attempt 2/6: retrying\n")
        assert scrape(server.port)[("chainrisk_retries_total", (("what", "graph store"),))] == 1
        metrics.recovered("graph store")
        assert get(server.port, "/readyz")[0] == 200
        assert scrape(server.port)[("chainrisk_reconnects_total", (("what", "graph store"),))] == 1
    finally:
        server.close()


def test_metrics_port_in_use_is_a_clear_error(tmp_path: Path, run_cli) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = run_cli("consume", "--until-idle", "--state-dir", str(tmp_path / "s"), "--metrics-port", str(port))
    assert done.returncode == 1 and f"cannot serve metrics on 127.0.0.1:{port}" in done.stderr and "Traceback" not in done.stderr


def test_metrics_port_with_several_processes_is_refused(tmp_path: Path, run_cli) -> None:
    done = run_cli("consume", "--processes", "2", "--backend", "services", "--state-dir", str(tmp_path / "s"), "--metrics-port", "9400")
    assert done.returncode == 1 and "serves one process" in done.stderr


def test_readyz_is_503_while_the_graph_store_is_unreachable(tmp_path: Path, consumer, free_port: Callable[[], int]) -> None:
    """Nothing listens on the Neo4j port: the consumer retries, /healthz stays 200 and /readyz says why it is not ready."""
    proc, port = consumer(tmp_path / "s", "--backend", "services", "--retries", "20", "--retry-backoff", "0.2",
                          env={"CHAINRISK_NEO4J_URI": f"bolt://127.0.0.1:{free_port()}", "CHAINRISK_NEO4J_PASSWORD": "unused"})
    wait_for(lambda: get(port, "/readyz")[0] == 503 and "graph store unavailable" in get(port, "/readyz")[1], "503 graph store", proc)
    assert get(port, "/healthz")[0] == 200
    assert scrape(port)[("chainrisk_retries_total", (("what", "graph store"),))] >= 1
    assert scrape(port)[("chainrisk_consumer_ready", ())] == 0


def test_docs_name_exactly_the_exported_metrics() -> None:
    """docs/consumer.md's metrics table and README's list name every metric the consumer exports, and no other."""
    import re

    exported = {family.name + ("_total" if family.type == "counter" else "") for family in ConsumerMetrics().registry.collect()}
    table = set(re.findall(r"^\| `(chainrisk_\w+)`", (REPO_ROOT / "docs" / "consumer.md").read_text(), re.M))
    readme = (REPO_ROOT / "README.md").read_text()
    operating = readme[readme.index("## Operating it"):readme.index("## Neo4j Browser")]
    assert table == exported
    assert set(re.findall(r"`(chainrisk_\w+)", operating)) == exported


def test_continuous_analysis_metrics_and_risk_change_alerts(tmp_path: Path) -> None:
    """A consumer with continuous analysis: /metrics shows when it last re-analysed blocks, no change
    left un-analysed, and the risk-change alerts of a withdrawn ROA counted like holder-change alerts."""
    from continuous_cases import portfolio_events

    from chainrisk.graph.consumer import ConsumerOptions, consume
    from chainrisk.graph.stores.nx_store import NxStore

    state = tmp_path / "state"
    settings = load_settings(backend="embedded", state_dir=state, continuous_analysis=True, alerts=True)
    events, withdrawn = portfolio_events(tmp_path, 60, 7)
    metrics = ConsumerMetrics()
    server = serve(metrics, "127.0.0.1", 0)
    try:
        assert scrape(server.port)[("chainrisk_analysis_last_refresh_timestamp_seconds", ())] == 0
        options = ConsumerOptions(group=settings.consumer_group, batch_size=200, until_idle=True, monitor=metrics)
        started = time.time()
        publish(state, events)
        consume(settings, options=options)
        first = scrape(server.port)
        assert started - 1 <= first[("chainrisk_analysis_last_refresh_timestamp_seconds", ())] <= time.time()
        assert first[("chainrisk_analysis_unanalysed_change_age_seconds", ())] == 0

        publish(state, withdrawn)
        consume(settings, options=options)
        samples = scrape(server.port)
    finally:
        server.close()
    store = NxStore(state)
    try:
        stored = store.load_alerts(None)
    finally:
        store.close()
    rov = [a for a in stored if a["type"] == "rov_left_valid"]
    assert rov, "the withdrawn ROAs raise rov_left_valid alerts"
    assert opened(samples, "rov_left_valid") == len(rov)  # counted like holder-change alerts
    assert samples[("chainrisk_analysis_last_refresh_timestamp_seconds", ())] >= first[("chainrisk_analysis_last_refresh_timestamp_seconds", ())]
    assert samples[("chainrisk_analysis_unanalysed_change_age_seconds", ())] == 0


def opened(samples: Samples, kind: str) -> float:
    return samples.get(("chainrisk_alerts_total", (("kind", kind), ("status", "open"))), 0.0)


def test_the_unanalysed_change_age_grows_until_the_analysis_caught_up() -> None:
    metrics = ConsumerMetrics()
    server = serve(metrics, "127.0.0.1", 0)
    try:
        metrics.unanalysed()
        time.sleep(0.2)
        metrics.unanalysed()  # a later batch: the oldest change still counts
        assert scrape(server.port)[("chainrisk_analysis_unanalysed_change_age_seconds", ())] >= 0.2
        metrics.analysed(None)
        samples = scrape(server.port)
        assert samples[("chainrisk_analysis_unanalysed_change_age_seconds", ())] == 0
        assert samples[("chainrisk_analysis_last_refresh_timestamp_seconds", ())] == 0  # no block was concerned
    finally:
        server.close()


def test_the_last_full_analysis_is_recorded_with_the_graph_and_exported(tmp_path: Path, run_cli) -> None:
    from chainrisk.graph.consumer import ConsumerOptions, consume
    from chainrisk.graph.stores.nx_store import NxStore

    state = tmp_path / "state"
    settings = load_settings(backend="embedded", state_dir=state, continuous_analysis=False, alerts=False)
    publish(state, mixed_events(1))
    metrics = ConsumerMetrics()
    options = ConsumerOptions(group=settings.consumer_group, until_idle=True, monitor=metrics)
    consume(settings, options=options)
    server = serve(metrics, "127.0.0.1", 0)
    try:
        assert scrape(server.port)[("chainrisk_analysis_last_full_timestamp_seconds", ())] == 0  # never analysed
        started = int(time.time())
        done = run_cli("analyze", "--state-dir", str(state))
        assert done.returncode == 0, done.stderr
        store = NxStore(state)
        try:
            recorded = store.last_full_analysis()
        finally:
            store.close()
        assert recorded is not None and started <= recorded.timestamp() <= time.time()
        consume(settings, options=options)
        assert scrape(server.port)[("chainrisk_analysis_last_full_timestamp_seconds", ())] == recorded.timestamp()
    finally:
        server.close()
