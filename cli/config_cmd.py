"""`chainrisk config show`: every effective setting and where it came from (graph/config.py), secrets masked."""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import click

# the settings a flag of `config show` can override, and that flag (the same flags as `chainrisk consume`)
FLAGS = {"backend": "--backend", "state_dir": "--state-dir", "batch_size": "--batch-size", "consumer_group": "--group",
         "metrics_port": "--metrics-port", "metrics_host": "--metrics-host", "log_format": "--log-format"}


@click.group()
def config() -> None:
    """The configuration chainrisk runs with (flags > CHAINRISK_* environment > chainrisk.toml > defaults)."""


@config.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--backend", type=click.Choice(["embedded", "services"]), help="As for `chainrisk consume`.")
@click.option("--state-dir", type=click.Path(path_type=Path), help="As for `chainrisk consume`.")
@click.option("--batch-size", type=click.IntRange(min=1), help="As for `chainrisk consume`.")
@click.option("--group", help="As for `chainrisk consume`.")
@click.option("--metrics-port", type=click.IntRange(0, 65535), help="As for `chainrisk consume`.")
@click.option("--metrics-host", help="As for `chainrisk consume`.")
@click.option("--log-format", type=click.Choice(["text", "json"]), help="As for `chainrisk consume`.")
def show(fmt: str, backend: str | None, state_dir: Path | None, batch_size: int | None, group: str | None,
         metrics_port: int | None, metrics_host: str | None, log_format: str | None) -> None:
    """Every effective setting, its source (flag, environment variable, chainrisk.toml with its path,
    default); secrets are shown as ***."""
    from chainrisk.graph.config import effective_settings

    try:
        rows = effective_settings(FLAGS, backend=backend, state_dir=state_dir, batch_size=batch_size, consumer_group=group,
                                  metrics_port=metrics_port, metrics_host=metrics_host, log_format=log_format)
    except Exception as exc:  # noqa: BLE001 - a bad chainrisk.toml or environment variable
        raise click.ClickException(f"configuration error: {exc}") from None
    if fmt == "json":
        click.echo(json.dumps({"settings": [asdict(row) for row in rows]}, indent=2, default=str))
        return
    width = max(len(row.name) for row in rows)
    for row in rows:
        value = "-" if row.value is None else str(row.value)
        where = row.source if not row.detail else f"{row.source} {row.detail}"
        click.echo(f"{row.name:<{width}}  {value:<32}  {where}")
