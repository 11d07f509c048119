"""Hostile and broken input across the ingest workers: corrupted text, impossible dates, values that
are syntactically fine but meaningless, rows that used to stop a whole run, encodings, exit statuses.
Every input is a small literal written here."""
from __future__ import annotations

import bz2
import gzip
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from chainrisk.cli.main import cli
from chainrisk.ingest import arin, blocklist, delegated, leases, pfx2as, rpsl, transfers, vrps
from chainrisk.ingest.common import ParseContext, Reject, SourceError, SourceFile
from chainrisk.ingest.events import LeaseHop, decode_event

HEADER = b"block,provider,provider_role,recipient,recipient_role,start_date,end_date\n"
GOOD = b"192.0.2.0/24,Holder Inc,holder,Lessee Ltd,lessee,2024-01-01,2026-01-01\n"
GOOD2 = b"198.51.100.0/24,Holder Inc,holder,Other Ltd,lessee,2024-01-01,2026-01-01\n"
OBSERVED = datetime(2026, 1, 2, tzinfo=timezone.utc)


def write(tmp_path: Path, name: str, content: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def parse_all(parse: Any, path: Path, observed_at: datetime | None = None) -> list[Any]:
    with SourceFile(path) as src:
        return list(parse(src, ParseContext(str(path), OBSERVED, observed_at)))


def parse_until_failure(parse: Any, path: Path) -> tuple[list[Any], str]:
    items: list[Any] = []
    with SourceFile(path) as src, pytest.raises(SourceError) as failure:
        for item in parse(src, ParseContext(str(path), OBSERVED)):
            items.append(item)
    return items, str(failure.value)


def rejects(items: list[Any]) -> list[tuple[int | None, str]]:
    return [(r.line, r.reason) for r in items if isinstance(r, Reject)]


def events(items: list[Any]) -> list[Any]:
    return [e for e in items if hasattr(e, "event_id")]


def invoke(tmp_path: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["ingest", *args, "--state-dir", str(tmp_path / "state")], catch_exceptions=False)


# --- NUL bytes and undecodable bytes ------------------------------------------------------------
def test_lease_rows_with_nul_or_undecodable_bytes_are_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "register.csv", HEADER + GOOD
                 + b"192.0.2.0/24,Holder Inc,holder,Less\x00ee Ltd,lessee,2024-01-01,2026-01-01\n"
                 + b"192.0.2.0/24,Holder Inc,holder,Lessee \xff Ltd,lessee,2024-01-01,2026-01-01\n" + GOOD2)
    items = parse_all(leases.parse, path)
    assert [e.provenance.line for e in events(items)] == [2, 5]
    assert rejects(items) == [(3, "NUL byte: the record holds a NUL character at column 36"),
                              (4, "undecodable bytes: the record is not valid UTF-8 at column 39")]


def test_jsonl_lease_rows_with_an_escaped_nul_are_rejected(tmp_path: Path) -> None:
    row = {"block": "192.0.2.0/24", "provider": "Holder", "provider_role": "holder", "recipient": "Lessee",
           "recipient_role": "lessee", "start_date": "2024-01-01", "end_date": "2026-01-01"}
    bad = dict(row, recipient_id="f3619c8\u0000\u0000nul\u0000c")
    path = write(tmp_path, "register.jsonl", (json.dumps(row) + "\n" + json.dumps(bad) + "\n").encode())
    items = parse_all(leases.parse, path)
    assert len(events(items)) == 1
    assert [line for line, _ in rejects(items)] == [2] and rejects(items)[0][1].startswith("NUL byte")


def test_rpsl_reads_latin1_bytes_as_latin1_and_rejects_nul(tmp_path: Path) -> None:
    text = (b"organisation: ORG-CAFE1-RIPE\norg-name: Caf\xe9 R\xe9seau\nsource: RIPE\n\n"
            b"inetnum: 192.0.2.0 - 192.0.2.255\nstatus: ALLOCATED PA\norg: ORG-CAFE1-RIPE\nsource: RIPE\n\n"
            b"inetnum: 198.51.100.0 - 198.51.100.255\nstatus: ALLOCATED PA\norg: ORG-\x00X\nsource: RIPE\n")
    items = parse_all(rpsl.parse, write(tmp_path, "ripe.db", text))
    [registration] = events(items)
    assert registration.org.name == "Café Réseau"
    assert rejects(items) == [(12, "NUL byte: the record holds a NUL character at column 6 (in the inetnum at line 10)")]


