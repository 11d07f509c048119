"""Origins seen in BGP -> :class:`RouteOrigin` events, from CAIDA Routeviews prefix2as or iptoasn.

Two tab-separated formats, told apart by the first data line:

* CAIDA Routeviews prefix-to-AS (``routeviews-rv2-YYYYMMDD-HHMM.pfx2as.gz``)::

      1.0.0.0<TAB>24<TAB>13335
      67.14.0.0<TAB>17<TAB>209_3356,6223,6224,19901

  The origin field lists the routes' origins: ``_`` separates the routes of a multi-origin prefix
  (MOAS), ``,`` the members of an AS set (one route whose AS path ends in an AS_SET). A route with
  one origin AS puts it in ``origins`` (in order of first appearance, each AS once); an AS set goes
  to ``as_sets`` as written (``"3356,6223"``, each set once): RFC 6811 gives such a route origin
  NONE, so none of its members is an origin of the prefix.
* iptoasn ``ip2asn-v4.tsv``: ``range_start<TAB>range_end<TAB>AS<TAB>country<TAB>description``.
  A range is split into the fewest CIDRs, one event each with ``origins=(AS,)``; AS 0 marks a range
  not routed and is yielded as :class:`Skip`.

IPv6 lines (routeviews6 / ip2asn-combined) are skipped. ``observed_at`` (the BGP observation date,
shown by ``report block`` as ``bgp_observed_at``) is ``ctx.observed_at`` (``--observed-at``), else
the date and time in a CAIDA file name (``routeviews-rv2-20240406-1200.pfx2as.gz`` -> 2024-04-06
12:00 UTC; without ``-HHMM`` midnight), else any ``YYYYMMDD`` in the name, else the file's mtime.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

from chainrisk.ingest.common import ParseContext, Reject, Skip, SourceError, SourceFile, bad_text, observed_at_for
from chainrisk.ingest.events import (
    CANONICAL_IPV4_ADDRESS,
    CANONICAL_PREFIX_LENGTH,
    Event,
    LineProvenance,
    as_set_text,
    checked_route_origin,
    host_bits_clear,
)
from chainrisk.ingest.prefixes import IPV6_OUT_OF_SCOPE, canonical_ipv4_prefix, parse_asn, range_to_cidrs

SOURCE = "caida-pfx2as"
IPTOASN_SOURCE = "iptoasn"
DESCRIPTION = "CAIDA Routeviews prefix-to-AS (and iptoasn ip2asn TSV): origin ASes seen in BGP"
# a file is a full snapshot (ingest/snapshots.py): what a newer complete file lacks is retracted, unless --no-snapshot
SNAPSHOT = True

SKIP_IPV6 = Skip(IPV6_OUT_OF_SCOPE)
SKIP_NOT_ROUTED = Skip("not routed (AS 0 in iptoasn)")


# the shape of nearly every CAIDA line: a canonical prefix and AS numbers joined by '_' and ','. Such a
# line is read straight from the match; any other goes through pfx2as_origin, which says what is wrong
_CAIDA_LINE = re.compile(rf"({CANONICAL_IPV4_ADDRESS})\t({CANONICAL_PREFIX_LENGTH})\t([0-9][0-9_,]*)")
_NO_LINE = re.compile(r"(?!)")  # matches nothing: before the format is known, and in iptoasn files
_ROUTEVIEWS_NAME = re.compile(r"routeviews-rv[26]-(\d{8})-(\d{4})\.pfx2as")


def routeviews_time(path: Path) -> datetime | None:
    """The RIB time a CAIDA file name states (``routeviews-rv2-YYYYMMDD-HHMM.pfx2as[.gz]``), UTC, or
    None for a name without one. Raises :class:`SourceError` for a time that is not one (``-2575``)."""
    match = _ROUTEVIEWS_NAME.search(path.name)
    if match is None:
        return None
    day, hhmm = match.groups()
    try:
        return datetime.strptime(day + hhmm, "%Y%m%d%H%M").replace(tzinfo=timezone.utc)
    except ValueError:
        raise SourceError(f"{path}: impossible date in the file name: {day}-{hhmm} is not a date and time "
                          "(rename the file or give the date with --observed-at)") from None


@lru_cache(maxsize=1 << 14)  # a file repeats the same origin fields (one AS originates many prefixes)
def parse_origins(text: str) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """(origin ASes, AS sets) of a prefix2as origin field, each once, in order of first appearance:
    ``"209_3356,6223"`` -> ((209,), ("3356,6223",)). Whatever has a comma is an AS set, even one
    that names one AS twice (``"64500,64500"`` -> ``"64500"``). Raises ``ValueError`` with the reject reason."""
    origins: dict[int, None] = {}
    as_sets: dict[str, None] = {}
    for moas_member in text.strip().split("_"):
        members: dict[int, None] = {}
        for as_set_member in moas_member.split(","):
            if not as_set_member.strip():
                raise ValueError(f"not an AS number: empty origin in {text.strip()!r}")
            members[parse_asn(as_set_member)] = None
        if "," not in moas_member:
            origins.update(members)
        else:
            as_sets[as_set_text(tuple(members))] = None
    return tuple(origins), tuple(as_sets)


Parsed = tuple[list[str], tuple[int, ...], tuple[str, ...]]  # (CIDR blocks, origin ASes, AS sets) of one line


def pfx2as_origin(fields: list[str]) -> Parsed | Skip:
    """([block], origins) of a prefix2as line split on tabs; :data:`SKIP_IPV6` for an IPv6 prefix.
    Raises ``ValueError`` with the reject reason."""
    if len(fields) != 3:
        raise ValueError(f"wrong number of fields: {len(fields)}, expected prefix<TAB>length<TAB>origins")
    address, length, origins = fields
    if ":" in address:
        return SKIP_IPV6
    if not length.strip().isascii() or not length.strip().isdigit():
        raise ValueError(f"not valid IPv4 prefix: length {length.strip()!r} is not a number")
    return [canonical_ipv4_prefix(f"{address.strip()}/{length.strip()}")], *parse_origins(origins)


def iptoasn_origins(fields: list[str]) -> Parsed | Skip:
    """(CIDR blocks of the range, (AS,)) of an ip2asn line split on tabs; :data:`SKIP_IPV6` for an
    IPv6 range, :data:`SKIP_NOT_ROUTED` for AS 0. Raises ``ValueError`` with the reject reason."""
    if len(fields) < 3:
        raise ValueError(f"wrong number of fields: {len(fields)}, expected range_start<TAB>range_end<TAB>AS<TAB>country<TAB>description")
    if ":" in fields[0] or ":" in fields[1]:
        return SKIP_IPV6
    asn = parse_asn(fields[2])
    blocks = [str(block) for block in range_to_cidrs(fields[0], fields[1])]
    return SKIP_NOT_ROUTED if asn == 0 else (blocks, (asn,), ())


def detect_format(fields: list[str]) -> str | None:
    """``"pfx2as"`` or ``"iptoasn"`` from the tab-separated fields of a file's first data line."""
    if len(fields) == 3 and fields[1].strip().isdigit():
        return "pfx2as"
    if len(fields) >= 3 and ("." in fields[1] or ":" in fields[1]):
        return "iptoasn"
    return None


