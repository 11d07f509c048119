"""`chainrisk load` refuses what it cannot load, with the reason and exit status 1 (the load itself:
tests/integration/test_bulk_load_services.py)."""
from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from chainrisk.cli.main import cli


def test_load_refuses_a_state_folder_without_its_neo4j(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["load", "--from", "log", "--state-dir", str(tmp_path / "state")])
    assert result.exit_code == 1
    assert "chainrisk services up" in result.output and "none runs there" in result.output


def test_load_help_names_the_sources_and_force() -> None:
    result = CliRunner().invoke(cli, ["load", "--help"])
    assert result.exit_code == 0
    assert "neo4j-admin import" in result.output and "--from [topics|log]" in result.output and "--force" in result.output
