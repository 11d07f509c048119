"""Full snapshots on real files: the AFRINIC delegated files of 2023-03-23 and 2026-08-21 (ranges
gone or reclaimed in 2026 end their holding, the alerts name the leases they cut into), and the two
rpki-client exports of 2025-07-20 with rpkilog's diff of them (skipped when those are absent)."""
from __future__ import annotations

import bz2
import ipaddress
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from chainrisk.graph.backend import open_sink, open_store
from chainrisk.graph.config import load_settings
from chainrisk.graph.consumer import consume
from chainrisk.graph.stores.nx_store import NxStore
from chainrisk.ingest import delegated, leases, vrps
from chainrisk.ingest.common import run_ingest

AFRINIC_2023 = "delegated_stats/delegated-afrinic-extended-20230323.txt"
AFRINIC_2026 = "delegated_stats/delegated-afrinic-extended-20260821.txt"
EXPORT_0931 = "rpki_vrps/rpki-client_vrps_20250720T093135Z.json.bz2"
EXPORT_1001 = "rpki_vrps/rpki-client_vrps_20250720T100145Z.json.bz2"
VRPDIFF = "rpki_vrps/rpkilog_vrpdiff_20250720T100145Z.json.bz2"
# 41.198.0.0/16 is allocated in 2023 and not listed in 2026; 41.67.80.0/21 allocated, then available
REGISTER = """block,provider,provider_role,recipient,recipient_role,start_date,end_date,lessee_asn
41.198.5.0/24,GoneHold,holder,Accra Edge,lessee,2022-01-01,2027-01-01,64510
41.67.81.0/24,ReclaimHold,holder,Dakar Cloud,lessee,2022-01-01,2027-01-01,64511
"""


def _ingest(settings: Any, module: Any, path: Path, observed_at: datetime | None = None) -> Any:
    sink = open_sink(settings)
    try:
        summary = run_ingest(module.parse, [path], sink, observed_at=observed_at, snapshot=getattr(module, "SNAPSHOT", False))
    finally:
        sink.close()
    consume(settings, until_idle=True)
    return summary


def _cidrs(path: Path) -> dict[str, tuple[str, str | None]]:
    """Independent reading of a delegated file: CIDR -> (status, opaque id), IPv4 records only."""
    out = {}
    for line in path.read_text().splitlines():
        parts = line.split("|")
        if len(parts) >= 7 and parts[2] == "ipv4" and parts[1] != "*":
            first = ipaddress.IPv4Address(parts[3])
            for net in ipaddress.summarize_address_range(first, first + int(parts[4]) - 1):
                out[str(net)] = (parts[6], parts[7] if len(parts) > 7 and parts[7] else None)
    return out


def _held_cidrs(path: Path) -> dict[str, str]:
    return {cidr: holder for cidr, (status, holder) in _cidrs(path).items() if status in ("allocated", "assigned") and holder}


def _all_cidrs(path: Path) -> set[str]:
    return set(_cidrs(path))


