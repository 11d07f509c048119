"""The ARIN worker on small synthetic bulk whois, port-43 replies and RDAP documents."""
from __future__ import annotations

import json
from collections import Counter
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chainrisk.ingest import arin
from chainrisk.ingest.common import ParseContext, Reject, Skip, SourceError, SourceFile
from chainrisk.ingest.events import Party, Registration, Role

BULK = """\
OrgID:          EXCO
OrgName:        Example Hosting Co
Source:         ARIN

NetHandle:      NET-198-51-100-0-1
OrgID:          EXCO
Parent:         NET-198-0-0-0-0
NetName:        EXAMPLE-HOSTING
NetRange:       198.51.100.0 - 198.51.101.255
NetType:        allocation
RegDate:        2010-01-02
Updated:        2015-03-04
Source:         ARIN

NetHandle:      NET-198-51-100-0-2
OrgID:          RESELL
Parent:         NET-198-51-100-0-1
NetName:        RESELLER
NetRange:       198.51.100.0 - 198.51.100.255
NetType:        reallocation
RegDate:        2016-01-01
Updated:        2016-01-01
Source:         ARIN

ASHandle:       AS64500
OrgID:          EXCO
Source:         ARIN
"""

PORT43 = """\
#
# ARIN WHOIS data and services are subject to the Terms of Use
#

NetRange:       192.0.2.0 - 192.0.2.255
CIDR:           192.0.2.0/24
NetName:        LESSEE-NET
NetHandle:      NET-192-0-2-0-1
Parent:         PLATFORM (NET-192-0-0-0-1)
NetType:        Reassigned
Customer:       Lessee (Pty) Ltd (C0001)
RegDate:        2019-05-06
Updated:        2020-07-08

CustName:       Lessee (Pty) Ltd
Country:        US

OrgAbuseHandle: ABUSE1-ARIN
OrgAbuseName:   Abuse desk
"""


def write(tmp_path: Path, text: str, name: str = "whois.txt") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def events(items: list) -> list[Registration]:
    return [i for i in items if isinstance(i, Registration)]


def test_bulk_whois_with_org_names_and_range_split(tmp_path: Path, ingest_file) -> None:
    items = ingest_file(arin.parse, write(tmp_path, BULK))
    holder, reseller = events(items)
    assert (holder.block, holder.range_start, holder.range_end) == ("198.51.100.0/23", None, None)
    assert holder == Registration(
        block="198.51.100.0/23", registry="arin", handle="NET-198-51-100-0-1", parent_handle="NET-198-0-0-0-0",
        status="ALLOCATION", role=Role.HOLDER, org=Party(name="Example Hosting Co", id="EXCO"), netname="EXAMPLE-HOSTING",
        created=date(2010, 1, 2), last_modified=date(2015, 3, 4), provenance=holder.provenance,
    ).with_id()
    assert holder.provenance.line == 5 and holder.provenance.observed_at == datetime(2015, 3, 4, tzinfo=timezone.utc)
    assert (reseller.role, reseller.parent_handle, reseller.org) == (Role.UPSTREAM, "NET-198-51-100-0-1", Party(name="RESELL", id="RESELL"))
    assert [i.reason for i in items if isinstance(i, Skip)] == ["AS number records"]


def test_port43_reply_without_markers(tmp_path: Path, ingest_file) -> None:
    [event] = ingest_file(arin.parse, write(tmp_path, PORT43))
    assert (event.block, event.handle, event.parent_handle) == ("192.0.2.0/24", "NET-192-0-2-0-1", "NET-192-0-0-0-1")
    assert (event.status, event.role, event.abuse_c) == ("REASSIGNED", Role.LESSEE, "ABUSE1-ARIN")
    assert event.org == Party(name="Lessee (Pty) Ltd", id="C0001")  # the last parenthesis is the handle
    assert event.provenance.line == 5


def test_port43_sections_range_not_one_cidr(tmp_path: Path, ingest_file) -> None:
    text = "# start\n\n" + PORT43.replace("192.0.2.0 - 192.0.2.255", "192.0.2.0 - 192.0.3.127") + "\n# end\n"
    items = ingest_file(arin.parse, write(tmp_path, text))
    assert [(e.block, e.range_start, e.range_end) for e in items] == [
        ("192.0.2.0/24", "192.0.2.0", "192.0.3.127"), ("192.0.3.0/25", "192.0.2.0", "192.0.3.127"),
    ]


