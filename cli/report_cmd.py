"""`chainrisk analyze`, `chainrisk report ...`, `chainrisk whatif ...`: thin commands over the pure
analysis in ``chainrisk.analysis``. Each loads the current portfolio from the configured store
(embedded networkx or Neo4j), runs the analysis (deterministic, so reports never go stale against
the graph), and prints or writes the result."""
from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from chainrisk.analysis.blocks import BLOCK_FIELDS, BlockResult, PortfolioAnalysis, rov_counts
from chainrisk.analysis.chains import holder_lessee_paths
from chainrisk.analysis.exposure import EXPOSURE_FIELDS, UnknownParty, exposure, remove_party, resolve_party, transfer_block
from chainrisk.analysis.idle_space import IDLE_FIELDS, IdleSpace, idle_space
from chainrisk.analysis.model import Portfolio
from chainrisk.cli.output import print_table
from chainrisk.common.formats import to_csv, to_json

if TYPE_CHECKING:  # rich is imported where a table is printed; the store where it is opened
    from rich.console import JustifyMethod

    from chainrisk.graph.alerts.engine import AlertEngine
    from chainrisk.graph.config import Settings
    from chainrisk.graph.stores.protocol import GraphStore

FORMATS = ("table", "json", "csv", "html")
TABLE_ROWS = 50


# --- shared plumbing ----------------------------------------------------------------------------
def _store_options(command: Callable[..., Any]) -> Callable[..., Any]:
    command = click.option("--as-of", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
                           help="Judge expiry against this day (default: today, UTC).")(command)
    command = click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                           help="The state folder (default: configuration).")(command)
    command = click.option("--backend", type=click.Choice(["embedded", "services"]), default=None,
                           help="Read the embedded graph or Neo4j (default: configuration).")(command)
    return command


def _output_options(command: Callable[..., Any]) -> Callable[..., Any]:
    command = click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
                           help="Write to this file instead of standard output.")(command)
    command = click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)(command)
    return command


def open_configured_store(backend: str | None, state_dir: Path | None, continuous: bool | None = None) -> tuple[Settings, GraphStore]:
    """``(settings, store)`` for the configured backend; a clear error instead of a traceback when
    the store cannot be opened (server down, state folder locked or unreadable). On the embedded
    backend, events waiting in the log are applied first (see :func:`apply_pending`; ``continuous``
    as for ``consume``)."""
    from chainrisk.graph.backend import open_store
    from chainrisk.graph.config import ConfigError, load_settings

    try:
        settings = load_settings(backend=backend, state_dir=state_dir)
        store = open_store(settings)
        if settings.backend == "embedded" and apply_pending(settings, store, continuous):
            store.close()
            store = open_store(settings)
        return settings, store
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    except click.ClickException:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure to open is reported, not traced
        raise click.ClickException(f"cannot open the graph store: {exc}") from None


def apply_pending(settings: Any, store: Any, continuous: bool | None = None) -> bool:
    """Apply the events the embedded log holds beyond the graph (an ingest not yet consumed), as
    ``chainrisk consume --until-idle`` would, and say so on stderr; True when the graph changed.
    When another process is consuming, only say how many are pending."""
    from chainrisk.graph.consumer import consume, pending_log_events
    from chainrisk.graph.stores.nx_store import StoreBusy

    pending = pending_log_events(settings, store)
    if not pending:
        return False
    store.close()
    try:
        stats = consume(settings, until_idle=True, continuous=continuous)
    except StoreBusy:
        click.echo(f"note: {pending:,} event(s) in the event log are not in the graph yet and another process is applying "
                   f"them (chainrisk consume); these figures leave them out", err=True)
        return True
    click.echo(f"applied {stats.records:,} pending event(s) from the event log to the graph first "
               f"(what `chainrisk consume --until-idle` does)", err=True)
    return True


def load_portfolio(backend: str | None, state_dir: Path | None) -> Portfolio:
    """The current portfolio from the configured store."""
    return _load(backend, state_dir)[1]


def _load(backend: str | None, state_dir: Path | None) -> tuple[Settings, Portfolio]:
    settings, store = open_configured_store(backend, state_dir)
    try:
        return settings, store.load_portfolio()
    finally:
        store.close()


