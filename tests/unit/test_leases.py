"""The lease-register worker: every rejection reason with its line, both formats, explicit removal."""
from __future__ import annotations

import json
import os
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chainrisk.ingest import leases
from chainrisk.ingest.common import ParseContext, Reject, SourceError, SourceFile
from chainrisk.ingest.events import LeaseHop, Party, Role

HEADER = "block,provider,provider_role,recipient,recipient_role,start_date,end_date,lessee_asn,provider_id,recipient_id"
GOOD = "192.0.2.0/24,Holder Inc,holder,Lease Platform,upstream,2024-01-01,2026-01-01,,,"
MTIME = datetime(2024, 6, 1, 12, 0, 0, tzinfo=timezone.utc)


def write(tmp_path: Path, text: str, name: str = "register.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    os.utime(path, (MTIME.timestamp(), MTIME.timestamp()))
    return path


def rejects(items: list) -> list[tuple[int | None, str]]:
    return [(i.line, i.reason) for i in items if isinstance(i, Reject)]


def hops(items: list) -> list[LeaseHop]:
    return [i for i in items if isinstance(i, LeaseHop)]


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("192.0.2.300/24,A,holder,B,lessee,2024-01-01,2025-01-01,,,", "not valid IPv4 prefix: '192.0.2.300/24'"),
        ("2001:db8::/32,A,holder,B,lessee,2024-01-01,2025-01-01,,,", "IPv6 is out of scope: chainrisk analyses IPv4 leases"),
        ("192.0.2.7/24,A,holder,B,lessee,2024-01-01,2025-01-01,,,", "host bits set: 192.0.2.7/24 is not a network address (did you mean 192.0.2.0/24?)"),
        ("192.0.2.0/24,A,landlord,B,lessee,2024-01-01,2025-01-01,,,", "unknown role: provider_role 'landlord' is not one of holder, upstream, broker, lessee"),
        ("192.0.2.0/24,A,holder,B,,2024-01-01,2025-01-01,,,", "unknown role: recipient_role is empty (use one of holder, upstream, broker, lessee)"),
        ("192.0.2.0/24,A,lessee,B,lessee,2024-01-01,2025-01-01,,,", "role in the wrong column: a provider cannot be 'lessee' (a provider is holder, upstream or broker)"),
        ("192.0.2.0/24,A,holder,B,holder,2024-01-01,2025-01-01,,,", "role in the wrong column: a recipient cannot be 'holder' (a recipient is upstream, broker or lessee)"),
        ("192.0.2.0/24,  ,holder,B,lessee,2024-01-01,2025-01-01,,,", "empty party: provider has no name and no provider_id"),
        ("192.0.2.0/24,A,holder,,lessee,2024-01-01,2025-01-01,,,", "empty party: recipient has no name and no recipient_id"),
        ("192.0.2.0/24,Acme  Ltd,holder,acme ltd,lessee,2024-01-01,2025-01-01,,,", "provider equals recipient: 'Acme  Ltd' cannot lease to itself"),
        ("192.0.2.0/24,Acme,holder,Acme Two,lessee,2024-01-01,2025-01-01,,ORG-1,org-1", "provider equals recipient: 'ORG-1' cannot lease to itself"),
        ("192.0.2.0/24,A,holder,B,lessee,2024-02-30,2025-01-01,,,", "unparsable date: start_date '2024-02-30' is not an ISO 8601 date (YYYY-MM-DD)"),
        ("192.0.2.0/24,A,holder,B,lessee,2024-01-01,next year,,,", "unparsable date: end_date 'next year' is not an ISO 8601 date (YYYY-MM-DD)"),
        ("192.0.2.0/24,A,holder,B,lessee,2025-01-01,2024-12-31,,,", "end_date before start_date: 2024-12-31 is before 2025-01-01"),
        ("192.0.2.0/24,A,holder,B,lessee,2024-01-01,2025-01-01,AS-FOO,,", "bad lessee_asn: 'AS-FOO' is not an AS number (write 64500 or AS64500)"),
        ("192.0.2.0/24,A,holder,B,lessee,2024-01-01", "wrong number of fields: expected 10 as in the header, found 6 (quote a name that contains a comma)"),
    ],
)
def test_each_rejection_reason_names_the_line(tmp_path: Path, ingest_file, row: str, reason: str) -> None:
    path = write(tmp_path, f"{HEADER}\n{GOOD}\n{row}\n{GOOD.replace('Lease Platform', 'Other Platform')}\n")
    items = ingest_file(leases.parse, path)
    assert rejects(items) == [(3, reason)]
    assert [h.provenance.line for h in hops(items)] == [2, 4]  # the rows around it are kept
    assert items[1].file == str(path) and items[1].raw == row


