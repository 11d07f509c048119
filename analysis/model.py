"""What analysis reads: a backend-neutral snapshot of the current facts.

Both backends (the embedded networkx graph and Neo4j) produce a :class:`Portfolio` with exactly the
same content for the same events; every analysis function takes a Portfolio (or parts of it) and
returns results, with no I/O. That is what makes the two backends give identical answers.

Parties are referred to by their key (``chainrisk.ingest.events.party_key``); names as given in the
input travel alongside for display.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime


@dataclass(frozen=True, slots=True)
class Hop:
    """One contract hop of one block's chain: ``provider`` supplies ``recipient``."""

    block: str
    provider: str  # party key
    provider_name: str
    provider_role: str  # holder | upstream | broker
    recipient: str
    recipient_name: str
    recipient_role: str  # upstream | broker | lessee
    start_date: date
    end_date: date
    lessee_asn: int | None = None
    renewal_owner: str | None = None
    document_ref: str | None = None
    transit_asns: tuple[int, ...] = ()  # the lessee's transit providers, as the register names them


@dataclass(frozen=True, slots=True)
class RegistryRecord:
    """A registry object (inetnum / NetHandle) for a block, current version."""

    block: str
    registry: str
    handle: str
    status: str
    role: str | None  # holder | upstream | lessee, as the status implies
    org_key: str | None
    org_name: str | None
    parent_handle: str | None = None
    abuse_c: str | None = None
    mnt_by: tuple[str, ...] = ()
    mnt_lower: tuple[str, ...] = ()
    mnt_routes: tuple[str, ...] = ()
    netname: str | None = None  # names the party when a record's org repeats its parent's (ARIN Reallocated)


@dataclass(frozen=True, slots=True)
class DelegationRecord:
    """An RIR delegated-stats record: the opaque holder id listed for a range."""

    block: str
    registry: str
    status: str
    holder_id: str | None


@dataclass(frozen=True, slots=True)
class VrpRecord:
    """A VRP; ``observed_at`` is its export's build time, ``uri`` its ROA's URI where the export names it."""

    prefix: str
    max_length: int
    asn: int
    ta: str
    expires: datetime | None = None
    observed_at: datetime | None = None
    uri: str | None = None

    def label(self) -> str:
        """``"<prefix>-<maxLength> AS<asn> (<ta>)"``: how flags name a VRP."""
        return f"{self.prefix}-{self.max_length} AS{self.asn} ({self.ta})"


@dataclass(frozen=True, slots=True)
class CaRecord:
    """A CA a validator found non-functional, with its publication point (caRepository)."""

    ta: str
    location: str
    ca_repository: str


@dataclass(frozen=True, slots=True)
class Listing:
    prefix: str
    list_name: str
    entry_id: str | None


@dataclass(frozen=True, slots=True)
class RouteObjectRecord:
    prefix: str
    origin_asn: int
    registry: str


@dataclass(frozen=True, slots=True)
class AsnListingRecord:
    """An AS on an ASN blocklist (Spamhaus ASN-DROP)."""

    asn: int
    list_name: str
    as_name: str | None = None


@dataclass(frozen=True, slots=True)
class AspaRecord:
    """A validated ASPA: ``customer``'s attested set of upstream providers."""

    customer: int
    providers: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class AsPathRecord:
    """A BGP route for ``prefix`` as a collector peer sent it: ``path`` from the peer to the origin."""

    prefix: str
    peer_asn: int
    path: tuple[int, ...]
    peer_ip: str = ""


@dataclass
class Portfolio:
    """Every current (asserted, not retracted, newest-observed) fact, in canonical (sorted) order."""

    hops: list[Hop] = field(default_factory=list)
    registrations: list[RegistryRecord] = field(default_factory=list)
    delegations: list[DelegationRecord] = field(default_factory=list)
    vrps: list[VrpRecord] = field(default_factory=list)
    origins: dict[str, tuple[int, ...]] = field(default_factory=dict)  # prefix -> origin ASNs seen in BGP
    as_sets: dict[str, tuple[str, ...]] = field(default_factory=dict)  # prefix -> AS_SET routes seen in BGP ("64500,64501")
    nonfunctional_cas: list[CaRecord] = field(default_factory=list)
    route_objects: list[RouteObjectRecord] = field(default_factory=list)
    listings: list[Listing] = field(default_factory=list)
    origins_observed_at: dict[str, datetime] = field(default_factory=dict)  # prefix -> when BGP data last showed its origins
    asn_listings: list[AsnListingRecord] = field(default_factory=list)
    aspas: list[AspaRecord] = field(default_factory=list)
    as_paths: list[AsPathRecord] = field(default_factory=list)

    def canonical(self) -> Portfolio:
        """The same facts in a fixed order, so two backends' portfolios compare equal."""
        return Portfolio(
            hops=sorted(self.hops, key=lambda h: (h.block, h.provider, h.recipient)),
            registrations=sorted(self.registrations, key=lambda r: (r.block, r.registry, r.handle)),
            delegations=sorted(self.delegations, key=lambda d: (d.block, d.registry)),
            vrps=sorted(self.vrps, key=lambda v: (v.prefix, v.max_length, v.asn, v.ta)),
            origins=dict(sorted(self.origins.items())),
            as_sets=dict(sorted(self.as_sets.items())),
            nonfunctional_cas=sorted(self.nonfunctional_cas, key=lambda c: (c.ta, c.location)),
            route_objects=sorted(self.route_objects, key=lambda r: (r.prefix, r.origin_asn, r.registry)),
            listings=sorted(self.listings, key=lambda x: (x.prefix, x.list_name)),
            origins_observed_at=dict(sorted(self.origins_observed_at.items())),
            asn_listings=sorted(self.asn_listings, key=lambda x: (x.asn, x.list_name)),
            aspas=sorted(self.aspas, key=lambda a: a.customer),
            as_paths=sorted(self.as_paths, key=lambda r: (r.prefix, r.peer_ip, r.peer_asn)),
        )
