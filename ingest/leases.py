"""Lease-register worker: the business's own contracts, one row per hop of a block's chain.

The format is fixed: CSV with a header row, or JSON Lines with the same field names (recognised by
content: a first character ``{`` means JSON Lines). Required: ``block, provider, provider_role,
recipient, recipient_role, start_date, end_date``; optional: ``lessee_asn, renewal_owner,
document_ref, provider_id, recipient_id, transit_asns`` (the lessee's transit providers: AS numbers
separated by spaces, ``;`` or ``,``, e.g. ``AS64510;AS64511``; in JSON Lines also a list). Other columns are ignored. Each row is one
:class:`LeaseHop`; a party is identified by its ``*_id`` when given, else by its name.

A bad row is rejected with its line and a reason (the rows around it are kept): the prefix is not
IPv4, is IPv6, has host bits set, or is larger than a /8; a role is unknown or in the wrong column;
a party is empty; provider equals recipient; a date does not parse; end_date is before start_date;
lessee_asn or a transit_asns entry is not an AS number; a CSV row has the wrong number of fields; the row holds a NUL byte
or bytes that are not UTF-8; a JSON line nests too deeply to decode. A header without the required
columns, or naming one twice, fails the whole file; so does a gzip/bzip2 register that is truncated
or corrupt, before any of its rows is published (a block's rows may continue past the break).

``observed_at`` (the register's date, which orders it against other sources): ``--observed-at``,
else a ``YYYYMMDD`` date in the file name, else the file's modification time (UTC).

``--replaces OLD_FILE`` makes removal explicit: every hop (by block, provider and recipient) in
OLD_FILE that no new file contains is published as a ``retract`` event after the new rows. Nothing
is ever retracted without that flag, and nothing is retracted unless every new file was read to the
end (a partial read cannot delete hops).
"""
from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterator
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import click

from chainrisk.ingest.common import ParseContext, Reject, SourceError, SourceFile, bad_text, observed_at_for
from chainrisk.ingest.events import (
    PROVIDER_ROLES,
    RECIPIENT_ROLES,
    SCHEMA_VERSION,
    LeaseHop,
    LineProvenance,
    Party,
    Provenance,
    Role,
    assemble,
    party_key,
    utc_now,
)
from chainrisk.ingest.formats import first_text
from chainrisk.ingest.prefixes import canonical_ipv4_prefix, parse_asn

SOURCE = "lease-register"
DESCRIPTION = "The lease register (CSV or JSON Lines): one row per hop of a leased block's chain, holder to lessee."

REQUIRED_FIELDS = ("block", "provider", "provider_role", "recipient", "recipient_role", "start_date", "end_date")
OPTIONAL_FIELDS = ("lessee_asn", "renewal_owner", "document_ref", "provider_id", "recipient_id", "transit_asns")
ROLE_NAMES = ", ".join(role.value for role in Role)
ROLE_OF_TEXT = {role.value: role for role in Role}
# distinct parties and blocks a parse remembers: parties repeat across the whole register, a block's
# hops are usually adjacent; a miss only costs the validation again
PARTY_CACHE_SIZE = 1 << 14
MIN_LEASE_LENGTH = 8  # a /8 is the largest unit the RIRs ever allocated: a shorter "leased block" (0.0.0.0/0) is a data error
BLOCK_CACHE_SIZE = 1 << 10

EXTRA_OPTIONS = [
    click.Option(
        ["--replaces", "replaces"],
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="The previous register: publish a retraction for every hop in it that the new files no longer contain.",
    )
]


# ---------------------------------------------------------------------------------------------
# one row -> one hop (pure)


def _text(value: Any) -> str:
    """A cell as text: None -> "", numbers as written."""
    if type(value) is str:  # nearly every cell: skip the str() call
        return value.strip()
    return "" if value is None else str(value).strip()


def _quoted(text: str, limit: int = 40) -> str:
    """``repr(text)``, cut to about ``limit`` characters: a reason quotes the cell, not a megabyte of it."""
    return repr(text) if len(text) <= limit else repr(text[:limit]) + f"... ({len(text):,} characters)"


def _role(value: str, column: str, allowed: frozenset[Role], side: str) -> tuple[Role | None, str | None]:
    """The role in ``column``, or the reason it is not acceptable there."""
    text = value.strip().lower()
    role = ROLE_OF_TEXT.get(text)
    if role is not None and role in allowed:
        return role, None
    if not text:
        return None, f"unknown role: {column} is empty (use one of {ROLE_NAMES})"
    try:
        role = Role(text)
    except ValueError:
        return None, f"unknown role: {column} {_quoted(value.strip())} is not one of {ROLE_NAMES}"
    if role not in allowed:
        allowed_names = [r.value for r in Role if r in allowed]
        names = ", ".join(allowed_names[:-1]) + " or " + allowed_names[-1]
        return None, f"role in the wrong column: a {side} cannot be {role.value!r} (a {side} is {names})"
    return role, None


