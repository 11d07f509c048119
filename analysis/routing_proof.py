"""Routing proof beyond the RFC 6811 state: what the VRPs, the BGP table and the IRR say about how
firmly a lessee's route stands (docs/analysis.md, "Routing proof").

* AS_SET routes (RFC 6811 s.2: an AS path ending in an AS_SET has origin NONE);
* the VRPs that make the lessee Valid, whether they all lapse soon after the export was built (the
  issuing CA or its publication point stopped re-signing), and whether a non-functional CA issued
  a VRP covering the block (rpki-client ``nonfunc_cas``, matched by publication point, RFC 6481);
* loose maxLength (RFC 9319): Valid only through VRPs longer than the announced prefix;
* AS0 VRPs covering the block (RFC 6483 s.4, RFC 7607): the holder asks that it not be routed;
* IRR authority: the lessee's route object only in a registry other than the space's RIR's own IRR.

Pure: indexes in, evidence out.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from chainrisk.analysis.model import CaRecord, DelegationRecord, RegistryRecord, RouteObjectRecord, VrpRecord
from chainrisk.analysis.prefix_index import CoveringIndex
from chainrisk.common.prefixes import prefix_ints

ROA_LAPSE_HORIZON = timedelta(hours=24)
# registry names (registration ``registry``, delegated-stats registry) -> the RIR; each of the five
# RIRs runs an IRR of its own whose route objects it authorises against its registry (RIPE, APNIC,
# AFRINIC, ARIN and LACNIC IRR); RADB, RIPE-NONAUTH and the others accept objects for any space.
# ``synthetic`` is the generator's registry (synthetic/): it stands for such an RIR, its
# ``SYNTHETIC-NONAUTH`` store for a non-authoritative one
RIR_OF_REGISTRY = {"afrinic": "afrinic", "apnic": "apnic", "arin": "arin", "lacnic": "lacnic", "ripe": "ripe", "ripencc": "ripe",
                   "synthetic": "synthetic"}
IRR_OF_RIR = {"afrinic": "afrinic", "apnic": "apnic", "arin": "arin", "lacnic": "lacnic", "ripe": "ripe", "synthetic": "synthetic"}


@dataclass(frozen=True, slots=True)
class RoutingProof:
    """The evidence :func:`routing_proof` finds for one block and lessee ASN."""

    valid_vrps: tuple[VrpRecord, ...] = ()  # the VRPs that make the lessee's route Valid
    roa_expires: datetime | None = None  # the latest expiry among them (None: unknown or not Valid)
    roa_lapsing: bool | None = None  # all of them expire within the horizon of their export's build time
    nonfunctional_cas: tuple[CaRecord, ...] = ()
    loose_vrps: tuple[VrpRecord, ...] = ()  # the valid VRPs, when every one has maxLength > the prefix length
    as0_vrps: tuple[VrpRecord, ...] = ()
    irr_registries: tuple[str, ...] = ()
    space_rir: str | None = None
    irr_nonauthoritative: bool | None = None


def publication_point(uri: str) -> str:
    """The directory an RPKI object's URI lies in, with a trailing slash: where its CA publishes."""
    return uri.rsplit("/", 1)[0] + "/"


def ca_index(cas: Iterable[CaRecord]) -> dict[str, list[CaRecord]]:
    """Non-functional CAs by publication point (caRepository, with a trailing slash)."""
    out: dict[str, list[CaRecord]] = {}
    for ca in cas:
        out.setdefault(ca.ca_repository.rstrip("/") + "/", []).append(ca)
    return out


def rir_index(registrations: Iterable[RegistryRecord], delegations: Iterable[DelegationRecord]) -> CoveringIndex[str]:
    """The RIR of every registry object and delegation, keyed by its prefix."""
    index: CoveringIndex[str] = CoveringIndex()
    items = [(r.block, r.registry) for r in registrations] + [(d.block, d.registry) for d in delegations]
    for prefix, registry in items:
        rir = RIR_OF_REGISTRY.get(registry.lower())
        if rir is not None:
            index.add(*prefix_ints(prefix), rir)
    return index


def lapsing(valid: Sequence[VrpRecord], horizon: timedelta) -> tuple[datetime | None, bool | None]:
    """(latest expiry, lapsing) of the VRPs making a route Valid: lapsing when every one of them
    expires at most ``horizon`` after its export's build time; unknown (None) when one has no
    expiry or no build time, or there is none."""
    if not valid or any(v.expires is None or v.observed_at is None for v in valid):
        return None, None
    latest = max(v.expires for v in valid if v.expires is not None)
    return latest, all(v.expires - v.observed_at <= horizon for v in valid if v.expires and v.observed_at)


def routing_proof(covering_vrps: Sequence[VrpRecord], length: int, asn: int | None, cas: dict[str, list[CaRecord]],
                  route_objects: Sequence[RouteObjectRecord], rirs: Sequence[str],
                  horizon: timedelta = ROA_LAPSE_HORIZON) -> RoutingProof:
    """The evidence for a route of prefix length ``length`` from ``asn`` (None: no lessee ASN),
    given the VRPs and route objects whose prefix covers it, the non-functional CAs by publication
    point and the RIRs of the registry objects covering it (least specific first)."""
    as0 = tuple(v for v in covering_vrps if v.asn == 0)
    found = {ca.location: ca for v in covering_vrps if v.uri for ca in cas.get(publication_point(v.uri), ())}
    if asn is None:
        return RoutingProof(as0_vrps=as0, nonfunctional_cas=tuple(found[k] for k in sorted(found)))
    valid = tuple(v for v in covering_vrps if v.asn == asn and asn != 0 and length <= v.max_length)
    expires, lapse = lapsing(valid, horizon)
    loose = valid if valid and all(v.max_length > length for v in valid) else ()
    registries = tuple(sorted({r.registry.lower() for r in route_objects if r.origin_asn == asn}))
    rir = rirs[-1] if rirs else None
    own_irr = IRR_OF_RIR.get(rir) if rir else None
    weak = None if not registries or own_irr is None else own_irr not in registries
    return RoutingProof(valid, expires, lapse, tuple(found[k] for k in sorted(found)), loose, as0, registries, rir, weak)