def test_delegated_opaque_id_with_nul_is_rejected(tmp_path: Path) -> None:
    text = (b"2|afrinic|20260821|2|19700101|20260821|+00\n"
            b"afrinic|ZA|ipv4|192.0.2.0|256|20100101|allocated|f3619c8\x00\x00nul\x00c\n"
            b"afrinic|ZA|ipv4|198.51.100.0|256|20100101|allocated|F36B\xe9\n"
            b"afrinic|ZA|ipv4|203.0.113.0|256|20100101|allocated|F36B1\n")
    items = parse_all(delegated.parse, write(tmp_path, "delegated-afrinic-extended-20260821", text))
    assert [e.holder_id for e in events(items)] == ["F36B1"]
    assert [(line, reason.split(":")[0]) for line, reason in rejects(items)] == [(2, "NUL byte"), (3, "undecodable bytes")]


def test_arin_bulk_record_with_nul_is_rejected(tmp_path: Path) -> None:
    text = (b"NetHandle: NET-192-0-2-0-1\nOrgID: AC\x00ME\nNetRange: 192.0.2.0 - 192.0.2.255\nNetType: allocation\n\n"
            b"NetHandle: NET-198-51-100-0-1\nOrgID: ACME\nNetRange: 198.51.100.0 - 198.51.100.255\nNetType: allocation\n")
    items = parse_all(arin.parse, write(tmp_path, "arin_db.txt", text))
    assert [e.handle for e in events(items)] == ["NET-198-51-100-0-1"]
    assert [line for line, _ in rejects(items)] == [1] and "NUL byte" in rejects(items)[0][1]


def test_transfer_with_nul_in_a_name_is_rejected(tmp_path: Path) -> None:
    items = parse_all(transfers.parse, write(tmp_path, "t.json", json.dumps({"transfers": [
        _transfer(source="Sel\u0000ler"), _transfer()]}).encode()))
    assert len(events(items)) == 1
    assert [r.offset for r in items if isinstance(r, Reject)] == [0]


# --- impossible dates ---------------------------------------------------------------------------
def test_rpsl_impossible_last_modified_is_rejected(tmp_path: Path) -> None:
    text = (b"inetnum: 192.0.2.0 - 192.0.2.255\nstatus: ALLOCATED PA\norg: ORG-A\nlast-modified: 2026-02-30T00:00:00Z\nsource: RIPE\n\n"
            b"route: 192.0.2.0/24\norigin: AS64500\nchanged: noc@example.net 20260230\nsource: RIPE\n")
    items = parse_all(rpsl.parse, write(tmp_path, "ripe.db", text))
    assert events(items) == []
    assert rejects(items) == [
        (1, "impossible date: '2026-02-30T00:00:00Z' is not a calendar date (last-modified:) in inetnum 192.0.2.0 - 192.0.2.255"),
        (7, "impossible date: 'noc@example.net 20260230' is not a calendar date (changed:)"),
    ]


def test_arin_impossible_regdate_is_rejected(tmp_path: Path) -> None:
    text = b"NetHandle: NET-192-0-2-0-1\nOrgID: ACME\nNetRange: 192.0.2.0 - 192.0.2.255\nNetType: allocation\nRegDate: 2026-02-30\n"
    items = parse_all(arin.parse, write(tmp_path, "arin_db.txt", text))
    assert rejects(items) == [(1, "impossible date: '2026-02-30' is not a calendar date (RegDate)")]


def test_arin_rdap_impossible_event_date_is_rejected(tmp_path: Path) -> None:
    network = {"objectClassName": "ip network", "handle": "NET-192-0-2-0-1", "startAddress": "192.0.2.0", "endAddress": "192.0.2.255",
               "type": "DIRECT ALLOCATION", "port43": "whois.arin.net",
               "events": [{"eventAction": "last changed", "eventDate": "2026-02-30T00:00:00Z"}]}
    items = parse_all(arin.parse, write(tmp_path, "rdap.json", json.dumps(network).encode()))
    assert [r.reason for r in items if isinstance(r, Reject)] == [
        "impossible date: '2026-02-30T00:00:00Z' is not a calendar date (event 'last changed')"]


