"""Shared by the continuous-analysis tests (tests/unit/test_continuous.py on the embedded store,
tests/integration/test_continuous_services.py on Neo4j): event streams for hypothesis, generated
portfolios, and the full analysis the incrementally kept results must equal.

SYNTHETIC DATA in 240.0.0.0/4."""
from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from graph_events import day, lease, listing, origin, prov, registration, route_object, vrp
from hypothesis import strategies as st

from chainrisk.graph.continuous import ContinuousAnalysis
from chainrisk.ingest.events import Delegation, HolderTransfer, Party, Provenance, SnapshotEnd, Vrp

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)


def full_analysis(store: Any, now: datetime = NOW) -> None:
    """What ``chainrisk analyze`` writes, as of ``now``'s date."""
    from chainrisk.cli.report_cmd import analyse_and_write_back

    analyse_and_write_back(store, now.date())


IDLE_ONLY = ("analysis_digest", "idle_flags", "idle_risk_score", "analysed_as_of")


def leased_results(dump: dict[str, Any]) -> dict[str, Any]:
    """A canonical dump without the idle-space results of holdings that are not leased blocks
    (only a full analysis writes those: the continuous analysis keeps the leased blocks' results)
    and without ``analysed_as_of``: like ``analysed_at`` it is written only with results that
    changed, so it tells when they were judged, which differs between two histories of one graph."""
    nodes = []
    for node in dump["nodes"]:
        props = node["props"]
        if "Block" in node["labels"]:
            dropped = IDLE_ONLY if "analysis_basis" not in props else ("analysed_as_of",)
            node = {**node, "props": {k: v for k, v in props.items() if k not in dropped}}
        nodes.append(node)
    return {"nodes": sorted(nodes, key=lambda n: json.dumps(n, sort_keys=True, default=str)), "relationships": dump["relationships"]}


def assert_same_results(kept: dict[str, Any], full: dict[str, Any]) -> None:
    """The two canonical dumps agree (the full one's idle-space-only results aside), with the first
    differing elements of each side in the message."""
    kept, full = leased_results(kept), leased_results(full)
    if kept != full:
        a = {json.dumps(x, sort_keys=True, default=str) for x in kept["nodes"] + kept["relationships"]}
        b = {json.dumps(x, sort_keys=True, default=str) for x in full["nodes"] + full["relationships"]}
        raise AssertionError(f"kept only: {sorted(a - b)[:5]}\nfull only: {sorted(b - a)[:5]}")


def assert_kept_equal_a_full_analysis(store: Any, now: datetime = NOW) -> int:
    """The results an embedded store kept incrementally equal a full analysis of its own graph
    (what ``chainrisk analyze`` computes, as of ``now``, before its write-back): every leased
    block's row and SPOF_FOR relationships, no results on any other Block. Reads the Block nodes
    and SPOF_FOR relationships directly (a canonical dump of a 100k-block graph takes a minute).
    Returns the number of leased blocks compared."""
    from chainrisk.analysis.blocks import analyse_portfolio
    from chainrisk.analysis.writeback import BLOCK_ROW_NAMES, SPOF_ROW_NAMES, analysis_rows, rows_by_block
    from chainrisk.graph.stores.incremental import holds_block_results, stored_row

    analysis = analyse_portfolio(store.load_portfolio(), now.date(), timedelta(hours=24))  # analyse_and_write_back's
    block_rows, spof_rows = analysis_rows(analysis, now.replace(microsecond=0))
    full = rows_by_block(block_rows, spof_rows)
    full_spofs = {(r["block"], r["party"]): {k: r[k] for k in SPOF_ROW_NAMES} for r in spof_rows}
    kept: dict[str, dict[str, Any]] = {}
    kept_spofs: dict[tuple[str, str], dict[str, Any]] = {}
    stray: list[str] = []
    for node, data in store.g.nodes(data=True):
        if node[0] != "Block":
            continue
        spofs = [(d, u[1]) for u, _, d in store.g.in_edges(node, data=True) if d["type"] == "SPOF_FOR"]
        kept_spofs.update({(node[1], party): {k: d.get(k) for k in SPOF_ROW_NAMES} for d, party in spofs})
        if holds_block_results(data):
            kept[node[1]] = stored_row(node[1], data, [(d.get("position", 0), party) for d, party in spofs])
        elif spofs or any(data.get(k) is not None for k in BLOCK_ROW_NAMES):
            stray.append(node[1])
    assert not stray, f"results on blocks that are not leased: {sorted(stray)[:5]}"
    assert kept.keys() == full.keys(), f"kept only: {sorted(kept.keys() - full.keys())[:5]}, full only: {sorted(full.keys() - kept.keys())[:5]}"
    differ = [(p, {k: (v, full[p][k]) for k, v in row.items() if v != full[p][k]}) for p, row in kept.items() if row != full[p]]
    assert not differ, f"{len(differ)} block(s) differ (kept, full): {sorted(differ)[:3]}"
    wrong = sorted(k for k in kept_spofs.keys() | full_spofs.keys() if kept_spofs.get(k) != full_spofs.get(k))
    assert not wrong, f"{len(wrong)} SPOF_FOR differ: {[(k, kept_spofs.get(k), full_spofs.get(k)) for k in wrong[:3]]}"
    return len(kept)


