"""The pfx2as worker on synthetic prefix2as and ip2asn files: every reject reason with its line, origin
parsing (MOAS and AS sets), range splitting, and that no input line makes it raise."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainrisk.ingest import pfx2as
from chainrisk.ingest.common import ParseContext, Reject, SourceError, SourceFile
from chainrisk.ingest.events import Provenance, RouteOrigin

DAY = datetime(2024, 4, 6, tzinfo=timezone.utc)


def _write(directory: Path, lines: list[str], name: str = "routeviews-rv2-20240406.pfx2as") -> Path:
    path = directory / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _rejects(items: list[Any]) -> list[tuple[int | None, str]]:
    return [(i.line, i.reason) for i in items if isinstance(i, Reject)]


def _origin(path: Path, source: str, line: int, ingested_at: datetime, block: str, origins: tuple[int, ...],
            as_sets: tuple[str, ...] = ()) -> RouteOrigin:
    provenance = Provenance(source=source, reference=str(path), line=line, observed_at=DAY, ingested_at=ingested_at)
    return RouteOrigin(block=block, origins=origins, as_sets=as_sets, provenance=provenance).with_id()


@pytest.mark.parametrize(
    ("field", "origins", "as_sets"),
    [("13335", (13335,), ()), ("209_3356,6223,6224,19901", (209,), ("3356,6223,6224,19901",)),
     ("45458,134240_45458,65000,134240", (), ("45458,134240", "45458,65000,134240")), ("64500_64500", (64500,), ()),
     ("64500_64501,64502_64500,64501", (64500,), ("64501,64502", "64500,64501")), ("64500,64500", (), ("64500",))],
)
def test_moas_routes_are_origins_and_as_sets_have_origin_none(field: str, origins: tuple[int, ...], as_sets: tuple[str, ...]) -> None:
    """RFC 6811: a route whose AS path ends in an AS_SET has origin NONE - its members are kept as
    the set, never as origins; each MOAS route ('_') with one AS is one origin."""
    assert pfx2as.parse_origins(field) == (origins, as_sets)


def test_pfx2as_every_reject_reason_names_its_line(tmp_path: Path, ingest_file) -> None:
    path = _write(tmp_path, [
        "192.0.2.0\t24\t64500",
        "192.0.2.1\t24\t64500",
        "192.0.2.0\t33\t64500",
        "192.0.2.0\tx\t64500",
        "192.0.2.0\t24\t64500_ASX",
        "192.0.2.0\t24\t64500,",
        "192.0.2.0\t24",
        "2001:db8::\t32\t64500",
        "198.51.100.0\t22\t64500_64501,64502",
        "300.0.0.0\t8\t64500",
        "198.51.100.0\t24\t4294967296",
    ])
    items = ingest_file(pfx2as.parse, path)
    assert _rejects(items) == [
        (2, "host bits set: 192.0.2.1/24 is not a network address (did you mean 192.0.2.0/24?)"),
        (3, "not valid IPv4 prefix: '192.0.2.0/33'"),
        (4, "not valid IPv4 prefix: length 'x' is not a number"),
        (5, "not an AS number: 'ASX' (expected e.g. 64500 or AS64500)"),
        (6, "not an AS number: empty origin in '64500,'"),
        (7, "wrong number of fields: 2, expected prefix<TAB>length<TAB>origins"),
        (10, "not valid IPv4 prefix: '300.0.0.0/8'"),
        (11, "not an AS number: 4294967296 is outside 0..4294967295"),
    ]
    at = ingest_file.ingested_at
    assert [i for i in items if isinstance(i, RouteOrigin)] == [
        _origin(path, pfx2as.SOURCE, 1, at, "192.0.2.0/24", (64500,)),
        _origin(path, pfx2as.SOURCE, 9, at, "198.51.100.0/22", (64500,), ("64501,64502",)),
    ]
    assert items.count(pfx2as.SKIP_IPV6) == 1


def test_iptoasn_every_reject_reason_names_its_line(tmp_path: Path, ingest_file) -> None:
    path = _write(tmp_path, [
        "192.0.2.0\t192.0.2.255\t64500\tZZ\tTest network",
        "198.51.100.0\t198.51.100.255\t0\tNone\tNot routed",
        "192.0.3.0\t192.0.2.255\t64500\tZZ\tBackwards",
        "192.0.x.0\t192.0.2.255\t64500\tZZ\tBad address",
        "192.0.2.0\t192.0.2.255\tASX\tZZ\tBad AS",
        "2001:db8::\t2001:db8::ffff\t64500\tZZ\tIPv6",
        "203.0.113.0\t203.0.113.255",
        "203.0.113.0\t203.0.113.10\t64501\tZZ\tSplit",
    ], name="ip2asn-v4.tsv")
    items = ingest_file(pfx2as.parse, path, observed_at=DAY)
    assert _rejects(items) == [
        (3, "range end before start: 192.0.2.255 is below 192.0.3.0"),
        (4, "not valid IPv4 address: '192.0.x.0'"),
        (5, "not an AS number: 'ASX' (expected e.g. 64500 or AS64500)"),
        (7, "wrong number of fields: 2, expected range_start<TAB>range_end<TAB>AS<TAB>country<TAB>description"),
    ]
    assert pfx2as.SKIP_NOT_ROUTED in items and pfx2as.SKIP_IPV6 in items
    at = ingest_file.ingested_at
    assert [i for i in items if isinstance(i, RouteOrigin)] == [
        _origin(path, pfx2as.IPTOASN_SOURCE, 1, at, "192.0.2.0/24", (64500,)),
        # 203.0.113.0 - 203.0.113.10 = /29 + /31 + /32
        _origin(path, pfx2as.IPTOASN_SOURCE, 8, at, "203.0.113.0/29", (64501,)),
        _origin(path, pfx2as.IPTOASN_SOURCE, 8, at, "203.0.113.8/31", (64501,)),
        _origin(path, pfx2as.IPTOASN_SOURCE, 8, at, "203.0.113.10/32", (64501,)),
    ]


@pytest.mark.parametrize(("name", "hour", "minute"), [
    ("routeviews-rv2-20240406-1200.pfx2as.gz.txt", 12, 0),  # the RIB time CAIDA names carry
    ("routeviews-rv6-20240406-0815.pfx2as", 8, 15),
    ("routeviews-rv2-20240406.pfx2as", 0, 0),  # a date without a time: midnight
    ("origins-20240406.tsv", 0, 0),  # any YYYYMMDD in the name
])
def test_observed_at_from_the_file_name(tmp_path: Path, ingest_file, name: str, hour: int, minute: int) -> None:
    (event,) = ingest_file(pfx2as.parse, _write(tmp_path, ["192.0.2.0\t24\t64500"], name=name))
    assert event.provenance.observed_at == DAY.replace(hour=hour, minute=minute)


def test_observed_at_option_wins_over_the_file_name(tmp_path: Path) -> None:
    from chainrisk.ingest.common import ParseContext, SourceFile

    path = _write(tmp_path, ["192.0.2.0\t24\t64500"], name="routeviews-rv2-20240406-1200.pfx2as")
    given = datetime(2025, 1, 2, 3, 4, tzinfo=timezone.utc)
    with SourceFile(path) as src:
        (event,) = pfx2as.parse(src, ParseContext(reference=str(path), ingested_at=given, observed_at=given))
    assert event.provenance.observed_at == given


def test_an_impossible_time_in_the_name_fails_the_file(tmp_path: Path, ingest_file) -> None:
    with pytest.raises(SourceError, match="impossible date in the file name: 20240406-2575"):
        ingest_file(pfx2as.parse, _write(tmp_path, ["192.0.2.0\t24\t64500"], name="routeviews-rv2-20240406-2575.pfx2as"))


@pytest.mark.parametrize(("lines", "message"), [([], "empty file"), (["TABLE_DUMP2|1484179200|B|1.2.3.4|1|1.0.0.0/24"], ":1: not a prefix-to-AS file")])
def test_unknown_format_is_a_source_error(tmp_path: Path, ingest_file, lines: list[str], message: str) -> None:
    with pytest.raises(SourceError, match=message):
        ingest_file(pfx2as.parse, _write(tmp_path, lines))


FIELDS = st.one_of(st.text(max_size=12), st.sampled_from(["192.0.2.0", "2001:db8::", "24", "33", "64500", "64500_64501,0", "_", ",", "", "0"]))
LINES = st.lists(st.one_of(st.lists(FIELDS, max_size=6).map("\t".join), st.text(max_size=50)), max_size=8)


@settings(max_examples=150, deadline=None)
@given(first=st.sampled_from(["192.0.2.0\t24\t64500", "192.0.2.0\t192.0.2.255\t64500\tZZ\tx"]), lines=LINES)
def test_no_line_makes_it_raise(tmp_path_factory: pytest.TempPathFactory, first: str, lines: list[str]) -> None:
    path = _write(tmp_path_factory.getbasetemp(), [first, *lines], name="fuzz.pfx2as")
    with SourceFile(path) as src:
        for item in pfx2as.parse(src, ParseContext(reference=str(path), ingested_at=DAY)):
            assert isinstance(item, (RouteOrigin, Reject)) or item in (pfx2as.SKIP_IPV6, pfx2as.SKIP_NOT_ROUTED)
