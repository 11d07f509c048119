"""`consume --until-idle` on the real Kafka + Neo4j never declares victory early: a consumer restarted
after SIGKILL takes over at once (static membership) and ends with the whole graph; the crash loop
of bench/crash_loop.py in small. (Waiting without partitions and giving up: tests/unit/test_consumer_waiting.py.)"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from graph_events import mixed_events, synthetic_lease_events
from kafka_events import publish

from chainrisk.graph.config import Settings
from chainrisk.graph.stores.neo4j_store import NeoStore
from chainrisk.graph.stores.nx_store import NxStore

pytestmark = pytest.mark.services
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def settings(isolated_services: Callable[..., Settings]) -> Settings:
    return isolated_services("restarts", alerts=False, continuous_analysis=False)


def consumer(settings: Settings, log: Path, *extra: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CHAINRISK_TOPIC_PREFIX": settings.topic_prefix, "CHAINRISK_ALERTS": "false", "CHAINRISK_CONTINUOUS_ANALYSIS": "false",
           "CHAINRISK_TOPIC_PARTITIONS": str(settings.topic_partitions)}
    return subprocess.Popen(
        [sys.executable, "-m", "chainrisk.cli.main", "consume", "--backend", "services", "--until-idle", "--group",
         settings.consumer_group, "--state-dir", str(settings.state_dir), "--batch-size", "500", "--metrics-interval", "5", *extra],
        cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=log.open("ab"), stderr=subprocess.STDOUT)


def lease_count(neo: NeoStore) -> int:
    with neo._session() as session:  # noqa: SLF001 - a test probe
        return int(session.run("MATCH ()-[l:LEASES]->() RETURN count(l) AS n").single()["n"])


def test_a_consumer_restarted_after_sigkill_takes_over_at_once_and_ends_with_everything(settings: Settings, neo: NeoStore,
                                                                                       tmp_path: Path) -> None:
    events = synthetic_lease_events(6000, seed=12) + mixed_events(12)
    publish(settings, events)
    log = tmp_path / "consume.log"
    first = consumer(settings, log)
    deadline = time.monotonic() + 240
    while lease_count(neo) < 1000:
        assert first.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.2)
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert lease_count(neo) < len(events) // 2, "killed in the middle"
    restarted_at = time.time()
    second = consumer(settings, log)
    assert second.wait(timeout=300) == 0, log.read_text()[-3000:]
    text = log.read_text()
    assigned = [line for line in text.splitlines() if "partitions assigned:" in line and "assigned: none" not in line]
    assert len(assigned) >= 2, text[-3000:]
    stamp = re.match(r"(\d+-\d+-\d+ \d+:\d+:\d+),(\d+)", assigned[-1])
    assert stamp, assigned[-1]
    took = time.mktime(time.strptime(stamp.group(1), "%Y-%m-%d %H:%M:%S")) + int(stamp.group(2)) / 1000 - restarted_at
    assert took < 20, f"the restarted consumer waited {took:.0f} s for its partitions (the dead member's session is 30 s)"
    expected = NxStore(tmp_path / "expected", save_interval_s=3600)
    expected.apply_batch(events, {}, "expected")
    assert neo.canonical_dump() == expected.canonical_dump()


def test_crash_loop_small(settings: Settings, neo: NeoStore, tmp_path: Path) -> None:
    """bench/crash_loop.py with a small portfolio and 4 kills: identical to the uninterrupted run."""
    done = subprocess.run([sys.executable, str(REPO / "bench" / "crash_loop.py"), "--blocks", "2000", "--kills", "4",
                           "--max-alive", "6", "--deadline", "500", "--work", str(tmp_path / "work")],
                          cwd=REPO, env={**os.environ, "CHAINRISK_STATE_DIR": str(settings.state_dir)},
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert "lost 0, unexpected 0, duplicated 0; IDENTICAL" in done.stdout
