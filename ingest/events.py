"""The event contract: what ingest workers publish and the graph consumer applies.

Every message is one JSON object (one pydantic model below) with

* ``schema_version`` - bumped on any incompatible change; consumers reject versions they do not know;
* ``type`` - the fact kind (the discriminator);
* ``op`` - ``assert`` states the fact, ``retract`` withdraws it. Removal is always explicit: a fact
  missing from a later file is never taken as removed, so a partial ingest cannot delete good data;
* ``block`` - the IPv4 prefix the fact is about, also the Kafka message key, so every event about one
  block lands on one partition and is applied in order;
* ``provenance`` - source dataset, file or URL, line or byte offset, the data's own date
  (``observed_at``) and when it was ingested;
* ``event_id`` - deterministic: a hash of the fact's content, source and observed date (not of the
  ingest time or the file's path), so re-ingesting a file yields the same ids.

A fact's *identity* (``fact_key``) says which earlier fact a new one replaces: a newer
``observed_at`` for the same key supersedes, an older one is ignored (out-of-order safe).

Topics: relationship facts (lease hops, registrations, transfers, delegations) go to
``<prefix>.relationships``; routing facts (VRPs, BGP origins, IRR route objects) to
``<prefix>.routing``; reputation facts (blocklists) to ``<prefix>.reputation``.
"""
from __future__ import annotations

import hashlib
import ipaddress
import json
import re
import socket
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Final, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

SCHEMA_VERSION: Final = 1
_ZERO = timedelta(0)


class Role(str, Enum):
    HOLDER = "holder"
    UPSTREAM = "upstream"
    BROKER = "broker"
    LESSEE = "lessee"


PROVIDER_ROLES = frozenset({Role.HOLDER, Role.UPSTREAM, Role.BROKER})
RECIPIENT_ROLES = frozenset({Role.UPSTREAM, Role.BROKER, Role.LESSEE})

_SPACE = re.compile(r"\s+")


def party_key(name: str | None, party_id: str | None = None) -> str:
    """The identity of a party: its id (e.g. a registry handle) when known, else its name,
    compared case- and whitespace-insensitively ("  B2 Net  Solutions" == "b2 net solutions")."""
    raw = party_id if party_id and party_id.strip() else (name or "")
    return _SPACE.sub(" ", raw.strip()).casefold()


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Party(_Frozen):
    name: str
    id: str | None = None

    @property
    def key(self) -> str:
        return party_key(self.name, self.id)


@dataclass(frozen=True, slots=True)
class PartyRef:
    """A party as a fact names it: its key (:func:`party_key`, or :func:`delegation_holder`'s),
    the spelling used there and, when the fact gives one, its id."""

    key: str
    name: str
    party_id: str | None = None


def delegation_holder(registry: str, holder_id: str) -> PartyRef:
    """The party a delegated-stats record names by opaque id: key ``<registry>:<id>`` casefolded,
    named ``<REGISTRY> holder <id>`` (the id is the party's only name there)."""
    return PartyRef(f"{registry}:{holder_id}".casefold(), f"{registry.upper()} holder {holder_id}", holder_id)


class Provenance(_Frozen):
    source: str  # dataset, e.g. "lease-register", "ripe-whois", "rpki-client"
    reference: str  # file path or URL the fact came from
    line: int | None = None  # 1-based line, for line-oriented files
    offset: int | None = None  # byte or record offset, for other files
    observed_at: datetime  # the data's own date (file header, record date), UTC
    ingested_at: datetime  # when the worker read it, UTC
    # the full snapshot (ingest/snapshots.py) this fact is part of; on a retract, the snapshot that retracted it
    snapshot: str | None = None


_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"  # 0..255 without leading zeros ([0-9]: ASCII only)
CANONICAL_IPV4_ADDRESS = rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}"  # a regex: an address as ipaddress writes it
CANONICAL_PREFIX_LENGTH = "3[0-2]|[12]?[0-9]"  # a regex: 0..32 without leading zeros
_CANONICAL_PREFIX = re.compile(rf"({CANONICAL_IPV4_ADDRESS})/({CANONICAL_PREFIX_LENGTH})")