def apply_continuously(store: Any, batches: list[list[Any]], now: datetime = NOW) -> ContinuousAnalysis:
    """Apply the batches to ``store`` as the consumer does with continuous analysis on."""
    analysis = ContinuousAnalysis(store, clock=lambda: now)
    for batch in batches:
        analysis.after_batch(store.apply_batch(batch, {}, "g", keep_changes=False).applied_facts)
    return analysis


BLOCKS = ["240.2.0.0/22", "240.2.0.0/24", "240.2.1.0/24", "240.2.1.128/25", "240.2.4.0/24", "240.3.0.0/24"]
AROUND = [*BLOCKS, "240.2.0.0/16", "240.0.0.0/8", "240.2.0.0/23", "240.2.1.192/26"]
PARTIES = ["Holder A", "Holder B", "Up C", "Broker D", "Lessee E", "Lessee F"]
ASNS = [None, 64500, 64501]


@st.composite
def fact_events(draw: st.DrawFn) -> list[Any]:
    """One or two versions of one fact (the second may retract it), of any type."""
    kind = draw(st.sampled_from(["lease", "lease", "lease", "registration", "vrp", "origin", "route", "listing", "delegation",
                                 "transfer"]))
    observed = draw(st.integers(0, 4))
    op = draw(st.sampled_from(["assert", "assert", "retract"]))
    block = draw(st.sampled_from(BLOCKS if kind in ("lease", "registration") else AROUND))
    if kind == "lease":
        provider, recipient = draw(st.sampled_from(PARTIES)), draw(st.sampled_from(PARTIES))
        make = lambda at, o: lease(block, provider, recipient, at, op=o,  # noqa: E731
                                   provider_role=draw(st.sampled_from(["holder", "upstream", "broker"])),
                                   recipient_role=draw(st.sampled_from(["upstream", "broker", "lessee", "lessee"])),
                                   end=draw(st.sampled_from([date(2026, 5, 1), date(2026, 7, 1), date(2027, 12, 31)])),
                                   lessee_asn=draw(st.sampled_from(ASNS)),
                                   document_ref=draw(st.sampled_from([None, "LOA-1"])))
    elif kind == "registration":
        role = draw(st.sampled_from(["holder", "upstream", "lessee"]))
        status = {"holder": "ALLOCATED PA", "upstream": "SUB-ALLOCATED PA", "lessee": "ASSIGNED PA"}[role]
        org = draw(st.sampled_from([*PARTIES, None]))
        make = lambda at, o: registration(block, org, at, role=role, status=status, op=o)  # noqa: E731
    elif kind == "vrp":
        asn, max_length = draw(st.sampled_from([0, 64500, 64501])), draw(st.sampled_from([22, 24, 25]))
        make = lambda at, o: vrp(block, asn, at, max_length=max_length, op=o)  # noqa: E731
    elif kind == "origin":
        asns = tuple(draw(st.lists(st.sampled_from([64500, 64501, 64502]), min_size=1, max_size=2, unique=True)))
        make = lambda at, o: origin(block, *asns, observed=at).model_copy(update={"op": o}).with_id()  # noqa: E731
    elif kind == "route":
        asn = draw(st.sampled_from([64500, 64501]))
        make = lambda at, o: route_object(block, asn, at).model_copy(update={"op": o}).with_id()  # noqa: E731
    elif kind == "listing":
        make = lambda at, o: listing(block, at, op=o)  # noqa: E731
    elif kind == "delegation":
        make = lambda at, o: Delegation(block=block, registry="ripe", status="allocated", holder_id="H1", op=o,  # noqa: E731
                                        provenance=prov(at, "ripe-delegated")).with_id()
    else:
        make = lambda at, o: HolderTransfer(block=block, from_party=Party(name="Holder A"), to_party=Party(name="Holder B"),  # noqa: E731
                                            transfer_date=day(3), transfer_type="RESOURCE_TRANSFER", op=o,
                                            provenance=prov(at, "transfers")).with_id()
    first = make(observed, "assert")
    return [first] if op == "assert" and draw(st.booleans()) else [first, make(observed + draw(st.integers(1, 3)), op)]


