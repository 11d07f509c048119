"""The pfx2as worker against the real CAIDA Routeviews prefix2as file (all ~1M lines) and the iptoasn
excerpt in pfx2as_bgp/."""
from __future__ import annotations

import gzip
import ipaddress
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from ipaddress import IPv4Network
from pathlib import Path

import pytest

from chainrisk.ingest import pfx2as
from chainrisk.ingest.common import ParseContext, Reject, Skip, SourceError, SourceFile
from chainrisk.ingest.events import Provenance, RouteOrigin

FULL_FILE = "pfx2as_bgp/routeviews-rv2-20240406.pfx2as.gz"
INGESTED_AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)  # as the ingest_file fixture stamps it
IPXO_BROKERED = IPv4Network("191.96.0.0/16")  # SOURCES.md: a leased-out block with many lessees
KNOWN_LINES = {17022: "8.8.8.0/24", 192667: "67.14.0.0/17", 340973: "103.20.204.0/22", 1: "1.0.0.0/24"}


def _origin(path: Path, source: str, line: int, observed_at: datetime, block: str, origins: tuple[int, ...],
            as_sets: tuple[str, ...] = ()) -> RouteOrigin:
    provenance = Provenance(source=source, reference=str(path), line=line, observed_at=observed_at, ingested_at=INGESTED_AT)
    return RouteOrigin(block=block, origins=origins, as_sets=as_sets, provenance=provenance).with_id()


@dataclass
class Tally:
    events: int = 0
    rejects: list[Reject] = field(default_factory=list)
    skipped: int = 0
    multi_origin: int = 0
    as_set_routes: int = 0  # routes whose AS path ends in an AS_SET (origin NONE)
    as_set_prefixes: int = 0  # prefixes with at least one such route
    only_as_sets: int = 0  # prefixes seen only through AS_SET routes
    lines_seen: set[int] = field(default_factory=set)
    known: dict[int, RouteOrigin] = field(default_factory=dict)
    ipxo_origins: Counter[int] = field(default_factory=Counter)
    ipxo_blocks: int = 0
    observed: set[datetime] = field(default_factory=set)


@pytest.fixture(scope="module")
def full_file(real_sample) -> tuple[Path, Tally]:
    """One streaming pass over the whole file; events are tallied, not kept (there are ~1M)."""
    path = real_sample(FULL_FILE)
    tally = Tally()
    with SourceFile(path) as src:
        for item in pfx2as.parse(src, ParseContext(reference=str(path), ingested_at=INGESTED_AT)):
            if isinstance(item, Reject):
                tally.rejects.append(item)
            elif isinstance(item, Skip):
                tally.skipped += 1
            else:
                tally.events += 1
                tally.multi_origin += len(set(item.origins) | {a for s in item.as_sets for a in s.split(",")}) > 1 if item.as_sets \
                    else len(item.origins) > 1
                tally.as_set_routes += len(item.as_sets)
                tally.as_set_prefixes += bool(item.as_sets)
                tally.only_as_sets += bool(item.as_sets) and not item.origins
                tally.observed.add(item.provenance.observed_at)
                if item.provenance.line in KNOWN_LINES:
                    tally.known[item.provenance.line] = item
                if item.block.startswith("191.96.") and IPv4Network(item.block).subnet_of(IPXO_BROKERED):
                    tally.ipxo_blocks += 1
                    tally.ipxo_origins.update(item.origins)
    return path, tally


def _raw_lines(path: Path) -> tuple[int, int]:
    """(lines, lines naming more than one distinct origin AS) read directly with gzip and a regex."""
    lines = multi = 0
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for lines, line in enumerate(handle, start=1):  # noqa: B007 - the count is the point
            origins = line.rstrip("\n").split("\t")[2]
            multi += len(set(re.split("[_,]", origins))) > 1
    return lines, multi


@pytest.mark.slow
def test_every_line_is_an_event_or_a_reject(full_file) -> None:
    path, tally = full_file
    lines, multi = _raw_lines(path)
    assert tally.events + len(tally.rejects) + tally.skipped == lines == 998042
    assert (tally.events, len(tally.rejects), tally.skipped) == (998042, 0, 0)
    assert tally.multi_origin == multi == 5045  # MOAS ('_') or AS-set (',') lines with 2+ distinct ASes
    assert tally.observed == {datetime(2024, 4, 6, tzinfo=timezone.utc)}  # from the file name


