"""Routing signals of a leased block beyond origin validation: is the former lessee still
announcing it after the lease ended, is the lessee's (or a registered transit's) AS on an ASN
blocklist, and do the lessee's upstreams in its AS paths agree with its ASPA
(draft-ietf-sidrops-aspa-verification).

Pure: :func:`build_path_indexes` over a portfolio once, then :func:`path_signals` per block.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from chainrisk.analysis.model import AsnListingRecord, AsPathRecord, Hop, Portfolio
from chainrisk.analysis.prefix_index import CoveringIndex

# draft-ietf-sidrops-aspa-verification, section 5: the outcome of checking one hop
PROVIDER_PLUS = "Provider+"
NOT_PROVIDER_PLUS = "Not Provider+"
NO_ATTESTATION = "No Attestation"
MAX_PATHS_SHOWN = 20  # a block seen by every collector peer has dozens of paths; display only
LESSEE = "lessee"
TRANSIT = "transit"


@dataclass
class PathIndexes:
    """Lookups over a portfolio's BGP observations, ASN listings, ASPAs and AS paths."""

    routes: CoveringIndex[tuple[tuple[int, ...], datetime]]  # pfx2as route -> (origins, observed_at)
    listed: dict[int, list[AsnListingRecord]]
    aspas: dict[int, frozenset[int]]  # customer AS -> its attested providers
    paths: CoveringIndex[AsPathRecord]
    path_count: int


def build_path_indexes(portfolio: Portfolio) -> PathIndexes:
    listed: dict[int, list[AsnListingRecord]] = {}
    for x in portfolio.asn_listings:
        listed.setdefault(x.asn, []).append(x)
    observed = portfolio.origins_observed_at
    return PathIndexes(
        routes=CoveringIndex.from_items((p, (o, observed[p])) for p, o in portfolio.origins.items() if p in observed),
        listed=listed,
        aspas={a.customer: frozenset(a.providers) for a in portfolio.aspas},
        paths=CoveringIndex.from_items((r.prefix, r) for r in portfolio.as_paths),
        path_count=len(portfolio.as_paths),
    )


@dataclass(slots=True)
class PathSignals:
    """What :func:`path_signals` finds for one block (fields of the same names in ``BlockResult``)."""

    bgp_observed_at: datetime | None = None
    lease_end: date | None = None
    announced_after_lease_end: bool | None = None
    asn_listings: tuple[str, ...] = ()
    as_paths: tuple[str, ...] = ()
    upstream_asns: tuple[int, ...] = ()
    aspa_providers: tuple[int, ...] | None = None
    aspa_unauthorised: tuple[int, ...] = ()


NO_SIGNALS = PathSignals()


def collapse(path: Sequence[int]) -> tuple[int, ...]:
    """An AS path without prepends (each run of one AS once), as ASPA verification reads it."""
    out: list[int] = []
    for asn in path:
        if not out or out[-1] != asn:
            out.append(asn)
    return tuple(out)


def aspa_hop(aspas: dict[int, frozenset[int]], customer: int, provider: int) -> str:
    """The draft's hop check ``hop(customer, provider)``: No Attestation when ``customer`` has no
    ASPA, Provider+ when its ASPA lists ``provider``, else Not Provider+."""
    providers = aspas.get(customer)
    if providers is None:
        return NO_ATTESTATION
    return PROVIDER_PLUS if provider in providers else NOT_PROVIDER_PLUS


def lessee_paths(paths: Iterable[AsPathRecord], asn: int) -> list[tuple[int, ...]]:
    """The collapsed AS paths (distinct, in first-seen order) whose origin is ``asn``."""
    found: dict[tuple[int, ...], None] = {}
    for record in paths:
        path = collapse(record.path)
        if path[-1] == asn:
            found[path] = None
    return list(found)


def path_signals(index: PathIndexes, first: int, length: int, asn: int | None, lessee_hops: Sequence[Hop],
                 contract: bool) -> PathSignals:
    """The routing-path signals of block ``first/length`` whose lessee originates from ``asn``
    (None: the register names no ASN), given the hops that supply the lessee (``contract``: the
    block's chain is the lease register's, so their end dates are the lease's).

    * ``bgp_observed_at``: when BGP data (pfx2as) last showed ``asn`` originating the block or a
      covering prefix; when it never did, the newest observation of any route covering the block;
    * ``lease_end``: the latest ``end_date`` of the hops to the lessee;
    * ``announced_after_lease_end``: ``asn`` originates the block (or a covering prefix) in BGP data
      observed on a day after ``lease_end`` (None when there is no ASN, lease end or BGP data);
    * ``asn_listings``: ASN blocklist entries naming ``asn`` (lessee) or a transit the register names;
    * ``as_paths``: the AS paths of the block or a covering prefix whose origin is ``asn``;
    * ``upstream_asns``: the lessee's upstreams: the AS next to the origin on each of those paths,
      and the register's ``transit_asns``;
    * ``aspa_providers``, ``aspa_unauthorised``: the providers ``asn``'s ASPA attests (None: no
      ASPA), and the upstreams whose customer -> provider hop from ``asn`` is Not Provider+.
    """
    if asn is None:
        return NO_SIGNALS
    routes = index.routes.covering(first, length)
    seen = max((at for origins, at in routes if asn in origins), default=None)
    observed = seen or max((at for _, at in routes), default=None)
    lease_end = max((h.end_date for h in lessee_hops), default=None) if contract else None
    after: bool | None = None
    if lease_end is not None and routes:
        after = seen is not None and seen.date() > lease_end
    transit: dict[int, None] = {}
    for h in lessee_hops:
        transit.update(dict.fromkeys(h.transit_asns))
    listings = [_listing_label(x, LESSEE) for x in index.listed.get(asn, ())]
    listings += [_listing_label(x, TRANSIT) for t in transit if t != asn for x in index.listed.get(t, ())]
    paths = lessee_paths(index.paths.covering(first, length), asn) if index.path_count else []
    upstreams = dict.fromkeys(p[-2] for p in paths if len(p) > 1)
    upstreams.update(transit)
    upstream_asns = tuple(sorted(upstreams))
    providers = index.aspas.get(asn)
    unauthorised = tuple(u for u in upstream_asns if aspa_hop(index.aspas, asn, u) == NOT_PROVIDER_PLUS)
    if observed is None and not listings and not paths and not upstream_asns and providers is None and lease_end is None:
        return NO_SIGNALS
    return PathSignals(
        bgp_observed_at=observed,
        lease_end=lease_end,
        announced_after_lease_end=after,
        asn_listings=tuple(listings),
        as_paths=tuple(" ".join(str(a) for a in p) for p in paths[:MAX_PATHS_SHOWN]),
        upstream_asns=upstream_asns,
        aspa_providers=tuple(sorted(providers)) if providers is not None else None,
        aspa_unauthorised=unauthorised,
    )


def _listing_label(x: AsnListingRecord, role: str) -> str:
    """``"spamhaus-asndrop AS64530 BAD-AS (lessee)"``."""
    return " ".join(p for p in (x.list_name, f"AS{x.asn}", x.as_name, f"({role})") if p)