@st.composite
def vrp_snapshot(draw: st.DrawFn) -> list[Any]:
    """A complete VRP snapshot of trust anchor ``ripe``: its VRPs and its end (a later one retracts
    what an earlier one held and it lacks)."""
    observed = day(draw(st.integers(0, 6)))
    sid = f"snap-{observed.date()}-{draw(st.integers(0, 3))}"
    source = Provenance(source="rpki-client", reference=f"{sid}.json", observed_at=observed, ingested_at=observed, snapshot=sid)
    chosen = draw(st.lists(st.tuples(st.sampled_from(AROUND), st.sampled_from([64500, 64501]), st.sampled_from([24, 25])),
                           max_size=4, unique=True))
    events: list[Any] = [Vrp(block=b, asn=a, max_length=m, ta="ripe", provenance=source).with_id() for b, a, m in chosen]
    events.append(SnapshotEnd(snapshot=sid, fact_type="vrp", scope="ripe", events=len(events), provenance=source).with_id())
    return events


@st.composite
def event_streams(draw: st.DrawFn) -> list[list[Any]]:
    """Facts and snapshots, shuffled, with some events twice, cut into batches."""
    events = [e for group in draw(st.lists(fact_events(), min_size=1, max_size=25)) for e in group]
    events += [e for snap in draw(st.lists(vrp_snapshot(), max_size=2)) for e in snap]
    events += draw(st.lists(st.sampled_from(events), max_size=5))  # duplicates
    events = draw(st.permutations(events))
    cuts = sorted(draw(st.lists(st.integers(0, len(events)), max_size=6)))
    bounds = [0, *cuts, len(events)]
    return [events[a:b] for a, b in zip(bounds, bounds[1:]) if b > a]


def portfolio_events(folder: Path, blocks: int, seed: int, broken_rate: float = 0.0) -> tuple[list[Any], list[Any]]:
    """A generated portfolio's files (``chainrisk generate``; with the demo's ``broken_rate`` the
    demo portfolio) ingested as ``chainrisk demo`` does: every event, and the events of a newer VRP
    export in which every fifth ROA is gone (a full snapshot: the rest are retracted)."""
    from snapshot_files import ingest, vrp_export

    from chainrisk.cli.demo_cmd import DEMO_FILES
    from chainrisk.synthetic import write_dataset

    out = folder / "portfolio"
    files = write_dataset(blocks, seed, out, broken_rate=broken_rate)["files"]
    events = [e for kind, worker in DEMO_FILES if kind in files for e in ingest(worker, [out / files[kind]])[0]]
    roas = json.loads((out / files["vrps"]).read_text())["roas"]
    newer = vrp_export(folder / "vrps-next.json", "2026-11-20T00:00:00Z", [r for i, r in enumerate(roas) if i % 5])
    return events, ingest("vrps", [newer])[0]


def in_batches(events: list[Any], size: int) -> list[list[Any]]:
    return [events[i:i + size] for i in range(0, len(events), size)]


