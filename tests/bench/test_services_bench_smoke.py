"""The services benchmarks' ``--smoke`` modes run against the test services and print their figures
(so bench/neo4j_writes.py, bench/end_to_end.py, bench/alert_latency.py, bench/continuous_latency.py and
bench/bulk_load.py cannot rot), and a
benchmark refuses to wipe a Neo4j database that holds data unless ``--wipe`` is given.

The benchmarks empty the Neo4j database: these tests pass ``--wipe``, which is safe where the suite
runs serially against its own services (``.ci/run``)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from chainrisk.graph.config import Settings

BENCH = Path(__file__).resolve().parents[2] / "bench"
pytestmark = pytest.mark.services


def bench_env(settings: Settings) -> dict[str, str]:
    """The test services' settings for a benchmark subprocess, with topics no other run uses."""
    return {**os.environ, "CHAINRISK_STATE_DIR": str(settings.state_dir),
            "CHAINRISK_TOPIC_PREFIX": f"test-bench-{uuid.uuid4().hex[:10]}"}


def run_bench(script: str, settings: Settings, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(BENCH / script), *args], env=bench_env(settings), capture_output=True, text=True,
                          timeout=timeout, check=False, stdin=subprocess.DEVNULL)


def figures(stdout: str, name: str) -> dict[str, float]:
    """The numbers of the benchmark's ``FIGURES <name> key=value ...`` line."""
    line = next((ln for ln in stdout.splitlines() if ln.startswith(f"FIGURES {name} ")), None)
    assert line is not None, f"no FIGURES {name} line in:\n{stdout}"
    return {key: float(value) for key, value in re.findall(r"(\w+)=(-?[\d.e+]+)", line)}


def test_neo4j_writes_smoke_prints_rates_and_ratios(services_settings: Settings) -> None:
    done = run_bench("neo4j_writes.py", services_settings, "--smoke", "--wipe")
    assert done.returncode == 0, done.stderr
    got = figures(done.stdout, "neo4j_writes")
    assert got["events"] == 4000
    assert got["consumer_eps"] > 0 and got["bare_eps"] > 0 and got["naive_eps"] > 0
    assert got["consumer_vs_bare"] == pytest.approx(got["consumer_eps"] / got["bare_eps"], rel=0.01)
    assert "consumer (NeoStore.apply_batch)" in done.stdout and "goal >= 0.8x bare" in done.stdout


def test_end_to_end_smoke_prints_every_stage(services_settings: Settings) -> None:
    done = run_bench("end_to_end.py", services_settings, "--smoke", "--wipe")
    assert done.returncode == 0, done.stderr
    got = figures(done.stdout, "end_to_end")
    assert got["events"] == 3000
    assert got["total_s"] == pytest.approx(got["ingest_s"] + got["consume_s"] + got["analyse_s"], abs=0.2)
    for stage in ("1 ingest", "2 consume", "3 analyse", "total"):
        assert any(line.startswith(stage) for line in done.stdout.splitlines()), stage


def test_ingest_publish_smoke_compares_with_a_baseline_revision(services_settings: Settings) -> None:
    done = run_bench("ingest_publish.py", services_settings, "--smoke", "--baseline", "HEAD", "--verify")
    assert done.returncode == 0, done.stderr
    got = figures(done.stdout, "ingest_publish")
    assert got["events"] == 3000 and got["baseline_eps"] > 0 and got["eps"] > 0
    assert got["cpu_ratio"] == pytest.approx(got["baseline_cpu_us_per_event"] / got["cpu_us_per_event"], rel=0.01)
    assert got["identical"] == 1 and "values, keys, ids, partitions: IDENTICAL" in done.stdout


