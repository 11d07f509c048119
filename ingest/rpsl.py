"""RPSL whois worker: RIPE / APNIC / AFRINIC / LACNIC ``inetnum`` and ``route`` objects.

Reads split database dumps (``ripe.db.inetnum.gz``, ``*.db.organisation``, ``*.db.route``), plain
whois replies (``%``/``#`` comment lines, several objects), the LACNIC bulk style (``inetnum:
24.232.16/24``, ``owner:``, ``inetnum-up:``), and JSON collections of whois replies
(``{"<query>": {"response": "<whois text>"}}``, as saved by ipwhois).

* ``inetnum`` -> one :class:`Registration` per CIDR of its range (``range_start``/``range_end`` set
  when the range is not one CIDR). ``handle`` is the range written ``first - last``; the chain role
  comes from ``status:`` (see :mod:`chainrisk.ingest.registry`); ``org`` is the ``org:`` handle named
  by the ``org-name:`` of its organisation object when any given file holds it (all files are scanned
  for organisation objects first), LACNIC's ``owner:``/``ownerid:`` otherwise. ``parent_handle`` comes
  from AFRINIC ``parent:`` or LACNIC ``inetnum-up:``. ``abuse_c`` is ``abuse-c:``, else APNIC's
  ``mnt-irt:``. ``last_modified`` is ``last-modified:``, else the latest ``changed:`` date.
* ``route`` -> :class:`RouteObject` (prefix, origin AS, registry, ``mnt-by``).
* ``inet6num``/``route6``/LACNIC IPv6 ``inetnum`` and every other class are skipped (counted per class).
* ``observed_at``: ``--observed-at``, else the object's last-modified (or changed) date, else its
  created date, else the file's date (see :func:`chainrisk.ingest.common.file_observed_at`). In a
  split dump (:func:`is_dump`: a full snapshot per registry and class, ingest/snapshots.py) every
  object is observed at the dump's date: ``--observed-at``, else the file's date.
* ``registry`` is ``source:`` lower-cased (``RIPE # Filtered`` -> ``ripe``), else the RIR a whois
  reply's comment header names. IANA objects (the top of a referral chain) are skipped.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from chainrisk.ingest.common import LATIN1, ParseContext, Parser, Reject, Skip, SourceError, SourceFile, bad_text, record_observed_at
from chainrisk.ingest.events import Party, Provenance, Registration, RouteObject
from chainrisk.ingest.formats import load_json_document, looks_like_json
from chainrisk.ingest.prefixes import IPV6_OUT_OF_SCOPE, parse_asn, parse_ipv4_prefix, parse_ipv4_range, range_to_cidrs
from chainrisk.ingest.registry import normalise_status, parse_registry_date, range_handle, role_for_status

SOURCE = "rpsl-whois"
DESCRIPTION = (
    "RPSL whois (RIPE/APNIC/AFRINIC/LACNIC dumps, whois replies, JSON collections of replies): "
    "inetnum -> registrations with holder/upstream/lessee role, org and maintainers; route objects."
)

_DUMP_NAME = re.compile(r"\.db(?:\.|$)", re.IGNORECASE)


def is_dump(path: Path) -> bool:
    """A registry's database dump (``ripe.db.inetnum.gz``, ``apnic.db.route``, ``afrinic.db.gz``):
    a full snapshot of the registry's objects of those classes. Whois replies and JSON collections
    of them are plain assertions."""
    return _DUMP_NAME.search(path.name) is not None


SNAPSHOT = is_dump

RPSL_CLASSES = frozenset(
    """inetnum inet6num route route6 organisation person role mntner aut-num as-block as-set route-set
    irt domain key-cert poem poetic-form peering-set filter-set rtr-set inet-rtr limerick nic-hdl""".split()
)
_ATTRIBUTE = re.compile(r"^([A-Za-z0-9*][A-Za-z0-9_*-]*):(.*)$")
_RIR_IN_COMMENT = re.compile(r"\b(ripe|apnic|afrinic|lacnic|iana)\b", re.IGNORECASE)
_SKIP_IPV6 = Skip("IPv6 objects (out of scope)")
_SKIP_IANA = Skip("IANA objects (above the RIRs)")
_SKIP_NOT_RPSL = Skip("blocks that are not RPSL objects")


@dataclass
class RpslObject:
    """One object: its attributes in order (name lower-cased, raw value, line) and the lines that
    could not be read as ``attribute: value``."""

    attributes: list[tuple[str, str, int]] = field(default_factory=list)
    malformed: list[tuple[int, str]] = field(default_factory=list)
    registry_hint: str | None = None  # the RIR named by the reply's comment header, if any
    _index: dict[str, list[str]] | None = field(default=None, repr=False, compare=False)

    @property
    def object_class(self) -> str:
        return self.attributes[0][0]

    @property
    def key(self) -> str:
        return value_of(self.attributes[0][1])

    @property
    def line(self) -> int:
        return self.attributes[0][2]

    def values(self, name: str) -> list[str]:
        """Every value of attribute ``name`` (end-of-line ``#`` comments removed, blanks dropped)."""
        if self._index is None:  # built once: an inetnum asks for a dozen attributes
            self._index = {}
            for attr, raw, _ in self.attributes:
                value = value_of(raw)
                if value:
                    self._index.setdefault(attr, []).append(value)
        return self._index.get(name, [])

    def first(self, name: str) -> str | None:
        found = self.values(name)
        return found[0] if found else None

    def raw_text(self) -> str:
        return "\n".join(f"{attr}: {raw.strip()}" for attr, raw, _ in self.attributes)


def value_of(raw: str) -> str:
    """An attribute value without its end-of-line ``# comment`` and surrounding blanks."""
    return raw.split("#", 1)[0].strip()


def split_objects(lines: Iterable[tuple[int, str]]) -> Iterator[RpslObject]:
    """The RPSL objects of numbered text lines: blank-line separated ``attribute: value`` blocks,
    continuation lines starting with space, tab or ``+``; ``%`` and ``#`` lines are comments."""
    current = RpslObject()
    hint: str | None = None
    for number, line in lines:
        if not line.strip():
            if current.attributes or current.malformed:
                yield current
            current = RpslObject(registry_hint=hint)
            continue
        if line[0] in "%#":
            match = _RIR_IN_COMMENT.search(line)
            if match and hint is None:
                hint = match.group(1).lower()
                current.registry_hint = current.registry_hint or hint
            continue
        if line[0] in " \t+":
            if current.attributes:
                attr, raw, at = current.attributes[-1]
                current.attributes[-1] = (attr, f"{raw} {line[1:].strip()}", at)
            else:
                current.malformed.append((number, line))
            continue
        match = _ATTRIBUTE.match(line)
        if match:
            current.attributes.append((match.group(1).lower(), match.group(2), number))
        else:
            current.malformed.append((number, line))
    if current.attributes or current.malformed:
        yield current


def collect_org_names(objects: Iterable[RpslObject]) -> dict[str, str]:
    """``{organisation handle (upper-cased): org-name}`` for every organisation object."""
    names: dict[str, str] = {}
    for obj in objects:
        if obj.attributes and obj.object_class == "organisation":
            name = obj.first("org-name")
            if obj.key and name:
                names[obj.key.upper()] = name
    return names


def expand_lacnic_prefix(text: str) -> str:
    """LACNIC's abbreviated CIDR with the missing octets filled in (``24.232/16`` ->
    ``24.232.0.0/16``); anything else unchanged."""
    value = text.strip()
    if "/" not in value or ":" in value:
        return value
    address, length = value.split("/", 1)
    octets = address.split(".")
    if 1 <= len(octets) < 4:
        address = ".".join(octets + ["0"] * (4 - len(octets)))
    return f"{address}/{length}"


def _latest_date(obj: RpslObject, attribute: str) -> datetime | None:
    """The latest date among the values of ``attribute``. Raises ``ValueError`` (the reject reason)
    when one of them is not a calendar date."""
    dates = []
    for text in obj.values(attribute):
        try:
            found = parse_registry_date(text)
        except ValueError as exc:
            raise ValueError(f"{exc} ({attribute}:)") from None
        if found is not None:
            dates.append(found)
    return max(dates) if dates else None


def _dates(obj: RpslObject) -> tuple[datetime | None, datetime | None]:
    """(created, last modified = ``last-modified:``, else the latest ``changed:``); ``ValueError``
    for an impossible date in any of them."""
    created = _latest_date(obj, "created")
    changed = _latest_date(obj, "changed")
    return created, _latest_date(obj, "last-modified") or changed


def _split_list(values: Iterable[str]) -> tuple[str, ...]:
    """Maintainer names of every value line (``mnt-by: A, B`` lists several), in order, no repeats."""
    names: list[str] = []
    for value in values:
        for name in value.replace(",", " ").split():
            if name not in names:
                names.append(name)
    return tuple(names)


def _registry(obj: RpslObject) -> str | None:
    source = obj.first("source")
    if source:
        return source.split()[0].lower()
    return obj.registry_hint


def _org_party(obj: RpslObject, org_names: dict[str, str]) -> Party | None:
    handle = obj.first("org")
    if handle:
        return Party(id=handle, name=org_names.get(handle.upper(), handle))
    owner, owner_id = obj.first("owner"), obj.first("ownerid")  # LACNIC
    if owner or owner_id:
        return Party(name=owner or owner_id or "", id=owner_id)
    return None


@dataclass(frozen=True)
class Where:
    """How provenance names a text: the file (or ``file#key`` inside a JSON collection) and its path."""

    reference: str
    path: Path


def inetnum_events(obj: RpslObject, where: Where, ctx: ParseContext, org_names: dict[str, str]) -> Iterator[Registration | Reject | Skip]:
    """The registrations of one ``inetnum`` object, one per CIDR of its range."""
    key = obj.key
    if ":" in key:
        yield _SKIP_IPV6
        return
    registry = _registry(obj)
    if registry == "iana":
        yield _SKIP_IANA
        return
    try:
        first, last = parse_ipv4_range(expand_lacnic_prefix(key))
        cidrs = range_to_cidrs(first, last)
    except ValueError as exc:
        yield Reject(where.reference, obj.line, f"{exc} (inetnum {key!r})", obj.raw_text())
        return
    handle = f"{first} - {last}"
    status = obj.first("status")
    if not status:
        yield Reject(where.reference, obj.line, f"missing status: inetnum {handle} has no status: attribute", obj.raw_text())
        return
    if not registry:
        yield Reject(where.reference, obj.line, f"missing source: inetnum {handle} has no source: attribute, registry unknown", obj.raw_text())
        return
    org = _org_party(obj, org_names)
    parent_text = obj.first("parent") or obj.first("inetnum-up")
    parent_handle = None
    if parent_text:
        try:
            parent_handle = range_handle(expand_lacnic_prefix(parent_text))
        except ValueError:
            parent_handle = parent_text  # keep what the registry wrote; it is only a pointer
    try:
        created, last_modified = _dates(obj)
    except ValueError as exc:
        yield Reject(where.reference, obj.line, f"{exc} in inetnum {handle}", obj.raw_text())
        return
    country = obj.first("country")
    fields: dict[str, Any] = dict(
        registry=registry,
        handle=handle,
        parent_handle=parent_handle,
        status=normalise_status(status),
        role=role_for_status(status, has_org=org is not None),
        org=org,
        netname=obj.first("netname"),
        country=country.upper() if country else None,
        mnt_by=_split_list(obj.values("mnt-by")),
        mnt_lower=_split_list(obj.values("mnt-lower")),
        mnt_routes=_split_list(obj.values("mnt-routes")),
        abuse_c=obj.first("abuse-c") or obj.first("mnt-irt"),
        created=created.date() if created else None,
        last_modified=last_modified.date() if last_modified else None,
    )
    if len(cidrs) > 1:
        fields.update(range_start=str(first), range_end=str(last))
    provenance = Provenance(
        source=SOURCE,
        reference=where.reference,
        line=obj.line,
        observed_at=record_observed_at(ctx, last_modified or created, where.path),
        ingested_at=ctx.ingested_at,
    )
    for cidr in cidrs:
        yield Registration(block=str(cidr), provenance=provenance, **fields).with_id()


def route_events(obj: RpslObject, where: Where, ctx: ParseContext) -> Iterator[RouteObject | Reject | Skip]:
    """The route object event of one ``route`` object."""
    registry = _registry(obj)
    reasons: list[str] = []
    prefix = None
    try:
        prefix = parse_ipv4_prefix(obj.key)
    except ValueError as exc:
        if str(exc) == IPV6_OUT_OF_SCOPE:
            yield _SKIP_IPV6
            return
        reasons.append(f"{exc} (route {obj.key!r})")
    origin_text = obj.first("origin")
    origin = None
    if not origin_text:
        reasons.append("missing origin: route object has no origin: attribute")
    else:
        try:
            origin = parse_asn(origin_text)
        except ValueError as exc:
            reasons.append(f"bad origin: {exc}")
    if not registry:
        reasons.append("missing source: route object has no source: attribute, registry unknown")
    created = changed = None
    try:
        created, changed = _dates(obj)
    except ValueError as exc:
        reasons.append(str(exc))
    if reasons:
        yield Reject(where.reference, obj.line, "; ".join(reasons), obj.raw_text())
        return
    assert prefix is not None and origin is not None and registry  # a missing one is a reason above
    provenance = Provenance(
        source=SOURCE,
        reference=where.reference,
        line=obj.line,
        observed_at=record_observed_at(ctx, changed or created, where.path),
        ingested_at=ctx.ingested_at,
    )
    yield RouteObject(
        block=str(prefix), origin_asn=origin, registry=registry, mnt_by=_split_list(obj.values("mnt-by")), provenance=provenance
    ).with_id()


def object_events(
    objects: Iterable[RpslObject], where: Where, ctx: ParseContext, org_names: dict[str, str]
) -> Iterator[Registration | RouteObject | Reject | Skip]:
    """Events, rejects and skips for a stream of RPSL objects."""
    for obj in objects:
        if not obj.attributes:  # stray text between objects (ipwhois writes "TRUNCATED"): no data lost
            yield _SKIP_NOT_RPSL
            continue
        cls = obj.object_class
        if cls not in ("inetnum", "route"):
            yield Skip(f"{cls} objects") if cls in RPSL_CLASSES else _SKIP_NOT_RPSL
            continue
        if obj.malformed:
            number, text = obj.malformed[0]
            yield Reject(where.reference, number, f"malformed line: expected 'attribute: value' in the {cls} at line {obj.line}", text)
            continue
        bad = next(((number, reason) for _, raw, number in obj.attributes if (reason := bad_text(raw))), None)
        if bad is not None:
            yield Reject(where.reference, bad[0], f"{bad[1]} (in the {cls} at line {obj.line})", obj.raw_text())
            continue
        if cls == "inetnum":
            yield from inetnum_events(obj, where, ctx, org_names)
        else:
            yield from route_events(obj, where, ctx)


def whois_texts(document: Any) -> Iterator[tuple[str, str]]:
    """``(key, whois text)`` of a JSON collection: ``{key: "text"}`` or ``{key: {"response": "text"}}``.
    Raises :class:`ValueError` if the document is not such a collection."""
    if not isinstance(document, dict) or not document:
        raise ValueError("expected an object mapping queries to whois replies")
    for key, value in document.items():
        text = value.get("response") if isinstance(value, dict) else value
        if not isinstance(text, str):
            raise ValueError(f"entry {key!r} holds no whois text (is this RDAP JSON? use `chainrisk ingest arin`)")
        yield str(key), text


def _numbered(text: str) -> Iterator[tuple[int, str]]:
    return enumerate(text.splitlines(), start=1)


def _needs_org_scan(path: Path) -> bool:
    """Split dumps hold one class per file: only ``*.db.organisation`` files can name an org."""
    name = path.name.lower()
    return ".db." not in name or "organisation" in name


def scan_org_names(paths: Iterable[Path]) -> dict[str, str]:
    """Organisation names from every file that can hold organisation objects. Unreadable files are
    left out here; they are reported when they are ingested."""
    names: dict[str, str] = {}
    for path in paths:
        if not _needs_org_scan(path):
            continue
        try:
            with SourceFile(path) as src:
                if looks_like_json(src):
                    for _key, text in whois_texts(load_json_document(src)):
                        names.update(collect_org_names(split_objects(_numbered(text))))
                else:
                    names.update(collect_org_names(split_objects(src.lines(fallback=LATIN1))))
        except (SourceError, ValueError):
            continue
    return names


def parse_with_orgs(src: SourceFile, ctx: ParseContext, org_names: dict[str, str]) -> Iterator[Registration | RouteObject | Reject | Skip]:
    """Parse one file with organisation names already known."""
    if looks_like_json(src):
        try:
            texts = list(whois_texts(load_json_document(src)))
        except ValueError as exc:
            raise SourceError(f"{src.path}: unknown format: JSON, but not a collection of whois replies: {exc}") from None
        for key, text in texts:
            yield from object_events(split_objects(_numbered(text)), Where(f"{ctx.reference}#{key}", src.path), ctx, org_names)
        return
    yield from object_events(_checked_objects(src), Where(ctx.reference, src.path), ctx, org_names)


def _checked_objects(src: SourceFile) -> Iterator[RpslObject]:
    """The file's objects. Raises :class:`SourceError` (unknown format) when the first block is not
    ``attribute: value`` text, or when the file holds no object of a known RPSL class, so a CSV or an
    ARIN reply is refused as a whole instead of being skipped block by block."""
    objects = 0
    rpsl_objects = 0
    for obj in split_objects(src.lines(fallback=LATIN1)):
        objects += 1
        if objects == 1 and (not obj.attributes or (obj.malformed and obj.malformed[0][0] < obj.line)):
            line = obj.malformed[0][0]
            raise SourceError(
                f"{src.path}: unknown format: line {line} is not 'attribute: value' text "
                f"(expected RPSL objects such as 'inetnum: ...' or 'route: ...')"
            )
        # the IANA referral on top of another registry's whois reply is no sign of RPSL data
        rpsl_objects += obj.attributes[0][0] in RPSL_CLASSES and _registry(obj) != "iana" if obj.attributes else 0
        yield obj
    if not objects:
        raise SourceError(f"{src.path}: empty file: no RPSL objects")
    if not rpsl_objects:
        raise SourceError(
            f"{src.path}: unknown format: no RPSL objects (inetnum, route, organisation, ...) in the file "
            "(an ARIN whois reply or bulk file? use `chainrisk ingest arin`)"
        )


def parse(src: SourceFile, ctx: ParseContext) -> Iterator[Registration | RouteObject | Reject | Skip]:
    """Parse one file on its own: organisation names come from this file only."""
    yield from parse_with_orgs(src, ctx, scan_org_names([src.path]))


def make_parser(paths: list[Path], **_options: Any) -> Parser:
    """The parser for a run over ``paths``: organisation names from all of them."""
    org_names = scan_org_names(paths)

    def parse_file(src: SourceFile, ctx: ParseContext) -> Iterator[Registration | RouteObject | Reject | Skip]:
        return parse_with_orgs(src, ctx, org_names)

    return parse_file
