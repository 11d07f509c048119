"""The blocklist worker against the real Spamhaus DROP / EDROP samples in blocklists/."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from chainrisk.ingest import blocklist
from chainrisk.ingest.common import Reject, Skip
from chainrisk.ingest.events import BlocklistEntry, Provenance

INGESTED_AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)  # as the ingest_file fixture stamps it


def _utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)


def _entry(path: Path, line: int, observed_at: datetime, block: str, list_name: str, entry_id: str, rir: str | None = None) -> BlocklistEntry:
    provenance = Provenance(source=list_name, reference=str(path), line=line, observed_at=observed_at, ingested_at=INGESTED_AT)
    return BlocklistEntry(block=block, list_name=list_name, entry_id=entry_id, rir=rir, provenance=provenance).with_id()


def _split(items: list[Any]) -> tuple[list[BlocklistEntry], list[Reject], list[Skip]]:
    events = [i for i in items if isinstance(i, BlocklistEntry)]
    rejects = [i for i in items if isinstance(i, Reject)]
    skips = [i for i in items if isinstance(i, Skip)]
    assert len(events) + len(rejects) + len(skips) == len(items)
    return events, rejects, skips


def _entry_lines(path: Path) -> list[str]:
    """The non-comment, non-blank lines of a DROP text file, read directly."""
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip() and not line.startswith(";")]


@pytest.mark.parametrize(
    ("relative", "list_name", "count", "modified", "first", "last"),
    [
        ("blocklists/spamhaus_drop_20230220.txt", "spamhaus-drop", 936, _utc(2023, 2, 19, 22, 3, 3),
         (5, "1.10.16.0/20", "SBL256894"), (940, "223.254.0.0/16", "SBL212803")),
        ("blocklists/spamhaus_drop_20250117.txt", "spamhaus-drop", 1385, _utc(2025, 1, 17, 17, 3, 47),
         (5, "1.10.16.0/20", "SBL256894"), (1389, "223.254.0.0/16", "SBL212803")),
        ("blocklists/spamhaus_edrop_20231201.txt", "spamhaus-edrop", 289, _utc(2023, 12, 1, 14, 47, 7),
         (5, "2.56.247.0/24", "SBL620754"), (293, "221.227.188.0/22", "SBL624147")),
    ],
)
def test_drop_text(real_sample, ingest_file, relative: str, list_name: str, count: int, modified: datetime,
                   first: tuple[int, str, str], last: tuple[int, str, str]) -> None:
    path = real_sample(relative)
    assert ingest_file.ingested_at == INGESTED_AT
    events, rejects, skips = _split(ingest_file(blocklist.parse, path))
    assert rejects == [] and skips == []
    assert len(events) == len(_entry_lines(path)) == count
    assert events[0] == _entry(path, first[0], modified, first[1], list_name, first[2])  # observed_at = Last-Modified
    assert events[-1] == _entry(path, last[0], modified, last[1], list_name, last[2])
    assert all(e.entry_id and e.entry_id.startswith("SBL") for e in events)


def test_drop_ipv6_list_is_all_skipped(real_sample, ingest_file) -> None:
    path = real_sample("blocklists/spamhaus_dropv6_20250117.txt")
    events, rejects, skips = _split(ingest_file(blocklist.parse, path))
    assert (events, rejects) == ([], [])
    assert len(skips) == len(_entry_lines(path)) == 78
    assert set(skips) == {blocklist.SKIP_IPV6}


def test_drop_json_lines(real_sample, ingest_file) -> None:
    path = real_sample("blocklists/spamhaus_drop_v4_20250415.json")
    events, rejects, skips = _split(ingest_file(blocklist.parse, path))
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    metadata = records[-1]
    assert metadata["type"] == "metadata"
    assert rejects == [] and skips == []
    assert len(events) == len(records) - 1 == metadata["records"] == 1406
    stamped = datetime.fromtimestamp(metadata["timestamp"], tz=timezone.utc)
    assert stamped == _utc(2025, 4, 15, 2, 7, 54)  # the trailing metadata line dates every entry
    assert events[0] == _entry(path, 1, stamped, "1.10.16.0/20", "spamhaus-drop", "SBL256894", "apnic")
    assert events[-1] == _entry(path, 1406, stamped, "223.254.0.0/16", "spamhaus-drop", "SBL212803", "apnic")
    assert [(e.block, e.entry_id, e.rir) for e in events] == [(r["cidr"], r["sblid"], r["rir"]) for r in records[:-1]]


def test_same_listing_in_two_snapshots_has_one_fact_key(real_sample, ingest_file) -> None:
    """The 2023 and 2025 DROP both list 223.254.0.0/16: one fact, the newer observation supersedes."""
    old_path, new_path = real_sample("blocklists/spamhaus_drop_20230220.txt"), real_sample("blocklists/spamhaus_drop_20250117.txt")
    old = {e.block: e for e in _split(ingest_file(blocklist.parse, old_path))[0]}
    new = {e.block: e for e in _split(ingest_file(blocklist.parse, new_path))[0]}
    assert old["223.254.0.0/16"].fact_key == new["223.254.0.0/16"].fact_key
    assert old["223.254.0.0/16"].event_id != new["223.254.0.0/16"].event_id  # a different observation
    assert len(old.keys() & new.keys()) > 0 and old.keys() != new.keys()
