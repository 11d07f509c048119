"""`chainrisk ingest <source> PATH...`: run one ingest worker over files and publish its events.

One subcommand per worker, generated from :data:`WORKERS`; a worker module is imported only when its
command runs (or help lists it). A worker module exposes ``SOURCE``, ``DESCRIPTION`` and
``parse(src, ctx)``; optionally ``EXTRA_OPTIONS`` (click options added to its command) and
``make_parser(paths, **extra_option_values)`` returning the parser for the run (used when the
worker needs to see every file first, or takes extra options).

Exit status: 0 when the run finished (rows may have been rejected); 1 when a file could not be read,
has an unknown format, or nothing in it was recognised (the other files are still ingested), or the
run could not start; 3 with ``--strict`` when any row was rejected or a file gave no event; 2 for a
usage error.
"""
from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import IO, Any

import click

from chainrisk.graph.statefiles import StateDirError, ensure_private_dir, open_private, state_dir_error

# command name -> worker module
WORKERS: dict[str, str] = {
    "leases": "chainrisk.ingest.leases",
    "rpsl": "chainrisk.ingest.rpsl",
    "arin": "chainrisk.ingest.arin",
    "transfers": "chainrisk.ingest.transfers",
    "delegated": "chainrisk.ingest.delegated",
    "vrps": "chainrisk.ingest.vrps",
    "pfx2as": "chainrisk.ingest.pfx2as",
    "blocklist": "chainrisk.ingest.blocklist",
    "bgpdump": "chainrisk.ingest.bgpdump",
}
REJECTS_SHOWN = 20
EXIT_FILE_FAILED = 1
EXIT_STRICT_REJECTS = 3


class StdoutSink:
    """The ``--dry-run`` sink: each event as one JSON line on standard output."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self._stream = stream or sys.stdout

    def publish(self, event: Any) -> None:
        self._stream.write(event.to_json().decode() + "\n")

    def flush(self) -> None:
        self._stream.flush()

    def close(self) -> None:
        self.flush()


class RejectReporter:
    """Prints the first rejects to stderr as ``file:line: reason`` and writes all of them to a JSON
    Lines file, created only when the first reject arrives."""

    def __init__(self, path: Path, shown: int = REJECTS_SHOWN) -> None:
        self.path = path
        self.shown = shown
        self.count = 0
        self._file: IO[str] | None = None

    def __call__(self, reject: Any) -> None:
        if self.count < self.shown:
            click.echo(f"{reject.where()}: {reject.reason}", err=True)
        self.count += 1
        if self._file is None:
            ensure_private_dir(self.path.parent)
            try:
                self._file = open_private(self.path, "a", encoding="utf-8")
            except OSError as exc:
                raise state_dir_error(self.path, exc) from None
        self._file.write(reject.to_json() + "\n")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            more = self.count - self.shown
            if more > 0:
                click.echo(f"... {more} more rejects in {self.path}", err=True)
            else:
                click.echo(f"rejects written to {self.path}", err=True)


def close_quietly_on_error(sink: Any, reporter: RejectReporter) -> None:
    """Close the sink (its last flush) and the rejects file; a state folder that cannot be written
    is a one-line error, not a traceback."""
    try:
        try:
            sink.close()
        finally:
            reporter.close()
    except StateDirError as exc:
        raise click.ClickException(str(exc)) from None


def parse_observed_at(value: str | None) -> datetime | None:
    """``--observed-at``: an ISO 8601 date (midnight UTC) or date-time (UTC when no offset is given)."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 date such as 2024-05-01 or 2024-05-01T12:00:00Z", param_hint="--observed-at") from None
    return parsed.astimezone(timezone.utc) if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def default_rejects_path(state_dir: Path, name: str) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return state_dir / "rejects" / f"{name}-{stamp}.jsonl"


