"""Per leased block: every figure of issue #5 in one :class:`BlockResult`, for a whole portfolio.

A *leased block* is a block with lease hops (basis ``contract``), or - when the register says
nothing about it - a block with a registry assignment (role lessee) whose registry chain reaches a
holder (basis ``registry``; its hops are derived by :func:`registry_chain.registry_hops`).

Pure: a :class:`~chainrisk.analysis.model.Portfolio` and a reference date in, results out.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from chainrisk.analysis.chains import ChainFacts, analyse_chain
from chainrisk.analysis.model import Hop, Portfolio, RegistryRecord
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
from chainrisk.common.memory import without_cyclic_gc
from chainrisk.common.prefixes import prefix_ints

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
    keys for write-back and aggregation (not part of the JSON). Sequences are tuples: a million
    results share their empty ones."""

    block: str
    lessee: str | None
    holders: tuple[str, ...]
    depth_min: int | None
    depth_max: int | None
    spofs: tuple[str, ...]
    secured_until: date | None
    renewal_gaps: tuple[str, ...]
    addresses: int
    basis: str
    lessee_asn: int | None
    path_count: int
    registry_chain: tuple[str, ...]
    registry_holder: str | None
    source_clear: bool
    source_issues: tuple[str, ...]
    rov_state: str | None
    rov_reason: str | None
    bgp_seen: bool | None
    bgp_origins: tuple[int, ...]
    irr_route: bool | None
    routing_ready: bool
    listings: tuple[str, ...]
    abuse_contact: bool | None
    data_errors: tuple[str, ...]
    warnings: tuple[str, ...]
    risk_score: int
    as_of: date
    lessee_key: str | None = None
    holder_keys: tuple[str, ...] = ()
    spof_keys: tuple[str, ...] = ()

    @property
    def risk_flags(self) -> list[str]:
        """Why the block scores what it does (see :func:`risk_flags`)."""
        return risk_flags(self)

    def as_dict(self) -> dict[str, Any]:
        """The JSON object of ``report blocks`` (dates as ISO text, sequences as lists)."""
        out: dict[str, Any] = {}
        for name in BLOCK_FIELDS:
            value = getattr(self, name)
            out[name] = list(value) if isinstance(value, tuple) else value
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
    with without_cyclic_gc():
        indexes = build_indexes(portfolio)
        hops_by_block, basis = leased_block_hops(portfolio, indexes)
        located = sorted((prefix_ints(block), block) for block in hops_by_block)
        results = []
        for (first, length), block in located:
            hops = hops_by_block[block]
            results.append(block_result(analyse_chain(block, hops), hops, basis[block], first, length, indexes, as_of))
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
    rov_state: str | None
    rov_reason: str | None
    if asn is not None:
        rov_state, rov_reason = validate_route(indexes.vrps, first, length, asn)
        bgp_seen: bool | None = asn in seen
        irr: bool | None = irr_route_exists(indexes.route_objects, first, length, asn)
    else:
        rov_state = rov_reason = None
        bgp_seen = irr = None

    source_issues: tuple[str, ...] = ()
    # without registry objects and with every hop documented there is nothing to find: skip the work
    if (not facts.errors and basis == CONTRACT and (overlapping or (len(facts.parties) > len(facts.holders) + 1
                                                                    and not all(h.document_ref for h in hops)))):
        ends = {facts.lessee, *facts.holders}
        intermediaries = [(k, names[k]) for k in facts.parties if k not in ends]
        source_issues = tuple(source_clarity_issues(
            [(k, names[k]) for k in facts.holders], intermediaries, hops, covering, overlapping, length))

    listings = indexes.listings.overlapping(first, length)
    until = facts.secured_until if basis == CONTRACT else None
    abuse = abuse_contact_present(covering)
    return BlockResult(
        facts.block, names[facts.lessee] if facts.lessee else None, tuple([names[k] for k in facts.holders]),
        facts.depth_min, facts.depth_max, tuple([names[k] for k in facts.spofs]), until, facts.renewal_gaps,
        1 << (32 - length), basis, asn, facts.path_count,
        tuple([links[0].registry.upper()] + [link.label() for link in links]) if links else (),
        (owner.org_name or owner.org_key) if owner else None, not source_issues, source_issues, rov_state, rov_reason,
        bgp_seen, seen, irr, rov_state == VALID and bool(bgp_seen) and bool(irr),
        tuple(listing_labels(listings)) if listings else (), abuse, facts.errors, facts.warnings,
        risk_score(facts, rov_state, until, as_of, bool(listings), bool(source_issues), bgp_seen, irr, abuse),
        as_of, facts.lessee, facts.holders, facts.spofs,
    )