@pytest.mark.parametrize(
    ("net_type", "role"),
    [("Direct Allocation", Role.HOLDER), ("Direct Assignment", Role.HOLDER), ("Reallocated", Role.UPSTREAM), ("Reassigned", Role.LESSEE), ("Allocated to APNIC", None)],
)
def test_net_type_to_role(tmp_path: Path, ingest_file, net_type: str, role: Role | None) -> None:
    [event] = ingest_file(arin.parse, write(tmp_path, PORT43.replace("Reassigned", net_type)))
    assert event.role == role


def test_rejects_keep_the_other_records(tmp_path: Path, ingest_file) -> None:
    broken = (
        "NetHandle: NET-BAD-1\nNetRange: 198.51.100.9 - 198.51.100.0\nNetType: allocation\n\n"  # line 1
        "NetHandle: NET-BAD-2\nNetRange: 198.51.100.0 - 198.51.100.255\n\n"  # line 5
        "NetHandle: NET-BAD-3\nNetRange: 198.51.100.0 - 198.51.100.255\nNetType: allocation\nthis is not a field\n\n"  # line 8
    )
    items = ingest_file(arin.parse, write(tmp_path, broken + BULK))
    assert [(r.line, r.reason) for r in items if isinstance(r, Reject)] == [
        (1, "range end before start: 198.51.100.0 is below 198.51.100.9 (NetRange '198.51.100.9 - 198.51.100.0')"),
        (5, "missing NetType: the network record does not say how it was delegated"),
        (8, "malformed line: line 11 is not 'Key: value'"),
    ]
    assert len(events(items)) == 2


def _rdap(**overrides: Any) -> dict[str, Any]:
    network: dict[str, Any] = {
        "objectClassName": "ip network", "handle": "NET-203-0-113-0-1", "startAddress": "203.0.113.0", "endAddress": "203.0.113.255",
        "ipVersion": "v4", "type": "REALLOCATION", "parentHandle": "NET-203-0-0-0-0", "name": "PLATFORM", "port43": "whois.arin.net",
        "events": [{"eventAction": "registration", "eventDate": "2020-01-01T10:00:00-05:00"}, {"eventAction": "last changed", "eventDate": "2021-02-03T04:05:06-05:00"}],
        "entities": [
            {"handle": "PLAT", "roles": ["registrant"], "vcardArray": ["vcard", [["version", {}, "text", "4.0"], ["fn", {}, "text", "Platform Inc"]]],
             "entities": [{"handle": "ABUSE9-ARIN", "roles": ["abuse"]}]},
        ],
    }
    network.update(overrides)
    return network


def test_rdap_single_response(tmp_path: Path, ingest_file) -> None:
    [event] = ingest_file(arin.parse, write(tmp_path, json.dumps(_rdap()), "net.json"))
    assert event == Registration(
        block="203.0.113.0/24", registry="arin", handle="NET-203-0-113-0-1", parent_handle="NET-203-0-0-0-0",
        status="REALLOCATION", role=Role.UPSTREAM, org=Party(name="Platform Inc", id="PLAT"), netname="PLATFORM",
        abuse_c="ABUSE9-ARIN", created=date(2020, 1, 1), last_modified=date(2021, 2, 3), provenance=event.provenance,
    ).with_id()
    assert event.provenance.observed_at == datetime(2021, 2, 3, 9, 5, 6, tzinfo=timezone.utc)
    assert event.provenance.offset == 0


def test_rdap_old_server_quirks_and_rpsl_handles(tmp_path: Path, ingest_file) -> None:
    ripe = _rdap(handle="203.0.113.0 - 203.0.113.255", startAddress="203.0.113.0/32", endAddress="203.0.113.255/32",
                 type="ASSIGNED PA", parentHandle=None, port43="whois.ripe.net", objectClassName=None)
    ripe.pop("objectClassName")
    padded = _rdap(startAddress="203.000.113.000", endAddress="203.000.113.255")
    items = ingest_file(arin.parse, write(tmp_path, json.dumps([ripe, padded]), "nets.json"))
    assert [(e.registry, e.handle, e.block, e.role) for e in events(items)] == [
        ("ripe", "203.0.113.0 - 203.0.113.255", "203.0.113.0/24", Role.LESSEE),
        ("arin", "NET-203-0-113-0-1", "203.0.113.0/24", Role.UPSTREAM),
    ]


