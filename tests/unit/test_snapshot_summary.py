"""A snapshot ingest's summary says what it changes against the scope's previous complete snapshot
(ingest/snapshot_state.py): the counts equal a diff of the two files computed here, and what the
consumer's Snapshot node counts on the embedded backend; an incomplete or older snapshot retracts
nothing and leaves the recorded one in force.

SYNTHETIC DATA in documentation and private prefixes (RFC 5737, RFC 1918)."""
from __future__ import annotations

import gzip
import random
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from snapshot_files import drop, filler_roas, vrp_export

from chainrisk.cli.main import cli
from chainrisk.graph.stores.nx_store import NxStore
from chainrisk.ingest.snapshot_state import Changes, diff, packed

FIRST, SECOND, THIRD = "2025-07-20T09:31:33Z", "2025-07-20T10:01:45Z", "2025-07-20T10:31:12Z"
COUNTS = re.compile(r"supersedes the snapshot of (\S+): ([\d,]+) added, ([\d,]+) changed, ([\d,]+) unchanged, ([\d,]+) retracted")


def run(state: Path, *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(cli, [*args, "--state-dir", str(state), "--backend", "embedded"])
    assert result.exit_code == code, result.output
    return result.output


def snapshot_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("snapshot ")]


def printed(out: str) -> tuple[str, Changes]:
    """The superseded snapshot's date and the counts of the run's one snapshot line."""
    (line,) = snapshot_lines(out)
    match = COUNTS.search(line)
    assert match, line
    return match.group(1), Changes(*(int(g.replace(",", "")) for g in match.groups()[1:]))


def expected_changes(before: dict[Any, Any], after: dict[Any, Any]) -> Changes:
    """The diff of two snapshots given as fact key -> content."""
    return Changes(added=len(after.keys() - before.keys()),
                   changed=sum(1 for k in after.keys() & before.keys() if after[k] != before[k]),
                   unchanged=sum(1 for k in after.keys() & before.keys() if after[k] == before[k]),
                   retracted=len(before.keys() - after.keys()))


def newest_snapshot(state: Path) -> dict[str, Any]:
    store = NxStore(state)
    nodes = [d for n, d in store.g.nodes(data=True) if n[0] == "Snapshot"]
    store.close()
    return max(nodes, key=lambda d: d["observed_at"])


def consumer_changes(node: dict[str, Any]) -> Changes:
    return Changes(node["added"], node["changed"], node["unchanged"], node.get("retracted", 0))


