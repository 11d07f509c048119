"""What every ingest worker shares: opening (possibly compressed) files, rejects, the run loop.

A worker is a module with ``SOURCE`` (dataset name), ``DESCRIPTION`` and a generator function
``parse(src: SourceFile, ctx: ParseContext) -> Iterator[Event | Reject | Skip]``. It yields events for good
records and :class:`Reject` for bad ones, and never raises for bad input: a malformed record is a
``Reject`` naming file, line (or offset) and reason, and parsing goes on. Only an unreadable file or
an unknown format ends a file early, with :class:`SourceError`. A record that is fine but out of
scope (IPv6, an AS number row) is yielded as a :class:`Skip`, counted in the summary, not rejected.
"""
from __future__ import annotations

import bz2
import codecs
import gzip
import io
import json
import re
import sys
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from chainrisk.common.timestamps import as_utc
from chainrisk.ingest.events import Event, SnapshotEnd, utc_now
from chainrisk.ingest.snapshots import SNAPSHOT_TYPES, scope_label, scope_of, snapshot_id

if TYPE_CHECKING:
    from rich.progress import TaskID

# what SourceFile reads through: each of them peeks without consuming
Decompressed = gzip.GzipFile | bz2.BZ2File | io.BufferedReader

MAX_RAW_IN_REJECT = 300
# what a corrupt or truncated file raises while being read (zlib.error: a broken deflate stream)
READ_ERRORS: tuple[type[BaseException], ...] = (OSError, EOFError, ValueError, zlib.error)


class SourceError(Exception):
    """The file cannot be read at all (missing, unreadable, broken compression, unknown format)."""


# Byte-order marks of encodings other than UTF-8: such a file is refused by name rather than read
# as mojibake (UTF-32 first: its little-endian mark starts with UTF-16's).
_FOREIGN_BOMS = ((codecs.BOM_UTF32_LE, "UTF-32LE"), (codecs.BOM_UTF32_BE, "UTF-32BE"), (codecs.BOM_UTF16_LE, "UTF-16LE"), (codecs.BOM_UTF16_BE, "UTF-16BE"))
LATIN1 = "latin-1"


def _latin1_fallback(error: UnicodeError) -> tuple[str, int]:
    """Decode the bytes that are not UTF-8 as Latin-1 (each byte one character), keep going."""
    assert isinstance(error, UnicodeDecodeError)
    return error.object[error.start:error.end].decode(LATIN1), error.end


codecs.register_error("chainrisk-latin1", _latin1_fallback)


def text_encoding_problem(head: bytes) -> str | None:
    """Why the first bytes of a (decompressed) file are not UTF-8 text the workers can read: a
    UTF-16/UTF-32 byte-order mark, or UTF-16 without one (every other byte NUL). None when fine."""
    for bom, name in _FOREIGN_BOMS:
        if head.startswith(bom):
            return f"the file is {name} (byte-order mark {bom.hex(' ').upper()}); save it as UTF-8"
    sample = head[:64]
    if len(sample) >= 8:
        even, odd = sample[0::2], sample[1::2]
        if odd.count(0) == len(odd) and even.count(0) == 0:
            return "the file looks like UTF-16LE without a byte-order mark (every other byte is NUL); save it as UTF-8"
        if even.count(0) == len(even) and odd.count(0) == 0:
            return "the file looks like UTF-16BE without a byte-order mark (every other byte is NUL); save it as UTF-8"
    return None


def bad_text(text: str) -> str | None:
    """The reject reason when ``text`` (a record, a name, an id) holds a NUL byte or bytes that
    were not valid UTF-8 (decoded as U+FFFD), else None. Such characters would otherwise pass into
    party names and registry ids, where one corrupted copy of a name looks like a new party."""
    if "\x00" in text:
        return f"NUL byte: the record holds a NUL character at column {text.index(chr(0)) + 1}"
    if "\ufffd" in text:
        return f"undecodable bytes: the record is not valid UTF-8 at column {text.index(chr(0xFFFD)) + 1}"
    return None


