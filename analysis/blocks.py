"""Per leased block: every figure ``report blocks`` shows, in one :class:`BlockResult`, for a whole portfolio.

A *leased block* is a block with lease hops (basis ``contract``), or - when the register says
nothing about it - a block with a registry assignment (role lessee) whose registry chain reaches a
holder (basis ``registry``; its hops are derived by :func:`registry_chain.registry_hops`).

Pure: a :class:`~chainrisk.analysis.model.Portfolio` and a reference date in, results out.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields, replace
from datetime import date, datetime, timedelta
from operator import attrgetter
from typing import Any

from chainrisk.analysis.chains import HOLDER, ChainFacts, analyse_chain
from chainrisk.analysis.model import Hop, Portfolio, RegistryRecord
from chainrisk.analysis.registry_chain import RegistryLink, registry_hops, registry_links
from chainrisk.analysis.routing_paths import PathIndexes, build_path_indexes, path_signals
from chainrisk.analysis.routing_proof import ROA_LAPSE_HORIZON, routing_proof
from chainrisk.analysis.signals import (
    INVALID,
    NOT_FOUND,
    VALID,
    SignalIndexes,
    abuse_contact_present,
    bgp_as_sets,
    bgp_origins,
    build_indexes,
    irr_route_exists,
    listing_labels,
    registry_holder,
    source_clarity_issues,
    validate_route,
)
from chainrisk.common.memory import without_cyclic_gc
from chainrisk.common.prefixes import prefix_ints, prefix_size

CONTRACT = "contract"
REGISTRY = "registry"
EXPIRY_WARNING = timedelta(days=90)

# `report blocks` JSON/CSV columns, in order; the first eight are the core chain figures (docs/analysis.md)
BLOCK_FIELDS: tuple[str, ...] = (
    "block", "lessee", "holders", "depth_min", "depth_max", "spofs", "secured_until", "renewal_gaps",
    "addresses", "leased_addresses", "sublease_of", "basis", "lessee_asn", "path_count", "registry_chain", "registry_holder", "source_clear",
    "source_issues", "rov_state", "rov_reason", "bgp_seen", "bgp_origins", "irr_route", "routing_ready",
    "listings", "abuse_contact", "data_errors", "warnings", "risk_score", "risk_flags",
    # routing proof beyond the RFC 6811 state (analysis/routing_proof.py)
    "bgp_as_sets", "valid_vrps", "roa_expires", "roa_lapsing", "nonfunctional_cas", "loose_maxlength_vrps", "as0_vrps",
    "irr_registries", "space_rir", "irr_nonauthoritative",
    # routing paths (analysis/routing_paths.py)
    "bgp_observed_at", "lease_end", "announced_after_lease_end", "asn_listings", "as_paths", "upstream_asns",
    "aspa_providers", "aspa_unauthorised", "aspa_invalid_hops",
)

# risk flag code -> risk points: a block's risk_score is the sum over its risk flags (see risk_findings)
RISK_POINTS = {
    "data-error": 150,
    "blocklisted": 40,
    "asn-blocklisted": 40,
    "rov-invalid": 40,
    "announced-after-lease-end": 30,
    "aspa-unauthorised-upstream": 25,
    "as0-covered": 40,
    "ca-nonfunctional": 25,
    "roa-lapsing": 20,
    "idle-space-announced": 20,
    "expired": 30,
    "source-unclear": 20,
    "rov-notfound": 15,
    "expiring": 15,
    "no-lessee-asn": 10,
    "renewal-gap": 10,
    "intermediary-spof": 10,
    "not-in-bgp": 10,
    "roa-loose-maxlength": 10,
    "no-irr-route": 5,
    "irr-nonauthoritative": 5,
    "as-set-origin": 5,
    "no-abuse-contact": 5,
}


@dataclass(slots=True, kw_only=True)
class BlockResult:
    """The analysis of one leased block. Names as given in the input; ``*_key`` fields are party
    keys for write-back and aggregation (not part of the JSON). Sequences are tuples: a million
    results share their empty ones. ``risk_score`` and ``risk_flags`` are derived, never given:
    both come from :func:`risk_findings` when asked for."""

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
    as_of: date
    lessee_key: str | None = None
    holder_keys: tuple[str, ...] = ()
    spof_keys: tuple[str, ...] = ()
    # the addresses this lease is the most specific one for (``addresses`` less the leased blocks
    # inside it), and the most specific leased block covering this one (None: not nested)
    leased_addresses: int = 0
    sublease_of: str | None = None
    # routing proof (analysis/routing_proof.py); VRPs as VrpRecord.label(), CAs as "<location> (<caRepository>)"
    bgp_as_sets: tuple[str, ...] = ()
    valid_vrps: tuple[str, ...] = ()
    roa_expires: datetime | None = None
    roa_lapsing: bool | None = None
    nonfunctional_cas: tuple[str, ...] = ()
    loose_maxlength_vrps: tuple[str, ...] = ()
    as0_vrps: tuple[str, ...] = ()
    irr_registries: tuple[str, ...] = ()
    space_rir: str | None = None
    irr_nonauthoritative: bool | None = None
    # routing paths (see analysis/routing_paths.py: path_signals)
    bgp_observed_at: datetime | None = None
    lease_end: date | None = None
    announced_after_lease_end: bool | None = None
    asn_listings: tuple[str, ...] = ()
    as_paths: tuple[str, ...] = ()
    upstream_asns: tuple[int, ...] = ()
    aspa_providers: tuple[int, ...] | None = None
    aspa_unauthorised: tuple[int, ...] = ()
    aspa_invalid_hops: tuple[str, ...] = ()

    @property
    def risk_score(self) -> int:
        """The sum of :data:`RISK_POINTS` over the block's risk flags (see :func:`risk_score`)."""
        return risk_score(self)

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
        out["roa_expires"] = self.roa_expires.isoformat() if self.roa_expires else None
        out["lease_end"] = self.lease_end.isoformat() if self.lease_end else None
        out["bgp_observed_at"] = self.bgp_observed_at.isoformat() if self.bgp_observed_at else None
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
        """Distinct leased addresses: each address counts once, for its most specific lease."""
        return sum(b.leased_addresses for b in self.blocks)

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