def churned_roas(seed: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Two VRP lists of one trust anchor: the second drops some, adds some, gives some a new expiry."""
    rng = random.Random(seed)
    first = filler_roas(300)
    second = []
    for roa in first:
        draw = rng.random()
        if draw < 0.05:
            continue  # withdrawn
        second.append({**roa, "expires": roa["expires"] + 3600} if draw < 0.25 else roa)
    second += [{"asn": 64998, "prefix": f"172.16.{i}.0/24", "maxLength": 24, "ta": "ripe", "expires": 1753500000} for i in range(7)]
    rng.shuffle(second)
    return first, second


def vrp_facts(roas: list[dict[str, Any]]) -> dict[Any, Any]:
    return {(r["prefix"], r["maxLength"], r["asn"], r["ta"]): r["expires"] for r in roas}


def test_a_vrp_export_prints_what_it_changes_and_the_consumer_agrees(tmp_path: Path) -> None:
    state = tmp_path / "state"
    first, second = churned_roas(3)
    out = run(state, "ingest", "vrps", str(vrp_export(tmp_path / "a.json", FIRST, first)))
    assert "no earlier snapshot of the scope in this event log: 300 added" in out
    run(state, "consume", "--until-idle")
    out = run(state, "ingest", "vrps", str(vrp_export(tmp_path / "b.json", SECOND, second)))
    superseded, changes = printed(out)
    assert superseded == "2025-07-20T09:31Z"
    assert changes == expected_changes(vrp_facts(first), vrp_facts(second))
    assert changes.added == 7 and changes.changed > 0 and changes.retracted > 0
    consumed = run(state, "consume", "--until-idle")
    assert consumer_changes(newest_snapshot(state)) == changes
    assert f"retracted {changes.retracted} fact(s) it no longer holds" in consumed  # the consumer logs what it retracted
    assert f"{changes.added} added, {changes.changed} changed, {changes.unchanged} unchanged" in consumed


def test_a_drop_list_prints_what_it_changes_and_the_consumer_agrees(tmp_path: Path) -> None:
    state = tmp_path / "state"
    rng = random.Random(5)
    before = {f"10.{i}.0.0/16": f"SBL{i}" for i in range(120)}
    after = {p: (f"SBL{i + 1000}" if rng.random() < 0.1 else sbl) for i, (p, sbl) in enumerate(before.items()) if rng.random() > 0.08}
    after.update({f"10.{200 + i}.0.0/16": f"SBL{200 + i}" for i in range(4)})
    run(state, "ingest", "blocklist", str(drop(tmp_path, "drop-a.txt", "Fri, 17 Jan 2025 17:03:47 GMT", list(before.items()))))
    run(state, "consume", "--until-idle")
    out = run(state, "ingest", "blocklist", str(drop(tmp_path, "drop-b.txt", "Sat, 18 Jan 2025 17:03:47 GMT", list(after.items()))))
    superseded, changes = printed(out)
    assert superseded == "2025-01-17T17:03Z"
    assert changes == expected_changes(before, after)
    assert changes.changed and changes.retracted and changes.added == 4
    run(state, "consume", "--until-idle")
    assert consumer_changes(newest_snapshot(state)) == changes


def state_files(state: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((state / "snapshots").iterdir())}


def test_an_incomplete_snapshot_retracts_nothing_and_keeps_the_recorded_one(tmp_path: Path) -> None:
    state = tmp_path / "state"
    first, second = churned_roas(4)
    run(state, "ingest", "vrps", str(vrp_export(tmp_path / "a.json", FIRST, first)))
    recorded = state_files(state)
    assert len(recorded) == 1
    whole = vrp_export(tmp_path / "full.json.gz", SECOND, [*second, *filler_roas(3000, ta="ripe")[300:]], gzipped=True).read_bytes()
    cut = tmp_path / "b.json.gz"
    cut.write_bytes(whole[: len(whole) // 2])
    out = run(state, "ingest", "vrps", str(cut), code=1)
    assert "snapshot incomplete (the file could not be read to its end): nothing retracted" in out
    out = run(state, "ingest", "vrps", "--limit", "5", str(vrp_export(tmp_path / "c.json", SECOND, second)))
    assert "snapshot incomplete (--limit 5 stopped the file before its end): nothing retracted" in out
    assert state_files(state) == recorded
    _, changes = printed(run(state, "ingest", "vrps", str(vrp_export(tmp_path / "d.json", THIRD, second))))
    assert changes == expected_changes(vrp_facts(first), vrp_facts(second))  # still against the first


def test_an_older_snapshot_says_so_and_the_newer_stays_recorded(tmp_path: Path) -> None:
    state = tmp_path / "state"
    first, second = churned_roas(6)
    newer = vrp_export(tmp_path / "b.json", SECOND, second)
    run(state, "ingest", "vrps", str(newer))
    recorded = state_files(state)
    out = run(state, "ingest", "vrps", str(vrp_export(tmp_path / "a.json", FIRST, first)))
    assert snapshot_lines(out)[0].endswith("older than the snapshot of 2025-07-20T10:01Z in force: nothing retracted")
    assert state_files(state) == recorded
    out = run(state, "ingest", "vrps", str(newer))
    assert snapshot_lines(out)[0].endswith("the same facts as the snapshot of 2025-07-20T10:01Z in force (the same file again): nothing changed")
    out = run(state, "ingest", "vrps", str(vrp_export(tmp_path / "c.json", SECOND, first)))
    assert snapshot_lines(out)[0].endswith("as old as the snapshot of 2025-07-20T10:01Z in force: nothing retracted")
    assert state_files(state) == recorded
    run(state, "consume", "--until-idle")
    assert newest_snapshot(state)["observed_at"].isoformat() == "2025-07-20T10:01:45+00:00"


def test_a_dry_run_compares_but_records_nothing(tmp_path: Path) -> None:
    state = tmp_path / "state"
    first, second = churned_roas(8)
    run(state, "ingest", "vrps", str(vrp_export(tmp_path / "a.json", FIRST, first)))
    recorded = state_files(state)
    result = CliRunner().invoke(cli, ["ingest", "vrps", "--dry-run", str(vrp_export(tmp_path / "b.json", SECOND, second)),
                                                      "--state-dir", str(state), "--backend", "embedded"])
    assert result.exit_code == 0, result.stderr
    assert printed(result.stderr)[1] == expected_changes(vrp_facts(first), vrp_facts(second))
    assert state_files(state) == recorded


def test_a_damaged_state_file_is_named_and_replaced(tmp_path: Path) -> None:
    state = tmp_path / "state"
    first, second = churned_roas(9)
    run(state, "ingest", "vrps", str(vrp_export(tmp_path / "a.json", FIRST, first)))
    (name, data), = state_files(state).items()
    (state / "snapshots" / name).write_bytes(data[:-5])
    out = run(state, "ingest", "vrps", str(vrp_export(tmp_path / "b.json", SECOND, second)))
    assert f"{name}: not a snapshot state file of this event log and scope: ignored" in out
    assert f"no earlier snapshot of the scope in this event log: {len(second):,} added" in out
    assert len(state_files(state)[name].partition(b"\n")[2]) == 16 * len(vrp_facts(second))  # replaced by the second


def test_the_state_file_holds_no_code_and_is_private(tmp_path: Path) -> None:
    state = tmp_path / "state"
    run(state, "ingest", "vrps", str(vrp_export(tmp_path / "a.json", FIRST, filler_roas(10))))
    (path,) = (state / "snapshots").iterdir()
    head, _, body = path.read_bytes().partition(b"\n")
    assert head.startswith(b'{"format": "chainrisk-snapshot-state/1"') and len(body) == 10 * 16
    assert path.stat().st_mode & 0o777 == 0o600 and (state / "snapshots").stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize("seed", range(5))
def test_the_fingerprint_diff_equals_a_set_diff(seed: int) -> None:
    rng = random.Random(seed)
    before = {rng.getrandbits(64): rng.getrandbits(64) for _ in range(rng.randrange(0, 400))}
    after = {k: (v if rng.random() < 0.7 else rng.getrandbits(64)) for k, v in before.items() if rng.random() < 0.9}
    after.update({rng.getrandbits(64): rng.getrandbits(64) for _ in range(rng.randrange(0, 50))})
    fingerprints = [k << 64 | v for k, v in after.items()]
    fingerprints += fingerprints[: len(fingerprints) // 10]  # a fact listed twice in a file counts once
    got = diff(packed([k << 64 | v for k, v in before.items()]), packed(fingerprints))
    assert got == expected_changes(before, after)


def test_a_gzip_pair_of_pfx2as_files_reports_new_origins_as_changed(tmp_path: Path) -> None:
    state = tmp_path / "state"
    routes = {f"10.{i}.0.0/16": str(64500 + i) for i in range(50)}
    moved = {**{p: o for p, o in list(routes.items())[3:]}, "10.1.0.0/16": "64999", "172.16.0.0/12": "64510"}
    for day, rows in (("20250101", routes), ("20250102", moved)):
        path = tmp_path / f"routeviews-rv2-{day}-1200.pfx2as.gz"
        path.write_bytes(gzip.compress("".join(f"{p.split('/')[0]}\t{p.split('/')[1]}\t{o}\n" for p, o in rows.items()).encode()))
        out = run(state, "ingest", "pfx2as", str(path))
    assert printed(out) == ("2025-01-01T12:00Z", expected_changes(routes, moved))
    assert printed(out)[1] == Changes(added=1, changed=1, unchanged=47, retracted=2)
