"""The vrps worker on synthetic exports: every reject reason with its line, every format, streaming
edge cases (truncated, one-line, metadata after roas) and that no input makes it raise."""
from __future__ import annotations

import bz2
import gzip
import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainrisk.ingest import vrps
from chainrisk.ingest.common import ParseContext, Reject, ScopeSeen, SourceError, SourceFile
from chainrisk.ingest.events import Aspa, Provenance, Vrp

BUILT = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
RPKI_CLIENT_HEAD = '{\n\t"metadata": {\n\t\t"buildmachine": "test",\n\t\t"buildtime": "2025-01-02T03:04:05Z"\n\t},\n\t"roas": [\n'
RPKI_CLIENT_TAIL = '\n\t],\n\t"aspas": [\n\t\t{ "customer_asid": 945, "expires": 1, "providers": [ 1299 ] }\n\t]\n}\n'


def _write(directory: Path, text: str, name: str = "vrps.json") -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def _rejects(items: list[Any]) -> list[tuple[int | None, str]]:
    return [(i.line, i.reason) for i in items if isinstance(i, Reject)]


def _events(items: list[Any]) -> list[Vrp]:
    return [i for i in items if isinstance(i, Vrp)]


def _vrp(path: Path, source: str, line: int, observed_at: datetime, ingested_at: datetime, **fields: Any) -> Vrp:
    provenance = Provenance(source=source, reference=str(path), line=line, observed_at=observed_at, ingested_at=ingested_at)
    return Vrp(provenance=provenance, **fields).with_id()


def test_json_every_reject_reason_names_its_line(tmp_path: Path, ingest_file) -> None:
    roas = [
        '{ "asn": 64500, "prefix": "192.0.2.0/24", "maxLength": 24, "ta": "ripe", "expires": 1735787045 },',  # line 7
        '{ "asn": 64500, "prefix": "192.0.2.0/24", "maxLength": 23, "ta": "ripe" },',
        '{ "asn": 64500, "prefix": "192.0.2.0/24", "maxLength": 33, "ta": "ripe" },',
        '{ "asn": "ASX", "prefix": "192.0.2.0/24", "maxLength": 24, "ta": "ripe" },',  # line 10
        '{ "asn": 64500, "prefix": "192.0.2.1/24", "maxLength": 24, "ta": "ripe" },',
        '{ "asn": 64500, "prefix": "192.0.2.0/24", "maxLength": 24 },',
        '{ "asn": 64500, "prefix": "192.0.2.0/24", "maxLength": 24, "ta": "ripe", "expires": "soon" },',
        '{ "asn": 64500, "prefix": "2001:db8::/32", "maxLength": 48, "ta": "ripe" },',
        '{ "asn": 64500, "prefix": "192.0.2.0/24", "maxLength": 24, "ta": "ripe" broken },',  # line 15
        '{ "asn": 4294967296, "prefix": "198.51.100.0/24", "maxLength": 24, "ta": "arin" },',
        '{ "asn": 64500, "prefix": "198.51.100.0/24", "maxLength": "x", "ta": "arin" },',
        '{ "asn": 64500, "prefix": 3325256704, "maxLength": 24, "ta": "arin" },',
        '[ "not", "an", "object" ],',
        '{ "asn": null, "prefix": "198.51.100.0/24", "maxLength": 24, "ta": "arin" },',  # line 20
        '{ "asn": "AS64501", "prefix": "198.51.100.0/24", "maxLength": 24, "ta": "arin" }',
    ]
    path = _write(tmp_path, RPKI_CLIENT_HEAD + "\n".join("\t\t" + r for r in roas) + RPKI_CLIENT_TAIL)
    items = ingest_file(vrps.parse, path)
    assert _rejects(items) == [
        (8, "bad maxLength: 23 is shorter than the prefix length /24"),
        (9, "bad maxLength: 33 is longer than 32"),
        (10, "not an AS number: 'ASX' (expected e.g. 64500 or AS64500)"),
        (11, "host bits set: 192.0.2.1/24 is not a network address (did you mean 192.0.2.0/24?)"),
        (12, "missing trust anchor: no 'ta' (or source 'tal') for this VRP"),
        (13, "bad expires: 'soon' is not a unix time or ISO 8601 date"),
        (15, "invalid JSON: Expecting ',' delimiter"),
        (16, "not an AS number: 4294967296 is outside 0..4294967295"),
        (17, "bad maxLength: 'x' is not a whole number"),
        (18, "not valid IPv4 prefix: 3325256704 is not a prefix string"),
        (19, "not a VRP object: list in the roas array"),
        (20, "not an AS number: None (expected e.g. 64500 or AS64500)"),
    ]
    assert vrps.SKIP_IPV6 in items
    at = ingest_file.ingested_at
    assert _events(items) == [
        _vrp(path, "rpki-client", 7, BUILT, at, block="192.0.2.0/24", max_length=24, asn=64500, ta="ripe",
             expires=datetime.fromtimestamp(1735787045, tz=timezone.utc)),
        _vrp(path, "rpki-client", 21, BUILT, at, block="198.51.100.0/24", max_length=24, asn=64501, ta="arin"),
    ]


