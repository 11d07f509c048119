"""The bulk first load (graph/bulk.py) into a Neo4j of the test's own (the import stops and restarts
Neo4j: the shared one is never touched): the imported graph's canonical dump equals a streamed
build's of the same records, streaming then continues from the imported offsets exactly (the
same dump as streaming everything), the analysis runs on it, and a non-empty target is refused.
SYNTHETIC DATA in documentation prefixes (RFC 5737) and 240.0.0.0/4."""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from graph_events import mixed_events
from snapshot_files import OTHER_ROA, ROA, filler_roas, ingest, vrp_export

from chainrisk.graph.bulk import BulkLoadError, bulk_load
from chainrisk.graph.config import Settings
from chainrisk.graph.consumer import ConsumerOptions, run_consumer
from chainrisk.graph.eventlog.embedded import EventLog, EventLogSink
from chainrisk.graph.eventlog.sources import LogDeadLetters, LogSource
from chainrisk.graph.stores.neo4j_store import NeoStore
from chainrisk.graph.stores.nx_store import NxStore

pytestmark = pytest.mark.services
GROUP = "chainrisk-graph"


@pytest.fixture(scope="module")
def own_neo4j(services_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A Neo4j of this module's own (state folder of its own, free ports, the shared jars), stopped at the end."""
    import socket

    from chainrisk.graph.services import runner

    reserved = {19092, 19093, 17687, 17474, 9092, 9093, 7687, 7474}
    ports: list[int] = []
    while len(ports) < 2:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in reserved and port not in ports:
            ports.append(port)
    bolt, http = ports
    jars = services_settings.jars_dir or services_settings.state_dir / "jars"
    own = services_settings.model_copy(update={"state_dir": tmp_path_factory.mktemp("bulk") / "state", "neo4j_uri": f"bolt://127.0.0.1:{bolt}",
                                               "neo4j_http_port": http, "jars_dir": jars, "neo4j_password": None,
                                               "consumer_group": GROUP, "alerts": False, "continuous_analysis": False})
    runner.up(own, only=(runner.NEO4J,))
    try:
        yield own
    finally:
        runner.down(own, only=(runner.NEO4J,))


def append(log_root: Path, events: list[Any], garbage: list[bytes] = ()) -> None:  # type: ignore[assignment]
    with EventLogSink(EventLog(log_root)) as sink:
        for event in events:
            sink.publish(event)
    if garbage:
        EventLog(log_root).append("relationships", list(garbage))


def stream(store: Any, log_root: Path, batch_size: int = 7) -> Any:
    """Stream the log from ``store``'s stored offsets on, as `chainrisk consume` does."""
    source = LogSource(EventLog(log_root), store.stored_offsets(GROUP))
    try:
        return run_consumer(store, source, LogDeadLetters(EventLog(log_root), GROUP),
                            ConsumerOptions(group=GROUP, batch_size=batch_size, until_idle=True, wait_timeout_s=10))
    finally:
        source.close()


def streamed_dump(folder: Path, log_root: Path, batch_size: int) -> tuple[dict[str, Any], dict[Any, int]]:
    store = NxStore(folder, save_interval_s=3600)
    try:
        stream(store, log_root, batch_size)
        return store.canonical_dump(), store.stored_offsets(GROUP)
    finally:
        store.close()


def without_snapshot_counts(dump: dict[str, Any]) -> dict[str, Any]:
    counts = {"added", "changed", "unchanged", "stale", "duplicate"}
    nodes = [{**n, "props": {k: v for k, v in n["props"].items() if k not in counts}} if "Snapshot" in n["labels"] else n
             for n in dump["nodes"]]
    return {"nodes": sorted(nodes, key=lambda n: json.dumps(n, sort_keys=True)), "relationships": dump["relationships"]}


def diff(a: dict[str, Any], b: dict[str, Any]) -> str:
    out = []
    for part in ("nodes", "relationships"):
        left = {json.dumps(x, sort_keys=True) for x in a[part]}
        right = {json.dumps(x, sort_keys=True) for x in b[part]}
        out += [f"only imported {part}: {x}" for x in sorted(left - right)[:5]]
        out += [f"only streamed {part}: {x}" for x in sorted(right - left)[:5]]
    return "\n".join(out)


def test_bulk_load_equals_streaming_and_streaming_continues(own_neo4j: Settings, tmp_path: Path) -> None:
    log_root = own_neo4j.state_dir / "log"
    # two full snapshots: the later one sweeps what only the first held
    snapshot, _ = ingest("vrps", [vrp_export(tmp_path / "a.json", "2025-07-20T09:31:33Z", [ROA, OTHER_ROA, *filler_roas(20)])])
    later, _ = ingest("vrps", [vrp_export(tmp_path / "b.json", "2025-07-20T10:01:45Z", [OTHER_ROA, *filler_roas(15)])])
    append(log_root, mixed_events(1) + snapshot + later, garbage=[b"not json", b""])

    stats = bulk_load(own_neo4j, source="log", batch_size=50)
    assert stats.consumed.dead_lettered == 2 and stats.consumed.retracted > 0 and stats.consumed.stale > 0
    expected, offsets = streamed_dump(tmp_path / "streamed", log_root, 50)
    neo = NeoStore(own_neo4j)
    try:
        assert neo.stored_offsets(GROUP) == offsets
        dump = neo.canonical_dump()
        assert dump == expected, diff(dump, expected)
        # a snapshot's counts say what each batch did with its events, so only they depend on the batch size
        other, _ = streamed_dump(tmp_path / "streamed-7", log_root, 7)
        assert without_snapshot_counts(dump) == without_snapshot_counts(other) and dump != other
        assert any("Snapshot" in n["labels"] and n["props"]["status"] == "complete" for n in dump["nodes"])

        # more records on top: streaming from the imported offsets ends where streaming everything does
        # (a third snapshot of the scope sweeps imported facts; new blocks nest among imported ones)
        third, _ = ingest("vrps", [vrp_export(tmp_path / "c.json", "2025-07-21T08:00:00Z", [ROA, *filler_roas(10)])])
        append(log_root, mixed_events(2) + third + mixed_events(3, n_blocks=60))
        more = stream(neo, log_root)
        assert more.records == len(mixed_events(2)) + len(third) + len(mixed_events(3, n_blocks=60))
        assert more.retracted > 0
        expected, offsets = streamed_dump(tmp_path / "streamed-all", log_root, 7)
        dump = neo.canonical_dump()
        assert without_snapshot_counts(dump) == without_snapshot_counts(expected), diff(dump, expected)
        assert neo.stored_offsets(GROUP) == offsets

        # the analysis runs on the imported graph
        from datetime import date

        from chainrisk.cli.report_cmd import analyse_and_write_back
        run = analyse_and_write_back(neo, date(2026, 6, 1))
        assert run.analysis.blocks and neo.stored_results(None)

        with pytest.raises(BulkLoadError, match="not empty"):
            bulk_load(own_neo4j, source="log")
    finally:
        neo.close()


def test_bulk_load_refuses_a_neo4j_it_does_not_run(services_settings: Settings, tmp_path: Path) -> None:
    """The shared Neo4j answers on the configured port, but no Neo4j of this state folder runs: nothing to stop and import into."""
    with pytest.raises(BulkLoadError, match="services up"):
        bulk_load(services_settings.model_copy(update={"state_dir": tmp_path / "nothing"}), source="log")
