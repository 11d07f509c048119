"""The graph consumer: one loop for both transports (Kafka or the embedded log).

Per batch: read up to ``batch_size`` records; decode each (an undecodable or invalid one goes to the
dead-letter topic with reason, topic, partition, offset and the raw value); apply the events and the
batch's next offsets in ONE store transaction; then commit the offsets to Kafka (informational: the
store's offsets are the truth, and the consumer seeks to them whenever it is assigned partitions).
So a crash anywhere - before the write, between write and Kafka commit, during a rebalance - re-reads
at most what the store has not recorded, and re-applying an already applied event is a duplicate
(same event id) that changes nothing: exactly-once effect. The batch's changes reach the
``on_changes`` hook (the alerts) through a pending-changes record written in the same transaction
and dropped after the hook, so a crash in between cannot lose them. See docs/consumer.md.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from chainrisk.graph.config import Settings
from chainrisk.graph.eventlog.sources import DeadLetters, RawRecord, RecordSource
from chainrisk.graph.stores.protocol import BatchResult, FactChange, GraphStore, OffsetConflict, PendingChanges, TopicPartition
from chainrisk.ingest.events import Event, EventDecodeError, decode_event

if TYPE_CHECKING:
    from chainrisk.graph.continuous import ContinuousAnalysis
    from chainrisk.graph.metrics import ConsumerMetrics

log = logging.getLogger("chainrisk.consumer")
T = TypeVar("T")


class ConsumerStalled(Exception):
    """``--until-idle``: the graph stayed behind the topics' ends, with nothing arriving for this
    consumer, for longer than ``wait_timeout_s``; the message says what it was waiting for."""


class ConsumerUnavailable(Exception):
    """Neo4j or Kafka stayed unavailable through every retry; nothing past the last applied batch was committed."""


@dataclass
class DecodedBatch:
    events: list[Event]
    dead: list[tuple[RawRecord, str]]
    start_offsets: dict[TopicPartition, int]
    next_offsets: dict[TopicPartition, int]
    records: int = 0
    prepared: Any = None  # the store's prepare_batch(events), made on the decode thread


def decode_batch(records: list[RawRecord]) -> DecodedBatch:
    """Decode records in order; the undecodable ones with their reason; where the batch starts and
    the next offset to read, per partition. An event without an id gets its deterministic one."""
    batch = DecodedBatch([], [], {}, {}, len(records))
    for record in records:
        tp = (record.topic, record.partition)
        batch.start_offsets.setdefault(tp, record.offset)
        batch.next_offsets[tp] = record.offset + 1
        if not record.value:
            batch.dead.append((record, "empty message: no value"))
            continue
        try:
            event = decode_event(record.value)
        except EventDecodeError as exc:
            batch.dead.append((record, str(exc)))
            continue
        except Exception as exc:  # noqa: BLE001 - one odd message must not stop the consumer for good
            batch.dead.append((record, f"undecodable: {type(exc).__name__}: {exc}"))
            continue
        batch.events.append(event if event.event_id else event.with_id())
    return batch


def decode_and_prepare(records: list[RawRecord], store: GraphStore) -> DecodedBatch:
    """:func:`decode_batch`, then the store's event-only preparation of the events (outside any
    transaction: on the decode thread this overlaps the previous batch's write)."""
    batch = decode_batch(records)
    batch.prepared = store.prepare_batch(batch.events)
    return batch


@dataclass
class ConsumerOptions:
    group: str
    batch_size: int = 2000
    until_idle: bool = False
    poll_timeout_s: float = 1.0
    batch_wait_s: float = 0.2  # how long to keep filling a batch that is not full (not one that starts with a lone record: _fill_batch)
    metrics_interval_s: float = 10.0
    max_attempts: int = 6  # per batch, for Neo4j / Kafka unavailable
    backoff_s: float = 1.0
    backoff_max_s: float = 30.0
    monitor: ConsumerMetrics | None = None  # Prometheus metrics and readiness (graph/metrics.py), updated once per batch
    # until_idle: how long the graph may stay behind the topics' ends with nothing arriving for this
    # consumer (no partitions yet, or the rest held by other members) before it gives up
    wait_timeout_s: float = 120.0
    wait_log_interval_s: float = 10.0