def test_delegated_impossible_header_date_fails_the_file_unless_dated_by_hand(tmp_path: Path) -> None:
    path = write(tmp_path, "delegated-x", b"2|afrinic|20260230|1|19700101|20260230|+00\nafrinic|ZA|ipv4|192.0.2.0|256|20100101|allocated|F1\n")
    items, failure = parse_until_failure(delegated.parse, path)
    assert items == []
    assert failure == f"{path}:1: impossible date in the header: end date '20260230' is not a calendar date (give the date with --observed-at)"
    [event] = parse_all(delegated.parse, path, observed_at=OBSERVED)
    assert event.provenance.observed_at == OBSERVED


def test_vrp_impossible_buildtime_fails_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "vrps.json", b'{"metadata": {"buildtime": "2026-02-30T00:00:00Z"},\n "roas": [{"asn": 1, "prefix": "192.0.2.0/24", "maxLength": 24, "ta": "x"}]}')
    items, failure = parse_until_failure(vrps.parse, path)
    assert items == []
    assert failure.startswith(f"{path}:2: bad date: metadata buildtime '2026-02-30T00:00:00Z' is not a unix time or ISO 8601 date")


def test_drop_impossible_last_modified_fails_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "drop.txt", b"; Spamhaus DROP List\n; Last-Modified: Mon, 30 Feb 2026 10:00:00 GMT\n192.0.2.0/24 ; SBL1\n")
    items, failure = parse_until_failure(blocklist.parse, path)
    assert items == []
    assert failure.startswith(f"{path}:2: bad date: Last-Modified 'Mon, 30 Feb 2026 10:00:00 GMT' is not an RFC 2822 date")


def test_drop_json_metadata_timestamp_that_is_no_time_fails_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "drop_v4.json", b'{"cidr": "192.0.2.0/24", "sblid": "SBL1"}\n{"type": "metadata", "timestamp": -5}\n')
    items, failure = parse_until_failure(blocklist.parse, path)
    assert items == [] and ":2: bad date: metadata timestamp -5 is not a unix time" in failure


# --- accepted silently before -------------------------------------------------------------------
def test_duplicate_header_column_fails_the_register(tmp_path: Path) -> None:
    path = write(tmp_path, "register.csv", b"block,provider,provider_role,recipient,recipient_role,start_date,end_date,provider\n"
                 + GOOD.rstrip(b"\n") + b",Someone Else\n")
    items, failure = parse_until_failure(leases.parse, path)
    assert items == [] and "the header (line 1) names column(s) provider more than once" in failure


def test_duplicate_vrp_csv_column_fails_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "vrps.csv", b"ASN,IP Prefix,Max Length,Trust Anchor,ASN\nAS1,192.0.2.0/24,24,ripe,AS2\n")
    items, failure = parse_until_failure(vrps.parse, path)
    assert items == [] and "VRP CSV header names column(s) asn more than once" in failure


@pytest.mark.parametrize("block", ["0.0.0.0/0", "128.0.0.0/1", "10.0.0.0/7"])
def test_a_block_larger_than_a_slash_8_is_no_lease(tmp_path: Path, block: str) -> None:
    path = write(tmp_path, "register.csv", HEADER + f"{block},Holder Inc,holder,Lessee Ltd,lessee,2024-01-01,2026-01-01\n".encode() + GOOD)
    items = parse_all(leases.parse, path)
    assert [e.block for e in events(items)] == ["192.0.2.0/24"]
    assert rejects(items) == [(2, f"block too large: {block} is more than a /8, the largest block an RIR allocates, so it is no lease")]


