"""`chainrisk alerts`: upstream holder-change alerts (list, follow, acknowledge)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click


def _open(backend: str | None, state_dir: Path | None) -> tuple[Any, Any]:
    from chainrisk.cli.report_cmd import open_configured_store

    return open_configured_store(backend, state_dir)


def _line(alert: dict[str, Any]) -> str:
    old = (alert.get("old_party") or {}).get("name", "-")
    new = (alert.get("new_party") or {}).get("name", "-")
    lessees = sorted({x for a in alert["affected"] for x in a["lessees"]})
    return (f"{alert['id']}  {alert['status']:<12} {alert['type']:<22} {alert['block']:<18} {old} -> {new}; "
            f"{len(alert['affected'])} leased block(s), lessees: {', '.join(lessees) or '-'}")


def _table(alerts: list[dict[str, Any]]) -> None:
    from rich.table import Table

    from chainrisk.cli.output import print_table

    table = Table(title=f"Upstream holder-change alerts ({len(alerts)}); details: --format json")
    for column in ("id", "status", "type", "block", "change", "affected leases (depth)", "lessees"):
        table.add_column(column, overflow="fold")
    for a in alerts:
        old = (a.get("old_party") or {}).get("name", "-")
        new = (a.get("new_party") or {}).get("name", "-")
        change = f"{old} -> {new}" + (f" supplying {a['supplied_party']['name']}" if a.get("supplied_party") else "")
        affected = ", ".join(f"{x['block']} ({x['depth']})" for x in a["affected"][:3])
        if len(a["affected"]) > 3:
            affected += f", +{len(a['affected']) - 3} more"
        lessees = sorted({x for aff in a["affected"] for x in aff["lessees"]})
        table.add_row(a["id"][:8], a["status"], a["type"], a["block"], f"{change} on {a['changed_at'][:10]}", affected or "-",
                      ", ".join(lessees[:3]) + (f", +{len(lessees) - 3} more" if len(lessees) > 3 else ""))
    print_table(table)


@click.group(invoke_without_command=True)
@click.option("--backend", type=click.Choice(["embedded", "services"]), help="Embedded (default) or Neo4j.")
@click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path), help="State folder (default .chainrisk).")
@click.option("--status", "status_filter", type=click.Choice(["open", "resolved", "acknowledged", "all"]), default="open",
              show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--follow", is_flag=True, help="After listing, print new alerts as they are raised (Ctrl-C to stop).")
@click.pass_context
def alerts(ctx: click.Context, backend: str | None, state_dir: Path | None, status_filter: str, fmt: str, follow: bool) -> None:
    """Upstream holder changes that cut into leased blocks: the block whose holder (or upstream)
    changed, old and new party, the evidence, and every affected leased block and lessee."""
    ctx.ensure_object(dict)
    ctx.obj.update(backend=backend, state_dir=state_dir)
    if ctx.invoked_subcommand is not None:
        return
    settings, store = _open(backend, state_dir)
    try:
        rows = [a for a in store.load_alerts(None) if status_filter == "all" or a["status"] == status_filter]
    finally:
        store.close()
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
    elif rows:
        _table(rows)
    else:
        click.echo(f"no {'' if status_filter == 'all' else status_filter + ' '}alerts")
    if follow:
        _follow(settings, fmt)


def _follow(settings: Any, fmt: str) -> None:
    """Print alerts as they arrive on the alerts topic."""
    from chainrisk.graph.backend import follow_topic

    click.echo("following new alerts (Ctrl-C to stop)", err=True)
    try:
        for value in follow_topic(settings, "alerts"):
            alert = json.loads(value)
            click.echo(json.dumps(alert) if fmt == "json" else _line(alert))
    except KeyboardInterrupt:
        pass


@alerts.command("ack")
@click.argument("alert_id")
@click.option("--note", help="Why (kept with the alert).")
@click.pass_context
def ack(ctx: click.Context, alert_id: str, note: str | None) -> None:
    """Acknowledge an alert (an unambiguous id prefix is enough)."""
    from chainrisk.graph.alerts.engine import acknowledge

    _, store = _open(ctx.obj["backend"], ctx.obj["state_dir"])
    try:
        alert = acknowledge(store, alert_id, note)
    except KeyError as exc:
        raise click.ClickException(f"no single alert matches {exc.args[0]!r} (see `chainrisk alerts --status all`)") from None
    finally:
        store.close()
    click.echo(f"acknowledged {alert['id']} ({alert['type']} {alert['block']})")