@dataclass(frozen=True)
class Reject:
    file: str
    line: int | None
    reason: str
    raw: str = ""
    offset: int | None = None

    def where(self) -> str:
        if self.line is not None:
            return f"{self.file}:{self.line}"
        if self.offset is not None:
            return f"{self.file}@{self.offset}"
        return self.file

    def to_json(self) -> str:
        return json.dumps(
            {"file": self.file, "line": self.line, "offset": self.offset, "reason": self.reason, "raw": self.raw[:MAX_RAW_IN_REJECT]},
            ensure_ascii=False,
        )


@dataclass(frozen=True)
class Skip:
    """A record a worker deliberately does not ingest because it is out of scope (an IPv6 VRP, an ASN
    row of delegated stats, an unrouted range): not an error, only counted in the summary per reason.
    Workers yield shared module-level instances, so skipping costs no allocation."""

    reason: str


@dataclass(frozen=True)
class ScopeSeen:
    """A parser's word that the file speaks for a snapshot scope (ingest/snapshots.py) even where it
    holds no fact of it: an rpki-client export that lists no non-functional CA under a trust anchor
    says that trust anchor has none. A complete file then ends that scope's snapshot with 0 events,
    so what an older snapshot of it held is retracted. Ignored when the file is not a snapshot."""

    fact_type: str
    scope: str
    source: str
    observed_at: datetime


@dataclass(frozen=True)
class ParseContext:
    reference: str  # how provenance names the file (the path as given)
    ingested_at: datetime
    observed_at: datetime | None = None  # operator override of the data's own date
    snapshot: bool = False  # the file is read as a full snapshot (ingest/snapshots.py)


class EventSink(Protocol):
    """Where a worker's events go: Kafka, the embedded log, or stdout for --dry-run."""

    def publish(self, event: Event) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


