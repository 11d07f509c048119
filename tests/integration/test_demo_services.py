"""`chainrisk demo --backend services` through Kafka and Neo4j gives the same report as the embedded default."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from chainrisk.cli.main import cli
from chainrisk.graph.config import Settings
from chainrisk.graph.stores.neo4j_store import NeoStore

pytestmark = pytest.mark.services


def test_demo_on_services_matches_embedded(isolated_services, tmp_path: Path):
    services_settings: Settings = isolated_services("demo")  # its own topics, deleted afterwards
    prefix = services_settings.topic_prefix
    store = NeoStore(services_settings)
    store.ensure_schema()
    store.wipe()
    store.close()
    env = {"CHAINRISK_TOPIC_PREFIX": prefix, "CHAINRISK_CONSUMER_GROUP": prefix,
           "CHAINRISK_STATE_DIR": str(services_settings.state_dir)}
    runner = CliRunner()
    services = runner.invoke(cli, ["demo", "--blocks", "150", "--backend", "services"], env=env, catch_exceptions=False)
    assert services.exit_code == 0, services.output
    embedded = runner.invoke(cli, ["demo", "--blocks", "150", "--backend", "embedded", "--state-dir", str(tmp_path / "e")],
                             catch_exceptions=False)
    assert embedded.exit_code == 0, embedded.output
    table = lambda out: out[out.index("Exposure"):].replace(" --backend services", "")  # noqa: E731
    assert table(services.output) == table(embedded.output)

    def report(*extra: str) -> list[dict]:
        result = runner.invoke(cli, ["report", "blocks", "--format", "json", "--as-of", "2026-11-01", *extra], env=env,
                               catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    services_blocks = report("--backend", "services")
    assert services_blocks == report("--backend", "embedded", "--state-dir", str(tmp_path / "e"))
    # the demo portfolio exercises every routing-proof flag, and both backends raise them alike
    codes = {flag.split(":")[0] for block in services_blocks for flag in block["risk_flags"]}
    assert {"as-set-origin", "roa-lapsing", "ca-nonfunctional", "roa-loose-maxlength", "as0-covered", "irr-nonauthoritative"} <= codes
    # and every routing-path flag (pfx2as dated by its name, ASN-DROP, ASPAs, bgpdump AS paths)
    assert {"announced-after-lease-end", "asn-blocklisted", "aspa-unauthorised-upstream"} <= codes

    def idle(*extra: str) -> list[dict]:
        result = runner.invoke(cli, ["report", "idle", "--format", "json", "--as-of", "2026-11-01", *extra], env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    services_idle = idle("--backend", "services")
    assert services_idle == idle("--backend", "embedded", "--state-dir", str(tmp_path / "e"))
    assert any(r["risk_flags"] and r["bgp_routes"] for r in services_idle) and any(not r["risk_flags"] for r in services_idle)
