"""RIR delegated-extended statistics -> :class:`Delegation` events (who an RIR lists for each IPv4 range).

Format (one record per line, ``|``-separated; see the RIRs' README-EXTENDED)::

    2.3|apnic|20130417|46596||20130416|+1000                 version line (header)
    apnic|*|ipv4|*|22204|summary                              summary lines
    apnic|AU|ipv4|1.0.0.0|256|20110811|assigned|A9173591      registry|cc|type|start|value|date|status|opaque-id|...

* Only ``ipv4`` records become events; ``asn`` and ``ipv6`` records are yielded as :class:`Skip`.
  ``#`` comment lines, blank lines, the version line and summary lines are passed over.
* ``value`` is an address count and need not be a power of two (``196.4.20.0|2560``): such a range
  is split into the fewest CIDRs, one event each, with ``range_start``/``range_size`` naming the
  record's own range (left unset when the record is exactly one CIDR).
* ``holder_id`` is the opaque id (one per organisation) for allocated/assigned records; reserved and
  available ranges have no holder. The plain (non-extended) RIPE 2013 file has no opaque-id column.
* ``registered`` is the ``date`` field; empty or ``00000000`` means unknown.
* ``country`` is the ``cc`` field as given (``ZZ`` = not assigned to a country); empty -> None.
* ``observed_at`` is the header's end date (the day the statistics describe), midnight UTC; the
  header's serial when that is a date and the end date is not; otherwise a date in the file name or
  the file's mtime. ``ctx.observed_at`` overrides all. An end date that is not in the calendar
  (``20260230``) fails the file unless ``--observed-at`` is given.
* A record with a NUL byte or bytes that are not UTF-8 is rejected (the opaque id is an identity).
"""
from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import date, datetime, timezone
from functools import lru_cache
from ipaddress import IPv4Address

from chainrisk.ingest.common import ParseContext, Reject, Skip, SourceError, SourceFile, bad_text, observed_at_for
from chainrisk.ingest.events import DELEGATION_STATUSES, HELD_STATUSES, Event, LineProvenance, checked_delegation
from chainrisk.ingest.prefixes import IPV6_OUT_OF_SCOPE, ipv4_address_number, range_to_cidrs

SOURCE = "rir-delegated-extended"
DESCRIPTION = "RIR delegated-extended statistics: holder (opaque id) and status per IPv4 range"
# a file is a full snapshot (ingest/snapshots.py): what a newer complete file lacks is retracted, unless --no-snapshot
SNAPSHOT = True

RECORD_TYPES = frozenset({"ipv4", "ipv6", "asn"})
MIN_FIELDS = 7  # registry|cc|type|start|value|date|status (opaque-id is optional: plain stats lack it)
IPV4_SPACE = 2**32

SKIP_ASN = Skip("AS number record (only IPv4 ranges are ingested)")
SKIP_IPV6 = Skip(IPV6_OUT_OF_SCOPE)

_VERSION_LINE = re.compile(r"^\d+(\.\d+)?\|")


@lru_cache(maxsize=1 << 14)  # a file has a few thousand distinct dates over its many records
def parse_yyyymmdd(text: str) -> date | None:
    """The date written ``YYYYMMDD``; None for an empty field or ``00000000`` (unknown).
    Raises ``ValueError`` for anything else."""
    value = text.strip()
    if not value or value == "00000000":
        return None
    if len(value) != 8 or not value.isascii() or not value.isdigit():
        raise ValueError(f"bad date: {value!r} is not YYYYMMDD")
    try:
        return date(int(value[:4]), int(value[4:6]), int(value[6:]))
    except ValueError:
        raise ValueError(f"bad date: {value!r} is not a calendar date") from None


def header_date(fields: list[str]) -> datetime | None:
    """The date a version line says the statistics describe: its end date (field 6), else its
    serial (field 3) when that is a ``YYYYMMDD`` date; midnight UTC. None when neither is.
    Raises ``ValueError`` when the end date is 8 digits that are not a calendar date
    (``20260230``): dating the file by its name or mtime instead would be a quiet guess."""
    for index in (5, 2):
        if index < len(fields):
            try:
                day = parse_yyyymmdd(fields[index])
            except ValueError as exc:
                text = fields[index].strip()
                if index == 5 and len(text) == 8 and text.isascii() and text.isdigit():
                    raise ValueError(f"impossible date in the header: end date {text!r} is not a calendar date") from exc
                continue
            if day is not None:
                return datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
    return None