def lapse_horizon(settings: Settings) -> timedelta:
    """How soon after its export's build time a VRP's expiry counts as lapsing (``roa_lapse_hours``)."""
    return timedelta(hours=settings.roa_lapse_hours)


def _as_of(value: datetime | None) -> date:
    return value.date() if value else datetime.now(timezone.utc).date()


def _analysis(backend: str | None, state_dir: Path | None, as_of: datetime | None) -> PortfolioAnalysis:
    return _analysis_and_portfolio(backend, state_dir, as_of)[0]


def _analysis_and_portfolio(backend: str | None, state_dir: Path | None, as_of: datetime | None) -> tuple[PortfolioAnalysis, Portfolio]:
    from chainrisk.graph.analysis_pool import analyse_portfolio_parallel

    settings, portfolio = _load(backend, state_dir)
    return analyse_portfolio_parallel(portfolio, _as_of(as_of), lapse_horizon(settings), settings.analysis_processes), portfolio


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise click.ClickException(f"cannot write {output}: {exc.strerror or exc}") from None
    click.echo(f"wrote {output}", err=True)


def _html(analysis: PortfolioAnalysis, blocks: list[BlockResult] | None = None) -> str:
    from chainrisk.analysis.html_report import render_html

    view = analysis
    if blocks is not None:
        view = PortfolioAnalysis(blocks, analysis.hops_by_block, analysis.as_of, analysis.basis)
    return render_html(view, exposure(analysis), top=len(blocks) if blocks is not None else 12,
                       generated_at=datetime.now(timezone.utc))


def _fmt_date(value: date | None) -> str:
    return value.isoformat() if value else "-"


def _blocks_table(rows: list[BlockResult], total: int, output: Path | None) -> None:
    from rich.table import Table

    table = Table(title=f"Leased blocks ({len(rows):,} of {total:,})", show_lines=False)
    for name in ("block", "lessee", "holders", "depth", "SPOFs", "secured until", "renewal gaps", "ROV", "risk"):
        table.add_column(name, overflow="fold")
    for r in rows:
        depth = "-" if r.depth_min is None else (f"{r.depth_min}" if r.depth_min == r.depth_max else f"{r.depth_min}-{r.depth_max}")
        rov = r.rov_state or "-"
        if r.rov_reason:
            rov += f" ({r.rov_reason})"
        risk = str(r.risk_score) + (" [red]data error[/red]" if r.data_errors else "")
        table.add_row(r.block, r.lessee or "-", ", ".join(r.holders), depth, ", ".join(r.spofs) or "-",
                      _fmt_date(r.secured_until), ", ".join(r.renewal_gaps) or "-", rov, risk)
    print_table(table, output)


def block_objects(analysis: PortfolioAnalysis, rows: list[BlockResult]) -> Iterator[dict[str, Any]]:
    """The JSON objects of ``report blocks``: every result field plus ``chains``, the block's
    holder -> lessee paths as lists of names (at most 50 per block)."""
    names = analysis.party_names
    for r in rows:
        paths = holder_lessee_paths(analysis.hops_by_block[r.block])
        yield r.as_dict() | {"chains": [[names.get(k, k) for k in path] for path in paths]}


def _write_blocks(analysis: PortfolioAnalysis, rows: list[BlockResult], fmt: str, output: Path | None) -> None:
    if fmt == "json":
        _emit(to_json(block_objects(analysis, rows)), output)
    elif fmt == "csv":
        _emit(to_csv(block_objects(analysis, rows), (*BLOCK_FIELDS, "chains")), output)
    elif fmt == "html":
        _emit(_html(analysis, rows), output)
    else:
        _blocks_table(rows, len(analysis.blocks), output)


# --- analyze ------------------------------------------------------------------------------------
@dataclass
class AnalysisRun:
    """One analysis written back: the results and the seconds each stage took."""

    analysis: PortfolioAnalysis
    load_s: float
    analyse_s: float
    write_s: float
    alerts: list[Any] = field(default_factory=list)  # the risk-change alerts raised, updated or resolved


