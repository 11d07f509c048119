"""On the embedded default, `chainrisk analyze` and the reports apply the events waiting in the log
first and say so: an ingest followed by a report never silently reports an empty portfolio."""
from __future__ import annotations

import fcntl
import json
from pathlib import Path

LEASES = ("block,provider,provider_role,recipient,recipient_role,start_date,end_date\n"
          "198.51.100.0/24,Holder A,holder,Lessee A,lessee,2024-01-01,2030-01-01\n"
          "198.51.101.0/24,Holder A,holder,Lessee B,lessee,2024-01-01,2030-01-01\n")


def ingest(tmp_path: Path, run_cli) -> Path:
    state, leases = tmp_path / "state", tmp_path / "leases.csv"
    leases.write_text(LEASES)
    assert run_cli("ingest", "leases", str(leases), "--state-dir", str(state)).returncode == 0
    return state


def test_analyze_right_after_an_ingest_applies_the_pending_events_and_says_so(tmp_path: Path, run_cli) -> None:
    state = ingest(tmp_path, run_cli)
    done = run_cli("analyze", "--state-dir", str(state), env={"CHAINRISK_ALERTS": "false"})
    assert done.returncode == 0, done.stderr
    assert "analysed 2 leased blocks" in done.stdout, done.stdout
    assert "applied 2 pending event(s) from the event log" in done.stderr
    again = run_cli("analyze", "--state-dir", str(state), env={"CHAINRISK_ALERTS": "false"})
    assert "pending" not in again.stderr and "analysed 2 leased blocks" in again.stdout


def test_a_report_right_after_an_ingest_has_the_ingested_blocks(tmp_path: Path, run_cli) -> None:
    state = ingest(tmp_path, run_cli)
    done = run_cli("report", "blocks", "--format", "json", "--state-dir", str(state))
    assert done.returncode == 0, done.stderr
    assert sorted(b["block"] for b in json.loads(done.stdout)) == ["198.51.100.0/24", "198.51.101.0/24"]
    assert "applied 2 pending event(s)" in done.stderr


def test_while_another_process_writes_the_graph_the_report_says_how_many_are_pending(tmp_path: Path, run_cli) -> None:
    state = ingest(tmp_path, run_cli)
    (state / "graph").mkdir(exist_ok=True)
    with open(state / "graph" / "write.lock", "a+") as lock:  # a running `chainrisk consume` holds this
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        done = run_cli("report", "blocks", "--format", "json", "--state-dir", str(state))
    assert done.returncode == 0, done.stderr
    assert "2 event(s) in the event log are not in the graph yet" in done.stderr and "chainrisk consume" in done.stderr
