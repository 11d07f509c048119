"""Analysis results -> the rows ``GraphStore.write_analysis(block_rows, spof_rows)`` takes, so
analysts see them on the graph (Neo4j Browser: ``MATCH (p:Party)-[s:SPOF_FOR]->(b:Block) RETURN *``).

Block properties (graph model, "analysis write-back"): ``depth_min, depth_max, secured_until,
spof_count, rov_state`` and the other per-block signals below. Values are Neo4j-storable: numbers,
text, booleans, dates, timestamps, lists of text or numbers (lists, not tuples, so both stores hold the same values);
``None`` (and an empty list) means "not set". A block's single points of failure are its SPOF_FOR
relationships only (in ``position`` order), not repeated as a property: fewer properties per block
make the write-back of a big portfolio cheaper.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from chainrisk.analysis.blocks import PortfolioAnalysis
from chainrisk.analysis.idle_space import IdleSpace
from chainrisk.common.memory import without_cyclic_gc


def analysis_rows(analysis: PortfolioAnalysis, analysed_at: datetime | None = None,
                  idle: Sequence[IdleSpace] = ()) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(block_rows, spof_rows)``: one block row per leased block (``prefix`` + properties) and
    one SPOF row per (party, block) with the party's ``position`` on the chain (0 = holder side)
    and the block's lessee, so Browser can draw who carries which block. ``idle``: the idle space
    of the portfolio's holders (analysis/idle_space.py), one row per holding that has some: its
    flagged ranges as ``idle_flags`` (``"<range>: <flag>"``) and their summed ``idle_risk_score``."""
    with without_cyclic_gc():  # a million rows of small objects, no cycles
        block_rows, spof_rows = _rows(analysis, analysed_at)
    stamp = analysed_at.isoformat() if analysed_at else None
    held: dict[str, dict[str, Any]] = {}
    for r in idle:
        flags = r.risk_flags
        if flags:
            row = held.setdefault(r.held_block, {"prefix": r.held_block, "idle_flags": [], "idle_risk_score": 0, "analysed_at": stamp})
            row["idle_flags"] += [f"{r.block}: {flag}" for flag in flags]
            row["idle_risk_score"] += r.risk_score
    return block_rows + list(held.values()), spof_rows


def _rows(analysis: PortfolioAnalysis, analysed_at: datetime | None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    block_rows: list[dict[str, Any]] = []
    spof_rows: list[dict[str, Any]] = []
    stamp = analysed_at.isoformat() if analysed_at else None
    for r in analysis.blocks:
        block_rows.append({
            "prefix": r.block,
            "lessee": r.lessee,
            "depth_min": r.depth_min,
            "depth_max": r.depth_max,
            "secured_until": r.secured_until,
            "spof_count": len(r.spof_keys),
            "renewal_gaps": list(r.renewal_gaps) or None,
            "path_count": r.path_count,
            "analysis_basis": r.basis,
            "rov_state": r.rov_state,
            "rov_reason": r.rov_reason,
            "bgp_seen": r.bgp_seen,
            "irr_route": r.irr_route,
            "routing_ready": r.routing_ready,
            "listed": bool(r.listings),
            "abuse_contact": r.abuse_contact,
            "source_clear": r.source_clear,
            "data_errors": list(r.data_errors) or None,
            "lease_end": r.lease_end,
            "bgp_observed_at": r.bgp_observed_at,
            "announced_after_lease_end": r.announced_after_lease_end,
            "asn_listed": bool(r.asn_listings),
            "aspa_unauthorised": list(r.aspa_unauthorised) or None,
            "risk_score": r.risk_score,
            "risk_flags": r.risk_flags or None,
            "analysed_at": stamp,
            "analysed_as_of": analysis.as_of,
        })
        for position, key in enumerate(r.spof_keys):
            spof_rows.append({"party": key, "block": r.block, "position": position, "lessee": r.lessee})
    return block_rows, spof_rows