def risk_score(facts: ChainFacts, rov_state: str | None, secured_until: date | None, as_of: date, listed: bool,
               source_unclear: bool, bgp_seen: bool | None, irr_route: bool | None, abuse_contact: bool | None) -> int:
    """The block's risk score: the sum of :data:`RISK_POINTS` over the flags :func:`risk_flags`
    writes out (computed without the text, as it runs once per block)."""
    points = RISK_POINTS
    score = points["data-error"] * len(facts.errors)
    if listed:
        score += points["blocklisted"]
    if rov_state == INVALID:
        score += points["rov-invalid"]
    elif rov_state == NOT_FOUND:
        score += points["rov-notfound"]
    elif rov_state is None and not facts.errors:
        score += points["no-lessee-asn"]
    if secured_until is not None and secured_until < as_of + EXPIRY_WARNING:
        score += points["expired"] if secured_until < as_of else points["expiring"]
    if source_unclear:
        score += points["source-unclear"]
    score += points["renewal-gap"] * len(facts.renewal_gaps)
    if len(facts.spofs) > len(facts.holders):
        score += points["intermediary-spof"] * sum(1 for k in facts.spofs if k not in facts.holders)
    if bgp_seen is False:
        score += points["not-in-bgp"]
    if irr_route is False:
        score += points["no-irr-route"]
    if abuse_contact is False:
        score += points["no-abuse-contact"]
    return score


def risk_flags(result: BlockResult) -> list[str]:
    """The risk flags of a block, each ``"<code>: <detail>"`` with ``code`` a key of
    :data:`RISK_POINTS` (each renewal gap and each intermediary SPOF is a flag of its own); the
    block's ``risk_score`` is the sum of their points."""
    flags: list[str] = [f"data-error: {e}" for e in result.data_errors]
    if result.listings:
        flags.append(f"blocklisted: {'; '.join(result.listings)}")
    if result.rov_state == INVALID:
        flags.append(f"rov-invalid: {result.rov_reason} for AS{result.lessee_asn}")
    elif result.rov_state == NOT_FOUND:
        flags.append(f"rov-notfound: no ROA covers the block for AS{result.lessee_asn}")
    elif result.rov_state is None and not result.data_errors:
        flags.append("no-lessee-asn: the register names no ASN for the lessee")
    until = result.secured_until
    if until is not None and until < result.as_of + EXPIRY_WARNING:
        kind = "expired" if until < result.as_of else "expiring"
        flags.append(f"{kind}: secured until {until.isoformat()}")
    if result.source_issues:
        flags.append(f"source-unclear: {'; '.join(result.source_issues)}")
    flags.extend(f"renewal-gap: {gap}" for gap in result.renewal_gaps)
    flags.extend(f"intermediary-spof: {name}" for key, name in zip(result.spof_keys, result.spofs) if key not in result.holder_keys)
    if result.bgp_seen is False:
        flags.append(f"not-in-bgp: AS{result.lessee_asn} not seen originating the block")
    if result.irr_route is False:
        flags.append(f"no-irr-route: no route object for AS{result.lessee_asn}")
    if result.abuse_contact is False:
        flags.append("no-abuse-contact: no covering registry object names one")
    return flags


def rov_counts(results: Sequence[BlockResult]) -> dict[str, int]:
    """How many blocks validate Valid / Invalid / NotFound, and how many have no lessee ASN."""
    counts = {VALID: 0, INVALID: 0, NOT_FOUND: 0, "no ASN": 0}
    for r in results:
        counts[r.rov_state or "no ASN"] += 1
    return counts
