"""The RPSL whois worker on small synthetic dumps and replies."""
from __future__ import annotations

import gzip
import json
from collections import Counter
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chainrisk.ingest import rpsl
from chainrisk.ingest.common import ParseContext, Reject, Skip, SourceError, SourceFile
from chainrisk.ingest.events import Party, Registration, Role, RouteObject

SUB_ALLOCATION = """\
% comment header of a whois reply

inetnum:        203.0.113.0 - 203.0.113.255
netname:        EXAMPLE-SUB
descr:          first line
                continued with a space
+               and with a plus
country:        nl
org:            ORG-EX1-TEST
mnt-by:         HOLDER-MNT, PLATFORM-MNT
mnt-lower:      PLATFORM-MNT
mnt-routes:     PLATFORM-MNT
mnt-routes:     LESSEE-MNT
abuse-c:        AB123-TEST
status:         SUB-ALLOCATED PA
created:        2020-01-02T03:04:05Z
last-modified:  2023-04-05T06:07:08Z
source:         RIPE # Filtered
"""


def write(tmp_path: Path, text: str, name: str = "reply.txt") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def events(items: list) -> list:
    return [i for i in items if not isinstance(i, (Reject, Skip))]


def rejects(items: list) -> list[tuple[int | None, str]]:
    return [(i.line, i.reason) for i in items if isinstance(i, Reject)]


def test_inetnum_attributes_continuations_and_dates(tmp_path: Path, ingest_file) -> None:
    path = write(tmp_path, SUB_ALLOCATION)
    [event] = ingest_file(rpsl.parse, path)
    assert event == Registration(
        block="203.0.113.0/24", registry="ripe", handle="203.0.113.0 - 203.0.113.255", status="SUB-ALLOCATED PA",
        role=Role.UPSTREAM, org=Party(name="ORG-EX1-TEST", id="ORG-EX1-TEST"), netname="EXAMPLE-SUB", country="NL",
        mnt_by=("HOLDER-MNT", "PLATFORM-MNT"), mnt_lower=("PLATFORM-MNT",), mnt_routes=("PLATFORM-MNT", "LESSEE-MNT"),
        abuse_c="AB123-TEST", created=date(2020, 1, 2), last_modified=date(2023, 4, 5),
        provenance=event.provenance,
    ).with_id()
    assert event.provenance.line == 3
    assert event.provenance.observed_at == datetime(2023, 4, 5, 6, 7, 8, tzinfo=timezone.utc)


def test_split_dumps_take_org_names_from_the_organisation_file(tmp_path: Path) -> None:
    inetnums = tmp_path / "ripe.db.inetnum.gz"
    inetnums.write_bytes(gzip.compress(SUB_ALLOCATION.encode()))
    orgs = write(tmp_path, "organisation: ORG-EX1-TEST\norg-name: Example Leasing B.V.\nsource: RIPE\n", "ripe.db.organisation")
    parser = rpsl.make_parser([orgs, inetnums])
    with SourceFile(inetnums) as src:
        [event] = [i for i in parser(src, ParseContext(str(inetnums), datetime.now(timezone.utc))) if not isinstance(i, Skip)]
    assert event.org == Party(name="Example Leasing B.V.", id="ORG-EX1-TEST")


@pytest.mark.parametrize(
    ("status", "role"),
    [
        ("ALLOCATED PA", Role.HOLDER), ("ALLOCATED-ASSIGNED PA", Role.HOLDER), ("ASSIGNED PI", Role.HOLDER),
        ("ALLOCATED PORTABLE", Role.HOLDER), ("SUB-ALLOCATED PA", Role.UPSTREAM), ("ALLOCATED NON-PORTABLE", Role.UPSTREAM),
        ("ASSIGNED PA", Role.LESSEE), ("Assigned  PA", Role.LESSEE), ("ASSIGNED NON-PORTABLE", Role.LESSEE),
        ("LIR-PARTITIONED PA", None), ("AGGREGATED-BY-LIR", None), ("SOMETHING NEW", None),
    ],
)
def test_status_to_role(tmp_path: Path, ingest_file, status: str, role: Role | None) -> None:
    text = SUB_ALLOCATION.replace("status:         SUB-ALLOCATED PA", f"status: {status}")
    [event] = ingest_file(rpsl.parse, write(tmp_path, text))
    assert event.role == role