def lease_parents(located: Sequence[tuple[tuple[int, int], str]]) -> dict[str, str]:
    """``{block: the most specific other leased block covering it}`` for the nested ones among
    ``located`` (``((first, length), block)`` pairs sorted by first address, then length). One sweep
    with a stack of the blocks still open: CIDR blocks nest or do not meet, so the open block on top
    that has not ended yet covers the next one."""
    parents: dict[str, str] = {}
    open_blocks: list[tuple[int, str]] = []  # (last address, block), outermost first
    for (first, length), block in located:
        while open_blocks and open_blocks[-1][0] < first:
            open_blocks.pop()
        if open_blocks:
            parents[block] = open_blocks[-1][1]
        open_blocks.append((first + prefix_size(length) - 1, block))
    return parents


def sublease_hops(hops: Sequence[Hop], parent_hops: Sequence[Hop]) -> list[Hop] | None:
    """A sub-lease's chain carried through the lease it is cut from: when no row of the block names
    a holder and a party that starts its rows (a provider nothing in the block supplies) is supplied
    in the covering block's chain, the covering chain's hops down to that party come first (its
    role there becomes the one it has as provider here). None when the block's rows stand alone."""
    if any(h.provider_role == HOLDER for h in hops):
        return None
    recipients = {h.recipient for h in hops}
    role_here = {h.provider: h.provider_role for h in hops if h.provider not in recipients}
    supplied_by: dict[str, list[Hop]] = {}
    for h in parent_hops:
        supplied_by.setdefault(h.recipient, []).append(h)
    starts = [party for party in role_here if party in supplied_by]
    if not starts:
        return None
    upstream: set[str] = set()
    stack = list(starts)
    while stack:
        party = stack.pop()
        if party not in upstream:
            upstream.add(party)
            stack.extend(h.provider for h in supplied_by.get(party, ()))
    carried = [replace(h, recipient_role=role_here[h.recipient]) if h.recipient in role_here else h
               for h in parent_hops if h.recipient in upstream]
    return carried + list(hops)


