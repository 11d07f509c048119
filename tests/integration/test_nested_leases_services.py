"""Nested leases through Kafka and Neo4j: distinct addresses and the sub-lease chain match the embedded default."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from chainrisk.cli.main import cli
from chainrisk.graph.config import Settings
from chainrisk.graph.stores.neo4j_store import NeoStore

pytestmark = pytest.mark.services

REGISTER = (
    "block,provider,provider_role,recipient,recipient_role,start_date,end_date,lessee_asn\n"
    "192.0.0.0/22,Holder H,holder,Upstream U,upstream,2024-01-01,2028-01-01,\n"
    "192.0.0.0/22,Upstream U,upstream,Lessee C,lessee,2024-01-01,2028-01-01,64500\n"
    "192.0.1.0/24,Lessee C,upstream,Lessee D,lessee,2024-01-01,2027-01-01,64501\n"
    "192.0.1.128/25,Lessee D,broker,Lessee E,lessee,2024-01-01,2027-01-01,64502\n"
)


@pytest.mark.parametrize("processes", [1, 3])
def test_nested_leases_on_services_match_embedded(isolated_services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  processes: int) -> None:
    """With 3 processes and one block per share, each nested lease is analysed in another process than the
    lease covering it (forked while the Neo4j driver is open); the answers stay the same."""
    from chainrisk.graph import analysis_pool

    monkeypatch.setattr(analysis_pool, "MIN_SHARE_BLOCKS", 1)
    services: Settings = isolated_services("nested")
    store = NeoStore(services)
    store.ensure_schema()
    store.wipe()
    store.close()
    register = tmp_path / "register.csv"
    register.write_text(REGISTER)
    env = {"CHAINRISK_TOPIC_PREFIX": services.topic_prefix, "CHAINRISK_CONSUMER_GROUP": services.topic_prefix,
           "CHAINRISK_STATE_DIR": str(services.state_dir), "CHAINRISK_ANALYSIS_PROCESSES": str(processes)}
    runner = CliRunner()
    backends = {"services": ["--backend", "services"], "embedded": ["--backend", "embedded", "--state-dir", str(tmp_path / "e")]}

    def run(backend: str, *args: str) -> str:
        result = runner.invoke(cli, [*args, *backends[backend]], env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.stdout

    reports = {}
    for backend in backends:
        run(backend, "ingest", "leases", str(register), "--quiet")
        run(backend, "consume", "--until-idle")
        summary = run(backend, "analyze", "--as-of", "2026-01-01")
        assert "analysed 3 leased blocks (1,024 addresses)" in summary
        reports[backend] = (json.loads(run(backend, "report", "exposure", "--format", "json", "--as-of", "2026-01-01")),
                            json.loads(run(backend, "report", "blocks", "--format", "json", "--as-of", "2026-01-01")))
    assert reports["services"] == reports["embedded"]
    exposure, blocks = reports["services"]
    assert [(r["party"], r["spof_addresses"], r["share"]) for r in exposure] == [
        ("Holder H", 1024, 1.0), ("Upstream U", 1024, 1.0), ("Lessee C", 256, 0.25), ("Lessee D", 128, 0.125)]
    assert [(b["block"], b["leased_addresses"], b["sublease_of"]) for b in blocks] == [
        ("192.0.0.0/22", 768, None), ("192.0.1.0/24", 128, "192.0.0.0/22"), ("192.0.1.128/25", 128, "192.0.1.0/24")]
    assert blocks[2]["chains"] == [["Holder H", "Upstream U", "Lessee C", "Lessee D", "Lessee E"]]