def test_afrinic_ranges_gone_or_reclaimed_in_2026_end_their_holding(tmp_path: Path, real_sample: Any) -> None:
    settings = load_settings(backend="embedded", state_dir=tmp_path / "state")
    register = tmp_path / "leases.csv"
    register.write_text(REGISTER)
    _ingest(settings, leases, register, datetime(2026, 1, 1, tzinfo=timezone.utc))
    old, new = real_sample(AFRINIC_2023), real_sample(AFRINIC_2026)
    _ingest(settings, delegated, old)
    summary = _ingest(settings, delegated, new)
    assert [r.incomplete for r in summary.snapshots] == [None]
    store = NxStore(settings.state_dir)
    live = {d["fact_key"] for n, d in store.g.nodes(data=True) if n[0] == "Delegation"}
    newest = {d["fact_key"] for n, d in store.g.nodes(data=True) if n[0] == "Delegation" and d["reference"] == str(new)}
    assert live == newest  # the graph's delegations are exactly the 2026 file's
    tombs = [d for n, d in store.g.nodes(data=True) if n[0] == "Retracted" and d["fact_type"] == "delegation"]
    assert tombs and all(t["reference"] == str(new) and t["observed_at"].date().isoformat() == "2026-08-21" for t in tombs)
    # independently: CIDRs held in 2023 that the 2026 file no longer lists as held (gone, or reserved/available)
    before, after = _held_cidrs(old), _held_cidrs(new)
    ended = sorted(before.keys() - after.keys())
    assert len(ended) > 50
    cut = datetime(2026, 8, 21, tzinfo=timezone.utc)
    for block in ended:
        history = [h for h in store.holder_history(block) if h.source == "delegation"]
        assert history and history[-1].valid_to == cut, (block, history)
        assert history[-1].party_key == f"afrinic:{before[block]}".casefold()
        assert not [h for h in store.holders_of(block) if h.source == "delegation"]
    listed = _all_cidrs(new)
    # held ranges gone from the file are retracted (the others were reclaimed: listed as reserved/available)
    assert sum(1 for t in tombs if t["fact_key"].split("|")[-1] in before) == len(before.keys() - listed) > 0
    store.close()
    repo_store = open_store(settings)
    try:
        alerts = {(a["type"], a["block"]): a for a in repo_store.load_alerts(None)}
    finally:
        repo_store.close()
    gone = alerts[("delegation_reclaimed", "41.198.0.0/16")]
    assert gone["new_party"] is None and [x["lessees"] for x in gone["affected"]] == [["Accra Edge"]]
    reclaimed = alerts[("delegation_reclaimed", "41.67.80.0/21")]
    assert [x["lessees"] for x in reclaimed["affected"]] == [["Dakar Cloud"]]


def _vrp_expiries(path: Path) -> dict[tuple[str, int, int, str], object]:
    """Independent reading of an export: IPv4 VRP -> its expiry (the last listed, as the worker keeps)."""
    data = json.loads(bz2.decompress(path.read_bytes()))
    return {(r["prefix"], r["maxLength"], int(str(r["asn"]).removeprefix("AS")), r["ta"]): r.get("expires")
            for r in data["roas"] if ":" not in r["prefix"]}


def _vrp_set(path: Path) -> set[tuple[str, int, int, str]]:
    return set(_vrp_expiries(path))


class _StoreSink:
    """Applies published events straight to an embedded store, in batches (no event log in between)."""

    def __init__(self, store: NxStore, batch: int = 5000) -> None:
        self.store, self.batch, self.buffer = store, batch, []  # type: ignore[var-annotated]

    def publish(self, event: Any) -> None:
        self.buffer.append(event)
        if len(self.buffer) >= self.batch:
            self.flush()

    def flush(self) -> None:
        if self.buffer:
            self.store.apply_batch(self.buffer, {}, "g")
            self.buffer = []

    def close(self) -> None:
        self.flush()


def _ca_set(path: Path) -> set[str]:
    """The locations of an export's non-functional CAs, read with json.load."""
    return {c["location"] for c in json.loads(bz2.decompress(path.read_bytes()))["nonfunc_cas"]}


@pytest.mark.slow
@pytest.mark.parametrize("reverse", [False, True], ids=["in-order", "reversed"])
def test_rpki_client_exports_of_2025_07_20(reverse: bool, tmp_path: Path, real_sample: Any) -> None:
    """After both exports the graph's VRPs are exactly the 10:01 export's (in either order); in order,
    what the second one added and retracted is an independent diff of the two files, and rpkilog's
    diff of them (9 NEW, 6 DELETE, 10,193 REPLACE, IPv4 and IPv6) agrees in kind: a new expiry is an
    update of the same fact, not a retraction plus an addition."""
    first, second = real_sample(EXPORT_0931), real_sample(EXPORT_1001)
    diff = json.loads(bz2.decompress(real_sample(VRPDIFF).read_bytes()))
    verbs: dict[str, int] = {}
    for entry in diff["vrp_diffs"]:
        verbs[entry["verb"]] = verbs.get(entry["verb"], 0) + 1
    assert verbs == {"NEW": 9, "DELETE": 6, "REPLACE": 10_193}
    old, new = _vrp_set(first), _vrp_set(second)
    store = NxStore(tmp_path / "state", save_interval_s=1e9)
    sink = _StoreSink(store)
    for path in (second, first) if reverse else (first, second):
        run_ingest(vrps.parse, [path], sink, snapshot=True)
    graph = {(d["prefix"], d["max_length"], d["asn"], d["ta"]) for n, d in store.node_items() if n[0] == "Vrp"}
    assert graph == new  # the newer export in force, whichever came first
    # the non-functional CAs are the newer export's too: each export lists its own
    cas = {d["location"] for n, d in store.g.nodes(data=True) if n[0] == "NonfunctionalCa"}
    assert cas == _ca_set(second) and len(cas) > 100
    if not reverse:
        latest = [d for n, d in store.g.nodes(data=True)
                  if n[0] == "Snapshot" and d["reference"] == str(second) and d["fact_type"] == "vrp"]
        assert sum(d.get("retracted", 0) for d in latest) == len(old - new)
        assert sum(d["added"] for d in latest) == len(new - old)
        before, after = _vrp_expiries(first), _vrp_expiries(second)
        new_expiry = {key for key in new & old if before[key] != after[key]}
        assert 0 < sum(d["changed"] for d in latest) == len(new_expiry) <= verbs["REPLACE"]
        assert sum(d["unchanged"] for d in latest) == len(new & old) - len(new_expiry)  # only their version moved
        assert len(old - new) <= verbs["DELETE"] and len(new - old) <= verbs["NEW"]