def _transfer(source: str = "Seller LLC", recipient: str = "Buyer GmbH", source_rir: str = "ARIN", recipient_rir: str = "ARIN") -> dict[str, Any]:
    return {"ip4nets": {"transfer_set": [{"start_address": "192.0.2.0", "end_address": "192.0.2.255"}]},
            "source_organization": {"name": source}, "recipient_organization": {"name": recipient},
            "source_rir": source_rir, "recipient_rir": recipient_rir, "transfer_date": "2024-05-06T07:08:09Z", "type": "RESOURCE_TRANSFER"}


def test_a_transfer_from_a_party_to_itself_is_rejected(tmp_path: Path) -> None:
    records = [_transfer(recipient=" seller  llc"), _transfer(recipient="Seller LLC", recipient_rir="RIPE NCC"), _transfer()]
    items = parse_all(transfers.parse, write(tmp_path, "t.json", json.dumps({"transfers": records}).encode()))
    assert [r.reason for r in items if isinstance(r, Reject)] == [
        "transfer to itself: 'Seller LLC' is both source and recipient organization (transfer #0)"]
    assert [e.provenance.offset for e in events(items)] == [1, 2]  # an organisation moving its block to another RIR is a real transfer


@pytest.mark.parametrize("expires", ["-1", "0"])
def test_a_vrp_expiring_before_1970_is_rejected(tmp_path: Path, expires: str) -> None:
    roas = [{"asn": 1, "prefix": "192.0.2.0/24", "maxLength": 24, "ta": "x", "expires": int(expires)},
            {"asn": 2, "prefix": "192.0.2.0/24", "maxLength": 24, "ta": "x", "expires": 1753453058}]
    path = write(tmp_path, "vrps.json", ('{"roas": [' + ",\n".join(json.dumps(r) for r in roas) + "]}").encode())
    items = parse_all(vrps.parse, path)
    assert [e.asn for e in events(items)] == [2]
    assert rejects(items) == [(1, f"bad expires: {expires} is not after 1970-01-01 (a validator writes the unix time the VRP stops being valid)")]


# --- one bad row never stops the run ------------------------------------------------------------
DEEP = "[" * 100_000 + "]" * 100_000


def test_deeply_nested_jsonl_row_costs_that_row_only(tmp_path: Path) -> None:
    row = {"block": "192.0.2.0/24", "provider": "Holder", "provider_role": "holder", "recipient": "Lessee",
           "recipient_role": "lessee", "start_date": "2024-01-01", "end_date": "2026-01-01"}
    path = write(tmp_path, "register.jsonl", (json.dumps(row) + "\n" + DEEP + "\n" + json.dumps(dict(row, block="198.51.100.0/24")) + "\n").encode())
    items = parse_all(leases.parse, path)
    assert [e.block for e in events(items)] == ["192.0.2.0/24", "198.51.100.0/24"]
    assert rejects(items) == [(2, "not JSON: nested too deeply to decode")]


def test_deeply_nested_transfer_record_costs_that_record_only(tmp_path: Path) -> None:
    document = '{"transfers": [' + json.dumps(_transfer()) + ", " + DEEP + ", " + json.dumps(_transfer(recipient="Third")) + "]}"
    items = parse_all(transfers.parse, write(tmp_path, "t.json", document.encode()))
    assert [e.to_party.name for e in events(items)] == ["Buyer GmbH", "Third"]
    assert [(r.line, r.offset, r.reason) for r in items if isinstance(r, Reject)] == [(1, 1, "invalid JSON: nested too deeply (transfer #1)")]


def test_deeply_nested_rdap_document_fails_that_file_only(tmp_path: Path) -> None:
    deep = write(tmp_path, "deep.json", DEEP.encode())
    good = write(tmp_path, "arin_db.txt", b"NetHandle: NET-192-0-2-0-1\nOrgID: ACME\nNetRange: 192.0.2.0 - 192.0.2.255\nNetType: allocation\n")
    result = invoke(tmp_path, "arin", str(deep), str(good), "--dry-run")
    assert result.exit_code == 1
    assert f"error: {deep}: not valid JSON: nested too deeply to decode" in result.stderr
    published = [decode_event(line) for line in result.stdout.splitlines()]
    assert [e.handle for e in published if e.type == "registration"] == ["NET-192-0-2-0-1"]
    assert [e.type for e in published] == ["registration", "snapshot_end"]  # the bulk file is a complete snapshot of its own