def parse(src: SourceFile, ctx: ParseContext) -> Iterator[Event | Reject | Skip]:
    """RouteOrigin events for every IPv4 line of a prefix2as or ip2asn file."""
    observed_at = observed_at_for(ctx, None if ctx.observed_at else routeviews_time(src.path), src.path)
    read_line = None
    provenances: LineProvenance | None = None
    caida_line = _NO_LINE  # _CAIDA_LINE once the file is known to be CAIDA's
    for number, line in src.lines():
        if (match := caida_line.fullmatch(line)) is not None:  # tested first: nearly every line of a CAIDA file
            address, length, origin_field = match.groups()
            try:
                origins, as_sets = parse_origins(origin_field) if host_bits_clear(address, int(length)) else ((), ())
            except ValueError:
                origins, as_sets = (), ()
            if origins or as_sets:  # else: host bits set or an empty origin; the general path below rejects it
                assert provenances is not None  # made with read_line
                yield checked_route_origin(f"{address}/{length}", origins, as_sets, provenances.at(number), provenances.prefix)
                continue
        if not line or line[0] == "#" or line.isspace():
            continue
        fields = line.split("\t")
        if read_line is None:
            file_format = detect_format(fields)
            if file_format is None:
                raise SourceError(
                    f"{ctx.reference}:{number}: not a prefix-to-AS file: expected 'prefix<TAB>length<TAB>origins' (CAIDA) "
                    "or 'range_start<TAB>range_end<TAB>AS<TAB>country<TAB>description' (iptoasn)"
                )
            read_line, source = (pfx2as_origin, SOURCE) if file_format == "pfx2as" else (iptoasn_origins, IPTOASN_SOURCE)
            provenances = LineProvenance(source=source, reference=ctx.reference, observed_at=observed_at, ingested_at=ctx.ingested_at)
            caida_line = _CAIDA_LINE if read_line is pfx2as_origin else _NO_LINE
        try:
            bad = bad_text(line)
            if bad:
                raise ValueError(bad)
            parsed = read_line(fields)
        except ValueError as exc:
            yield Reject(ctx.reference, number, str(exc), line)
            continue
        if isinstance(parsed, Skip):
            yield parsed
            continue
        blocks, origins, as_sets = parsed
        assert provenances is not None  # made with read_line
        provenance = provenances.at(number)
        for block in blocks:  # canonical prefixes, AS numbers and AS sets: what RouteOrigin's validation checks
            yield checked_route_origin(block, origins, as_sets, provenance, provenances.prefix)
    if read_line is None:
        raise SourceError(f"{ctx.reference}: empty file: no prefix-to-AS lines")