def test_ingest_publish_smoke_compares_publisher_processes(services_settings: Settings) -> None:
    done = run_bench("ingest_publish.py", services_settings, "--smoke", "--processes", "1,2")
    assert done.returncode == 0, done.stderr
    rows = {line.split()[1]: line.split() for line in done.stdout.splitlines() if line.startswith("  current p=")}
    assert set(rows) == {"p=1", "p=2"}
    # columns: variant, events, wall s, events/s, CPU s, CPU us/event, parent us/ev, peak RSS MB, load
    assert rows["p=1"][2] == rows["p=2"][2] == "3,000"
    assert float(rows["p=1"][6]) == float(rows["p=1"][7])  # one process: all CPU is the ingest's
    assert float(rows["p=2"][6]) > float(rows["p=2"][7])  # the publisher processes' CPU is counted
    assert re.search(r"median wall s: current p=1 [\d.]+, current p=2 [\d.]+ \(speed-up [\d.]+ vs current p=1\)", done.stdout)


def test_alert_latency_smoke_sees_every_probe_alert(services_settings: Settings) -> None:
    done = run_bench("alert_latency.py", services_settings, "--smoke", "--wipe")
    assert done.returncode == 0, done.stderr
    got = figures(done.stdout, "alert_latency")
    assert 0 < got["idle_p50_s"] <= got["idle_p99_s"]
    assert got["loaded_probes"] >= 1 and got["loaded_received"] == got["loaded_probes"]
    assert got["load_rate"] > 0


def test_continuous_latency_smoke_sees_every_probe_and_the_snapshot(services_settings: Settings) -> None:
    done = run_bench("continuous_latency.py", services_settings, "--smoke", "--wipe")
    assert done.returncode == 0, done.stderr
    got = figures(done.stdout, "continuous_latency")
    assert 0 < got["idle_neo4j_p50_s"] <= got["idle_neo4j_p99_s"] and 0 < got["idle_alert_p50_s"] <= got["idle_alert_p99_s"]
    assert got["idle_received"] == got["idle_probes"] == 3
    assert got["loaded_probes"] >= 1 and got["loaded_received"] == got["loaded_probes"] and got["load_rate"] > 0
    assert got["snapshot_blocks"] == got["snapshot_alert_blocks"] == 200 and got["snapshot_alerts"] == 1
    assert got["snapshot_neo4j_s"] > 0 and got["snapshot_alert_s"] > 0
    assert "goals: p99 < 1 s idle" in done.stdout


def test_a_benchmark_refuses_to_wipe_a_graph_with_data(services_settings: Settings, neo4j_driver: Any) -> None:
    marker = f"bench-guard-{uuid.uuid4().hex[:8]}"
    with neo4j_driver.session(database=services_settings.neo4j_database) as session:
        session.run("CREATE (:BenchGuardProbe {name: $name})", name=marker).consume()
    try:
        done = run_bench("neo4j_writes.py", services_settings, "--smoke")
        assert done.returncode != 0
        assert "refusing to run" in done.stderr and "--wipe" in done.stderr
        with neo4j_driver.session(database=services_settings.neo4j_database) as session:
            left = session.run("MATCH (n:BenchGuardProbe {name: $name}) RETURN count(n) AS n", name=marker).single()["n"]
        assert left == 1
    finally:
        with neo4j_driver.session(database=services_settings.neo4j_database) as session:
            session.run("MATCH (n:BenchGuardProbe {name: $name}) DELETE n", name=marker).consume()


def test_bulk_load_smoke_compares_with_streaming(services_settings: Settings, tmp_path: Path) -> None:
    """bench/bulk_load.py on a Neo4j of its own (the import stops it; the shared one is never touched)."""
    import socket

    ports = []
    for _ in range(2):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
    done = run_bench("bulk_load.py", services_settings, "--smoke", "--neo4j-dir", str(tmp_path / "neo4j"),
                     "--bolt-port", str(ports[0]), "--http-port", str(ports[1]), timeout=900)
    assert done.returncode == 0, done.stderr
    got = figures(done.stdout, "bulk_load")
    assert got["events"] == 3000 and got["identical"] == 1
    assert got["ratio"] == pytest.approx(got["bulk_eps"] / got["stream_eps"], rel=0.01)
    assert "| streaming (`consume --until-idle`)" in done.stdout and "goal >= 5x streaming" in done.stdout
