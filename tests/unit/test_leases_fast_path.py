"""The lease worker's fast path publishes exactly what the validated path published: the hops
:func:`leases.parse` builds without validating twice equal ``LeaseHop(...).with_id()`` field for field,
and give the same JSON value, Kafka key, event id and partition, on a generated register and on
awkward rows; the ids of fixed rows are the ones the validated path gave before the fast path existed."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from chainrisk import synthetic
from chainrisk.graph.config import Settings
from chainrisk.graph.eventlog.kafka_io import key_partition, producer_config
from chainrisk.ingest import leases
from chainrisk.ingest.common import ParseContext, Reject, SourceFile
from chainrisk.ingest.events import LeaseHop, Party, Provenance

INGESTED_AT = datetime(2026, 5, 1, 8, 30, tzinfo=timezone.utc)
OBSERVED_AT = datetime(2026, 4, 30, tzinfo=timezone.utc)
HEADER = "block,provider,provider_role,recipient,recipient_role,start_date,end_date,lessee_asn,renewal_owner,document_ref,provider_id,recipient_id"
AWKWARD_CSV = "\r\n".join([
    HEADER,
    "192.0.2.0/24,Holder Inc,holder,Lease Platform,upstream,2024-01-01,2026-01-01,,,,,",
    ' 198.51.100.0/22 ,"Ünïcode Networks — Ost",HOLDER,"Broker ""Quoted"", Ltd",broker,2023-05-06,2027-05-06,,,LOA-1,ORG-X,',
    '203.0.113.0/24,"Broker ""Quoted"", Ltd",broker,Lessee 日本 \\ / </tag>,lessee,2024-02-29T10:00:00,2025-02-28,AS64500,Broker Ltd,"doc\x01\x7f\u2028",,',
    "203.0.113.0/24,,upstream,,lessee,2024-01-01,2024-01-01,4200000001,,,  org-up  ,LES-1",
    "192.0.2.0/24,Holder Inc,holder,Holder Inc,lessee,2024-01-01,2026-01-01,,,,,",  # rejected: provider equals recipient
]) + "\r\n"
AWKWARD_JSONL = "\n".join(json.dumps(row, ensure_ascii=False) for row in [
    {"block": "100.64.0.0/10", "provider": "Emoji 🛰 Net", "provider_role": "holder", "recipient": "Tab\there", "recipient_role": "lessee",
     "start_date": "2020-01-01", "end_date": "2030-12-31", "lessee_asn": 64496, "renewal_owner": None, "document_ref": 'q"uote'},
    {"block": "100.64.0.0/10", "provider": "Emoji 🛰 Net", "provider_role": "holder", "recipient": "Other", "recipient_role": "upstream",
     "start_date": "2020-01-01", "end_date": "2030-12-31", "provider_id": 42},
]) + "\n"
# (event_id, sha256 of the Kafka value) of the awkward rows, as the validated path (LeaseHop(...).with_id()
# and to_json()) gave them before the fast path existed, with provenance reference "register.<ext>"
PINNED = {
    "csv": [
        ("781081a53bda99ff244013263df4edcc", "54567e3fafc540a7163edb91e6035b8221bda77268edaabb93b108f7c1d321dc"),
        ("7340abc1555380918e761e2f45bc973f", "707351c5a55df7485dd63c454ca22d78b0ee20c07def7d66a2e43f10881e9e3e"),
        ("aa6249ce59b4e07215fe9cc1b9ef90ba", "91bb291d6c6a7c36bc6c521ca158fe3f4fdc2121b4e9e3ab7eb42d4b86ac5080"),
        ("49e442f056cbbaacaed151e6ef2c42ec", "e096e07b37646b1f7dac72ac905d4c054b6c488f93a5ad9762786755bd50fcc6"),
    ],
    "jsonl": [
        ("e17868b6a5791eef43307e0ded551373", "f3751ca10a660511bc3baaaf179e907410dad89832faf91c4d15018dc68334dc"),
        ("a2243d826e5890802c9943dbc952cbd9", "05ffaad75d59a007aed6fe6e2bb0cc9ae0ec47e2a12953c3a6ef45a01360e67e"),
    ],
}


def parse_file(path: Path, parser=leases.parse) -> list:
    ctx = ParseContext(reference=f"register{path.suffix}", ingested_at=INGESTED_AT, observed_at=OBSERVED_AT)
    with SourceFile(path) as src:
        return list(parser(src, ctx))


def validated_path(src: SourceFile, ctx: ParseContext) -> Iterator[LeaseHop | Reject]:
    """The hops as the worker built them before the fast path: every model validated by pydantic
    (parties rebuilt too, so no cached instance is shared), then ``with_id()``."""
    is_jsonl = src.path.suffix == ".jsonl"
    rows = leases.jsonl_rows(src, ctx.reference) if is_jsonl else leases.csv_rows(src, ctx.reference)
    for item in rows:
        if isinstance(item, Reject):
            yield item
            continue
        line, values, raw = item
        fields, reasons = leases.hop_fields(values)
        if reasons:
            yield Reject(ctx.reference, line, "; ".join(reasons), raw)
            continue
        fields = {k: Party(name=v.name, id=v.id) if isinstance(v, Party) else v for k, v in fields.items()}
        provenance = Provenance(source=leases.SOURCE, reference=ctx.reference, line=line, observed_at=ctx.observed_at, ingested_at=ctx.ingested_at)
        yield LeaseHop(provenance=provenance, **fields).with_id()


def assert_identical(fast: list, slow: list) -> None:
    assert len(fast) == len(slow)
    for got, want in zip(fast, slow):
        if isinstance(want, Reject):
            assert got == want
            continue
        assert type(got) is LeaseHop
        assert got == want
        assert got.model_fields_set == want.model_fields_set
        assert got.provenance.model_fields_set == want.provenance.model_fields_set
        assert got.event_id == want.event_id == want.content_id()
        assert got.to_json() == want.to_json()  # the Kafka value, byte for byte
        assert got.model_dump_json() == want.model_dump_json()
        assert got.block.encode() == want.block.encode()  # the Kafka key
        assert got.fact_key == want.fact_key


@pytest.mark.parametrize(("name", "text"), [("register.csv", AWKWARD_CSV), ("register.jsonl", AWKWARD_JSONL)])
def test_awkward_rows_match_the_validated_path_and_the_pinned_ids(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", newline="")
    fast = parse_file(path)
    assert_identical(fast, parse_file(path, validated_path))
    hops = [h for h in fast if isinstance(h, LeaseHop)]
    assert [(h.event_id, hashlib.sha256(h.to_json()).hexdigest()) for h in hops] == PINNED[path.suffix[1:]]


def test_generated_register_matches_the_validated_path(tmp_path: Path) -> None:
    path = tmp_path / "register.csv"
    rows = synthetic.write_register(synthetic.generate(400, seed=11, broken_rate=0.05), path)
    fast = parse_file(path)
    assert len(fast) == rows and any(isinstance(item, Reject) for item in fast)
    assert_identical(fast, parse_file(path, validated_path))


def test_retraction_of_a_fast_hop_is_the_retraction_of_the_validated_hop(tmp_path: Path) -> None:
    path = tmp_path / "register.csv"
    path.write_text(AWKWARD_CSV, encoding="utf-8", newline="")
    ctx = ParseContext(reference="new.csv", ingested_at=INGESTED_AT)
    later = datetime(2026, 6, 1, tzinfo=timezone.utc)
    fast = [leases.retraction(h, ctx, later) for h in parse_file(path) if isinstance(h, LeaseHop)]
    slow = [leases.retraction(h, ctx, later) for h in parse_file(path, validated_path) if isinstance(h, LeaseHop)]
    assert fast and [h.to_json() for h in fast] == [h.to_json() for h in slow]


@pytest.mark.parametrize(("key", "partition"), [(b"", 681), (b"a", 524), (b"ab", 434), (b"abc", 107), (b"123456789", 566), (b"\x00 ", 742)])
def test_key_partition_matches_the_java_default_partitioner(key: bytes, partition: int) -> None:
    # partitions of 1000 that the Java client's DefaultPartitioner gives these keys (kafka-python's test vectors)
    assert key_partition(key, 1000) == partition


def test_key_partition_is_kafka_pythons_murmur2_for_every_generated_block() -> None:
    from kafka.partitioner.default import murmur2

    blocks = {block.prefix for block in synthetic.generate(300, seed=3).blocks}
    for partitions in (1, 6, 7, 64):
        assert {b: key_partition(b.encode(), partitions) for b in blocks} == {b: (murmur2(b.encode()) & 0x7FFFFFFF) % partitions for b in blocks}


def test_producer_stays_idempotent_with_all_acks() -> None:
    config = producer_config(Settings())
    assert config["acks"] == "all" and config["enable_idempotence"] is True
    assert config["max_in_flight_requests_per_connection"] <= 5
    assert "value_serializer" not in config and "key_serializer" not in config and "partitioner" not in config
