"""The workers' fast paths (events.checked_*, LineProvenance, the CAIDA line match) publish exactly what
validating every event published: on awkward values, on files of every worker that uses them (rejects
included) and on random pfx2as lines, each event equals the validated ``Model(...).with_id()`` field for
field, with the same wire bytes, event id, field order and fields set."""
from __future__ import annotations

import bz2
import json
import re
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chainrisk.ingest import blocklist, delegated, events, pfx2as, vrps
from chainrisk.ingest.common import ParseContext, Reject, SourceFile
from chainrisk.ingest.events import BlocklistEntry, Delegation, LineProvenance, Provenance, RouteOrigin, Vrp

INGESTED_AT = datetime(2026, 5, 1, 8, 30, tzinfo=timezone.utc)
OBSERVED_AT = datetime(2024, 4, 6, tzinfo=timezone.utc)
AWKWARD_TEXTS = [None, "", "ripe", 'q"uote', "back\\slash", "Ünïcode — 日本", "tab\there", "line\nbreak", "\x01\x7f", "\u2028", "/"]


def provenances(source: str = "test-source") -> LineProvenance:
    return LineProvenance(source=source, reference="file.txt", observed_at=OBSERVED_AT, ingested_at=INGESTED_AT)


def assert_same(got: Any, want: Any) -> None:
    assert type(got) is type(want)
    if isinstance(want, Reject) or not hasattr(want, "to_json"):
        assert got == want
        return
    assert got == want
    assert got.to_json() == want.to_json()  # the Kafka value, byte for byte
    assert got.model_dump_json() == want.model_dump_json()
    assert got.event_id == want.event_id == want.content_id() == got.content_id()
    assert list(got.__dict__) == list(want.__dict__)
    assert got.model_fields_set == want.model_fields_set
    assert got.provenance == want.provenance and got.provenance.model_fields_set == want.provenance.model_fields_set
    assert got.fact_key == want.fact_key


def assert_all_same(fast: list[Any], slow: list[Any]) -> None:
    assert len(fast) == len(slow)
    for got, want in zip(fast, slow):
        assert_same(got, want)


# -- each fast constructor against the validated construction --------------------------------------
def test_line_provenance_is_the_validated_provenance() -> None:
    lines = provenances()
    for line in (1, 7, 10**9):
        want = Provenance(source="test-source", reference="file.txt", line=line, observed_at=OBSERVED_AT, ingested_at=INGESTED_AT)
        got = lines.at(line)
        assert got == want and got.model_dump_json() == want.model_dump_json() and got.model_fields_set == want.model_fields_set
    assert lines.prefix == events.id_prefix(want.source, want.observed_at)


@pytest.mark.parametrize(("origins", "as_sets"), [((13335,), ()), ((0, 4294967295), ()), ((), ("3356,6223",)), ((209,), ("1,2", "3"))])
def test_checked_route_origin(origins: tuple[int, ...], as_sets: tuple[str, ...]) -> None:
    lines = provenances()
    provenance = lines.at(3)
    want = RouteOrigin(block="10.0.0.0/8", origins=origins, as_sets=as_sets, provenance=provenance).with_id()
    assert_same(events.checked_route_origin("10.0.0.0/8", origins, as_sets, provenance, lines.prefix), want)


@pytest.mark.parametrize("text", AWKWARD_TEXTS)
@pytest.mark.parametrize("registered", [None, date(2011, 8, 11), date(999, 1, 2)])
@pytest.mark.parametrize("split", [False, True])
def test_checked_delegation(text: str | None, registered: date | None, split: bool) -> None:
    lines = provenances()
    provenance = lines.at(4)
    values = (text or "ripencc", text, "assigned", text, registered, "10.0.0.0" if split else None, 768 if split else None)
    want = Delegation(block="10.0.0.0/23", provenance=provenance, **dict(zip(
        ("registry", "country", "status", "holder_id", "registered", "range_start", "range_size"), values))).with_id()
    assert_same(events.checked_delegation("10.0.0.0/23", provenance, lines.prefix, *values), want)


UTC_PLUS_2 = timezone(timedelta(hours=2))


