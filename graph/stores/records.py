"""Events as graph elements: the properties a fact element stores, and the event they give back.

Pure functions shared by both stores, so the embedded graph and Neo4j hold the same properties and a
stored element always rebuilds the exact event that made it (``event_from_props(fact_props(e)) == e``).
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timezone
from enum import Enum
from functools import lru_cache
from typing import Any, Final, get_args

from chainrisk.common.prefixes import prefix_range
from chainrisk.ingest.events import EVENT_ADAPTER, Event, PartyRef, Role, delegation_holder, party_key

_MODELS: dict[str, Any] = {m.model_fields["type"].default: m for m in get_args(get_args(Event)[0])}

# event type -> node label of its fact element; lease hops are LEASES relationships instead
FACT_LABEL: dict[str, str] = {
    "registration": "Registration",
    "route_object": "RouteObject",
    "holder_transfer": "Transfer",
    "delegation": "Delegation",
    "vrp": "Vrp",
    "nonfunctional_ca": "NonfunctionalCa",
    "route_origin": "BgpRoute",
    "blocklist_entry": "Listing",
    "asn_listing": "AsnListing",
    "aspa": "Aspa",
    "as_path": "AsPath",
}
LEASE_TYPE: Final = "lease_hop"
LEASES = "LEASES"
TYPE_OF_LABEL: dict[str, str] = {label: kind for kind, label in FACT_LABEL.items()}

# event types whose block gets a Block node (VRPs and BGP routes are too many)
BLOCK_TYPES = frozenset({"lease_hop", "registration", "delegation", "holder_transfer", "blocklist_entry"})
# event types whose applied changes the consumer hands to the alerts hook
CHANGE_TYPES = frozenset({"registration", "delegation", "holder_transfer", "lease_hop"})
HOLDER_TYPES = frozenset({"registration", "delegation", "holder_transfer"})

# party-valued event fields -> the stem of their flattened properties (``<stem>_name``, ``<stem>_id``)
PARTY_FIELDS: dict[str, str] = {"provider": "provider", "recipient": "recipient", "org": "org", "from_party": "from", "to_party": "to"}
PROVENANCE_FIELDS = ("source", "reference", "line", "offset", "observed_at", "ingested_at", "snapshot")
# a fact element's version: what a re-assertion of unchanged content moves (the rest is its content)
VERSION_PROPS = frozenset({"event_id", *PROVENANCE_FIELDS})
_ENVELOPE = frozenset({"schema_version", "type", "op", "block", "provenance"})
# properties whose values many elements repeat (one file's provenance and snapshot, a trust anchor,
# an expiry time, an AS number): the embedded store holds each distinct value of them once
SHARED_PROPS = frozenset({"source", "reference", "observed_at", "ingested_at", "snapshot", "ta", "expires", "asn", "registry",
                          "status", "list_name", "type"})

# the label's identity property (fact labels and Retracted use fact_key)
IDENTITY_PROP: dict[str, str] = {
    "Party": "key",
    "Block": "prefix",
    "AS": "asn",
    "Maintainer": "name",
    "ConsumerOffset": "group",
    "Meta": "name",
    "Alert": "alert_id",
    "PendingChanges": "batch_id",
    "Snapshot": "snapshot_id",
    "SnapshotProgress": "snapshot_id",
}
FULL_ANALYSIS_KEY = "full_analysis"  # the Meta record (Neo4j) / meta row (embedded) of the last full analysis
MACHINERY_LABELS = frozenset({"ConsumerOffset", "Meta", "PendingChanges", "SnapshotProgress"})


def identity_prop(label: str) -> str:
    """The property that identifies a node of ``label``."""
    return IDENTITY_PROP.get(label, "fact_key")


def block_props(prefix: str) -> dict[str, Any]:
    """The properties of the Block node for ``prefix``."""
    first, last, length = prefix_range(prefix)
    return {"prefix": prefix, "first": first, "last": last, "prefix_length": length, "addresses": last - first + 1}


def _plain(value: Any) -> Any:
    """A model-dump value as a storable property value: enums by value, tuples as lists, a naive
    timestamp as UTC (the event contract's timestamps are UTC; both stores keep them aware)."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value


def _temporal_kind(annotation: Any) -> str | None:
    """"datetime", "date" or None for a model field's type (``X | None`` included)."""
    kinds = set(get_args(annotation)) or {annotation}
    if datetime in kinds:
        return "datetime"
    if date in kinds:
        return "date"
    return None


def _temporal_props(event_type: str) -> tuple[tuple[str, str], ...]:
    model = _MODELS[event_type]
    found = [(name, kind) for name, info in model.model_fields.items()
             if name not in _ENVELOPE and (kind := _temporal_kind(info.annotation))]
    return (("observed_at", "datetime"), ("ingested_at", "datetime"), *found)


# event type -> (property, "date" | "datetime") of its fact element's temporal properties
TEMPORAL_PROPS: dict[str, tuple[tuple[str, str], ...]] = {}


def _absent(value: Any) -> bool:
    return value is None or (isinstance(value, list) and not value)


def _field_plan(event_type: str) -> tuple[tuple[str, str | None], ...]:
    """(field, party stem or None) for the body fields of an event type, in model order."""
    return tuple((name, PARTY_FIELDS.get(name)) for name in _MODELS[event_type].model_fields if name not in _ENVELOPE)


_FIELD_PLANS: dict[str, tuple[tuple[str, str | None], ...]] = {kind: _field_plan(kind) for kind in _MODELS}
_NEEDS_PLAIN = (Enum, tuple, list, datetime)


def fact_props(event: Event, fact_key: str | None = None) -> dict[str, Any]:
    """The properties of the fact element ``event`` makes: its fields flattened (party fields to
    ``<stem>_name``/``<stem>_id``, provenance to the top level), ``fact_key``, ``event_id``, and the
    prefix as ``prefix`` (``block`` on LEASES) with ``first``, ``last``, ``prefix_length``.
    Absent values (None, empty lists) are left out, as Neo4j does not store them.
    (``fact_key``: the event's key when the caller has it already - it is not free to compute.)"""
    first, last, length = prefix_range(event.block)
    props: dict[str, Any] = {
        ("block" if event.type == LEASE_TYPE else "prefix"): event.block,
        "first": first,
        "last": last,
        "prefix_length": length,
        "fact_key": fact_key or event.fact_key,
    }
    for name, value in event.provenance.__dict__.items():
        if value is not None:
            props[name] = _plain(value)
    fields = event.__dict__  # pydantic keeps field values here; getattr per field is several times slower
    for name, stem in _FIELD_PLANS[event.type]:
        value = fields[name]
        if value is None:
            continue
        if stem is not None:
            props[f"{stem}_name"] = value.name
            if value.id is not None:
                props[f"{stem}_id"] = value.id
        elif isinstance(value, _NEEDS_PLAIN):
            if not _absent(plain := _plain(value)):
                props[name] = plain
        else:
            props[name] = value
    return props


def native(value: Any) -> Any:
    """A property value read from either store as a plain Python value (Neo4j temporal types
    converted with ``to_native``, lists kept as lists)."""
    to_native = getattr(value, "to_native", None)
    if to_native is not None:
        return to_native()
    if isinstance(value, list):
        return [native(v) for v in value]
    return value


def event_from_props(event_type: str, props: dict[str, Any]) -> Event:
    """The event a stored fact element was made from (the inverse of :func:`fact_props`)."""
    values = {k: native(v) for k, v in props.items()}
    block_field = "block" if event_type == LEASE_TYPE else "prefix"
    body: dict[str, Any] = {
        "type": event_type,
        "op": "assert",
        "block": values[block_field],
        "event_id": values["event_id"],
        "provenance": {k: values[k] for k in PROVENANCE_FIELDS if k in values},
    }
    for name in _MODELS[event_type].model_fields:
        if name in _ENVELOPE or name in ("event_id",):
            continue
        stem = PARTY_FIELDS.get(name)
        if stem is not None:
            if f"{stem}_name" in values:
                body[name] = {"name": values[f"{stem}_name"], "id": values.get(f"{stem}_id")}
            continue
        if name in values:
            body[name] = values[name]
    return EVENT_ADAPTER.validate_python(body)


TEMPORAL_PROPS.update({kind: _temporal_props(kind) for kind in _MODELS})


def _prop_names(event_type: str) -> tuple[str, ...]:
    """Every property a fact element of ``event_type`` can have (what :func:`fact_props` may set)."""
    names = ["block" if event_type == LEASE_TYPE else "prefix", "first", "last", "prefix_length", "fact_key", *PROVENANCE_FIELDS]
    for name, stem in _FIELD_PLANS[event_type]:
        names += [f"{stem}_name", f"{stem}_id"] if stem else [name]
    return tuple(names)


# event type -> every property name of its fact element
PROP_NAMES: dict[str, tuple[str, ...]] = {kind: _prop_names(kind) for kind in _MODELS}


# --- links of fact nodes ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Link:
    """A relationship a fact node has: ``rel`` to (``outgoing``) or from a ``target`` reference node.
    ``mutable`` links can differ between versions of one fact, so an update re-creates them."""

    rel: str
    target: str  # label of the other end
    outgoing: bool
    mutable: bool


LINKS: dict[str, tuple[Link, ...]] = {
    "registration": (
        Link("REGISTERED_AS", "Block", False, False),
        Link("REGISTRANT", "Party", True, True),
        Link("MNT_BY", "Maintainer", True, True),
        Link("MNT_LOWER", "Maintainer", True, True),
        Link("MNT_ROUTES", "Maintainer", True, True),
    ),
    "holder_transfer": (Link("OF", "Block", True, False), Link("FROM", "Party", True, True), Link("TO", "Party", True, False)),
    "delegation": (Link("FOR", "Block", True, False),),
    "vrp": (Link("AUTHORIZES", "AS", True, False),),
    "route_origin": (Link("ORIGINATED_BY", "AS", True, True),),
    "route_object": (Link("ORIGIN", "AS", True, False),),
    "blocklist_entry": (Link("LISTS", "Block", True, False),),
    "nonfunctional_ca": (),  # the export names no resources of the CA: nothing to link it to
    "asn_listing": (Link("LISTS_AS", "AS", True, False),),
    "aspa": (Link("CUSTOMER", "AS", True, False), Link("PROVIDER", "AS", True, True)),
    "as_path": (Link("PATH_ORIGIN", "AS", True, True),),
}
# relationships that never carry a property (their type is their whole content): the embedded
# store lets all relationships of one such type share one property dict
BARE_RELS = frozenset({"WITHIN", *(link.rel for links in LINKS.values() for link in links)})
# fact labels the embedded store holds as rows of a table (graph/stores/nx_tables.py) instead of as
# networkx nodes: the labels of a million facts (a VRP export, a routing table), whose only link goes
# to the AS nodes one property names -> (that link's relationship type, the property)
TABLE_LINKS: dict[str, tuple[str, str]] = {"Vrp": ("AUTHORIZES", "asn"), "BgpRoute": ("ORIGINATED_BY", "origins")}


def table_asns(label: str, props: dict[str, Any]) -> list[int]:
    """The AS numbers a :data:`TABLE_LINKS` fact element links to, from its properties: what
    :func:`asns_named` gives for the event that made it."""
    value = props.get(TABLE_LINKS[label][1])
    if value is None:
        return []
    return sorted(set(value)) if isinstance(value, (list, tuple)) else [value]


def link_targets(event: Event) -> dict[str, list[Any]]:
    """Relationship type -> identities of the reference nodes the fact node links to."""
    kind = event.type
    if event.type == "registration":
        org = event.org
        return {"REGISTERED_AS": [event.block], "REGISTRANT": [cached_party_key(org.name, org.id)] if org else [], **{
            rel: maintainers_named(event).get(rel, []) for rel in ("MNT_BY", "MNT_LOWER", "MNT_ROUTES")}}
    if event.type == "holder_transfer":
        src, dst = event.from_party, event.to_party
        return {"OF": [event.block], "FROM": [cached_party_key(src.name, src.id)], "TO": [cached_party_key(dst.name, dst.id)]}
    if kind in ("delegation", "blocklist_entry"):
        return {LINKS[kind][0].rel: [event.block]}
    if kind in ("vrp", "route_origin", "route_object"):
        return {LINKS[kind][0].rel: asns_named(event)}
    if event.type == "asn_listing":
        return {"LISTS_AS": [event.asn]}
    if event.type == "aspa":
        return {"CUSTOMER": [event.customer_asn], "PROVIDER": sorted(set(event.providers))}
    if event.type == "as_path":
        return {"PATH_ORIGIN": [event.path[-1]]}
    return {}


# --- parties ------------------------------------------------------------------------------------


# Party role labels: a LEASES hop gives its provider the label of its provider_role and its recipient
# the label of its recipient_role, where the role has one on that side (a holder only provides, a
# lessee only receives). A party's role labels are those its current LEASES give it.
PROVIDER_ROLE_LABEL: dict[Role, str] = {Role.HOLDER: "Holder", Role.UPSTREAM: "Upstream", Role.BROKER: "Broker"}
RECIPIENT_ROLE_LABEL: dict[Role, str] = {Role.UPSTREAM: "Upstream", Role.BROKER: "Broker", Role.LESSEE: "Lessee"}
ROLE_LABELS: tuple[str, ...] = ("Holder", "Upstream", "Broker", "Lessee")


def hop_role_labels(provider_role: Role | str, recipient_role: Role | str) -> tuple[str | None, str | None]:
    """The role label a LEASES hop with these roles gives its provider and its recipient (None: none)."""
    return PROVIDER_ROLE_LABEL.get(Role(provider_role)), RECIPIENT_ROLE_LABEL.get(Role(recipient_role))


def party_labels(role_labels: Iterable[str]) -> tuple[str, ...]:
    """A Party node's labels: ``Party`` and its role labels, sorted."""
    return ("Party", *sorted(set(role_labels)))


@lru_cache(maxsize=1 << 16)
def cached_party_key(name: str | None, party_id: str | None) -> str:
    """``party_key`` memoised: the same few thousand parties recur in every batch."""
    return party_key(name, party_id)


def parties_named(event: Event) -> list[PartyRef]:
    """Every party the event names (the delegation's holder included)."""
    found = []
    fields = event.__dict__
    for name in PARTY_FIELDS:
        party = fields.get(name)
        if party is not None:
            found.append(PartyRef(cached_party_key(party.name, party.id), party.name, party.id))
    if event.type == "delegation" and event.holder_id:
        found.append(delegation_holder(event.registry, event.holder_id))
    return found


def maintainers_named(event: Event) -> dict[str, list[str]]:
    """Relationship type -> maintainer names, for a registration (empty for other types)."""
    if event.type != "registration":
        return {}
    rels = {"MNT_BY": event.mnt_by, "MNT_LOWER": event.mnt_lower, "MNT_ROUTES": event.mnt_routes}
    return {rel: sorted(set(names)) for rel, names in rels.items() if names}


def asns_named(event: Event) -> list[int]:
    """The AS numbers a routing fact links to."""
    if event.type == "vrp":
        return [event.asn]
    if event.type == "route_origin":
        return sorted(set(event.origins))
    if event.type == "route_object":
        return [event.origin_asn]
    if event.type == "asn_listing":
        return [event.asn]
    if event.type == "aspa":
        return sorted({event.customer_asn, *event.providers})
    if event.type == "as_path":
        return [event.path[-1]]
    return []


def merge_party_names(found: list[PartyRef], into: dict[str, tuple[str, str | None]] | None = None) -> dict[str, tuple[str, str | None]]:
    """Key -> (smallest name, smallest id) over the parties ``found`` (and what ``into`` holds):
    the deterministic display name of a party whatever order its events arrive in."""
    out = dict(into or {})
    for party in found:
        name, pid = out.get(party.key, (party.name, party.party_id))
        name = min(name, party.name)
        if party.party_id is not None:
            pid = party.party_id if pid is None else min(pid, party.party_id)
        out[party.key] = (name, pid)
    return out


# --- canonical form --------------------------------------------------------------------------------


def canonical_value(value: Any) -> Any:
    """A property value in the form both backends' dumps share: temporal values as ISO text
    (aware timestamps in UTC), lists as lists."""
    value = native(value)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc)
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [canonical_value(v) for v in value]
    return value


def canonical_props(props: dict[str, Any], drop: frozenset[str] = frozenset({"ingested_at", "analysed_at"})) -> dict[str, Any]:
    """Properties in canonical form, sorted by name, without ``drop`` (ingest and analysis times differ per run)."""
    return {k: canonical_value(props[k]) for k in sorted(props) if k not in drop and not _absent(props[k])}


def sort_dump(nodes: list[dict[str, Any]], rels: list[dict[str, Any]]) -> dict[str, Any]:
    """The canonical dump: nodes and relationships each sorted by their JSON text."""
    def key(item: dict[str, Any]) -> str:
        return json.dumps(item, sort_keys=True, default=str)

    return {"nodes": sorted(nodes, key=key), "relationships": sorted(rels, key=key)}
