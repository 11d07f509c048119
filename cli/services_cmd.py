"""`chainrisk services up|down|status|logs`: run real Kafka and Neo4j on loopback for the
`services` backend. Thin wrapper: the work is done in chainrisk.graph.services.runner."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import click

from chainrisk.graph.config import ConfigError, Settings, load_settings
from chainrisk.graph.services import runner

EXIT_NOT_RUNNING = 3  # `status` when a service is down, as LSB init scripts do


def _settings(ctx: click.Context) -> Settings:
    try:
        return load_settings(**ctx.obj)
    except Exception as exc:  # pydantic validation of a bad environment value
        raise click.ClickException(f"invalid configuration: {exc}") from exc


def _fail(exc: Exception) -> NoReturn:
    """Print the error (no traceback) and exit 1."""
    click.echo(f"error: {exc}", err=True)
    sys.exit(1)


def _progress(message: str) -> None:
    click.echo(f"[services] {message}", err=True)


def _print_status(statuses: list[runner.ServiceStatus]) -> None:
    for st in statuses:
        pid = f"pid {st.pid}" if st.pid else "no pid"
        click.echo(f"{st.name:<6} {st.version:<8} {st.state:<14} {pid}")
        for label, value in st.endpoints.items():
            click.echo(f"       {label + ':':<10} {value}")
        click.echo(f"       {'logs:':<10} {st.logs}")


@click.group()
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for jars, data, logs and pids (default: CHAINRISK_STATE_DIR or .chainrisk).",
)
@click.pass_context
def services(ctx: click.Context, state_dir: Path | None) -> None:
    """Run Apache Kafka (KRaft) and Neo4j Community on 127.0.0.1 from Maven Central jars.

    Needs Java 17 and Maven. Ports come from CHAINRISK_KAFKA_BOOTSTRAP, CHAINRISK_KAFKA_CONTROLLER_PORT,
    CHAINRISK_NEO4J_URI and CHAINRISK_NEO4J_HTTP_PORT (defaults 9092, 9093, 7687, 7474).
    """
    ctx.obj = {"state_dir": state_dir}


@services.command()
@click.pass_context
def up(ctx: click.Context) -> None:
    """Start Kafka and Neo4j (fetching jars the first time) and wait until both are ready.

    Harmless when they already run. The Neo4j password is CHAINRISK_NEO4J_PASSWORD, or one generated
    on the first run and stored (mode 0600) in the state folder.
    """
    try:
        statuses = runner.up(_settings(ctx), progress=_progress)
    except (runner.ServiceError, ConfigError, OSError) as exc:
        _fail(exc)
    _print_status(statuses)


@services.command()
@click.pass_context
def down(ctx: click.Context) -> None:
    """Stop the Kafka and Neo4j processes that `up` recorded (nothing else)."""
    try:
        lines = runner.down(_settings(ctx), progress=_progress)
    except (runner.ServiceError, ConfigError, OSError) as exc:
        _fail(exc)
    for line in lines:
        click.echo(line)


@services.command()
@click.pass_context
def status(ctx: click.Context) -> None:
    """Show endpoints, pids and up/down. Exits 3 when a service is not up."""
    try:
        statuses = runner.status(_settings(ctx))
    except (runner.ServiceError, ConfigError, OSError) as exc:
        _fail(exc)
    _print_status(statuses)
    if not all(st.up for st in statuses):
        sys.exit(EXIT_NOT_RUNNING)


@services.command()
@click.argument("name", type=click.Choice([s.name for s in runner.SERVICES]), required=False)
@click.option("-n", "--lines", "lines", type=click.IntRange(min=1), default=runner.LOG_TAIL_LINES, show_default=True,
              help="How many lines to show.")
@click.pass_context
def logs(ctx: click.Context, name: str | None, lines: int) -> None:
    """Show the end of a service's main log (both when NAME is omitted)."""
    settings = _settings(ctx)
    for service in [name] if name else [s.name for s in runner.SERVICES]:
        path, text = runner.log_lines(settings, service, lines)
        click.echo(f"--- {path} ---")
        if not text:
            click.echo("(no log yet)")
        for line in text:
            click.echo(line)
