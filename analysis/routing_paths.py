"""Routing signals of a leased block beyond origin validation: is the former lessee still
announcing it after the lease ended, is the lessee's (or a registered transit's) AS on an ASN
blocklist, and do the lessee's AS paths pass ASPA verification (draft-ietf-sidrops-aspa-verification,
revision 24 cited by section: :func:`aspa_hop`, :func:`ramps`, :func:`verify_upstream`,
:func:`verify_downstream`; a collector's paths are checked with the downstream procedure,
:func:`verify_collected`).

Pure: :func:`build_path_indexes` over a portfolio once, then :func:`path_signals` per block.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from chainrisk.analysis.model import AsnListingRecord, AsPathRecord, Hop, Portfolio
from chainrisk.analysis.prefix_index import CoveringIndex

# draft-ietf-sidrops-aspa-verification: the outcomes of checking one hop
# ("authorized") and of verifying one AS_PATH (the upstream and the downstream procedure)
PROVIDER_PLUS = "Provider+"
NOT_PROVIDER_PLUS = "Not Provider+"
NO_ATTESTATION = "No Attestation"
ASPA_VALID = "Valid"
ASPA_INVALID = "Invalid"
ASPA_UNKNOWN = "Unknown"
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
    aspa_invalid_hops: tuple[str, ...] = ()


NO_SIGNALS = PathSignals()


PathElement = int | frozenset[int]  # an AS, or the members of an AS_SET segment


def collapse(path: Sequence[PathElement]) -> tuple[PathElement, ...]:
    """The draft's COMPRESSED_AS_PATH: ``path`` with each run of one AS (prepends) kept once;
    an AS_SET stays as it is."""
    out: list[PathElement] = []
    for element in path:
        if not out or out[-1] != element or isinstance(element, frozenset):
            out.append(element)
    return tuple(out)


def aspa_hop(aspas: dict[int, frozenset[int]], customer: int, provider: int) -> str:
    """The draft's hop check ``authorized(customer, provider)``: No Attestation when
    ``customer`` has no ASPA, Provider+ when its ASPA lists ``provider``, else Not Provider+ (an
    ASPA naming only AS 0 therefore makes every hop from its customer Not Provider+)."""
    providers = aspas.get(customer)
    if providers is None:
        return NO_ATTESTATION
    return PROVIDER_PLUS if provider in providers else NOT_PROVIDER_PLUS


@dataclass(frozen=True, slots=True)
class Ramps:
    """The up-ramp and down-ramp bounds of a compressed AS path of N ASes."""

    max_up: int
    min_up: int
    max_down: int
    min_down: int


def ramps(aspas: dict[int, frozenset[int]], path: Sequence[int]) -> Ramps:
    """The ramp bounds of the compressed AS path ``path``, written as BGP and ``bgpdump -m`` write
    it: the neighbour (collector peer) first, the origin last. The draft numbers it from the other
    end, AS(1) the origin .. AS(N) the neighbour, and *hop(a, b)* is :func:`aspa_hop` with ``a``
    the customer:

    * ``max_up``: the least I with hop(AS(I), AS(I+1)) Not Provider+; N when there is none;
    * ``min_up``: the least I with hop(AS(I), AS(I+1)) No Attestation or Not Provider+; N when none;
    * ``max_down``: N - J + 1 for the greatest J with hop(AS(J), AS(J-1)) Not Provider+; N when none;
    * ``min_down``: N - J + 1 for the greatest J with hop(AS(J), AS(J-1)) No Attestation or Not
      Provider+; N when none.

    The up-ramp is the run of customer -> provider hops from the origin, the down-ramp the run of
    provider -> customer hops into the neighbour; "max" counts a hop as on the ramp unless the
    ASPAs disprove it, "min" only when they prove it."""
    asns = path[::-1]  # asns[k] is AS(k + 1)
    n = len(asns)
    max_up = min_up = n
    for i in range(1, n):
        state = aspa_hop(aspas, asns[i - 1], asns[i])
        if state != PROVIDER_PLUS and min_up == n:
            min_up = i
        if state == NOT_PROVIDER_PLUS:
            max_up = i
            break
    max_down = min_down = n
    for j in range(n, 1, -1):
        state = aspa_hop(aspas, asns[j - 1], asns[j - 2])
        if state != PROVIDER_PLUS and min_down == n:
            min_down = n - j + 1
        if state == NOT_PROVIDER_PLUS:
            max_down = n - j + 1
            break
    return Ramps(max_up, min_up, max_down, min_down)


def _compressed(path: Sequence[PathElement]) -> tuple[int, ...] | None:
    """:func:`collapse` of ``path`` as AS numbers; None when the draft halts with Invalid before the
    ramps (the first steps of both procedures): the path is empty or has an AS_SET."""
    compressed = collapse(path)
    if not compressed or any(isinstance(a, frozenset) for a in compressed):
        return None
    return tuple(a for a in compressed if isinstance(a, int))


def verify_upstream(aspas: dict[int, frozenset[int]], path: Sequence[PathElement]) -> str:
    """The upstream verification procedure, for a route received from a customer or a lateral
    peer (``path`` neighbour first, prepends allowed): Invalid when the path is empty or has an AS_SET,
    or when ``max_up`` < N (some hop is disproved as customer -> provider: the route went down or
    sideways before it came up to the receiver); Unknown when ``min_up`` < N (some hop is not
    attested); else Valid. The neighbour-AS check (step 2) is not made: see :func:`verify_collected`."""
    asns = _compressed(path)
    if asns is None:
        return ASPA_INVALID
    r = ramps(aspas, asns)
    if r.max_up < len(asns):
        return ASPA_INVALID
    return ASPA_UNKNOWN if r.min_up < len(asns) else ASPA_VALID


def verify_downstream(aspas: dict[int, frozenset[int]], path: Sequence[PathElement]) -> str:
    """The downstream verification procedure, for a route received from a provider (``path``
    neighbour first, prepends allowed): Invalid when the path is empty or has an AS_SET, or when
    ``max_up`` + ``max_down`` < N (even the longest up-ramp and down-ramp the ASPAs allow leave more
    than one hop between their apexes: a valley, i.e. a route leak, or an upstream its customer does
    not attest); Unknown when ``min_up`` + ``min_down`` < N; else Valid."""
    asns = _compressed(path)
    if asns is None:
        return ASPA_INVALID
    r = ramps(aspas, asns)
    if r.max_up + r.max_down < len(asns):
        return ASPA_INVALID
    return ASPA_UNKNOWN if r.min_up + r.min_down < len(asns) else ASPA_VALID


@dataclass(frozen=True, slots=True)
class PathCheck:
    """The outcome of verifying one collected AS path (:func:`verify_collected`)."""

    path: tuple[int, ...]  # compressed, collector peer first
    outcome: str
    hops: tuple[tuple[int, int], ...] = ()  # (customer, provider): the Not Provider+ hops bounding an Invalid path's valley

    def label(self) -> str:
        """``"64999 64511 64500 (Invalid)"``."""
        return f"{' '.join(str(a) for a in self.path)} ({self.outcome})"


def verify_collected(aspas: dict[int, frozenset[int]], path: Sequence[int]) -> PathCheck:
    """A route collector's path (``bgpdump -m``: collector peer first, origin last) under the
    downstream procedure (:func:`verify_downstream`). A collector peer sends the collector its whole
    table, routes it learnt from its providers included, as a provider sends a customer: the upstream
    procedure would find every valid up-then-down path Invalid, the downstream one accepts exactly the
    valley-free paths. The neighbour-AS check (a step of both procedures) is not made: a collector peering at an
    exchange's transparent route server gets paths that do not start with the server's AS (the draft
    exempts such routes). ``hops`` of an Invalid path: the hop where the longest possible up-ramp
    ends, (AS(I), AS(I+1)) for I = ``max_up``, and the one where the longest possible down-ramp ends,
    (AS(J), AS(J-1)) for N - J + 1 = ``max_down``; in each the customer's ASPA does not name the provider."""
    asns = collapse(path)
    compressed = tuple(a for a in asns if isinstance(a, int))
    outcome = verify_downstream(aspas, path)
    if outcome != ASPA_INVALID or len(compressed) != len(asns) or not compressed:
        return PathCheck(compressed, outcome)
    r = ramps(aspas, compressed)
    up = compressed[::-1]  # up[k] is AS(k + 1)
    j = len(up) - r.max_down + 1
    hops = dict.fromkeys([(up[r.max_up - 1], up[r.max_up]), (up[j - 1], up[j - 2])])
    return PathCheck(compressed, outcome, tuple(hops))


