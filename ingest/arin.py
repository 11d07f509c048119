"""ARIN worker: bulk whois (``arin_db.txt``), port-43 whois replies and RDAP ``ip network`` JSON.

* Bulk whois: blank-line separated records; ``NetHandle`` records become registrations (``OrgID``,
  ``Parent``, ``NetName``, ``NetRange``, ``NetType``, ``RegDate``, ``Updated``). ``V6NetHandle``,
  ``ASHandle`` and ``POCHandle`` records are skipped (counted). Organisation names come from ``OrgID``
  + ``OrgName`` records when any given file holds them, else the OrgID stands for the name.
* Port-43 replies (``whois -h whois.arin.net "n + 104.144.194.0"``): each ``# start`` .. ``# end``
  section (or, without markers, each block starting with ``NetRange``) is one network: ``NetHandle``,
  ``Parent: NAME (HANDLE)``, ``NetType``, ``Organization: Name (ID)`` or ``Customer: Name (ID)``,
  ``OrgAbuseHandle``. Other text (the IANA referral on top) is ignored.
* RDAP JSON: one ``ip network`` response, a list of them, or a collection ``{query: {"response":
  {...}}}`` (as saved by ipwhois, from all five RIRs). ``type`` is the status, ``parentHandle`` the
  parent, the ``registrant`` entity (or the entity whose vCard kind is ``org``) the organisation, the
  ``abuse`` entity (top level, else inside the registrant) the abuse contact. RPSL-style range handles
  (RIPE, APNIC, AFRINIC) are written ``first - last`` as the rpsl worker writes them. A collection of
  whois *texts* (``{"query": {"response": "<text>"}}``) is read for its ARIN replies.

NetType -> role is in :mod:`chainrisk.ingest.registry`: Direct Allocation / Direct Assignment /
allocation / assignment -> holder, Reallocated / reallocation -> upstream, Reassigned / reassignment ->
lessee. ``observed_at``: ``--observed-at``, else ``Updated`` / RDAP ``last changed``, else ``RegDate``
/ ``registration``, else the file's date. A bulk whois file (:func:`is_bulk`) is a full snapshot of
ARIN's registrations (ingest/snapshots.py): each of its networks is observed at the file's date
(``--observed-at``, else the file's date).
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any

from chainrisk.ingest.common import LATIN1, ParseContext, Parser, Reject, Skip, SourceError, SourceFile, bad_text, record_observed_at
from chainrisk.ingest.events import Party, Provenance, Registration
from chainrisk.ingest.formats import load_json_document, looks_like_json
from chainrisk.ingest.prefixes import IPV6_OUT_OF_SCOPE, parse_ipv4_range, range_to_cidrs
from chainrisk.ingest.registry import normalise_status, parse_registry_date, range_handle, registry_of_whois_host, role_for_status

SOURCE = "arin-whois"
DESCRIPTION = (
    "ARIN bulk whois, port-43 replies and RDAP ip-network JSON (any RIR): "
    "Direct Allocation -> Reallocated -> Reassigned chains as registrations."
)

_FIELD = re.compile(r"^([A-Za-z][A-Za-z0-9/_-]*):[ \t]*(.*)$")
_NAME_AND_HANDLE = re.compile(r"^(.*?)\s*\(([^()]+)\)\s*$")
_SKIP_IPV6 = Skip("IPv6 networks (out of scope)")
_SKIP_AS = Skip("AS number records")
_SKIP_POC = Skip("POC records")
_SKIP_NOT_NETWORK = Skip("RDAP objects that are not ip networks")
_SKIP_OTHER_TEXT = Skip("whois replies that are not ARIN format")


def is_bulk(path: Path) -> bool:
    """ARIN's bulk whois file (``arin_db.txt``, as unpacked from ``arin_db.zip``): a full snapshot of
    ARIN's networks. Port-43 replies and RDAP answers are plain assertions."""
    return "arin_db" in path.name.lower()


SNAPSHOT = is_bulk
ARIN_RECORD_KEYS = frozenset({"NetHandle", "V6NetHandle", "ASHandle", "POCHandle", "OrgID", "NetRange"})


