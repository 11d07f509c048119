"""Stored fact properties -> the analysis input records (``analysis.model``).

Both stores read the same property names (``*_FIELDS``, in this order) and build records with the
same functions, so their portfolios are equal. Values may be Neo4j temporal types; ``native`` fixes that.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from chainrisk.analysis.model import (
    AsnListingRecord,
    AspaRecord,
    AsPathRecord,
    CaRecord,
    DelegationRecord,
    Hop,
    Listing,
    RegistryRecord,
    RouteObjectRecord,
    VrpRecord,
)
from chainrisk.common.timestamps import as_utc
from chainrisk.graph.stores.records import cached_party_key, native

HOP_FIELDS = ("block", "provider_name", "provider_id", "provider_role", "recipient_name", "recipient_id", "recipient_role",
              "start_date", "end_date", "lessee_asn", "renewal_owner", "document_ref",
              "transit_asns")
REGISTRATION_FIELDS = ("prefix", "registry", "handle", "status", "role", "org_name", "org_id", "parent_handle", "abuse_c",
                       "mnt_by", "mnt_lower", "mnt_routes", "netname")
DELEGATION_FIELDS = ("prefix", "registry", "status", "holder_id")
VRP_FIELDS = ("prefix", "max_length", "asn", "ta", "expires", "observed_at", "uri")
ORIGIN_FIELDS = ("prefix", "origins", "as_sets", "observed_at")
CA_FIELDS = ("ta", "location", "ca_repository")
ROUTE_OBJECT_FIELDS = ("prefix", "origin_asn", "registry")
LISTING_FIELDS = ("prefix", "list_name", "entry_id")
ASN_LISTING_FIELDS = ("asn", "list_name", "as_name")
ASPA_FIELDS = ("customer_asn", "providers")
AS_PATH_FIELDS = ("prefix", "peer_asn", "path", "peer_ip")


def values_of(props: dict[str, Any], fields: Sequence[str]) -> list[Any]:
    """The values of ``fields`` in ``props`` (None where absent), in order."""
    return [props.get(f) for f in fields]


def as_date(value: Any) -> date:
    """A stored date (ISO text, a Neo4j Date or a date) as a ``date``."""
    return date.fromisoformat(value) if isinstance(value, str) else native(value)


def hop_from_row(row: Sequence[Any]) -> Hop:
    """A Hop from values in HOP_FIELDS order."""
    block, p_name, p_id, p_role, r_name, r_id, r_role, start, end, asn, renewal, doc, transit = row
    return Hop(block, cached_party_key(p_name, p_id), p_name, p_role, cached_party_key(r_name, r_id), r_name, r_role,
               as_date(start), as_date(end), asn, renewal, doc, tuple(transit) if transit else ())


def registration_from_row(row: Sequence[Any]) -> RegistryRecord:
    """A RegistryRecord from values in REGISTRATION_FIELDS order."""
    prefix, registry, handle, status, role, org_name, org_id, parent, abuse, mnt_by, mnt_lower, mnt_routes, netname = row
    org_key = cached_party_key(org_name, org_id) if org_name is not None else None
    return RegistryRecord(prefix, registry, handle, status, role, org_key, org_name, parent, abuse,
                          tuple(mnt_by or ()), tuple(mnt_lower or ()), tuple(mnt_routes or ()), netname)


def delegation_from_row(row: Sequence[Any]) -> DelegationRecord:
    return DelegationRecord(*row)


def vrp_from_row(row: Sequence[Any]) -> VrpRecord:
    prefix, max_length, asn, ta, expires, observed_at, uri = row
    return VrpRecord(prefix, max_length, asn, ta, _moment(expires), _moment(observed_at), uri)


def _moment(value: Any) -> Any:
    """A stored timestamp (a Neo4j DateTime or a datetime) as an aware UTC datetime; None stays None."""
    return None if value is None else as_utc(native(value))


def ca_from_row(row: Sequence[Any]) -> CaRecord:
    return CaRecord(*row)


def add_route(portfolio: Any, row: Sequence[Any]) -> None:
    """One BgpRoute's values (ORIGIN_FIELDS order) into ``portfolio.origins``, ``portfolio.as_sets``
    (a route seen only with AS_SET origins has no ``origins``) and ``portfolio.origins_observed_at``."""
    prefix, origins, as_sets, observed_at = row
    portfolio.origins[prefix] = tuple(origins or ())
    if as_sets:
        portfolio.as_sets[prefix] = tuple(as_sets)
    portfolio.origins_observed_at[prefix] = as_utc(native(observed_at))


def route_object_from_row(row: Sequence[Any]) -> RouteObjectRecord:
    return RouteObjectRecord(*row)


def listing_from_row(row: Sequence[Any]) -> Listing:
    return Listing(*row)


def asn_listing_from_row(row: Sequence[Any]) -> AsnListingRecord:
    return AsnListingRecord(*row)


def aspa_from_row(row: Sequence[Any]) -> AspaRecord:
    customer, providers = row
    return AspaRecord(customer, tuple(providers or ()))


def as_path_from_row(row: Sequence[Any]) -> AsPathRecord:
    prefix, peer_asn, path, peer_ip = row
    return AsPathRecord(prefix, peer_asn, tuple(path), peer_ip)


# fact node label -> (Portfolio attribute, fields, row -> record); BgpRoute becomes Portfolio.origins
PORTFOLIO_PARTS = {
    "Registration": ("registrations", REGISTRATION_FIELDS, registration_from_row),
    "Delegation": ("delegations", DELEGATION_FIELDS, delegation_from_row),
    "Vrp": ("vrps", VRP_FIELDS, vrp_from_row),
    "NonfunctionalCa": ("nonfunctional_cas", CA_FIELDS, ca_from_row),
    "RouteObject": ("route_objects", ROUTE_OBJECT_FIELDS, route_object_from_row),
    "Listing": ("listings", LISTING_FIELDS, listing_from_row),
    "AsnListing": ("asn_listings", ASN_LISTING_FIELDS, asn_listing_from_row),
    "Aspa": ("aspas", ASPA_FIELDS, aspa_from_row),
    "AsPath": ("as_paths", AS_PATH_FIELDS, as_path_from_row),
}
