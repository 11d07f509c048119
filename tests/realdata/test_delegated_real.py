"""The delegated worker against the real RIR delegated(-extended) statistics in delegated_stats/."""
from __future__ import annotations

import gzip
from datetime import date, datetime, timezone
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any

import pytest

from chainrisk.ingest import delegated
from chainrisk.ingest.common import Reject, Skip
from chainrisk.ingest.events import Delegation

AFRINIC_2023 = "delegated_stats/delegated-afrinic-extended-20230323.txt"
AFRINIC_2026 = "delegated_stats/delegated-afrinic-extended-20260821.txt"


def _summary_counts(path: Path) -> dict[str, int]:
    """The record counts per type that the file's own summary lines state (``afrinic|*|ipv4|*|5089|summary``)."""
    opener: Any = gzip.open if path.suffix == ".gz" else open
    counts = {}
    with opener(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            fields = line.rstrip("\n").split("|")
            if len(fields) >= 6 and fields[5] == "summary":
                counts[fields[2]] = int(fields[4])
    return counts


def _split(items: list[Any]) -> tuple[list[Delegation], list[Reject], list[Skip]]:
    events = [i for i in items if isinstance(i, Delegation)]
    rejects = [i for i in items if isinstance(i, Reject)]
    skips = [i for i in items if isinstance(i, Skip)]
    assert len(events) + len(rejects) + len(skips) == len(items)
    return events, rejects, skips


@pytest.mark.slow
@pytest.mark.parametrize(
    ("relative", "events_expected", "observed"),
    [
        (AFRINIC_2023, 5192, date(2023, 3, 23)),
        (AFRINIC_2026, 6139, date(2026, 8, 21)),
        ("delegated_stats/delegated-apnic-extended-20130416.txt.gz", 22204, date(2013, 4, 16)),
        ("delegated_stats/delegated-lacnic-extended-20230323.txt.gz", 19618, date(2023, 3, 22)),  # header end date
        ("delegated_stats/delegated-ripencc-extended-20130418.txt.gz", 50776, date(2013, 4, 18)),
    ],
)
def test_every_ipv4_record_becomes_events(real_sample, ingest_file, relative: str, events_expected: int, observed: date) -> None:
    path = real_sample(relative)
    events, rejects, skips = _split(ingest_file(delegated.parse, path))
    stated = _summary_counts(path)
    assert rejects == []
    # one or more events per IPv4 record: as many distinct record lines as the summary line states
    assert len({e.provenance.line for e in events}) == stated["ipv4"]
    assert len(events) == events_expected  # more than the records where a count is not a power of two
    # asn and ipv6 records are skipped, not rejected, and all of them
    assert sum(s is delegated.SKIP_ASN for s in skips) == stated["asn"]
    assert sum(s is delegated.SKIP_IPV6 for s in skips) == stated["ipv6"]
    assert {e.provenance.observed_at for e in events} == {datetime(observed.year, observed.month, observed.day, tzinfo=timezone.utc)}
    # a split record's CIDRs exactly tile its range
    by_line: dict[int, list[Delegation]] = {}
    for e in events:
        if e.range_start is not None:
            by_line.setdefault(e.provenance.line, []).append(e)
    for parts in by_line.values():
        assert sum(IPv4Network(p.block).num_addresses for p in parts) == parts[0].range_size
        assert str(IPv4Network(parts[0].block).network_address) == parts[0].range_start


def test_non_power_of_two_record_is_split(real_sample, ingest_file) -> None:
    """``afrinic|ZA|ipv4|196.4.20.0|2560|19930831|allocated|F369838C`` = 196.4.20.0 - 196.4.29.255."""
    path = real_sample(AFRINIC_2023)
    events, _, _ = _split(ingest_file(delegated.parse, path))
    parts = [e for e in events if e.range_start == "196.4.20.0"]
    assert [p.block for p in parts] == ["196.4.20.0/22", "196.4.24.0/22", "196.4.28.0/23"]
    assert {(p.range_size, p.holder_id, p.status, p.registered, p.country, p.provenance.line) for p in parts} == {
        (2560, "F369838C", "allocated", date(1993, 8, 31), "ZA", 5836)
    }
    assert len({p.event_id for p in parts}) == 3


def test_reserved_range_has_no_holder(real_sample, ingest_file) -> None:
    """``afrinic|ZZ|ipv4|41.57.113.0|256||reserved|``: empty date and opaque id."""
    path = real_sample(AFRINIC_2023)
    events, _, _ = _split(ingest_file(delegated.parse, path))
    (reserved,) = [e for e in events if e.block == "41.57.113.0/24"]
    assert (reserved.status, reserved.holder_id, reserved.registered, reserved.country, reserved.range_start) == ("reserved", None, None, "ZZ", None)


def _records(events: list[Delegation]) -> dict[tuple[str, int], Delegation]:
    """Events by the record's own ``start|value`` (what SOURCES.md compares), one per record."""
    records = {}
    for e in events:
        network = IPv4Network(e.block)
        key = (e.range_start, e.range_size) if e.range_start is not None else (str(network.network_address), network.num_addresses)
        records[key] = e  # the parts of a split record share status and holder
    return records


def test_afrinic_holder_changes_between_snapshots(real_sample, ingest_file) -> None:
    old = _records(_split(ingest_file(delegated.parse, real_sample(AFRINIC_2023)))[0])
    new = _records(_split(ingest_file(delegated.parse, real_sample(AFRINIC_2026)))[0])

    ex1, ex2 = ("41.74.128.0", 4096), ("41.79.252.0", 1024)
    assert (old[ex1].holder_id, new[ex1].holder_id) == ("F36B5AAD", "F36C2BF2")
    assert (old[ex2].country, old[ex2].holder_id, new[ex2].country, new[ex2].holder_id) == ("KE", "F36341BD", "ZA", "F3650F65")

    same_range = old.keys() & new.keys()
    assert len(old) == 5089 and len(new) == 6045 and len(same_range) == 5029
    changed_holder = {k for k in same_range if old[k].holder_id and new[k].holder_id and old[k].holder_id != new[k].holder_id}
    reclaimed = {k for k in same_range if old[k].holder_id and new[k].holder_id is None}
    newly_held = {k for k in same_range if old[k].holder_id is None and new[k].holder_id}
    assert {ex1, ex2} <= changed_holder
    assert {new[k].status for k in reclaimed} <= {"reserved", "available"}
    # SOURCES.md says "161 changed or reclaimed"; on the same start|value these events give
    # 54 holder changes + 90 reclaims = 144, and 24 ranges delegated anew: 168 opaque-id differences.
    assert (len(changed_holder), len(reclaimed), len(newly_held)) == (54, 90, 24)
    assert len({k for k in same_range if old[k].holder_id != new[k].holder_id}) == 168