class SourceFile:
    """A file opened for parsing: gzip and bzip2 are detected by their magic bytes, not the name.

    ``position()`` is how far into the file (compressed bytes) reading has got, for progress bars.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._raw = open(path, "rb")  # noqa: SIM115 - closed in close()
        except OSError as exc:
            raise SourceError(f"{path}: cannot open: {exc.strerror or exc}") from None
        magic = self._raw.read(3)
        self._raw.seek(0)
        self.compression = "gzip" if magic[:2] == b"\x1f\x8b" else "bzip2" if magic == b"BZh" else None
        if self.compression == "gzip":
            self._stream: Decompressed = gzip.GzipFile(fileobj=self._raw)
        elif self.compression == "bzip2":
            self._stream = bz2.BZ2File(self._raw)
        else:
            self._stream = self._raw

    @property
    def size(self) -> int:
        return self.path.stat().st_size

    def position(self) -> int:
        try:
            return self._raw.tell()
        except (OSError, ValueError):
            return 0

    def binary(self) -> Decompressed:
        return self._stream

    def _text(self, fallback: str | None = None, newline: str | None = None) -> io.TextIOWrapper:
        """The stream decoded as UTF-8, a leading byte-order mark dropped. Undecodable bytes become
        U+FFFD (so one bad byte rejects one record, see :func:`bad_text`), or with ``fallback=LATIN1``
        are read as Latin-1. Raises :class:`SourceError` for UTF-16/UTF-32 text."""
        self._check_encoding()
        errors = "chainrisk-latin1" if fallback == LATIN1 else "replace"
        return io.TextIOWrapper(self._stream, encoding="utf-8-sig", errors=errors, newline=newline)

    def _check_encoding(self) -> None:
        try:
            head = self._stream.peek(64)[:64]
        except READ_ERRORS as exc:
            raise SourceError(f"{self.path}: broken {self.compression or 'file'}: {exc}") from None
        problem = text_encoding_problem(head)
        if problem:
            raise SourceError(f"{self.path}: unknown format: {problem}")

    def lines(self, fallback: str | None = None) -> Iterator[tuple[int, str]]:
        """(1-based line number, text without the newline), decoded as :meth:`_text` says."""
        text = self._text(fallback, newline="")
        number = 0
        try:
            for number, line in enumerate(text, start=1):
                yield number, line.rstrip("\r\n")
        except READ_ERRORS as exc:
            raise SourceError(f"{self.path}: broken {self.compression or 'file'} after line {number}: {exc}") from None
        finally:
            _detach_quietly(text)

    def text_chunks(self, size: int = 1 << 16) -> Iterator[str]:
        """The decoded text in pieces of about ``size`` characters (newlines normalised to ``\\n``),
        for parsers that scan structure rather than lines, such as a streamed JSON document."""
        text = self._text()
        try:
            while chunk := text.read(size):
                yield chunk
        except READ_ERRORS as exc:
            raise SourceError(f"{self.path}: broken {self.compression or 'file'} near byte {self.position()}: {exc}") from None
        finally:
            _detach_quietly(text)

    def read_all(self) -> bytes:
        """Every (decompressed) byte; raises :class:`SourceError` for broken compression or UTF-16/32 text."""
        self._check_encoding()
        try:
            return self._stream.read()
        except READ_ERRORS as exc:
            raise SourceError(f"{self.path}: broken {self.compression or 'file'}: {exc}") from None

    def check_complete(self) -> None:
        """Decompress a gzip or bzip2 file to its end once (in a separate reader) so a truncated or
        corrupt stream is found before anything from it is published; raises :class:`SourceError`
        naming the break. Plain files are not read (they have no checksum to check)."""
        if self.compression is None:
            return
        with SourceFile(self.path) as again:
            read = 0
            try:
                while chunk := again._stream.read(1 << 20):
                    read += len(chunk)
            except READ_ERRORS as exc:
                raise SourceError(f"{self.path}: broken {self.compression} after {read:,} bytes of content: {exc}") from None

    def close(self) -> None:
        self._raw.close()

    def __enter__(self) -> SourceFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _detach_quietly(text: io.TextIOWrapper) -> None:
    """Release the byte stream from a text wrapper. A parser that stopped early leaves its generator
    suspended; it may be closed only after the file, when detaching (which flushes) cannot work."""
    try:
        text.detach()
    except ValueError:
        pass


Parser = Callable[[SourceFile, ParseContext], Iterator["Event | Reject | Skip | ScopeSeen"]]
_NOT_EVENTS = (Reject, Skip, ScopeSeen)  # what a parser yields besides events


@dataclass
class SnapshotReport:
    """One scope's snapshot in one file: its id, date, how many events it published, and whether its
    snapshot_end was published (``incomplete``: why not, e.g. the file was not read to its end)."""

    reference: str
    fact_type: str
    scope: str
    snapshot: str
    source: str
    observed_at: datetime
    events: int = 0
    incomplete: str | None = None

    @property
    def label(self) -> str:
        return scope_label(self.fact_type, self.scope)

    def describe(self) -> str:
        when = self.observed_at.strftime("%Y-%m-%dT%H:%MZ")
        if self.incomplete:
            return f"snapshot {self.label} of {when} in {self.reference}: snapshot incomplete ({self.incomplete}): nothing retracted"
        return (f"snapshot {self.label} of {when} in {self.reference}: {self.events:,} events, complete; the consumer "
                f"retracts what the scope's previous snapshot held and this one lacks")


@dataclass
class IngestSummary:
    events_by_type: Counter[str] = field(default_factory=Counter)
    rejects_by_reason: Counter[str] = field(default_factory=Counter)
    skipped_by_reason: Counter[str] = field(default_factory=Counter)  # out-of-scope records (see Skip)
    files_failed: list[str] = field(default_factory=list)
    files_without_events: list[str] = field(default_factory=list)  # read to the end, but nothing ingested (--strict fails on these)
    files_read: int = 0
    seconds: float = 0.0
    snapshots: list[SnapshotReport] = field(default_factory=list)

    @property
    def events(self) -> int:
        return sum(self.events_by_type.values())

    @property
    def rejects(self) -> int:
        return sum(self.rejects_by_reason.values())

    @property
    def skipped(self) -> int:
        return sum(self.skipped_by_reason.values())


def reason_class(reason: str) -> str:
    """The kind of a reject reason, for the summary: the text before the first colon."""
    return reason.split(":", 1)[0].strip()


_DATE_IN_NAME = re.compile(r"(?<!\d)((?:19|20)\d\d)(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])(?!\d)")


def date_in_file_name(path: Path) -> datetime | None:
    """Midnight UTC of the first ``YYYYMMDD`` date in the file name
    (``routeviews-rv2-20240406.pfx2as.gz`` -> 2024-04-06), or None when the name has none.
    Raises :class:`SourceError` when it is not a calendar date (``leases-20260230.csv``): the
    file's mtime would otherwise date its data without a word."""
    match = _DATE_IN_NAME.search(path.name)
    if match is None:
        return None
    year, month, day = (int(part) for part in match.groups())
    try:
        return datetime(year, month, day, tzinfo=timezone.utc)
    except ValueError:  # 20230231
        raise SourceError(f"{path}: impossible date in the file name: {match.group(0)} is not a calendar date "
                          "(rename the file or give the date with --observed-at)") from None


