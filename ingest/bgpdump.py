"""BGP routes with their AS paths -> :class:`AsPath` events, from ``bgpdump -m`` output of an MRT RIB dump.

``bgpdump -m`` writes one route per line, ``|``-separated (RouteViews / RIPE RIS ``bview``/``rib`` files)::

    TABLE_DUMP2|1484208004|B|208.51.134.248|3549|177.137.216.0/22|3549 28347 263444 263087|IGP|208.51.134.248|0|14220|3549:4831||NAG||

fields: type, unix time, ``B``, the collector peer's IP and AS, the prefix, the AS path (the peer
first, the origin last), origin, next hop, local pref, MED, communities, atomic aggregate,
aggregator. ``TABLE_DUMP`` (MRT v1) lines have the same layout. Each route is one event (identity:
prefix, peer IP, peer AS), dated by its own time (UTC; ``--observed-at`` overrides).

Skipped (counted, not rejected): IPv6 prefixes; ``BGP4MP`` update/withdraw lines (only RIB entries
say what is routed now); paths with an AS_SET (``{64500,64501}``, RFC 6472 deprecates them and ASPA
verification finds such a path Invalid) or an AS_CONFED segment; an empty path (the peer's own route).
Rejected with ``file:line: reason``: too few fields, a time or peer address or prefix that is not one,
a path element that is not an AS number, AS 0 in the path (RFC 7607), a NUL or undecodable byte.

A file is a full snapshot of its source (``bgpdump``): what a newer complete dump lacks is retracted;
ingest an excerpt with ``--no-snapshot``.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from datetime import datetime, timezone

from chainrisk.ingest.common import ParseContext, Reject, Skip, SourceError, SourceFile, bad_text
from chainrisk.ingest.events import AsPath, Event, Provenance
from chainrisk.ingest.prefixes import IPV6_OUT_OF_SCOPE, canonical_ipv4_prefix, parse_asn

SOURCE = "bgpdump"
DESCRIPTION = "BGP RIB entries with AS paths: `bgpdump -m` TABLE_DUMP2 lines of an MRT RIB dump"
# a file is a full snapshot (ingest/snapshots.py): what a newer complete file lacks is retracted, unless --no-snapshot
SNAPSHOT = True

RIB_TYPES = frozenset({"TABLE_DUMP2", "TABLE_DUMP"})
SKIP_IPV6 = Skip(IPV6_OUT_OF_SCOPE)
SKIP_UPDATE = Skip("BGP4MP update or withdrawal, not a RIB entry")
SKIP_AS_SET = Skip("AS_SET or AS_CONFED segment in the AS path (RFC 6472)")
SKIP_EMPTY_PATH = Skip("empty AS path (the collector peer's own route)")
MIN_FIELDS = 7  # type .. AS path


def as_path(text: str) -> tuple[int, ...] | Skip:
    """The AS numbers of a ``bgpdump -m`` AS path (``"3549 28347 263087 263087"``), prepends kept;
    :data:`SKIP_AS_SET` for a path with a set or confederation segment, :data:`SKIP_EMPTY_PATH` for
    none. Raises ``ValueError`` with the reject reason."""
    tokens = text.split()
    if not tokens:
        return SKIP_EMPTY_PATH
    if any(t[0] in "{([" for t in tokens):
        return SKIP_AS_SET
    path = []
    for token in tokens:
        try:
            asn = parse_asn(token)
        except ValueError as exc:
            raise ValueError(f"bad AS path: {exc}") from None
        if asn == 0:
            raise ValueError("bad AS path: AS 0 in the path (RFC 7607: a route carrying it is malformed)")
        path.append(asn)
    return tuple(path)


def rib_entry(fields: list[str]) -> tuple[datetime, str, int, str, tuple[int, ...]] | Skip:
    """(time, peer IP, peer AS, prefix, path) of one ``bgpdump -m`` line split on ``|``, or a Skip.
    Raises ``ValueError`` with the reject reason."""
    if len(fields) < MIN_FIELDS:
        raise ValueError(f"wrong number of fields: {len(fields)}, expected at least {MIN_FIELDS} "
                         "(TABLE_DUMP2|time|B|peer IP|peer AS|prefix|AS path|...)")
    kind, stamp, _, peer_ip, peer_as, prefix, path_text = (f.strip() for f in fields[:MIN_FIELDS])
    if kind.startswith("BGP4MP"):
        return SKIP_UPDATE
    if kind not in RIB_TYPES:
        raise ValueError(f"not a RIB entry: type {kind[:40]!r}, expected TABLE_DUMP2")
    if ":" in prefix:
        return SKIP_IPV6
    if not stamp.isascii() or not stamp.isdigit():
        raise ValueError(f"bad time: {stamp[:40]!r} is not a unix time")
    try:
        when = datetime.fromtimestamp(int(stamp), tz=timezone.utc)
    except (ValueError, OverflowError, OSError):
        raise ValueError(f"bad time: {stamp[:40]!r} is not a unix time") from None
    try:
        peer = str(ipaddress.ip_address(peer_ip))
    except ValueError:
        raise ValueError(f"bad peer address: {peer_ip[:40]!r} is not an IP address") from None
    try:
        peer_asn = parse_asn(peer_as)
    except ValueError as exc:
        raise ValueError(f"bad peer AS: {exc}") from None
    block = canonical_ipv4_prefix(prefix)
    path = as_path(path_text)
    if isinstance(path, Skip):
        return path
    return when, peer, peer_asn, block, path


def parse(src: SourceFile, ctx: ParseContext) -> Iterator[Event | Reject | Skip]:
    """AsPath events for every IPv4 RIB entry of one ``bgpdump -m`` file."""
    seen_data = False
    for number, line in src.lines():
        if not line.strip():
            continue
        fields = line.split("|")
        if not seen_data:
            head = fields[0].strip().lstrip("\ufeff")
            if len(fields) < MIN_FIELDS or not (head in RIB_TYPES or head.startswith("BGP4MP")):
                raise SourceError(f"{ctx.reference}:{number}: not a `bgpdump -m` file: expected 'TABLE_DUMP2|time|B|peer IP|peer AS|prefix|AS path|...'")
            seen_data = True
        try:
            bad = bad_text(line)
            if bad:
                raise ValueError(bad)
            entry = rib_entry(fields)
        except ValueError as exc:
            yield Reject(ctx.reference, number, str(exc), line)
            continue
        if isinstance(entry, Skip):
            yield entry
            continue
        when, peer_ip, peer_asn, block, path = entry
        provenance = Provenance(source=SOURCE, reference=ctx.reference, line=number, observed_at=ctx.observed_at or when,
                                ingested_at=ctx.ingested_at)
        yield AsPath(block=block, peer_ip=peer_ip, peer_asn=peer_asn, path=path, provenance=provenance).with_id()
    if not seen_data:
        raise SourceError(f"{ctx.reference}: empty file: no `bgpdump -m` lines")