def lessee_paths(paths: Iterable[AsPathRecord], asn: int) -> list[tuple[int, ...]]:
    """The collapsed AS paths (distinct, in first-seen order) whose origin is ``asn``."""
    found: dict[tuple[int, ...], None] = {}
    for record in paths:
        path = tuple(a for a in collapse(record.path) if isinstance(a, int))
        if path and path[-1] == asn:
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
    * ``as_paths``: the AS paths of the block or a covering prefix whose origin is ``asn``, each with
      its outcome under :func:`verify_collected` (``"64999 64510 64500 (Valid)"``, Invalid ones first);
    * ``upstream_asns``: the lessee's upstreams: the AS next to the origin on each of those paths,
      and the register's ``transit_asns``;
    * ``aspa_providers``: the providers ``asn``'s ASPA attests (None: no ASPA);
    * ``aspa_invalid_hops``: the hops that make the lessee's route Invalid, each
      ``"AS<customer> -> AS<provider> (<where>)"``, distinct, in order: the :attr:`PathCheck.hops` of
      every Invalid path (``where`` = ``path <the first such path>``), then each register transit
      whose hop from ``asn`` (customer -> provider: the register names it as the lessee's transit)
      is Not Provider+ (``where`` = ``register transit``);
    * ``aspa_unauthorised``: the provider ASes of those hops.
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
    checks = sorted((verify_collected(index.aspas, p) for p in paths), key=lambda c: c.outcome != ASPA_INVALID)
    invalid: dict[tuple[int, int], str] = {}
    for check in checks:
        for hop in check.hops:
            invalid.setdefault(hop, "path " + " ".join(str(a) for a in check.path))
    for t in transit:
        if t != asn and aspa_hop(index.aspas, asn, t) == NOT_PROVIDER_PLUS:
            invalid.setdefault((asn, t), "register transit")
    if observed is None and not listings and not paths and not upstream_asns and providers is None and lease_end is None:
        return NO_SIGNALS
    return PathSignals(
        bgp_observed_at=observed,
        lease_end=lease_end,
        announced_after_lease_end=after,
        asn_listings=tuple(listings),
        as_paths=tuple(c.label() for c in checks[:MAX_PATHS_SHOWN]),
        upstream_asns=upstream_asns,
        aspa_providers=tuple(sorted(providers)) if providers is not None else None,
        aspa_unauthorised=tuple(sorted({provider for _, provider in invalid})),
        aspa_invalid_hops=tuple(f"AS{c} -> AS{p} ({where})" for (c, p), where in invalid.items()),
    )


def _listing_label(x: AsnListingRecord, role: str) -> str:
    """``"spamhaus-asndrop AS64530 BAD-AS (lessee)"``."""
    return " ".join(p for p in (x.list_name, f"AS{x.asn}", x.as_name, f"({role})") if p)