@dataclass
class ConsumerStats:
    records: int = 0
    applied: int = 0
    stale: int = 0
    duplicate: int = 0
    retracted: int = 0
    unchanged: int = 0  # of applied: re-stated as stored, only the version moved
    dead_lettered: int = 0
    batches: int = 0
    conflicts: int = 0
    pending_handed_over: int = 0  # batches whose changes a crash kept from the hook, handed over at start
    seconds: float = 0.0
    batch_seconds: list[float] = field(default_factory=list)

    def add(self, result: BatchResult, records: int, dead: int) -> None:
        self.records += records
        self.applied += result.applied
        self.stale += result.stale
        self.duplicate += result.duplicate
        self.retracted += result.retracted
        self.unchanged += result.unchanged
        self.dead_lettered += dead
        self.batches += 1
        self.batch_seconds.append(result.seconds)

    def fields(self) -> dict[str, int | float]:
        """The totals as structured log fields (common/logs.py)."""
        return {"records": self.records, "applied": self.applied, "retracted": self.retracted, "stale": self.stale,
                "duplicate": self.duplicate, "dead_lettered": self.dead_lettered, "batches": self.batches}

    def summary(self) -> str:
        rate = self.records / self.seconds if self.seconds > 0 else 0.0
        return (f"{self.records} records in {self.seconds:.1f} s ({rate:.0f}/s), {self.batches} batches: "
                f"applied {self.applied} ({self.unchanged} unchanged), retracted {self.retracted}, stale {self.stale}, duplicate {self.duplicate}, "
                f"dead-lettered {self.dead_lettered}")


def retryable_errors() -> tuple[type[BaseException], ...]:
    """Errors meaning "the server is not there right now" (worth a retry), for Neo4j and Kafka."""
    from kafka import errors as kafka_errors
    from neo4j import exceptions as neo4j_errors

    return (
        OSError, ConnectionError, TimeoutError,
        neo4j_errors.ServiceUnavailable, neo4j_errors.SessionExpired, neo4j_errors.TransientError,
        neo4j_errors.DatabaseUnavailable,
        kafka_errors.KafkaConnectionError, kafka_errors.KafkaTimeoutError, kafka_errors.RequestTimedOutError,
        *(getattr(kafka_errors, name) for name in ("NoBrokersAvailable",) if hasattr(kafka_errors, name)),
    )


# OSErrors about local files (the state folder): permanent, so not retried
LOCAL_FILE_ERRORS = (PermissionError, FileNotFoundError, IsADirectoryError, NotADirectoryError, FileExistsError)


def with_retries(action: Callable[[], T], what: str, options: ConsumerOptions, sleep: Callable[[float], None] = time.sleep) -> T:
    """``action()``, retried with exponential backoff while ``what`` is unavailable; after
    ``options.max_attempts`` failures raises :class:`ConsumerUnavailable`."""
    delay = options.backoff_s
    retryable = retryable_errors()
    monitor = options.monitor
    failed = what
    for attempt in range(1, options.max_attempts + 1):
        try:
            result = action()
            if attempt > 1 and monitor is not None:
                monitor.recovered(failed)
            return result
        except retryable as exc:
            if isinstance(exc, LOCAL_FILE_ERRORS):
                raise  # a file of this machine, not a server that is away: waiting does not help
            # a Kafka poll calls the graph store too (seeking to the stored offsets on assignment): name the server that failed
            failed = "graph store" if type(exc).__module__.startswith("neo4j") else what
            if monitor is not None:
                monitor.retrying(failed, exc, attempt, options.max_attempts)
            if attempt == options.max_attempts:
                if monitor is not None:
                    monitor.stopped(f"{failed} unavailable after {attempt} attempts: stopping")
                raise ConsumerUnavailable(
                    f"{failed} unavailable after {attempt} attempts ({type(exc).__name__}: {exc}); "
                    f"no offsets moved past the last applied batch - run `chainrisk consume` again when it is back"
                ) from exc
            log.warning("%s unavailable (%s: %s); attempt %d/%d, retrying in %.0f s; offsets stay at the last applied batch",
                        failed, type(exc).__name__, exc, attempt, options.max_attempts, delay,
                        extra={"what": failed, "attempt": attempt, "attempts": options.max_attempts})
            sleep(delay)
            delay = min(delay * 2, options.backoff_max_s)
    raise AssertionError("unreachable")