def analyse_and_write_back(store: GraphStore, as_of: date, roa_lapse_horizon: timedelta = timedelta(hours=24),
                           alerts: AlertEngine | None = None, processes: int = 1) -> AnalysisRun:
    """Load the current portfolio from ``store``, analyse every leased block as of ``as_of`` (and
    the portfolio holders' idle space) and write the results back (Block properties and SPOF_FOR
    relationships), stamped with the time of the run (UTC, whole seconds). With ``alerts``, the
    stored results are read first and the risk changes between them and the new ones go to the
    engine (``process_results``, evidence: this run). The blocks are spread over up to ``processes``
    processes (graph/analysis_pool.py). ``chainrisk analyze`` and ``chainrisk demo`` both run this;
    the caller opens and closes the store."""
    from chainrisk.analysis.risk_alerts import analysis_run_event, result_rows
    from chainrisk.analysis.writeback import analysis_rows
    from chainrisk.graph.analysis_pool import analyse_portfolio_parallel

    started = time.monotonic()
    portfolio = store.load_portfolio()
    before = store.stored_results(None) if alerts is not None else {}
    loaded = time.monotonic()
    analysis = analyse_portfolio_parallel(portfolio, as_of, roa_lapse_horizon, processes)
    idle = idle_space(portfolio, analysis)
    analysed = time.monotonic()
    stamp = datetime.now(timezone.utc).replace(microsecond=0)
    block_rows, spof_rows = analysis_rows(analysis, stamp, idle)
    store.write_analysis(block_rows, spof_rows)
    store.record_full_analysis(stamp)
    written = time.monotonic()
    raised: list[Any] = []
    if alerts is not None:
        run = analysis_run_event("chainrisk analyze", f"full analysis as of {as_of.isoformat()}", stamp,
                                 f"full analysis of {len(block_rows):,} leased blocks as of {as_of.isoformat()}")
        raised = alerts.process_results(before, result_rows(block_rows, spof_rows), [run], as_of, analysis.party_names)
    return AnalysisRun(analysis, loaded - started, analysed - loaded, written - analysed, raised)


@click.command()
@_store_options
@click.option("--processes", type=click.IntRange(min=1), default=None,
              help="Spread the leased blocks over this many processes, this one included (default: the analysis_processes "
                   "setting, CHAINRISK_ANALYSIS_PROCESSES, whose default is one per CPU this process may use; 1 = one "
                   "process). Portfolios under 25,000 blocks per process use fewer; the results are the same.")
def analyze(backend: str | None, state_dir: Path | None, as_of: datetime | None, processes: int | None) -> None:
    """Analyse every leased block, write the results back to the graph (Block properties and
    SPOF_FOR relationships) and print a summary."""
    from chainrisk.graph.alerts.engine import alert_engine
    from chainrisk.graph.statefiles import StateDirError
    from chainrisk.graph.stores.nx_persist import GraphStateError
    from chainrisk.graph.stores.nx_store import StoreBusy

    started = time.monotonic()
    # the whole portfolio is analysed next, as of --as-of, and raises the risk alerts itself
    settings, store = open_configured_store(backend, state_dir, continuous=False)
    opened = time.monotonic()
    engine, close_alerts = alert_engine(settings, store) if settings.alerts else (None, None)
    try:
        run = analyse_and_write_back(store, _as_of(as_of), lapse_horizon(settings), engine,
                                     processes or settings.analysis_processes)
    except (StateDirError, GraphStateError, StoreBusy) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        if close_alerts is not None:
            close_alerts()
        store.close()
    _print_summary(run.analysis, opened - started + run.load_s, run.analyse_s, run.write_s, settings.backend)
    if settings.alerts:
        opened_n = sum(1 for a in run.alerts if a.status == "open")
        click.echo(f"  risk-change alerts: {len(run.alerts):,} raised, updated or resolved ({opened_n:,} open); "
                   f"chainrisk alerts --type TYPE")