def host_bits_clear(address: str, length: int) -> bool:
    """True when the canonical ``address`` (:data:`CANONICAL_IPV4_ADDRESS`) has no bit set past ``length``."""
    return int.from_bytes(socket.inet_aton(address), "big") & ((1 << (32 - length)) - 1) == 0


def is_canonical_ipv4_prefix(value: str) -> bool:
    """True when ``value`` is already an IPv4 prefix in canonical form (``a.b.c.d/len``, no leading
    zeros, no host bits). A fast path: most prefixes in real files are, and ``ipaddress`` costs ~5x."""
    match = _CANONICAL_PREFIX.fullmatch(value)
    if match is None:
        return False
    address, length = match.groups()
    return host_bits_clear(address, int(length))


def _check_ipv4_prefix(value: str) -> str:
    if is_canonical_ipv4_prefix(value):
        return value
    net = ipaddress.ip_network(value, strict=True)
    if net.version != 4:
        raise ValueError(f"{value} is not IPv4")
    return str(net)


_NOT_IN_ID = {"event_id", "provenance"}  # the fields content_id leaves out of the hash


def id_prefix(source: str, observed_at: datetime) -> str:
    """What :meth:`_Event.content_id` hashes before an event's JSON body: ``"<source>|<observed_at ISO>|"``."""
    return f"{source}|{observed_at.isoformat()}|"


def id_of(prefix: str, body: str) -> str:
    """The ``event_id`` of the JSON ``body`` (every field but the id and the provenance) after :func:`id_prefix`."""
    return hashlib.sha256((prefix + body).encode()).hexdigest()[:32]


Model = TypeVar("Model", bound=BaseModel)
_new, _set = object.__new__, object.__setattr__  # what assemble calls for every event: looked up once


def assemble(model: type[Model], values: dict[str, Any], fields_set: set[str]) -> Model:
    """A ``model`` holding ``values`` as they are, without validation: what ``model.model_construct``
    makes when given every field, ~10x cheaper. Only for values that are already valid field values
    (of the types validation gives), with every field in declaration order (pydantic serialises
    ``__dict__`` in its order). ``fields_set`` may be shared by many instances: nothing changes a
    frozen model's set in place (``model_copy`` copies it first). The workers' fast paths
    (``checked_*`` below) use it; their tests check the result equals the validated construction,
    wire bytes and id included."""
    instance = _new(model)
    _set(instance, "__dict__", values)
    _set(instance, "__pydantic_fields_set__", fields_set)
    _set(instance, "__pydantic_extra__", None)
    _set(instance, "__pydantic_private__", None)
    return instance


class LineProvenance:
    """The provenance of one file's records, validated once: :meth:`at` gives a record's (the same
    fields, its own line) without validating again. ``prefix`` is the files' :func:`id_prefix`."""

    def __init__(self, *, source: str, reference: str, observed_at: datetime, ingested_at: datetime) -> None:
        base = Provenance(source=source, reference=reference, line=0, observed_at=observed_at, ingested_at=ingested_at)
        self.base = base
        self.prefix = id_prefix(base.source, base.observed_at)
        self._fields = base.__dict__
        self._set = set(base.model_fields_set)  # shared by every record's provenance (see assemble)

    def at(self, line: int) -> Provenance:
        return assemble(Provenance, {**self._fields, "line": line}, self._set)


# JSON text that pydantic writes as it is, between quotes: printable ASCII but '"' and '\'
_PLAIN_TEXT = re.compile(r'[ !#-\[\]-~]*')


def _plain(*texts: str | None) -> bool:
    """True when every text is None or JSON-plain (:data:`_PLAIN_TEXT`): a fast path's body may
    quote it as it is; otherwise the fast path validates and serialises through pydantic."""
    return _PLAIN_TEXT.fullmatch("".join([text for text in texts if text])) is not None  # plain each iff plain joined


def _text(value: str | None) -> str:
    return "null" if value is None else f'"{value}"'


