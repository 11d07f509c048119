"""Spamhaus DROP / EDROP -> :class:`BlocklistEntry` events (blocks not to route or accept mail from).

Two formats, told apart by the first non-blank line:

* text (``drop.txt``, ``edrop.txt``)::

      ; Spamhaus DROP List 2025/01/17 - (c) 2025 The Spamhaus Project SLU
      ; Last-Modified: Fri, 17 Jan 2025 17:03:47 GMT
      1.10.16.0/20 ; SBL256894

  ``;`` starts a comment. ``Last-Modified`` gives ``observed_at``. The list is named by the title
  comment (``Spamhaus EDROP List`` -> ``spamhaus-edrop``, ``Spamhaus DROP List`` /
  ``Spamhaus IPv6 DROP List`` -> ``spamhaus-drop``), else by the file name (``edrop`` in it ->
  ``spamhaus-edrop``, otherwise ``spamhaus-drop``). Since 2024 EDROP is merged into DROP.
* JSON lines (``drop_v4.json``): ``{"cidr": "1.10.16.0/20", "sblid": "SBL256894", "rir": "apnic"}``
  per line and a trailing ``{"type": "metadata", "timestamp": <unix>, ...}`` line. The timestamp
  gives ``observed_at``; because it comes last, the file is read twice (the first pass only looks
  for that line; constant memory). The list is named by the file name as above.

* Spamhaus ASN-DROP JSON lines (``asndrop.json``): ``{"asn": 64530, "rir": "ripencc", "domain":
  "bad.example", "cc": "NL", "asname": "BAD-AS"}`` per line and the same closing metadata line,
  told apart by the first record having ``asn`` and no ``cidr``: one :class:`AsnListing` per AS, list
  ``spamhaus-asndrop`` (a full snapshot of that list, like DROP and EDROP). A line that is not such a
  record is rejected with its line; the lines around it are kept.

``provenance.source`` is the list name. IPv6 entries are yielded as :class:`Skip`. Without a date in the content, ``observed_at`` is the
date in the file name or the file's mtime; ``ctx.observed_at`` overrides. A ``Last-Modified`` or
metadata ``timestamp`` that is not a date fails the file unless ``ctx.observed_at`` is given.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from chainrisk.ingest.common import ParseContext, Reject, Skip, SourceError, SourceFile, bad_text, observed_at_for
from chainrisk.ingest.events import AsnListing, Event, LineProvenance, Provenance, checked_blocklist_entry, is_canonical_ipv4_prefix
from chainrisk.ingest.prefixes import IPV6_OUT_OF_SCOPE, canonical_ipv4_prefix, parse_asn

SOURCE = "spamhaus-drop"
DESCRIPTION = "Spamhaus DROP/EDROP blocklists (text 'prefix ; SBLnnn' or JSON lines with a metadata line) and ASN-DROP (JSON lines)"
# a file is a full snapshot (ingest/snapshots.py): what a newer complete file lacks is retracted, unless --no-snapshot
SNAPSHOT = True

DROP = "spamhaus-drop"
EDROP = "spamhaus-edrop"
ASNDROP = "spamhaus-asndrop"
SKIP_IPV6 = Skip(IPV6_OUT_OF_SCOPE)

_TITLE = re.compile(r"^;\s*Spamhaus\s+(?:IPv6\s+)?(E?DROP)\b", re.IGNORECASE)
_LAST_MODIFIED = re.compile(r"^;\s*Last-Modified:\s*(.+)$", re.IGNORECASE)


def list_name_from_file_name(path: Path) -> str:
    """``spamhaus-edrop`` when the file name says edrop, else ``spamhaus-drop``."""
    return EDROP if "edrop" in path.name.lower() else DROP


def list_name_from_title(comment: str) -> str | None:
    """The list a ``; Spamhaus ... List`` title comment names, or None for any other comment."""
    match = _TITLE.match(comment)
    if match is None:
        return None
    return EDROP if match.group(1).upper() == "EDROP" else DROP


def last_modified(comment: str) -> datetime | None:
    """The time in a ``; Last-Modified: <RFC 2822 date>`` comment, or None for any other comment.
    Raises ``ValueError`` when the comment's date is not a date (``Mon, 30 Feb 2026 ...``)."""
    match = _LAST_MODIFIED.match(comment)
    if match is None:
        return None
    text = match.group(1).strip()
    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        raise ValueError(f"bad date: Last-Modified {text!r} is not an RFC 2822 date") from None


Entry = tuple[str, str | None, str | None]  # (block, SBL id, RIR)


def text_entry(line: str) -> Entry | Skip:
    """(block, SBL id or None, None) of a DROP text line ``prefix ; SBLnnn``; :data:`SKIP_IPV6`
    for an IPv6 entry. Raises ``ValueError`` with the reject reason."""
    prefix_text, _, rest = line.partition(";")
    prefix_text = prefix_text.strip()
    if ":" in prefix_text:
        return SKIP_IPV6
    block = canonical_ipv4_prefix(prefix_text)
    entry_id = rest.strip().split()[0] if rest.strip() else None
    return block, entry_id, None


