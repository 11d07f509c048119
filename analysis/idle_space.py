"""Idle space: what a holder of the portfolio holds but has not leased, and whether it is exposed.

A *portfolio holder* is a party that is the holder on some leased block's chain. The space it
*holds* is every registry object with role holder whose org is that party (as
:func:`~chainrisk.analysis.signals.same_party` matches them), and
every delegated-stats record (allocated or assigned) listing it by its opaque id. The *idle* space
is the held space less every leased block, as the fewest CIDR blocks.

An idle range gets the flag ``idle-space-announced`` when a route in BGP (pfx2as) announces any of
it - the range, a prefix inside it, or a covering prefix inside the holding (squatting, or a lease
nobody recorded) - or when no AS0 VRP covers it (RFC 6483 s.4 / RFC 7607: without one, a forged
origin for unused space is NotFound, not Invalid). Its score is the sum of the flag points
(:func:`chainrisk.analysis.blocks.findings_score`).

Pure: a portfolio and its analysis in, idle ranges out.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from chainrisk.analysis.blocks import PortfolioAnalysis, findings_score
from chainrisk.analysis.chains import HOLDER
from chainrisk.analysis.model import Portfolio
from chainrisk.analysis.prefix_index import CoveringIndex, OverlapIndex
from chainrisk.analysis.signals import comparable_name
from chainrisk.common.prefixes import prefix_ints, prefix_size
from chainrisk.ingest.events import HELD_STATUSES, delegation_holder

IDLE_FIELDS = ("block", "holder", "held_block", "addresses", "bgp_routes", "as0_vrps", "risk_score", "risk_flags")


@dataclass(frozen=True, slots=True)
class IdleSpace:
    """One idle range of a portfolio holder's space and what BGP and the VRPs say about it."""

    block: str
    holder: str
    held_block: str
    addresses: int
    bgp_routes: tuple[str, ...]  # "<prefix> AS<n>" / "<prefix> {AS_SET}" of the routes announcing part of it
    as0_vrps: tuple[str, ...]  # the AS0 VRPs covering it

    def findings(self) -> list[tuple[str, str, tuple[object, ...]]]:
        """The range's risk flags, as :func:`chainrisk.analysis.blocks.risk_findings` gives a block's."""
        reasons = []
        if self.bgp_routes:
            reasons.append(f"announced in BGP: {'; '.join(self.bgp_routes)}")
        if not self.as0_vrps:
            reasons.append("no AS0 ROA covers it")
        if not reasons:
            return []
        return [("idle-space-announced", "{} holds it unleased; {}", (self.holder, "; ".join(reasons)))]

    @property
    def risk_flags(self) -> list[str]:
        return [f"{code}: {template.format(*args)}" for code, template, args in self.findings()]

    @property
    def risk_score(self) -> int:
        return findings_score(self.findings())

    def as_dict(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in IDLE_FIELDS}
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}


def _held(portfolio: Portfolio, holders: dict[str, str]) -> Iterator[tuple[str, str]]:
    """(held prefix, holder name) of every registry object and delegation of a portfolio holder."""
    # same_party, by lookup: equal keys, or equal comparable names (one pass over the registrations)
    by_name: dict[str, str] = {}
    for name in holders.values():
        by_name.setdefault(comparable_name(name), name)
    for r in portfolio.registrations:
        if r.role == HOLDER:
            if r.org_key is not None and r.org_key in holders:
                yield r.block, holders[r.org_key]
            elif r.org_name and comparable_name(r.org_name) in by_name:
                yield r.block, by_name[comparable_name(r.org_name)]
    for d in portfolio.delegations:
        if d.status in HELD_STATUSES and d.holder_id:
            key = delegation_holder(d.registry, d.holder_id).key
            if key in holders:
                yield d.block, holders[key]


def subtract(prefix: str, leased: Iterable[str]) -> list[str]:
    """``prefix`` less the ``leased`` blocks (each inside it), as the fewest CIDR blocks in address
    order. Sorted by first address then length, a block nested in one before it starts before the
    cursor and leaves no gap."""
    first, length = prefix_ints(prefix)
    cursor, end = first, first + prefix_size(length) - 1
    out: list[str] = []
    for block in sorted(leased, key=prefix_ints):
        b_first, b_length = prefix_ints(block)
        if b_first > cursor:
            out += _cidrs(cursor, b_first - 1)
        cursor = max(cursor, b_first + prefix_size(b_length))
    if cursor <= end:
        out += _cidrs(cursor, end)
    return out


def _cidrs(first: int, last: int) -> list[str]:
    return [str(n) for n in ipaddress.summarize_address_range(ipaddress.IPv4Address(first), ipaddress.IPv4Address(last))]


def idle_space(portfolio: Portfolio, analysis: PortfolioAnalysis) -> list[IdleSpace]:
    """Every idle range of every portfolio holder, in address order (see the module docstring)."""
    holders: dict[str, str] = {}
    for hops in analysis.hops_by_block.values():
        for h in hops:
            if h.provider_role == HOLDER:
                holders.setdefault(h.provider, h.provider_name)
    if not holders:
        return []
    held: dict[str, str] = {}
    end = -1  # the last address of the holding kept last: a holding inside it is the same space
    for prefix, holder in sorted(_held(portfolio, holders), key=lambda item: prefix_ints(item[0])):
        first, length = prefix_ints(prefix)
        if first > end and prefix not in held:
            held[prefix] = holder
            end = first + prefix_size(length) - 1
    if not held:
        return []
    leased = OverlapIndex((b, b) for b in analysis.hops_by_block)
    routes: OverlapIndex[str] = OverlapIndex(
        [(p, f"{p} AS{asn}") for p, origins in portfolio.origins.items() for asn in origins]
        + [(p, f"{p} {{{text}}}") for p, sets in portfolio.as_sets.items() for text in sets])
    as0: CoveringIndex[str] = CoveringIndex.from_items((v.prefix, v.label()) for v in portfolio.vrps if v.asn == 0)
    out: list[IdleSpace] = []
    for prefix, holder in held.items():
        first, length = prefix_ints(prefix)
        inside = [b for b in leased.overlapping(first, length) if prefix_ints(b)[1] >= length]
        if any(b == prefix for b in inside):
            continue
        for idle in subtract(prefix, inside):
            i_first, i_length = prefix_ints(idle)
            seen = [r for r in routes.overlapping(i_first, i_length) if prefix_ints(r.split(" ", 1)[0])[1] >= length]
            out.append(IdleSpace(idle, holder, prefix, prefix_size(i_length), tuple(sorted(set(seen))),
                                 tuple(as0.covering(i_first, i_length))))
    return out