def file_observed_at(path: Path) -> datetime:
    """The data's date when the content gives none: a date in the file name, else the file's
    modification time (UTC, whole seconds)."""
    named = date_in_file_name(path)
    if named is not None:
        return named
    return datetime.fromtimestamp(int(path.stat().st_mtime), tz=timezone.utc)


def observed_at_for(ctx: ParseContext, from_content: datetime | None, path: Path) -> datetime:
    """The ``observed_at`` to stamp on a file's events: the operator's override, else the date the
    content states (header, metadata), else :func:`file_observed_at`."""
    if ctx.observed_at is not None:
        return ctx.observed_at
    if from_content is not None:
        return as_utc(from_content)
    return file_observed_at(path)


def record_observed_at(ctx: ParseContext, record_date: datetime | None, path: Path) -> datetime:
    """The ``observed_at`` of a registry record that carries its own date (last modified, created):
    that date, except in a full snapshot (a registry dump), where every record is observed at the
    dump's date (:func:`observed_at_for` without a content date), so each dump re-observes all it holds."""
    return observed_at_for(ctx, None if ctx.snapshot else record_date, path)


def run_ingest(
    parse: Parser,
    paths: list[Path],
    sink: EventSink,
    *,
    limit: int | None = None,
    observed_at: datetime | None = None,
    on_reject: Callable[[Reject], None] | None = None,
    progress: bool = False,
    snapshot: bool | Callable[[Path], bool] = False,
) -> IngestSummary:
    """Parse every file, publish good events to ``sink``, report rejects; flush at the end.

    ``limit`` stops after that many events in total. A file that cannot be read is recorded in
    ``files_failed`` and the other files are still ingested; so is a file in which nothing was
    recognised (every record rejected, none skipped as out of scope). A file read to the end that
    gave no event is also listed in ``files_without_events``.

    ``snapshot`` (or, called with a path, True): the file is a full snapshot (ingest/snapshots.py).
    Its fact events carry a snapshot id per scope, and once the file was read to its end with no
    reject and no ``limit`` cut, one ``snapshot_end`` per scope follows, after its events were
    flushed; otherwise none is published and the consumer retracts nothing. ``summary.snapshots``
    says which.
    """
    import time
    import uuid

    summary = IngestSummary()
    run = uuid.uuid4().hex
    started = time.monotonic()
    ingested_at = utc_now()
    bar = _Progress(enabled=progress)
    publish, events_by_type = sink.publish, summary.events_by_type
    try:
        for path in paths:
            if limit is not None and summary.events >= limit:
                break
            scopes: dict[tuple[str, str], SnapshotReport] | None = {} if (snapshot(path) if callable(snapshot) else snapshot) else None
            ctx = ParseContext(reference=str(path), ingested_at=ingested_at, observed_at=observed_at and as_utc(observed_at),
                               snapshot=scopes is not None)
            rejected = 0
            read_to_end = False
            before = (summary.events, summary.rejects, summary.skipped)
            try:
                if ctx.observed_at is None:
                    date_in_file_name(path)  # an impossible date there fails the file before anything of it is published
                with SourceFile(path) as src:
                    task = bar.start(path.name, src.size)
                    for n, item in enumerate(parse(src, ctx)):
                        if not isinstance(item, _NOT_EVENTS):  # an event: most items, so tested first
                            if scopes is not None and item.type in SNAPSHOT_TYPES:
                                item = _tag(item, scopes, run, ingested_at)
                            publish(item)
                            events_by_type[item.type] += 1
                            if limit is not None and summary.events >= limit:
                                break
                        elif isinstance(item, Reject):
                            rejected += 1
                            summary.rejects_by_reason[reason_class(item.reason)] += 1
                            if on_reject:
                                on_reject(item)
                        elif isinstance(item, Skip):
                            summary.skipped_by_reason[item.reason] += 1
                        elif scopes is not None:  # a ScopeSeen: the file speaks for a scope
                            _scope_report(scopes, run, str(path), item.fact_type, item.scope, item.source, item.observed_at)
                        if n % 2048 == 0:
                            bar.update(task, src.position())
                    else:
                        read_to_end = True
                    bar.update(task, src.size)
                _check_recognised(path, summary, before)
                summary.files_read += 1
            except SourceError as exc:
                summary.files_failed.append(str(exc))
                print(f"error: {exc}", file=sys.stderr)
                _close_snapshots(scopes, summary, "the file could not be read to its end")
                continue
            except KeyboardInterrupt:
                _close_snapshots(scopes, summary, "the ingest was interrupted")
                for report in summary.snapshots:
                    print(report.describe(), file=sys.stderr)
                raise
            if scopes:
                if not read_to_end:
                    _close_snapshots(scopes, summary, f"--limit {limit} stopped the file before its end")
                elif rejected:
                    _close_snapshots(scopes, summary, f"{rejected} row(s) rejected")
                else:
                    sink.flush()  # every event of the snapshots before their ends (the consumer does not rely on it)
                    for report in scopes.values():
                        sink.publish(SnapshotEnd(
                            snapshot=report.snapshot, fact_type=report.fact_type, scope=report.scope, events=report.events,
                            provenance=_snapshot_provenance(report, ingested_at)).with_id())
                    _close_snapshots(scopes, summary, None)
        sink.flush()
    finally:
        bar.stop()
        summary.seconds = time.monotonic() - started
    return summary