@pytest.mark.slow
def test_known_lines(full_file) -> None:
    path, tally = full_file
    day = datetime(2024, 4, 6, tzinfo=timezone.utc)
    assert tally.known == {
        1: _origin(path, pfx2as.SOURCE, 1, day, "1.0.0.0/24", (13335,)),
        17022: _origin(path, pfx2as.SOURCE, 17022, day, "8.8.8.0/24", (15169,)),
        # 209_3356,6223,6224,19901: a route from AS209 and one ending in the AS_SET {3356,6223,6224,19901} (origin NONE)
        192667: _origin(path, pfx2as.SOURCE, 192667, day, "67.14.0.0/17", (209,), ("3356,6223,6224,19901",)),
        # 45458,134240_45458,65000,134240: two AS_SET routes and no origin at all
        340973: _origin(path, pfx2as.SOURCE, 340973, day, "103.20.204.0/22", (), ("45458,134240", "45458,65000,134240")),
    }


def _raw_as_sets(path: Path) -> tuple[int, int, int]:
    """(AS_SET routes, prefixes with one, prefixes with nothing else) over the IPv4 lines, read
    directly: an AS_SET route is a '_'-separated element of the origin field holding a comma."""
    routes = prefixes = only = 0
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            address, _, origins = line.rstrip("\n").split("\t")
            if ":" in address:
                continue
            elements = set(origins.split("_"))
            sets = {e for e in elements if "," in e}
            routes += len({",".join(dict.fromkeys(e.split(","))) for e in sets})
            prefixes += bool(sets)
            only += bool(sets) and sets == elements
    return routes, prefixes, only


@pytest.mark.slow
def test_as_set_routes_have_origin_none(full_file, capsys) -> None:
    """RFC 6811: a route whose AS path ends in an AS_SET has origin NONE - the worker keeps it apart
    from the origins; the counts agree with a direct reading of the file."""
    path, tally = full_file
    with capsys.disabled():
        print(f"\n  real pfx2as of 2024-04-06: {tally.as_set_routes:,} AS_SET routes on {tally.as_set_prefixes:,} prefixes "
              f"({tally.only_as_sets:,} seen only through AS sets), of {tally.events:,} prefixes")
    assert (tally.as_set_routes, tally.as_set_prefixes, tally.only_as_sets) == _raw_as_sets(path)
    assert tally.as_set_routes > 0 and tally.only_as_sets < tally.as_set_prefixes


@pytest.mark.slow
def test_brokered_block_has_many_lessee_origins(full_file) -> None:
    """SOURCES.md: 191.96.0.0/16 (holder Cyber Assets, broker IPXO) is announced as /24s by many ASes."""
    _, tally = full_file
    assert {61317, 47583, 211439, 212238, 64267, 834} <= set(tally.ipxo_origins)
    assert tally.ipxo_blocks > 100 and len(tally.ipxo_origins) > 20


def test_iptoasn_ranges_become_cidrs(real_sample, ingest_file) -> None:
    path = real_sample("pfx2as_bgp/iptoasn_ip2asn-v4_excerpt.tsv")
    items = ingest_file(pfx2as.parse, path, observed_at=datetime(2024, 1, 1, tzinfo=timezone.utc))
    events = [i for i in items if isinstance(i, RouteOrigin)]
    # independent: every line's range summarised with the standard library
    expected_blocks = []
    for line in path.read_text(encoding="utf-8").splitlines():
        start, end, asn = line.split("\t")[:3]
        assert asn != "0"  # the excerpt has no unrouted range
        expected_blocks += [str(n) for n in ipaddress.summarize_address_range(ipaddress.IPv4Address(start), ipaddress.IPv4Address(end))]
    assert len(items) == len(events) == len(expected_blocks) == 1587
    assert [e.block for e in events] == expected_blocks
    day = datetime(2024, 1, 1, tzinfo=timezone.utc)
    assert events[:3] == [
        _origin(path, pfx2as.IPTOASN_SOURCE, 1, day, "1.1.1.0/32", (13335,)),
        _origin(path, pfx2as.IPTOASN_SOURCE, 2, day, "1.1.1.1/32", (7497,)),
        _origin(path, pfx2as.IPTOASN_SOURCE, 3, day, "1.1.1.2/31", (13335,)),
    ]
    third_line = [e.block for e in events if e.provenance.line == 3]  # 1.1.1.2 - 1.1.1.255
    assert third_line == ["1.1.1.2/31", "1.1.1.4/30", "1.1.1.8/29", "1.1.1.16/28", "1.1.1.32/27", "1.1.1.64/26", "1.1.1.128/25"]


def test_bgpdump_file_is_an_unknown_format(real_sample, ingest_file) -> None:
    path = real_sample("pfx2as_bgp/bgpdump_tabledump2_excerpt_20170112.txt")
    with pytest.raises(SourceError, match=r":1: not a prefix-to-AS file"):
        ingest_file(pfx2as.parse, path)
