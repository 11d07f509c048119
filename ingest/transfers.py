"""NRO transfer-log worker (``transfers_latest.json`` of any RIR): registered-holder changes.

Each record of ``transfers[]`` becomes one :class:`HolderTransfer` per CIDR of every
``ip4nets.transfer_set`` range (the addresses that actually moved; ``original_set`` is the block they
were cut from). Parties appear by organisation name only (the format has no ids). ``ip6nets`` and
``asns`` transfers are skipped (counted, not rejected). ``observed_at`` is the transfer date unless
``--observed-at`` is given. A malformed record is rejected with its line and its index in
``transfers[]`` (``(transfer #3)``); the records around it are kept. So is a transfer whose source and
recipient organisation are the same party within one RIR (no holder changes), and one with a
``transfer_date`` that is not a calendar date.

The document is read record by record (:mod:`chainrisk.ingest.jsonstream`), so a record nested too
deeply to decode costs that record only; a log cut short fails the file after the records before
the break (each record stands alone, so none is applied half).
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from chainrisk.ingest.common import ParseContext, Reject, Skip, SourceError, SourceFile, bad_text, observed_at_for
from chainrisk.ingest.events import HolderTransfer, Party, Provenance
from chainrisk.ingest.jsonstream import BadElement, JsonLayoutError, JsonObjectStream
from chainrisk.ingest.prefixes import IPV6_OUT_OF_SCOPE, range_to_cidrs
from chainrisk.ingest.registry import parse_registry_date

SOURCE = "nro-transfers"
DESCRIPTION = "NRO transfer logs (transfers_latest.json): registered-holder changes of IPv4 blocks, with date and type."

_SKIP_ASN = Skip("AS number transfers")
_SKIP_IPV6 = Skip("IPv6 transfers (out of scope)")
_RAW_LIMIT = 300


def _organisation(record: dict[str, Any], key: str) -> Party:
    """The party named by ``record[key]["name"]``; ``ValueError`` (a reject reason) if absent."""
    org = record.get(key)
    name = org.get("name") if isinstance(org, dict) else None
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"missing {key}: the record names no {key.replace('_', ' ')}")
    return Party(name=name.strip())


def _ipv4_ranges(record: dict[str, Any]) -> list[tuple[str, str]]:
    """The ``(start_address, end_address)`` pairs of ``ip4nets.transfer_set``; ``ValueError`` if the
    set is not a list of such objects."""
    nets = record.get("ip4nets")
    if not isinstance(nets, dict):
        raise ValueError("malformed ip4nets: expected an object with transfer_set")
    ranges = nets.get("transfer_set")
    if not isinstance(ranges, list) or not ranges:
        raise ValueError("malformed ip4nets: transfer_set is missing or empty")
    pairs = []
    for entry in ranges:
        if not isinstance(entry, dict) or not isinstance(entry.get("start_address"), str) or not isinstance(entry.get("end_address"), str):
            raise ValueError("malformed ip4nets: a transfer_set entry lacks start_address/end_address")
        pairs.append((entry["start_address"], entry["end_address"]))
    return pairs


def _rir(record: dict[str, Any], key: str) -> str | None:
    value = record.get(key)
    return value.strip().lower() if isinstance(value, str) and value.strip() else None


def record_events(record: Any, index: int, ctx: ParseContext, src: SourceFile, line: int | None = None) -> Iterator[HolderTransfer | Reject | Skip]:
    """The holder-transfer events of ``transfers[index]`` (starting on ``line``), or why it is skipped or rejected."""
    raw = str(record)[:_RAW_LIMIT]

    def reject(reason: str) -> Reject:
        return Reject(ctx.reference, line, f"{reason} (transfer #{index})", raw, offset=index)

    if not isinstance(record, dict):
        yield reject("malformed record: expected a JSON object")
        return
    if "ip4nets" not in record:
        yield _SKIP_IPV6 if "ip6nets" in record else _SKIP_ASN if "asns" in record else reject("malformed record: no ip4nets, ip6nets or asns")
        return
    reasons: list[str] = []
    parties: list[Party] = []
    for key in ("source_organization", "recipient_organization"):
        try:
            parties.append(_organisation(record, key))
        except ValueError as exc:
            reasons.append(str(exc))
    if len(parties) == 2 and parties[0].key == parties[1].key and _rir(record, "source_rir") == _rir(record, "recipient_rir"):
        reasons.append(f"transfer to itself: {parties[0].name!r} is both source and recipient organization")
    bad = next((reason for party in parties if (reason := bad_text(party.name))), None)
    if bad:
        reasons.append(bad)
    date_text = record.get("transfer_date")
    try:
        transfer_date = parse_registry_date(date_text) if isinstance(date_text, str) else None
    except ValueError as exc:
        transfer_date = None
        reasons.append(f"{exc} (transfer_date)")
    else:
        if transfer_date is None:
            reasons.append(f"unparsable date: transfer_date {date_text!r} is not an ISO 8601 date")
    transfer_type = record.get("type")
    if not isinstance(transfer_type, str) or not transfer_type.strip():
        reasons.append("missing type: the record does not say RESOURCE_TRANSFER or MERGER_ACQUISITION")
    cidrs = []
    try:
        for start, end in _ipv4_ranges(record):
            cidrs.extend(range_to_cidrs(start, end))
    except ValueError as exc:
        if str(exc) == IPV6_OUT_OF_SCOPE:  # an IPv6 range filed under ip4nets is a data error
            reasons.append("IPv6 range in ip4nets: transfer_set holds an IPv6 address")
        else:
            reasons.append(str(exc))
    if reasons:
        yield reject("; ".join(reasons))
        return
    assert transfer_date is not None and isinstance(transfer_type, str)
    provenance = Provenance(
        source=SOURCE, reference=ctx.reference, offset=index,
        observed_at=observed_at_for(ctx, transfer_date, src.path), ingested_at=ctx.ingested_at,
    )
    for cidr in cidrs:
        yield HolderTransfer(
            block=str(cidr),
            from_party=parties[0],
            to_party=parties[1],
            transfer_date=transfer_date,
            transfer_type=transfer_type.strip(),
            source_rir=_rir(record, "source_rir"),
            recipient_rir=_rir(record, "recipient_rir"),
            provenance=provenance,
        ).with_id()


def parse(src: SourceFile, ctx: ParseContext) -> Iterator[HolderTransfer | Reject | Skip]:
    """Parse one transfer log, record by record (see :mod:`chainrisk.ingest.jsonstream`): a record
    that is not valid JSON, or nests too deeply to decode, is rejected with its line and the
    records after it are still read."""
    unknown = f"{src.path}: unknown format: expected a JSON object with a 'transfers' list (NRO transfer log)"
    stream = JsonObjectStream(src.text_chunks())
    found = False
    published = 0
    try:
        start = stream.peek()
        if start != "{":
            found_text = repr(start) if start else "nothing"
            raise SourceError(f"{unknown}, but the file starts with {found_text} (not valid JSON, or not an object)")
        for key in stream.members():
            if key == "transfers" and stream.peek() == "[" and not found:
                found = True
                for index, element in enumerate(stream.elements()):
                    if isinstance(element, BadElement):
                        yield Reject(ctx.reference, element.line, f"{element.reason} (transfer #{index})", element.raw, offset=index)
                        continue
                    line, record = element
                    for item in record_events(record, index, ctx, src, line):
                        published += isinstance(item, HolderTransfer)
                        yield item
            else:
                stream.read_past(key)
    except JsonLayoutError as exc:
        if not found:
            raise SourceError(f"{unknown}; line {exc.line}: {exc.reason}") from None
        raise SourceError(f"{src.path}:{exc.line}: broken JSON: {exc.reason}; the {published:,} transfer event(s) before it were published") from None
    if not found:
        raise SourceError(unknown)