def _utc_second(value: datetime | None) -> str | None:
    """The JSON of a whole-second UTC time as pydantic writes it (``"2025-07-25T14:17:38Z"``), "null"
    for None; None for any other time (another zone, microseconds, a year before 1000)."""
    if value is None:
        return "null"
    if value.microsecond or value.year < 1000 or value.utcoffset() != _ZERO:
        return None
    return f'"{value:%Y-%m-%dT%H:%M:%S}Z"'


def _day(value: date | None) -> str | None:
    """The JSON of a date as pydantic writes it, "null" for None; None for a year before 1000."""
    if value is None:
        return "null"
    return None if value.year < 1000 else f'"{value.isoformat()}"'


_E = TypeVar("_E", bound="_Event")


class _Event(_Frozen):
    if TYPE_CHECKING:  # each event kind declares it as a Literal default; not a field of the base model
        type: str
    _UNSET_NOT_HASHED: ClassVar[frozenset[str]] = frozenset()
    schema_version: Literal[1] = SCHEMA_VERSION
    event_id: str = ""
    op: Literal["assert", "retract"] = "assert"
    block: str
    provenance: Provenance

    @field_validator("block")
    @classmethod
    def _block_is_ipv4_prefix(cls, value: str) -> str:
        return _check_ipv4_prefix(value)

    # -- identity ----------------------------------------------------------------------
    def identity(self) -> tuple[Any, ...]:
        """The fields that name the fact (not its current values)."""
        return (self.block,)

    @property
    def fact_key(self) -> str:
        return f"{self.type}|" + "|".join("" if p is None else str(p) for p in self.identity())

    def content_id(self) -> str:
        """The deterministic ``event_id`` of this event: the first 32 hex digits of the sha256 of
        ``"<source>|<observed_at ISO>|<JSON of every field but the id and the provenance>"``. A field
        of :attr:`_UNSET_NOT_HASHED` is left out while unset (None or empty), so the events that do not
        use it keep the ids they had before the field existed (a re-ingest after an upgrade matches)."""
        unset = {name for name in self._UNSET_NOT_HASHED if not getattr(self, name)}
        body = self.model_dump_json(exclude=_NOT_IN_ID | unset if unset else _NOT_IN_ID)
        prov = self.provenance
        return id_of(id_prefix(prov.source, prov.observed_at), body)

    def with_id(self: _E) -> _E:
        """This event with its deterministic ``event_id`` (:meth:`content_id`): a hash of the fact's
        content (every field but the id and the provenance), its source dataset and its observed date."""
        return self.model_copy(update={"event_id": self.content_id()})

    def to_json(self) -> bytes:
        """The wire text: None values and unset :attr:`_UNSET_NOT_HASHED` fields left out, so an event
        that does not use a newer field has the bytes it had before the field existed."""
        unset = {name for name in self._UNSET_NOT_HASHED if not getattr(self, name)}
        return self.model_dump_json(exclude_none=True, exclude=unset or None).encode()


class LeaseHop(_Event):
    """One hop of a block's contract chain, from the business's own lease register."""

    type: Literal["lease_hop"] = "lease_hop"
    provider: Party
    provider_role: Role
    recipient: Party
    recipient_role: Role
    start_date: date
    end_date: date
    lessee_asn: int | None = None
    renewal_owner: str | None = None
    document_ref: str | None = None
    # the lessee's transit providers as the register names them (on the hop to the lessee)
    transit_asns: tuple[int, ...] = ()

    _UNSET_NOT_HASHED = frozenset({"transit_asns"})

    def identity(self) -> tuple[Any, ...]:
        return (self.block, self.provider.key, self.recipient.key)