def analyse_portfolio(portfolio: Portfolio, as_of: date, roa_lapse_horizon: timedelta = ROA_LAPSE_HORIZON) -> PortfolioAnalysis:
    """Analyse every leased block of ``portfolio``; ``as_of`` is the day expiry is judged against,
    ``roa_lapse_horizon`` how soon after its export's build time a VRP's expiry counts as lapsing.
    Results are ordered by first address, then prefix length.

    Nested leases (a /24 sub-leased inside a leased /22): each address counts once, for its most
    specific lease (``leased_addresses``), and a sub-lease whose rows start at a party of the
    covering lease's chain is analysed as the chain through that party (:func:`sublease_hops`).

    The same in three steps, for a caller that spreads the blocks over processes: one
    :func:`prepare_portfolio`, :func:`analyse_share` on each range of :func:`partition` (in any
    process holding the prepared portfolio), :func:`merge_shares` of the shares in order."""
    prepared = prepare_portfolio(portfolio, as_of, roa_lapse_horizon)
    return merge_shares(prepared, [analyse_share(prepared, 0, len(prepared.located))])


@dataclass
class PreparedPortfolio:
    """What every block's analysis reads: the signal indexes, each leased block's hops (sub-leases
    carried through their covering lease) and basis, the blocks in result order with their
    ``(first address, length)``, and each nested block's covering lease. Read-only once built."""

    indexes: SignalIndexes
    path_indexes: PathIndexes
    hops_by_block: dict[str, list[Hop]]
    basis: dict[str, str]
    located: list[tuple[tuple[int, int], str]]
    parents: dict[str, str]
    as_of: date
    roa_lapse_horizon: timedelta


def prepare_portfolio(portfolio: Portfolio, as_of: date, roa_lapse_horizon: timedelta = ROA_LAPSE_HORIZON) -> PreparedPortfolio:
    """The part of :func:`analyse_portfolio` that looks across blocks (indexes, nesting)."""
    with without_cyclic_gc():
        indexes = build_indexes(portfolio)
        path_indexes = build_path_indexes(portfolio)
        hops_by_block, basis = leased_block_hops(portfolio, indexes)
        located = sorted((prefix_ints(block), block) for block in hops_by_block)
        parents = lease_parents(located) if len(located) > 1 else {}
        # covering leases first, so a sub-lease of a sub-lease carries the whole chain above it
        for _, block in sorted(((length, first), block) for (first, length), block in located if block in parents):
            parent = parents[block]
            if basis[block] == CONTRACT and basis[parent] == CONTRACT:
                carried = sublease_hops(hops_by_block[block], hops_by_block[parent])
                if carried is not None:
                    hops_by_block[block] = carried
    return PreparedPortfolio(indexes, path_indexes, hops_by_block, basis, located, parents, as_of, roa_lapse_horizon)


def partition(count: int, weights: Sequence[float]) -> list[tuple[int, int]]:
    """``[start, stop)`` ranges cutting ``count`` blocks into contiguous shares in proportion to
    ``weights`` (one per share, positive), in order, together covering every block; shares that
    would be empty are left out."""
    if not weights or any(w <= 0 for w in weights):
        raise ValueError(f"share weights must be positive, got {list(weights)}")
    total = sum(weights)
    ranges = []
    start = 0
    carried = 0.0
    for w in weights:
        carried += w
        stop = round(count * carried / total)
        if stop > start:
            ranges.append((start, stop))
        start = stop
    return ranges


def analyse_share(prepared: PreparedPortfolio, start: int, stop: int) -> list[BlockResult]:
    """The results of the blocks ``prepared.located[start:stop]``: each block on its own, so
    shares can be analysed anywhere; ``leased_addresses`` is still the block's size and
    ``sublease_of`` unset (:func:`merge_shares` sees every block and sets both)."""
    indexes, path_indexes, hops_by_block, basis = prepared.indexes, prepared.path_indexes, prepared.hops_by_block, prepared.basis
    as_of, horizon = prepared.as_of, prepared.roa_lapse_horizon
    results = []
    with without_cyclic_gc():
        for (first, length), block in prepared.located[start:stop]:
            hops = hops_by_block[block]
            result = block_result(analyse_chain(block, hops), hops, basis[block], first, length, indexes, as_of, horizon,
                                  path_indexes)
            result.leased_addresses = result.addresses
            results.append(result)
    return results