def test_vrp_csv_line_over_the_field_limit_costs_that_line_only(tmp_path: Path) -> None:
    path = write(tmp_path, "vrps.csv", b'ASN,IP Prefix,Max Length,Trust Anchor\nAS1,192.0.2.0/24,24,"' + b"x" * 200_000 + b'"\nAS2,198.51.100.0/24,24,ripe\n')
    items = parse_all(vrps.parse, path)
    assert [e.asn for e in events(items)] == [2]
    assert rejects(items) == [(2, "malformed CSV: field larger than field limit (131072)")]


# --- encodings ----------------------------------------------------------------------------------
BOM = b"\xef\xbb\xbf"


def test_utf8_bom_is_accepted_by_rpsl_delegated_and_pfx2as(tmp_path: Path) -> None:
    ripe = write(tmp_path, "ripe.db", BOM + b"inetnum: 192.0.2.0 - 192.0.2.255\nstatus: ALLOCATED PA\norg: ORG-A\nsource: RIPE\n")
    assert [e.block for e in events(parse_all(rpsl.parse, ripe))] == ["192.0.2.0/24"]
    stats = write(tmp_path, "delegated-x", BOM + b"2|ripencc|20260101|1|19700101|20260101|+00\nripencc|NL|ipv4|192.0.2.0|256|20100101|allocated|X1\n")
    assert [e.block for e in events(parse_all(delegated.parse, stats))] == ["192.0.2.0/24"]
    origins = write(tmp_path, "routeviews-rv2-20260101.pfx2as", BOM + b"192.0.2.0\t24\t64500\n")
    items = parse_all(pfx2as.parse, origins)
    assert rejects(items) == [] and [e.origins for e in events(items)] == [(64500,)]


@pytest.mark.parametrize("worker", [rpsl, delegated, pfx2as, leases, vrps, blocklist, transfers, arin])
@pytest.mark.parametrize(("encoding", "named"), [("utf-16", "UTF-16LE (byte-order mark FF FE)"), ("utf-16-be", "UTF-16BE without a byte-order mark")])
def test_utf16_is_named_as_such(tmp_path: Path, worker: Any, encoding: str, named: str) -> None:
    path = write(tmp_path, "input.txt", "inetnum: 192.0.2.0 - 192.0.2.255\nstatus: ALLOCATED PA\nsource: RIPE\n".encode(encoding))
    _, failure = parse_until_failure(worker.parse, path)
    assert named in failure and "save it as UTF-8" in failure