def _print_summary(analysis: PortfolioAnalysis, load_s: float, analyse_s: float, write_s: float, backend: str) -> None:
    blocks = analysis.blocks
    rov = rov_counts(blocks)
    errors = [b for b in blocks if b.data_errors]
    rows = exposure(analysis)
    click.echo(f"analysed {len(blocks):,} leased blocks ({analysis.total_addresses:,} addresses) on the {backend} backend")
    click.echo(f"  load {load_s:.2f}s, analysis {analyse_s:.2f}s, write-back {write_s:.2f}s")
    click.echo(f"  ROV of the lessee's origin: Valid {rov['Valid']:,}, Invalid {rov['Invalid']:,}, NotFound {rov['NotFound']:,}, "
               f"no ASN {rov['no ASN']:,}")
    click.echo(f"  renewal gaps in {sum(1 for b in blocks if b.renewal_gaps):,} blocks; blocklisted {sum(1 for b in blocks if b.listings):,}; "
               f"source unclear {sum(1 for b in blocks if not b.source_clear):,}")
    click.echo(f"  data errors: {len(errors):,} blocks")
    for b in errors[:10]:
        click.echo(f"    {b.block}: {'; '.join(b.data_errors)}")
    if len(errors) > 10:
        click.echo(f"    ... and {len(errors) - 10:,} more (chainrisk report blocks --format json)")
    if rows:
        click.echo("  largest single points of failure:")
        for r in rows[:5]:
            click.echo(f"    {r.party}: {r.spof_blocks:,} blocks, {r.spof_addresses:,} addresses ({r.share:.1%})")


# --- report -------------------------------------------------------------------------------------
@click.group()
def report() -> None:
    """Reports over the current portfolio: blocks, exposure, one block, one lessee, idle space."""


@report.command("blocks")
@_store_options
@_output_options
@click.option("--sort", type=click.Choice(["block", "risk"]), default="block", show_default=True)
@click.option("--limit", type=int, default=None, help=f"At most this many blocks (table default {TABLE_ROWS}; 0 = all).")
def report_blocks(backend: str | None, state_dir: Path | None, as_of: datetime | None, fmt: str, output: Path | None,
                  sort: str, limit: int | None) -> None:
    """Every leased block: lessee, holders, depth, single points of failure, secured-until,
    renewal gaps, routing and reputation signals, data errors."""
    analysis = _analysis(backend, state_dir, as_of)
    rows = list(analysis.blocks)
    if sort == "risk":
        rows.sort(key=lambda b: (-b.risk_score, -b.addresses, b.block))
    if limit is None and fmt == "table":
        limit = TABLE_ROWS
    if limit:
        rows = rows[:limit]
    if fmt == "html":
        _emit(_html(analysis), output)
        return
    _write_blocks(analysis, rows, fmt, output)


@report.command("exposure")
@_store_options
@_output_options
@click.option("--limit", type=int, default=None, help=f"At most this many parties (table default {TABLE_ROWS}; 0 = all).")
def report_exposure(backend: str | None, state_dir: Path | None, as_of: datetime | None, fmt: str, output: Path | None,
                    limit: int | None) -> None:
    """Per party: the blocks, addresses and lessees for which it is a single point of failure, and
    the share of all leased addresses, largest first."""
    analysis = _analysis(backend, state_dir, as_of)
    rows = exposure(analysis)
    if limit is None and fmt == "table":
        limit = TABLE_ROWS
    shown = rows[:limit] if limit else rows
    if fmt == "json":
        _emit(to_json(r.as_dict() for r in shown), output)
    elif fmt == "csv":
        _emit(to_csv((r.as_dict() for r in shown), EXPOSURE_FIELDS), output)
    elif fmt == "html":
        _emit(_html(analysis), output)
    else:
        print_exposure_table(shown, len(rows), analysis.total_addresses, output)


def print_exposure_table(rows: list[Any], total_rows: int, total_addresses: int, output: Path | None = None) -> None:
    """The exposure report as a rich table (also used by ``chainrisk demo``)."""
    from rich.table import Table

    table = Table(title=f"Exposure: single points of failure ({len(rows):,} of {total_rows:,} parties; "
                        f"{total_addresses:,} leased addresses)")
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("party", "left"), ("SPOF blocks", "right"), ("SPOF addresses", "right"), ("lessees", "right"), ("share", "right"))
    for name, justify in columns:
        table.add_column(name, justify=justify)
    for r in rows:
        table.add_row(r.party, f"{r.spof_blocks:,}", f"{r.spof_addresses:,}", f"{r.spof_lessees:,}", f"{r.share:.2%}")
    print_table(table, output)