def test_several_problems_in_one_row_are_all_reported(tmp_path: Path, ingest_file) -> None:
    path = write(tmp_path, f"{HEADER}\n10.0.0.1/8,,holder,B,holder,2024-01-01,2023-01-01,,,\n")
    [(line, reason)] = rejects(ingest_file(leases.parse, path))
    assert line == 2
    assert reason.split("; ") == [
        "host bits set: 10.0.0.1/8 is not a network address (did you mean 10.0.0.0/8?)",
        "empty party: provider has no name and no provider_id",
        "role in the wrong column: a recipient cannot be 'holder' (a recipient is upstream, broker or lessee)",
        "end_date before start_date: 2023-01-01 is before 2024-01-01",
    ]


def test_valid_row_becomes_a_complete_hop(tmp_path: Path, ingest_file) -> None:
    header = "block,provider,provider_role,recipient,recipient_role,start_date,end_date,lessee_asn,renewal_owner,document_ref,provider_id,recipient_id"
    path = write(tmp_path, f"{header}\n198.51.100.0/24,Broker Co,broker,End User,lessee,2024-03-01,2025-02-28,AS64500,Broker Co,LOA-17,BR-1,\n")
    [hop] = ingest_file(leases.parse, path)
    expected = LeaseHop(
        block="198.51.100.0/24", provider=Party(name="Broker Co", id="BR-1"), provider_role=Role.BROKER,
        recipient=Party(name="End User"), recipient_role=Role.LESSEE, start_date=date(2024, 3, 1), end_date=date(2025, 2, 28),
        lessee_asn=64500, renewal_owner="Broker Co", document_ref="LOA-17",
        provenance=hop.provenance,
    ).with_id()
    assert hop == expected
    assert (hop.provenance.source, hop.provenance.line, hop.provenance.observed_at) == ("lease-register", 2, MTIME)


def test_plain_asn_and_quoted_comma_and_crlf(tmp_path: Path, ingest_file) -> None:
    path = write(tmp_path, f'{HEADER}\r\n192.0.2.0/24,"Holder, Inc",holder,B,lessee,2024-01-01,2025-01-01,64500,,\r\n')
    [hop] = ingest_file(leases.parse, path)
    assert (hop.provider.name, hop.lessee_asn) == ("Holder, Inc", 64500)


def test_unclosed_quote_is_reported_with_its_span(tmp_path: Path, ingest_file) -> None:
    path = write(tmp_path, f'{HEADER}\n{GOOD}\n192.0.2.0/24,"Holder,holder,B,lessee,2024-01-01,2025-01-01,,,\n{GOOD}\n')
    items = ingest_file(leases.parse, path)
    assert [h.provenance.line for h in hops(items)] == [2]
    [(line, reason)] = rejects(items)
    assert line == 3 and "spans lines 3-4" in reason


def test_missing_required_column_fails_the_file(tmp_path: Path, ingest_file) -> None:
    path = write(tmp_path, "block,provider,recipient,start_date\n192.0.2.0/24,A,B,2024-01-01\n")
    with pytest.raises(SourceError, match="lacks required column\\(s\\) provider_role, recipient_role, end_date"):
        ingest_file(leases.parse, path)


def test_empty_file_fails(tmp_path: Path, ingest_file) -> None:
    with pytest.raises(SourceError, match="the file is empty"):
        ingest_file(leases.parse, write(tmp_path, ""))


def test_json_lines_same_fields(tmp_path: Path, ingest_file) -> None:
    good = {"block": "192.0.2.0/24", "provider": "H", "provider_role": "holder", "recipient": "L", "recipient_role": "lessee",
            "start_date": "2024-01-01", "end_date": "2025-01-01", "lessee_asn": 64500}
    lines = [json.dumps(good), "", "{not json", "[1, 2]", json.dumps({**good, "end_date": None} | {"end_date": "2023-01-01"}),
             json.dumps({k: v for k, v in good.items() if k != "recipient"}), json.dumps({**good, "lessee_asn": "AS64501"})]
    path = write(tmp_path, "\n".join(lines) + "\n", name="register.jsonl")
    items = ingest_file(leases.parse, path)
    assert [(h.provenance.line, h.lessee_asn) for h in hops(items)] == [(1, 64500), (7, 64501)]
    assert [(line, reason.split(":")[0]) for line, reason in rejects(items)] == [
        (3, "not JSON"), (4, "not a JSON object"), (5, "end_date before start_date"), (6, "missing field"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{\n  "transfers": []\n}\n', "unknown format: line 1 starts like JSON but is not one JSON object"),
        ('{"cidr": "192.0.2.0/24", "sblid": "SBL1"}\n', "not a lease register: line 1 has none of the fields block, provider"),
    ],
)
def test_json_that_is_not_a_register_fails_the_file(tmp_path: Path, ingest_file, text: str, message: str) -> None:
    with pytest.raises(SourceError, match=message):
        ingest_file(leases.parse, write(tmp_path, text, name="other.json"))