def merge_shares(prepared: PreparedPortfolio, shares: Iterable[list[BlockResult]]) -> PortfolioAnalysis:
    """The :class:`PortfolioAnalysis` of the shares of :func:`analyse_share`, given in block order
    and together covering every block of ``prepared``."""
    results: list[BlockResult] = []
    for share in shares:
        results.extend(share)
    if len(results) != len(prepared.located):
        raise ValueError(f"the shares hold {len(results):,} results for {len(prepared.located):,} leased blocks")
    if prepared.parents:
        # a block's addresses inside a more specific lease are that lease's: the blocks directly
        # inside one are disjoint (CIDR blocks nest or do not meet), so subtracting their sizes counts each address once
        by_block = {r.block: r for r in results}
        for block, parent in prepared.parents.items():
            by_block[block].sublease_of = parent
            by_block[parent].leased_addresses -= by_block[block].addresses
    return PortfolioAnalysis(results, prepared.hops_by_block, prepared.as_of, prepared.basis)


# BlockResult fields share_values leaves out: share_results has them from the prepared portfolio
# (the block's name, basis and size, the run's as_of) or from what analyse_share leaves in them
_GIVEN_FIELDS = frozenset({"block", "basis", "addresses", "as_of", "leased_addresses", "sublease_of"})
_DATE_FIELDS = ("secured_until", "lease_end")
SHARE_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(BlockResult) if f.name not in _GIVEN_FIELDS)
_share_getter = attrgetter(*SHARE_FIELDS)
_DATE_POSITIONS = tuple(SHARE_FIELDS.index(name) for name in _DATE_FIELDS)


def share_values(results: Sequence[BlockResult]) -> list[tuple[Any, ...]]:
    """A compact, picklable form of :func:`analyse_share`'s results for sending them to another
    process: per block the values of :data:`SHARE_FIELDS` in that order, dates as ordinals (a
    pickled date costs a reduce call each); :func:`share_results` turns them back."""
    out = []
    positions = _DATE_POSITIONS
    with without_cyclic_gc():
        for values in map(_share_getter, results):
            if any(values[i] is not None for i in positions):
                row = list(values)
                for i in positions:
                    if row[i] is not None:
                        row[i] = row[i].toordinal()
                values = tuple(row)
            out.append(values)
    return out


def share_results(prepared: PreparedPortfolio, start: int, rows: Sequence[tuple[Any, ...]]) -> list[BlockResult]:
    """The results :func:`share_values` packed, for the blocks from ``prepared.located[start]`` on:
    equal to what :func:`analyse_share` returned, each date held once."""
    names = SHARE_FIELDS
    positions = _DATE_POSITIONS
    days: dict[int, date] = {}
    basis, as_of = prepared.basis, prepared.as_of
    results = []
    with without_cyclic_gc():
        for ((_, length), block), values in zip(prepared.located[start:start + len(rows)], rows):
            if any(values[i] is not None for i in positions):
                row = list(values)
                for i in positions:
                    day = row[i]
                    if day is not None:
                        row[i] = days.get(day) or days.setdefault(day, date.fromordinal(day))
                values = tuple(row)
            size = 1 << (32 - length)
            results.append(BlockResult(**dict(zip(names, values)), block=block, basis=basis[block], addresses=size, as_of=as_of,
                                       leased_addresses=size))
    if len(results) != len(rows):
        raise ValueError(f"{len(rows):,} results from block {start:,} on, but only {len(prepared.located) - start:,} blocks there")
    return results