@pytest.mark.parametrize("text", AWKWARD_TEXTS)
@pytest.mark.parametrize("expires", [None, datetime.fromtimestamp(1753453058, tz=timezone.utc), datetime(2025, 7, 25, 14, 17, 38, 5, tzinfo=timezone.utc),
                                     datetime(2025, 7, 25, 14, 17, 38, tzinfo=UTC_PLUS_2), datetime(2025, 1, 1, tzinfo=timezone(timedelta(0)))])
def test_checked_vrp(text: str | None, expires: datetime | None) -> None:
    lines = provenances()
    provenance = lines.at(5)
    kwargs: dict[str, Any] = {"block": "192.0.2.0/24", "max_length": 24, "asn": 64500, "ta": text or "ripe", "expires": expires, "uri": text or None}
    want = Vrp(provenance=provenance, **kwargs).with_id()
    assert_same(events.checked_vrp(provenance, lines.prefix, **kwargs), want)


@pytest.mark.parametrize("text", AWKWARD_TEXTS)
def test_checked_blocklist_entry(text: str | None) -> None:
    lines = provenances(text or "spamhaus-drop")
    provenance = lines.at(6)
    want = BlocklistEntry(block="192.0.2.0/24", list_name=text or "spamhaus-drop", entry_id=text, rir=text, provenance=provenance).with_id()
    assert_same(events.checked_blocklist_entry("192.0.2.0/24", text or "spamhaus-drop", text, text, provenance, lines.prefix), want)


# -- whole workers: the fast path against the same worker validating every event -----------------------
def _validated_at(self: LineProvenance, line: int) -> Provenance:
    base = self.base
    return Provenance(source=base.source, reference=base.reference, line=line, observed_at=base.observed_at, ingested_at=base.ingested_at)


NOTHING = re.compile(r"(?!)")  # matches no line: every line takes the general path
VALIDATED = {
    "checked_route_origin": lambda block, origins, as_sets, provenance, prefix: RouteOrigin(
        block=block, origins=origins, as_sets=as_sets, provenance=provenance).with_id(),
    "checked_delegation": lambda block, provenance, prefix, registry, country, status, holder_id, registered, range_start, range_size: Delegation(
        block=block, provenance=provenance, registry=registry, country=country, status=status, holder_id=holder_id, registered=registered,
        range_start=range_start, range_size=range_size).with_id(),
    "checked_vrp": lambda provenance, prefix, **kw: Vrp(provenance=provenance, **kw).with_id(),
    "checked_blocklist_entry": lambda block, list_name, entry_id, rir, provenance, prefix: BlocklistEntry(
        block=block, list_name=list_name, entry_id=entry_id, rir=rir, provenance=provenance).with_id(),
}


def parse_all(module: Any, path: Path) -> list[Any]:
    ctx = ParseContext(reference=str(path), ingested_at=INGESTED_AT)
    with SourceFile(path) as src:
        return list(module.parse(src, ctx))