def json_entry(record: Any) -> Entry | Skip:
    """(block, SBL id, RIR) of a DROP JSON record; :data:`SKIP_IPV6` for an IPv6 one.
    Raises ``ValueError`` with the reject reason."""
    if not isinstance(record, dict):
        raise ValueError(f"not a DROP record: {type(record).__name__}, expected a JSON object")
    cidr = record.get("cidr")
    if not isinstance(cidr, str):
        raise ValueError("not valid IPv4 prefix: the record has no 'cidr' string")
    if ":" in cidr:
        return SKIP_IPV6
    block = canonical_ipv4_prefix(cidr)
    sblid, rir = record.get("sblid"), record.get("rir")
    return block, sblid if isinstance(sblid, str) and sblid else None, rir.lower() if isinstance(rir, str) and rir else None


# the shape of every record line Spamhaus writes, strings without escapes: read from the match, the
# same as json.loads then json_entry would (any other line, or a prefix not canonical, is decoded)
_PLAIN_STRING = r'"([ !#-\[\]-~]*)"'
_DROP_LINE = re.compile(rf'\{{"cidr":"([0-9./]+)","sblid":{_PLAIN_STRING},"rir":{_PLAIN_STRING}\}}')


def json_line_entry(line: str) -> Entry | Skip | None:
    """:func:`json_entry` of one JSON line; None for the metadata line. Raises ``ValueError``."""
    match = _DROP_LINE.fullmatch(line)
    if match is not None and is_canonical_ipv4_prefix(match[1]):
        cidr, sblid, rir = match.groups()
        return cidr, sblid or None, rir.lower() or None
    try:
        record = json.loads(line)
    except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
        raise ValueError(f"invalid JSON: {exc.args[0] if exc.args else exc}") from None
    return None if is_metadata(record) else json_entry(record)


AsnEntry = tuple[int, str | None, str | None, str | None, str | None]  # (AS number, AS name, domain, country, RIR)
_ASN_TEXT_FIELDS = ("asname", "domain", "cc", "rir")


def is_asn_record(record: Any) -> bool:
    """True for an ASN-DROP record (``asn`` and no ``cidr``): what makes a JSON-lines file ASN-DROP."""
    return isinstance(record, dict) and "asn" in record and "cidr" not in record


def asn_entry(record: Any) -> AsnEntry:
    """(AS number, text fields) of an ASN-DROP record. Raises ``ValueError`` with the reject reason."""
    if not isinstance(record, dict):
        raise ValueError(f"not an ASN-DROP record: {type(record).__name__}, expected a JSON object")
    if "asn" not in record:
        raise ValueError("not an ASN-DROP record: no 'asn' (a DROP prefix record in an ASN-DROP list?)")
    value = record["asn"]
    if not isinstance(value, (int, str)) or isinstance(value, bool):
        raise ValueError(f"not an AS number: {json.dumps(value)[:40]} (expected e.g. 64500)")
    asn = parse_asn(value)
    texts: list[str | None] = []
    for key in _ASN_TEXT_FIELDS:
        item = record.get(key)
        if item is not None and not isinstance(item, str):
            raise ValueError(f"bad {key}: {json.dumps(item)[:40]} is not text")
        texts.append((item.strip().lower() if key == "rir" else item.strip()) if item and item.strip() else None)
    as_name, domain, country, rir = texts
    return asn, as_name, domain, country, rir


def is_metadata(record: Any) -> bool:
    return isinstance(record, dict) and record.get("type") == "metadata"


def metadata_timestamp(record: dict[str, Any]) -> datetime | None:
    """The ``timestamp`` (unix seconds) of a JSON metadata record, or None when it has none.
    Raises ``ValueError`` when it has one that is not a unix time after 1970."""
    value = record.get("timestamp")
    if value is None:
        return None
    if not isinstance(value, bool) and isinstance(value, (int, float)) and value > 0:
        try:
            return datetime.fromtimestamp(value, tz=timezone.utc)
        except (ValueError, OverflowError, OSError):
            pass
    raise ValueError(f"bad date: metadata timestamp {value!r} is not a unix time")


def parse(src: SourceFile, ctx: ParseContext) -> Iterator[Event | Reject | Skip]:
    """BlocklistEntry events for every IPv4 entry of one DROP/EDROP file."""
    lines = src.lines()
    for number, line in lines:
        text = line.strip().lstrip("\ufeff")
        if not text:
            continue
        if text.startswith("{"):
            yield from _parse_json_lines(src, ctx, first=(number, text), rest=lines)
        elif text.startswith(";") or text[0].isdigit():
            yield from _parse_text(src, ctx, first=(number, text), rest=lines)
        else:
            raise SourceError(f"{ctx.reference}:{number}: not a Spamhaus DROP list: expected '; Spamhaus ...', 'prefix ; SBLnnn' or JSON lines")
        return
    raise SourceError(f"{ctx.reference}: empty file: no DROP entries")