def format_summary(name: str, summary: Any, rejects_path: Path | None) -> list[str]:
    """The end-of-run report: events per type, rejects and skips per reason, time and rate."""
    rows = summary.events + summary.rejects + summary.skipped
    rate = rows / summary.seconds if summary.seconds > 0 else float(rows)
    per_type = ", ".join(f"{kind} {count}" for kind, count in sorted(summary.events_by_type.items())) or "none"
    lines = [
        f"{name}: {summary.events} events ({per_type}) from {summary.files_read} file(s) "
        f"in {summary.seconds:.2f} s, {rate:,.0f} rows/s"
    ]
    if summary.rejects:
        reasons = ", ".join(f"{reason} {count}" for reason, count in summary.rejects_by_reason.most_common())
        lines.append(f"rejected {summary.rejects} rows: {reasons}" + (f" (all in {rejects_path})" if rejects_path else ""))
    if summary.skipped:
        skipped = ", ".join(f"{reason} {count}" for reason, count in summary.skipped_by_reason.most_common())
        lines.append(f"skipped {summary.skipped} out-of-scope records: {skipped}")
    if summary.files_failed:
        lines.append(f"failed {len(summary.files_failed)} file(s): see the errors above")
    lines += [report.describe() for report in summary.snapshots]
    return lines


def _open_sink(settings: Any) -> Any:
    from chainrisk.graph.backend import open_sink

    try:
        return open_sink(settings)
    except Exception as exc:  # noqa: BLE001 - a broker that is down must be a message, not a traceback
        raise click.ClickException(f"cannot open the {settings.backend} event log: {exc}") from None


def snapshot_ledger(settings: Any, *, write: bool) -> Any:
    """The snapshot state of the run's event log (``write=False`` for --dry-run: compare only)."""
    from chainrisk.graph.backend import event_log_name
    from chainrisk.graph.snapshot_ledger import SnapshotLedger

    return SnapshotLedger(Path(settings.state_dir) / "snapshots", event_log_name(settings), write=write)


def snapshot_mode(module: ModuleType, *, no_snapshot: bool, forced: bool) -> bool | Callable[[Path], bool]:
    """Which files of the run are full snapshots: the worker's ``SNAPSHOT`` (True: every file; a
    function: the files it names, e.g. registry dumps but not whois replies), ``--no-snapshot``
    none, ``--snapshot`` every file."""
    if no_snapshot and forced:
        raise click.UsageError("--snapshot and --no-snapshot exclude each other")
    if no_snapshot:
        return False
    declared: bool | Callable[[Path], bool] = getattr(module, "SNAPSHOT", False)
    return True if forced else declared


def run_worker(name: str, module: ModuleType, options: dict[str, Any]) -> None:
    """Run ``module`` over the given paths with the common options; exits with the status above."""
    from chainrisk.graph.config import load_settings
    from chainrisk.ingest.common import SourceError, run_ingest

    paths: list[Path] = list(options.pop("paths"))
    dry_run, quiet, strict = options.pop("dry_run"), options.pop("quiet"), options.pop("strict")
    limit = options.pop("limit")
    observed_at = parse_observed_at(options.pop("observed_at"))
    rejects_file: Path | None = options.pop("rejects")
    snapshot = snapshot_mode(module, no_snapshot=options.pop("no_snapshot", False), forced=options.pop("snapshot", False))
    try:
        settings = load_settings(backend=options.pop("backend"), state_dir=options.pop("state_dir"))
    except Exception as exc:  # noqa: BLE001 - a bad chainrisk.toml or environment variable
        raise click.ClickException(f"configuration error: {exc}") from None
    try:
        make_parser = getattr(module, "make_parser", None)
        parser = make_parser(paths, **options) if make_parser else module.parse
    except SourceError as exc:
        raise click.ClickException(str(exc)) from None
    reporter = RejectReporter(rejects_file or default_rejects_path(settings.state_dir, name))
    ledger = snapshot_ledger(settings, write=not dry_run) if snapshot else None
    sink = StdoutSink() if dry_run else _open_sink(settings)
    try:
        summary = run_ingest(parser, paths, sink, limit=limit, observed_at=observed_at, on_reject=reporter, progress=not quiet,
                             snapshot=snapshot, ledger=ledger)
    except BrokenPipeError:  # `--dry-run | head`: the reader has all it wanted
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(0)
    except StateDirError as exc:
        raise click.ClickException(str(exc)) from None
    except Exception as exc:
        if os.environ.get("CHAINRISK_DEBUG"):
            raise
        raise click.ClickException(f"ingest stopped: {type(exc).__name__}: {exc} (set CHAINRISK_DEBUG=1 for the traceback)") from None
    finally:
        close_quietly_on_error(sink, reporter)
    for warning in ledger.warnings if ledger else []:
        click.echo(warning, err=True)
    if not quiet:
        for line in format_summary(name, summary, reporter.path if reporter.count else None):
            click.echo(line, err=dry_run)
    if summary.files_failed:
        click.echo(f"error: {len(summary.files_failed)} of {len(paths)} file(s) could not be ingested", err=True)
        sys.exit(EXIT_FILE_FAILED)
    if strict and summary.rejects:
        click.echo(f"error: --strict and {summary.rejects} rows were rejected", err=True)
        sys.exit(EXIT_STRICT_REJECTS)
    if strict and summary.files_without_events:
        click.echo(f"error: --strict and nothing was ingested from {', '.join(summary.files_without_events)}", err=True)
        sys.exit(EXIT_STRICT_REJECTS)


