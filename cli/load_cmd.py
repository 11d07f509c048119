"""`chainrisk load`: the bulk first load of an empty Neo4j from the whole event log (graph/bulk.py),
then the full analysis.

Exit status: 0 when loaded (and analysed); 1 when the load cannot run (the target is not empty, no
Neo4j of the state folder runs, a configuration error) or the import failed; 3 when the topics'
records did not all arrive within ``--wait-timeout`` (the loader is not the only member of its group)."""
from __future__ import annotations

import logging
import sys
from datetime import datetime
from pathlib import Path

import click

EXIT_STALLED = 3


@click.command()
@click.option("--from", "source", type=click.Choice(["topics", "log"]), default="topics", show_default=True,
              help="Read the Kafka topics, or the embedded log under the state folder.")
@click.option("--force", is_flag=True, help="Replace a Neo4j database that is not empty (everything in it is lost).")
@click.option("--batch-size", type=click.IntRange(min=1), default=20_000, show_default=True,
              help="Records per batch of the in-memory fold (the graph is the same for any size).")
@click.option("--group", help="Consumer group whose offsets the load stores (default chainrisk-graph).")
@click.option("--state-dir", type=click.Path(path_type=Path), help="State folder (default .chainrisk): its Neo4j is loaded.")
@click.option("--wait-timeout", type=click.FloatRange(min=0), default=120.0, show_default=True,
              help="Seconds the fold may wait for records that do not arrive (e.g. partitions held by a running consumer).")
@click.option("--analyze/--no-analyze", default=True, show_default=True, help="Run the full analysis once loaded.")
@click.option("--as-of", type=click.DateTime(formats=["%Y-%m-%d"]), help="The analysis date (default today, UTC).")
def load(source: str, force: bool, batch_size: int, group: str | None, state_dir: Path | None, wait_timeout: float,
         analyze: bool, as_of: datetime | None) -> None:
    """Bulk first load: build an empty Neo4j from every ingested record with neo4j-admin import.

    The records are folded in memory by the consumer's own logic, written as CSV and imported
    while Neo4j is stopped (`chainrisk services up`'s Neo4j: it is stopped and started again).
    The offsets stored are those of the last record loaded, so `chainrisk consume` continues from
    there. Stop running consumers first. No alerts are raised for the loaded history."""
    from chainrisk.common.logs import setup_logging
    from chainrisk.graph.bulk import BulkLoadError, bulk_load
    from chainrisk.graph.config import ConfigError, load_settings
    from chainrisk.graph.consumer import ConsumerStalled, ConsumerUnavailable
    from chainrisk.graph.services.runner import ServiceError

    try:
        settings = load_settings(backend="services", consumer_group=group, state_dir=state_dir)
    except Exception as exc:  # noqa: BLE001 - a bad chainrisk.toml or environment variable (never quoting a value)
        raise click.ClickException(f"configuration error: {exc}") from None
    setup_logging(settings.log_format)
    for noisy in ("kafka", "neo4j"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
    try:
        stats = bulk_load(settings, source=source, force=force, batch_size=batch_size, wait_timeout_s=wait_timeout)
    except ConsumerStalled as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_STALLED)
    except (BulkLoadError, ServiceError, ConsumerUnavailable, ConfigError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"loaded {stats.summary()}")
    if analyze:
        from chainrisk.cli.report_cmd import _as_of, _print_summary, analyse_and_write_back, lapse_horizon
        from chainrisk.graph.stores.neo4j_store import NeoStore

        store = NeoStore(settings)
        try:
            run = analyse_and_write_back(store, _as_of(as_of), lapse_horizon(settings), processes=settings.analysis_processes)
        finally:
            store.close()
        _print_summary(run.analysis, run.load_s, run.analyse_s, run.write_s, settings.backend)