def is_summary(fields: list[str]) -> bool:
    """``registry|*|type|*|count|summary``."""
    return len(fields) >= 6 and fields[5].strip() == "summary"


def ipv4_record(fields: list[str]) -> tuple[str, int, int, str, date | None, str | None]:
    """(start, start as a number, address count, status, registration date, holder id) of an ``ipv4``
    record. Raises ``ValueError`` with the reject reason."""
    start, first = ipv4_address_number(fields[3])
    count_text = fields[4].strip()
    if not count_text.isascii() or not count_text.isdigit() or len(count_text) > 10 or int(count_text) == 0:  # 2**32 has 10 digits
        raise ValueError(f"bad address count: {count_text[:20]!r} is not a positive whole number")
    count = int(count_text)
    if first + count > IPV4_SPACE:
        raise ValueError(f"bad address count: {start} + {count} addresses runs past 255.255.255.255")
    status = fields[6].strip().lower()
    if status not in DELEGATION_STATUSES:
        raise ValueError(f"unknown status: {fields[6].strip()!r} (expected one of {', '.join(sorted(DELEGATION_STATUSES))})")
    registered = parse_yyyymmdd(fields[5])
    opaque_id = fields[7].strip() if len(fields) > 7 else ""
    holder_id = opaque_id if status in HELD_STATUSES and opaque_id else None
    return start, first, count, status, registered, holder_id


def parse(src: SourceFile, ctx: ParseContext) -> Iterator[Event | Reject | Skip]:
    """Delegation events for every IPv4 record of one delegated(-extended) statistics file."""
    observed_at: datetime | None = None
    provenances: LineProvenance | None = None
    seen_first_record = False
    for number, line in src.lines():
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        fields = text.split("|")
        if not seen_first_record:
            seen_first_record = True
            if _VERSION_LINE.match(text):
                try:
                    content_date = header_date(fields)
                except ValueError as exc:
                    if ctx.observed_at is None:
                        raise SourceError(f"{ctx.reference}:{number}: {exc} (give the date with --observed-at)") from None
                    content_date = None
                observed_at = observed_at_for(ctx, content_date, src.path)
                continue
            if len(fields) < MIN_FIELDS or fields[2].strip().lower() not in RECORD_TYPES:
                raise SourceError(f"{ctx.reference}:{number}: not RIR delegated statistics (expected a version line like '2|ripencc|...')")
            observed_at = observed_at_for(ctx, None, src.path)
        if is_summary(fields):
            continue
        assert observed_at is not None  # fixed at the first record
        if provenances is None:
            provenances = LineProvenance(source=SOURCE, reference=ctx.reference, observed_at=observed_at, ingested_at=ctx.ingested_at)
        yield from _record(fields, number, line, ctx, provenances)
    if not seen_first_record:
        raise SourceError(f"{ctx.reference}: empty file: no delegated statistics records")


def _record(fields: list[str], number: int, raw: str, ctx: ParseContext, provenances: LineProvenance) -> Sequence[Event | Reject | Skip]:
    """The events (or the Skip / Reject) for one record line."""
    if len(fields) < MIN_FIELDS:
        return (Reject(ctx.reference, number, f"too few fields: {len(fields)}, expected registry|cc|type|start|value|date|status[|opaque-id]",
                       raw),)
    bad = bad_text(raw)
    if bad:  # a corrupted opaque id would read as a new holder
        return (Reject(ctx.reference, number, bad, raw),)
    record_type = fields[2].strip().lower()
    if record_type == "asn":
        return (SKIP_ASN,)
    if record_type == "ipv6":
        return (SKIP_IPV6,)
    if record_type != "ipv4":
        return (Reject(ctx.reference, number, f"unknown record type: {fields[2].strip()!r} (expected ipv4, ipv6 or asn)", raw),)
    try:
        start, first, count, status, registered, holder_id = ipv4_record(fields)
    except ValueError as exc:
        return (Reject(ctx.reference, number, str(exc), raw),)
    provenance = provenances.at(number)
    registry, country = fields[0].strip().lower(), fields[1].strip() or None
    if count & (count - 1) == 0 and first % count == 0:  # one CIDR (most records): no range split
        return (checked_delegation(f"{start}/{33 - count.bit_length()}", provenance, provenances.prefix, registry, country, status, holder_id,
                                   registered, None, None),)
    blocks = range_to_cidrs(IPv4Address(first), IPv4Address(first + count - 1))
    split = len(blocks) > 1
    return [checked_delegation(str(block), provenance, provenances.prefix, registry, country, status, holder_id, registered,
                               start if split else None, count if split else None) for block in blocks]
