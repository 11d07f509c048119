"""Per leased block: every figure of issue #5 in one :class:`BlockResult`, for a whole portfolio.

A *leased block* is a block with lease hops (basis ``contract``), or - when the register says
nothing about it - a block with a registry assignment (role lessee) whose registry chain reaches a
holder (basis ``registry``; its hops are derived by :func:`registry_chain.registry_hops`).

Pure: a :class:`~chainrisk.analysis.model.Portfolio` and a reference date in, results out.
"""
from __future__ import annotations

import gc
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from chainrisk.analysis.chains import ChainFacts, analyse_chain
from chainrisk.analysis.model import Hop, Portfolio, RegistryRecord
from chainrisk.analysis.prefix_index import prefix_ints, prefix_size
from chainrisk.analysis.registry_chain import RegistryLink, registry_hops, registry_links
from chainrisk.analysis.signals import (
    INVALID,
    NOT_FOUND,
    VALID,
    SignalIndexes,
    abuse_contact_present,
    bgp_origins,
    build_indexes,
    irr_route_exists,
    listing_labels,
    registry_holder,
    source_clarity_issues,
    validate_route,
)

CONTRACT = "contract"
REGISTRY = "registry"
EXPIRY_WARNING = timedelta(days=90)

# `report blocks` JSON/CSV columns, in order; the first eight are fixed by issue #5
BLOCK_FIELDS: tuple[str, ...] = (
    "block", "lessee", "holders", "depth_min", "depth_max", "spofs", "secured_until", "renewal_gaps",
    "addresses", "basis", "lessee_asn", "path_count", "registry_chain", "registry_holder", "source_clear",
    "source_issues", "rov_state", "rov_reason", "bgp_seen", "bgp_origins", "irr_route", "routing_ready",
    "listings", "abuse_contact", "data_errors", "warnings", "risk_score", "risk_flags",
)

# risk points per signal (documented in risk_flags)
RISK_POINTS = {
    "data-error": 150,
    "blocklisted": 40,
    "rov-invalid": 40,
    "expired": 30,
    "source-unclear": 20,
    "rov-notfound": 15,
    "expiring": 15,
    "no-lessee-asn": 10,
    "renewal-gap": 10,
    "intermediary-spof": 10,
    "not-in-bgp": 10,
    "no-irr-route": 5,
    "no-abuse-contact": 5,
}


@dataclass(slots=True)
class BlockResult:
    """The analysis of one leased block. Names as given in the input; ``*_key`` fields are party
    keys for write-back and aggregation (not part of the JSON)."""

    block: str
    lessee: str | None
    holders: list[str]
    depth_min: int | None
    depth_max: int | None
    spofs: list[str]
    secured_until: date | None
    renewal_gaps: list[str]
    addresses: int
    basis: str
    lessee_asn: int | None
    path_count: int
    registry_chain: list[str]
    registry_holder: str | None
    source_clear: bool
    source_issues: list[str]
    rov_state: str | None
    rov_reason: str | None
    bgp_seen: bool | None
    bgp_origins: list[int]
    irr_route: bool | None
    routing_ready: bool
    listings: list[str]
    abuse_contact: bool | None
    data_errors: list[str]
    warnings: list[str]
    risk_score: int = 0
    risk_flags: list[str] = field(default_factory=list)
    lessee_key: str | None = None
    holder_keys: tuple[str, ...] = ()
    spof_keys: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """The JSON object of ``report blocks`` (dates as ISO text)."""
        out = {name: getattr(self, name) for name in BLOCK_FIELDS}
        out["secured_until"] = self.secured_until.isoformat() if self.secured_until else None
        return out