# ---------------------------------------------------------------------------------------------
# whois text (bulk and port 43)


@dataclass
class Block:
    """Consecutive ``Key: value`` lines: the fields in order, with their line numbers."""

    fields: list[tuple[str, str, int]] = field(default_factory=list)
    malformed: list[tuple[int, str]] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return self.fields[0][0] if self.fields else ""

    @property
    def line(self) -> int:
        return self.fields[0][2] if self.fields else (self.malformed[0][0] if self.malformed else 0)

    def get(self, key: str) -> str | None:
        for name, value, _ in self.fields:
            if name == key and value.strip():
                return value.strip()
        return None

    def text(self) -> str:
        return "\n".join(f"{name}: {value}" for name, value, _ in self.fields)


@dataclass
class Section:
    """One network of a port-43 reply: its blocks (net, organisation or customer, contacts)."""

    blocks: list[Block] = field(default_factory=list)

    def get(self, key: str) -> str | None:
        for block in self.blocks:
            value = block.get(key)
            if value is not None:
                return value
        return None


def split_blocks(lines: Iterable[tuple[int, str]]) -> Iterator[Block | str]:
    """Blocks of ``Key: value`` lines separated by blank lines, plus the markers ``"start"`` and
    ``"end"`` for ``# start`` / ``# end`` lines. ``#`` and ``%`` comment lines are dropped."""
    current = Block()
    for number, line in lines:
        stripped = line.strip()
        if not stripped or stripped[0] in "#%":
            if current.fields or current.malformed:
                yield current
                current = Block()
            marker = stripped.lstrip("#").strip().lower()
            if stripped.startswith("#") and marker in ("start", "end"):
                yield marker
            continue
        match = _FIELD.match(stripped)
        if match:
            current.fields.append((match.group(1), match.group(2), number))
        else:
            current.malformed.append((number, line))
    if current.fields or current.malformed:
        yield current


def name_and_handle(text: str) -> tuple[str, str | None]:
    """``"B2 Net Solutions Inc. (BNS-34)"`` -> ``("B2 Net Solutions Inc.", "BNS-34")``; a bare value
    is a handle (bulk whois ``Parent: NET-192-0-0-0-0``) when it has no blanks, else a name."""
    match = _NAME_AND_HANDLE.match(text.strip())
    if match:
        return match.group(1).strip() or match.group(2).strip(), match.group(2).strip()
    return text.strip(), None


@dataclass(frozen=True)
class NetFields:
    """What a whois net record says, independent of the bulk or port-43 layout."""

    line: int
    raw: str
    handle: str | None
    net_range: str | None
    net_type: str | None
    parent: str | None
    org: Party | None
    netname: str | None
    abuse_c: str | None
    reg_date: str | None
    updated: str | None
    malformed: tuple[tuple[int, str], ...] = ()


def registration_from_net(net: NetFields, reference: str, path: Path, ctx: ParseContext) -> Iterator[Registration | Reject | Skip]:
    """One registration per CIDR of an ARIN net record, or the reject saying what is wrong."""
    if net.net_range and ":" in net.net_range:
        yield _SKIP_IPV6
        return
    reasons: list[str] = []
    if net.malformed:
        reasons.append(f"malformed line: line {net.malformed[0][0]} is not 'Key: value'")
    if not net.handle:
        reasons.append("missing NetHandle: the network record has no handle")
    if not net.net_type:
        reasons.append("missing NetType: the network record does not say how it was delegated")
    cidrs: list[IPv4Network] = []
    first = last = None
    if not net.net_range:
        reasons.append("missing NetRange: the network record has no address range")
    else:
        try:
            first, last = parse_ipv4_range(net.net_range)
            cidrs = range_to_cidrs(first, last)
        except ValueError as exc:
            reasons.append(f"{exc} (NetRange {net.net_range!r})")
    bad = bad_text(net.raw)
    if bad:
        reasons.append(bad)
    created = updated = None
    for name, text in (("RegDate", net.reg_date), ("Updated", net.updated)):
        try:
            value = parse_registry_date(text or "")
        except ValueError as exc:
            reasons.append(f"{exc} ({name})")
            continue
        created, updated = (value, updated) if name == "RegDate" else (created, value)
    if reasons:
        yield Reject(reference, net.line, "; ".join(reasons), net.raw)
        return
    assert net.handle and net.net_type and first is not None and last is not None
    fields: dict[str, Any] = dict(
        registry="arin",
        handle=net.handle,
        parent_handle=net.parent,
        status=normalise_status(net.net_type),
        role=role_for_status(net.net_type, has_org=net.org is not None),
        org=net.org,
        netname=net.netname,
        abuse_c=net.abuse_c,
        created=created.date() if created else None,
        last_modified=updated.date() if updated else None,
    )
    if len(cidrs) > 1:
        fields.update(range_start=str(first), range_end=str(last))
    provenance = Provenance(
        source=SOURCE, reference=reference, line=net.line,
        observed_at=record_observed_at(ctx, updated or created, path), ingested_at=ctx.ingested_at,
    )
    for cidr in cidrs:
        yield Registration(block=str(cidr), provenance=provenance, **fields).with_id()