def fast_and_validated(module: Any, path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[list[Any], list[Any]]:
    """The items of ``module`` on ``path``, then the same with every provenance and event validated
    (the path before the fast one: no CAIDA or DROP line match, pydantic construction and ``with_id()``)."""
    fast = parse_all(module, path)
    with monkeypatch.context() as patch:
        patch.setattr(LineProvenance, "at", _validated_at)
        patch.setattr(pfx2as, "_CAIDA_LINE", NOTHING)
        patch.setattr(blocklist, "_DROP_LINE", NOTHING)
        for name, slow in VALIDATED.items():
            if hasattr(module, name):
                patch.setattr(module, name, slow)
        slow_items = parse_all(module, path)
    return fast, slow_items


PFX2AS_LINES = [
    "1.0.0.0\t24\t13335", "67.14.0.0\t17\t209_3356,6223,6224,19901", "10.0.0.0\t8\t45458,134240_45458,65000,134240",
    "192.0.2.1\t24\t64500", "192.0.2.0\t33\t64500", "192.0.2.0\t024\t64500", "192.0.2.00\t24\t64500", "192.0.2.0\t24\t64500_ASX",
    "192.0.2.0\t24\t64500,", "192.0.2.0\t24\t1__2", "192.0.2.0\t24", "2001:db8::\t32\t64500", "198.51.100.0\t24\t4294967296",
    " 198.51.100.0 \t 24 \t 64500 ", "203.0.113.0\t24\t64500\x00", "203.0.113.0\t24\t\ufffd", "0.0.0.0\t0\t0", "# comment", "",
]


def test_pfx2as_fast_path_is_the_validated_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "routeviews-rv2-20240406.pfx2as"
    path.write_text("\n".join(PFX2AS_LINES) + "\n", encoding="utf-8")
    fast, slow = fast_and_validated(pfx2as, path, monkeypatch)
    assert sum(isinstance(i, Reject) for i in fast) >= 8 and sum(isinstance(i, RouteOrigin) for i in fast) >= 5
    assert_all_same(fast, slow)


def test_iptoasn_fast_path_is_the_validated_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "ip2asn-v4.tsv"
    path.write_text("1.0.0.0\t1.0.0.255\t13335\tUS\tCLOUDFLARENET\n1.0.1.0\t1.0.3.255\t0\tNone\tNot routed\n"
                    "1.0.4.0\t1.0.6.255\t38803\tAU\tGTELECOM\n1.0.7.9\t1.0.7.0\t1\tAU\tBACKWARDS\n", encoding="utf-8")
    fast, slow = fast_and_validated(pfx2as, path, monkeypatch)
    assert sum(isinstance(i, RouteOrigin) for i in fast) == 3
    assert_all_same(fast, slow)


PFX2AS_FIELDS = st.one_of(st.sampled_from(["1.0.0.0", "10.0.0.0", "255.255.255.255", "0.0.0.0", "01.2.3.4", "24", "32", "33", "0", "8",
                                           "13335", "1_2", "1,2", "1_2,3_4", "4294967295", "4294967296", "_", ",", " 1", "AS1"]),
                          st.text(alphabet="0123456789._, /", max_size=12))
PFX2AS_RANDOM_LINES = st.lists(st.lists(PFX2AS_FIELDS, min_size=2, max_size=4).map("\t".join), min_size=1, max_size=12)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=PFX2AS_RANDOM_LINES)
def test_pfx2as_fast_path_on_random_lines(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, lines: list[str]) -> None:
    path = tmp_path_factory.mktemp("pfx2as") / "routeviews-rv2-20240406.pfx2as"
    path.write_text("1.0.0.0\t24\t13335\n" + "\n".join(lines) + "\n", encoding="utf-8")
    fast, slow = fast_and_validated(pfx2as, path, monkeypatch)
    assert_all_same(fast, slow)


def test_delegated_fast_path_is_the_validated_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "delegated-test-extended-20240101.txt"
    path.write_text("\n".join([
        "2.3|test|20240102|9|19700101|20240101|+0000",
        "test|*|ipv4|*|9|summary",
        "test|AU|ipv4|1.0.0.0|256|20110811|assigned|A9173591",
        "test|ZZ|ipv4|10.0.0.0|768|00000000|available|",  # split in two CIDRs
        "test||ipv4|10.1.0.1|256|20110811|allocated|ORG-\"Q\"",  # unaligned: split, and a quote in the id
        "test|JP|ipv4|10.2.0.0|4096|20200229|allocated|日本",
        "TEST|jp|ipv4|10.3.0.0|1|20200101|reserved|X",
        "test|AU|ipv4|10.4.0.0|0|20110811|assigned|A1",
        "test|AU|ipv4|10.5.0.0|256|20110231|assigned|A1",
        "test|AU|ipv4|10.6.0.0|256|20110811|stolen|A1",
        "test|AU|ipv6|2001:db8::|32|20110811|assigned|A1",
        "test|AU|asn|64500|1|20110811|assigned|A1",
        "test|AU|ipv4|255.255.255.0|512|20110811|assigned|A1",
        "test|AU|ipv4|1.2.3.0|256|20110811|assigned|A\x00",
    ]) + "\n", encoding="utf-8")
    fast, slow = fast_and_validated(delegated, path, monkeypatch)
    assert sum(isinstance(i, Reject) for i in fast) >= 5 and sum(isinstance(i, Delegation) for i in fast) >= 6
    assert_all_same(fast, slow)


