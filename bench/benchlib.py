"""What the services benchmarks share: settings from the normal configuration, the wipe guard,
seeded lease-hop inputs, fresh topics per run, peak RSS and the machine line.

Imported by the scripts in ``bench/`` (run as ``python bench/<name>.py``, so this folder is on
``sys.path``). Nothing here measures anything.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
# rows per block of the synthetic register (measured: 2.43 at 10k-1M blocks); a little under it so
# the generated file always has at least the rows asked for
ROWS_PER_BLOCK_LOW = 2.3


class WipeRefused(SystemExit):
    """The benchmark would delete a graph that holds data and ``--wipe`` was not given."""


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def children_peak_rss_mb() -> float:
    """The largest peak resident memory of any waited-for child process, MB."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def service_rss_mb(settings: Any, name: str) -> tuple[float, float] | None:
    """(current, peak) resident memory in MB of the ``kafka`` or ``neo4j`` JVM that
    `chainrisk services up` recorded in this state folder; None when there is no such local process."""
    from chainrisk.graph.services import runner

    record = runner.read_record(runner.Layout.of(settings), runner.spec_named(name))
    if record is None or not runner.is_alive(record):
        return None
    values = {}
    try:
        for line in Path(f"/proc/{record.pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) / 1024
    except OSError:
        return None
    return values.get("VmRSS", 0.0), values.get("VmHWM", 0.0)


def service_cpu_s(settings: Any, name: str) -> float | None:
    """CPU seconds (user + system, all threads) the local ``kafka`` or ``neo4j`` JVM has used so far;
    None when it is not a local process `chainrisk services up` recorded. On a shared machine
    the CPU a run costs the server is steadier than its wall time."""
    from chainrisk.graph.services import runner

    record = runner.read_record(runner.Layout.of(settings), runner.spec_named(name))
    if record is None or not runner.is_alive(record):
        return None
    try:
        fields = Path(f"/proc/{record.pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime (fields 14, 15)


def services_settings(**overrides: Any) -> Any:
    """The configured settings (flags > CHAINRISK_* > chainrisk.toml > defaults) on the services
    backend: the benchmarks measure Kafka and Neo4j, whatever the default backend is."""
    from chainrisk.graph.config import load_settings

    return load_settings(backend="services", **overrides)


def run_id() -> str:
    """A short id unique to this run (topics and consumer groups of one run never mix with others)."""
    return f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"


def bench_topic_prefix(settings: Any, name: str) -> str:
    """Fresh topics for one run: ``<configured prefix>.bench-<name>-<run id>``."""
    return f"{settings.topic_prefix}.bench-{name}-{run_id()}"


def fresh_run(settings: Any, name: str, **overrides: Any) -> tuple[Any, dict[str, str]]:
    """Settings and a child-process environment for one run: fresh topics
    (:func:`bench_topic_prefix`), a fresh consumer group, and ``overrides`` (None ones ignored)."""
    prefix = bench_topic_prefix(settings, name)
    group = f"{settings.consumer_group}-bench-{run_id()}"
    run_settings = services_settings(topic_prefix=prefix, consumer_group=group, **overrides)
    env = {**os.environ, "CHAINRISK_BACKEND": "services", "CHAINRISK_TOPIC_PREFIX": prefix, "CHAINRISK_CONSUMER_GROUP": group}
    for key, value in overrides.items():
        if value is not None:
            env[f"CHAINRISK_{key.upper()}"] = str(value).lower() if isinstance(value, bool) else str(value)
    return run_settings, env


def prepare_graph(settings: Any, wipe: bool) -> str:
    """Empty the Neo4j database (see :func:`clear_graph`) and return the machine line."""
    from chainrisk.graph.stores.neo4j_store import NeoStore

    store = NeoStore(settings)
    try:
        machine = machine_line(store)
        clear_graph(store, wipe)
    finally:
        store.close()
    return machine


def node_count(store: Any) -> int:
    """Nodes in the store's Neo4j database."""
    with store.driver.session(database=store.database) as session:
        return int(session.run("MATCH (n) RETURN count(n) AS n").single()["n"])


def clear_graph(store: Any, wipe: bool) -> None:
    """Empty the Neo4j database before a benchmark. A database that holds data is only wiped when
    ``wipe`` is true; otherwise :class:`WipeRefused` says what would be lost and how to go on."""
    count = node_count(store)
    if count == 0:
        return
    if not wipe:
        raise WipeRefused(
            f"refusing to run: Neo4j {store.settings.neo4j_uri} (database {store.database}) holds {count:,} nodes and this "
            f"benchmark deletes everything in it. Point CHAINRISK_NEO4J_URI at a scratch instance, or pass --wipe."
        )
    store.wipe()


def delete_topics(settings: Any, topics: list[str]) -> None:
    """Delete this run's topics (a benchmark's messages are not worth keeping on disk)."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(**settings.kafka_client_config(), request_timeout_ms=30_000)
    try:
        existing = set(admin.list_topics())
        doomed = [t for t in topics if t in existing]
        if doomed:
            admin.delete_topics(doomed, timeout_ms=30_000)
    finally:
        admin.close()


# --- inputs ------------------------------------------------------------------------------------


def blocks_for_rows(rows: int) -> int:
    """How many synthetic blocks give at least ``rows`` register rows."""
    return int(rows / ROWS_PER_BLOCK_LOW) + 50


def register_file(rows: int, seed: int, folder: Path) -> Path:
    """A synthetic lease register (``chainrisk generate``'s format) with at least ``rows`` rows,
    generated once per (rows, seed) into ``folder`` and reused."""
    from chainrisk import synthetic

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"leases-{rows}-seed{seed}.csv"
    if not path.exists():
        portfolio = synthetic.generate(blocks_for_rows(rows), seed)
        partial = path.with_suffix(".partial")
        written = synthetic.write_register(portfolio, partial)
        if written < rows:
            raise RuntimeError(f"generated {written:,} rows, fewer than {rows:,}: lower ROWS_PER_BLOCK_LOW")
        partial.rename(path)
    return path


class ListSink:
    """An EventSink keeping the events in memory."""

    def __init__(self) -> None:
        self.events: list[Any] = []

    def publish(self, event: Any) -> None:
        self.events.append(event)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


def lease_hop_events(rows: int, seed: int, folder: Path) -> list[Any]:
    """The first ``rows`` lease-hop events the leases worker makes from a seeded synthetic register."""
    from chainrisk.ingest import leases
    from chainrisk.ingest.common import run_ingest

    sink = ListSink()
    summary = run_ingest(leases.parse, [register_file(rows, seed, folder)], sink, limit=rows)
    if summary.rejects or summary.files_failed:
        raise RuntimeError(f"the synthetic register had {summary.rejects} rejects: {dict(summary.rejects_by_reason)}")
    return sink.events


def default_work_dir(settings: Any) -> Path:
    """Where generated inputs are cached: ``<state_dir>/bench``."""
    return Path(settings.state_dir).resolve() / "bench"


# --- the machine -------------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def memory_gib() -> float:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30


def neo4j_version(store: Any) -> str:
    with store.driver.session(database="system") as session:
        record = session.run("CALL dbms.components() YIELD name, versions, edition RETURN versions[0] AS v, edition AS e").single()
    return f"{record['v']} {record['e']}"


def kafka_version() -> str:
    """The version of the Kafka jars `chainrisk services up` runs (the broker API does not report it)."""
    from chainrisk.graph.services.runner import KAFKA_VERSION

    return KAFKA_VERSION


def machine_line(store: Any | None = None) -> str:
    """One line: date, cores, memory, CPU, Python, Kafka and Neo4j versions."""
    parts = [time.strftime("%Y-%m-%d %H:%M"), f"{os.cpu_count()} cores", f"{memory_gib():.0f} GiB", cpu_model(),
             f"Python {platform.python_version()}", f"Kafka {kafka_version()}"]
    if store is not None:
        try:
            parts.append(f"Neo4j {neo4j_version(store)}")
        except Exception as exc:  # noqa: BLE001 - the version is decoration; the benchmark still runs
            parts.append(f"Neo4j ? ({type(exc).__name__})")
    return ", ".join(parts)


def load_average() -> str:
    """The 1-minute load average (the machine is shared: say how busy it was)."""
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "?"


def git_revision() -> str:
    done = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                           text=True, check=False)
    rev = done.stdout.strip() or "?"
    return rev + ("+dirty" if dirty.stdout.strip() else "")


# the folders pyproject maps to chainrisk.<name> (package-dir)
PACKAGES = ("ingest", "graph", "analysis", "cli", "common", "synthetic")


def unpack_revision(revision: str, folder: Path) -> Path:
    """``git archive`` of the packages at ``revision``, laid out as an importable ``chainrisk`` package
    in ``folder``; returns the folder to put first on a child's ``PYTHONPATH`` (a baseline run)."""
    import tarfile

    archive = folder / "rev.tar"
    with open(archive, "wb") as out:
        subprocess.run(["git", "-C", str(REPO), "archive", revision, *PACKAGES], stdout=out, check=True)
    package = folder / "chainrisk"
    package.mkdir()
    with tarfile.open(archive) as tar:
        tar.extractall(package, filter="data")
    (package / "__init__.py").write_text("")
    return folder


def figures_line(name: str, **values: Any) -> str:
    """``FIGURES <name> key=value ...``: the machine-readable line every benchmark prints (the smoke
    test checks it)."""
    def fmt(v: Any) -> str:
        return f"{v:.4g}" if isinstance(v, float) else re.sub(r"\s+", "_", str(v))

    return f"FIGURES {name} " + " ".join(f"{k}={fmt(v)}" for k, v in values.items())


# --- the command line ------------------------------------------------------------------------------


def add_common_options(parser: argparse.ArgumentParser, *, seed: int, smoke: str, topics: bool = True) -> None:
    """The options every services benchmark takes: --seed, --work-dir, --wipe, --keep-topics (when it
    makes topics), --smoke (``smoke`` says what it runs) and --json."""
    parser.add_argument("--seed", type=int, default=seed, help="the synthetic input's seed")
    parser.add_argument("--work-dir", type=Path, default=None, help="where generated inputs (and logs) go (default <state_dir>/bench)")
    parser.add_argument("--wipe", action="store_true", help="empty the Neo4j database even if it holds data")
    if topics:
        parser.add_argument("--keep-topics", action="store_true", help="keep this run's Kafka topics")
    parser.add_argument("--smoke", action="store_true", help=smoke)
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")


def print_result(result: dict[str, Any], report: Callable[[dict[str, Any]], str], as_json: bool) -> None:
    """The report, and with ``as_json`` every figure as JSON after it."""
    print(report(result))
    if as_json:
        print(json.dumps(result, indent=2))
