"""Per-block signals beyond the chain itself: routing readiness (RFC 6811 route origin validation,
BGP visibility, IRR route object), reputation (blocklists, abuse contact) and source clarity.

:class:`SignalIndexes` is built once per portfolio; each function answers for one block.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from chainrisk.analysis.model import CaRecord, Hop, Listing, Portfolio, RegistryRecord, RouteObjectRecord, VrpRecord
from chainrisk.analysis.prefix_index import CoveringIndex, OverlapIndex
from chainrisk.analysis.routing_proof import ca_index, rir_index
from chainrisk.common.prefixes import prefix_ints

VALID = "Valid"
INVALID = "Invalid"
NOT_FOUND = "NotFound"
ASN_MISMATCH = "asn-mismatch"
TOO_SPECIFIC = "too-specific"


@dataclass
class SignalIndexes:
    """Lookup structures over a portfolio's routing, reputation and registry facts."""

    vrps: CoveringIndex[VrpRecord]
    origins: CoveringIndex[tuple[int, ...]]
    as_sets: CoveringIndex[tuple[str, tuple[str, ...]]]  # (prefix, its AS_SET routes)
    nonfunctional_cas: dict[str, list[CaRecord]]  # by publication point
    rirs: CoveringIndex[str]
    route_objects: CoveringIndex[RouteObjectRecord]
    listings: OverlapIndex[Listing]
    registrations: OverlapIndex[RegistryRecord]
    registration_count: int


def vrp_index(vrps: Iterable[VrpRecord]) -> CoveringIndex[VrpRecord]:
    """VRPs keyed by prefix."""
    return CoveringIndex.from_items((v.prefix, v) for v in vrps)


def build_indexes(portfolio: Portfolio) -> SignalIndexes:
    """The indexes every per-block signal reads."""
    return SignalIndexes(
        vrps=vrp_index(portfolio.vrps),
        origins=CoveringIndex.from_items(portfolio.origins.items()),
        as_sets=CoveringIndex.from_items((p, (p, sets)) for p, sets in portfolio.as_sets.items()),
        nonfunctional_cas=ca_index(portfolio.nonfunctional_cas),
        rirs=rir_index(portfolio.registrations, portfolio.delegations),
        route_objects=CoveringIndex.from_items((r.prefix, r) for r in portfolio.route_objects),
        listings=OverlapIndex((x.prefix, x) for x in portfolio.listings),
        registrations=OverlapIndex((r.block, r) for r in portfolio.registrations),
        registration_count=len(portfolio.registrations),
    )


# --- routing ---------------------------------------------------------------------------------
def origin_validation(covering: Sequence[tuple[int, int]], length: int, asn: int | None) -> tuple[str, str | None]:
    """RFC 6811 for a route of prefix length ``length`` originated by ``asn``, given the
    ``(max_length, vrp_asn)`` of every VRP whose prefix covers the route.

    No covering VRP -> ``("NotFound", None)``. Some VRP with ``vrp_asn == asn`` (never AS0) and
    ``length <= max_length`` -> ``("Valid", None)``. Otherwise ``("Invalid", reason)``: reason
    ``"too-specific"`` when a VRP names ``asn`` but only up to a shorter maxLength, else
    ``"asn-mismatch"``. ``asn=None`` (no origin, e.g. an AS_SET) can only be NotFound or Invalid.
    """
    if not covering:
        return NOT_FOUND, None
    asn_named = False
    for max_length, vrp_asn in covering:
        if vrp_asn == asn and vrp_asn != 0:
            if length <= max_length:
                return VALID, None
            asn_named = True
    return INVALID, TOO_SPECIFIC if asn_named else ASN_MISMATCH


def validate_route(index: CoveringIndex[VrpRecord], first: int, length: int, asn: int | None) -> tuple[str, str | None]:
    """RFC 6811 state and reason of route ``first/length`` from ``asn`` against the VRP index."""
    return origin_validation([(v.max_length, v.asn) for v in index.covering(first, length)], length, asn)


def bgp_origins(index: CoveringIndex[tuple[int, ...]], first: int, length: int) -> tuple[int, ...]:
    """Every origin AS seen in BGP for the block or a prefix covering it (most specific first)."""
    seen: dict[int, None] = {}
    for origins in reversed(index.covering(first, length)):
        for asn in origins:
            seen[asn] = None
    return tuple(seen)


def bgp_as_sets(index: CoveringIndex[tuple[str, tuple[str, ...]]], first: int, length: int) -> tuple[str, ...]:
    """Every AS_SET route seen in BGP for the block or a prefix covering it (most specific first),
    each ``"<prefix> {64500,64501}"``: such a route has origin NONE (RFC 6811)."""
    return tuple(f"{prefix} {{{text}}}" for prefix, texts in reversed(index.covering(first, length)) for text in texts)


