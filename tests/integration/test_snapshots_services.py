"""Full snapshots against the real Kafka and Neo4j: a withdrawn ROA flips the block to NotFound, a
truncated export retracts nothing, an older export changes nothing newer, a consumer killed with
SIGKILL while a snapshot's retractions are being written ends where an uninterrupted run does - and
every time Neo4j holds exactly what the embedded store holds for the same events.

Each test has its own topic prefix and group and starts from an empty Neo4j (run under
``flock /tmp/chainrisk-neo4j.lock``). SYNTHETIC DATA in documentation prefixes (RFC 5737)."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from kafka_events import publish
from snapshot_files import BLOCK, OTHER, OTHER_ROA, ROA, bulk_net, filler_roas, inetnum, ingest, vrp_export, write_register

from chainrisk.cli.main import cli
from chainrisk.graph.browser.library import bind_parameters, load_library, run_query
from chainrisk.graph.config import Settings
from chainrisk.graph.consumer import ConsumerOptions, consume
from chainrisk.graph.stores.neo4j_store import NeoStore
from chainrisk.graph.stores.nx_store import NxStore

pytestmark = pytest.mark.services
REPO = Path(__file__).resolve().parents[2]
FIRST, SECOND = "2025-07-20T09:31:33Z", "2025-07-20T10:01:45Z"


@pytest.fixture
def settings(isolated_services: Callable[..., Settings]) -> Settings:
    return isolated_services("snapshots", alerts=False, continuous_analysis=False)


def run_consumer(settings: Settings, batch_size: int = 7) -> Any:
    return consume(settings, options=ConsumerOptions(group=settings.consumer_group, batch_size=batch_size, until_idle=True))


def expected_dump(tmp_path: Path, *steps: list[Any]) -> dict[str, Any]:
    store = NxStore(tmp_path / f"expected-{random.random()}", save_interval_s=3600)
    for events in steps:
        store.apply_batch(events, {}, "expected")
    return store.canonical_dump()


def without_snapshot_counts(dump: dict[str, Any]) -> dict[str, Any]:
    counts = {"added", "changed", "unchanged", "stale", "duplicate", "supersedes", "supersedes_observed_at"}
    nodes = [{**n, "props": {k: v for k, v in n["props"].items() if k not in counts}} if "Snapshot" in n["labels"] else n
             for n in dump["nodes"]]
    return {"nodes": sorted(nodes, key=lambda n: json.dumps(n, sort_keys=True)), "relationships": dump["relationships"]}


def diff(a: dict[str, Any], b: dict[str, Any]) -> str:
    left = {json.dumps(x, sort_keys=True) for x in a["nodes"] + a["relationships"]}
    right = {json.dumps(x, sort_keys=True) for x in b["nodes"] + b["relationships"]}
    return f"only left: {sorted(left - right)[:3]}\nonly right: {sorted(right - left)[:3]}"


def rov_state(settings: Settings) -> str:
    env = {"CHAINRISK_TOPIC_PREFIX": settings.topic_prefix, "CHAINRISK_CONSUMER_GROUP": settings.consumer_group,
           "CHAINRISK_STATE_DIR": str(settings.state_dir)}
    result = CliRunner().invoke(cli, ["report", "block", BLOCK, "--backend", "services", "--format", "json", "--as-of", "2026-01-01"],
                                env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    state: str = json.loads(result.output)["rov_state"]
    return state


def test_a_withdrawn_roa_through_kafka_and_neo4j(settings: Settings, neo: NeoStore, tmp_path: Path) -> None:
    register, _ = ingest("leases", [write_register(tmp_path)])
    first, _ = ingest("vrps", [vrp_export(tmp_path / "a.json", FIRST, [ROA, OTHER_ROA, *filler_roas(40)])])
    publish(settings, register + first)
    run_consumer(settings)
    assert rov_state(settings) == "Valid"
    second, _ = ingest("vrps", [vrp_export(tmp_path / "b.json", SECOND, [OTHER_ROA, *filler_roas(30)])])
    publish(settings, second)
    stats = run_consumer(settings)
    assert stats.retracted == 11  # ROA and ten filler VRPs
    assert rov_state(settings) == "NotFound"
    dump = neo.canonical_dump()
    expected = expected_dump(tmp_path, register + first, second)
    assert dump == expected, diff(dump, expected)
    # what the Browser library's "snapshot-changes" shows for the trust anchor that day
    query = load_library().get("snapshot-changes")
    params = bind_parameters(query, {"fact_type": "vrp", "scope": "ripe", "on_date": "2025-07-20"})
    columns, rows = run_query(neo.driver, neo.database, query, params)
    shown = [dict(zip(columns, row)) for row in rows]
    assert [(r["status"], r["events"], r["retracted"]) for r in shown] == [("complete", 42, 0), ("complete", 31, 11)]
    assert [r["reference"].rsplit("/", 1)[-1] for r in shown] == ["a.json", "b.json"]
    assert shown[1]["supersedes"] == shown[0]["observed_at"]
    assert f"vrp|{BLOCK}|24|64500|ripe" in shown[1]["retracted_facts"] and len(shown[1]["retracted_facts"]) == 11


def test_a_truncated_export_retracts_nothing_and_order_does_not_matter(settings: Settings, neo: NeoStore, tmp_path: Path) -> None:
    register, _ = ingest("leases", [write_register(tmp_path)])
    first, _ = ingest("vrps", [vrp_export(tmp_path / "a.json.gz", FIRST, [ROA, *filler_roas(3000)], gzipped=True)])
    whole = vrp_export(tmp_path / "full.json.gz", SECOND, filler_roas(3000), gzipped=True).read_bytes()
    cut = tmp_path / "b.json.gz"
    cut.write_bytes(whole[: len(whole) // 2])
    truncated, summary = ingest("vrps", [cut])
    assert summary.files_failed and summary.snapshots[0].incomplete and all(e.type == "vrp" for e in truncated)
    neo.apply_batch(register + first, {}, "g")
    neo.apply_batch(truncated, {}, "g")
    assert neo.canonical_dump() == expected_dump(tmp_path, register + first, truncated)
    assert not [n for n in neo.canonical_dump()["nodes"] if "Retracted" in n["labels"]]

    neo.wipe()
    newer = [ROA, {**OTHER_ROA, "expires": 1753600000}]
    second, _ = ingest("vrps", [vrp_export(tmp_path / "c.json", SECOND, newer)])
    mixed = register + second + first  # the older export after the newer one, shuffled, small batches
    random.Random(3).shuffle(mixed)
    batches = [mixed[start:start + 500] for start in range(0, len(mixed), 500)]
    for batch in batches:
        neo.apply_batch(batch, {}, "g")
    dump = neo.canonical_dump()
    expected = expected_dump(tmp_path, *batches)
    assert dump == expected, diff(dump, expected)
    # the facts and tombstones are those of the exports applied in order; only the Snapshot nodes'
    # counts (what each added, re-asserted, found stale, superseded) tell the order they came in
    in_order = expected_dump(tmp_path, register + first, second)
    assert without_snapshot_counts(dump) == without_snapshot_counts(in_order)
    live = sorted(n["props"]["prefix"] for n in dump["nodes"] if "Vrp" in n["labels"])
    assert live == sorted([BLOCK, OTHER_ROA["prefix"]])


def _running_queries(neo: NeoStore) -> list[str]:
    with neo._session() as session:  # noqa: SLF001 - a test probe
        return [r["q"] or "" for r in session.run("SHOW TRANSACTIONS YIELD currentQuery AS q")]


def _consumer_process(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CHAINRISK_TOPIC_PREFIX": settings.topic_prefix, "CHAINRISK_ALERTS": "false", "CHAINRISK_CONTINUOUS_ANALYSIS": "false",
           "CHAINRISK_TOPIC_PARTITIONS": str(settings.topic_partitions)}
    return subprocess.Popen(
        [sys.executable, "-m", "chainrisk.cli.main", "consume", "--backend", "services", "--until-idle",
         "--group", settings.consumer_group, "--state-dir", str(settings.state_dir), "--batch-size", "2000"],
        cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=log.open("ab"), stderr=subprocess.STDOUT)


def test_consumer_killed_while_retracting_ends_identical(settings: Settings, neo: NeoStore, tmp_path: Path) -> None:
    first, _ = ingest("vrps", [vrp_export(tmp_path / "a.json", FIRST, [ROA, *filler_roas(15_000)])])
    second, _ = ingest("vrps", [vrp_export(tmp_path / "b.json", SECOND, [ROA])])  # 15,000 retractions in one transaction
    publish(settings, first)
    run_consumer(settings, batch_size=2000)
    publish(settings, second)
    log = tmp_path / "consume.log"
    proc = _consumer_process(settings, log)
    deadline = time.monotonic() + 240
    killed_in = ""
    while proc.poll() is None and time.monotonic() < deadline:
        busy = [q for q in _running_queries(neo) if "Retracted" in q or "DETACH DELETE" in q or "snapshot IS NOT NULL" in q]
        if busy:
            proc.send_signal(signal.SIGKILL)
            killed_in = busy[0].split("\n")[0][:80]
            break
        time.sleep(0.02)
    proc.wait()
    assert killed_in, f"the consumer finished before its retractions could be interrupted:\n{log.read_text()[-2000:]}"
    assert len([n for n in neo.canonical_dump()["nodes"] if "Vrp" in n["labels"]]) == 15_001  # rolled back whole
    final = _consumer_process(settings, log)
    assert final.wait(timeout=300) == 0, log.read_text()[-3000:]
    dump = neo.canonical_dump()
    expected = expected_dump(tmp_path, first, second)
    assert dump == expected, diff(dump, expected)
    assert [n["props"]["prefix"] for n in dump["nodes"] if "Vrp" in n["labels"]] == [BLOCK]
    # a replay from offset 0 (a new group) finds every fact decided and nothing left to sweep
    consume(settings, options=ConsumerOptions(group=f"{settings.consumer_group}-replay", batch_size=2000, until_idle=True))
    assert neo.canonical_dump() == expected, diff(neo.canonical_dump(), expected)
    print(f"\nkilled the consumer in: {killed_in}")


def test_nonfunctional_cas_come_and_go_through_kafka_and_neo4j(settings: Settings, neo: NeoStore, tmp_path: Path) -> None:
    """A CA listed in rpki-client's nonfunc_cas flags the lease whose VRP (from a Routinator jsonext
    export) it published; the next export lists it no more - under a trust anchor with no
    non-functional CA left, an empty snapshot - and it is retracted: Neo4j ends as the embedded store."""
    repo = "rsync://rpki.example.net/repo/holder/0/"
    ca = {"location": "rpki.example.net/repo/parent/holder.cer", "ta": "ripe", "caRepository": repo}

    def rpki_client(name: str, buildtime: str, cas: list[dict[str, str]]) -> Path:
        path = tmp_path / name
        path.write_text(json.dumps({"metadata": {"buildtime": buildtime}, "roas": [OTHER_ROA], "nonfunc_cas": cas}))
        return path

    stale = tmp_path / "routinator.json"
    stale.write_text(json.dumps({"metadata": {"generatedTime": FIRST}, "roas": [
        {"asn": "AS64500", "prefix": BLOCK, "maxLength": 24, "source": [
            {"type": "roa", "uri": repo + "A1.roa", "tal": "ripe", "chainValidity": {"notAfter": "2025-07-27T00:00:00Z"}}]}]}))
    register, _ = ingest("leases", [write_register(tmp_path)])
    first, _ = ingest("vrps", [rpki_client("a.json", FIRST, [ca])])
    served, _ = ingest("vrps", [stale])
    publish(settings, register + first + served)
    run_consumer(settings)
    env = {"CHAINRISK_TOPIC_PREFIX": settings.topic_prefix, "CHAINRISK_CONSUMER_GROUP": settings.consumer_group,
           "CHAINRISK_STATE_DIR": str(settings.state_dir)}

    def flags() -> list[str]:
        result = CliRunner().invoke(cli, ["report", "block", BLOCK, "--backend", "services", "--format", "json", "--as-of", "2025-07-20"],
                                    env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return [f.split(":")[0] for f in json.loads(result.output)["risk_flags"]]

    assert "ca-nonfunctional" in flags()
    second, _ = ingest("vrps", [rpki_client("b.json", SECOND, [])])
    assert {(e.fact_type, e.events) for e in second if e.type == "snapshot_end"} == {("vrp", 1), ("nonfunctional_ca", 0)}
    publish(settings, second)
    run_consumer(settings)
    assert "ca-nonfunctional" not in flags()
    dump = neo.canonical_dump()
    expected = expected_dump(tmp_path, register + first + served, second)
    assert dump == expected, diff(dump, expected)


def test_registry_dumps_and_a_repeated_export_through_kafka_and_neo4j(settings: Settings, neo: NeoStore, tmp_path: Path) -> None:
    """An RPSL dump and an ARIN bulk file superseded by newer ones (an unchanged object only moves its
    version, a vanished one is retracted and ends its holding), and an export ingested twice (the
    second run is dropped): Neo4j holds exactly what the embedded store holds."""
    from datetime import datetime, timezone

    steps = []
    for day, objects in ((1, [(BLOCK, "ORG-KEPT"), (OTHER, "ORG-GONE")]), (2, [(BLOCK, "ORG-KEPT")])):
        folder = tmp_path / f"day{day}"
        folder.mkdir()
        dump = folder / "ripe.db.inetnum"
        dump.write_text("".join(inetnum(prefix, org, "RIPE") for prefix, org in objects))
        bulk = folder / "arin_db.txt"
        bulk.write_text("".join(bulk_net(f"NET-{org}", org, prefix) for prefix, org in objects))
        at = datetime(2025, 1, day, tzinfo=timezone.utc)
        steps.append(ingest("rpsl", [dump], observed_at=at)[0] + ingest("arin", [bulk], observed_at=at)[0])
    export = vrp_export(tmp_path / "a.json", FIRST, [ROA, OTHER_ROA])
    steps += [ingest("vrps", [export])[0], ingest("vrps", [export])[0]]
    for events in steps:
        publish(settings, events)
        run_consumer(settings)
    dump = neo.canonical_dump()
    expected = expected_dump(tmp_path, *steps)
    assert dump == expected, diff(dump, expected)
    labels = [n["labels"] for n in dump["nodes"]]
    assert labels.count(["Snapshot"]) == 5  # rpsl and arin twice each, the export once
    assert sorted(n["props"]["prefix"] for n in dump["nodes"] if "Registration" in n["labels"]) == [BLOCK, BLOCK]


def test_the_printed_counts_agree_with_neo4j_and_the_embedded_backend(settings: Settings, neo: NeoStore, tmp_path: Path) -> None:
    """`chainrisk ingest` on Kafka prints what the consumer then counts in Neo4j, and what the same
    files print and count on the embedded default."""
    from chainrisk.graph.backend import event_log_name
    from chainrisk.graph.snapshot_ledger import SnapshotLedger

    first = [ROA, OTHER_ROA, *filler_roas(40)]
    second = [{**OTHER_ROA, "expires": 1753600000}, *filler_roas(30), {**ROA, "asn": 64510}]
    files = [vrp_export(tmp_path / "a.json", FIRST, first), vrp_export(tmp_path / "b.json", SECOND, second)]
    env = {"CHAINRISK_TOPIC_PREFIX": settings.topic_prefix, "CHAINRISK_CONSUMER_GROUP": settings.consumer_group,
           "CHAINRISK_STATE_DIR": str(settings.state_dir), "CHAINRISK_TOPIC_PARTITIONS": str(settings.topic_partitions)}
    ledger = SnapshotLedger(settings.state_dir / "snapshots", event_log_name(settings))
    try:
        printed = []
        for path in files:
            result = CliRunner().invoke(cli, ["ingest", "vrps", str(path), "--backend", "services"], env=env, catch_exceptions=False)
            assert result.exit_code == 0, result.output
            printed += [line for line in result.output.splitlines() if line.startswith("snapshot ")]
            run_consumer(settings)
    finally:
        ledger.path("vrp", "ripe").unlink(missing_ok=True)  # the shared services' state folder keeps no test state
    assert printed[1].endswith("supersedes the snapshot of 2025-07-20T09:31Z: 1 added, 1 changed, 30 unchanged, 11 retracted")
    snapshots = sorted((n["props"] for n in neo.canonical_dump()["nodes"] if "Snapshot" in n["labels"]), key=lambda p: str(p["observed_at"]))
    newest = snapshots[-1]
    assert (newest["added"], newest["changed"], newest["unchanged"], newest["retracted"]) == (1, 1, 30, 11)

    state = tmp_path / "embedded"
    embedded = []
    for path in files:
        result = CliRunner().invoke(cli, ["ingest", "vrps", str(path), "--backend", "embedded", "--state-dir", str(state)])
        assert result.exit_code == 0, result.output
        embedded += [line.split(": ", 1)[1] for line in result.output.splitlines() if line.startswith("snapshot ")]
        CliRunner().invoke(cli, ["consume", "--until-idle", "--backend", "embedded", "--state-dir", str(state)])
    assert embedded == [line.split(": ", 1)[1] for line in printed]
    store = NxStore(state)
    node = max((d for n, d in store.g.nodes(data=True) if n[0] == "Snapshot"), key=lambda d: d["observed_at"])
    assert (node["added"], node["changed"], node["unchanged"], node["retracted"]) == (1, 1, 30, 11)
