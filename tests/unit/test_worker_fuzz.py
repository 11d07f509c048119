"""Every ingest worker on damaged input: a small valid file of each format it reads, with lines
dropped, replaced, cut or inserted, and arbitrary bytes. Whatever the input,

* the only exception that may escape is SourceError (the file as a whole is unreadable), naming the file;
* every item is an event of the worker's types, a Reject or a Skip;
* every Reject names the file, a line inside it (or, in a JSON collection, an element offset) and a reason;
* every event's provenance names the file (and a line inside it when it gives one);
* the same bytes parsed twice give the same items.

(The per-worker tests fuzz each format's own fields; these check what all workers promise.)"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chainrisk.ingest import arin, blocklist, delegated, leases, pfx2as, rpsl, transfers, vrps
from chainrisk.ingest.common import ParseContext, Reject, Skip, SourceError, SourceFile
from chainrisk.ingest.events import BlocklistEntry, Delegation, HolderTransfer, LeaseHop, Registration, RouteObject, RouteOrigin, Vrp

INGESTED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Format:
    """One file format a worker reads: a valid sample file (named so the worker recognises it)."""

    parse: Callable[[SourceFile, ParseContext], Iterator[Any]]
    events: tuple[type, ...]
    name: str
    sample: str


TRANSFER = {
    "ip4nets": {"transfer_set": [{"start_address": "198.51.100.0", "end_address": "198.51.101.127"}]},
    "source_organization": {"name": "Seller LLC"}, "recipient_organization": {"name": "Buyer GmbH"},
    "source_rir": "ARIN", "recipient_rir": "RIPE NCC", "transfer_date": "2024-05-06T07:08:09Z", "type": "RESOURCE_TRANSFER",
}
RDAP = {
    "objectClassName": "ip network", "handle": "NET-203-0-113-0-1", "startAddress": "203.0.113.0", "endAddress": "203.0.113.255",
    "ipVersion": "v4", "type": "REALLOCATION", "parentHandle": "NET-203-0-0-0-0", "name": "PLATFORM", "port43": "whois.arin.net",
    "entities": [{"handle": "PLAT", "roles": ["registrant"], "vcardArray": ["vcard", [["fn", {}, "text", "Platform Inc"]]]}],
}

FORMATS = {
    "leases-csv": Format(leases.parse, (LeaseHop,), "register.csv", (
        "block,provider,provider_role,recipient,recipient_role,start_date,end_date,lessee_asn\n"
        "192.0.2.0/24,Holder Inc,holder,Lease Platform,upstream,2024-01-01,2026-01-01,\n"
        "192.0.2.0/24,Lease Platform,upstream,Lessee Ltd,lessee,2024-02-01,2025-12-31,64500\n")),
    "leases-jsonl": Format(leases.parse, (LeaseHop,), "register.jsonl", "\n".join(json.dumps(row) for row in [
        {"block": "192.0.2.0/24", "provider": "H", "provider_role": "holder", "recipient": "L", "recipient_role": "lessee",
         "start_date": "2024-01-01", "end_date": "2025-01-01"},
        {"block": "198.51.100.0/24", "provider": "H", "provider_role": "holder", "recipient": "M", "recipient_role": "lessee",
         "start_date": "2024-01-01", "end_date": "2026-01-01", "lessee_asn": 64501},
    ]) + "\n"),
    "delegated": Format(delegated.parse, (Delegation,), "delegated-test-extended.txt", (
        "2.3|test|20240102|3|19700101|20240101|+0000\n"
        "test|*|ipv4|*|2|summary\n"
        "test|ZA|ipv4|192.0.2.0|256|20200101|allocated|ID1\n"
        "test|ZA|asn|64500|1|20200101|allocated|ID1\n"
        "test|ZA|ipv4|198.51.100.0|512|20210101|assigned|ID2\n")),
    "pfx2as": Format(pfx2as.parse, (RouteOrigin,), "routeviews.pfx2as", "192.0.2.0\t24\t64500\n198.51.100.0\t23\t64501_64502\n"),
    "blocklist-text": Format(blocklist.parse, (BlocklistEntry,), "drop.txt",
                             "; Spamhaus DROP List\n192.0.2.0/24 ; SBL1\n198.51.100.0/24 ; SBL2\n"),
    "blocklist-json": Format(blocklist.parse, (BlocklistEntry,), "drop_v4.json",
                             '{"cidr":"192.0.2.0/24","sblid":"SBL1","rir":"ripencc"}\n{"cidr":"198.51.100.0/24","sblid":"SBL2","rir":"arin"}\n'),
    "vrps-json": Format(vrps.parse, (Vrp,), "vrps.json", (
        '{\n\t"metadata": {\n\t\t"buildtime": "2025-01-02T03:04:05Z"\n\t},\n\t"roas": [\n'
        '\t\t{ "asn": 64500, "prefix": "192.0.2.0/24", "maxLength": 24, "ta": "ripe" },\n'
        '\t\t{ "asn": 64501, "prefix": "198.51.100.0/22", "maxLength": 24, "ta": "arin" }\n\t]\n}\n')),
    "vrps-csv": Format(vrps.parse, (Vrp,), "vrps.csv",
                       "ASN,IP Prefix,Max Length,Trust Anchor\nAS64500,192.0.2.0/24,24,ripe\nAS64501,198.51.100.0/22,24,arin\n"),
    "rpsl": Format(rpsl.parse, (Registration, RouteObject), "reply.txt", (
        "% whois reply\n\ninetnum:        203.0.113.0 - 203.0.113.255\nnetname:        EXAMPLE\norg:            ORG-EX1-TEST\n"
        "mnt-by:         HOLDER-MNT\nstatus:         ASSIGNED PA\nsource:         RIPE\n\n"
        "route:          203.0.113.0/24\norigin:         AS64500\nmnt-by:         HOLDER-MNT\nsource:         RIPE\n")),
    "arin-whois": Format(arin.parse, (Registration,), "whois.txt", (
        "NetRange:       192.0.2.0 - 192.0.2.255\nCIDR:           192.0.2.0/24\nNetName:        LESSEE-NET\n"
        "NetHandle:      NET-192-0-2-0-1\nNetType:        Reassigned\nCustomer:       Lessee (Pty) Ltd (C0001)\n"
        "RegDate:        2019-05-06\nUpdated:        2020-07-08\n")),
    "arin-rdap": Format(arin.parse, (Registration,), "rdap.json", json.dumps([RDAP], indent=1) + "\n"),
    "transfers": Format(transfers.parse, (HolderTransfer,), "transfers_latest.json",
                        json.dumps({"transfers": [TRANSFER], "version": {"producer": "TEST"}}, indent=1) + "\n"),
}


def _edit(lines: list[str], edit: tuple[str, int, str]) -> list[str]:
    kind, at, text = edit
    at = at % (len(lines) + 1)
    if kind == "insert":
        return [*lines[:at], text, *lines[at:]]
    if at == len(lines):
        return lines
    if kind == "drop":
        return [*lines[:at], *lines[at + 1:]]
    if kind == "replace":
        return [*lines[:at], text, *lines[at + 1:]]
    # cut: keep a random-length start of the line and add the text
    return [*lines[:at], lines[at][: len(text) % (len(lines[at]) + 1)] + text, *lines[at + 1:]]


def damaged(sample: str) -> st.SearchStrategy[bytes]:
    """The sample with up to six line edits, or arbitrary bytes."""
    edits = st.lists(st.tuples(st.sampled_from(["insert", "drop", "replace", "cut"]), st.integers(0, 60), st.text(max_size=30)), max_size=6)

    def apply(chosen: list[tuple[str, int, str]]) -> bytes:
        lines = sample.split("\n")
        for edit in chosen:
            lines = _edit(lines, edit)
        return "\n".join(lines).encode("utf-8", "surrogatepass")

    return st.one_of(edits.map(apply), st.binary(max_size=300))


def parse_all(fmt: Format, path: Path) -> list[Any] | SourceError:
    try:
        with SourceFile(path) as src:
            return list(fmt.parse(src, ParseContext(reference=str(path), ingested_at=INGESTED)))
    except SourceError as exc:
        return exc


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_the_undamaged_sample_gives_only_events(tmp_path: Path, name: str) -> None:
    fmt = FORMATS[name]
    path = tmp_path / fmt.name
    path.write_text(fmt.sample, encoding="utf-8")
    items = parse_all(fmt, path)
    assert not isinstance(items, SourceError), items
    assert [i for i in items if isinstance(i, Reject)] == []
    assert any(isinstance(i, fmt.events) for i in items)


@pytest.mark.parametrize("name", sorted(FORMATS))
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_damaged_input_gives_events_rejects_naming_a_line_or_a_source_error(tmp_path: Path, name: str, data: st.DataObject) -> None:
    fmt = FORMATS[name]
    content = data.draw(damaged(fmt.sample), label="content")
    path = tmp_path / fmt.name
    path.write_bytes(content)
    lines = len((content + b"x").splitlines())  # counting the empty line after a final newline: the end of the file
    compressed = content[:2] == b"\x1f\x8b" or content[:3] == b"BZh"  # line numbers are of the decompressed text

    items = parse_all(fmt, path)
    if isinstance(items, SourceError):
        assert str(path) in str(items)
    else:
        for item in items:
            assert isinstance(item, (*fmt.events, Reject, Skip)), item
            if isinstance(item, Reject):
                assert item.file == str(path) and item.reason.strip(), item
                assert item.line is not None or item.offset is not None, f"a reject naming no line: {item}"
                assert item.line is None or compressed or 1 <= item.line <= lines, f"line {item.line} of a {lines}-line file: {item}"
                assert item.offset is None or item.offset >= 0, item
            elif not isinstance(item, Skip):
                assert item.provenance.reference == str(path) and item.event_id, item
                line = item.provenance.line
                assert line is None or compressed or 1 <= line <= lines, f"line {line} of a {lines}-line file: {item}"
    again = parse_all(fmt, path)
    assert (str(again) if isinstance(again, SourceError) else again) == (str(items) if isinstance(items, SourceError) else items)
