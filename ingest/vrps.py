"""RPKI validated ROA payloads (VRPs) -> :class:`Vrp` events, from the common validator exports.

The format is detected from the content, not the file name:

* JSON object with a ``"roas"`` array (streamed element by element, constant memory, see
  :mod:`chainrisk.ingest.jsonstream`):

  - rpki-client: ``{"asn": 13335, "prefix": "1.0.0.0/24", "maxLength": 24, "ta": "apnic", "expires": 1753453058}``
    (``expires`` = unix time the VRP stops being valid); ``metadata.buildtime`` is the data's date.
  - Routinator ``json``: ``{"asn": "AS13335", "prefix": ..., "maxLength": ..., "ta": "apnic"}``;
    ``metadata.generatedTime`` (or ``generated``, unix) is the data's date.
  - Routinator ``jsonext``: no ``ta``; ``source: [{"tal", "validity", "chainValidity", ...}]``.
    ``ta`` is the first source's ``tal``; ``expires`` the latest ``chainValidity.notAfter`` over the
    sources (the VRP holds while any source is valid).

  rpki-client's ``aspas`` array (draft-ietf-sidrops-aspa-profile) gives one :class:`Aspa` per
  element ``{"customer_asid": 64500, "providers": [64510, 64511], "expires": 1753070425}``, dated
  like the VRPs; a bad element is rejected with its line.

  A bare top-level array of such objects is read the same way. ``metadata`` must come before
  ``roas`` (as both validators write it) to date the events; otherwise the file date is used.
* CSV with a header, columns matched by name (case-insensitive, quotes allowed):

  - Routinator ``csv``/``csvcompat``: ``ASN,IP Prefix,Max Length,Trust Anchor[,Expires]``;
  - RIPE NCC RPKI Validator (and Routinator ``csvext``): ``URI,ASN,IP Prefix,Max Length,Not Before,Not After``.
    There is no trust-anchor column: ``ta`` is taken from the ROA URI's repository host
    (``repository.lacnic.net`` -> ``lacnic``; an unknown host is used as it is); ``expires`` is
    ``Not After`` (UTC).

  CSV files carry no date: ``observed_at`` comes from the file name or mtime.

IPv6 VRPs are yielded as :class:`Skip`. A VRP is rejected for a bad prefix (not IPv4, host bits
set), a bad AS number, a ``maxLength`` shorter than the prefix or longer than 32, no trust anchor, or
an unreadable expiry. A missing ``maxLength`` means the prefix length (RFC 6482).

``provenance.source`` names the exporter: ``rpki-client``, ``routinator``, ``rpki-json`` (JSON of
unknown origin), ``routinator-csv`` or ``rpki-validator-csv``.
"""
from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any, TypeVar
from urllib.parse import urlsplit

from chainrisk.common.prefixes import prefix_length
from chainrisk.ingest.common import ParseContext, Reject, ScopeSeen, Skip, SourceError, SourceFile, bad_text, observed_at_for
from chainrisk.ingest.events import Aspa, Event, LineProvenance, NonfunctionalCa, Provenance, Vrp, checked_vrp
from chainrisk.ingest.formats import first_text
from chainrisk.ingest.jsonstream import BadElement, JsonLayoutError, JsonObjectStream
from chainrisk.ingest.prefixes import IPV6_OUT_OF_SCOPE, canonical_ipv4_prefix, parse_asn

SOURCE = "rpki-vrps"
DESCRIPTION = "RPKI VRP exports: rpki-client JSON, Routinator JSON/jsonext/CSV, RIPE validator CSV"
# a file is a full snapshot (ingest/snapshots.py): what a newer complete file lacks is retracted, unless --no-snapshot
SNAPSHOT = True

SKIP_IPV6 = Skip(IPV6_OUT_OF_SCOPE)
T = TypeVar("T")

# ROA repository host -> trust anchor name, for CSV exports without a trust-anchor column
TA_OF_REPOSITORY_HOST = {
    "rpki.afrinic.net": "afrinic",
    "rpki.apnic.net": "apnic",
    "rpki.arin.net": "arin",
    "repository.lacnic.net": "lacnic",
    "rpki-repo.registro.br": "lacnic",
    "rpki.ripe.net": "ripe",
}
_CSV_COLUMNS = {  # our name -> header names that mean it
    "asn": ("asn",),
    "prefix": ("ip prefix", "prefix"),
    "max_length": ("max length", "maxlength"),
    "ta": ("trust anchor", "ta"),
    "uri": ("uri",),
    "expires": ("not after", "expires"),
}


class VrpError(ValueError):
    """A VRP record is invalid; the message is the reject reason."""