def test_legacy_is_holder_only_with_an_org(tmp_path: Path, ingest_file) -> None:
    legacy = SUB_ALLOCATION.replace("SUB-ALLOCATED PA", "LEGACY")
    assert ingest_file(rpsl.parse, write(tmp_path, legacy))[0].role == Role.HOLDER
    without_org = legacy.replace("org:            ORG-EX1-TEST\n", "")
    assert ingest_file(rpsl.parse, write(tmp_path, without_org))[0].role is None


def test_lacnic_bulk_style(tmp_path: Path, ingest_file) -> None:
    text = (
        "inetnum:    198.51.100/24\nstatus:     reassigned\nowner:      Example Cliente\nownerid:    BR-EXCL-LACNIC\n"
        "inetnum-up: 198.51/16\ncreated:    20010203\nchanged:    20190101\n"
    )
    [event] = ingest_file(rpsl.parse, write(tmp_path, "% Joint Whois - whois.lacnic.net\n\n" + text))
    assert (event.block, event.handle, event.parent_handle) == ("198.51.100.0/24", "198.51.100.0 - 198.51.100.255", "198.51.0.0 - 198.51.255.255")
    assert (event.registry, event.status, event.role) == ("lacnic", "REASSIGNED", Role.LESSEE)
    assert event.org == Party(name="Example Cliente", id="BR-EXCL-LACNIC")
    assert (event.created, event.last_modified) == (date(2001, 2, 3), date(2019, 1, 1))


def test_route_objects_ipv6_and_other_classes(tmp_path: Path, ingest_file) -> None:
    text = (
        "route:   192.0.2.0/24\norigin:  AS64500\nmnt-by:  LESSEE-MNT\nchanged: noc@example.net 20200101  #12:00Z\nsource:  RADB\n\n"
        "route6:  2001:db8::/32\norigin:  AS64500\nsource:  RADB\n\n"
        "inet6num: 2001:db8::/32\nstatus: ALLOCATED-BY-RIR\nsource: RIPE\n\n"
        "person:  Some One\nnic-hdl: SO1-TEST\nsource:  RIPE\n"
    )
    items = ingest_file(rpsl.parse, write(tmp_path, text))
    [route] = events(items)
    assert route == RouteObject(block="192.0.2.0/24", origin_asn=64500, registry="radb", mnt_by=("LESSEE-MNT",), provenance=route.provenance).with_id()
    assert route.provenance.observed_at == datetime(2020, 1, 1, tzinfo=timezone.utc)
    assert Counter(i.reason for i in items if isinstance(i, Skip)) == {"route6 objects": 1, "inet6num objects": 1, "person objects": 1}