def _date(value: str, column: str) -> tuple[date | None, str | None]:
    text = value.strip()
    try:
        return date.fromisoformat(text), None
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text).date(), None
    except ValueError:
        return None, f"unparsable date: {column} {_quoted(text)} is not an ISO 8601 date (YYYY-MM-DD)"


@lru_cache(maxsize=PARTY_CACHE_SIZE)
def _party_named(name: str, party_id: str) -> Party:
    """The party with ``name`` (``party_id`` when the name is empty) and ``party_id`` ("" = none).
    Cached: a register names the same few thousand parties on every row, and a Party is immutable."""
    return Party(name=name or party_id, id=party_id or None)


_party_key = lru_cache(maxsize=PARTY_CACHE_SIZE)(party_key)
_canonical_block = lru_cache(maxsize=BLOCK_CACHE_SIZE)(canonical_ipv4_prefix)


def _party(row: dict[str, Any], side: str, id_column: str) -> tuple[Party | None, str | None]:
    name, party_id = _text(row.get(side)), _text(row.get(id_column))
    if not name and not party_id:
        return None, f"empty party: {side} has no name and no {id_column}"
    return _party_named(name, party_id), None


def _field(fields: dict[str, Any], reasons: list[str], name: str, value: Any, reason: str | None) -> Any:
    """Record a parsed column: ``fields[name] = value``, or ``reason`` among the row's reasons. Returns ``value``."""
    if reason:
        reasons.append(reason)
    else:
        fields[name] = value
    return value