def test_routinator_json_and_missing_max_length(tmp_path: Path, ingest_file) -> None:
    text = json.dumps({
        "metadata": {"generated": 1741556754, "generatedTime": "2025-03-09T21:45:54Z"},
        "roas": [{"asn": "AS13335", "prefix": "1.0.0.0/24", "maxLength": 24, "ta": "apnic"},
                 {"asn": "AS64500", "prefix": "192.0.2.0/23", "ta": "ripe"}],
    }, indent=2)
    path = _write(tmp_path, text)
    generated = datetime(2025, 3, 9, 21, 45, 54, tzinfo=timezone.utc)
    at = ingest_file.ingested_at
    assert ingest_file(vrps.parse, path) == [
        _vrp(path, "routinator", 7, generated, at, block="1.0.0.0/24", max_length=24, asn=13335, ta="apnic"),
        _vrp(path, "routinator", 13, generated, at, block="192.0.2.0/23", max_length=23, asn=64500, ta="ripe"),  # RFC 6482 default
    ]


def test_one_line_json_and_bare_array(tmp_path: Path, ingest_file) -> None:
    one_line = _write(tmp_path, '{"roas":[{"asn":1,"prefix":"192.0.2.0/24","maxLength":24,"ta":"x"},'
                                '{"asn":2,"prefix":"192.0.2.0/24","maxLength":24,"ta":"x"}]}', name="one.json")
    os.utime(one_line, (1_700_000_000, 1_700_000_000))
    events = _events(ingest_file(vrps.parse, one_line))
    assert [(e.asn, e.provenance.line, e.provenance.source) for e in events] == [(1, 1, "rpki-json"), (2, 1, "rpki-json")]
    assert {e.provenance.observed_at for e in events} == {datetime.fromtimestamp(1_700_000_000, tz=timezone.utc)}  # no metadata: mtime
    bare = _write(tmp_path, '[\n{"asn":1,"prefix":"192.0.2.0/24","maxLength":24,"ta":"x"}\n]\n', name="bare.json")
    assert [e.provenance.line for e in _events(ingest_file(vrps.parse, bare))] == [2]


def _until_failure(path: Path) -> tuple[list, str]:
    """What the parser yields before it fails the file, and the failure."""
    items: list = []
    with SourceFile(path) as src, pytest.raises(SourceError) as failure:
        for item in vrps.parse(src, ParseContext(str(path), datetime(2026, 1, 2, tzinfo=timezone.utc))):
            items.append(item)
    return items, str(failure.value)


def test_truncated_export_keeps_what_came_before_and_fails_the_file(tmp_path: Path) -> None:
    text = RPKI_CLIENT_HEAD + '\t\t{ "asn": 1, "prefix": "192.0.2.0/24", "maxLength": 24, "ta": "x" },\n\t\t{ "asn": 2, "pre'
    path = _write(tmp_path, text)
    items, failure = _until_failure(path)
    assert [e.asn for e in _events(items)] == [1]
    assert failure == f"{path}:8: broken JSON: the file ends inside an array (truncated?); the VRPs before line 8 were published"