# --- a truncated compressed lease register publishes nothing --------------------------------------
@pytest.mark.parametrize("compress", [gzip.compress, bz2.compress])
def test_truncated_compressed_register_publishes_nothing(tmp_path: Path, compress: Any) -> None:
    rows = b"".join(f"192.0.{n}.0/24,Holder Inc,holder,Lessee {n},lessee,2024-01-01,2026-01-01\n".encode() for n in range(200))
    whole = compress(HEADER + rows)
    path = write(tmp_path, "register.csv.z", whole[: len(whole) * 2 // 3])
    items, failure = parse_until_failure(leases.parse, path)
    assert items == []
    assert "nothing from this register was published (a block's rows may continue past the break)" in failure
    complete = write(tmp_path, "whole.csv.z", whole)
    assert len([e for e in parse_all(leases.parse, complete) if isinstance(e, LeaseHop)]) == 200


# --- exit statuses ------------------------------------------------------------------------------
def test_an_unreadable_path_among_several_does_not_stop_the_others(tmp_path: Path) -> None:
    first, second = write(tmp_path, "a.csv", HEADER + GOOD), write(tmp_path, "b.csv", HEADER + GOOD2)
    folder = tmp_path / "folder.csv"
    folder.mkdir()
    result = invoke(tmp_path, "leases", str(first), str(folder), str(tmp_path / "missing.csv"), str(second), "--dry-run")
    assert result.exit_code == 1
    assert [decode_event(line).block for line in result.stdout.splitlines()] == ["192.0.2.0/24", "198.51.100.0/24"]
    assert f"error: {folder}: cannot open" in result.stderr and f"error: {tmp_path / 'missing.csv'}: cannot open" in result.stderr
    assert "error: 2 of 4 file(s) could not be ingested" in result.stderr


ARIN_REPLY = (b"#\n# ARIN WHOIS data and services are subject to the Terms of Use\n#\n\n"
              b"inetnum:      104.0.0.0 - 104.255.255.255\norganisation: ARIN\nstatus:       ALLOCATED\nsource:       IANA\n\n"
              b"NetRange:       104.144.0.0 - 104.144.255.255\nNetHandle:      NET-104-144-0-0-1\nNetType:        Direct Allocation\n")


@pytest.mark.parametrize(("worker", "name", "content", "message"), [
    ("rpsl", "empty.db", b"", "empty file: no RPSL objects"),
    ("rpsl", "reply.txt", ARIN_REPLY, "unknown format: no RPSL objects"),
    ("blocklist", "drop.txt", b"1\x93\xd2\x01\xfe\xaa\n7\x00\xc3garbage\n", "nothing recognised: all 2 record(s) were rejected"),
    ("vrps", "vrps.json", b'{"roas": [{"asn": 1, "prefix": "192.0.2.0/24", "maxLength": 24, "ta": "x"},\n{"asn": 2, "pre',
     "broken JSON: the file ends inside an array (truncated?)"),
])
def test_files_that_could_not_be_ingested_exit_1(tmp_path: Path, worker: str, name: str, content: bytes, message: str) -> None:
    result = invoke(tmp_path, worker, str(write(tmp_path, name, content)), "--dry-run")
    assert result.exit_code == 1, result.stderr
    assert message in result.stderr


def test_strict_fails_a_file_that_gave_no_event(tmp_path: Path) -> None:
    path = write(tmp_path, "vrps.csv", b"ASN,IP Prefix,Max Length,Trust Anchor\nAS1,2001:db8::/32,48,ripe\n")
    assert invoke(tmp_path, "vrps", str(path), "--dry-run").exit_code == 0  # only IPv6: skipped, not wrong
    result = invoke(tmp_path, "vrps", str(path), "--dry-run", "--strict")
    assert result.exit_code == 3
    assert f"error: --strict and nothing was ingested from {path}" in result.stderr


# --- small ones ---------------------------------------------------------------------------------
def test_rdap_range_rejects_name_their_kind(tmp_path: Path) -> None:
    network = {"objectClassName": "ip network", "handle": "NET-192-0-2-0-1", "startAddress": "192.0.2.0", "endAddress": "192.0.2.255",
               "cidr0_cidrs": [{"v4prefix": "192.0.2.0", "length": "twenty-four"}], "port43": "whois.arin.net"}
    items = parse_all(arin.parse, write(tmp_path, "rdap.json", json.dumps([network, dict(network, cidr0_cidrs=[{"v4prefix": "192.0.2.0", "length": 33}])]).encode()))
    assert [r.reason for r in items if isinstance(r, Reject)] == [
        "bad cidr0_cidrs: 192.0.2.0/'twenty-four' is not an IPv4 network", "bad cidr0_cidrs: 192.0.2.0/33 is not an IPv4 network"]


def test_generate_hint_ingests_every_file_it_wrote(tmp_path: Path) -> None:
    out = tmp_path / "portfolio"
    result = CliRunner().invoke(cli, ["generate", "--blocks", "3", "--out", str(out)], catch_exceptions=False)
    hint = next(line for line in result.stdout.splitlines() if line.startswith("ingest with: "))
    named = {Path(part.split()[-1]).name for part in hint.removeprefix("ingest with: ").split(" && ")}
    written = set(json.loads((out / "MANIFEST.json").read_text())["files"].values())
    assert named == written and {"registry.db", "transfers.json"} <= written


# --- numbers longer than Python converts (4,300 digits) cost one row, too --------------------------
HUGE = "9" * 5000


def test_a_huge_number_in_a_vrp_export_costs_that_element_only(tmp_path: Path) -> None:
    good = '{"asn": 2, "prefix": "198.51.100.0/24", "maxLength": 24, "ta": "x"}'
    path = write(tmp_path, "vrps.json", ('{"roas": [{"asn": 1, "prefix": "192.0.2.0/24", "maxLength": "' + HUGE + '", "ta": "x"}, '
                                         + HUGE + ", " + '{"asn": 3, "prefix": "192.0.2.0/24", "maxLength": ' + HUGE + ', "ta": "x"}, ' + good + "]}").encode())
    items = parse_all(vrps.parse, path)
    assert [e.asn for e in events(items)] == [2]
    assert [reason for _, reason in rejects(items)] == [
        "bad maxLength: '" + "9" * 56 + "... is not a whole number",
        "invalid JSON: a number with too many digits", "invalid JSON: a number with too many digits"]


def test_a_huge_number_in_a_jsonl_register_costs_that_row_only(tmp_path: Path) -> None:
    row = {"block": "192.0.2.0/24", "provider": "Holder", "provider_role": "holder", "recipient": "Lessee",
           "recipient_role": "lessee", "start_date": "2024-01-01", "end_date": "2026-01-01"}
    path = write(tmp_path, "register.jsonl", (json.dumps(row) + "\n" + json.dumps(row)[:-1] + ', "x": ' + HUGE + "}\n").encode())
    items = parse_all(leases.parse, path)
    assert len(events(items)) == 1 and rejects(items) == [(2, "not JSON: a number with too many digits to decode")]


def test_a_huge_number_in_an_rdap_document_fails_that_file_only(tmp_path: Path) -> None:
    bad = write(tmp_path, "rdap.json", ('{"objectClassName": "ip network", "x": ' + HUGE + "}").encode())
    good = write(tmp_path, "arin_db.txt", b"NetHandle: NET-192-0-2-0-1\nOrgID: ACME\nNetRange: 192.0.2.0 - 192.0.2.255\nNetType: allocation\n")
    result = invoke(tmp_path, "arin", str(bad), str(good), "--dry-run")
    assert result.exit_code == 1 and f"error: {bad}: not valid JSON: a number with too many digits to decode" in result.stderr
    assert [decode_event(line).type for line in result.stdout.splitlines()] == ["registration", "snapshot_end"]


def test_huge_as_numbers_and_counts_are_rejects_of_their_kind(tmp_path: Path) -> None:
    origins = parse_all(pfx2as.parse, write(tmp_path, "routeviews-rv2-20260101.pfx2as", f"192.0.2.0\t24\t{HUGE}\n198.51.100.0\t24\t1\n".encode()))
    assert len(events(origins)) == 1 and rejects(origins)[0][1].startswith("not an AS number: ")
    stats = parse_all(delegated.parse, write(tmp_path, "delegated-x", f"2|ripencc|20260101|1|19700101|20260101|+00\nripencc|NL|ipv4|192.0.2.0|{HUGE}|20100101|allocated|X1\n".encode()))
    assert rejects(stats) == [(2, "bad address count: '99999999999999999999' is not a positive whole number")]


def test_an_impossible_date_in_the_file_name_fails_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "leases-20260230.csv", HEADER + GOOD)
    items, failure = parse_until_failure(leases.parse, path)
    assert items == [] and failure == (f"{path}: impossible date in the file name: 20260230 is not a calendar date "
                                       "(rename the file or give the date with --observed-at)")
    assert len(events(parse_all(leases.parse, path, observed_at=OBSERVED))) == 1


def test_an_impossible_file_name_date_fails_before_anything_is_published(tmp_path: Path) -> None:
    # the RPSL object with a date of its own comes first; the one after it would be dated by the name
    path = write(tmp_path, "ripe-20260230.db", b"inetnum: 192.0.2.0 - 192.0.2.255\nstatus: ALLOCATED PA\norg: ORG-A\n"
                 b"last-modified: 2024-01-01T00:00:00Z\nsource: RIPE\n\ninetnum: 198.51.100.0 - 198.51.100.255\nstatus: ALLOCATED PA\n"
                 b"org: ORG-A\nsource: RIPE\n")
    result = invoke(tmp_path, "rpsl", str(path), "--dry-run")
    assert result.exit_code == 1 and result.stdout == ""
    assert "impossible date in the file name: 20260230" in result.stderr