def common_params() -> list[click.Parameter]:
    """The arguments and options every ingest command takes."""
    return [
        # no existence/readability checks here: a missing or unreadable file is reported by the run
        # (exit 1) and the other files are still ingested, instead of a usage error before any of them
        click.Argument(["paths"], nargs=-1, required=True, type=click.Path(readable=False, path_type=Path)),
        click.Option(["--dry-run"], is_flag=True, help="Print the events as JSON lines on stdout instead of publishing them."),
        click.Option(["--limit"], type=click.IntRange(min=1), default=None, metavar="N", help="Stop after N events."),
        click.Option(["--quiet", "-q"], is_flag=True, help="No progress bar and no summary (rejects are still reported)."),
        click.Option(["--strict"], is_flag=True, help=f"Exit with status {EXIT_STRICT_REJECTS} if any row was rejected or a file gave no event."),
        click.Option(
            ["--rejects"], type=click.Path(dir_okay=False, path_type=Path), default=None, metavar="FILE",
            help="Write rejected rows here (JSON Lines). Default: <state_dir>/rejects/<source>-<UTC time>.jsonl, created only if something is rejected.",
        ),
        click.Option(["--observed-at"], default=None, metavar="DATE", help="The data's date (ISO 8601), overriding the date the files state."),
        click.Option(["--backend"], type=click.Choice(["embedded", "services"]), default=None,
                     help="Publish to the embedded log or to Kafka (default: configuration)."),
        click.Option(["--state-dir"], type=click.Path(file_okay=False, path_type=Path), default=None, help="The state folder (default: configuration)."),
    ]


def build_command(name: str, module: ModuleType) -> click.Command:
    """The click command for one worker module."""
    extra = list(getattr(module, "EXTRA_OPTIONS", []))
    declared = getattr(module, "SNAPSHOT", False)
    if declared:
        extra.append(click.Option(
            ["--no-snapshot"], is_flag=True,
            help="Ingest the files as plain assertions (a filtered or partial extract): nothing they lack is retracted."))
    if callable(declared):
        extra.append(click.Option(
            ["--snapshot"], is_flag=True,
            help="Read every file as a full dump, whatever its name (by default only files named like a dump are): "
                 "what a newer dump lacks is retracted."))

    def callback(**options: Any) -> None:
        run_worker(name, module, options)

    return click.Command(
        name,
        params=common_params() + extra,
        callback=callback,
        help=f"{module.DESCRIPTION}\n\nPATHS may be plain, gzip or bzip2 files.",
        short_help=module.DESCRIPTION.split(": ")[0],
    )


class IngestGroup(click.Group):
    """Subcommands from :data:`WORKERS`, each module imported when needed."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(WORKERS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        module_name = WORKERS.get(name)
        if module_name is None:
            return None
        return build_command(name, importlib.import_module(module_name))


@click.group(cls=IngestGroup)
def ingest() -> None:
    """Read source files and publish holder, upstream, broker and lessee facts (and routing and
    reputation facts) as events. Bad rows are rejected with file:line and a reason; the rest is kept."""