def test_rejects_name_the_line_and_keep_the_rest(tmp_path: Path, ingest_file) -> None:
    text = (
        "inetnum: 192.0.2.10 - 192.0.2.1\nstatus: ASSIGNED PA\nsource: RIPE\n\n"  # line 1
        "inetnum: 192.0.2.0 - 192.0.2.255\nnetname: NO-STATUS\nsource: RIPE\n\n"  # line 5
        "route: 192.0.2.1/24\norigin: AS64500\nsource: RADB\n\n"  # line 9
        "route: 192.0.2.0/24\norigin: ASX\nsource: RADB\n\n"  # line 13
        "inetnum: 192.0.2.0 - 192.0.2.255\nthis line is broken\nstatus: ASSIGNED PA\nsource: RIPE\n\n"  # line 17, 18
        "inetnum: 192.0.2.0 - 192.0.2.255\nstatus: ASSIGNED PA\n\n"  # line 22: no source, no hint
        "inetnum: 300.0.0.0 - 300.0.0.255\nstatus: ASSIGNED PA\nsource: RIPE\n\n"  # line 25
        + SUB_ALLOCATION  # line 29
    )
    items = ingest_file(rpsl.parse, write(tmp_path, text))
    assert rejects(items) == [
        (1, "range end before start: 192.0.2.1 is below 192.0.2.10 (inetnum '192.0.2.10 - 192.0.2.1')"),
        (5, "missing status: inetnum 192.0.2.0 - 192.0.2.255 has no status: attribute"),
        (9, "host bits set: 192.0.2.1/24 is not a network address (did you mean 192.0.2.0/24?) (route '192.0.2.1/24')"),
        (13, "bad origin: not an AS number: 'ASX' (expected e.g. 64500 or AS64500)"),
        (18, "malformed line: expected 'attribute: value' in the inetnum at line 17"),
        (22, "missing source: inetnum 192.0.2.0 - 192.0.2.255 has no source: attribute, registry unknown"),
        (25, "not valid IPv4 address: '300.0.0.0' (inetnum '300.0.0.0 - 300.0.0.255')"),
    ]
    assert [e.provenance.line for e in events(items)] == [31]


def test_json_collection_of_replies(tmp_path: Path, ingest_file) -> None:
    path = write(tmp_path, json.dumps({"203.0.113.9": {"response": SUB_ALLOCATION}, "x": "TRUNCATED"}), "replies.json")
    items = ingest_file(rpsl.parse, path)
    [event] = events(items)
    assert (event.provenance.reference, event.provenance.line) == (f"{path}#203.0.113.9", 3)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("block,provider\n192.0.2.0/24,A\n", "unknown format: line 1 is not 'attribute: value' text"),
        ("NetRange: 192.0.2.0 - 192.0.2.255\nNetHandle: NET-1\n", "unknown format: no RPSL objects"),
        ('{"roas": [{"prefix": "192.0.2.0/24"}]}', "unknown format: JSON, but not a collection of whois replies"),
        ("{broken json", "not valid JSON"),
    ],
)
def test_unknown_formats_fail_the_file(tmp_path: Path, ingest_file, text: str, message: str) -> None:
    with pytest.raises(SourceError, match=message.replace("(", r"\(")):
        ingest_file(rpsl.parse, write(tmp_path, text, "input.txt"))


def test_same_file_twice_same_ids(tmp_path: Path, ingest_file) -> None:
    path = write(tmp_path, SUB_ALLOCATION.replace("203.0.113.255", "203.0.114.127"))
    first = [e.event_id for e in ingest_file(rpsl.parse, path)]
    assert first == [e.event_id for e in ingest_file(rpsl.parse, path)] and len(set(first)) == 2


_rpsl_line = st.one_of(
    st.text(max_size=40),
    st.builds(lambda a, v: f"{a}: {v}", st.sampled_from(["inetnum", "route", "status", "origin", "org", "source", "parent", "created", "changed", "mnt-by"]), st.text(max_size=30)),
    st.sampled_from(["", " continued", "+", "% comment", "inetnum: 192.0.2.0 - 192.0.2.255", "route: 192.0.2.0/24", "status: ASSIGNED PA", "source: RIPE"]),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(_rpsl_line, max_size=12))
def test_no_text_makes_the_parser_raise_anything_but_source_error(tmp_path: Path, lines: list[str]) -> None:
    path = tmp_path / "fuzz.txt"
    path.write_text("\n".join(lines), encoding="utf-8")
    try:
        with SourceFile(path) as src:
            items = list(rpsl.parse(src, ParseContext(str(path), datetime.now(timezone.utc))))
    except SourceError:
        return  # a file-level "unknown format" is the documented outcome for text that is not RPSL
    assert all(isinstance(i, (Registration, RouteObject, Reject, Skip)) for i in items)