def hop_fields(row: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The :class:`LeaseHop` fields of one register row (``block`` .. ``lessee_asn``), and the reasons
    the row is unacceptable (empty when it is fine). Every problem is reported, first one first."""
    # one line per column rather than a loop over a table: this runs once per row of registers with millions of rows
    reasons: list[str] = []
    fields: dict[str, Any] = {}
    get = row.get
    try:
        block = fields["block"] = _canonical_block(_text(get("block")))
        if int(block.rpartition("/")[2]) < MIN_LEASE_LENGTH:
            reasons.append(f"block too large: {block} is more than a /{MIN_LEASE_LENGTH}, the largest block an RIR allocates, so it is no lease")
    except ValueError as exc:
        reasons.append(str(exc))
    provider = _field(fields, reasons, "provider", *_party(row, "provider", "provider_id"))
    _field(fields, reasons, "provider_role", *_role(_text(get("provider_role")), "provider_role", PROVIDER_ROLES, "provider"))
    recipient = _field(fields, reasons, "recipient", *_party(row, "recipient", "recipient_id"))
    _field(fields, reasons, "recipient_role", *_role(_text(get("recipient_role")), "recipient_role", RECIPIENT_ROLES, "recipient"))
    if provider is not None and recipient is not None and _party_key(provider.name, provider.id) == _party_key(recipient.name, recipient.id):
        reasons.append(f"provider equals recipient: {provider.id or provider.name!r} cannot lease to itself")
    start = _field(fields, reasons, "start_date", *_date(_text(get("start_date")), "start_date"))
    end = _field(fields, reasons, "end_date", *_date(_text(get("end_date")), "end_date"))
    if start is not None and end is not None and end < start:
        reasons.append(f"end_date before start_date: {end} is before {start}")
    asn_text = _text(get("lessee_asn"))
    if asn_text:
        try:
            fields["lessee_asn"] = parse_asn(asn_text)
        except ValueError:
            reasons.append(f"bad lessee_asn: {_quoted(asn_text)} is not an AS number (write 64500 or AS64500)")
    fields["renewal_owner"] = _text(get("renewal_owner")) or None
    fields["document_ref"] = _text(get("document_ref")) or None
    transit = get("transit_asns")
    if transit:
        _field(fields, reasons, "transit_asns", *transit_asns(transit))
    return fields, reasons


_ASN_SEPARATORS = re.compile(r"[\s;,]+")


def transit_asns(value: Any) -> tuple[tuple[int, ...], str | None]:
    """The AS numbers of a ``transit_asns`` cell (text separated by spaces, ``;`` or ``,``, or a JSON
    list), each once in order, and the reject reason (None when fine)."""
    items = value if isinstance(value, list) else _ASN_SEPARATORS.split(_text(value))
    found: dict[int, None] = {}
    for item in items:
        text = _text(item)
        if not text:
            continue
        try:
            found[parse_asn(text)] = None
        except ValueError:
            return (), f"bad transit_asns: {_quoted(text)} is not an AS number (write 64510 or AS64510, several separated by ';')"
    return tuple(found), None


# ---------------------------------------------------------------------------------------------
# files -> rows


Row = tuple[int, dict[str, Any], str]  # (line, values by field name, raw text)


def csv_rows(src: SourceFile, reference: str) -> Iterator[Row | Reject]:
    """The data rows of a CSV register with their first line; rejects for rows with the wrong number
    of fields. Raises :class:`SourceError` when the header lacks a required column."""
    position = {"line": 0}
    pending: list[str] = []

    def texts() -> Iterator[str]:
        for number, text in src.lines():
            position["line"] = number
            pending.append(text)
            yield text + "\n"  # the csv module needs the newline to keep one inside a quoted field

    reader = csv.reader(texts())
    header: list[str] | None = None
    last_end = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            yield Reject(reference, last_end + 1, f"malformed CSV: {exc}", "\n".join(pending))
            last_end, pending[:] = position["line"], []
            continue
        first, last_end = last_end + 1, position["line"]
        raw = "\n".join(pending)
        pending.clear()
        if not any(cell.strip() for cell in cells):
            continue
        if header is None:
            header = [cell.strip().lower().removeprefix("\ufeff") for cell in cells]
            repeated = sorted({name for name in header if name and header.count(name) > 1})
            if repeated:  # with a repeated column the last one would silently win
                raise SourceError(f"{src.path}: not a lease register: the header (line {first}) names column(s) {', '.join(repeated)} more than once")
            missing = [name for name in REQUIRED_FIELDS if name not in header]
            if missing:
                found = ", ".join(header) or "nothing"
                raise SourceError(
                    f"{src.path}: not a lease register: the header (line {first}) lacks required column(s) "
                    f"{', '.join(missing)}; it has: {found if len(found) <= 200 else found[:200] + '...'}"
                )
            continue
        if len(cells) != len(header):
            spans = f" (the row spans lines {first}-{last_end}: is a quote left open?)" if last_end > first else " (quote a name that contains a comma)"
            yield Reject(reference, first, f"wrong number of fields: expected {len(header)} as in the header, found {len(cells)}{spans}", raw)
            continue
        yield first, dict(zip(header, cells)), raw
    if header is None:
        raise SourceError(f"{src.path}: not a lease register: the file is empty (expected a header with {', '.join(REQUIRED_FIELDS)})")


def jsonl_rows(src: SourceFile, reference: str) -> Iterator[Row | Reject]:
    """The rows of a JSON Lines register; rejects for lines that are not JSON objects or lack a
    required field. Raises :class:`SourceError` when the first row is not a JSON object with at least
    one register field (a pretty-printed JSON document, or another dataset's JSON Lines)."""
    first = True
    for number, text in src.lines():
        if not text.strip():
            continue
        try:
            value = json.loads(text)
        except RecursionError:  # one hostile line must not end the run
            yield Reject(reference, number, "not JSON: nested too deeply to decode", text[:300])
            continue
        except ValueError as exc:
            if not isinstance(exc, json.JSONDecodeError):  # int(): a number longer than 4,300 digits
                yield Reject(reference, number, "not JSON: a number with too many digits to decode", text[:300])
                continue
            if first:
                raise SourceError(
                    f"{src.path}: unknown format: line {number} starts like JSON but is not one JSON object "
                    f"({exc.msg}); the register must be CSV or JSON Lines (one object per line)"
                ) from None
            yield Reject(reference, number, f"not JSON: {exc.msg} at column {exc.colno}", text)
            continue
        if not isinstance(value, dict):
            yield Reject(reference, number, "not a JSON object: each line must be one {...} row", text)
            continue
        if first and not any(name in value for name in REQUIRED_FIELDS):
            raise SourceError(f"{src.path}: not a lease register: line {number} has none of the fields {', '.join(REQUIRED_FIELDS)}")
        first = False
        missing = [name for name in REQUIRED_FIELDS if name not in value]
        if missing:
            yield Reject(reference, number, f"missing field: {', '.join(missing)}", text)
            continue
        yield number, value, text


def lease_hop(fields: dict[str, Any], provenance: Provenance) -> LeaseHop:
    """The hop (with its ``event_id``) of the :func:`hop_fields` of a row that had no reasons: equal,
    field for field and byte for byte, to ``LeaseHop(provenance=provenance, **fields).with_id()``,
    without validating again what :func:`hop_fields` validated."""
    values = {
        "schema_version": SCHEMA_VERSION, "event_id": "", "op": "assert", "block": fields["block"], "provenance": provenance,
        "type": "lease_hop", "provider": fields["provider"], "provider_role": fields["provider_role"],
        "recipient": fields["recipient"], "recipient_role": fields["recipient_role"], "start_date": fields["start_date"],
        "end_date": fields["end_date"], "lessee_asn": fields.get("lessee_asn"), "renewal_owner": fields["renewal_owner"],
        "document_ref": fields["document_ref"], "transit_asns": fields.get("transit_asns", ()),
    }
    hop = assemble(LeaseHop, values, {"provenance", "event_id", *fields})
    values["event_id"] = hop.content_id()  # the hop is not shared yet: setting its id here is what with_id's copy does
    return hop


def _bad_row_text(values: dict[str, Any], raw: str, is_jsonl: bool) -> str | None:
    """Why a row's text cannot be trusted (a NUL, bytes that were not UTF-8), else None. A CSV row's
    raw text holds every cell; a JSON row's escapes (``\\u0000``) show only once decoded."""
    if not is_jsonl:
        return bad_text(raw)
    return next((reason for value in values.values() if type(value) is str and (reason := bad_text(value))), None)


def parse(src: SourceFile, ctx: ParseContext) -> Iterator[LeaseHop | Reject]:
    """The lease hops of one register file (CSV or JSON Lines)."""
    observed_at = observed_at_for(ctx, None, src.path)
    provenances = LineProvenance(source=SOURCE, reference=ctx.reference, observed_at=observed_at, ingested_at=ctx.ingested_at)
    try:
        # a block's rows may sit anywhere in the register: from a truncated or corrupt compressed file
        # nothing is published, since a block whose rows continue past the break would be applied half
        src.check_complete()
    except SourceError as exc:
        raise SourceError(f"{exc}; nothing from this register was published (a block's rows may continue past the break)") from None
    is_jsonl = first_text(src).lstrip().startswith("{")
    rows = jsonl_rows(src, ctx.reference) if is_jsonl else csv_rows(src, ctx.reference)
    for item in rows:
        if isinstance(item, Reject):
            yield item
            continue
        line, values, raw = item
        bad = _bad_row_text(values, raw, is_jsonl)
        if bad:
            yield Reject(ctx.reference, line, bad, raw)
            continue
        fields, reasons = hop_fields(values)
        if reasons:
            yield Reject(ctx.reference, line, "; ".join(reasons), raw)
            continue
        yield lease_hop(fields, provenances.at(line))


# ---------------------------------------------------------------------------------------------
# explicit removal (--replaces)


def read_hops(path: Path) -> dict[str, LeaseHop]:
    """The valid hops of a register by fact key (a later row wins). Raises :class:`SourceError` if
    the file cannot be read."""
    ctx = ParseContext(reference=str(path), ingested_at=utc_now())
    hops: dict[str, LeaseHop] = {}
    with SourceFile(path) as src:
        for item in parse(src, ctx):
            if isinstance(item, LeaseHop):
                hops[item.fact_key] = item
    return hops


def retraction(hop: LeaseHop, ctx: ParseContext, observed_at: datetime) -> LeaseHop:
    """The event withdrawing ``hop``: same fact, ``op="retract"``, dated ``observed_at`` so it
    supersedes the assertion."""
    provenance = hop.provenance.model_copy(update={"observed_at": max(observed_at, hop.provenance.observed_at), "ingested_at": ctx.ingested_at})
    return hop.model_copy(update={"op": "retract", "provenance": provenance, "event_id": ""}).with_id()


def make_parser(paths: list[Path], replaces: Path | None = None, **_options: Any) -> Callable[[SourceFile, ParseContext], Iterator[LeaseHop | Reject]]:
    """The parser for a run over ``paths``. With ``replaces``, after the last file it yields a
    retraction for every hop of the old register missing from all new files (only when every new
    file was read completely)."""
    if replaces is None:
        return parse
    old_hops = read_hops(replaces)
    seen: set[str] = set()
    completed: set[Path] = set()
    observed: list[datetime] = []

    def parse_file(src: SourceFile, ctx: ParseContext) -> Iterator[LeaseHop | Reject]:
        observed.append(observed_at_for(ctx, None, src.path))
        for item in parse(src, ctx):
            if isinstance(item, LeaseHop):
                seen.add(item.fact_key)
            yield item
        completed.add(src.path)
        if src.path != paths[-1]:
            return
        unread = [str(p) for p in paths if p not in completed]
        if unread:
            yield Reject(str(replaces), None, f"retractions skipped: {', '.join(unread)} not read completely, so a missing hop may only be unread")
            return
        for key, hop in old_hops.items():
            if key not in seen:
                yield retraction(hop, ctx, max(observed))

    return parse_file
