"""The lease-chain workers (rpsl, arin, transfers) against the real public samples: exact events for
the small files, counts and invariants for the collections."""
from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from chainrisk.ingest import arin, rpsl, transfers
from chainrisk.ingest.common import Reject, Skip
from chainrisk.ingest.events import HolderTransfer, Party, Provenance, Registration, Role, RouteObject

INGESTED_AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)  # what the ingest_file fixture stamps


def _utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)


def _events(items: list[Any]) -> list[Any]:
    return [i for i in items if not isinstance(i, (Reject, Skip))]


def _provenance(source: str, path: Path, observed_at: datetime, line: int | None = None, offset: int | None = None) -> Provenance:
    return Provenance(source=source, reference=str(path), line=line, offset=offset, observed_at=observed_at, ingested_at=INGESTED_AT)


# --- ARIN -----------------------------------------------------------------------------------------


def test_arin_port43_chain_104_144_194_0(real_sample, ingest_file) -> None:
    path = real_sample("arin_rdap_whois/arin_whois_n+104.144.194.0_2018.txt")
    b2 = Party(name="B2 Net Solutions Inc.", id="BNS-34")
    common = dict(registry="arin", abuse_c="NOC13339-ARIN")
    expected = [
        Registration(
            block="104.144.0.0/16", handle="NET-104-144-0-0-2", parent_handle="NET-104-144-0-0-1", status="REALLOCATED",
            role=Role.UPSTREAM, org=b2, netname="SERVERMANIA", created=date(2014, 7, 22), last_modified=date(2014, 7, 22),
            provenance=_provenance(arin.SOURCE, path, _utc(2014, 7, 22), line=38), **common,
        ),
        Registration(
            block="104.144.0.0/16", handle="NET-104-144-0-0-1", parent_handle="NET-104-0-0-0-0", status="DIRECT ALLOCATION",
            role=Role.HOLDER, org=b2, netname="B2NETSOLUTIONS", created=date(2014, 7, 22), last_modified=date(2014, 7, 22),
            provenance=_provenance(arin.SOURCE, path, _utc(2014, 7, 22), line=87), **common,
        ),
        Registration(
            block="104.144.194.0/23", handle="NET-104-144-194-0-1", parent_handle="NET-104-144-0-0-2", status="REASSIGNED",
            role=Role.LESSEE, org=Party(name="ProxynVPN", id="C07015515"), netname="NET-104-144-194-0-1",
            created=date(2018, 7, 3), last_modified=date(2018, 7, 3),
            provenance=_provenance(arin.SOURCE, path, _utc(2018, 7, 3), line=137), **common,
        ),
    ]
    items = ingest_file(arin.parse, path)
    assert items == [e.with_id() for e in expected]  # nothing rejected or skipped: the IANA referral is not ARIN data


def test_arin_chain_links_parent_handles(real_sample, ingest_file) -> None:
    """The three nets form one chain by handle: lessee -> upstream -> holder -> ARIN's /8."""
    path = real_sample("arin_rdap_whois/arin_whois_n+104.144.194.0_2018.txt")
    parent_of = {e.handle: e.parent_handle for e in _events(ingest_file(arin.parse, path))}
    chain = ["NET-104-144-194-0-1"]
    while chain[-1] in parent_of:
        chain.append(parent_of[chain[-1]])
    assert chain == ["NET-104-144-194-0-1", "NET-104-144-0-0-2", "NET-104-144-0-0-1", "NET-104-0-0-0-0"]


def test_arin_bulk_whois_sample(real_sample, ingest_file) -> None:
    path = real_sample("arin_rdap_whois/arin_bulkwhois_sample_arin_db.txt")
    items = ingest_file(arin.parse, path)
    expected = Registration(
        block="192.104.33.0/24", registry="arin", handle="NET-192-104-33-0-1", parent_handle="NET-192-0-0-0-0",
        status="ASSIGNMENT", role=Role.HOLDER, org=Party(name="THESPI", id="THESPI"), netname="SPINK",
        created=date(1991, 4, 9), last_modified=date(1991, 4, 9),
        provenance=_provenance(arin.SOURCE, path, _utc(1991, 4, 9), line=29),
    ).with_id()
    assert _events(items) == [expected]
    skipped = Counter(i.reason for i in items if isinstance(i, Skip))
    assert skipped == {"IPv6 networks (out of scope)": 2, "AS number records": 1, "POC records": 1}


def test_arin_rdap_8_8_8_8(real_sample, ingest_file) -> None:
    path = real_sample("arin_rdap_whois/arin_rdap_ip_8.8.8.8_2026_scrubbed.json")
    expected = Registration(
        block="8.8.8.0/24", registry="arin", handle="NET-8-8-8-0-2", parent_handle="NET-8-0-0-0-0",
        status="DIRECT ALLOCATION", role=Role.HOLDER, org=Party(name="Google LLC", id="GOGL"), netname="GOGL",
        abuse_c="ABUSE5250-ARIN", created=date(2023, 12, 28), last_modified=date(2023, 12, 28),
        provenance=_provenance(arin.SOURCE, path, _utc(2023, 12, 28, 22, 24, 56), offset=0),
    ).with_id()
    assert ingest_file(arin.parse, path) == [expected]


