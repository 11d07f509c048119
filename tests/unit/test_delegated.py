"""The delegated worker on synthetic delegated-extended files: every reject reason with its line,
skips, CIDR splitting, dates, and that no input line makes it raise."""
from __future__ import annotations

import os
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainrisk.ingest import delegated
from chainrisk.ingest.common import ParseContext, Reject, SourceError, SourceFile
from chainrisk.ingest.events import Delegation, Provenance

HEADER = "2.3|test|20240102|9|19700101|20240101|+0000"
DAY = datetime(2024, 1, 1, tzinfo=timezone.utc)  # the header's end date


def _write(directory: Path, text: str, name: str = "delegated-test-extended.txt") -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def test_every_reject_reason_names_its_line(tmp_path: Path, ingest_file) -> None:
    path = _write(tmp_path, "\n".join([
        "# a comment",
        HEADER,
        "test|*|ipv4|*|9|summary",
        "test|ZZ|ipv4|10.0.0.0|256|20200101|allocated|ID1",
        "test|ZZ|ipv4|10.0.1.0|0|20200101|allocated|ID1",
        "test|ZZ|ipv4|10.0.1.x|256|20200101|allocated|ID1",
        "test|ZZ|ipv4|10.0.2.0|256|20201301|allocated|ID1",
        "test|ZZ|ipv4|10.0.3.0|256|20200101|leased|ID1",
        "test|ZZ|ipv4|10.0.4.0|256",
        "test|ZZ|ipx|10.0.5.0|256|20200101|allocated|ID1",
        "test|ZZ|ipv4|255.255.255.0|512|20200101|allocated|ID1",
        "test|ZZ|ipv4|10.0.6.0|many|20200101|allocated|ID1",
        "test|ZZ|ipv4|2001:db8::|256|20200101|allocated|ID1",
        "test|ZZ|ipv4|10.0.7.0|256|2020-01-01|assigned|ID2",
        "test|NL|ipv4|10.0.8.0|256|20200102|assigned|ID2",
    ]) + "\n")
    items = ingest_file(delegated.parse, path)
    rejects = [(i.line, i.reason) for i in items if isinstance(i, Reject)]
    assert rejects == [
        (5, "bad address count: '0' is not a positive whole number"),
        (6, "not valid IPv4 address: '10.0.1.x'"),
        (7, "bad date: '20201301' is not a calendar date"),
        (8, "unknown status: 'leased' (expected one of allocated, assigned, available, reserved)"),
        (9, "too few fields: 5, expected registry|cc|type|start|value|date|status[|opaque-id]"),
        (10, "unknown record type: 'ipx' (expected ipv4, ipv6 or asn)"),
        (11, "bad address count: 255.255.255.0 + 512 addresses runs past 255.255.255.255"),
        (12, "bad address count: 'many' is not a positive whole number"),
        (13, "IPv6 is out of scope: chainrisk analyses IPv4 leases"),
        (14, "bad date: '2020-01-01' is not YYYYMMDD"),
    ]
    assert all(i.file == str(path) and i.raw for i in items if isinstance(i, Reject))
    events = [i for i in items if isinstance(i, Delegation)]
    assert [(e.provenance.line, e.block, e.holder_id, e.country) for e in events] == [(4, "10.0.0.0/24", "ID1", "ZZ"), (15, "10.0.8.0/24", "ID2", "NL")]


def test_records_events_and_skips(tmp_path: Path, ingest_file) -> None:
    path = _write(tmp_path, "\n".join([
        HEADER,
        "test|*|asn|*|1|summary",
        "test|NL|asn|64500|1|20200101|allocated|ID1",
        "test|NL|ipv6|2001:db8::|32|20200101|allocated|ID1",
        "test|NL|ipv4|192.0.2.0|256|20200101|allocated|ID1|e-stats",
        "test||ipv4|198.51.100.0|768|00000000|available|",
        "test|ZZ|ipv4|203.0.113.0|256||reserved|",
        "test|NL|ipv4|203.0.114.0|256|20200101|ASSIGNED|",
        "test|NL|ipv4|203.0.115.0|256|20200101|allocated",
    ]) + "\n")
    items = ingest_file(delegated.parse, path)

    def event(line: int, block: str, **fields: object) -> Delegation:
        provenance = Provenance(source=delegated.SOURCE, reference=str(path), line=line, observed_at=DAY, ingested_at=ingest_file.ingested_at)
        return Delegation(block=block, registry="test", provenance=provenance, **fields).with_id()  # type: ignore[arg-type]

    assert items == [
        delegated.SKIP_ASN,
        delegated.SKIP_IPV6,
        event(5, "192.0.2.0/24", country="NL", status="allocated", holder_id="ID1", registered=date(2020, 1, 1)),
        # 768 addresses = a /23 and a /24, both naming the record's own range
        event(6, "198.51.100.0/23", status="available", range_start="198.51.100.0", range_size=768),
        event(6, "198.51.102.0/24", status="available", range_start="198.51.100.0", range_size=768),
        event(7, "203.0.113.0/24", country="ZZ", status="reserved"),
        event(8, "203.0.114.0/24", country="NL", status="assigned", registered=date(2020, 1, 1)),  # empty opaque id
        event(9, "203.0.115.0/24", country="NL", status="allocated", registered=date(2020, 1, 1)),  # plain stats: no opaque id
    ]


