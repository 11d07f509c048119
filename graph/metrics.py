"""The consumer's Prometheus metrics and its health endpoints, served by `chainrisk consume --metrics-port`.

One :class:`ConsumerMetrics` per consumer holds its own ``CollectorRegistry`` (not the process-wide
default, so two consumers in one process - tests - never share counters). The loop updates it once
per batch (graph/consumer.py); a small HTTP server on a daemon thread (:func:`serve`) answers
``/metrics`` (the exposition format of prometheus_client), ``/healthz`` (200 while the process
runs) and ``/readyz`` (200 once the store and the log are open and no call to them is being
retried; 503 with the reason otherwise). Labels are bounded: topics, outcomes, alert kinds and
statuses, and the consumer's own names for what it retries - never a prefix or a party.
"""
from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from chainrisk.graph.eventlog.sources import RecordSource
from chainrisk.graph.stores.protocol import BatchResult

# batch apply latency: a batch of 2000 takes ~0.05 s on networkx and ~0.5 s on Neo4j (docs/consumer.md)
BATCH_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
LAG_INTERVAL_S = 5.0  # at most one lag probe per 5 s: on Kafka it reads the end offsets from the brokers


class ConsumerMetrics:
    """Counters, gauges and the readiness of one consumer."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.records = Counter("chainrisk_records_read_total", "Records read from the event log and applied or dead-lettered.", registry=r)
        self.applied = Counter("chainrisk_events_applied_total", "Assert events that took effect on the graph.", registry=r)
        self.retracted = Counter("chainrisk_events_retracted_total", "Retract events that took effect on the graph.", registry=r)
        self.stale = Counter("chainrisk_events_stale_total", "Events older than the stored version (no effect).", registry=r)
        self.duplicate = Counter("chainrisk_events_duplicate_total", "Events already applied, same event id (no effect).", registry=r)
        self.dead_lettered = Counter("chainrisk_events_dead_lettered_total", "Undecodable or invalid records sent to the dead-letter topic, by topic.",
                                     ["topic"], registry=r)
        self.batches = Counter("chainrisk_batches_total", "Batches applied in one store transaction each.", registry=r)
        self.conflicts = Counter("chainrisk_offset_conflicts_total", "Batches thrown away because another consumer had moved the stored offsets.",
                                 registry=r)
        self.batch_seconds = Histogram("chainrisk_batch_apply_seconds", "Seconds to apply one batch (the store transaction).",
                                       buckets=BATCH_SECONDS_BUCKETS, registry=r)
        self.lag = Gauge("chainrisk_consumer_lag_records", "Records in the assigned partitions not yet read (NaN while unknown).", registry=r)
        self.alerts = Counter("chainrisk_alerts_total", "Alerts the engine raised or updated, by kind and status.", ["kind", "status"], registry=r)
        self.retries = Counter("chainrisk_retries_total", "Calls retried because a server was unavailable, by what was called.", ["what"], registry=r)
        self.ready_gauge = Gauge("chainrisk_consumer_ready", "1 when /readyz answers 200.", registry=r)
        self.lag.set(float("nan"))
        self._lock = threading.Lock()
        self._ready = False
        self._reason = "starting: the store and the event log are not open yet"
        self._last_lag = 0.0

    # --- readiness ---------------------------------------------------------------------------
    def readiness(self) -> tuple[bool, str]:
        with self._lock:
            return self._ready, self._reason

    def _set(self, ready: bool, reason: str) -> None:
        with self._lock:
            self._ready, self._reason = ready, reason
        self.ready_gauge.set(1 if ready else 0)

    def running(self) -> None:
        """The store and the log are open and answered: ready."""
        self._set(True, "ready")

    def retrying(self, what: str, exc: BaseException, attempt: int, attempts: int) -> None:
        self.retries.labels(what=what).inc()
        self._set(False, f"{what} unavailable ({type(exc).__name__}), attempt {attempt}/{attempts}: retrying")

    def recovered(self) -> None:
        self._set(True, "ready")

    def stopped(self, reason: str) -> None:
        self._set(False, reason)

    # --- per batch -----------------------------------------------------------------------------
    def batch(self, result: BatchResult, records: int, dead_by_topic: dict[str, int]) -> None:
        """One applied batch. The records count moves last: a scrape that sees it sees the outcomes too."""
        for topic, n in dead_by_topic.items():
            self.dead_lettered.labels(topic=topic).inc(n)
        self.applied.inc(result.applied)
        self.retracted.inc(result.retracted)
        self.stale.inc(result.stale)
        self.duplicate.inc(result.duplicate)
        self.batches.inc()
        self.batch_seconds.observe(result.seconds)
        self.records.inc(records)

    def alert(self, kind: str, status: str) -> None:
        self.alerts.labels(kind=kind, status=status).inc()

    def maybe_lag(self, source: RecordSource, force: bool = False) -> None:
        """Probe the source's lag, at most every :data:`LAG_INTERVAL_S` (unless ``force``)."""
        now = time.monotonic()
        if not force and now - self._last_lag < LAG_INTERVAL_S:
            return
        self._last_lag = now
        try:
            lag = source.lag()
        except Exception:  # noqa: BLE001 - a metrics probe must never stop the consumer
            lag = None
        self.lag.set(float("nan") if lag is None else float(lag))


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