def test_arin_rdap_collection_of_all_rirs(real_sample, ingest_file) -> None:
    path = real_sample("arin_rdap_whois/ipwhois_rdap_responses_multi_rir.json")
    items = ingest_file(arin.parse, path)
    events = _events(items)
    by_handle = {(e.registry, e.handle): e for e in events}
    assert sorted(by_handle) == [
        ("afrinic", "196.11.239.0 - 196.11.246.255"),
        ("apnic", "210.107.0.0 - 210.107.127.255"),
        ("arin", "NET-74-125-0-0-1"),
        ("ripe", "62.239.237.0 - 62.239.237.255"),
    ]
    ripe = by_handle[("ripe", "62.239.237.0 - 62.239.237.255")]
    assert (ripe.block, ripe.status, ripe.role, ripe.abuse_c) == ("62.239.237.0/24", "ASSIGNED PA", Role.LESSEE, "BTCR3-RIPE")
    apnic = by_handle[("apnic", "210.107.0.0 - 210.107.127.255")]
    assert (apnic.block, apnic.status, apnic.role, apnic.parent_handle) == ("210.107.0.0/17", "ALLOCATED PORTABLE", Role.HOLDER, "210.0.0.0 - 210.255.255.255")
    google = by_handle[("arin", "NET-74-125-0-0-1")]  # zero-padded addresses "074.125.000.000" in the 2015 reply
    assert (google.block, google.parent_handle, google.org, google.status, google.role) == (
        "74.125.0.0/16", "NET-74-0-0-0-0", Party(name="Google Inc.", id="GOGL"), "", None
    )
    afrinic = [e for e in events if e.registry == "afrinic"]
    assert [e.block for e in afrinic] == ["196.11.239.0/24", "196.11.240.0/22", "196.11.244.0/23", "196.11.246.0/24"]
    assert {(e.range_start, e.range_end, e.role) for e in afrinic} == {("196.11.239.0", "196.11.246.255", Role.HOLDER)}
    rejects = [i for i in items if isinstance(i, Reject)]
    assert [(r.file, r.offset) for r in rejects] == [(f"{path}#200.57.141.161", 4)]
    assert rejects[0].reason.startswith("no network range:")
    assert Counter(i.reason for i in items if isinstance(i, Skip)) == {"IPv6 networks (out of scope)": 5}


# --- RPSL -----------------------------------------------------------------------------------------


def test_rpsl_ripe_191_96_ipxo_broker(real_sample, ingest_file) -> None:
    path = real_sample("rpsl_whois/ripe_whois_191.96.0.0_16_ipxo_broker_2022.txt")
    expected = Registration(
        block="191.96.0.0/16", registry="ripe", handle="191.96.0.0 - 191.96.255.255", status="ALLOCATED PA",
        role=Role.HOLDER, org=Party(name="ORG-CAF4-RIPE", id="ORG-CAF4-RIPE"), netname="AE-CYBERASSETS-20131024",
        country="AE", mnt_by=("CYBER-A-MNT", "RIPE-NCC-HM-MNT"), mnt_lower=("IPXO-MNT",), mnt_routes=("IPXO-MNT",),
        abuse_c="IPXO834", created=date(2022, 3, 2), last_modified=date(2022, 3, 2),
        provenance=_provenance(rpsl.SOURCE, path, _utc(2022, 3, 2, 14, 29, 23), line=14),
    ).with_id()
    assert ingest_file(rpsl.parse, path) == [expected]


def test_rpsl_whois_collection(real_sample, ingest_file) -> None:
    path = real_sample("rpsl_whois/ipwhois_whois_responses_multi_rir.json")
    items = ingest_file(rpsl.parse, path)
    assert not [i for i in items if isinstance(i, Reject)]
    events = _events(items)
    assert Counter(e.type for e in events) == {"registration": 9, "route_object": 1}
    afrinic = next(e for e in events if e.type == "registration" and e.registry == "afrinic")
    # the organisation object follows the inetnum in the reply: the name still reaches the event
    assert afrinic.org == Party(name="MTN SA", id="ORG-VSA1-AFRINIC")
    assert afrinic.parent_handle == "196.0.0.0 - 196.255.255.255"
    assert afrinic.provenance.reference == f"{path}#196.11.240.215"
    lacnic = next(e for e in events if e.type == "registration" and e.registry == "lacnic")
    assert (lacnic.block, lacnic.handle, lacnic.status, lacnic.role) == ("200.57.128.0/19", "200.57.128.0 - 200.57.159.255", "ALLOCATED", Role.HOLDER)
    assert lacnic.org == Party(name="Triara.com, S.A. de C.V.", id="MX-TSCV6-LACNIC")
    assert (lacnic.created, lacnic.last_modified, lacnic.abuse_c) == (date(2000, 12, 4), date(2014, 7, 16), "RYT2")
    bt = next(e for e in events if e.type == "registration" and e.registry == "ripe")
    assert (bt.block, bt.status, bt.role, bt.netname) == ("62.239.237.0/24", "ASSIGNED PA", Role.LESSEE, "BT-CORPORATE")
    route = next(e for e in events if isinstance(e, RouteObject))
    assert (route.block, route.origin_asn, route.registry, route.mnt_by) == ("62.239.0.0/16", 2856, "ripe", ("BTNET-MNT",))
    apnic = sorted((e.registry, e.handle, e.block) for e in events if e.type == "registration" and e.registry in ("apnic", "krnic"))
    assert apnic == [
        ("apnic", "210.107.0.0 - 210.107.127.255", "210.107.0.0/17"),
        ("krnic", "210.106.224.0 - 210.107.127.255", "210.106.224.0/19"),
        ("krnic", "210.106.224.0 - 210.107.127.255", "210.107.0.0/17"),
    ]