@dataclass
class PortfolioAnalysis:
    """Every leased block's result (ordered by address), and what what-if questions need again."""

    blocks: list[BlockResult]
    hops_by_block: dict[str, list[Hop]]
    as_of: date
    basis: dict[str, str]
    _party_names: dict[str, str] | None = None

    @property
    def party_names(self) -> dict[str, str]:
        """Party key -> name as given (the first spelling met in the leased blocks' hops)."""
        if self._party_names is None:
            names: dict[str, str] = {}
            for hops in self.hops_by_block.values():
                for h in hops:
                    if h.provider not in names:
                        names[h.provider] = h.provider_name
                    if h.recipient not in names:
                        names[h.recipient] = h.recipient_name
            self._party_names = names
        return self._party_names

    @property
    def total_addresses(self) -> int:
        return sum(b.addresses for b in self.blocks)

    def block(self, prefix: str) -> BlockResult | None:
        for b in self.blocks:
            if b.block == prefix:
                return b
        return None


def leased_block_hops(portfolio: Portfolio, indexes: SignalIndexes) -> tuple[dict[str, list[Hop]], dict[str, str]]:
    """Every leased block's hops and basis: the register's hops, plus registry-derived hops for
    blocks the register does not mention whose covering objects form a chain from a holder down
    to an assignment of that very block."""
    hops_by_block: dict[str, list[Hop]] = {}
    for h in portfolio.hops:
        bucket = hops_by_block.get(h.block)
        if bucket is None:
            hops_by_block[h.block] = [h]
        else:
            bucket.append(h)
    basis = dict.fromkeys(hops_by_block, CONTRACT)
    for record in portfolio.registrations:
        if record.role != "lessee" or record.block in hops_by_block:
            continue
        first, length = prefix_ints(record.block)
        covering = [r for r in indexes.registrations.overlapping(first, length) if prefix_ints(r.block)[1] <= length]
        links = registry_links(covering)
        if len(links) >= 2 and links[0].role == "holder" and links[-1].role == "lessee" and links[-1].block == record.block:
            hops_by_block[record.block] = registry_hops(record.block, links)
            basis[record.block] = REGISTRY
    return hops_by_block, basis


def analyse_portfolio(portfolio: Portfolio, as_of: date) -> PortfolioAnalysis:
    """Analyse every leased block of ``portfolio``; ``as_of`` is the day expiry is judged against.
    Results are ordered by first address, then prefix length."""
    # millions of small acyclic objects: the cyclic collector would only rescan them again and again
    collecting = gc.isenabled()
    gc.disable()
    try:
        indexes = build_indexes(portfolio)
        hops_by_block, basis = leased_block_hops(portfolio, indexes)
        located = sorted((prefix_ints(block), block) for block in hops_by_block)
        results = [block_result(analyse_chain(block, hops_by_block[block]), hops_by_block[block], basis[block], first, length, indexes, as_of)
                   for (first, length), block in located]
    finally:
        if collecting:
            gc.enable()
    return PortfolioAnalysis(results, hops_by_block, as_of, basis)


def block_result(facts: ChainFacts, hops: Sequence[Hop], basis: str, first: int, length: int,
                 indexes: SignalIndexes, as_of: date) -> BlockResult:
    """Combine a block's chain facts with its routing, reputation and registry signals."""
    names = facts.names
    covering: list[RegistryRecord] = []
    overlapping: list[RegistryRecord] = []
    links: list[RegistryLink] = []
    if indexes.registration_count:
        overlapping = indexes.registrations.overlapping(first, length)
        covering = [r for r in overlapping if prefix_ints(r.block)[1] <= length]
        links = registry_links(covering)
    owner = registry_holder(covering, length) if covering else None

    asn = facts.lessee_asn
    seen = bgp_origins(indexes.origins, first, length)
    if asn is not None:
        rov_state, rov_reason = validate_route(indexes.vrps, first, length, asn)
        bgp_seen: bool | None = asn in seen
        irr: bool | None = irr_route_exists(indexes.route_objects, first, length, asn)
    else:
        rov_state = rov_reason = None
        bgp_seen = irr = None

    source_issues: list[str] = []
    # without registry objects and with every hop documented there is nothing to find: skip the work
    if (not facts.errors and basis == CONTRACT and (overlapping or (len(facts.parties) > len(facts.holders) + 1
                                                                    and not all(h.document_ref for h in hops)))):
        ends = {facts.lessee, *facts.holders}
        intermediaries = [(k, names[k]) for k in facts.parties if k not in ends]
        source_issues = source_clarity_issues(
            [(k, names[k]) for k in facts.holders], intermediaries, hops, covering, overlapping, length)

    result = BlockResult(
        facts.block, names[facts.lessee] if facts.lessee else None, [names[k] for k in facts.holders],
        facts.depth_min, facts.depth_max, [names[k] for k in facts.spofs],
        facts.secured_until if basis == CONTRACT else None, list(facts.renewal_gaps), prefix_size(length), basis, asn,
        facts.path_count, [links[0].registry.upper()] + [link.label() for link in links] if links else [],
        (owner.org_name or owner.org_key) if owner else None, not source_issues, source_issues, rov_state, rov_reason,
        bgp_seen, list(seen), irr, rov_state == VALID and bool(bgp_seen) and bool(irr),
        listing_labels(indexes.listings.overlapping(first, length)), abuse_contact_present(covering),
        list(facts.errors), list(facts.warnings), 0, [], facts.lessee, facts.holders, facts.spofs,
    )
    result.risk_flags, result.risk_score = risk_flags(result, facts, as_of)
    return result


