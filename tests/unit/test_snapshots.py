"""Full snapshots on the embedded default: a complete newer VRP export, pfx2as file or DROP list
retracts what it no longer holds; a partial one (truncated, --limit, rejected rows) retracts
nothing; an older one changes nothing newer; order, batching and replays do not change the graph.

SYNTHETIC DATA in documentation prefixes (RFC 5737)."""
from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from snapshot_files import (
    APNIC_ROA,
    BLOCK,
    OTHER,
    OTHER_ROA,
    ROA,
    drop,
    filler_roas,
    ingest,
    pfx2as,
    vrp_export,
    write_register,
)

from chainrisk.cli.main import cli
from chainrisk.graph.stores.nx_store import NxStore

FIRST, SECOND = "2025-07-20T09:31:33Z", "2025-07-20T10:01:45Z"


def run(state: Path, *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(cli, [*args, "--state-dir", str(state), "--backend", "embedded"])
    assert result.exit_code == code, result.output
    return result.output


def consume(state: Path) -> str:
    return run(state, "consume", "--until-idle")


def block_report(state: Path) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(run(state, "report", "block", BLOCK, "--format", "json", "--as-of", "2026-01-01"))
    return report


def vrps(store: NxStore) -> set[tuple[str, int, int, str]]:
    return {(d["prefix"], d["max_length"], d["asn"], d["ta"]) for n, d in store.node_items() if n[0] == "Vrp"}


def snapshot_nodes(store: NxStore) -> list[dict[str, Any]]:
    return sorted((d for n, d in store.g.nodes(data=True) if n[0] == "Snapshot"), key=lambda d: d["observed_at"])


def test_a_withdrawn_roa_flips_the_block_from_valid_to_notfound(tmp_path: Path) -> None:
    state = tmp_path / "state"
    run(state, "ingest", "leases", str(write_register(tmp_path)), "-q")
    out = run(state, "ingest", "vrps", str(vrp_export(tmp_path / "a.json", FIRST, [ROA, OTHER_ROA])))
    assert "snapshot vrp ta=ripe of 2025-07-20T09:31Z" in out and "2 events, complete" in out
    consume(state)
    assert block_report(state)["rov_state"] == "Valid"
    run(state, "ingest", "vrps", str(vrp_export(tmp_path / "b.json", SECOND, [OTHER_ROA])))
    out = consume(state)
    assert block_report(state)["rov_state"] == "NotFound"
    store = NxStore(state)
    assert vrps(store) == {(OTHER, 24, 64501, "ripe")}
    tomb = store.g.nodes[("Retracted", f"vrp|{BLOCK}|24|64500|ripe")]
    second = snapshot_nodes(store)[1]
    assert tomb["snapshot"] == second["snapshot_id"] and tomb["observed_at"].isoformat() == "2025-07-20T10:01:45+00:00"
    assert (second["status"], second["added"], second["changed"], second["unchanged"], second["retracted"]) == ("complete", 0, 0, 1, 1)
    assert second["supersedes"] == snapshot_nodes(store)[0]["snapshot_id"]


def test_no_snapshot_ingests_plain_assertions(tmp_path: Path) -> None:
    state = tmp_path / "state"
    run(state, "ingest", "leases", str(write_register(tmp_path)), "-q")
    run(state, "ingest", "vrps", str(vrp_export(tmp_path / "a.json", FIRST, [ROA, OTHER_ROA])))
    consume(state)
    out = run(state, "ingest", "vrps", "--no-snapshot", str(vrp_export(tmp_path / "b.json", SECOND, [OTHER_ROA])))
    assert "snapshot" not in out
    consume(state)
    assert block_report(state)["rov_state"] == "Valid"


def test_a_truncated_second_export_retracts_nothing(tmp_path: Path) -> None:
    state = tmp_path / "state"
    run(state, "ingest", "leases", str(write_register(tmp_path)), "-q")
    run(state, "ingest", "vrps", str(vrp_export(tmp_path / "a.json.gz", FIRST, [OTHER_ROA, *filler_roas(3000), ROA], gzipped=True)))
    consume(state)
    whole = vrp_export(tmp_path / "full.json.gz", SECOND, [OTHER_ROA, *filler_roas(3000)], gzipped=True).read_bytes()
    cut = tmp_path / "b.json.gz"
    cut.write_bytes(whole[: len(whole) // 2])  # inside the deflate stream
    out = run(state, "ingest", "vrps", str(cut), code=1)
    assert "snapshot incomplete (the file could not be read to its end): nothing retracted" in out
    consume(state)
    assert block_report(state)["rov_state"] == "Valid"
    store = NxStore(state)
    assert [d["status"] for d in snapshot_nodes(store)] == ["complete"]
    assert not [n for n in store.g if n[0] == "Retracted"]


def test_limit_and_rejected_rows_publish_no_snapshot_end(tmp_path: Path) -> None:
    export = vrp_export(tmp_path / "a.json", FIRST, [ROA, OTHER_ROA])
    events, summary = ingest("vrps", [export], limit=1)
    assert [e.type for e in events] == ["vrp"] and summary.snapshots[0].incomplete == "--limit 1 stopped the file before its end"
    bad = vrp_export(tmp_path / "bad.json", FIRST, [ROA, {**OTHER_ROA, "prefix": "203.0.113.7/24"}])
    events, summary = ingest("vrps", [bad])
    assert [e.type for e in events] == ["vrp"] and summary.snapshots[0].incomplete == "1 row(s) rejected"
    assert "nothing retracted" in summary.snapshots[0].describe()


def _two_exports(tmp_path: Path) -> tuple[list[Any], list[Any]]:
    first, _ = ingest("vrps", [vrp_export(tmp_path / "a.json", FIRST, [ROA, OTHER_ROA, APNIC_ROA])])
    newer = [{**OTHER_ROA, "expires": 1753600000}, {**ROA, "asn": 64510}]
    second, _ = ingest("vrps", [vrp_export(tmp_path / "b.json", SECOND, newer)])
    return first, second


def test_an_older_export_consumed_later_leaves_the_newer_in_force(tmp_path: Path) -> None:
    first, second = _two_exports(tmp_path)
    in_order = NxStore(tmp_path / "in-order", save_interval_s=3600)
    in_order.apply_batch(first, {}, "g")
    in_order.apply_batch(second, {}, "g")
    expected = {(OTHER, 24, 64501, "ripe"), (BLOCK, 24, 64510, "ripe"), ("192.0.2.0/24", 24, 64502, "apnic")}
    assert vrps(in_order) == expected  # the apnic trust anchor is not in the second export: kept
    reverse = NxStore(tmp_path / "reverse", save_interval_s=3600)
    reverse.apply_batch(second, {}, "g")
    result = reverse.apply_batch(first, {}, "g")
    assert vrps(reverse) == expected
    # the older OTHER_ROA is stale; ROA, only in the older export, is made and swept again by the newer one
    assert (result.applied, result.stale, result.retracted) == (2, 1, 1)
    assert any("stays in force" in note for note in result.notes)
    newest = max(snapshot_nodes(reverse), key=lambda d: d["observed_at"])
    assert reverse.node_data(("Vrp", f"vrp|{OTHER}|24|64501|ripe"))["observed_at"] == newest["observed_at"]


def test_order_of_arrival_batching_and_replay_give_the_same_graph(tmp_path: Path) -> None:
    first, second = _two_exports(tmp_path)
    expected = NxStore(tmp_path / "expected", save_interval_s=3600)
    expected.apply_batch(first, {}, "g")
    expected.apply_batch(second, {}, "g")
    dump = expected.canonical_dump()
    for seed in range(4):
        shuffled = NxStore(tmp_path / f"shuffled{seed}", save_interval_s=3600)
        for events in (first, second):
            mixed = list(events)
            random.Random(seed).shuffle(mixed)  # the snapshot_end may come before its facts (Kafka partitions)
            size = seed + 1
            for start in range(0, len(mixed), size):
                shuffled.apply_batch(mixed[start:start + size], {}, "g")
        assert shuffled.canonical_dump() == dump
    for group in ("g", "replay"):  # the same events again: duplicates (same group), or a new group from offset 0
        expected.apply_batch(first + second, {}, group)
        assert expected.canonical_dump() == dump


def test_a_snapshot_short_of_events_never_completes(tmp_path: Path) -> None:
    first, second = _two_exports(tmp_path)
    store = NxStore(tmp_path / "s", save_interval_s=3600)
    store.apply_batch(first, {}, "g")
    store.apply_batch(second[1:], {}, "g")  # one event lost (e.g. dead-lettered)
    assert (BLOCK, 24, 64500, "ripe") in vrps(store)
    assert [d["status"] for d in snapshot_nodes(store)] == ["complete", "complete", "pending"]  # ripe and apnic, then ripe


def test_a_withdrawn_route_and_a_delisted_block_flip_the_block(tmp_path: Path) -> None:
    state = tmp_path / "state"
    run(state, "ingest", "leases", str(write_register(tmp_path)), "-q")
    run(state, "ingest", "pfx2as", str(pfx2as(tmp_path, "20250101", [(BLOCK, "64500"), (OTHER, "64501")])))
    run(state, "ingest", "blocklist", str(drop(tmp_path, "drop-a.txt", "Fri, 17 Jan 2025 17:03:47 GMT", [(BLOCK, "SBL1"), (OTHER, "SBL2")])))
    consume(state)
    before = block_report(state)
    assert before["bgp_seen"] is True and before["listings"]
    run(state, "ingest", "pfx2as", str(pfx2as(tmp_path, "20250102", [(OTHER, "64501")])))
    consume(state)
    assert block_report(state)["bgp_seen"] is False
    assert block_report(state)["listings"]
    run(state, "ingest", "blocklist", str(drop(tmp_path, "drop-b.txt", "Sat, 18 Jan 2025 17:03:47 GMT", [(OTHER, "SBL2")])))
    consume(state)
    assert not block_report(state)["listings"]
    store = NxStore(state)
    assert {d["scope_label"] for d in snapshot_nodes(store)} == {"route_origin source=caida-pfx2as", "blocklist_entry list_name=spamhaus-drop"}


@pytest.mark.parametrize("worker", ["leases", "transfers"])
def test_append_only_workers_have_no_snapshot_option(worker: str) -> None:
    result = CliRunner().invoke(cli, ["ingest", worker, "--help"])
    assert result.exit_code == 0 and "--no-snapshot" not in result.output


@pytest.mark.parametrize("saved", [False, True], ids=["journal-replayed", "snapshot-saved"])
def test_a_snapshot_half_applied_before_a_restart_completes_after_it(tmp_path: Path, saved: bool) -> None:
    """The per-group counts of a snapshot's events survive a restart of the embedded store, whether
    they come back from the journal or from a saved graph file."""
    first, second = _two_exports(tmp_path)
    expected = NxStore(tmp_path / "expected", save_interval_s=3600)
    expected.apply_batch(first, {}, "g")
    expected.apply_batch(second, {}, "g")
    store = NxStore(tmp_path / "s", save_interval_s=3600)
    store.apply_batch(first, {}, "g")
    store.apply_batch(second[:1], {}, "g")
    if saved:
        store.save()
    store.close()
    reopened = NxStore(tmp_path / "s", save_interval_s=3600)
    reopened.apply_batch(second[1:], {}, "g")
    assert (BLOCK, 24, 64500, "ripe") not in vrps(reopened)
    assert reopened.canonical_dump() == expected.canonical_dump()


# Runs `chainrisk consume` with a SIGKILL aimed at the sweep: right after the store retracted a
# completed snapshot's missing facts in memory (before the batch reaches the journal), or right
# after the batch's journal row was committed (before the graph file is rewritten).
_KILLED_CONSUMER = """
import os, signal, sys
from chainrisk.graph.stores import nx_persist, nx_store
point = sys.argv[1]
swept = []
sweep, append = nx_store.NxStore._sweep, nx_persist.append_journal
def _sweep(self, sweeper):
    result = sweep(self, sweeper)
    swept.append(result.retracted)
    if point == "in-memory" and result.retracted:
        os.kill(os.getpid(), signal.SIGKILL)
    return result
def _append(*args, **kwargs):
    seq = append(*args, **kwargs)
    if point == "journaled" and any(swept):
        os.kill(os.getpid(), signal.SIGKILL)
    return seq
nx_store.NxStore._sweep = _sweep
nx_persist.append_journal = _append
from chainrisk.cli.main import cli
cli(["consume", "--until-idle", "--backend", "embedded", "--state-dir", sys.argv[2], "--batch-size", "500"])
"""


@pytest.mark.parametrize("point", ["in-memory", "journaled"])
def test_a_consumer_killed_in_the_sweep_ends_as_an_uninterrupted_run(tmp_path: Path, point: str) -> None:
    import shutil
    import signal
    import subprocess
    import sys

    state, uninterrupted = tmp_path / "state", tmp_path / "uninterrupted"
    run(state, "ingest", "leases", str(write_register(tmp_path)), "-q")
    run(state, "ingest", "vrps", str(vrp_export(tmp_path / "a.json", FIRST, [ROA, OTHER_ROA, *filler_roas(3000)])), "-q")
    consume(state)
    run(state, "ingest", "vrps", str(vrp_export(tmp_path / "b.json", SECOND, [OTHER_ROA, *filler_roas(1000)])), "-q")
    shutil.copytree(state, uninterrupted)
    consume(uninterrupted)
    expected = NxStore(uninterrupted).canonical_dump()

    killed = subprocess.run([sys.executable, "-c", _KILLED_CONSUMER, point, str(state)], capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    after_kill = NxStore(state)
    swept = bool([n for n in after_kill.g if n[0] == "Retracted"])
    assert swept is (point == "journaled"), "a sweep killed before its journal row is lost whole; after it, it is kept"
    after_kill.close()
    consume(state)  # the restart
    store = NxStore(state)
    assert store.canonical_dump() == expected
    assert vrps(store) == {(OTHER, 24, 64501, "ripe"), *((p, 24, 64999, "ripe") for p in (f"10.{i // 256}.{i % 256}.0/24" for i in range(1000)))}
    store.close()
    run(state, "consume", "--until-idle", "--group", "replay")  # a replay from offset 0
    assert NxStore(state).canonical_dump() == expected


def test_re_ingesting_an_identical_file_changes_nothing(tmp_path: Path) -> None:
    export = vrp_export(tmp_path / "a.json", FIRST, [ROA, OTHER_ROA])
    first, _ = ingest("vrps", [export])
    again, _ = ingest("vrps", [export])  # another run: another snapshot id, the same facts
    store = NxStore(tmp_path / "s", save_interval_s=3600)
    store.apply_batch(first, {}, "g")
    once = store.canonical_dump()
    result = store.apply_batch(again, {}, "g")
    assert result.duplicate == 2 and any("the same file again" in note for note in result.notes)
    assert store.canonical_dump() == once  # no second Snapshot node, no fact touched
    # a different file of the same date and size is a snapshot of its own
    other, _ = ingest("vrps", [vrp_export(tmp_path / "b.json", FIRST, [ROA, {**OTHER_ROA, "asn": 64999}])])
    store.apply_batch(other, {}, "g")
    assert len(snapshot_nodes(store)) == 2


def test_a_snapshot_s_facts_hold_their_repeated_values_once_built_and_loaded(tmp_path: Path) -> None:
    events, _ = ingest("vrps", [vrp_export(tmp_path / "a.json", FIRST, [ROA, OTHER_ROA, *filler_roas(20)])])
    built = NxStore(tmp_path / "s", save_interval_s=3600)
    built.apply_batch(events, {}, "g")
    dump = built.canonical_dump()
    built.close()
    loaded = NxStore(tmp_path / "s")
    assert loaded.canonical_dump() == dump
    for store in (built, loaded):
        facts = [(n, d) for n, d in store.node_items() if n[0] == "Vrp"]
        (first_node, first), others = facts[0], facts[1:]
        assert len(others) == 21
        for node, data in others:
            for name in ("reference", "snapshot", "observed_at", "source", "ta", "labels"):
                assert data[name] is first[name], name
            assert next(k for k in data if k == "event_id") is next(k for k in first if k == "event_id")
            assert data["fact_key"] is node[1]
            assert node not in store.g  # a fact table's row: its AUTHORIZES relationship follows from its asn
        authorizes = {(u, v) for u, v, d in store.edge_items() if d["type"] == "AUTHORIZES"}
        assert authorizes == {(n, ("AS", d["asn"])) for n, d in facts} and first_node in {u for u, _ in authorizes}