class Registration(_Event):
    """A registry object for the block (RPSL inetnum, ARIN NetHandle / RDAP ip network).

    ``role`` is the chain role the registry status implies (ALLOCATED PA / Direct Allocation ->
    holder; SUB-ALLOCATED PA / Reallocated -> upstream; ASSIGNED PA / Reassigned -> lessee);
    ``None`` where the status says nothing about a chain (e.g. LEGACY without org)."""

    type: Literal["registration"] = "registration"
    registry: str  # ripe, arin, apnic, afrinic, lacnic
    handle: str  # NetHandle, or "start - end" for RPSL inetnums
    parent_handle: str | None = None
    range_start: str | None = None  # the object's own range when it is not one CIDR
    range_end: str | None = None
    status: str
    role: Role | None = None
    org: Party | None = None
    netname: str | None = None
    country: str | None = None
    mnt_by: tuple[str, ...] = ()
    mnt_lower: tuple[str, ...] = ()
    mnt_routes: tuple[str, ...] = ()
    abuse_c: str | None = None
    created: date | None = None
    last_modified: date | None = None

    def identity(self) -> tuple[Any, ...]:
        # the handle, not the prefix: ARIN lists a Direct Allocation and a Reallocated net on the same /16
        return (self.registry, self.handle, self.block)


class RouteObject(_Event):
    """An IRR ``route:`` object: the prefix may be originated by ``origin_asn``."""

    type: Literal["route_object"] = "route_object"
    origin_asn: int
    registry: str
    mnt_by: tuple[str, ...] = ()

    def identity(self) -> tuple[Any, ...]:
        return (self.block, self.origin_asn, self.registry)


class HolderTransfer(_Event):
    """An RIR transfer-log record: the block's registered holder changed."""

    type: Literal["holder_transfer"] = "holder_transfer"
    from_party: Party
    to_party: Party
    transfer_date: datetime
    transfer_type: str  # RESOURCE_TRANSFER | MERGER_ACQUISITION | ...
    source_rir: str | None = None
    recipient_rir: str | None = None

    def identity(self) -> tuple[Any, ...]:
        return (self.block, self.transfer_date.isoformat(), self.to_party.key)


DELEGATION_STATUSES = frozenset({"allocated", "assigned", "reserved", "available"})
HELD_STATUSES = frozenset({"allocated", "assigned"})  # the RIR lists a holder (opaque id) for the range
RECLAIMED_STATUSES = DELEGATION_STATUSES - HELD_STATUSES  # the RIR holds the range itself


class Delegation(_Event):
    """A delegated-extended statistics record: which holder (opaque id) an RIR lists for a range."""

    type: Literal["delegation"] = "delegation"
    registry: str
    country: str | None = None
    status: str  # allocated | assigned | reserved | available
    holder_id: str | None = None  # the opaque id; None for reserved/available
    registered: date | None = None
    range_start: str | None = None  # the record's own range when it is not one CIDR
    range_size: int | None = None

    def identity(self) -> tuple[Any, ...]:
        return (self.registry, self.block)


class Vrp(_Event):
    """A validated ROA payload (RFC 6811): ``asn`` may originate ``block`` up to ``max_length``.
    ``uri``: the ROA object's URI, where the export names it (Routinator jsonext, RIPE validator
    CSV); it lies in the issuing CA's publication point (RFC 6481)."""

    _UNSET_NOT_HASHED = frozenset({"uri"})
    type: Literal["vrp"] = "vrp"
    max_length: int = Field(ge=0, le=32)
    asn: int = Field(ge=0)
    ta: str
    expires: datetime | None = None
    uri: str | None = None

    def identity(self) -> tuple[Any, ...]:
        return (self.block, self.max_length, self.asn, self.ta)


class NonfunctionalCa(_Event):
    """A CA an RPKI validator found non-functional (rpki-client ``nonfunc_cas``: no valid manifest
    or CRL at its publication point, so none of its ROAs yields a VRP). A CA is about no single
    block (the export does not list its resources): ``block`` is ``0.0.0.0/0``. What it issued is
    found through ``ca_repository``: the objects a CA issues are published there (RFC 6481)."""

    type: Literal["nonfunctional_ca"] = "nonfunctional_ca"
    block: str = "0.0.0.0/0"
    ta: str
    location: str  # the CA certificate, e.g. rpki.ripe.net/repository/DEFAULT/xxx.cer
    ca_repository: str  # SIA caRepository, e.g. rsync://rpki.example.net/repo/ca/0/
    manifest: str | None = None
    ski: str | None = None

    def identity(self) -> tuple[Any, ...]:
        return (self.ta, self.location)


