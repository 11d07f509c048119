"""`chainrisk consume --metrics-port` against the real Kafka and Neo4j: the same counters as the
embedded default (tests/unit/test_consumer_metrics.py) move by exactly what Neo4j applied, the lag
gauge reaches 0 over the assigned partitions, and /healthz and /readyz answer 200."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from graph_events import mixed_events
from kafka_events import publish
from metrics_http import get, scrape, wait_for

from chainrisk.graph.config import Settings
from chainrisk.graph.stores.neo4j_store import NeoStore
from chainrisk.graph.stores.nx_store import NxStore

pytestmark = pytest.mark.services
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def settings(isolated_services: Callable[..., Settings]) -> Settings:
    return isolated_services("metrics", alerts=False, continuous_analysis=False)


def test_metrics_of_a_long_running_services_consumer(settings: Settings, neo: NeoStore, tmp_path: Path, free_port) -> None:
    events = mixed_events(4)
    publish(settings, events)
    expected = NxStore(tmp_path / "direct").apply_batch(events, {}, "g")
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
        got = {name: samples[(f"chainrisk_events_{name}_total", ())] for name in ("applied", "retracted", "stale", "duplicate")}
        assert got == {"applied": expected.applied, "retracted": expected.retracted, "stale": expected.stale, "duplicate": expected.duplicate}
        wait_for(lambda: scrape(port)[("chainrisk_consumer_lag_records", ())] == 0, "lag 0", proc)
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