@report.command("block")
@click.argument("prefix")
@_store_options
@_output_options
def report_block(prefix: str, backend: str | None, state_dir: Path | None, as_of: datetime | None, fmt: str,
                 output: Path | None) -> None:
    """One block in detail: every figure, its registry chain and its holder -> lessee paths."""
    from chainrisk.ingest.prefixes import parse_ipv4_prefix

    try:
        prefix = str(parse_ipv4_prefix(prefix))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="PREFIX") from None
    analysis = _analysis(backend, state_dir, as_of)
    result = analysis.block(prefix)
    if result is None:
        raise click.ClickException(f"{prefix} is not a leased block in this portfolio")
    (detail,) = block_objects(analysis, [result])
    if fmt == "json":
        _emit(to_json(detail), output)
    elif fmt == "csv":
        _emit(to_csv([detail], (*BLOCK_FIELDS, "chains")), output)
    elif fmt == "html":
        _emit(_html(analysis, [result]), output)
    else:
        _block_detail(detail, output)


def _block_detail(detail: dict[str, Any], output: Path | None) -> None:
    from rich.table import Table

    table = Table(title=f"Block {detail['block']}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in detail.items():
        if key == "chains":
            value = "\n".join(" -> ".join(p) for p in value) or "-"
        elif isinstance(value, list):
            value = "\n".join(str(v) for v in value) or "-"
        table.add_row(key, "-" if value is None else str(value))
    print_table(table, output)


@report.command("idle")
@_store_options
@_output_options
def report_idle(backend: str | None, state_dir: Path | None, as_of: datetime | None, fmt: str, output: Path | None) -> None:
    """Space the portfolio's holders hold but have not leased: each idle range, the BGP routes that
    announce part of it and the AS0 VRPs covering it, flagged idle-space-announced when announced
    or without an AS0 ROA."""
    analysis, portfolio = _analysis_and_portfolio(backend, state_dir, as_of)
    rows = idle_space(portfolio, analysis)
    if fmt == "json":
        _emit(to_json(r.as_dict() for r in rows), output)
    elif fmt == "csv":
        _emit(to_csv((r.as_dict() for r in rows), IDLE_FIELDS), output)
    elif fmt == "html":
        raise click.UsageError("report idle has no html format: use table, json or csv")
    else:
        _idle_table(rows, output)


def _idle_table(rows: list[IdleSpace], output: Path | None) -> None:
    from rich.table import Table

    flagged = sum(1 for r in rows if r.risk_score)
    table = Table(title=f"Idle space of the portfolio's holders ({len(rows):,} ranges, {flagged:,} flagged)")
    for name in ("block", "holder", "held block", "BGP routes", "AS0 VRPs", "risk"):
        table.add_column(name, overflow="fold")
    for r in rows:
        table.add_row(r.block, r.holder, r.held_block, "\n".join(r.bgp_routes) or "-", "\n".join(r.as0_vrps) or "-", str(r.risk_score))
    print_table(table, output)


@report.command("lessee")
@click.argument("name")
@_store_options
@_output_options
def report_lessee(name: str, backend: str | None, state_dir: Path | None, as_of: datetime | None, fmt: str,
                  output: Path | None) -> None:
    """Every block leased to NAME (matched by key or name, case-insensitively)."""
    analysis = _analysis(backend, state_dir, as_of)
    try:
        key = resolve_party(analysis, name)
    except UnknownParty as exc:
        raise click.ClickException(str(exc)) from None
    rows = [b for b in analysis.blocks if b.lessee_key == key]
    if not rows:
        raise click.ClickException(f"{analysis.party_names.get(key, name)} leases no block in this portfolio")
    _write_blocks(analysis, rows, fmt, output)


# --- what-if ------------------------------------------------------------------------------------
@click.command()
@click.option("--remove", "remove", metavar="PARTY", default=None, help="Take this party out of every chain.")
@click.option("--transfer", "transfer", metavar="BLOCK", default=None, help="Move this block (and leased blocks inside it) ...")
@click.option("--to", "to", metavar="PARTY", default=None, help="... to this new holder.")
@_store_options
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None)
def whatif(remove: str | None, transfer: str | None, to: str | None, backend: str | None, state_dir: Path | None,
           as_of: datetime | None, fmt: str, output: Path | None) -> None:
    """What if a party disappeared (--remove PARTY), or a block changed holder (--transfer BLOCK --to PARTY)?"""
    if (remove is None) == (transfer is None):
        raise click.UsageError("give either --remove PARTY or --transfer BLOCK --to PARTY")
    if transfer is not None and not to:
        raise click.UsageError("--transfer needs --to PARTY")
    analysis = _analysis(backend, state_dir, as_of)
    if remove is not None:
        try:
            impact = remove_party(analysis, resolve_party(analysis, remove))
        except UnknownParty as exc:
            raise click.ClickException(str(exc)) from None
        if fmt == "json":
            _emit(to_json(impact.as_dict()), output)
        else:
            _emit(removal_text(impact), output)
        return
    assert transfer is not None and to  # checked above: --transfer without --remove, and with --to
    from chainrisk.ingest.prefixes import parse_ipv4_prefix

    try:
        block = str(parse_ipv4_prefix(transfer))
        impact_t = transfer_block(analysis, block, to)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--transfer") from None
    except LookupError as exc:
        raise click.ClickException(str(exc)) from None
    _emit(to_json(impact_t.as_dict()) if fmt == "json" else transfer_text(impact_t), output)


