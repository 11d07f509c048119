"""The analysis write-back plan (graph/stores/writeback_plan.py): a re-analysis writes only what changed."""
from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from graph_events import lease

from chainrisk.graph.stores.nx_store import NxStore
from chainrisk.graph.stores.writeback_plan import DIGEST, plan_write_back

A, B, C = "198.51.100.0/24", "198.51.101.0/24", "198.51.102.0/24"


def rows(stamp: str, depth_b: int = 2, spof_b: str = "h") -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    blocks = [{"prefix": A, "depth_min": 1, "secured_until": date(2027, 1, 31), "renewal_gaps": None, "analysed_at": stamp},
              {"prefix": B, "depth_min": depth_b, "secured_until": None, "renewal_gaps": ["H->U"], "analysed_at": stamp}]
    spofs = [{"party": "h", "block": A, "position": 0, "lessee": "L"}, {"party": spof_b, "block": B, "position": 0, "lessee": "L"}]
    return blocks, spofs


def stored_after(plan: Any) -> dict[str, str | None]:
    return {w.prefix: w.digest for w in plan.writes}


def test_a_first_write_writes_every_block_and_a_rerun_none() -> None:
    first = plan_write_back(*rows("2026-01-01T00:00:00"), {})
    assert [(w.prefix, w.replaces) for w in first.writes] == [(A, False), (B, False)]
    a = first.writes[0]
    assert dict(zip(first.keys, a.values)) == {"depth_min": 1, "secured_until": date(2027, 1, 31), "renewal_gaps": None,
                                               "analysed_at": "2026-01-01T00:00:00"}
    assert [list(s) for s in a.spofs] == [["h", "L", 0]] and first.spof_keys == ["lessee", "position"]
    rerun = plan_write_back(*rows("2026-02-01T00:00:00"), stored_after(first))  # only the time stamp differs
    assert (rerun.writes, rerun.clears, rerun.unchanged) == ([], [], 2)


def test_a_changed_value_or_spof_rewrites_that_block_only() -> None:
    stored = stored_after(plan_write_back(*rows("t1"), {}))
    for changed in (rows("t2", depth_b=3), rows("t2", spof_b="u")):
        plan = plan_write_back(*changed, stored)
        assert [(w.prefix, w.replaces) for w in plan.writes] == [(B, True)] and plan.unchanged == 1


def test_blocks_no_longer_analysed_are_cleared_and_unknown_results_rewritten() -> None:
    blocks, spofs = rows("t1")
    plan = plan_write_back(blocks, spofs, {A: None, C: "0123456789abcdef"})  # A: written before digests
    assert [(w.prefix, w.replaces) for w in plan.writes] == [(A, True), (B, False)]
    assert plan.clears == [C]


def test_embedded_rerun_keeps_unchanged_blocks_and_their_time_stamp(tmp_path: Path) -> None:
    s = NxStore(tmp_path)
    s.apply_batch([lease(A, "H", "L"), lease(B, "H", "L"), lease(B, "U", "L", provider_role="upstream")], {}, "g")
    s.write_analysis(*rows("t1"))
    block_b = s.g.nodes[("Block", B)]
    assert block_b["renewal_gaps"] == ["H->U"] and "secured_until" not in block_b and len(block_b[DIGEST]) == 16
    s.write_analysis(*rows("t2", spof_b="u"))
    assert s.g.nodes[("Block", A)]["analysed_at"] == "t1"  # unchanged: not written
    assert s.g.nodes[("Block", B)]["analysed_at"] == "t2"
    spofs = sorted((u[1], v[1]) for u, v, d in s.g.edges(data=True) if d["type"] == "SPOF_FOR")
    assert spofs == [("h", A), ("u", B)]
    blocks, spofs = rows("t3")
    s.write_analysis(blocks[:1], spofs[:1])  # B is no longer analysed
    assert not {DIGEST, "depth_min", "renewal_gaps", "analysed_at"} & s.g.nodes[("Block", B)].keys()
    assert [v[1] for _, v, d in s.g.edges(data=True) if d["type"] == "SPOF_FOR"] == [A]
