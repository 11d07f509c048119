"""The consumer's Prometheus metrics and its health endpoints, served by `chainrisk consume --metrics-port`.

One :class:`ConsumerMetrics` per consumer holds its own ``CollectorRegistry`` (not the process-wide
default, so two consumers in one process - tests - never share counters). The loop updates it once
per batch (graph/consumer.py); a small HTTP server on a daemon thread (:func:`serve`) answers
``/metrics`` (the exposition format of prometheus_client), ``/healthz`` (200 while the process
runs) and ``/readyz`` (200 while the loop runs, no call is being retried, the last probe of the
store answered and partitions are assigned - the embedded log always is; 503 with the reason
otherwise). While idle the loop probes the store and the log every :data:`PROBE_INTERVAL_S`, so a
Neo4j that went away shows in ``/readyz`` without a batch to fail. Labels are bounded: topic names
without the configured prefix, partitions, event types, alert kinds and statuses, delivery targets
and the consumer's own names for what it retries - never a block prefix or a party.
"""
from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from chainrisk.common.timestamps import as_utc
from chainrisk.graph.eventlog.sources import RecordSource
from chainrisk.graph.stores.protocol import BatchResult, GraphStore, TopicPartition
from chainrisk.ingest.events import EVENT_TYPES

if TYPE_CHECKING:
    from chainrisk.graph.consumer import DecodedBatch

# batch apply latency: a batch of 2000 takes ~0.05 s on networkx and ~0.5 s on Neo4j (docs/consumer.md)
BATCH_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# event-to-graph latency: from a worker reading the fact to its batch committed; seconds while following a live
# ingest, hours or days when the log is replayed
EVENT_SECONDS_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 21600.0, 86400.0)
PROBE_INTERVAL_S = 5.0  # at most one probe per 5 s: on Kafka it reads the end offsets from the brokers
OUTCOMES = ("applied", "retracted", "stale", "duplicate")
UNKNOWN_TYPE = "unknown"  # the type label of a dead letter that names no known event type


def logical_topic(name: str) -> str:
    """``chainrisk.relationships`` -> ``relationships``: the label names the topic without the
    configured prefix, so the embedded log and Kafka export the same series."""
    return name.rsplit(".", 1)[-1]


def dead_letter_type(value: bytes | None) -> str:
    """The event type a dead-lettered record claims, when it is one of :data:`EVENT_TYPES` (a label
    value must stay bounded), else :data:`UNKNOWN_TYPE`."""
    try:
        claimed = json.loads(value or b"").get("type")
    except (ValueError, AttributeError):
        return UNKNOWN_TYPE
    return claimed if claimed in EVENT_TYPES else UNKNOWN_TYPE


