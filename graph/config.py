"""All configuration in one place.

Precedence: command-line flags > environment (``CHAINRISK_*``) > ``chainrisk.toml`` (in the working
directory, or the file named by ``CHAINRISK_CONFIG``) > defaults. With nothing configured the
embedded backend is used, so a newcomer needs no servers.

Secrets (the Neo4j password, Kafka SASL password, webhook URL) are ``SecretStr``: they never appear
in ``repr`` or logs. ``chainrisk config show`` (:func:`effective_settings`) prints every setting
with its source and every secret as ``***``.
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

from chainrisk.common.logs import LogFormat

PASSWORD_FILE_NAME = "neo4j-password"


def machine_cpus() -> int:
    """The CPUs this process may run on: its affinity mask (what a container or ``taskset`` allows),
    else the machine's count."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # no sched_getaffinity on this platform
        return os.cpu_count() or 1


def _toml_path() -> Path:
    return Path(os.environ.get("CHAINRISK_CONFIG", "chainrisk.toml"))


class Settings(BaseSettings):
    # hide_input_in_errors: a validation error must not quote a value, which may be a secret
    model_config = SettingsConfigDict(env_prefix="CHAINRISK_", extra="ignore", hide_input_in_errors=True)

    backend: Literal["embedded", "services"] = "embedded"
    state_dir: Path = Path(".chainrisk")

    # Kafka
    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_controller_port: int = 9093
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: str | None = None
    kafka_ssl_certfile: str | None = None
    kafka_ssl_keyfile: str | None = None
    topic_prefix: str = "chainrisk"
    topic_partitions: int = 6
    consumer_group: str = "chainrisk-graph"
    # processes publishing the ingest's events to Kafka (graph/eventlog/kafka_publish.py); 1 = from the ingest process
    # itself. 2: measured 1.6-1.9x faster wall time than 1 at 1M events on 2 cores; 3 is no faster (docs/ingest.md)
    publish_processes: int = Field(default=2, ge=1)

    # Neo4j
    neo4j_uri: str = "bolt://127.0.0.1:7687"
    neo4j_http_port: int = 7474
    neo4j_user: str = "neo4j"
    neo4j_password: SecretStr | None = None
    neo4j_password_file: Path | None = None
    neo4j_database: str = "neo4j"

    # `chainrisk services` (local Kafka + Neo4j from Maven Central jars)
    java_home: Path | None = None  # else $JAVA_HOME, else `java` on PATH
    jars_dir: Path | None = None  # else <state_dir>/jars
    services_timeout: float = Field(default=180.0, gt=0)  # seconds to wait for each service to be ready

    # Consumer
    batch_size: int = Field(default=2000, ge=1)
    # `chainrisk consume` serves /metrics, /healthz and /readyz on this port (graph/metrics.py); None = no server
    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    metrics_host: str = "127.0.0.1"  # loopback unless widened: the endpoints have no authentication
    log_format: LogFormat = "text"  # text lines, or one JSON object per line (common/logs.py)

    # Analysis: a VRP expiring within this many hours of its export's build time is lapsing (roa-lapsing)
    roa_lapse_hours: float = Field(default=24.0, gt=0)
    # processes a full analysis (`chainrisk analyze`, `report`, `whatif`) spreads the leased blocks
    # over (graph/analysis_pool.py); default: one per CPU this process may use; 1 = all in this process.
    # Portfolios under 25,000 blocks per process use fewer
    analysis_processes: int = Field(default_factory=machine_cpus, ge=1)

    # the consumer keeps every leased block's analysis results current after each batch, and
    # re-checks date-dependent figures when the UTC date changes (graph/continuous.py)
    continuous_analysis: bool = True
    analysis_recheck_s: float | None = Field(default=None, gt=0)  # also re-check them this often (seconds)

    # Alerts
    alerts: bool = True  # holder-change alerts, and the risk-change alerts of the continuous analysis and `chainrisk analyze`
    alert_horizon_days: int = Field(default=30, ge=0)  # secured-until this close to the reference date raises an alert
    webhook_url: SecretStr | None = None  # http(s)://host/...; checked at start, never printed

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url_is_http(cls, value: SecretStr | None) -> SecretStr | None:
        """A webhook URL that urllib cannot POST to is a configuration error now, not a traceback at
        the first alert. The message never quotes the URL: it usually carries a token."""
        if value is None:
            return None
        text = value.get_secret_value().strip()
        if not text:
            return None
        try:
            parts = urlsplit(text)
            host = parts.hostname
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError:
            raise ValueError("the webhook URL is not a valid http:// or https:// URL (value not shown: it is a secret)") from None
        if parts.scheme not in ("http", "https") or not host:
            raise ValueError("the webhook URL must start with http:// or https:// and name a host "
                             "(value not shown: it is a secret)")
        return SecretStr(text)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=_toml_path()),
        )

    # --- derived values -------------------------------------------------------------------
    @property
    def kafka_port(self) -> int:
        return int(self.kafka_bootstrap.split(",")[0].rsplit(":", 1)[1])

    @property
    def neo4j_bolt_port(self) -> int:
        return int(self.neo4j_uri.rsplit(":", 1)[1].split("/")[0])

    @property
    def browser_url(self) -> str:
        host = self.neo4j_uri.split("://", 1)[1].rsplit(":", 1)[0]
        return f"http://{host}:{self.neo4j_http_port}/browser/"

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}.{name}"

    def kafka_client_config(self) -> dict[str, Any]:
        """Keyword arguments shared by every kafka-python client (security settings pass through)."""
        cfg: dict[str, Any] = {
            "bootstrap_servers": self.kafka_bootstrap.split(","),
            "security_protocol": self.kafka_security_protocol,
        }
        if self.kafka_sasl_mechanism:
            cfg["sasl_mechanism"] = self.kafka_sasl_mechanism
            cfg["sasl_plain_username"] = self.kafka_sasl_username
            if self.kafka_sasl_password is not None:
                cfg["sasl_plain_password"] = self.kafka_sasl_password.get_secret_value()
        for key in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
            value = getattr(self, f"kafka_{key}")
            if value:
                cfg[key] = value
        return cfg

    def password_file(self) -> Path:
        return self.neo4j_password_file or (self.state_dir / PASSWORD_FILE_NAME)

    def resolve_neo4j_password(self, create: bool = False) -> str:
        """The Neo4j password: from the environment/config, else from the password file in the state
        folder. With ``create=True`` a random one is generated once and stored with mode 0600."""
        if self.neo4j_password is not None:
            return self.neo4j_password.get_secret_value()
        path = self.password_file()
        if path.exists():
            return path.read_text().strip()
        if not create:
            raise ConfigError(
                f"no Neo4j password: set CHAINRISK_NEO4J_PASSWORD or run `chainrisk services up` "
                f"(which stores one in {path})"
            )
        from chainrisk.graph.statefiles import ensure_private_dir

        ensure_private_dir(path.parent)
        password = secrets.token_urlsafe(24)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(password + "\n")
        return password