def bulk_net(block: Block, org_names: dict[str, str]) -> NetFields:
    """The fields of a bulk-whois ``NetHandle`` record."""
    org_id = block.get("OrgID")
    parent = block.get("Parent")
    return NetFields(
        line=block.line, raw=block.text(), handle=block.get("NetHandle"), net_range=block.get("NetRange"),
        net_type=block.get("NetType"), parent=name_and_handle(parent)[1] or parent if parent else None,
        org=Party(name=org_names.get(org_id, org_id), id=org_id) if org_id else None,
        netname=block.get("NetName"), abuse_c=block.get("OrgAbuseHandle"),
        reg_date=block.get("RegDate"), updated=block.get("Updated"), malformed=tuple(block.malformed),
    )


def section_net(section: Section) -> NetFields | None:
    """The fields of a port-43 section (None when it holds no ``NetRange`` block)."""
    net = next((b for b in section.blocks if b.get("NetRange") is not None), None)
    if net is None:
        return None
    parent = net.get("Parent")
    holder = net.get("Organization") or net.get("Customer")
    org = None
    if holder:
        name, handle = name_and_handle(holder)
        org = Party(name=name, id=handle)
    return NetFields(
        line=net.line, raw=net.text(), handle=net.get("NetHandle"), net_range=net.get("NetRange"),
        net_type=net.get("NetType"), parent=name_and_handle(parent)[1] or parent if parent else None,
        org=org, netname=net.get("NetName"), abuse_c=section.get("OrgAbuseHandle"),
        reg_date=net.get("RegDate"), updated=net.get("Updated"), malformed=tuple(net.malformed),
    )


def collect_org_names(items: Iterable[Block | str]) -> dict[str, str]:
    """``{OrgID: OrgName}`` from bulk-whois organisation records and port-43 organisation blocks."""
    names: dict[str, str] = {}
    for item in items:
        if isinstance(item, Block):
            org_id = item.get("OrgID") or item.get("OrgId")
            name = item.get("OrgName")
            if org_id and name and item.kind in ("OrgID", "OrgName"):
                names[org_id] = name
    return names


def text_events(
    lines: Iterable[tuple[int, str]], reference: str, path: Path, ctx: ParseContext, org_names: dict[str, str]
) -> Iterator[Registration | Reject | Skip]:
    """Events of ARIN whois text (bulk or port 43). Yields a lone ``_SKIP_OTHER_TEXT`` when the text
    holds no ARIN record at all, so the caller can tell an unknown format."""
    section: Section | None = None
    in_markers = False
    records = 0

    def close(current: Section | None) -> Iterator[Registration | Reject | Skip]:
        net = section_net(current) if current else None
        if net is not None:
            yield from registration_from_net(net, reference, path, ctx)

    for item in split_blocks(lines):
        if item == "start":
            yield from close(section)
            section, in_markers = Section(), True
            continue
        if item == "end":
            yield from close(section)
            section, in_markers = None, False
            continue
        assert isinstance(item, Block)
        kind = item.kind
        records += kind in ARIN_RECORD_KEYS
        if in_markers and section is not None:
            section.blocks.append(item)
        elif kind == "NetRange":  # a port-43 reply without markers: the network starts a section
            yield from close(section)
            section = Section([item])
        elif kind == "NetHandle":
            yield from close(section)
            section = None
            yield from registration_from_net(bulk_net(item, org_names), reference, path, ctx)
        elif kind == "V6NetHandle":
            yield _SKIP_IPV6
        elif kind == "ASHandle":
            yield _SKIP_AS
        elif kind == "POCHandle":
            yield _SKIP_POC
        elif section is not None:
            section.blocks.append(item)
    yield from close(section)
    if not records:
        yield _SKIP_OTHER_TEXT