_AS_SET = re.compile(r"^(0|[1-9][0-9]{0,9})(,(0|[1-9][0-9]{0,9}))*$")


def as_set_text(members: tuple[int, ...]) -> str:
    """An AS_SET origin as :class:`RouteOrigin` keeps it: its members, comma-separated, in the
    order given (``"3356,6223"``)."""
    return ",".join(str(m) for m in members)


class RouteOrigin(_Event):
    """Routes seen in BGP for the prefix (CAIDA prefix-to-AS). ``origins``: the origin AS of each
    route whose AS path ends in one AS (several for MOAS); ``as_sets``: each route whose path ends
    in an AS_SET, written ``"64500,64501"`` (RFC 6811: such a route has origin NONE, none of the
    members is its origin)."""

    _UNSET_NOT_HASHED = frozenset({"as_sets"})
    type: Literal["route_origin"] = "route_origin"
    origins: tuple[int, ...]
    as_sets: tuple[str, ...] = ()

    @field_validator("as_sets")
    @classmethod
    def _as_sets_are_lists_of_asns(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for text in value:
            if not _AS_SET.match(text):
                raise ValueError(f"not an AS set: {text!r} (expected AS numbers, comma-separated)")
        return value

    def identity(self) -> tuple[Any, ...]:
        return (self.block,)


class BlocklistEntry(_Event):
    """A blocklist listing (Spamhaus DROP/EDROP) covering the prefix."""

    type: Literal["blocklist_entry"] = "blocklist_entry"
    list_name: str  # e.g. spamhaus-drop
    entry_id: str | None = None  # e.g. SBL256894
    rir: str | None = None

    def identity(self) -> tuple[Any, ...]:
        return (self.list_name, self.block)


SNAPSHOT_BLOCK = "0.0.0.0/0"  # the key of a snapshot_end event: a snapshot is about no single block
ASN_FACT_BLOCK: Final = "0.0.0.0/0"  # the key of a fact about an AS, not a block (ASPA, ASN blocklist entry)


class AsnListing(_Event):
    """An AS on an ASN blocklist (Spamhaus ASN-DROP): do not route traffic to or from it."""

    type: Literal["asn_listing"] = "asn_listing"
    block: str = ASN_FACT_BLOCK
    list_name: str  # e.g. spamhaus-asndrop
    asn: int = Field(ge=0)
    as_name: str | None = None
    domain: str | None = None
    country: str | None = None
    rir: str | None = None

    def identity(self) -> tuple[Any, ...]:
        return (self.list_name, self.asn)


class Aspa(_Event):
    """A validated ASPA payload (draft-ietf-sidrops-aspa-profile): the customer AS attests that
    ``providers`` are all of its upstream (transit) providers."""

    type: Literal["aspa"] = "aspa"
    block: str = ASN_FACT_BLOCK
    customer_asn: int = Field(ge=0)
    providers: tuple[int, ...]
    expires: datetime | None = None

    def identity(self) -> tuple[Any, ...]:
        return (self.customer_asn,)


class AsPath(_Event):
    """One BGP route for the prefix as a route collector's peer sent it (``bgpdump -m`` TABLE_DUMP2):
    ``path`` from the peer (first) to the origin (last), prepends kept."""

    type: Literal["as_path"] = "as_path"
    peer_ip: str
    peer_asn: int = Field(ge=0)
    path: tuple[int, ...] = Field(min_length=1)

    def identity(self) -> tuple[Any, ...]:
        return (self.block, self.peer_ip, self.peer_asn)


class SnapshotEnd(_Event):
    """The end of one complete snapshot of one scope (ingest/snapshots.py): every fact event whose
    ``provenance.snapshot`` is ``snapshot`` has been published, ``events`` of them. Published only
    after the file was read to its end without a reject; the consumer acts on it (retracting what
    the scope's previous snapshot held and this one lacks) only once it has applied all ``events``."""

    type: Literal["snapshot_end"] = "snapshot_end"
    block: str = SNAPSHOT_BLOCK
    snapshot: str
    fact_type: str  # vrp, route_origin, blocklist_entry, delegation, registration, route_object, asn_listing, aspa, as_path
    scope: str  # the value of the scope field (ingest/snapshots.py: SCOPE_FIELD) shared by the snapshot's facts
    events: int = Field(ge=0)

    def identity(self) -> tuple[Any, ...]:
        return (self.snapshot,)


Event = Annotated[
    LeaseHop | Registration | RouteObject | HolderTransfer | Delegation | Vrp | NonfunctionalCa | RouteOrigin | BlocklistEntry
    | SnapshotEnd | AsnListing | Aspa | AsPath,
    Field(discriminator="type"),
]
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)

