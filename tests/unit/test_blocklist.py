"""The blocklist worker on synthetic DROP/EDROP files: every reject reason with its line, list names,
dates from Last-Modified and from the trailing JSON metadata line, and that no input line makes it raise."""
from __future__ import annotations

import gzip
import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainrisk.ingest import blocklist
from chainrisk.ingest.common import ParseContext, Reject, SourceError, SourceFile
from chainrisk.ingest.events import BlocklistEntry

MODIFIED = datetime(2023, 12, 1, 14, 47, 7, tzinfo=timezone.utc)


def _write(directory: Path, lines: list[str], name: str) -> Path:
    path = directory / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _rejects(items: list[Any]) -> list[tuple[int | None, str]]:
    return [(i.line, i.reason) for i in items if isinstance(i, Reject)]


def _entries(items: list[Any]) -> list[tuple[int | None, str, str, str | None, str | None, datetime]]:
    return [(i.provenance.line, i.block, i.list_name, i.entry_id, i.rir, i.provenance.observed_at) for i in items if isinstance(i, BlocklistEntry)]


def test_text_every_reject_reason_names_its_line(tmp_path: Path, ingest_file) -> None:
    path = _write(tmp_path, [
        "; Spamhaus EDROP List 2023/12/01 - (c) 2023 The Spamhaus Project",
        "; Last-Modified: Fri, 01 Dec 2023 14:47:07 GMT",
        "192.0.2.0/24 ; SBL1",
        "192.0.2.1/24 ; SBL2",
        "300.0.0.0/8 ; SBL3",
        "192.0.2.0 ; SBL4",
        "2001:db8::/32 ; SBL5",
        "198.51.100.0/24",
        "10.0.0.0/8x ; SBL6",
        "; EOF",
    ], name="list.txt")
    items = ingest_file(blocklist.parse, path)
    assert _rejects(items) == [
        (4, "host bits set: 192.0.2.1/24 is not a network address (did you mean 192.0.2.0/24?)"),
        (5, "not valid IPv4 prefix: '300.0.0.0/8'"),
        (6, "not valid IPv4 prefix: '192.0.2.0' has no /length (write e.g. 192.0.2.0/24)"),
        (9, "not valid IPv4 prefix: '10.0.0.0/8x'"),
    ]
    assert _entries(items) == [
        (3, "192.0.2.0/24", "spamhaus-edrop", "SBL1", None, MODIFIED),  # named by the title, dated by Last-Modified
        (8, "198.51.100.0/24", "spamhaus-edrop", None, None, MODIFIED),
    ]
    assert items.count(blocklist.SKIP_IPV6) == 1


def test_text_without_header_is_named_and_dated_by_the_file(tmp_path: Path, ingest_file) -> None:
    edrop = _write(tmp_path, ["192.0.2.0/24 ; SBL1"], name="edrop-20231201.txt")
    assert _entries(ingest_file(blocklist.parse, edrop)) == [(1, "192.0.2.0/24", "spamhaus-edrop", "SBL1", None, datetime(2023, 12, 1, tzinfo=timezone.utc))]
    drop = _write(tmp_path, ["192.0.2.0/24 ; SBL1"], name="drop.txt")
    os.utime(drop, (1_700_000_000, 1_700_000_000))
    assert _entries(ingest_file(blocklist.parse, drop))[0][2:] == ("spamhaus-drop", "SBL1", None, datetime.fromtimestamp(1_700_000_000, tz=timezone.utc))