def _line_items(read: Callable[[str], Entry | Skip | None], text: str, number: int, raw: str, provenances: LineProvenance,
                ctx: ParseContext) -> Iterator[Event | Reject | Skip]:
    """The event, Skip or Reject for one entry line, read with ``read`` (nothing when it returns None);
    the list's name is the provenance's source."""
    try:
        bad = bad_text(text)
        if bad:
            raise ValueError(bad)
        entry = read(text)
    except ValueError as exc:
        yield Reject(ctx.reference, number, str(exc), raw)
        return
    if entry is None:
        return
    if isinstance(entry, Skip):
        yield entry
        return
    block, entry_id, rir = entry  # a canonical prefix (text_entry, json_entry): what BlocklistEntry's validation checks
    yield checked_blocklist_entry(block, provenances.base.source, entry_id, rir, provenances.at(number), provenances.prefix)


def _parse_text(src: SourceFile, ctx: ParseContext, first: tuple[int, str], rest: Iterator[tuple[int, str]]) -> Iterator[Event | Reject | Skip]:
    list_name: str | None = None
    content_date: datetime | None = None
    observed_at: datetime | None = None  # fixed at the first entry: the header comments come first
    provenances: LineProvenance | None = None
    for number, line in _chain(first, rest):
        text = line.strip()
        if not text:
            continue
        if text.startswith(";"):
            list_name = list_name or list_name_from_title(text)
            try:
                content_date = content_date or last_modified(text)
            except ValueError as exc:
                if ctx.observed_at is None and observed_at is None:
                    raise SourceError(f"{ctx.reference}:{number}: {exc} (give the date with --observed-at)") from None
            continue
        if provenances is None:
            observed_at = observed_at_for(ctx, content_date, src.path)
            list_name = list_name or list_name_from_file_name(src.path)  # named by the header or, at the first entry, by the file
            provenances = LineProvenance(source=list_name, reference=ctx.reference, observed_at=observed_at, ingested_at=ctx.ingested_at)
        yield from _line_items(text_entry, text, number, line, provenances, ctx)


def _parse_json_lines(src: SourceFile, ctx: ParseContext, first: tuple[int, str], rest: Iterator[tuple[int, str]]) -> Iterator[Event | Reject | Skip]:
    observed_at = ctx.observed_at or observed_at_for(ctx, _json_metadata_date(src.path, ctx.reference), src.path)
    if is_asn_record(_loads_or_none(first[1])):
        yield from _parse_asn_lines(ctx, _chain(first, rest), observed_at)
        return
    provenances = LineProvenance(source=list_name_from_file_name(src.path), reference=ctx.reference, observed_at=observed_at,
                                 ingested_at=ctx.ingested_at)
    for number, line in _chain(first, rest):
        if line.strip():
            yield from _line_items(json_line_entry, line.strip(), number, line, provenances, ctx)


def _loads_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _parse_asn_lines(ctx: ParseContext, lines: Iterator[tuple[int, str]], observed_at: datetime) -> Iterator[Event | Reject]:
    """AsnListing events for the ASN-DROP records of a JSON-lines file (the metadata line is skipped)."""
    for number, line in lines:
        text = line.strip()
        if not text:
            continue
        try:
            bad = bad_text(text)
            if bad:
                raise ValueError(bad)
            try:
                record = json.loads(text)
            except (ValueError, RecursionError) as exc:
                raise ValueError(f"invalid JSON: {exc.args[0] if exc.args else exc}") from None
            if is_metadata(record):
                continue
            asn, as_name, domain, country, rir = asn_entry(record)
        except ValueError as exc:
            yield Reject(ctx.reference, number, str(exc), line)
            continue
        provenance = Provenance(source=ASNDROP, reference=ctx.reference, line=number, observed_at=observed_at, ingested_at=ctx.ingested_at)
        yield AsnListing(list_name=ASNDROP, asn=asn, as_name=as_name, domain=domain, country=country, rir=rir,
                         provenance=provenance).with_id()


def _json_metadata_date(path: Path, reference: str) -> datetime | None:
    """The timestamp of the (last) metadata line of a DROP JSON-lines file, read in a separate pass.
    Raises :class:`SourceError` for a metadata line whose timestamp is not a time."""
    found: datetime | None = None
    with SourceFile(path) as again:
        for number, line in again.lines():
            if '"metadata"' not in line:
                continue
            try:
                record = json.loads(line)
            except (ValueError, RecursionError):
                continue
            if is_metadata(record):
                try:
                    found = metadata_timestamp(record) or found
                except ValueError as exc:
                    raise SourceError(f"{reference}:{number}: {exc} (give the date with --observed-at)") from None
    return found


def _chain(first: tuple[int, str], rest: Iterator[tuple[int, str]]) -> Iterator[tuple[int, str]]:
    yield first
    yield from rest
