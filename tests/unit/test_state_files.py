"""State files on the embedded default: never code from a state file, private modes, and one-line
errors that say what to do for an unwritable state folder and a corrupt, empty or old graph file."""
from __future__ import annotations

import os
import pickle
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from graph_events import lease, mixed_events

from chainrisk.graph.config import Settings
from chainrisk.graph.eventlog.embedded import EventLog
from chainrisk.graph.stores.nx_persist import GraphStateError
from chainrisk.graph.stores.nx_store import NxStore
from chainrisk.ingest.events import TOPIC_OF_TYPE

NO_ALERTS = {"CHAINRISK_ALERTS": "false", "CHAINRISK_CONTINUOUS_ANALYSIS": "false"}  # compared with bare stores
LEASES = "block,provider,provider_role,recipient,recipient_role,start_date,end_date\n198.51.100.0/24,Holder A,holder,Lessee A,lessee,2024-01-01,2030-01-01\n"


def publish(state: Path, events: list) -> None:
    log = EventLog(state / "log")
    for event in events:
        log.append(TOPIC_OF_TYPE[event.type], [event.to_json()])


class RunsCode:
    """Unpickling this creates a file: proof that loading ran code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (Path.touch, (self.marker,))


def test_an_old_pickled_graph_is_refused_without_being_unpickled(tmp_path: Path, run_cli) -> None:
    state, marker = tmp_path / "state", tmp_path / "code-ran"
    (state / "graph").mkdir(parents=True)
    (state / "graph" / "graph.pickle").write_bytes(pickle.dumps({"format": 1, "graph": RunsCode(marker)}))
    with pytest.raises(GraphStateError, match="old pickle format"):
        NxStore(state)
    for args in (("report", "blocks"), ("consume", "--until-idle"), ("analyze",)):
        done = run_cli(*args, "--state-dir", str(state), env=NO_ALERTS)
        assert done.returncode == 1, (args, done.stderr)
        assert "old pickle format" in done.stderr and f"delete {state / 'graph'}" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
    assert not marker.exists()


def test_a_corrupt_graph_file_is_one_line_saying_how_to_rebuild(tmp_path: Path, run_cli) -> None:
    state = tmp_path / "state"
    publish(state, mixed_events(3))
    (state / "graph").mkdir(parents=True)
    (state / "graph" / "graph.db").write_bytes(b"\x80\x04 this is no database " * 100)
    done = run_cli("consume", "--until-idle", "--state-dir", str(state), env=NO_ALERTS)
    assert done.returncode == 1, done.stderr
    assert "is not a readable embedded graph" in done.stderr and "chainrisk consume --until-idle" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    shutil.rmtree(state / "graph")  # what the message says to do
    assert run_cli("consume", "--until-idle", "--state-dir", str(state), env=NO_ALERTS).returncode == 0


def test_an_empty_graph_file_is_an_empty_graph_rebuilt_from_the_log(tmp_path: Path, run_cli) -> None:
    state = tmp_path / "state"
    events = mixed_events(4)
    publish(state, events)
    (state / "graph").mkdir(parents=True)
    (state / "graph" / "graph.db").write_bytes(b"")
    done = run_cli("consume", "--until-idle", "--state-dir", str(state), env=NO_ALERTS)
    assert done.returncode == 0, done.stderr
    expected = NxStore(tmp_path / "expected", save_interval_s=3600)
    expected.apply_batch(events, {}, "g")
    assert NxStore(state).canonical_dump() == expected.canonical_dump()


def test_state_files_and_folders_are_private(tmp_path: Path, run_cli) -> None:
    state = tmp_path / "state"
    leases = tmp_path / "leases.csv"
    leases.write_text(LEASES + "not-a-block,x,holder,y,lessee,2024-01-01,2030-01-01\n")
    old = os.umask(0o022)
    try:
        run_cli("ingest", "leases", str(leases), "--state-dir", str(state))
        assert run_cli("consume", "--until-idle", "--state-dir", str(state)).returncode == 0
        Settings(state_dir=tmp_path / "pw" / "state").resolve_neo4j_password(create=True)
    finally:
        os.umask(old)
    made = [p for p in [state, *state.rglob("*"), tmp_path / "pw" / "state", *(tmp_path / "pw").rglob("*")] if p.exists()]
    assert any(p.name.endswith(".jsonl") for p in made) and any(p.name == "graph.db" for p in made)
    assert any(p.name == "neo4j-password" for p in made) and any("reject" in p.name for p in made), made
    for path in made:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, f"{path} is {oct(mode)}"


@pytest.fixture
def unwritable(tmp_path: Path) -> Iterator[Path]:
    """A folder this process cannot create anything in: immutable (chattr +i) when running as root,
    which ignores file modes, else mode 0500."""
    folder = tmp_path / "locked"
    folder.mkdir()
    if os.geteuid() == 0:
        if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode:
            pytest.skip("running as root without chattr +i: no way to make a folder unwritable")
        yield folder
        subprocess.run(["chattr", "-i", str(folder)], check=True)
    else:
        folder.chmod(0o500)
        yield folder
        folder.chmod(0o700)


def test_ingest_and_consume_into_an_unwritable_state_folder_say_so_in_one_line(unwritable: Path, tmp_path: Path, run_cli) -> None:
    leases = tmp_path / "leases.csv"
    leases.write_text(LEASES)
    for args in (("ingest", "leases", str(leases)), ("consume", "--until-idle"), ("analyze",)):
        done = run_cli(*args, "--state-dir", str(unwritable / "state"), env=NO_ALERTS, timeout=60)
        assert done.returncode == 1, (args, done.stderr)
        assert "make the state folder writable" in done.stderr and "--state-dir" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_a_reader_never_writes_and_sees_the_journaled_batches(tmp_path: Path) -> None:
    writer = NxStore(tmp_path, save_interval_s=3600)
    writer.apply_batch([lease("198.51.100.0/24", "H", "L", 1)], {("relationships", 0): 1}, "g")
    reader = NxStore(tmp_path)
    assert reader.stored_offsets("g") == {("relationships", 0): 1} and len(reader.lease_edges) == 1
    reader.close()  # while the writer holds the lock: must neither block nor write
    writer.close()
