"""The synthetic generator: its register reads back through the real lease-register worker as the
same hops it builds in memory, its broken rows are rejected with reasons, and its signal files say
what the plan says."""
from __future__ import annotations

from collections import Counter
from datetime import date
from pathlib import Path

from chainrisk import synthetic
from chainrisk.analysis.blocks import RISK_POINTS, analyse_portfolio
from chainrisk.analysis.idle_space import idle_space
from chainrisk.analysis.model import RouteObjectRecord
from chainrisk.graph.stores.portfolio import HOP_FIELDS, REGISTRATION_FIELDS, hop_from_row, registration_from_row, values_of
from chainrisk.graph.stores.records import fact_props
from chainrisk.ingest import leases, rpsl
from chainrisk.ingest.common import ParseContext, Reject, SourceFile
from chainrisk.ingest.events import utc_now


def parse_register(path: Path) -> list:
    ctx = ParseContext(reference=str(path), ingested_at=utc_now())
    with SourceFile(path) as src:
        return list(leases.parse(src, ctx))


def test_register_reads_back_as_the_in_memory_hops(tmp_path):
    generated = synthetic.generate(600, seed=4, broken_rate=0.05)
    synthetic.write_register(generated, tmp_path / "leases.csv")
    items = parse_register(tmp_path / "leases.csv")
    rejects = [i for i in items if isinstance(i, Reject)]
    hops = [hop_from_row(values_of(fact_props(e), HOP_FIELDS)) for e in items if not isinstance(e, Reject)]
    expected = synthetic.to_portfolio(generated).hops
    assert sorted(hops, key=repr) == sorted(expected, key=repr)
    reasons = Counter(r.reason.split(":")[0] for r in rejects)
    assert reasons == {
        "unparsable date": sum(1 for b in generated.blocks if b.defect == "bad-date"),
        "host bits set": sum(len(b.hops) for b in generated.blocks if b.defect == "host-bits"),
    }
    assert min(reasons.values()) > 0


def registry_records(path: Path) -> list:
    ctx = ParseContext(reference=str(path), ingested_at=utc_now())
    with SourceFile(path) as src:
        events = [e for e in rpsl.parse(src, ctx) if getattr(e, "type", None) == "registration"]
    return [registration_from_row(values_of(fact_props(e), REGISTRATION_FIELDS)) for e in events]


def route_objects(path: Path) -> list:
    ctx = ParseContext(reference=str(path), ingested_at=utc_now())
    with SourceFile(path) as src:
        return [RouteObjectRecord(e.block, e.origin_asn, e.registry) for e in rpsl.parse(src, ctx) if getattr(e, "type", None) == "route_object"]


def test_signal_plan_matches_the_analysis(tmp_path):
    generated = synthetic.generate(3000, seed=9)
    plan = synthetic.plan_signals(generated, 9)
    portfolio = synthetic.to_portfolio(generated, plan)
    (tmp_path / "registry.db").write_text(synthetic.registry_text(generated, 9))
    portfolio.registrations = registry_records(tmp_path / "registry.db")
    portfolio.route_objects = route_objects(tmp_path / "registry.db")
    assert len(portfolio.registrations) == len(generated.allocations)
    analysis = analyse_portfolio(portfolio, date(2026, 11, 1))
    got = {r.block: r.rov_state for r in analysis.blocks}
    assert got == plan.rov
    states = Counter(plan.rov.values())
    assert states["Valid"] > 1800 and states["Invalid"] > 250 and states["NotFound"] > 250
    assert sum(1 for r in analysis.blocks if r.listings) >= len(plan.listed)
    # the numeric score computed in the hot loop is the sum of the points of the written-out flags
    for r in analysis.blocks:
        assert r.risk_score == sum(RISK_POINTS[f.split(":")[0]] for f in r.risk_flags), r.block
    assert len({r.risk_score for r in analysis.blocks}) > 10
    flagged = Counter(f.split(":")[0] for r in analysis.blocks for f in r.risk_flags)
    # no broken rows asked for; idle space is flagged in its own report
    assert set(flagged) == set(RISK_POINTS) - {"data-error", "no-lessee-asn", "idle-space-announced"}
    idle = idle_space(portfolio, analysis)
    reasons = Counter(reason.split(":")[0] for r in idle for flag in r.risk_flags for reason in flag.split("; ")[1:])
    assert reasons["announced in BGP"] >= 1 and reasons["no AS0 ROA covers it"] >= 1
    assert any(not r.risk_flags for r in idle)  # idle space with an AS0 ROA and no route is clean


def test_same_seed_same_register_and_different_seed_different_register():
    a = list(synthetic.register_lines(synthetic.generate(300, seed=1)))
    b = list(synthetic.register_lines(synthetic.generate(300, seed=1)))
    c = list(synthetic.register_lines(synthetic.generate(300, seed=2)))
    assert a == b and a != c
    assert all(line.split(",")[0].startswith("240.") for line in a[1:])  # reserved space only


def test_write_dataset_writes_the_same_bytes_for_the_same_seed(tmp_path):
    import importlib

    first = synthetic.write_dataset(300, 5, tmp_path / "a", broken_rate=0.02)
    synthetic.write_dataset(300, 5, tmp_path / "b", broken_rate=0.02)
    other = tmp_path / "c"
    synthetic.write_dataset(300, 6, other, broken_rate=0.02)
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted(["MANIFEST.json", *first["files"].values()])
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert (tmp_path / "a" / "leases.csv").read_bytes() != (other / "leases.csv").read_bytes()
    assert importlib.import_module(first["generator"]) is synthetic  # the manifest names the module that wrote it