def test_json_lines_every_reject_reason_and_trailing_metadata(tmp_path: Path, ingest_file) -> None:
    lines = [
        '{"cidr":"192.0.2.0/24","sblid":"SBL1","rir":"RIPENCC"}',
        '{"cidr":"192.0.2.0/24"',
        '["x"]',
        '{"sblid":"SBL3"}',
        '{"cidr":"2001:db8::/32","sblid":"SBL4","rir":"arin"}',
        '{"cidr":"198.51.100.1/24","sblid":"SBL5","rir":"arin"}',
        "",
        '{"cidr":"198.51.100.0/24","sblid":"","rir":null}',
        '{"type":"metadata","timestamp":1744682874,"size":1,"records":5}',
    ]
    stamped = datetime.fromtimestamp(1744682874, tz=timezone.utc)
    path = _write(tmp_path, lines, name="drop_v4.json")
    items = ingest_file(blocklist.parse, path)
    assert _rejects(items) == [
        (2, "invalid JSON: Expecting ',' delimiter: line 1 column 23 (char 22)"),
        (3, "not a DROP record: list, expected a JSON object"),
        (4, "not valid IPv4 prefix: the record has no 'cidr' string"),
        (6, "host bits set: 198.51.100.1/24 is not a network address (did you mean 198.51.100.0/24?)"),
    ]
    assert _entries(items) == [
        (1, "192.0.2.0/24", "spamhaus-drop", "SBL1", "ripencc", stamped),
        (8, "198.51.100.0/24", "spamhaus-drop", None, None, stamped),
    ]
    # gzip-compressed, the metadata pass reads it too
    packed = tmp_path / "drop_v4.json.gz"
    packed.write_bytes(gzip.compress(path.read_bytes()))
    assert [e[1:] for e in _entries(ingest_file(blocklist.parse, packed))] == [e[1:] for e in _entries(items)]


def test_json_lines_without_metadata_use_the_override(tmp_path: Path, ingest_file) -> None:
    path = _write(tmp_path, ['{"cidr":"192.0.2.0/24","sblid":"SBL1","rir":"arin"}'], name="edrop.json")
    override = datetime(2020, 1, 1, tzinfo=timezone.utc)
    assert _entries(ingest_file(blocklist.parse, path, observed_at=override)) == [(1, "192.0.2.0/24", "spamhaus-edrop", "SBL1", "arin", override)]


@pytest.mark.parametrize(("lines", "message"), [([], "empty file"), (["<html>", "</html>"], ":1: not a Spamhaus DROP list")])
def test_unknown_format_is_a_source_error(tmp_path: Path, ingest_file, lines: list[str], message: str) -> None:
    with pytest.raises(SourceError, match=message):
        ingest_file(blocklist.parse, _write(tmp_path, lines, name="drop.txt"))


TEXT_LINES = st.one_of(
    st.tuples(st.one_of(st.text(max_size=20), st.sampled_from(["192.0.2.0/24", "2001:db8::/32", "192.0.2.1/24", ""])),
              st.one_of(st.text(max_size=10), st.just("SBL1"))).map(" ; ".join),
    st.text(max_size=40).map(lambda t: "; " + t),
    st.text(max_size=40),
)
JSON_LINES = st.one_of(
    st.fixed_dictionaries({}, optional={"cidr": st.one_of(st.text(max_size=20), st.just("192.0.2.0/24"), st.integers()),
                                        "sblid": st.one_of(st.text(max_size=8), st.none()), "rir": st.one_of(st.text(max_size=8), st.none(), st.integers()),
                                        "type": st.just("metadata"), "timestamp": st.one_of(st.integers(), st.floats(), st.text(max_size=5))}).map(
        json.dumps),
    st.text(max_size=40),
)


@settings(max_examples=150, deadline=None)
@given(first=st.sampled_from(["; Spamhaus DROP List", "192.0.2.0/24 ; SBL1", '{"cidr":"192.0.2.0/24"}']), text_lines=st.lists(TEXT_LINES, max_size=6),
       json_lines=st.lists(JSON_LINES, max_size=6))
def test_no_line_makes_it_raise(tmp_path_factory: pytest.TempPathFactory, first: str, text_lines: list[str], json_lines: list[str]) -> None:
    path = _write(tmp_path_factory.getbasetemp(), [first, *(json_lines if first.startswith("{") else text_lines)], name="fuzz-drop.txt")
    with SourceFile(path) as src:
        try:
            for item in blocklist.parse(src, ParseContext(reference=str(path), ingested_at=MODIFIED)):
                assert isinstance(item, (BlocklistEntry, Reject)) or item is blocklist.SKIP_IPV6
        except SourceError as exc:  # only a file-wide date that is not a date fails the file
            assert ": bad date: " in str(exc)