def test_rpsl_irr_route_objects(real_sample, ingest_file) -> None:
    path = real_sample("rpsl_whois/ipwhois_irr_route_objects.json")
    items = ingest_file(rpsl.parse, path)
    routes = _events(items)
    assert not [i for i in items if isinstance(i, Reject)]
    assert len(routes) == 83 and all(isinstance(r, RouteObject) for r in routes)
    first = routes[0]
    assert (first.block, first.origin_asn, first.registry, first.mnt_by) == ("192.151.16.0/20", 2856, "radb", ("MAINT-AS3491",))
    assert first.provenance.observed_at == _utc(2008, 11, 24)


def test_rpsl_grs_dumps(real_sample, ingest_file) -> None:
    lacnic = real_sample("rpsl_whois/ripe_whois_grs_test_dumps/lacnic.test.txt")
    items = ingest_file(rpsl.parse, lacnic)
    expected = Registration(
        block="24.232.16.0/24", registry="lacnic", handle="24.232.16.0 - 24.232.16.255", parent_handle="24.232.0.0 - 24.232.255.255",
        status="REALLOCATED", role=Role.UPSTREAM, org=Party(name="Description"), country="AR",
        created=date(1999, 3, 12), last_modified=date(1999, 3, 12),
        provenance=_provenance(rpsl.SOURCE, lacnic, _utc(1999, 3, 12), line=11),
    ).with_id()
    assert _events(items) == [expected]
    afrinic = real_sample("rpsl_whois/ripe_whois_grs_test_dumps/afrinic.test.txt")
    events = _events(ingest_file(rpsl.parse, afrinic))
    # 196.204.208.1 - 196.204.208.255 is not one CIDR: 8 events, each with the range
    assert [e.block for e in events] == [
        "196.207.3.172/30", "196.204.208.1/32", "196.204.208.2/31", "196.204.208.4/30", "196.204.208.8/29",
        "196.204.208.16/28", "196.204.208.32/27", "196.204.208.64/26", "196.204.208.128/25",
    ]
    assert {(e.status, e.role, e.country) for e in events[1:]} == {("ASSIGNED PA", Role.LESSEE, "DK")}
    assert {(e.range_start, e.range_end) for e in events[1:]} == {("196.204.208.1", "196.204.208.255")}
    assert events[0].range_start is None


# --- transfers ------------------------------------------------------------------------------------


def test_transfers_aes_record(real_sample, ingest_file) -> None:
    path = real_sample("transfers/arin_transfers_example_from_nro-transfer-log-draft.json")
    items = ingest_file(transfers.parse, path)
    expected = HolderTransfer(
        block="162.208.48.0/22", from_party=Party(name="Database By Design LLC"), to_party=Party(name="The AES Corporation"),
        transfer_date=_utc(2026, 4, 14, 18, 59, 21), transfer_type="RESOURCE_TRANSFER", source_rir="arin", recipient_rir="arin",
        provenance=_provenance(transfers.SOURCE, path, _utc(2026, 4, 14, 18, 59, 21), offset=2),
    ).with_id()
    assert _events(items) == [expected]
    assert [i.reason for i in items if isinstance(i, Skip)] == ["AS number transfers", "IPv6 transfers (out of scope)"]


def test_fixture_stamps_the_ingest_time_used_above(ingest_file) -> None:
    assert ingest_file.ingested_at == INGESTED_AT


def test_same_file_twice_gives_same_ids(real_sample, ingest_file) -> None:
    for module, relative in (
        (arin, "arin_rdap_whois/arin_whois_n+104.144.194.0_2018.txt"),
        (rpsl, "rpsl_whois/ipwhois_whois_responses_multi_rir.json"),
        (transfers, "transfers/arin_transfers_example_from_nro-transfer-log-draft.json"),
    ):
        path = real_sample(relative)
        first = [e.event_id for e in _events(ingest_file(module.parse, path))]
        second = [e.event_id for e in _events(ingest_file(module.parse, path))]
        assert first == second and len(set(first)) == len(first) > 0