class ConfigError(Exception):
    """Configuration is missing or inconsistent; the message says what to set."""


def validation_message(exc: ValidationError) -> str:
    """The errors of a settings validation, one per setting, without the values given: a value may
    be a secret (pydantic's own message quotes every input)."""
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        name = "_".join(str(part) for part in error["loc"]) or "settings"
        problems.append(f"CHAINRISK_{name.upper()}: {error['msg'].removeprefix('Value error, ')}")
    return "; ".join(problems)


def load_settings(**overrides: Any) -> Settings:
    """Settings with flag values applied on top (``None`` flags are ignored). Invalid settings are a
    :class:`ConfigError` naming each setting and what is wrong, never quoting a value."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        raise ConfigError(validation_message(exc)) from None


MASK = "***"  # what `config show` prints for a secret that is set: never its length or a prefix
ENV_PREFIX = "CHAINRISK_"


@dataclass(frozen=True)
class EffectiveSetting:
    """One setting as ``load_settings`` resolved it: its value (a secret masked) and where it came
    from: ``flag`` (``detail`` = the flag), ``env`` (the variable), ``toml`` (the file) or ``default``."""

    name: str
    value: Any
    source: Literal["flag", "env", "toml", "default"]
    detail: str = ""
    secret: bool = False


def _is_secret(name: str, value: Any) -> bool:
    annotation = str(Settings.model_fields[name].annotation)
    return isinstance(value, SecretStr) or "SecretStr" in annotation


def effective_settings(flags: dict[str, str] | None = None, **overrides: Any) -> list[EffectiveSetting]:
    """Every field of :class:`Settings` as ``load_settings(**overrides)`` resolves it, with its
    source, in declaration order. ``flags`` names the command-line flag of each override (for the
    ``detail``). The environment and TOML are read by pydantic-settings' own sources, so the answer
    follows the same rules (case, prefix, file) as the settings themselves."""
    settings = load_settings(**overrides)
    given = {k for k, v in overrides.items() if v is not None}
    from_env = EnvSettingsSource(Settings)()
    toml_path = _toml_path()
    from_toml = TomlConfigSettingsSource(Settings, toml_file=toml_path)() if toml_path.is_file() else {}
    out: list[EffectiveSetting] = []
    for name in Settings.model_fields:
        value = getattr(settings, name)
        secret = _is_secret(name, value)
        shown: Any = (MASK if value is not None else None) if secret else value
        if isinstance(shown, Path):
            shown = str(shown)
        if name in given:
            source: Literal["flag", "env", "toml", "default"] = "flag"
            detail = (flags or {}).get(name, "--" + name.replace("_", "-"))
        elif name in from_env:
            source, detail = "env", ENV_PREFIX + name.upper()
        elif name in from_toml:
            source, detail = "toml", str(toml_path.resolve())
        else:
            source, detail = "default", ""
        out.append(EffectiveSetting(name, shown, source, detail, secret))
    return out