def block_result(facts: ChainFacts, hops: Sequence[Hop], basis: str, first: int, length: int,
                 indexes: SignalIndexes, as_of: date, roa_lapse_horizon: timedelta = ROA_LAPSE_HORIZON,
                 path_indexes: PathIndexes | None = None) -> BlockResult:
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
    proof = routing_proof(indexes.vrps.covering(first, length), length, asn, indexes.nonfunctional_cas,
                          indexes.route_objects.covering(first, length), indexes.rirs.covering(first, length), roa_lapse_horizon)
    paths = path_signals(path_indexes, first, length, asn, [h for h in hops if h.recipient == facts.lessee],
                         basis == CONTRACT) if path_indexes is not None and asn is not None else None
    result = BlockResult(
        block=facts.block,
        lessee=names[facts.lessee] if facts.lessee else None,
        holders=tuple([names[k] for k in facts.holders]),
        depth_min=facts.depth_min,
        depth_max=facts.depth_max,
        spofs=tuple([names[k] for k in facts.spofs]),
        secured_until=until,
        renewal_gaps=facts.renewal_gaps,
        addresses=1 << (32 - length),
        basis=basis,
        lessee_asn=asn,
        path_count=facts.path_count,
        registry_chain=tuple([links[0].registry.upper()] + [link.label() for link in links]) if links else (),
        registry_holder=(owner.org_name or owner.org_key) if owner else None,
        source_clear=not source_issues,
        source_issues=source_issues,
        rov_state=rov_state,
        rov_reason=rov_reason,
        bgp_seen=bgp_seen,
        bgp_origins=seen,
        irr_route=irr,
        routing_ready=rov_state == VALID and bool(bgp_seen) and bool(irr),
        listings=tuple(listing_labels(listings)) if listings else (),
        abuse_contact=abuse_contact_present(covering),
        data_errors=facts.errors,
        warnings=facts.warnings,
        as_of=as_of,
        lessee_key=facts.lessee,
        holder_keys=facts.holders,
        spof_keys=facts.spofs,
        bgp_as_sets=bgp_as_sets(indexes.as_sets, first, length),
        valid_vrps=tuple([v.label() for v in proof.valid_vrps]),
        roa_expires=proof.roa_expires,
        roa_lapsing=proof.roa_lapsing,
        nonfunctional_cas=tuple([f"{ca.location} ({ca.ca_repository})" for ca in proof.nonfunctional_cas]),
        loose_maxlength_vrps=tuple([v.label() for v in proof.loose_vrps]),
        as0_vrps=tuple([v.label() for v in proof.as0_vrps]),
        irr_registries=proof.irr_registries,
        space_rir=proof.space_rir,
        irr_nonauthoritative=proof.irr_nonauthoritative,
    )
    if paths is not None:
        result.bgp_observed_at = paths.bgp_observed_at
        result.lease_end = paths.lease_end
        result.announced_after_lease_end = paths.announced_after_lease_end
        result.asn_listings = paths.asn_listings
        result.as_paths = paths.as_paths
        result.upstream_asns = paths.upstream_asns
        result.aspa_providers = paths.aspa_providers
        result.aspa_unauthorised = paths.aspa_unauthorised
        result.aspa_invalid_hops = paths.aspa_invalid_hops
    return result


def risk_findings(result: BlockResult) -> list[tuple[str, str, tuple[object, ...]]]:
    """The risk flags of a block as ``(code, detail template, template arguments)``, ``code`` a key
    of :data:`RISK_POINTS` (each data error, renewal gap and intermediary SPOF is a flag of its
    own): the one place that decides which flags a block has. The write-back asks every block for
    its score, which needs only the codes, so no text is formatted here (:func:`risk_flags` does
    that) and absent signals are skipped before anything is built."""
    found: list[tuple[str, str, tuple[object, ...]]] = []
    errors = result.data_errors
    if errors:
        found.extend([("data-error", "{}", (e,)) for e in errors])
    if result.listings:
        found.append(("blocklisted", "{}", ("; ".join(result.listings),)))
    if result.asn_listings:
        found.append(("asn-blocklisted", "{}", ("; ".join(result.asn_listings),)))
    if result.announced_after_lease_end:
        found.append(("announced-after-lease-end", "AS{} still originates the block in BGP data of {:%Y-%m-%d %H:%M}Z; the lease ended {}",
                      (result.lessee_asn, result.bgp_observed_at, result.lease_end)))
    if result.aspa_invalid_hops:
        found.append(("aspa-unauthorised-upstream", "AS{}'s route is Invalid by ASPA verification (draft-ietf-sidrops-aspa-verification): "
                      "the customer's ASPA does not name the provider in {}; AS{}'s ASPA attests {}",
                      (result.lessee_asn, "; ".join(result.aspa_invalid_hops), result.lessee_asn,
                       _asns(result.aspa_providers) if result.aspa_providers is not None else "nothing (no ASPA)")))
    rov_state = result.rov_state
    if rov_state == INVALID:
        found.append(("rov-invalid", "{} for AS{}", (result.rov_reason, result.lessee_asn)))
    elif rov_state == NOT_FOUND:
        found.append(("rov-notfound", "no ROA covers the block for AS{}", (result.lessee_asn,)))
    elif rov_state is None and not errors:
        found.append(("no-lessee-asn", "the register names no ASN for the lessee", ()))
    until = result.secured_until
    if until is not None and until < result.as_of + EXPIRY_WARNING:
        found.append(("expired" if until < result.as_of else "expiring", "secured until {}", (until,)))
    if result.source_issues:
        found.append(("source-unclear", "{}", ("; ".join(result.source_issues),)))
    if result.renewal_gaps:
        found.extend([("renewal-gap", "{}", (gap,)) for gap in result.renewal_gaps])
    holders = result.holder_keys
    for key, name in zip(result.spof_keys, result.spofs):
        if key not in holders:
            found.append(("intermediary-spof", "{}", (name,)))
    if result.bgp_seen is False:
        found.append(("not-in-bgp", "AS{} not seen originating the block", (result.lessee_asn,)))
    if result.irr_route is False:
        found.append(("no-irr-route", "no route object for AS{}", (result.lessee_asn,)))
    if result.abuse_contact is False:
        found.append(("no-abuse-contact", "no covering registry object names one", ()))
    found.extend(routing_proof_findings(result))
    return found