def risk_flags(result: BlockResult, facts: ChainFacts, as_of: date) -> tuple[list[str], int]:
    """The risk flags of a block, each ``"<code>: <detail>"`` with ``code`` a key of
    :data:`RISK_POINTS`, and the block's risk score: the sum of the flags' points (each renewal
    gap and each intermediary SPOF is a flag of its own)."""
    flags: list[str] = [f"data-error: {e}" for e in result.data_errors]
    score = RISK_POINTS["data-error"] * len(flags)
    if result.listings:
        flags.append(f"blocklisted: {'; '.join(result.listings)}")
        score += RISK_POINTS["blocklisted"]
    if result.rov_state == INVALID:
        flags.append(f"rov-invalid: {result.rov_reason} for AS{result.lessee_asn}")
        score += RISK_POINTS["rov-invalid"]
    elif result.rov_state == NOT_FOUND:
        flags.append(f"rov-notfound: no ROA covers the block for AS{result.lessee_asn}")
        score += RISK_POINTS["rov-notfound"]
    elif result.rov_state is None and not result.data_errors:
        flags.append("no-lessee-asn: the register names no ASN for the lessee")
        score += RISK_POINTS["no-lessee-asn"]
    until = result.secured_until
    if until is not None and until < as_of + EXPIRY_WARNING:
        if until < as_of:
            flags.append(f"expired: secured until {until.isoformat()}")
            score += RISK_POINTS["expired"]
        else:
            flags.append(f"expiring: secured until {until.isoformat()}")
            score += RISK_POINTS["expiring"]
    if result.source_issues:
        flags.append(f"source-unclear: {'; '.join(result.source_issues)}")
        score += RISK_POINTS["source-unclear"]
    for gap in result.renewal_gaps:
        flags.append(f"renewal-gap: {gap}")
        score += RISK_POINTS["renewal-gap"]
    if len(facts.spofs) > len(facts.holders):
        holder_keys = facts.holders
        for k in facts.spofs:
            if k not in holder_keys:
                flags.append(f"intermediary-spof: {facts.names[k]}")
                score += RISK_POINTS["intermediary-spof"]
    if result.bgp_seen is False:
        flags.append(f"not-in-bgp: AS{result.lessee_asn} not seen originating the block")
        score += RISK_POINTS["not-in-bgp"]
    if result.irr_route is False:
        flags.append(f"no-irr-route: no route object for AS{result.lessee_asn}")
        score += RISK_POINTS["no-irr-route"]
    if result.abuse_contact is False:
        flags.append("no-abuse-contact: no covering registry object names one")
        score += RISK_POINTS["no-abuse-contact"]
    return flags, score


def rov_counts(results: Sequence[BlockResult]) -> dict[str, int]:
    """How many blocks validate Valid / Invalid / NotFound, and how many have no lessee ASN."""
    counts = {VALID: 0, INVALID: 0, NOT_FOUND: 0, "no ASN": 0}
    for r in results:
        counts[r.rov_state or "no ASN"] += 1
    return counts