# ---------------------------------------------------------------------------------------------
# RDAP


def rdap_address(text: str) -> IPv4Address:
    """An RDAP start/end address, forgiving old server quirks: ``074.125.000.000`` (zero-padded
    octets, ARIN 2015) and ``62.239.237.0/32`` (a /32 suffix, RIPE 2015)."""
    value = str(text).strip()
    if ":" in value:
        raise ValueError(IPV6_OUT_OF_SCOPE)
    if value.endswith("/32"):
        value = value[:-3]
    octets = value.split(".")
    if len(octets) == 4 and all(o.isascii() and o.isdigit() for o in octets):
        value = ".".join(str(int(o)) for o in octets)
    try:
        return IPv4Address(value)
    except ValueError:
        raise ValueError(f"not valid IPv4 address: {text!r}") from None


def _vcard(entity: dict[str, Any], prop: str) -> str | None:
    card = entity.get("vcardArray")
    if not (isinstance(card, list) and len(card) == 2 and isinstance(card[1], list)):
        return None
    for entry in card[1]:
        if isinstance(entry, list) and len(entry) >= 4 and entry[0] == prop and isinstance(entry[3], str) and entry[3].strip():
            return entry[3].strip()
    return None


def _entities(obj: dict[str, Any]) -> list[dict[str, Any]]:
    found = obj.get("entities")
    return [e for e in found if isinstance(e, dict)] if isinstance(found, list) else []


def _roles(entity: dict[str, Any]) -> list[str]:
    roles = entity.get("roles")
    return [r for r in roles if isinstance(r, str)] if isinstance(roles, list) else []


def rdap_org(network: dict[str, Any]) -> Party | None:
    """The registrant entity (or, without roles, the entity whose vCard kind is ``org``) as a party."""
    entities = _entities(network)
    chosen = next((e for e in entities if "registrant" in _roles(e)), None)
    if chosen is None:
        chosen = next((e for e in entities if not _roles(e) and _vcard(e, "kind") == "org"), None)
    if chosen is None:
        return None
    handle = chosen.get("handle") if isinstance(chosen.get("handle"), str) else None
    name = _vcard(chosen, "fn") or _vcard(chosen, "org") or handle
    return Party(name=name, id=handle) if name else None


def rdap_abuse(network: dict[str, Any]) -> str | None:
    """The handle of the abuse entity: top level first, else one level down (ARIN nests it in the
    registrant)."""
    top = _entities(network)
    for entity in top + [inner for e in top for inner in _entities(e)]:
        handle = entity.get("handle")
        if "abuse" in _roles(entity) and isinstance(handle, str):
            return handle
    return None


def _rdap_event(network: dict[str, Any], action: str) -> datetime | None:
    """The date of the network's ``action`` event; ``ValueError`` (a reject reason) when it is not a date."""
    events = network.get("events")
    for event in events if isinstance(events, list) else []:
        if isinstance(event, dict) and event.get("eventAction") == action and isinstance(event.get("eventDate"), str):
            try:
                return parse_registry_date(event["eventDate"])
            except ValueError as exc:
                raise ValueError(f"{exc} (event {action!r})") from None
    return None


