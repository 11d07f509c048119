"""`chainrisk alerts`: upstream holder-change and risk-change alerts (list, follow, acknowledge)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from chainrisk.analysis.holder_changes import HOLDER_KINDS
from chainrisk.analysis.risk_alerts import RISK_KINDS, is_risk_alert

ALERT_TYPES = (*HOLDER_KINDS, *sorted(RISK_KINDS))


def _open(backend: str | None, state_dir: Path | None) -> tuple[Any, Any]:
    from chainrisk.cli.report_cmd import open_configured_store

    return open_configured_store(backend, state_dir)


def _change(alert: dict[str, Any]) -> str:
    """What changed: old -> new party (holder changes), or the first block's figure before -> after
    and the subject (risk changes)."""
    if is_risk_alert(alert):
        first = alert["affected"][0] if alert["affected"] else {"before": "-", "after": "-"}
        subject = f"{alert['subject_name']}: " if alert.get("subject_name") else ""
        return f"{subject}{first['before']} -> {first['after']}"
    old = (alert.get("old_party") or {}).get("name", "-")
    new = (alert.get("new_party") or {}).get("name", "-")
    return f"{old} -> {new}" + (f" supplying {alert['supplied_party']['name']}" if alert.get("supplied_party") else "")


def _line(alert: dict[str, Any]) -> str:
    lessees = sorted({x for a in alert["affected"] for x in a["lessees"]})
    return (f"{alert['id']}  {alert['status']:<12} {alert['type']:<22} {alert['block']:<18} {_change(alert)}; "
            f"{len(alert['affected'])} leased block(s), lessees: {', '.join(lessees) or '-'}")


def _affected(a: dict[str, Any]) -> str:
    """One affected block: its depth (holder changes) or whether its condition has cleared (risk changes)."""
    if "depth" in a:
        return f"{a['block']} ({a['depth']})"
    return f"{a['block']} ({a['status']})" if a.get("status") == "cleared" else a["block"]


def _table(alerts: list[dict[str, Any]]) -> None:
    from rich.table import Table

    from chainrisk.cli.output import print_table

    table = Table(title=f"Alerts ({len(alerts)}); details: --format json")
    for column in ("id", "status", "type", "block", "change", "affected leases (depth)", "lessees"):
        table.add_column(column, overflow="fold")
    for a in alerts:
        change = _change(a)
        affected = ", ".join(_affected(x) for x in a["affected"][:3])
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
@click.option("--type", "types", multiple=True, type=click.Choice(ALERT_TYPES),
              help="Only alerts of this type (repeat for several); applies to --follow too.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--follow", is_flag=True, help="After listing, print new alerts as they are raised (Ctrl-C to stop).")
@click.pass_context
def alerts(ctx: click.Context, backend: str | None, state_dir: Path | None, status_filter: str, types: tuple[str, ...], fmt: str,
           follow: bool) -> None:
    """Alerts: upstream holder changes that cut into leased blocks (old and new party, every
    affected leased block and lessee), and risk changes of leased blocks (ROV left Valid, a new
    single point of failure, secured-until within the horizon, listed, origin gone from BGP, a
    renewal gap, a data error, a routing-proof flag: each block, its lessee, the figure before -> after).
    Each with its evidence."""
    ctx.ensure_object(dict)
    ctx.obj.update(backend=backend, state_dir=state_dir)
    if ctx.invoked_subcommand is not None:
        return
    settings, store = _open(backend, state_dir)
    try:
        rows = [a for a in store.load_alerts(None)
                if (status_filter == "all" or a["status"] == status_filter) and (not types or a["type"] in types)]
    finally:
        store.close()
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
    elif rows:
        _table(rows)
    else:
        click.echo(f"no {'' if status_filter == 'all' else status_filter + ' '}alerts")
    if follow:
        _follow(settings, fmt, types)


def _follow(settings: Any, fmt: str, types: tuple[str, ...]) -> None:
    """Print alerts (of ``types``, if any) as they arrive on the alerts topic."""
    from chainrisk.graph.backend import follow_topic

    click.echo("following new alerts (Ctrl-C to stop)", err=True)
    try:
        for value in follow_topic(settings, "alerts"):
            alert = json.loads(value)
            if types and alert["type"] not in types:
                continue
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