class ConsumerMetrics:
    """Counters, gauges and the readiness of one consumer."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        by_type = ["topic", "type"]
        self.records = Counter("chainrisk_records_read_total", "Records read from the event log and applied or dead-lettered.", registry=r)
        self.outcomes = {
            "applied": Counter("chainrisk_events_applied_total", "Assert events that took effect on the graph.", by_type, registry=r),
            "retracted": Counter("chainrisk_events_retracted_total", "Retract events that took effect on the graph.", by_type, registry=r),
            "stale": Counter("chainrisk_events_stale_total", "Events older than the stored version (no effect).", by_type, registry=r),
            "duplicate": Counter("chainrisk_events_duplicate_total", "Events already applied, same event id (no effect).", by_type, registry=r),
        }
        self.dead_lettered = Counter("chainrisk_events_dead_lettered_total",
                                     "Undecodable or invalid records sent to the dead-letter topic, by topic and claimed type.",
                                     by_type, registry=r)
        self.batches = Counter("chainrisk_batches_total", "Batches applied in one store transaction each.", registry=r)
        self.conflicts = Counter("chainrisk_offset_conflicts_total", "Batches thrown away because another consumer had moved the stored offsets.",
                                 registry=r)
        self.batch_seconds = Histogram("chainrisk_batch_apply_seconds", "Seconds to apply one batch (the store transaction).",
                                       buckets=BATCH_SECONDS_BUCKETS, registry=r)
        self.event_seconds = Histogram("chainrisk_event_to_graph_seconds",
                                       "Seconds from a worker reading a fact to its batch committed; one observation per batch, its oldest event.",
                                       buckets=EVENT_SECONDS_BUCKETS, registry=r)
        partition = ["topic", "partition"]
        self.lag = Gauge("chainrisk_consumer_lag_records", "Records of an assigned partition not yet read.", partition, registry=r)
        self.stored_offset = Gauge("chainrisk_stored_offset", "The next offset to read, as stored with the graph, per partition.", partition,
                                   registry=r)
        self.assigned = Gauge("chainrisk_consumer_assigned_partitions", "Partitions assigned to this consumer (the embedded log: its topics).",
                              registry=r)
        self.alerts = Counter("chainrisk_alerts_total", "Alerts the engine raised (open), updated or resolved, by kind and status.",
                              ["kind", "status"], registry=r)
        self.delivery_failures = Counter("chainrisk_alert_deliveries_failed_total", "Alert deliveries that failed through every attempt, by target.",
                                         ["target"], registry=r)
        self.retries = Counter("chainrisk_retries_total", "Calls retried because a server was unavailable, by what was called.", ["what"], registry=r)
        self.reconnects = Counter("chainrisk_reconnects_total", "Times a server answered again after failing, by what was called.", ["what"],
                                  registry=r)
        self.ready_gauge = Gauge("chainrisk_consumer_ready", "1 when /readyz answers 200.", registry=r)
        self.last_refresh = Gauge("chainrisk_analysis_last_refresh_timestamp_seconds",
                                  "Unix time the continuous analysis last re-analysed blocks (0: not yet in this run).", registry=r)
        self.last_full = Gauge("chainrisk_analysis_last_full_timestamp_seconds",
                               "Unix time the last full `chainrisk analyze` wrote its results, as recorded with the graph (0: never).",
                               registry=r)
        self.unanalysed_age = Gauge("chainrisk_analysis_unanalysed_change_age_seconds",
                                    "Seconds since the oldest applied change the continuous analysis has not re-analysed yet (0: none).",
                                    registry=r)
        self.unanalysed_age.set_function(self._unanalysed_age)
        self._unanalysed_since: float | None = None  # unix time the oldest change not yet re-analysed was committed
        self._lock = threading.Lock()
        self._loop = "starting: the store and the event log are not open yet"  # "" while the loop runs
        self._retrying: str | None = None
        self._unreachable: dict[str, str] = {}  # what -> why, from the probes
        self._last_probe = 0.0
        self._lagging: set[TopicPartition] = set()

    # --- readiness ---------------------------------------------------------------------------
    def readiness(self) -> tuple[bool, str]:
        with self._lock:
            reason = self._retrying or self._loop or next(iter(self._unreachable.values()), None)
            return reason is None, reason or "ready"

    def _update(self, **changes: Any) -> None:
        with self._lock:
            for name, value in changes.items():
                setattr(self, name, value)
        self.ready_gauge.set(1 if self.readiness()[0] else 0)

    def running(self) -> None:
        """The store and the log are open and answered."""
        self._update(_loop="")

    def retrying(self, what: str, exc: BaseException, attempt: int, attempts: int) -> None:
        self.retries.labels(what=what).inc()
        self._update(_retrying=f"{what} unavailable ({type(exc).__name__}), attempt {attempt}/{attempts}: retrying")

    def recovered(self, what: str) -> None:
        """A retried call to ``what`` went through."""
        self.reconnects.labels(what=what).inc()
        self._update(_retrying=None)

    def stopped(self, reason: str) -> None:
        self._update(_loop=reason)

    def _reachable(self, what: str, exc: BaseException | None = None, reason: str = "") -> None:
        with self._lock:
            was_down = what in self._unreachable
        if exc is None and not reason:
            if was_down:
                if what != "partitions":
                    self.reconnects.labels(what=what).inc()
                self._update(_unreachable={k: v for k, v in self._unreachable.items() if k != what})
            return
        self._update(_unreachable={**self._unreachable, what: reason or f"{what} unreachable ({type(exc).__name__}): probing again"})

    # --- per batch -----------------------------------------------------------------------------
    def batch(self, result: BatchResult, batch: DecodedBatch) -> None:
        """One applied batch. The records count moves last: a scrape that sees it sees the outcomes too."""
        from chainrisk.ingest.events import TOPIC_OF_TYPE

        self._reachable("graph store")  # it just committed the batch
        for record, _reason in batch.dead:
            self.dead_lettered.labels(topic=logical_topic(record.topic), type=dead_letter_type(record.value)).inc()
        for (event_type, outcome), n in result.outcomes.items():
            self.outcomes[outcome].labels(topic=TOPIC_OF_TYPE.get(event_type, UNKNOWN_TYPE), type=event_type).inc(n)
        self.batches.inc()
        self.batch_seconds.observe(result.seconds)
        if batch.events:
            try:  # ingest writes aware times: compare them as they are (a quarter of the cost of converting each)
                oldest = as_utc(min(e.provenance.ingested_at for e in batch.events))
            except TypeError:  # naive and aware mixed
                oldest = min(as_utc(e.provenance.ingested_at) for e in batch.events)
            self.event_seconds.observe(max(0.0, (datetime.now(timezone.utc) - oldest).total_seconds()))
        for (topic, partition), offset in batch.next_offsets.items():
            self.stored_offset.labels(topic=logical_topic(topic), partition=str(partition)).set(offset)
        self.records.inc(batch.records)

    # --- continuous analysis ---------------------------------------------------------------------
    def unanalysed(self) -> None:
        """A batch that applied facts committed; they wait for the continuous analysis."""
        with self._lock:
            if self._unanalysed_since is None:
                self._unanalysed_since = time.time()

    def analysed(self, refreshed_at: datetime | None) -> None:
        """The continuous analysis caught up with every applied change; ``refreshed_at``: when it
        re-analysed blocks (None: no block was concerned)."""
        with self._lock:
            self._unanalysed_since = None
        if refreshed_at is not None:
            self.last_refresh.set(refreshed_at.timestamp())

    def full_analysis(self, at: datetime | None) -> None:
        """When the last full analysis wrote its results, as the store records it."""
        self.last_full.set(0 if at is None else at.timestamp())

    def _unanalysed_age(self) -> float:
        since = self._unanalysed_since
        return 0.0 if since is None else max(0.0, time.time() - since)

    def alert(self, kind: str, status: str) -> None:
        self.alerts.labels(kind=kind, status=status).inc()

    def delivery_failed(self, target: str) -> None:
        self.delivery_failures.labels(target=target).inc()

    # --- probes ---------------------------------------------------------------------------------
    def probe(self, source: RecordSource, store: GraphStore | None = None, group: str = "", force: bool = False) -> None:
        """At most every :data:`PROBE_INTERVAL_S` (unless ``force``): the lag and assignment of the
        source and, with ``store`` (the loop is idle: no batch has just shown the store answers),
        the offsets stored with the graph. A failed probe makes ``/readyz`` 503 until one succeeds;
        it never stops the consumer (the loop's own calls have the retries)."""
        now = time.monotonic()
        if not force and now - self._last_probe < PROBE_INTERVAL_S:
            return
        self._last_probe = now
        if store is not None:
            try:
                stored = store.stored_offsets(group)
                self.full_analysis(store.last_full_analysis())  # `chainrisk analyze` may have run meanwhile (Neo4j)
            except Exception as exc:  # noqa: BLE001 - a probe must never stop the consumer
                self._reachable("graph store", exc)
            else:
                self._reachable("graph store")
                for (topic, partition), offset in stored.items():
                    self.stored_offset.labels(topic=logical_topic(topic), partition=str(partition)).set(offset)
        try:
            lags = source.partition_lag()
        except Exception as exc:  # noqa: BLE001
            self._reachable("Kafka", exc)
            return
        self._reachable("Kafka")
        self.assigned.set(len(lags))
        if lags:
            self._reachable("partitions")
        else:
            self._reachable("partitions", reason=f"no partitions assigned: {source.waiting_for()}")
        known = {tp: lag for tp, lag in lags.items() if lag is not None}
        for topic, partition in self._lagging - known.keys():  # revoked, or its position unknown: no sample
            self.lag.remove(logical_topic(topic), str(partition))
        for (topic, partition), lag in known.items():
            self.lag.labels(topic=logical_topic(topic), partition=str(partition)).set(lag)
        self._lagging = set(known)


class MetricsServer:
    """The HTTP server thread of :func:`serve`; ``close()`` stops it."""

    def __init__(self, server: ThreadingHTTPServer) -> None:
        self.server = server
        self.port = int(server.server_address[1])
        self.thread = threading.Thread(target=server.serve_forever, name="chainrisk-metrics", daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def serve(metrics: ConsumerMetrics, host: str, port: int) -> MetricsServer:
    """Serve ``/metrics``, ``/healthz`` and ``/readyz`` for ``metrics`` on ``host:port`` (port 0: any free one)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._answer(200, generate_latest(metrics.registry), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                self._answer(200, b"ok\n")
            elif path == "/readyz":
                ready, reason = metrics.readiness()
                self._answer(200 if ready else 503, reason.encode() + b"\n")
            else:
                self._answer(404, b"not found: /metrics, /healthz or /readyz\n")

        def _answer(self, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
            pass  # a scrape every few seconds is not worth a log line

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return MetricsServer(server)