EVENT_TYPES = ("lease_hop", "registration", "route_object", "holder_transfer", "delegation", "vrp", "nonfunctional_ca", "route_origin",
               "blocklist_entry", "snapshot_end", "asn_listing", "aspa", "as_path")

TOPIC_OF_TYPE: dict[str, str] = {
    "lease_hop": "relationships",
    "registration": "relationships",
    "holder_transfer": "relationships",
    "delegation": "relationships",
    "vrp": "routing",
    "nonfunctional_ca": "routing",
    "route_origin": "routing",
    "route_object": "routing",
    "blocklist_entry": "reputation",
    "asn_listing": "reputation",
    "aspa": "routing",
    "as_path": "routing",
    "snapshot_end": "routing",  # any topic would do: the consumer counts a snapshot's events, whatever their order
}
INGEST_TOPICS = ("relationships", "routing", "reputation")


class EventDecodeError(ValueError):
    """A message is not a valid event of a known schema version; the text says why."""


def decode_event(raw: bytes | str) -> Event:
    """Parse one wire message. Raises :class:`EventDecodeError` with a readable reason."""
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EventDecodeError(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise EventDecodeError("not a JSON object")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise EventDecodeError(f"unknown schema_version {version!r} (this consumer reads {SCHEMA_VERSION})")
    try:
        return EVENT_ADAPTER.validate_python(data)
    except Exception as exc:  # pydantic.ValidationError: keep the first line readable
        raise EventDecodeError(f"invalid event: {_first_error(exc)}") from None


def _first_error(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return str(exc)
    all_errors = errors()
    first = all_errors[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    more = f" (and {len(all_errors) - 1} more)" if len(all_errors) > 1 else ""
    return f"{where}: {first.get('msg')}{more}"


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


# -- fast paths: the events of values a worker has already checked ------------------------------
# Each ``checked_*`` is equal, field for field and byte for byte (wire form and event_id), to the
# validated ``Model(...).with_id()`` it names, for values that are valid field values as validation
# gives them (the caller's guarantee: a canonical IPv4 prefix, AS numbers in range, ...); a text
# that JSON would escape, or a time pydantic writes otherwise, takes the validated path itself.
# tests/unit/test_fast_events.py holds them to that.


def checked_route_origin(block: str, origins: tuple[int, ...], as_sets: tuple[str, ...], provenance: Provenance,
                         prefix: str) -> RouteOrigin:
    """``RouteOrigin(block=, origins=, as_sets=, provenance=).with_id()``; ``as_sets`` already
    match :data:`_AS_SET`, ``prefix`` is the provenance's :func:`id_prefix`."""
    body = f'{{"schema_version":1,"op":"assert","block":"{block}","type":"route_origin","origins":[{",".join(map(str, origins))}]'
    if as_sets:
        body += ',"as_sets":["' + '","'.join(as_sets) + '"]'
    values = {"schema_version": SCHEMA_VERSION, "event_id": id_of(prefix, body + "}"), "op": "assert", "block": block,
              "provenance": provenance, "type": "route_origin", "origins": origins, "as_sets": as_sets}
    return assemble(RouteOrigin, values, _SET_OF_CHECKED[RouteOrigin])


def checked_delegation(block: str, provenance: Provenance, prefix: str, registry: str, country: str | None, status: str,
                       holder_id: str | None, registered: date | None, range_start: str | None, range_size: int | None) -> Delegation:
    """``Delegation(block=, provenance=, registry=, ..., range_size=).with_id()``."""
    day = _day(registered)
    if day is None or not _plain(registry, country, status, holder_id, range_start):
        return Delegation(block=block, provenance=provenance, registry=registry, country=country, status=status, holder_id=holder_id,
                          registered=registered, range_start=range_start, range_size=range_size).with_id()
    body = (f'{{"schema_version":1,"op":"assert","block":"{block}","type":"delegation","registry":"{registry}","country":{_text(country)},'
            f'"status":"{status}","holder_id":{_text(holder_id)},"registered":{day},"range_start":{_text(range_start)},'
            f'"range_size":{"null" if range_size is None else range_size}}}')
    values = {"schema_version": SCHEMA_VERSION, "event_id": id_of(prefix, body), "op": "assert", "block": block, "provenance": provenance,
              "type": "delegation", "registry": registry, "country": country, "status": status, "holder_id": holder_id,
              "registered": registered, "range_start": range_start, "range_size": range_size}
    return assemble(Delegation, values, _SET_OF_CHECKED[Delegation])


def checked_vrp(provenance: Provenance, prefix: str, block: str, max_length: int, asn: int, ta: str, expires: datetime | None,
                uri: str | None) -> Vrp:
    """``Vrp(provenance=, uri=, block=, max_length=, asn=, ta=, expires=).with_id()``; ``max_length``
    in 0..32 and ``asn`` >= 0 already."""
    until = _utc_second(expires)
    if until is None or not _plain(ta, uri):
        return Vrp(provenance=provenance, uri=uri, block=block, max_length=max_length, asn=asn, ta=ta, expires=expires).with_id()
    body = f'{{"schema_version":1,"op":"assert","block":"{block}","type":"vrp","max_length":{max_length},"asn":{asn},"ta":"{ta}","expires":{until}'
    if uri:
        body += f',"uri":"{uri}"'
    values = {"schema_version": SCHEMA_VERSION, "event_id": id_of(prefix, body + "}"), "op": "assert", "block": block,
              "provenance": provenance, "type": "vrp", "max_length": max_length, "asn": asn, "ta": ta, "expires": expires, "uri": uri}
    return assemble(Vrp, values, _SET_OF_CHECKED[Vrp])


def checked_blocklist_entry(block: str, list_name: str, entry_id: str | None, rir: str | None, provenance: Provenance,
                            prefix: str) -> BlocklistEntry:
    """``BlocklistEntry(block=, list_name=, entry_id=, rir=, provenance=).with_id()``."""
    if not _plain(list_name, entry_id, rir):
        return BlocklistEntry(block=block, list_name=list_name, entry_id=entry_id, rir=rir, provenance=provenance).with_id()
    body = (f'{{"schema_version":1,"op":"assert","block":"{block}","type":"blocklist_entry","list_name":"{list_name}",'
            f'"entry_id":{_text(entry_id)},"rir":{_text(rir)}}}')
    values = {"schema_version": SCHEMA_VERSION, "event_id": id_of(prefix, body), "op": "assert", "block": block, "provenance": provenance,
              "type": "blocklist_entry", "list_name": list_name, "entry_id": entry_id, "rir": rir}
    return assemble(BlocklistEntry, values, _SET_OF_CHECKED[BlocklistEntry])


# the fields each checked_* sets, as the validated construction and with_id() set them (shared, see assemble)
_SET_OF_CHECKED: dict[type[_Event], set[str]] = {
    RouteOrigin: {"block", "origins", "as_sets", "provenance", "event_id"},
    Delegation: {"block", "provenance", "registry", "country", "status", "holder_id", "registered", "range_start", "range_size", "event_id"},
    Vrp: {"provenance", "uri", "block", "max_length", "asn", "ta", "expires", "event_id"},
    BlocklistEntry: {"block", "list_name", "entry_id", "rir", "provenance", "event_id"},
}