def _tag(item: Event, scopes: dict[tuple[str, str], SnapshotReport], run: str, ingested_at: datetime) -> Event:
    """``item`` with the id of its scope's snapshot in its provenance (the scope's tally counts it)."""
    prov = item.provenance
    report = _scope_report(scopes, run, prov.reference, item.type, scope_of(item) or "", prov.source, prov.observed_at)
    report.events += 1
    if prov.observed_at > report.observed_at:
        report.observed_at = prov.observed_at
    return item.model_copy(update={"provenance": prov.model_copy(update={"snapshot": report.snapshot})})


def _scope_report(scopes: dict[tuple[str, str], SnapshotReport], run: str, reference: str, fact_type: str, scope: str,
                  source: str, observed_at: datetime) -> SnapshotReport:
    """The file's snapshot of one scope (made on first sight)."""
    report = scopes.get((fact_type, scope))
    if report is None:
        report = scopes[(fact_type, scope)] = SnapshotReport(
            reference, fact_type, scope, snapshot_id(run, reference, fact_type, scope), source, observed_at)
    return report


def _snapshot_provenance(report: SnapshotReport, ingested_at: datetime) -> Any:
    from chainrisk.ingest.events import Provenance

    return Provenance(source=report.source, reference=report.reference, observed_at=report.observed_at, ingested_at=ingested_at,
                      snapshot=report.snapshot)


def _close_snapshots(scopes: dict[tuple[str, str], SnapshotReport] | None, summary: IngestSummary, incomplete: str | None) -> None:
    for report in (scopes or {}).values():
        report.incomplete = incomplete
        summary.snapshots.append(report)
    if scopes:
        scopes.clear()


def _check_recognised(path: Path, summary: IngestSummary, before: tuple[int, int, int]) -> None:
    """After a file: note it when it gave no event, and raise :class:`SourceError` when nothing in it
    was recognised (only rejects): random bytes or another dataset's file, not a bad row or two."""
    events, rejects, skipped = (summary.events - before[0], summary.rejects - before[1], summary.skipped - before[2])
    if events:
        return
    summary.files_without_events.append(str(path))
    if rejects and not skipped:
        raise SourceError(f"{path}: nothing recognised: all {rejects:,} record(s) were rejected; is this the right worker for the file?")


class _Progress:
    """A rich progress bar with rate, only on a terminal and when asked for."""

    def __init__(self, enabled: bool) -> None:
        self._bar = None
        if enabled and sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

            self._bar = Progress(
                TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn(),
                transient=True,
                console=Console(stderr=True),  # stdout may carry --dry-run events
            )
            self._bar.start()

    def start(self, name: str, total: int) -> TaskID | None:
        return self._bar.add_task(name, total=total) if self._bar else None

    def update(self, task: TaskID | None, completed: int) -> None:
        if self._bar is not None and task is not None:
            self._bar.update(task, completed=completed)

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