def routing_proof_findings(result: BlockResult) -> list[tuple[str, str, tuple[object, ...]]]:
    """The routing-proof flags of a block (part of :func:`risk_findings`; docs/analysis.md)."""
    found: list[tuple[str, str, tuple[object, ...]]] = []
    if result.as0_vrps:
        found.append(("as0-covered", "{} covers the block: its holder asks that it not be routed (RFC 6483, RFC 7607)",
                      ("; ".join(result.as0_vrps),)))
    if result.nonfunctional_cas:
        found.append(("ca-nonfunctional", "{} issued a VRP covering the block and is non-functional (no valid manifest or CRL)",
                      ("; ".join(result.nonfunctional_cas),)))
    if result.roa_lapsing:
        found.append(("roa-lapsing", "every VRP making AS{} Valid expires by {}, soon after its export was built: {}",
                      (result.lessee_asn, result.roa_expires.isoformat() if result.roa_expires else None, "; ".join(result.valid_vrps))))
    if result.loose_maxlength_vrps:
        found.append(("roa-loose-maxlength", "AS{} is Valid only through {}, whose maxLength is longer than /{} "
                      "(RFC 9319: a forged-origin sub-prefix hijack validates too)",
                      (result.lessee_asn, "; ".join(result.loose_maxlength_vrps), prefix_ints(result.block)[1])))
    if result.irr_nonauthoritative:
        found.append(("irr-nonauthoritative", "the route object for AS{} is only in {}, not in the {} IRR of the space's registry",
                      (result.lessee_asn, ", ".join(r.upper() for r in result.irr_registries), (result.space_rir or "").upper())))
    if result.bgp_as_sets:
        found.append(("as-set-origin", "announced with an AS_SET origin, which is origin NONE (RFC 6811): {}",
                      ("; ".join(result.bgp_as_sets),)))
    return found


def _asns(asns: Sequence[int]) -> str:
    return ", ".join(f"AS{a}" for a in asns) or "none"


def risk_score(result: BlockResult) -> int:
    """The block's risk score: the sum of :data:`RISK_POINTS` over its risk flags."""
    return findings_score(risk_findings(result))


def findings_score(findings: Sequence[tuple[str, str, tuple[object, ...]]]) -> int:
    """The sum of :data:`RISK_POINTS` over ``findings`` (a block's, or an idle range's)."""
    points = RISK_POINTS
    score = 0
    for code, _, _ in findings:
        score += points[code]
    return score


def risk_flags(result: BlockResult) -> list[str]:
    """The risk flags of a block, each ``"<code>: <detail>"`` (see :func:`risk_findings`)."""
    return [f"{code}: {template.format(*args)}" for code, template, args in risk_findings(result)]


def rov_counts(results: Sequence[BlockResult]) -> dict[str, int]:
    """How many blocks validate Valid / Invalid / NotFound, and how many have no lessee ASN."""
    counts = {VALID: 0, INVALID: 0, NOT_FOUND: 0, "no ASN": 0}
    for r in results:
        counts[r.rov_state or "no ASN"] += 1
    return counts