def test_rdap_collection_rejects_and_skips(tmp_path: Path, ingest_file) -> None:
    document = {
        "a": {"response": _rdap()},
        "b": {"response": _rdap(startAddress="203.0.113.9", endAddress="203.0.113.9", handle="203.0.113.9")},
        "c": {"response": _rdap(startAddress="2001:db8::", endAddress="2001:db8::ffff", ipVersion="v6")},
        "d": {"response": _rdap(port43=None, links=[])},
        "e": {"response": {"objectClassName": "autnum", "handle": "AS64500"}},
        "f": {"response": _rdap(startAddress="203.0.113.0", endAddress="banana")},
        "g": {"response": "NetRange: 198.51.100.0 - 198.51.100.255\nNetHandle: NET-X\nNetType: Direct Allocation\n"},
    }
    path = write(tmp_path, json.dumps(document), "collection.json")
    items = ingest_file(arin.parse, path)
    assert [(e.provenance.reference, e.handle) for e in events(items)] == [(f"{path}#a", "NET-203-0-113-0-1"), (f"{path}#g", "NET-X")]
    assert [(r.file, r.offset, r.reason.split(":")[0]) for r in items if isinstance(r, Reject)] == [
        (f"{path}#b", 1, "no network range"), (f"{path}#d", 3, "unknown registry"), (f"{path}#f", 5, "not valid IPv4 address"),
    ]
    assert Counter(s.reason for s in items if isinstance(s, Skip)) == {"IPv6 networks (out of scope)": 1, "RDAP objects that are not ip networks": 1}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("inetnum: 192.0.2.0 - 192.0.2.255\nstatus: ASSIGNED PA\nsource: RIPE\n", "unknown format: no ARIN whois records"),
        ('{"transfers": []}', "unknown format: JSON, but neither an RDAP ip-network response nor a collection of them"),
        ("[1, 2", "not valid JSON"),
    ],
)
def test_unknown_formats_fail_the_file(tmp_path: Path, ingest_file, text: str, message: str) -> None:
    with pytest.raises(SourceError, match=message):
        ingest_file(arin.parse, write(tmp_path, text))


def test_same_file_twice_same_ids(tmp_path: Path, ingest_file) -> None:
    path = write(tmp_path, BULK)
    first = [e.event_id for e in events(ingest_file(arin.parse, path))]
    assert first == [e.event_id for e in events(ingest_file(arin.parse, path))] and len(set(first)) == 2


_arin_line = st.one_of(
    st.text(max_size=40),
    st.builds(lambda k, v: f"{k}: {v}", st.sampled_from(["NetHandle", "NetRange", "NetType", "Parent", "OrgID", "Organization", "Customer", "Updated", "V6NetHandle"]), st.text(max_size=30)),
    st.sampled_from(["", "# start", "# end", "NetRange: 192.0.2.0 - 192.0.2.255", "NetType: Reassigned", "NetHandle: NET-1"]),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(_arin_line, max_size=12))
def test_no_whois_text_makes_the_parser_raise(tmp_path: Path, lines: list[str]) -> None:
    path = tmp_path / "fuzz.txt"
    path.write_text("\n".join(lines), encoding="utf-8")
    try:
        with SourceFile(path) as src:
            items = list(arin.parse(src, ParseContext(str(path), datetime.now(timezone.utc))))
    except SourceError:
        return  # "unknown format" for text without ARIN records
    assert all(isinstance(i, (Registration, Reject, Skip)) for i in items)


_json_value = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20), st.sampled_from(["203.0.113.0", "v6", "ip network", "registrant"])),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)),
    max_leaves=20,
)
_rdap_keys = st.sampled_from(["objectClassName", "handle", "startAddress", "endAddress", "ipVersion", "type", "parentHandle", "entities", "events", "cidr0_cidrs", "port43", "links", "name", "country"])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(network=st.dictionaries(_rdap_keys, _json_value, max_size=10))
def test_no_rdap_object_makes_the_parser_raise(tmp_path: Path, network: dict[str, Any]) -> None:
    path = tmp_path / "fuzz.json"
    path.write_text(json.dumps([network, _rdap()]), encoding="utf-8")
    with SourceFile(path) as src:
        items = list(arin.parse(src, ParseContext(str(path), datetime.now(timezone.utc))))
    assert all(isinstance(i, (Registration, Reject, Skip)) for i in items)
    assert events(items)[-1].handle == "NET-203-0-113-0-1"  # the good record after the random one is kept