def test_broken_structure_after_roas_fails_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, '{"roas": [{"asn": 1, "prefix": "192.0.2.0/24", "maxLength": 24, "ta": "x"}]\n"aspas": []}')
    items, failure = _until_failure(path)
    assert [e.asn for e in _events(items)] == [1]
    assert failure.startswith(f"{path}:2: broken JSON: expected ',' or '}}' after the value of 'roas', found '\"'")


def test_metadata_after_roas_dates_by_file(tmp_path: Path, ingest_file) -> None:
    path = _write(tmp_path, '{"roas": [{"asn": 1, "prefix": "192.0.2.0/24", "maxLength": 24, "ta": "x"}],\n'
                            ' "metadata": {"buildtime": "2025-01-02T03:04:05Z"}}', name="vrps-20240101.json")
    (event,) = ingest_file(vrps.parse, path)
    assert event.provenance.observed_at == datetime(2024, 1, 1, tzinfo=timezone.utc)
    assert event.provenance.source == "rpki-json"


def test_compressed_exports(tmp_path: Path, ingest_file) -> None:
    text = RPKI_CLIENT_HEAD + '\t\t{ "asn": 1, "prefix": "192.0.2.0/24", "maxLength": 24, "ta": "x" }' + RPKI_CLIENT_TAIL
    plain = _events(ingest_file(vrps.parse, _write(tmp_path, text)))
    for name, packed in (("v.json.gz", gzip.compress(text.encode())), ("v.json.bz2", bz2.compress(text.encode()))):
        (tmp_path / name).write_bytes(packed)
        assert [(e.block, e.asn, e.provenance.line) for e in _events(ingest_file(vrps.parse, tmp_path / name))] == [(e.block, e.asn, e.provenance.line) for e in plain]


def test_routinator_csv(tmp_path: Path, ingest_file) -> None:
    path = _write(tmp_path, "\n".join([
        "ASN,IP Prefix,Max Length,Trust Anchor",
        "AS64500,192.0.2.0/24,24,ripe",
        "AS64500,192.0.2.0/24,24",
        "AS64500,192.0.2.0/24,x,ripe",
        "AS64500,2001:db8::/32,48,ripe",
        "64501,198.51.100.0/22,24,arin",
        "AS64500,198.51.100.0/22,20,arin",
        "",
    ]), name="vrps-20250101.csv")
    items = ingest_file(vrps.parse, path)
    assert _rejects(items) == [
        (3, "wrong number of fields: 3, the header has 4"),
        (4, "bad maxLength: 'x' is not a whole number"),
        (7, "bad maxLength: 20 is shorter than the prefix length /22"),
    ]
    day, at = datetime(2025, 1, 1, tzinfo=timezone.utc), ingest_file.ingested_at
    assert _events(items) == [
        _vrp(path, "routinator-csv", 2, day, at, block="192.0.2.0/24", max_length=24, asn=64500, ta="ripe"),
        _vrp(path, "routinator-csv", 6, day, at, block="198.51.100.0/22", max_length=24, asn=64501, ta="arin"),
    ]
    assert items.count(vrps.SKIP_IPV6) == 1


def test_routinator_csvcompat_with_expires(tmp_path: Path, ingest_file) -> None:
    path = _write(tmp_path, '"ASN","IP Prefix","Max Length","Trust Anchor","Expires"\n"AS64500","192.0.2.0/24","24","ripe","1735787045"\n', name="c.csv")
    (event,) = ingest_file(vrps.parse, path)
    assert (event.asn, event.ta, event.expires) == (64500, "ripe", datetime.fromtimestamp(1735787045, tz=timezone.utc))