def test_vrps_fast_path_is_the_validated_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    roas = [
        {"asn": 13335, "prefix": "1.0.0.0/24", "maxLength": 24, "ta": "apnic", "expires": 1753453058},
        {"asn": "AS64500", "prefix": "192.0.2.0/24", "ta": "ri\"pe", "expires": "2025-07-25T14:17:38+02:00"},
        {"asn": 64501, "prefix": "198.51.100.0/22", "maxLength": 24, "ta": "Ünïcode", "expires": "2025-07-25T14:17:38.5Z"},
        {"asn": 64502, "prefix": "203.0.113.0/24", "maxLength": 23, "ta": "ripe"},
        {"asn": 64503, "prefix": "2001:db8::/32", "maxLength": 48, "ta": "ripe"},
        {"asn": 64504, "prefix": "203.0.113.1/24", "maxLength": 24, "ta": "ripe"},
        {"prefix": "203.0.113.0/24", "asn": 64505, "source": [{"tal": "arin", "uri": "rsync://rpki.arin.net/x.roa",
                                                                "chainValidity": {"notAfter": "2026-01-01T00:00:00Z"}}]},
    ]
    body = {"metadata": {"buildmachine": "test", "buildtime": "2025-01-02T03:04:05Z"}, "roas": roas}
    path = tmp_path / "vrps.json.bz2"
    path.write_bytes(bz2.compress(json.dumps(body, indent=1, ensure_ascii=False).encode()))
    fast, slow = fast_and_validated(vrps, path, monkeypatch)
    assert sum(isinstance(i, Reject) for i in fast) == 2 and sum(isinstance(i, Vrp) for i in fast) == 4
    assert_all_same(fast, slow)
    csv_path = tmp_path / "roas.csv"
    csv_path.write_text("URI,ASN,IP Prefix,Max Length,Not Before,Not After\n"
                        "rsync://rpki.ripe.net/a.roa,AS64500,192.0.2.0/24,24,2024-01-01 00:00:00,2026-01-01 00:00:00\n"
                        "rsync://repository.lacnic.net/\"q\".roa,AS64501,198.51.100.0/24,24,2024-01-01 00:00:00,2026-01-01 00:00:00\n"
                        "rsync://rpki.ripe.net/b.roa,AS64502,198.51.100.0/24,16,2024-01-01 00:00:00,2026-01-01 00:00:00\n", encoding="utf-8")
    fast, slow = fast_and_validated(vrps, csv_path, monkeypatch)
    assert sum(isinstance(i, Reject) for i in fast) == 1 and sum(isinstance(i, Vrp) for i in fast) == 2
    assert_all_same(fast, slow)


def test_blocklist_fast_path_is_the_validated_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = tmp_path / "spamhaus_drop.txt"
    text.write_text("; Spamhaus DROP List 2023/12/01\n; Last-Modified: Fri, 01 Dec 2023 14:47:07 GMT\n"
                    "1.10.16.0/20 ; SBL256894\n1.19.0.0/16\n2.56.192.1/22 ; SBL1\n2001:db8::/32 ; SBL2\n5.0.0.0/8 ; SBL\"q\"\n", encoding="utf-8")
    fast, slow = fast_and_validated(blocklist, text, monkeypatch)
    assert sum(isinstance(i, Reject) for i in fast) == 1 and sum(isinstance(i, BlocklistEntry) for i in fast) == 3
    assert_all_same(fast, slow)
    lines = tmp_path / "drop_v4.json"
    lines.write_text('{"cidr":"1.10.16.0/20","sblid":"SBL256894","rir":"apnic"}\n{"cidr":"2.56.192.0/22","sblid":"","rir":"RIPE NCC"}\n'
                     '{"cidr":"3.0.0.0/8","sblid":"SBLÜ","rir":null}\n{"cidr":"3.0.0.1/8"}\n{"cidr":"4.0.0.0/8","sblid":"S\\"1","rir":""}\n'
                     '{"cidr":"5.0.0.0/08","sblid":"SBL5","rir":"x"}\n{"cidr":"6.0.0.1/8","sblid":"SBL6","rir":"x"}\n'
                     '{"cidr":"7.0.0.0/8","sblid":"SBL\\u00dc","rir":"X"}\n{"type":"metadata","timestamp":1744675200}\n', encoding="utf-8")
    fast, slow = fast_and_validated(blocklist, lines, monkeypatch)
    assert sum(isinstance(i, Reject) for i in fast) == 2 and sum(isinstance(i, BlocklistEntry) for i in fast) == 6
    assert_all_same(fast, slow)