def test_observed_at_override_and_date_in_name(tmp_path: Path, ingest_file) -> None:
    path = write(tmp_path, f"{HEADER}\n{GOOD}\n", name="leases-20240315.csv")
    [hop] = ingest_file(leases.parse, path)
    assert hop.provenance.observed_at == datetime(2024, 3, 15, tzinfo=timezone.utc)
    override = datetime(2025, 1, 1, tzinfo=timezone.utc)
    [hop] = ingest_file(leases.parse, path, observed_at=override)
    assert hop.provenance.observed_at == override


def test_same_file_twice_same_ids_and_ids_differ_per_hop(tmp_path: Path, ingest_file) -> None:
    path = write(tmp_path, f"{HEADER}\n{GOOD}\n{GOOD.replace('Lease Platform', 'Other')}\n")
    first = [h.event_id for h in hops(ingest_file(leases.parse, path))]
    second = [h.event_id for h in hops(ingest_file(leases.parse, path))]
    assert first == second and len(set(first)) == 2


def _run(parser, paths: list[Path]) -> list:
    items: list = []
    for path in paths:
        with SourceFile(path) as src:
            items.extend(parser(src, ParseContext(reference=str(path), ingested_at=MTIME)))
    return items


def test_replaces_retracts_only_hops_gone_from_the_new_files(tmp_path: Path) -> None:
    old = write(tmp_path, f"{HEADER}\n{GOOD}\n192.0.2.0/24,Lease Platform,upstream,Gone Lessee,lessee,2024-01-01,2025-01-01,,,\n", "old.csv")
    new = write(tmp_path, f"{HEADER}\n{GOOD}\n", "new.csv")
    os.utime(new, (MTIME.timestamp() + 86400, MTIME.timestamp() + 86400))
    items = _run(leases.make_parser([new], replaces=old), [new])
    asserted = [i for i in hops(items) if i.op == "assert"]
    retracted = [i for i in hops(items) if i.op == "retract"]
    assert len(asserted) == 1
    assert [(r.block, r.provider.name, r.recipient.name) for r in retracted] == [("192.0.2.0/24", "Lease Platform", "Gone Lessee")]
    [retract] = retracted
    assert retract.provenance.reference == str(old) and retract.provenance.line == 3
    assert retract.provenance.observed_at == datetime(2024, 6, 2, 12, tzinfo=timezone.utc)  # the new register's date
    assert retract.event_id and retract.event_id != hops(_run(leases.parse, [old]))[1].event_id


def test_no_retraction_without_the_flag_or_after_a_partial_read(tmp_path: Path) -> None:
    old = write(tmp_path, f"{HEADER}\n{GOOD}\n", "old.csv")
    new = write(tmp_path, f"{HEADER}\n", "new.csv")
    assert [i.op for i in hops(_run(leases.make_parser([new]), [new]))] == []
    parser = leases.make_parser([new, new.with_name("second.csv")], replaces=old)
    second = write(tmp_path, f"{HEADER}\n", "second.csv")
    with SourceFile(second) as src:  # the first file was never read to the end
        items = list(parser(src, ParseContext(reference=str(second), ingested_at=MTIME)))
    assert not hops(items)
    [reject] = items
    assert reject.reason.startswith("retractions skipped:") and str(new) in reject.reason


def test_replaces_unreadable_old_file_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="cannot open"):
        leases.make_parser([tmp_path / "new.csv"], replaces=tmp_path / "missing.csv")


_cell = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.lists(_cell, min_size=0, max_size=12), max_size=5))
def test_no_csv_content_makes_the_parser_raise(tmp_path: Path, rows: list[list[str]]) -> None:
    text = HEADER + "\n" + "\n".join(",".join(cells) for cells in rows) + "\n"
    path = tmp_path / "fuzz.csv"
    path.write_text(text, encoding="utf-8")
    items = _run(leases.parse, [path])
    assert all(isinstance(i, (LeaseHop, Reject)) for i in items)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.dictionaries(st.sampled_from(leases.REQUIRED_FIELDS + leases.OPTIONAL_FIELDS), st.one_of(_cell, st.integers(), st.none(), st.booleans()), max_size=12))
def test_no_json_line_makes_the_parser_raise(tmp_path: Path, values: dict) -> None:
    good = {"block": "192.0.2.0/24", "provider": "H", "provider_role": "holder", "recipient": "L", "recipient_role": "lessee",
            "start_date": "2024-01-01", "end_date": "2025-01-01"}
    path = tmp_path / "fuzz.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps(values) + "\n", encoding="utf-8")
    items = _run(leases.parse, [path])
    assert len(items) == 2 and isinstance(items[0], LeaseHop) and isinstance(items[1], (LeaseHop, Reject))