def irr_route_exists(index: CoveringIndex[RouteObjectRecord], first: int, length: int, asn: int) -> bool:
    """True when an IRR route object for the block, or for a prefix covering it, names ``asn``."""
    return any(r.origin_asn == asn for r in index.covering(first, length))


# --- reputation --------------------------------------------------------------------------------
def listing_labels(listings: Sequence[Listing]) -> list[str]:
    """``"<list> <entry> <prefix>"`` per blocklist entry, e.g. ``"spamhaus-drop SBL123 1.2.0.0/16"``."""
    return [" ".join(p for p in (x.list_name, x.entry_id, x.prefix) if p) for x in listings]


def abuse_contact_present(covering_registrations: Sequence[RegistryRecord]) -> bool | None:
    """True when some registry object covering the block names an abuse contact; False when
    objects cover it but none does; None when no registry object covers it (unknown)."""
    if not covering_registrations:
        return None
    return any(r.abuse_c for r in covering_registrations)


# --- source clarity ----------------------------------------------------------------------------
_LEGAL_SUFFIXES = frozenset(
    "inc incorporated ltd limited llc gmbh bv b v ag sa sarl srl sl oy ab as plc corp corporation co company fzco fze fz llp lp pte pty".split()
)
_NON_WORD = re.compile(r"[^0-9a-z]+")


def comparable_name(name: str) -> str:
    """A party or maintainer name reduced for matching across sources: case-folded, punctuation
    removed, legal-form words (Inc, Ltd, LLC, GmbH, FZCO, ...) and a trailing ``MNT`` dropped.
    ``"B2 Net Solutions Inc."`` and ``"b2 net solutions"`` compare equal; so do ``IPXO-MNT`` and
    ``IPXO``."""
    words = [w for w in _NON_WORD.split(name.casefold()) if w]
    if len(words) > 1 and words[-1] == "mnt":
        words.pop()
    kept = [w for w in words if w not in _LEGAL_SUFFIXES]
    return " ".join(kept or words)


def registry_holder(covering_registrations: Sequence[RegistryRecord], block_length: int) -> RegistryRecord | None:
    """The holder object of the most specific covering allocation: among covering objects with role
    holder, the one with the longest prefix (ties: the first by handle)."""
    best: RegistryRecord | None = None
    best_length = -1
    for r in covering_registrations:
        if r.role != "holder":
            continue
        length = prefix_ints(r.block)[1]
        if length <= block_length and (length > best_length or (length == best_length and best and r.handle < best.handle)):
            best, best_length = r, length
    return best


def same_party(key: str, name: str, org_key: str | None, org_name: str | None) -> bool:
    """True when a contract party (key, name) and a registry org (key, name) are the same
    organisation: equal keys, or equal :func:`comparable_name`."""
    if org_key and org_key == key:
        return True
    if not org_name:
        return False
    return comparable_name(org_name) == comparable_name(name)


def registry_footprint(key: str, name: str, overlapping_registrations: Sequence[RegistryRecord]) -> bool:
    """True when the party appears in a registry object overlapping the block: as its org, under
    its netname, or as one of its maintainers (mnt-by / mnt-lower / mnt-routes)."""
    wanted = comparable_name(name)
    for r in overlapping_registrations:
        if same_party(key, name, r.org_key, r.org_name):
            return True
        if r.netname and comparable_name(r.netname) == wanted:
            return True
        for mnt in (*r.mnt_by, *r.mnt_lower, *r.mnt_routes):
            if comparable_name(mnt) == wanted:
                return True
    return False


def source_clarity_issues(
    holders: Sequence[tuple[str, str]],
    intermediaries: Sequence[tuple[str, str]],
    hops: Sequence[Hop],
    covering_registrations: Sequence[RegistryRecord],
    overlapping_registrations: Sequence[RegistryRecord],
    block_length: int,
) -> list[str]:
    """Why the source of a contract chain is unclear (empty list = clear):

    * the registry holder of the most specific covering allocation is none of the contract chain's
      holders (``(key, name)`` pairs), matched by :func:`same_party`;
    * an intermediary (a party between holder and lessee) has no registry footprint
      (:func:`registry_footprint`) and none of the hops it is party to carries a ``document_ref``.
    """
    issues: list[str] = []
    owner = registry_holder(covering_registrations, block_length)
    if owner is not None and not any(same_party(k, n, owner.org_key, owner.org_name) for k, n in holders):
        contract = ", ".join(n for _, n in holders)
        issues.append(f"contract holder {contract} is not the registry holder {owner.org_name or owner.org_key} ({owner.handle})")
    if intermediaries:
        documented = {h.provider for h in hops if h.document_ref} | {h.recipient for h in hops if h.document_ref}
        for key, name in intermediaries:
            if key not in documented and not registry_footprint(key, name, overlapping_registrations):
                issues.append(f"intermediary {name} has no registry footprint and no document_ref")
    return issues