def removal_text(impact: Any) -> str:
    """The removal what-if as plain text."""
    lines = [f"What if {impact.party} disappeared?",
             f"  blocks whose chain names it: {impact.blocks_touched:,}",
             f"  blocks cut off (no holder -> lessee path left): {impact.blocks_cut_off:,} ({impact.addresses_cut_off:,} addresses)"]
    for lost in impact.lost:
        shown = ", ".join(lost.blocks[:8]) + (f", ... ({len(lost.blocks) - 8} more)" if len(lost.blocks) > 8 else "")
        lines.append(f"    {lost.lessee} loses {len(lost.blocks):,} block{'s' if len(lost.blocks) != 1 else ''} "
                     f"({lost.addresses:,} addresses): {shown}")
    lines.append(f"  secured-until changes on blocks that keep a path: {len(impact.secured_until_changes):,}")
    for c in impact.secured_until_changes[:20]:
        lines.append(f"    {c.block} ({c.lessee}): {_fmt_date(c.before)} -> {_fmt_date(c.after)}")
    if impact.own_blocks:
        lines.append(f"  it is itself the lessee of {len(impact.own_blocks):,} blocks (not counted as cut off)")
    return "\n".join(lines) + "\n"


def transfer_text(impact: Any) -> str:
    """The transfer what-if as plain text."""
    lines = [f"What if {impact.block} moved to {impact.new_holder}?", f"  leased blocks affected: {len(impact.blocks):,}"]
    for c in impact.blocks[:30]:
        lines.append(f"    {c.block} ({c.lessee}): holders {', '.join(c.holders_before)} -> {', '.join(c.holders_after) or '-'}; "
                     f"SPOFs {', '.join(c.spofs_before) or '-'} -> {', '.join(c.spofs_after) or '-'}; "
                     f"secured until {_fmt_date(c.secured_before)} -> {_fmt_date(c.secured_after)}"
                     + (f"; errors: {'; '.join(c.errors_after)}" if c.errors_after else ""))
    if len(impact.blocks) > 30:
        lines.append(f"    ... and {len(impact.blocks) - 30:,} more (--format json)")
    lines.append("  single-point-of-failure addresses that move:")
    for e in impact.exposure_changes:
        lines.append(f"    {e.party}: {e.spof_addresses_before:,} -> {e.spof_addresses_after:,}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(report())
