"""`chainrisk services` as a user runs it: idempotent up/down and clear start failures.

Everything that could disturb the shared services uses its own temporary state folder and ports.
"""
from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from chainrisk.cli.services_cmd import EXIT_NOT_RUNNING
from chainrisk.graph.config import Settings
from chainrisk.graph.services import runner

pytestmark = pytest.mark.services


def _private_ports(free_port: Callable[[], int], taken: int, which: str) -> dict[str, str]:
    """Environment giving a temporary instance free ports, except ``which`` which gets ``taken``."""
    ports: dict[str, int] = {}
    while len(ports) < 4:
        port = free_port()
        if port != taken and port not in ports.values():
            ports[("kafka", "controller", "bolt", "http")[len(ports)]] = port
    ports[which] = taken
    return {
        "CHAINRISK_KAFKA_BOOTSTRAP": f"127.0.0.1:{ports['kafka']}",
        "CHAINRISK_KAFKA_CONTROLLER_PORT": str(ports["controller"]),
        "CHAINRISK_NEO4J_URI": f"bolt://127.0.0.1:{ports['bolt']}",
        "CHAINRISK_NEO4J_HTTP_PORT": str(ports["http"]),
        "CHAINRISK_STATE_DIR": None,
        "CHAINRISK_NEO4J_PASSWORD": None,
    }


def _recorded_live_pids(state: Path) -> list[int]:
    layout = runner.Layout.of(Settings(state_dir=state))
    records = [runner.read_record(layout, spec) for spec in runner.SERVICES]
    return [r.pid for r in records if r is not None and runner.is_alive(r)]


def test_up_when_already_up_is_harmless(services_settings: Settings, run_cli) -> None:
    before = [(st.name, st.pid) for st in runner.status(services_settings)]
    result = run_cli("services", "--state-dir", str(services_settings.state_dir), "up")
    assert result.returncode == 0, result.stderr
    assert "kafka already running" in result.stderr
    assert "neo4j already running" in result.stderr
    assert [(st.name, st.pid) for st in runner.status(services_settings)] == before


def test_down_when_already_down_says_not_running(tmp_path: Path, run_cli) -> None:
    state = str(tmp_path / "state")
    result = run_cli("services", "--state-dir", state, "down")
    assert result.returncode == 0, result.stderr
    assert "kafka is not running" in result.stdout
    assert "neo4j is not running" in result.stdout

    status = run_cli("services", "--state-dir", state, "status")
    assert status.returncode == EXIT_NOT_RUNNING
    assert "down" in status.stdout


@pytest.mark.parametrize(
    ("which", "setting"),
    [("kafka", "CHAINRISK_KAFKA_BOOTSTRAP"), ("http", "CHAINRISK_NEO4J_HTTP_PORT")],
)
def test_up_fails_clearly_when_a_port_is_taken(
    tmp_path: Path, run_cli, free_port: Callable[[], int], which: str, setting: str
) -> None:
    state = tmp_path / "state"
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        taken = blocker.getsockname()[1]
        result = run_cli("services", "--state-dir", str(state), "up", env=_private_ports(free_port, taken, which))
    assert result.returncode != 0
    assert f"port {taken} on 127.0.0.1" in result.stderr
    assert "already in use" in result.stderr
    assert setting in result.stderr  # tells the user how to move it
    assert "logs are in" in result.stderr
    assert "Traceback" not in result.stderr
    assert _recorded_live_pids(state) == []


def test_up_reports_a_jvm_that_dies_during_start(
    tmp_path: Path, run_cli, free_port: Callable[[], int], services_settings: Settings
) -> None:
    # A log dir that looks formatted but is not: the broker JVM exits with an error at start-up.
    state = tmp_path / "state"
    data = state / "kafka" / "data"
    data.mkdir(parents=True)
    (data / "meta.properties").write_text("# not written by kafka-storage format\n")
    env = _private_ports(free_port, free_port(), "kafka")
    env["CHAINRISK_JARS_DIR"] = str(runner.Layout.of(services_settings).jars_root)  # reuse the fetched jars

    result = run_cli("services", "--state-dir", str(state), "up", env=env)
    assert result.returncode != 0
    assert "kafka failed to start" in result.stderr
    assert "exited with code 1 during start-up" in result.stderr
    assert "node ID not found" in result.stderr  # the tail of Kafka's own log
    assert f"kafka logs are in {state / 'kafka' / 'logs'}" in result.stderr
    assert "Traceback" not in result.stderr
    assert _recorded_live_pids(state) == []  # the Neo4j this call started was stopped again


def test_a_password_starting_with_a_dash_works(
    tmp_path: Path, run_cli, free_port: Callable[[], int], services_settings: Settings
) -> None:
    # generated passwords (token_urlsafe) start with '-' one time in 32: neo4j-admin must not take it for an option
    state = tmp_path / "state"
    env = _private_ports(free_port, free_port(), "kafka")
    env["CHAINRISK_JARS_DIR"] = str(runner.Layout.of(services_settings).jars_root)
    env["CHAINRISK_NEO4J_PASSWORD"] = "-starts-with-a-dash"
    try:
        result = run_cli("services", "--state-dir", str(state), "up", env=env)
        assert result.returncode == 0, result.stderr[-2000:]
        assert "-starts-with-a-dash" not in result.stdout + result.stderr
    finally:
        run_cli("services", "--state-dir", str(state), "down", env=env)
    assert _recorded_live_pids(state) == []