# -- field parsing (pure) ---------------------------------------------------------------------
def parse_max_length(value: Any, prefix_length: int) -> int:
    """The VRP's maxLength: an int (or digit string) from ``prefix_length`` to 32; missing/None
    means ``prefix_length``. Raises :class:`VrpError`."""
    if value is None or value == "":
        return prefix_length
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise VrpError(f"bad maxLength: {_short(value)} is not a whole number")
    if isinstance(value, str):
        text = value.strip()
        if not text.isascii() or not text.isdigit() or len(text) > 3:  # int() refuses 4,300 digits; 32 is the most
            raise VrpError(f"bad maxLength: {_short(value)} is not a whole number")
        number = int(text)
    else:
        number = value
    if number < prefix_length:
        raise VrpError(f"bad maxLength: {number} is shorter than the prefix length /{prefix_length}")
    if number > 32:
        raise VrpError(f"bad maxLength: {number} is longer than 32")
    return number


def _short(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, for a reason that quotes what a file holds."""
    try:
        text = repr(value)
    except RecursionError:
        text = f"<{type(value).__name__} nested too deeply>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def parse_timestamp(value: Any) -> datetime:
    """A point in time given as unix seconds (int or digit string), ISO 8601,
    ``YYYY-MM-DD HH:MM:SS`` or a datetime; UTC when no zone is given. Raises :class:`VrpError`."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, bool):
        raise VrpError(f"bad expires: {_short(value)} is not a time")
    try:
        if isinstance(value, (int, float)):
            return datetime.fromtimestamp(value, tz=timezone.utc)
        if isinstance(value, str):
            text = value.strip()
            if text.isascii() and text.isdigit():
                return datetime.fromtimestamp(int(text), tz=timezone.utc)
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    except (ValueError, OverflowError, OSError):
        pass
    raise VrpError(f"bad expires: {_short(value)} is not a unix time or ISO 8601 date")


def ta_from_uri(uri: str) -> str | None:
    """The trust anchor a ROA URI's repository host stands for (the host itself when unknown)."""
    try:
        host = (urlsplit(uri.strip()).hostname or "").lower()
    except ValueError:
        return None
    return TA_OF_REPOSITORY_HOST.get(host, host) or None


def _jsonext_sources(sources: Any) -> tuple[str | None, Any, str | None]:
    """(trust anchor of the first source, latest chainValidity.notAfter, ROA URI of the first
    source naming one) of a jsonext ``source`` list."""
    if not isinstance(sources, list):
        return None, None, None
    ta = uri = None
    latest: datetime | None = None
    for source in sources:
        if not isinstance(source, dict):
            continue
        if ta is None and isinstance(source.get("tal"), str):
            ta = source["tal"]
        if uri is None and isinstance(source.get("uri"), str) and source["uri"].strip():
            uri = source["uri"].strip()
        chain = source.get("chainValidity")
        if isinstance(chain, dict) and chain.get("notAfter") is not None:
            until = parse_timestamp(chain["notAfter"])
            latest = until if latest is None or until > latest else latest
    return ta, latest, uri


def vrp_fields(prefix: Any, asn: Any, max_length: Any, ta: Any, expires: Any, uri: str | None = None) -> dict[str, Any] | None:
    """The checked fields of a Vrp event, or None for an IPv6 VRP. Raises :class:`VrpError`."""
    if not isinstance(prefix, str):
        raise VrpError(f"not valid IPv4 prefix: {_short(prefix)} is not a prefix string")
    if ":" in prefix:
        return None
    if not isinstance(asn, (int, str)):
        raise VrpError(f"not an AS number: {_short(asn)} (expected e.g. 64500 or AS64500)")
    try:
        block = canonical_ipv4_prefix(prefix)
        origin = parse_asn(asn)
    except ValueError as exc:
        raise VrpError(str(exc)) from None
    if not isinstance(ta, str) or not ta.strip():
        raise VrpError("missing trust anchor: no 'ta' (or source 'tal') for this VRP")
    bad = bad_text(ta)
    if bad:
        raise VrpError(f"{bad} (trust anchor)")
    until = None if expires is None or expires == "" else parse_timestamp(expires)
    if until is not None and until.timestamp() <= 0:
        raise VrpError(f"bad expires: {expires!r} is not after 1970-01-01 (a validator writes the unix time the VRP stops being valid)")
    bad = bad_text(uri) if uri else None
    if bad:
        raise VrpError(f"{bad} (ROA URI)")
    return {
        "uri": uri.strip() or None if uri else None,
        "block": block,
        "max_length": parse_max_length(max_length, prefix_length(block)),
        "asn": origin,
        "ta": ta.strip(),
        "expires": until,
    }


def json_vrp_fields(item: Any) -> dict[str, Any] | None:
    """:func:`vrp_fields` of one element of a JSON ``roas`` array (rpki-client, Routinator json or
    jsonext). Raises :class:`VrpError`."""
    if not isinstance(item, dict):
        raise VrpError(f"not a VRP object: {type(item).__name__} in the roas array")
    ta, expires, uri = item.get("ta"), item.get("expires"), None
    if ta is None and "source" in item:
        ta, expires, uri = _jsonext_sources(item["source"])
    return vrp_fields(item.get("prefix"), item.get("asn"), item.get("maxLength"), ta, expires, uri)


def metadata_date(metadata: Any) -> datetime | None:
    """The export's own timestamp: rpki-client ``buildtime``, Routinator ``generatedTime`` or
    ``generated`` (unix). None when absent. Raises :class:`VrpError` when it is present but not a
    time (``2026-02-30T...``): the file's name or mtime would otherwise date every VRP quietly."""
    if not isinstance(metadata, dict):
        return None
    for key in ("buildtime", "generatedTime", "generated"):
        if metadata.get(key) is not None:
            try:
                return parse_timestamp(metadata[key])
            except VrpError:
                raise VrpError(f"bad date: metadata {key} {metadata[key]!r} is not a unix time or ISO 8601 date") from None
    return None


def json_source_name(metadata: Any) -> str:
    """Which validator wrote the JSON, from its metadata keys."""
    if isinstance(metadata, dict):
        if "buildtime" in metadata or "buildmachine" in metadata:
            return "rpki-client"
        if "generatedTime" in metadata or "generated" in metadata:
            return "routinator"
    return "rpki-json"


# -- parsing ----------------------------------------------------------------------------------
def parse(src: SourceFile, ctx: ParseContext) -> Iterator[Event | Reject | Skip | ScopeSeen]:
    """Vrp events for every IPv4 VRP of one export file (format detected from the content), and
    NonfunctionalCa events for rpki-client's ``nonfunc_cas``."""
    first = first_text(src).lstrip()[:1]
    if first in ("{", "["):
        yield from _parse_json(src, ctx)
    elif first == "":
        raise SourceError(f"{ctx.reference}: empty file: no VRPs")
    else:
        yield from _parse_csv(src, ctx)


def _vrp_event(fields: dict[str, Any], line: int, provenances: LineProvenance) -> Vrp:
    """The Vrp of :func:`vrp_fields` (checked: what Vrp's validation checks) on ``line``."""
    return checked_vrp(provenances.at(line), provenances.prefix, **fields)


def _parse_json(src: SourceFile, ctx: ParseContext) -> Iterator[Event | Reject | Skip | ScopeSeen]:
    stream = JsonObjectStream(src.text_chunks())
    metadata: Any = None
    found_roas = False
    tas: set[str] = set()  # the trust anchors the export names (VRPs and non-functional CAs)
    nonfunc_at: datetime | None = None  # the date of the export's nonfunc_cas section, when it has one
    try:
        if stream.peek() == "[":  # a bare array of VRP objects
            found_roas = True
            yield from _json_elements(stream, ctx, "rpki-json", observed_at_for(ctx, None, src.path), tas)
            return
        for key in stream.members():
            if key == "metadata" and stream.peek() == "{":
                try:
                    metadata = stream.value()
                except ValueError as exc:
                    raise JsonLayoutError(stream.line, f"broken metadata: {exc}") from None
            elif key == "roas" and stream.peek() == "[":
                found_roas = True
                try:
                    content_date = metadata_date(metadata)
                except VrpError as exc:
                    if ctx.observed_at is None:
                        raise SourceError(f"{ctx.reference}:{stream.line}: {exc} (give the date with --observed-at)") from None
                    content_date = None
                observed_at = observed_at_for(ctx, content_date, src.path)
                yield from _json_elements(stream, ctx, json_source_name(metadata), observed_at, tas)
            elif key == "nonfunc_cas" and stream.peek() == "[":
                try:
                    content_date = metadata_date(metadata)
                except VrpError:
                    content_date = None  # the roas array reports it (or --observed-at dates the file)
                nonfunc_at = observed_at_for(ctx, content_date, src.path)
                yield from _nonfunc_elements(stream, ctx, json_source_name(metadata), nonfunc_at, tas)
            elif key == "aspas" and stream.peek() == "[":
                try:
                    content_date = metadata_date(metadata)
                except VrpError:
                    content_date = None  # the roas array reports it (or --observed-at dates the file)
                source = json_source_name(metadata)
                aspa_at = observed_at_for(ctx, content_date, src.path)
                yield from _aspa_elements(stream, ctx, source, aspa_at)
                # the array lists every ASPA of the export: an empty one withdraws the older ones
                yield ScopeSeen("aspa", source, source, aspa_at)
            else:  # bgpsec_keys...: not VRPs
                stream.read_past(key)
    except JsonLayoutError as exc:
        if not found_roas:
            raise SourceError(f"{ctx.reference}:{exc.line}: not a VRP export: {exc.reason}") from None
        # the VRPs before the break stand alone and were published; the file still failed
        raise SourceError(f"{ctx.reference}:{exc.line}: broken JSON: {exc.reason}; the VRPs before line {exc.line} were published") from None
    if not found_roas:
        raise SourceError(f"{ctx.reference}: not a VRP export: JSON without a 'roas' array")
    if nonfunc_at is not None:
        # the export lists every non-functional CA: a trust anchor it names without one has none (an empty snapshot)
        for ta in sorted(tas):
            yield ScopeSeen("nonfunctional_ca", ta, json_source_name(metadata), nonfunc_at)


def nonfunctional_ca_fields(item: Any) -> dict[str, Any]:
    """The checked fields of a NonfunctionalCa event from one element of rpki-client's
    ``nonfunc_cas`` array. Raises :class:`VrpError`."""
    if not isinstance(item, dict):
        raise VrpError(f"not a CA object: {type(item).__name__} in the nonfunc_cas array")
    fields: dict[str, Any] = {}
    for ours, theirs, required in (("ta", "ta", True), ("location", "location", True), ("ca_repository", "caRepository", True),
                                   ("manifest", "rpkiManifest", False), ("ski", "ski", False)):
        value = item.get(theirs)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                raise VrpError(f"non-functional CA without {theirs!r}")
            continue
        if not isinstance(value, str):
            raise VrpError(f"non-functional CA {theirs!r}: {_short(value)} is not text")
        bad = bad_text(value)
        if bad:
            raise VrpError(f"{bad} (non-functional CA {theirs!r})")
        fields[ours] = value.strip()
    return fields


def _parsed(stream: JsonObjectStream, ctx: ParseContext, parse: Callable[[Any], T]) -> Iterator[tuple[int, T] | Reject]:
    """Each element of ``stream`` as ``(line, parse(element))``, or the :class:`Reject` of an element
    that is not JSON or that ``parse`` refuses (:class:`VrpError`)."""
    for element in stream.elements():
        if isinstance(element, BadElement):
            yield Reject(ctx.reference, element.line, element.reason, element.raw)
            continue
        line, item = element
        try:
            yield line, parse(item)
        except VrpError as exc:
            yield Reject(ctx.reference, line, str(exc), _compact(item))


def _nonfunc_elements(stream: JsonObjectStream, ctx: ParseContext, source: str, observed_at: datetime,
                      tas: set[str]) -> Iterator[Event | Reject]:
    for parsed in _parsed(stream, ctx, nonfunctional_ca_fields):
        if isinstance(parsed, Reject):
            yield parsed
            continue
        line, fields = parsed
        tas.add(fields["ta"])
        provenance = Provenance(source=source, reference=ctx.reference, line=line, observed_at=observed_at, ingested_at=ctx.ingested_at)
        yield NonfunctionalCa(provenance=provenance, **fields).with_id()


def _json_elements(stream: JsonObjectStream, ctx: ParseContext, source: str, observed_at: datetime,
                   tas: set[str]) -> Iterator[Event | Reject | Skip]:
    provenances = LineProvenance(source=source, reference=ctx.reference, observed_at=observed_at, ingested_at=ctx.ingested_at)
    for parsed in _parsed(stream, ctx, json_vrp_fields):
        if isinstance(parsed, Reject):
            yield parsed
            continue
        line, fields = parsed
        if fields is None:
            yield SKIP_IPV6
        else:
            tas.add(fields["ta"])
            yield _vrp_event(fields, line, provenances)


def aspa_fields(item: Any) -> tuple[int, tuple[int, ...], datetime | None]:
    """(customer AS, provider ASes, expiry) of an rpki-client ``aspas`` element
    ``{"customer_asid": 64500, "providers": [64510, 64511], "expires": 1753070425}`` (a provider may
    also be written ``{"asid": 64510}``). Raises :class:`VrpError` with the reject reason."""
    if not isinstance(item, dict):
        raise VrpError(f"not an ASPA: {type(item).__name__}, expected a JSON object")
    customer = item.get("customer_asid", item.get("customer"))
    providers = item.get("providers")
    if not isinstance(customer, (int, str)) or not isinstance(providers, list):
        raise VrpError("not an ASPA: expected 'customer_asid' and a 'providers' list")
    try:
        customer_asn = parse_asn(customer)
        found: dict[int, None] = {}
        for provider in providers:
            value = provider.get("asid") if isinstance(provider, dict) else provider
            if not isinstance(value, (int, str)):
                raise ValueError(f"not an AS number: provider {_compact(provider)[:40]}")
            found[parse_asn(value)] = None
    except ValueError as exc:
        raise VrpError(f"bad ASPA: {exc}") from None
    if customer_asn in found:
        raise VrpError(f"bad ASPA: AS{customer_asn} names itself as its provider")
    expires = item.get("expires")
    return customer_asn, tuple(sorted(found)), None if expires is None else parse_timestamp(expires)


def _aspa_elements(stream: JsonObjectStream, ctx: ParseContext, source: str, observed_at: datetime) -> Iterator[Event | Reject | Skip]:
    for parsed in _parsed(stream, ctx, aspa_fields):
        if isinstance(parsed, Reject):
            yield parsed
            continue
        line, (customer, providers, expires) = parsed
        provenance = Provenance(source=source, reference=ctx.reference, line=line, observed_at=observed_at, ingested_at=ctx.ingested_at)
        yield Aspa(customer_asn=customer, providers=providers, expires=expires, provenance=provenance).with_id()


def _compact(item: Any) -> str:
    """The element as one line of JSON, for a reject's raw text."""
    try:
        return json.dumps(item, separators=(",", ":"), ensure_ascii=False)[:300]
    except (TypeError, ValueError):
        return repr(item)[:300]


def csv_columns(header: list[str]) -> dict[str, int]:
    """Our field name -> column index, from a VRP CSV header. Raises ``ValueError`` naming what is
    missing when ASN, IP Prefix or Max Length is absent, or neither Trust Anchor nor URI is there."""
    names = [name.strip().strip('"').strip().lower() for name in header]
    repeated = sorted({name for name in names if name and names.count(name) > 1})
    if repeated:  # with a repeated column one of them would silently win
        raise ValueError(f"VRP CSV header names column(s) {', '.join(repeated)} more than once")
    columns = {ours: names.index(theirs) for ours, aliases in _CSV_COLUMNS.items() for theirs in aliases if theirs in names}
    missing = [name for name in ("asn", "prefix", "max_length") if name not in columns]
    if missing or ("ta" not in columns and "uri" not in columns):
        raise ValueError(
            f"unknown VRP CSV header {','.join(header)!r}: expected 'ASN,IP Prefix,Max Length,Trust Anchor' "
            "(Routinator) or 'URI,ASN,IP Prefix,Max Length,Not Before,Not After' (RIPE validator)"
        )
    return columns


def _parse_csv(src: SourceFile, ctx: ParseContext) -> Iterator[Event | Reject | Skip]:
    columns: dict[str, int] | None = None
    observed_at = observed_at_for(ctx, None, src.path)
    provenances: LineProvenance | None = None
    width = 0
    for number, line in src.lines():
        if not line.strip():
            continue
        try:
            row = next(csv.reader([line]), [])
        except csv.Error as exc:  # a field over the csv module's limit, a NUL: this row only
            yield Reject(ctx.reference, number, f"malformed CSV: {exc}", line[:300])
            continue
        if columns is None:
            try:
                columns = csv_columns(row)
            except ValueError as exc:
                raise SourceError(f"{ctx.reference}:{number}: {exc}") from None
            source = "routinator-csv" if "ta" in columns else "rpki-validator-csv"
            provenances = LineProvenance(source=source, reference=ctx.reference, observed_at=observed_at, ingested_at=ctx.ingested_at)
            width = len(row)
            continue
        if len(row) != width:
            yield Reject(ctx.reference, number, f"wrong number of fields: {len(row)}, the header has {width}", line)
            continue
        uri = row[columns["uri"]] if "uri" in columns else None
        ta = row[columns["ta"]] if "ta" in columns else ta_from_uri(uri or "")
        expires = row[columns["expires"]] if "expires" in columns else None
        try:
            fields = vrp_fields(row[columns["prefix"]].strip(), row[columns["asn"]], row[columns["max_length"]], ta, expires, uri)
        except VrpError as exc:
            yield Reject(ctx.reference, number, str(exc), line)
            continue
        assert provenances is not None  # made with the columns
        yield SKIP_IPV6 if fields is None else _vrp_event(fields, number, provenances)
    if columns is None:
        raise SourceError(f"{ctx.reference}: empty file: no VRPs")