def _strings(value: Any) -> Iterator[str]:
    """Every string inside a JSON value (keys and values), without recursion: a hostile response
    may nest deeper than the interpreter's stack."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def rdap_registry(network: dict[str, Any]) -> str | None:
    """The RIR that answered: from ``port43``, else from the ``self`` link's host."""
    registry = registry_of_whois_host(network.get("port43") if isinstance(network.get("port43"), str) else None)
    if registry:
        return registry
    links = network.get("links")
    for link in links if isinstance(links, list) else []:
        if isinstance(link, dict) and isinstance(link.get("href"), str):
            host = link["href"].split("://", 1)[-1].split("/", 1)[0]
            registry = registry_of_whois_host(host)
            if registry:
                return registry
    return None


def _canonical_handle(handle: str) -> str:
    """Range-like handles (``62.239.237.0 - 62.239.237.255``, ``210.107.0.0/17``) as ``first - last``;
    ARIN's ``NET-...`` handles unchanged."""
    try:
        return range_handle(handle)
    except ValueError:
        return handle


def rdap_cidrs(network: dict[str, Any]) -> tuple[list[IPv4Network], IPv4Address, IPv4Address]:
    """The network's CIDRs (from ``cidr0_cidrs`` when present, else split from start/end) and its
    first and last address. Raises ``ValueError`` with a reject reason."""
    start, end = network.get("startAddress"), network.get("endAddress")
    if not isinstance(start, str) or not isinstance(end, str):
        raise ValueError("missing startAddress/endAddress: the network has no address range")
    first, last = rdap_address(start), rdap_address(end)
    listed = network.get("cidr0_cidrs")
    cidrs: list[IPv4Network] = []
    if isinstance(listed, list):
        for entry in listed:
            if isinstance(entry, dict) and "v4prefix" in entry and "length" in entry:
                address, length = rdap_address(entry["v4prefix"]), entry["length"]
                try:
                    cidrs.append(IPv4Network(f"{address}/{int(length)}"))
                except (ValueError, TypeError):  # ipaddress's and int()'s own messages name no kind
                    raise ValueError(f"bad cidr0_cidrs: {address}/{length!r} is not an IPv4 network") from None
    return (cidrs or range_to_cidrs(first, last)), first, last


def rdap_events(network: Any, reference: str, offset: int, path: Path, ctx: ParseContext) -> Iterator[Registration | Reject | Skip]:
    """The registrations of one RDAP ip-network response (one per CIDR)."""
    raw = str(network)[:300]
    if not isinstance(network, dict):
        yield Reject(reference, None, "not an RDAP object: expected a JSON object", raw, offset=offset)
        return
    if network.get("objectClassName", "ip network") != "ip network" or "startAddress" not in network and "cidr0_cidrs" not in network:
        yield _SKIP_NOT_NETWORK
        return
    if network.get("ipVersion") == "v6" or ":" in str(network.get("startAddress", "")):
        yield _SKIP_IPV6
        return
    handle = network.get("handle") if isinstance(network.get("handle"), str) else None
    try:
        cidrs, first, last = rdap_cidrs(network)
    except (ValueError, TypeError) as exc:
        yield Reject(reference, None, str(exc), raw, offset=offset)
        return
    if first == last and handle and handle.strip() == str(network.get("startAddress")).strip():
        # LACNIC's RDAP (2015) echoed the query address as handle, start and end of an allocation
        yield Reject(reference, None, f"no network range: the response gives only the queried address {first} as handle, start and end", raw, offset=offset)
        return
    registry = rdap_registry(network)
    reasons = []
    bad = next((reason for text in _strings(network) if (reason := bad_text(text))), None)
    if bad:
        reasons.append(bad)
    created = changed = None
    try:
        created, changed = _rdap_event(network, "registration"), _rdap_event(network, "last changed")
    except ValueError as exc:
        reasons.append(str(exc))
    if not handle:
        reasons.append("missing handle: the network has no handle")
    if registry is None:
        reasons.append("unknown registry: neither port43 nor the links name an RIR")
    if reasons:
        yield Reject(reference, None, "; ".join(reasons), raw, offset=offset)
        return
    assert handle and registry
    net_type = network.get("type")
    status = net_type if isinstance(net_type, str) else ""
    org = rdap_org(network)
    parent = network.get("parentHandle") if isinstance(network.get("parentHandle"), str) else None
    country = network.get("country") if isinstance(network.get("country"), str) else None
    fields: dict[str, Any] = dict(
        registry=registry,
        handle=_canonical_handle(handle),
        parent_handle=_canonical_handle(parent) if parent else None,
        status=normalise_status(status),
        role=role_for_status(status, has_org=org is not None) if status else None,
        org=org,
        netname=network.get("name") if isinstance(network.get("name"), str) else None,
        country=country.upper() if country else None,
        abuse_c=rdap_abuse(network),
        created=created.date() if created else None,
        last_modified=changed.date() if changed else None,
    )
    if len(cidrs) > 1:
        fields.update(range_start=str(first), range_end=str(last))
    provenance = Provenance(
        source=SOURCE, reference=reference, offset=offset,
        observed_at=record_observed_at(ctx, changed or created, path), ingested_at=ctx.ingested_at,
    )
    for cidr in cidrs:
        yield Registration(block=str(cidr), provenance=provenance, **fields).with_id()


