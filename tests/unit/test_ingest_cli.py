"""`chainrisk ingest`: dry runs, rejects on stderr and in a file, exit statuses, clear errors."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from chainrisk.cli.ingest_cmd import WORKERS, format_summary
from chainrisk.cli.main import cli
from chainrisk.ingest.common import IngestSummary
from chainrisk.ingest.events import decode_event

HEADER = "block,provider,provider_role,recipient,recipient_role,start_date,end_date"
GOOD_ROWS = [
    "192.0.2.0/24,Holder Inc,holder,Platform,upstream,2024-01-01,2026-01-01",
    "192.0.2.0/24,Platform,upstream,Lessee,lessee,2024-02-01,2025-01-31",
]


def register(tmp_path: Path, bad_rows: int = 1, name: str = "register.csv") -> Path:
    rows = GOOD_ROWS + [f"192.0.2.{n + 1}/24,A,holder,B,lessee,2024-01-01,2025-01-01" for n in range(bad_rows)]
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    return path


def invoke(tmp_path: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["ingest", *args, "--state-dir", str(tmp_path / "state")], catch_exceptions=False)


def test_dry_run_prints_events_and_reports_rejects(tmp_path: Path) -> None:
    path = register(tmp_path)
    result = invoke(tmp_path, "leases", str(path), "--dry-run")
    assert result.exit_code == 0, result.stderr
    events = [decode_event(line) for line in result.stdout.splitlines()]
    assert [(e.type, e.provenance.line) for e in events] == [("lease_hop", 2), ("lease_hop", 3)]
    assert f"{path}:4: host bits set: 192.0.2.1/24 is not a network address (did you mean 192.0.2.0/24?)" in result.stderr
    assert "leases: 2 events (lease_hop 2) from 1 file(s)" in result.stderr
    assert "rejected 1 rows: host bits set 1" in result.stderr
    [rejects_file] = (tmp_path / "state" / "rejects").glob("leases-*.jsonl")
    [written] = [json.loads(line) for line in rejects_file.read_text().splitlines()]
    assert (written["file"], written["line"], written["raw"]) == (str(path), 4, "192.0.2.1/24,A,holder,B,lessee,2024-01-01,2025-01-01")


def test_no_rejects_no_rejects_file(tmp_path: Path) -> None:
    result = invoke(tmp_path, "leases", str(register(tmp_path, bad_rows=0)), "--dry-run", "--strict")
    assert result.exit_code == 0
    assert not (tmp_path / "state" / "rejects").exists()


def test_strict_fails_when_rows_were_rejected(tmp_path: Path) -> None:
    result = invoke(tmp_path, "leases", str(register(tmp_path)), "--dry-run", "--strict")
    assert result.exit_code == 3
    assert "error: --strict and 1 rows were rejected" in result.stderr


def test_stderr_shows_twenty_rejects_then_points_to_the_file(tmp_path: Path) -> None:
    rejects_file = tmp_path / "bad.jsonl"
    result = invoke(tmp_path, "leases", str(register(tmp_path, bad_rows=25)), "--dry-run", "--quiet", "--rejects", str(rejects_file))
    shown = [line for line in result.stderr.splitlines() if ": host bits set" in line]
    assert len(shown) == 20
    assert f"... 5 more rejects in {rejects_file}" in result.stderr
    assert len(rejects_file.read_text().splitlines()) == 25
    assert "events (" not in result.stderr  # --quiet: no summary


def test_limit_and_observed_at(tmp_path: Path) -> None:
    result = invoke(tmp_path, "leases", str(register(tmp_path, bad_rows=0)), "--dry-run", "--limit", "1", "--observed-at", "2024-07-01")
    [event] = [decode_event(line) for line in result.stdout.splitlines()]
    assert event.provenance.observed_at == datetime(2024, 7, 1, tzinfo=timezone.utc)


def test_bad_observed_at_is_a_usage_error(tmp_path: Path) -> None:
    result = invoke(tmp_path, "leases", str(register(tmp_path)), "--dry-run", "--observed-at", "last tuesday")
    assert result.exit_code == 2
    assert "'last tuesday' is not an ISO 8601 date" in result.stderr


def test_missing_and_broken_files_fail_clearly_but_the_others_are_ingested(tmp_path: Path) -> None:
    broken = tmp_path / "broken.csv.gz"
    broken.write_bytes(b"\x1f\x8b\x08\x00" + bytes(range(7, 200)))  # gzip magic, then no deflate stream
    good = register(tmp_path, bad_rows=0)
    result = invoke(tmp_path, "leases", str(tmp_path / "missing.csv"), str(broken), str(good), "--dry-run")
    assert result.exit_code == 1
    assert f"error: {tmp_path / 'missing.csv'}: cannot open: No such file or directory" in result.stderr
    assert f"error: {broken}: broken gzip" in result.stderr
    assert "error: 2 of 3 file(s) could not be ingested" in result.stderr
    assert len(result.stdout.splitlines()) == 2  # the readable file was still ingested
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("worker", "content", "message"),
    [
        ("leases", "inetnum: 192.0.2.0 - 192.0.2.255\n", "not a lease register: the header (line 1) lacks required column(s)"),
        ("rpsl", HEADER + "\n", "unknown format: line 1 is not 'attribute: value' text"),
        ("arin", '{"roas": []}', "unknown format: JSON, but neither an RDAP ip-network response nor a collection of them"),
        ("transfers", "inetnum: x\n", "not valid JSON"),
    ],
)
def test_unknown_format_is_a_clear_error(tmp_path: Path, worker: str, content: str, message: str) -> None:
    path = tmp_path / "input.txt"
    path.write_text(content)
    result = invoke(tmp_path, worker, str(path), "--dry-run")
    assert result.exit_code == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_replaces_option_publishes_retractions(tmp_path: Path) -> None:
    old = register(tmp_path, bad_rows=0, name="old.csv")
    new = tmp_path / "new.csv"
    new.write_text("\n".join([HEADER, GOOD_ROWS[0]]) + "\n")
    result = invoke(tmp_path, "leases", str(new), "--replaces", str(old), "--dry-run")
    assert result.exit_code == 0, result.stderr
    events = [decode_event(line) for line in result.stdout.splitlines()]
    assert [(e.op, e.recipient.name) for e in events] == [("assert", "Platform"), ("retract", "Lessee")]


def test_replaces_missing_old_file_stops_before_ingesting(tmp_path: Path) -> None:
    result = invoke(tmp_path, "leases", str(register(tmp_path)), "--replaces", str(tmp_path / "nope.csv"), "--dry-run")
    assert result.exit_code == 1
    assert "nope.csv: cannot open" in result.stderr and result.stdout == ""


def test_every_worker_table_entry_names_a_module_path() -> None:
    assert set(WORKERS) == {"leases", "rpsl", "arin", "transfers", "delegated", "vrps", "pfx2as", "blocklist", "bgpdump"}
    assert all(module.startswith("chainrisk.ingest.") for module in WORKERS.values())


def test_summary_lists_types_reasons_skips_and_rate() -> None:
    summary = IngestSummary(files_read=2, seconds=2.0)
    summary.events_by_type.update({"registration": 6, "route_object": 2})
    summary.rejects_by_reason.update({"host bits set": 1, "missing status": 3})
    summary.skipped_by_reason.update({"IPv6 objects (out of scope)": 2})
    assert format_summary("rpsl", summary, Path("r.jsonl")) == [
        "rpsl: 8 events (registration 6, route_object 2) from 2 file(s) in 2.00 s, 7 rows/s",
        "rejected 4 rows: missing status 3, host bits set 1 (all in r.jsonl)",
        "skipped 2 out-of-scope records: IPv6 objects (out of scope) 2",
    ]


def test_subprocess_run_has_no_traceback_for_bad_input(tmp_path: Path, run_cli) -> None:
    """As a user runs it: a bad file gives a message and a status, never a Python traceback."""
    binary = tmp_path / "random.bin"
    binary.write_bytes(bytes(range(256)) * 8)
    done = run_cli("ingest", "rpsl", str(binary), "--dry-run", "--state-dir", str(tmp_path / "state"))
    assert done.returncode == 1
    assert "unknown format" in done.stderr and "Traceback" not in done.stderr


def test_publish_to_the_embedded_log_writes_the_dry_run_events(tmp_path: Path) -> None:
    from chainrisk.graph.backend import log_dir
    from chainrisk.graph.config import load_settings
    from chainrisk.graph.eventlog.embedded import EventLog

    path = register(tmp_path, bad_rows=0)
    dry = invoke(tmp_path, "leases", str(path), "--dry-run", "--observed-at", "2024-07-01")
    published = invoke(tmp_path, "leases", str(path), "--backend", "embedded", "--observed-at", "2024-07-01")
    assert published.exit_code == 0, published.stderr
    assert "leases: 2 events (lease_hop 2)" in published.stdout  # the summary goes to stdout when publishing
    log = EventLog(log_dir(load_settings(state_dir=tmp_path / "state")))
    try:
        stored = [decode_event(record.value) for record in log.iter_all("relationships")]
    finally:
        log.close()
    expected = [decode_event(line) for line in dry.stdout.splitlines()]
    assert [e.event_id for e in stored] == [e.event_id for e in expected]
    assert [e.model_dump(exclude={"provenance"}) for e in stored] == [e.model_dump(exclude={"provenance"}) for e in expected]
