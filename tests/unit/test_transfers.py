"""The NRO transfer-log worker on small synthetic logs."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chainrisk.ingest import transfers
from chainrisk.ingest.common import ParseContext, Reject, Skip, SourceError, SourceFile
from chainrisk.ingest.events import HolderTransfer, Party


def record(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "ip4nets": {"original_set": [{"start_address": "198.51.100.0", "end_address": "198.51.103.255"}],
                    "transfer_set": [{"start_address": "198.51.100.0", "end_address": "198.51.101.127"}]},
        "source_organization": {"name": "Seller LLC", "country_code": "US"},
        "recipient_organization": {"name": "Buyer GmbH", "country_code": "DE"},
        "source_rir": "ARIN", "recipient_rir": "RIPE NCC",
        "transfer_date": "2024-05-06T07:08:09Z", "type": "RESOURCE_TRANSFER",
    }
    base.update(overrides)
    return base


def write(tmp_path: Path, records: list[Any]) -> Path:
    path = tmp_path / "transfers_latest.json"
    path.write_text(json.dumps({"transfers": records, "version": {"producer": "TEST"}}), encoding="utf-8")
    return path


def test_one_event_per_cidr_of_the_transfer_set(tmp_path: Path, ingest_file) -> None:
    items = ingest_file(transfers.parse, write(tmp_path, [record()]))
    assert [e.block for e in items] == ["198.51.100.0/24", "198.51.101.0/25"]
    first = items[0]
    assert first == HolderTransfer(
        block="198.51.100.0/24", from_party=Party(name="Seller LLC"), to_party=Party(name="Buyer GmbH"),
        transfer_date=datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone.utc), transfer_type="RESOURCE_TRANSFER",
        source_rir="arin", recipient_rir="ripe ncc", provenance=first.provenance,
    ).with_id()
    assert (first.provenance.offset, first.provenance.observed_at) == (0, datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone.utc))


def test_malformed_records_are_rejected_with_their_index(tmp_path: Path, ingest_file) -> None:
    records = [
        record(),
        "not an object",
        record(transfer_date="yesterday"),
        record(recipient_organization={"country_code": "DE"}),
        record(ip4nets={"transfer_set": [{"start_address": "198.51.100.9", "end_address": "198.51.100.0"}]}),
        record(ip4nets={"transfer_set": []}),
        record(type=""),
        {"asns": {"transfer_set": [{"start": 1, "end": 1}]}},
        {"ip6nets": {"transfer_set": []}},
        {"something": "else"},
        record(ip4nets={"transfer_set": [{"start_address": "2001:db8::", "end_address": "2001:db8::1"}]}),
    ]
    items = ingest_file(transfers.parse, write(tmp_path, records))
    assert [(r.offset, r.reason) for r in items if isinstance(r, Reject)] == [
        (1, "malformed record: expected a JSON object (transfer #1)"),
        (2, "unparsable date: transfer_date 'yesterday' is not an ISO 8601 date (transfer #2)"),
        (3, "missing recipient_organization: the record names no recipient organization (transfer #3)"),
        (4, "range end before start: 198.51.100.0 is below 198.51.100.9 (transfer #4)"),
        (5, "malformed ip4nets: transfer_set is missing or empty (transfer #5)"),
        (6, "missing type: the record does not say RESOURCE_TRANSFER or MERGER_ACQUISITION (transfer #6)"),
        (9, "malformed record: no ip4nets, ip6nets or asns (transfer #9)"),
        (10, "IPv6 range in ip4nets: transfer_set holds an IPv6 address (transfer #10)"),
    ]
    assert [s.reason for s in items if isinstance(s, Skip)] == ["AS number transfers", "IPv6 transfers (out of scope)"]
    assert {e.provenance.offset for e in items if isinstance(e, HolderTransfer)} == {0}


@pytest.mark.parametrize("text", ['{"version": {}}', "[]", '{"transfers": {}}'])
def test_not_a_transfer_log(tmp_path: Path, ingest_file, text: str) -> None:
    path = tmp_path / "x.json"
    path.write_text(text)
    with pytest.raises(SourceError, match="unknown format: expected a JSON object with a 'transfers' list"):
        ingest_file(transfers.parse, path)


def test_observed_at_override(tmp_path: Path, ingest_file) -> None:
    override = datetime(2030, 1, 1, tzinfo=timezone.utc)
    items = ingest_file(transfers.parse, write(tmp_path, [record()]), observed_at=override)
    assert {e.provenance.observed_at for e in items} == {override}


_value = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=16), st.sampled_from(["198.51.100.0", "2024-01-01", "RESOURCE_TRANSFER"])),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(["name", "start_address", "end_address", "transfer_set"]), inner, max_size=3)),
    max_leaves=15,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(overrides=st.dictionaries(st.sampled_from(list(record())), _value, max_size=6))
def test_no_record_makes_the_parser_raise(tmp_path: Path, overrides: dict[str, Any]) -> None:
    path = write(tmp_path, [record(**overrides)])
    with SourceFile(path) as src:
        items = list(transfers.parse(src, ParseContext(str(path), datetime.now(timezone.utc))))
    assert items and all(isinstance(i, (HolderTransfer, Reject, Skip)) for i in items)
