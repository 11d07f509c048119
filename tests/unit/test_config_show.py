"""`chainrisk config show`: the source of each setting (flag, environment, chainrisk.toml, default)
and secrets masked in both formats."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from chainrisk.cli.main import cli
from chainrisk.graph.config import MASK, Settings


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No CHAINRISK_* variable from the caller, and a working directory without chainrisk.toml."""
    for key in list(os.environ):
        if key.upper().startswith("CHAINRISK_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def show(*args: str) -> dict[str, dict[str, object]]:
    result = CliRunner().invoke(cli, ["config", "show", "--format", "json", *args])
    assert result.exit_code == 0, result.output
    return {row["name"]: row for row in json.loads(result.output)["settings"]}


def test_every_setting_is_listed_with_its_source(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    toml = clean_env / "chainrisk.toml"
    toml.write_text('topic_prefix = "from-toml"\nbatch_size = 77\nneo4j_user = "toml-user"\n')
    monkeypatch.setenv("CHAINRISK_BATCH_SIZE", "55")  # the environment beats the file
    monkeypatch.setenv("CHAINRISK_KAFKA_BOOTSTRAP", "broker:1")
    rows = show("--backend", "services", "--group", "g1")
    assert list(rows) == list(Settings.model_fields)
    assert rows["backend"] | {} == {"name": "backend", "value": "services", "source": "flag", "detail": "--backend", "secret": False}
    assert (rows["consumer_group"]["source"], rows["consumer_group"]["detail"], rows["consumer_group"]["value"]) == ("flag", "--group", "g1")
    assert (rows["batch_size"]["source"], rows["batch_size"]["detail"], rows["batch_size"]["value"]) == ("env", "CHAINRISK_BATCH_SIZE", 55)
    assert (rows["kafka_bootstrap"]["source"], rows["kafka_bootstrap"]["detail"]) == ("env", "CHAINRISK_KAFKA_BOOTSTRAP")
    for name, value in (("topic_prefix", "from-toml"), ("neo4j_user", "toml-user")):
        assert (rows[name]["source"], rows[name]["detail"], rows[name]["value"]) == ("toml", str(toml.resolve()), value)
    assert (rows["neo4j_uri"]["source"], rows["neo4j_uri"]["detail"]) == ("default", "")
    assert rows["neo4j_uri"]["value"] == Settings.model_fields["neo4j_uri"].default


def test_config_file_named_by_chainrisk_config(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = clean_env / "elsewhere" / "site.toml"
    other.parent.mkdir()
    other.write_text("topic_partitions = 3\n")
    (clean_env / "chainrisk.toml").write_text("topic_partitions = 9\n")  # not read: CHAINRISK_CONFIG names another
    monkeypatch.setenv("CHAINRISK_CONFIG", str(other))
    row = show()["topic_partitions"]
    assert (row["value"], row["source"], row["detail"]) == (3, "toml", str(other.resolve()))


SECRETS = ("neo4j_password", "kafka_sasl_password", "webhook_url")


@pytest.mark.parametrize("origin", ["env", "toml"])
def test_secrets_never_appear(clean_env: Path, monkeypatch: pytest.MonkeyPatch, origin: str) -> None:
    markers = {name: f"Zq{i}sEcReTmArKeR{i}xY" for i, name in enumerate(SECRETS)}
    markers["webhook_url"] = "https://hooks.example.net/Zq9sEcReTmArKeR9xY"
    if origin == "env":
        for name, marker in markers.items():
            monkeypatch.setenv(f"CHAINRISK_{name.upper()}", marker)
    else:
        (clean_env / "chainrisk.toml").write_text("".join(f'{name} = "{marker}"\n' for name, marker in markers.items()))
    secret_fields = {name for name, f in Settings.model_fields.items() if "SecretStr" in str(f.annotation)}
    assert secret_fields == set(SECRETS)  # a new secret field must be added to this test
    for fmt in ("text", "json"):
        result = CliRunner().invoke(cli, ["config", "show", "--format", fmt])
        assert result.exit_code == 0, result.output
        for marker in markers.values():
            for piece in (marker, marker[:6], marker[-6:], "sEcReT", "hooks.example"):
                assert piece not in result.output
        if fmt == "text":  # the mask alone in the value column: no length or prefix beside it
            lines = {line.split()[0]: line.split()[1:] for line in result.output.splitlines()}
            for name in SECRETS:
                assert lines[name][:2] == [MASK, origin]
    rows = show()
    for name in SECRETS:
        assert (rows[name]["value"], rows[name]["secret"], rows[name]["source"]) == (MASK, True, origin)


def test_unset_secret_is_shown_as_unset(clean_env: Path) -> None:
    rows = show()
    assert rows["neo4j_password"]["value"] is None and rows["neo4j_password"]["source"] == "default"


def test_bad_configuration_is_a_clear_error(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHAINRISK_BATCH_SIZE", "many")
    result = CliRunner().invoke(cli, ["config", "show"])
    assert result.exit_code == 1 and "configuration error" in result.output and "CHAINRISK_BATCH_SIZE" in result.output
    assert "many" not in result.output  # a value is never quoted: it could be a secret