class _Metrics:
    """Periodic metrics log lines: events/s, batch latency, lag, dead letters."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self.last = time.monotonic()
        self.records = 0
        self.latencies: list[float] = []

    def batch(self, records: int, seconds: float) -> None:
        self.records += records
        self.latencies.append(seconds)

    def maybe_log(self, source: RecordSource, stats: ConsumerStats) -> None:
        now = time.monotonic()
        if now - self.last < self.interval_s:
            return
        elapsed = now - self.last
        lat = self.latencies or [0.0]
        try:
            lag = source.lag()
        except Exception:  # noqa: BLE001 - a metrics probe must never stop the consumer
            lag = None
        log.info("metrics: %.0f events/s (%d in %.0f s), batch latency avg %.0f ms max %.0f ms, lag %s, dlq %d, "
                 "total %d records: applied %d retracted %d stale %d duplicate %d",
                 self.records / elapsed, self.records, elapsed, 1000 * sum(lat) / len(lat), 1000 * max(lat),
                 "?" if lag is None else lag, stats.dead_lettered, stats.records, stats.applied, stats.retracted,
                 stats.stale, stats.duplicate,
                 extra={**stats.fields(), "events_per_s": round(self.records / elapsed, 1), "lag": lag})
        self.last, self.records, self.latencies = now, 0, []


def _fill_batch(source: RecordSource, options: ConsumerOptions, wait: bool = True) -> list[RawRecord]:
    """Poll until the batch is full, the source is drained, or ``batch_wait_s`` passed. Without
    ``wait`` only what the source already has buffered is taken (no blocking poll). A first poll
    that brings a lone record is not filled: one event after a quiet spell is applied at once (its
    latency is the transaction's, not the wait), while records that come several at a time keep
    being gathered into large batches."""
    records = source.poll(options.batch_size, options.poll_timeout_s if wait else 0.0)
    deadline = time.monotonic() + (options.batch_wait_s if wait and len(records) > 1 else 0.0)
    while records and len(records) < options.batch_size and time.monotonic() < deadline:
        more = source.poll(options.batch_size - len(records), max(0.0, deadline - time.monotonic()))
        if not more:
            break
        records.extend(more)
    return records


class _Waiting:
    """Idle polls while the graph is behind: a log line now and then saying what the consumer waits
    for, and with ``until_idle`` :class:`ConsumerStalled` once nothing moved for ``wait_timeout_s``
    (the graph's own offsets count as movement: other members of the group may be applying)."""

    def __init__(self, options: ConsumerOptions) -> None:
        self.options = options
        self.since: float | None = None
        self.behind: int | None = None
        self.logged = 0.0
        self.checked = 0.0

    def progress(self) -> None:
        self.since = self.behind = None

    def due(self) -> bool:
        """Whether to look at how far behind the graph is now: on every idle poll with
        ``until_idle``; otherwise at most once per ``wait_log_interval_s`` (it reads the log's or
        Kafka's end offsets)."""
        now = time.monotonic()
        if self.options.until_idle or now - self.checked >= self.options.wait_log_interval_s:
            self.checked = now
            return True
        return False

    def idle(self, source: RecordSource, behind: int) -> None:
        now = time.monotonic()
        if behind == 0:
            self.progress()
            return
        if self.since is None or behind != self.behind:
            self.since, self.behind = now, behind
        waited = now - self.since
        if self.options.until_idle and waited >= self.options.wait_timeout_s:
            raise ConsumerStalled(f"the graph is {behind:,} record(s) behind the topics' ends and nothing arrived for "
                                  f"{waited:.0f} s: {source.waiting_for()}; run `chainrisk consume` again (or raise "
                                  f"--wait-timeout)")
        if waited >= self.options.wait_log_interval_s and now - self.logged >= self.options.wait_log_interval_s:
            self.logged = now
            log.info("waiting %.0f s: %s; the graph is %d record(s) behind%s", waited, source.waiting_for(), behind,
                     f" (giving up after {self.options.wait_timeout_s:.0f} s)" if self.options.until_idle else "")


def hand_over_pending(store: GraphStore, group: str, on_changes: Callable[[list[FactChange]], None] | None,
                      options: ConsumerOptions, analysis: ContinuousAnalysis | None = None) -> int:
    """Hand each pending-changes record of ``group`` (a batch applied whose hooks never finished: a
    crash, or a hook that failed) to the continuous analysis (its applied facts) and to
    ``on_changes`` (its changes), oldest first, and drop it once both returned. Returns how many
    there were."""
    pending: list[PendingChanges] = with_retries(lambda: store.pending_changes(group), "graph store", options)
    for record in pending:
        log.info("handing over the %d change(s) and %d applied fact(s) of batch %s, applied before the last stop but not "
                 "yet handed to the hooks", len(record.changes), len(record.applied_facts), record.batch_id,
                 extra={"batch_id": record.batch_id, "changes": len(record.changes)})
        if analysis is not None and record.applied_facts:
            with_retries(lambda: analysis.after_batch(record.applied_facts), "graph store", options)  # noqa: B023 - called right here
        if on_changes is not None and record.changes:
            with_retries(lambda: on_changes(record.changes), "alert store", options)  # noqa: B023 - called right here
        with_retries(lambda: store.drop_pending_changes(group, record.batch_id), "graph store", options)  # noqa: B023
    return len(pending)


def run_consumer(
    store: GraphStore,
    source: RecordSource,
    dead_letters: DeadLetters,
    options: ConsumerOptions,
    on_changes: Callable[[list[FactChange]], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    analysis: ContinuousAnalysis | None = None,
) -> ConsumerStats:
    """Consume until ``should_stop()`` (or, with ``until_idle``, until the source is caught up).

    While a batch is being written, the next one (what the source has buffered) is decoded and
    prepared (``store.prepare_batch``) on a worker thread: the write mostly waits for Neo4j, so
    that work costs no wall time. A batch whose
    write failed with OffsetConflict throws the prefetched one away (the source re-seeks).

    With an ``on_changes`` hook each batch's changes are also stored as a pending-changes record in
    the batch's transaction, dropped once the hook returned; records left by an earlier run are
    handed to the hook first. So the hook sees every batch's changes at least once, even across a
    crash between the commit and the hook (the alerts engine is idempotent: exactly-once effect).

    With ``analysis`` (continuous analysis, graph/continuous.py) each batch's applied facts are
    kept in the same record and re-analysed before the hook runs, so a crash between the fact
    write and the result write is repaired by the hand-over at the next start; and on every pass
    of the loop the analysis is asked whether the date moved (``ContinuousAnalysis.tick``)."""
    stats = ConsumerStats()
    metrics = _Metrics(options.metrics_interval_s)
    monitor = options.monitor
    started = time.monotonic()
    keep = on_changes is not None or analysis is not None
    if keep:
        stats.pending_handed_over = hand_over_pending(store, options.group, on_changes, options, analysis)
    if monitor is not None:
        monitor.full_analysis(with_retries(store.last_full_analysis, "graph store", options))
        monitor.running()
    ahead: Future[DecodedBatch] | None = None
    waiting = _Waiting(options)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="chainrisk-decode") as decoder:
        while not should_stop():
            if analysis is not None:
                dated = with_retries(analysis.tick, "graph store", options)
                if monitor is not None and dated is not None:
                    monitor.analysed(dated.at)
            if ahead is None:
                records = with_retries(lambda: _fill_batch(source, options), "Kafka", options)
                if not records:
                    metrics.maybe_log(source, stats)
                    if monitor is not None:
                        monitor.probe(source, store, options.group)
                    if waiting.due():  # until_idle: every idle poll; else only when a waiting line may be due
                        behind = with_retries(source.behind, "Kafka", options)
                        if options.until_idle and behind == 0:
                            break
                        waiting.idle(source, behind)
                    continue
                waiting.progress()
                batch = decode_and_prepare(records, store)
            else:
                batch, ahead = ahead.result(), None
            following = with_retries(lambda: _fill_batch(source, options, wait=False), "Kafka", options)
            if following:
                ahead = decoder.submit(decode_and_prepare, following, store)
            for record, reason in batch.dead:
                log.warning("dead-letter %s[%d]@%d: %s", record.topic, record.partition, record.offset, reason,
                            extra={"topic": record.topic, "partition": record.partition, "offset": record.offset})
                dead_letters.send(record, reason)
            if batch.dead:
                with_retries(dead_letters.flush, "dead-letter topic", options)  # durable before offsets pass them
            try:
                result = with_retries(
                    partial(store.apply_batch, batch.events, batch.next_offsets, options.group, batch.start_offsets,
                            keep_changes=keep, prepared=batch.prepared),
                    "graph store", options)
            except OffsetConflict as conflict:
                stats.conflicts += 1
                if monitor is not None:
                    monitor.conflicts.inc()
                log.warning("%s; re-reading from the stored offsets", conflict)
                ahead = None
                source.seek(with_retries(lambda: store.stored_offsets(options.group), "graph store", options))
                continue
            source.commit(batch.next_offsets)
            for note in result.notes:
                log.info("%s", note)
            stats.add(result, batch.records, len(batch.dead))
            metrics.batch(batch.records, result.seconds)
            if monitor is not None:
                monitor.batch(result, batch)
                monitor.probe(source)
            if analysis is not None and result.applied_facts:
                if monitor is not None:
                    monitor.unanalysed()
                refreshed = with_retries(partial(analysis.after_batch, result.applied_facts), "graph store", options)
                if monitor is not None:
                    monitor.analysed(refreshed.at if refreshed is not None else None)
            if on_changes is not None and result.changes:
                with_retries(partial(on_changes, result.changes), "alert store", options)
            if result.pending_id is not None:
                with_retries(partial(store.drop_pending_changes, options.group, result.pending_id), "graph store", options)
            metrics.maybe_log(source, stats)
    stats.seconds = time.monotonic() - started
    if monitor is not None:
        monitor.probe(source, force=True)
        monitor.stopped("stopped: the consumer loop has ended")
    return stats


# --- wiring ---------------------------------------------------------------------------------------------


def pending_log_events(settings: Settings, store: GraphStore) -> int:
    """On the embedded backend: how many records of the ingest topics the embedded log holds past
    the offsets stored with the graph for ``settings.consumer_group`` (0 on the services backend)."""
    if settings.backend == "services":
        return 0
    from chainrisk.graph.backend import log_dir
    from chainrisk.graph.eventlog.embedded import EventLog
    from chainrisk.ingest.events import INGEST_TOPICS

    stored = store.stored_offsets(settings.consumer_group)
    event_log = EventLog(log_dir(settings))
    try:
        return sum(max(0, event_log.end_offset(topic) - stored.get((topic, 0), 0)) for topic in INGEST_TOPICS)
    finally:
        event_log.close()



def consume(
    settings: Settings,
    *,
    until_idle: bool = False,
    on_changes: Callable[[list[FactChange]], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    options: ConsumerOptions | None = None,
    continuous: bool | None = None,
    clock: Callable[[], datetime] | None = None,
) -> ConsumerStats:
    """Open the store and the transport of ``settings.backend`` (``graph/backend.py``) and run the
    consumer loop; with ``continuous`` (default: ``settings.continuous_analysis``) it keeps the
    analysis results current (graph/continuous.py; ``clock``: what "now" is, for tests)."""
    from chainrisk.graph.backend import open_records, open_store

    options = options or ConsumerOptions(group=settings.consumer_group, batch_size=settings.batch_size, until_idle=until_idle)
    store = open_store(settings)
    try:
        with_retries(store.ensure_schema, "graph store", options)
        source, dead = open_records(settings, store, options.group, options.batch_size,
                                    retry=lambda action, what: with_retries(action, what, options))
        close_alerts = None
        continuous = settings.continuous_analysis if continuous is None else continuous
        engine = None
        monitor = options.monitor
        on_alert = monitor.alert if monitor else None
        if settings.alerts and (on_changes is None or continuous):
            from chainrisk.graph.alerts.engine import alert_engine, changes_hook

            engine, close_alerts = alert_engine(settings, store, on_delivery_failed=monitor.delivery_failed if monitor else None)
            if on_changes is None:
                on_changes = changes_hook(engine, on_alert)
        analysis = None
        if continuous:
            from chainrisk.graph.continuous import ContinuousAnalysis, risk_alert_hook, utc_now

            analysis = ContinuousAnalysis(store, clock=clock or utc_now, recheck_s=settings.analysis_recheck_s,
                                          horizon=timedelta(days=settings.alert_horizon_days),
                                          roa_lapse_horizon=timedelta(hours=settings.roa_lapse_hours),
                                          on_refresh=risk_alert_hook(engine, on_alert) if engine is not None else None)
        try:
            stats = run_consumer(store, source, dead, options, on_changes=on_changes, should_stop=should_stop, analysis=analysis)
        finally:
            if close_alerts is not None:
                close_alerts()
            source.close()
            close_dead = getattr(dead, "close", None)
            if close_dead is not None:
                close_dead()
        log.info("done: %s", stats.summary(), extra={**stats.fields(), "seconds": round(stats.seconds, 3)})
        return stats
    finally:
        store.close()