def test_ripe_validator_csv_trust_anchor_from_uri(tmp_path: Path, ingest_file) -> None:
    path = _write(tmp_path, "\n".join([
        "URI,ASN,IP Prefix,Max Length,Not Before,Not After",
        '"rsync://rpki.ripe.net/repo/x.roa",AS64500,192.0.2.0/24,24,2013-09-12 03:00:00,2015-09-12 03:00:00',
        '"rsync://rpki.example.net/repo/y.roa",AS64501,198.51.100.0/24,24,2013-09-12 03:00:00,2015-09-12 03:00:00',
        '"rsync://rpki.ripe.net/repo/z.roa",AS64502,203.0.113.0/24,24,2013-09-12 03:00:00,someday',
        '"",AS64503,203.0.113.0/24,24,2013-09-12 03:00:00,2015-09-12 03:00:00',
    ]) + "\n", name="roas.csv")
    items = ingest_file(vrps.parse, path)
    assert [(e.asn, e.ta, e.expires) for e in _events(items)] == [
        (64500, "ripe", datetime(2015, 9, 12, 3, tzinfo=timezone.utc)),
        (64501, "rpki.example.net", datetime(2015, 9, 12, 3, tzinfo=timezone.utc)),  # not an RIR repository: the host
    ]
    assert _rejects(items) == [
        (4, "bad expires: 'someday' is not a unix time or ISO 8601 date"),
        (5, "missing trust anchor: no 'ta' (or source 'tal') for this VRP"),
    ]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("empty.json", "", "empty file"),
        ("blank.csv", "\n\n", "empty file"),
        ("diff.json", '{"vrp_diffs": [{"verb": "NEW"}]}', "not a VRP export: JSON without a 'roas' array"),
        ("text.txt", "hello world\n", ":1: unknown VRP CSV header"),
        ("broken.json", '{"metadata": {"buildtime": }, "roas": []}', ":1: not a VRP export: broken metadata"),
        ("comma.json", '{"metadata": {} "roas": []}', ":1: not a VRP export: expected ',' or '}' after the value of 'metadata'"),
    ],
)
def test_unknown_format_is_a_source_error(tmp_path: Path, ingest_file, name: str, text: str, message: str) -> None:
    with pytest.raises(SourceError, match=message):
        ingest_file(vrps.parse, _write(tmp_path, text, name=name))


# --- no input makes the parser raise ------------------------------------------------------------

VALUES = st.one_of(st.integers(-5, 2**33), st.text(max_size=20), st.none(), st.booleans(), st.floats(allow_nan=True),
                   st.sampled_from(["192.0.2.0/24", "2001:db8::/32", "AS64500", "24", "1735787045", "2025-01-01T00:00:00Z"]))
ELEMENTS = st.dictionaries(st.sampled_from(["asn", "prefix", "maxLength", "ta", "expires", "source", "tal"]), VALUES, max_size=6)
JSON_LINES = st.one_of(ELEMENTS.map(json.dumps), st.text(max_size=60))


@settings(max_examples=150, deadline=None)
@given(lines=st.lists(JSON_LINES, max_size=8))
def test_no_roas_line_makes_it_raise(tmp_path_factory: pytest.TempPathFactory, lines: list[str]) -> None:
    path = _write(tmp_path_factory.getbasetemp(), RPKI_CLIENT_HEAD + ",\n".join(lines) + RPKI_CLIENT_TAIL, name="fuzz.json")
    with SourceFile(path) as src:
        try:
            for item in vrps.parse(src, ParseContext(reference=str(path), ingested_at=BUILT)):
                assert isinstance(item, (Vrp, Aspa, Reject, ScopeSeen)) or item is vrps.SKIP_IPV6
        except SourceError as exc:  # a line that breaks the document's structure fails the file, nothing else does
            assert ": broken JSON: " in str(exc)


CSV_FIELDS = st.one_of(st.text(max_size=15), st.sampled_from(["AS64500", "192.0.2.0/24", "2001:db8::/32", "24", "33", "ripe", '"', ""]))


@settings(max_examples=150, deadline=None)
@given(rows=st.lists(st.lists(CSV_FIELDS, max_size=6).map(",".join), max_size=8))
def test_no_csv_line_makes_it_raise(tmp_path_factory: pytest.TempPathFactory, rows: list[str]) -> None:
    path = _write(tmp_path_factory.getbasetemp(), "ASN,IP Prefix,Max Length,Trust Anchor\n" + "\n".join(rows) + "\n", name="fuzz.csv")
    with SourceFile(path) as src:
        for item in vrps.parse(src, ParseContext(reference=str(path), ingested_at=BUILT)):
            assert isinstance(item, (Vrp, Reject)) or item is vrps.SKIP_IPV6
