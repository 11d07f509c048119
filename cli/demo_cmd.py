"""`chainrisk demo`: the whole pipeline on a small seeded synthetic portfolio.

generate -> ingest (every source file) -> consume -> analyse (results written back) -> exposure
report. On the embedded default it needs no servers; with ``--backend services`` it runs through
Kafka and Neo4j (start them with ``chainrisk services up``).
"""
from __future__ import annotations

import importlib
import time
from datetime import datetime
from pathlib import Path

import click

# the synthetic dataset's files, in ingest order, with the worker that reads each
DEMO_FILES = (
    ("register", "leases"),
    ("registry", "rpsl"),
    ("transfers", "transfers"),
    ("vrps", "vrps"),
    ("vrps_jsonext", "vrps"),
    ("pfx2as", "pfx2as"),
    ("drop", "blocklist"),
    ("asndrop", "blocklist"),
    ("bgpdump", "bgpdump"),
)


def _step(message: str) -> float:
    click.echo(click.style("==> ", fg="cyan") + message, err=True)
    return time.monotonic()


@click.command()
@click.option("--blocks", type=click.IntRange(1, 100_000), default=400, show_default=True, help="Leased blocks to generate.")
@click.option("--seed", type=int, default=7, show_default=True, help="Same seed, same portfolio.")
@click.option("--backend", type=click.Choice(["embedded", "services"]), help="Embedded (default) or Kafka + Neo4j.")
@click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path), help="State folder (default .chainrisk).")
@click.option("--as-of", type=click.DateTime(formats=["%Y-%m-%d"]), default="2026-11-01", show_default=True,
              help="The analysis date (fixed, so the demo prints the same figures every day).")
def demo(blocks: int, seed: int, backend: str | None, state_dir: Path | None, as_of: datetime) -> None:
    """Run the whole pipeline on a seeded synthetic portfolio and print the exposure report."""
    from chainrisk.analysis.exposure import exposure
    from chainrisk.cli.report_cmd import analyse_and_write_back, lapse_horizon, open_configured_store, print_exposure_table
    from chainrisk.graph.backend import open_sink
    from chainrisk.graph.config import load_settings
    from chainrisk.ingest.common import run_ingest
    from chainrisk.synthetic import write_dataset

    settings = load_settings(backend=backend, state_dir=state_dir)
    started = _step(f"generating a synthetic portfolio of {blocks:,} leased blocks (seed {seed})")
    out = Path(settings.state_dir) / "demo-input"
    manifest = write_dataset(blocks, seed, out, broken_rate=0.01)
    files: dict[str, str] = manifest["files"]

    _step(f"ingesting {len(files)} files into the {'Kafka' if settings.backend == 'services' else 'embedded'} event log")
    try:
        sink = open_sink(settings)
    except Exception as exc:  # noqa: BLE001
        raise click.ClickException(f"cannot open the {settings.backend} event log: {exc}"
                                   + (" (is `chainrisk services up` running?)" if settings.backend == "services" else "")) from None
    rejected = 0
    try:
        for kind, worker in DEMO_FILES:
            if kind not in files:
                continue
            module = importlib.import_module(f"chainrisk.ingest.{worker}")
            summary = run_ingest(module.parse, [out / files[kind]], sink)
            rejected += summary.rejects
            click.echo(f"    {worker:<10} {summary.events:>7,} events  {summary.rejects:>4} rejected  ({files[kind]})", err=True)
    finally:
        sink.close()
    if rejected:
        click.echo(f"    ({rejected} rows rejected on purpose: the generator plants a few broken rows; "
                   f"`chainrisk ingest leases {out / 'leases.csv'}` shows them with file:line)", err=True)

    _step("building the chain graph (consumer, until caught up)")
    from chainrisk.graph.consumer import consume

    stats = consume(settings, until_idle=True, continuous=False)  # the whole portfolio is analysed next
    click.echo(f"    {stats.summary()}", err=True)

    _step("analysing every leased block and writing the results back to the graph")
    _, store = open_configured_store(settings.backend, settings.state_dir)
    try:
        analysis = analyse_and_write_back(store, as_of.date(), lapse_horizon(settings),
                                          processes=settings.analysis_processes).analysis
        open_alerts = [a for a in store.load_alerts(None) if a["status"] == "open"]
    finally:
        store.close()
    rows = exposure(analysis)
    click.echo(f"    {len(analysis.blocks):,} blocks, {analysis.total_addresses:,} addresses, "
               f"{sum(1 for b in analysis.blocks if b.data_errors)} with data errors; {time.monotonic() - started:.1f}s in all", err=True)
    click.echo("")
    print_exposure_table(rows[:10], len(rows), analysis.total_addresses)
    flag = "" if settings.backend == "embedded" else " --backend services"
    for alert in open_alerts[:3]:
        lessees = {x for a in alert["affected"] for x in a["lessees"]}
        click.echo(f"ALERT {alert['id'][:8]}: {alert['type']} of {alert['block']}: "
                   f"{(alert.get('old_party') or {}).get('name', '-')} -> {(alert.get('new_party') or {}).get('name', '-')} "
                   f"on {alert['changed_at'][:10]}; {len(alert['affected'])} leased blocks and {len(lessees)} lessees affected")
    click.echo("")
    click.echo("Next:")
    click.echo(f"  chainrisk report blocks --sort risk{flag}          the riskiest leased blocks")
    click.echo(f"  chainrisk report block {analysis.blocks[0].block}{flag}     one chain in detail" if analysis.blocks else "")
    click.echo(f"  chainrisk report exposure --format html --output exposure.html{flag}")
    click.echo(f"  chainrisk whatif --remove \"{rows[0].party}\"{flag}" if rows else "")
    click.echo(f"  chainrisk alerts{flag}                              holder changes and risk changes")