@pytest.mark.parametrize("name", [EXPORT_0931])
def test_rpki_client_export_tags_every_vrp_with_its_trust_anchors_snapshot(name: str, real_sample: Any) -> None:
    from snapshot_files import ingest

    events, summary = ingest("vrps", [real_sample(name)])
    vrp_snapshots = [r for r in summary.snapshots if r.fact_type == "vrp"]
    assert {r.scope for r in vrp_snapshots} == {"afrinic", "apnic", "arin", "lacnic", "ripe"}
    assert sum(r.events for r in vrp_snapshots) == sum(1 for e in events if e.type == "vrp")
    # the export's ASPAs are one snapshot of its source
    assert [(r.scope, r.events) for r in summary.snapshots if r.fact_type == "aspa"] == [("rpki-client", 100)]
    # the nonfunc_cas section: a CA snapshot per trust anchor, AFRINIC's empty (no CA of it is listed)
    cas = {r.scope: r.events for r in summary.snapshots if r.fact_type == "nonfunctional_ca"}
    assert cas == {"afrinic": 0, "apnic": 13, "arin": 10, "lacnic": 32, "ripe": 69}
    assert all(r.incomplete is None for r in summary.snapshots)


class _Discard:
    def publish(self, event: Any) -> None:
        pass

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


def test_the_real_exports_summary_counts_equal_a_diff_of_the_files(real_sample: Any, tmp_path: Path) -> None:
    """What the 10:01 export's summary says it changes, per trust anchor, against the 09:31 one
    equals an independent diff of the two files' IPv4 VRPs (key prefix, maxLength, ASN, TA; content
    the expiry)."""
    from chainrisk.graph.snapshot_ledger import SnapshotLedger
    from chainrisk.ingest.snapshot_state import Changes

    first, second = real_sample(EXPORT_0931), real_sample(EXPORT_1001)

    def ipv4_vrps(path: Path) -> dict[tuple[str, int, int, str], Any]:
        roas = json.load(bz2.open(path))["roas"]
        return {(r["prefix"], r["maxLength"], int(str(r["asn"]).removeprefix("AS")), r["ta"]): r.get("expires")
                for r in roas if ":" not in r["prefix"]}

    before, after = ipv4_vrps(first), ipv4_vrps(second)
    expected = {}
    for ta in {k[3] for k in before.keys() | after.keys()}:
        old = {k: v for k, v in before.items() if k[3] == ta}
        new = {k: v for k, v in after.items() if k[3] == ta}
        both = old.keys() & new.keys()
        expected[ta] = Changes(len(new.keys() - old.keys()), sum(old[k] != new[k] for k in both), sum(old[k] == new[k] for k in both),
                               len(old.keys() - new.keys()))
    ledger = SnapshotLedger(tmp_path / "snapshots", "test")
    for path in (first, second):
        summary = run_ingest(vrps.parse, [path], _Discard(), snapshot=True, ledger=ledger)
    got = {r.scope: r.outcome.changes for r in summary.snapshots if r.fact_type == "vrp" and r.outcome is not None}
    assert got == expected
    assert sum(c.added for c in got.values()) == 7 and sum(c.retracted for c in got.values()) == 6