def test_header_date_and_override(tmp_path: Path, ingest_file) -> None:
    path = _write(tmp_path, "2|ripencc|1366322399|1|19830705|20130418|+0200\nripencc|FR|ipv4|2.0.0.0|256|20100712|allocated\n")
    (event,) = ingest_file(delegated.parse, path)
    assert event.provenance.observed_at == datetime(2013, 4, 18, tzinfo=timezone.utc)  # end date; the serial is a unix time
    override = datetime(2020, 5, 6, tzinfo=timezone.utc)
    (event,) = ingest_file(delegated.parse, path, observed_at=override)
    assert event.provenance.observed_at == override


def test_file_without_header_is_dated_by_its_name_or_mtime(tmp_path: Path, ingest_file) -> None:
    row = "test|NL|ipv4|192.0.2.0|256|20200101|allocated|ID1\n"
    named = _write(tmp_path, row, name="delegated-test-20221231.txt")
    assert ingest_file(delegated.parse, named)[0].provenance.observed_at == datetime(2022, 12, 31, tzinfo=timezone.utc)
    unnamed = _write(tmp_path, row, name="delegated-test.txt")
    os.utime(unnamed, (1_600_000_000, 1_600_000_000))
    assert ingest_file(delegated.parse, unnamed)[0].provenance.observed_at == datetime.fromtimestamp(1_600_000_000, tz=timezone.utc)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty file"),
        ("# only a comment\n", "empty file"),
        ("prefix,holder\n192.0.2.0/24,x\n", ":1: not RIR delegated statistics"),
    ],
)
def test_unknown_format_is_a_source_error(tmp_path: Path, ingest_file, text: str, message: str) -> None:
    with pytest.raises(SourceError, match=message):
        ingest_file(delegated.parse, _write(tmp_path, text))


def test_reingest_gives_the_same_ids(tmp_path: Path) -> None:
    path = _write(tmp_path, f"{HEADER}\ntest|NL|ipv4|192.0.2.0|768|20200101|allocated|ID1\n")

    def ids(ingested_at: datetime) -> list[str]:
        with SourceFile(path) as src:
            return [e.event_id for e in delegated.parse(src, ParseContext(reference=str(path), ingested_at=ingested_at))]

    assert ids(datetime(2026, 1, 1, tzinfo=timezone.utc)) == ids(datetime(2026, 2, 1, tzinfo=timezone.utc))
    assert len(set(ids(datetime(2026, 1, 1, tzinfo=timezone.utc)))) == 2


# --- no input line makes the parser raise -----------------------------------------------------------

FRAGMENTS = st.sampled_from(["test", "*", "ZZ", "ipv4", "ipv6", "asn", "10.0.0.0", "255.255.255.255", "0", "256", "768",
                             "4294967296", "20200101", "00000000", "", "allocated", "reserved", "summary", "ID1", "-1", "1e3"])
RECORD_LINES = st.lists(st.one_of(FRAGMENTS, st.text(max_size=12)), max_size=10).map("|".join)
ANY_LINES = st.lists(st.one_of(RECORD_LINES, st.text(max_size=60)), max_size=8)


@settings(max_examples=150, deadline=None)
@given(lines=ANY_LINES)
def test_no_line_makes_it_raise(tmp_path_factory: pytest.TempPathFactory, lines: list[str]) -> None:
    path = _write(tmp_path_factory.getbasetemp(), HEADER + "\n" + "\n".join(lines) + "\n", name="delegated-fuzz.txt")
    with SourceFile(path) as src:
        for item in delegated.parse(src, ParseContext(reference=str(path), ingested_at=DAY)):
            assert isinstance(item, (Delegation, Reject)) or item in (delegated.SKIP_ASN, delegated.SKIP_IPV6)