# ---------------------------------------------------------------------------------------------
# files


def _numbered(text: str) -> Iterator[tuple[int, str]]:
    return enumerate(text.splitlines(), start=1)


def json_events(document: Any, src: SourceFile, ctx: ParseContext, org_names: dict[str, str]) -> Iterator[Registration | Reject | Skip]:
    """Events of an RDAP response, a list of them, or a collection of RDAP responses or whois texts."""
    path = src.path
    if isinstance(document, dict) and ("objectClassName" in document or "startAddress" in document):
        yield from rdap_events(document, ctx.reference, 0, path, ctx)
        return
    if isinstance(document, list):
        for index, network in enumerate(document):
            yield from rdap_events(network, ctx.reference, index, path, ctx)
        return
    if isinstance(document, dict) and document and all(isinstance(v, dict) and "response" in v for v in document.values()):
        for index, (key, value) in enumerate(document.items()):
            response = value["response"]
            reference = f"{ctx.reference}#{key}"
            if isinstance(response, str):
                yield from text_events(_numbered(response), reference, path, ctx, org_names)
            else:
                yield from rdap_events(response, reference, index, path, ctx)
        return
    raise SourceError(f"{path}: unknown format: JSON, but neither an RDAP ip-network response nor a collection of them")


def parse_with_orgs(src: SourceFile, ctx: ParseContext, org_names: dict[str, str]) -> Iterator[Registration | Reject | Skip]:
    """Parse one file with organisation names already known."""
    if looks_like_json(src):
        yield from json_events(load_json_document(src), src, ctx, org_names)
        return
    for item in text_events(src.lines(fallback=LATIN1), ctx.reference, src.path, ctx, org_names):
        if item is _SKIP_OTHER_TEXT:
            raise SourceError(f"{src.path}: unknown format: no ARIN whois records (NetHandle, NetRange, ...) in the file")
        yield item


def scan_org_names(paths: Iterable[Path]) -> dict[str, str]:
    """OrgID -> OrgName from every whois-text file (unreadable ones are reported when ingested)."""
    names: dict[str, str] = {}
    for path in paths:
        try:
            with SourceFile(path) as src:
                if not looks_like_json(src):
                    names.update(collect_org_names(split_blocks(src.lines(fallback=LATIN1))))
        except SourceError:
            continue
    return names


def parse(src: SourceFile, ctx: ParseContext) -> Iterator[Registration | Reject | Skip]:
    """Parse one file on its own: organisation names come from this file only."""
    yield from parse_with_orgs(src, ctx, scan_org_names([src.path]))


def make_parser(paths: list[Path], **_options: Any) -> Parser:
    """The parser for a run over ``paths``: organisation names from all of them."""
    org_names = scan_org_names(paths)

    def parse_file(src: SourceFile, ctx: ParseContext) -> Iterator[Registration | Reject | Skip]:
        return parse_with_orgs(src, ctx, org_names)

    return parse_file
