"""Holder-change alert latency: from producing an event to the alert arriving on the alerts topic,
p50/p99, idle and under a background load of lease-hop events.

A real consumer runs as a subprocess (``chainrisk consume``, services backend, alerts on) on
fresh topics ``<topic_prefix>.bench-alerts-<run id>.*``. This process

1. publishes one lease hop (holder -> lessee) for each probe block, in 198.18.0.0/15 (RFC 2544,
   benchmarking), and waits for a warm-up probe's alert (the consumer has joined and caught up);
2. idle: sends the probes one at a time - an RIR transfer of the probe block to a new holder,
   which the consumer turns into a ``transfer`` alert naming the leased block - and times each
   from just before ``send`` to the moment its alert (found by the probe's event id in the
   alert's evidence) is read from the alerts topic; the next probe goes after the alert arrived;
3. loaded: a second process publishes generated lease-hop events (240.0.0.0/4, synthetic) to the
   relationships topic at a bounded rate (default 10,000/s) for a bounded time, while probes go out
   at a fixed interval without waiting; their alerts are then awaited until ``--drain-timeout``.

Latency has floors in the consumer's loop (graph/consumer.py ``ConsumerOptions``): a batch whose
first poll brought several records is filled for up to ``batch_wait_s`` (0.2 s) (a lone record, one
event after a quiet spell, goes at once), and the alerts are published
after the batch's transaction commits, by a producer with ``linger_ms`` 20. Under a load the
consumer cannot sustain, a probe waits behind the backlog: its latency is the lag, not the loop.

    python bench/alert_latency.py --wipe                 # 50 idle probes; 10,000 events/s for 30 s
    python bench/alert_latency.py --smoke --wipe         # ~15 s
    python bench/alert_latency.py --load-rate 2000 --load-seconds 60 --wipe

Settings come from the normal configuration (CHAINRISK_* / chainrisk.toml), on the services
backend. The database must be empty, or ``--wipe`` given. Goal: p99 < 1 s idle.
"""
from __future__ import annotations

import argparse
import ipaddress
import json
import signal
import subprocess
import sys
import threading
import time
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import benchlib

GOAL_P99_IDLE_S = 1.0
PROBE_SPACE = ipaddress.ip_network("198.18.0.0/15")  # RFC 2544: benchmarking, never routed
LEASE_START = date(2020, 1, 1)


# --- events ------------------------------------------------------------------------------------------


def probe_block(n: int) -> str:
    """The n-th /24 of the probe space."""
    return f"{ipaddress.ip_address(int(PROBE_SPACE.network_address) + (n << 8))}/24"


def provenance(reference: str, line: int) -> Any:
    from chainrisk.ingest.events import Provenance, utc_now

    now = datetime.now(timezone.utc)
    return Provenance(source="bench-alert-latency", reference=reference, line=line, observed_at=now, ingested_at=utc_now())


def setup_hop(n: int) -> Any:
    """Probe block n is leased by its holder to a lessee (so a transfer of it has a blast radius)."""
    from chainrisk.ingest.events import LeaseHop, Party

    return LeaseHop(block=probe_block(n), provider=Party(name=f"Bench Holder {n}", id=f"BENCH-H{n}"), provider_role="holder",
                    recipient=Party(name=f"Bench Lessee {n}", id=f"BENCH-L{n}"), recipient_role="lessee",
                    start_date=LEASE_START, end_date=date(2030, 12, 31), lessee_asn=4_200_000_000 + n,
                    provenance=provenance("bench:setup", n)).with_id()


def probe_transfer(n: int) -> Any:
    """The probe: probe block n transferred from its holder to a new one (always a holder change)."""
    from chainrisk.ingest.events import HolderTransfer, Party

    return HolderTransfer(block=probe_block(n), from_party=Party(name=f"Bench Holder {n}", id=f"BENCH-H{n}"),
                          to_party=Party(name=f"Bench New Holder {n}", id=f"BENCH-N{n}"),
                          transfer_date=datetime.now(timezone.utc).replace(microsecond=0), transfer_type="RESOURCE_TRANSFER",
                          source_rir="ARIN", recipient_rir="ARIN", provenance=provenance("bench:probe", n)).with_id()


# --- the alerts topic reader ---------------------------------------------------------------------------


class AlertWatch:
    """Reads the alerts topic in a thread and notes when an alert citing each event id arrived."""

    def __init__(self, settings: Any) -> None:
        from kafka import KafkaConsumer, TopicPartition

        self.topic = settings.topic("alerts")
        self.consumer = KafkaConsumer(**settings.kafka_client_config(), enable_auto_commit=False, fetch_max_wait_ms=10,
                                      auto_offset_reset="earliest", consumer_timeout_ms=-1)
        partitions = self.consumer.partitions_for_topic(self.topic) or set()
        self.consumer.assign([TopicPartition(self.topic, p) for p in sorted(partitions)])
        self.arrived: dict[str, float] = {}
        self.alerts = 0
        self.cond = threading.Condition()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="alert-watch", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopping.is_set():
            polled = self.consumer.poll(timeout_ms=50)
            now = time.monotonic()
            for records in polled.values():
                for record in records:
                    alert = json.loads(record.value)
                    with self.cond:
                        self.alerts += 1
                        self._seen(alert, now)
                        self.cond.notify_all()

    def _seen(self, alert: dict[str, Any], now: float) -> None:
        """Note one alert read from the topic (called holding ``cond``)."""
        for evidence in alert.get("evidence", []):
            self.arrived.setdefault(evidence["event_id"], now)

    def wait_for(self, event_ids: list[str], timeout: float) -> bool:
        """Block until alerts citing all ``event_ids`` arrived, or ``timeout`` seconds passed."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while not all(e in self.arrived for e in event_ids):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(left)
        return True

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)
        self.consumer.close()


# --- the background load (its own process) ------------------------------------------------------------


def background_main(args: argparse.Namespace) -> int:
    """Publish ``rate`` generated lease hops per second for ``seconds`` to the relationships topic."""
    from kafka import KafkaProducer

    from chainrisk.graph.eventlog.kafka_io import producer_config

    settings = benchlib.services_settings()
    total = int(args.load_rate * args.load_seconds)
    events = benchlib.lease_hop_events(total, args.seed, args.work_dir or benchlib.default_work_dir(settings))
    messages = [(e.block.encode(), e.to_json()) for e in events]
    del events
    topic = settings.topic("relationships")
    producer = KafkaProducer(**producer_config(settings))
    print("started", flush=True)
    started = time.monotonic()
    sent = 0
    while sent < total:
        due = min(total, int((time.monotonic() - started) * args.load_rate))
        while sent < due:
            key, value = messages[sent]
            producer.send(topic, key=key, value=value)
            sent += 1
        if time.monotonic() - started >= args.load_seconds + 5:  # cannot keep the rate: stop anyway
            break
        time.sleep(0.005)
    publish_s = time.monotonic() - started
    producer.flush()
    producer.close()
    print(json.dumps({"sent": sent, "publish_s": publish_s, "acked_s": time.monotonic() - started,
                      "rate": sent / publish_s if publish_s else 0.0, "peak_rss_mb": benchlib.peak_rss_mb()}), flush=True)
    return 0


# --- the run -------------------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-p * len(ordered) // 100))))
    return ordered[rank - 1]


def summarise(latencies: list[float], sent: int) -> dict[str, Any]:
    if not latencies:
        return {"probes": sent, "received": 0}
    return {"probes": sent, "received": len(latencies), "p50_s": percentile(latencies, 50), "p99_s": percentile(latencies, 99),
            "min_s": min(latencies), "max_s": max(latencies)}


class Producer:
    """Sends events to their topic (keyed by block) and says when each was sent."""

    def __init__(self, settings: Any) -> None:
        from kafka import KafkaProducer

        from chainrisk.graph.eventlog.kafka_io import producer_config
        from chainrisk.ingest.events import TOPIC_OF_TYPE

        self.settings = settings
        self.topic_of = TOPIC_OF_TYPE
        self.producer = KafkaProducer(**producer_config(settings))

    def send(self, event: Any) -> float:
        sent_at = time.monotonic()
        self.producer.send(self.settings.topic(self.topic_of[event.type]), key=event.block.encode(), value=event.to_json())
        self.producer.flush()
        return sent_at

    def close(self) -> None:
        self.producer.close()


def start_consumer(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    log = open(log_path, "wb")  # noqa: SIM115 - the child keeps it
    return subprocess.Popen([sys.executable, "-m", "chainrisk.cli.main", "consume", "--backend", "services", "--metrics-interval", "5"],
                            env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def stop_consumer(process: subprocess.Popen[bytes]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)  # stops after the current batch
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from chainrisk.graph.eventlog.kafka_io import ensure_topics, topic_names

    settings = benchlib.services_settings()
    run_settings, env = benchlib.fresh_run(settings, "alerts", alerts=True)
    work_dir = args.work_dir or benchlib.default_work_dir(settings)
    work_dir.mkdir(parents=True, exist_ok=True)
    machine = benchlib.prepare_graph(settings, args.wipe)
    ensure_topics(run_settings)

    load_probes = int(args.load_seconds / args.load_probe_interval) if args.load_rate > 0 else 0
    blocks = 1 + args.idle_probes + load_probes
    consumer_log = work_dir / f"alert-latency-consumer-{benchlib.run_id()}.log"
    consumer = start_consumer(env, consumer_log)
    watch = AlertWatch(run_settings)
    producer = Producer(run_settings)
    background: subprocess.Popen[str] | None = None
    try:
        for n in range(blocks):
            producer.producer.send(run_settings.topic("relationships"), key=probe_block(n).encode(), value=setup_hop(n).to_json())
        producer.producer.flush()
        warm = probe_transfer(0)
        warm_at = producer.send(warm)
        if not watch.wait_for([warm.event_id], args.start_timeout):
            raise SystemExit(f"no alert for the warm-up probe within {args.start_timeout:.0f} s; consumer log: {consumer_log}")
        warmup_s = watch.arrived[warm.event_id] - warm_at
        print(f"consumer up and caught up (warm-up alert after {warmup_s:.1f} s); {args.idle_probes} idle probes ...", file=sys.stderr)

        idle: list[float] = []
        for n in range(1, 1 + args.idle_probes):
            probe = probe_transfer(n)
            sent_at = producer.send(probe)
            if watch.wait_for([probe.event_id], args.probe_timeout):
                idle.append(watch.arrived[probe.event_id] - sent_at)
            time.sleep(0.05 + (n % 7) * 0.03)  # spread the probes over the consumer's poll cycle

        loaded: list[float] = []
        load_stats: dict[str, Any] = {}
        drain_s = 0.0
        if load_probes:
            print(f"background load: {args.load_rate:,.0f} events/s for {args.load_seconds:.0f} s, a probe every "
                  f"{args.load_probe_interval} s ...", file=sys.stderr)
            background = subprocess.Popen(
                [sys.executable, __file__, "--background", "--load-rate", str(args.load_rate), "--load-seconds", str(args.load_seconds),
                 "--seed", str(args.seed), *(["--work-dir", str(args.work_dir)] if args.work_dir else [])],
                env=env, stdout=subprocess.PIPE, text=True)
            assert background.stdout is not None
            if background.stdout.readline().strip() != "started":
                raise SystemExit("the background load process did not start")
            sent: dict[str, float] = {}
            first = 1 + args.idle_probes
            load_started = time.monotonic()
            for i in range(load_probes):
                time.sleep(max(0.0, load_started + (i + 0.5) * args.load_probe_interval - time.monotonic()))
                probe = probe_transfer(first + i)
                sent[probe.event_id] = producer.send(probe)
            load_stats = json.loads(background.stdout.readline())
            background.wait()
            drain_started = time.monotonic()
            watch.wait_for(list(sent), args.drain_timeout)
            drain_s = time.monotonic() - drain_started
            loaded = [watch.arrived[e] - t for e, t in sent.items() if e in watch.arrived]
    finally:
        producer.close()
        watch.close()
        if background is not None and background.poll() is None:
            background.kill()
        status = stop_consumer(consumer)
        if not args.keep_topics:
            benchlib.delete_topics(run_settings, topic_names(run_settings))
    consumer_summary = next((line for line in reversed(consumer_log.read_text(errors="replace").splitlines())
                             if line.startswith("consumed ")), f"(consumer exit {status}; log {consumer_log})")
    if len(idle) < args.idle_probes:
        raise SystemExit(f"{args.idle_probes - len(idle)} idle probes got no alert within {args.probe_timeout} s; log {consumer_log}")
    return {
        "machine": machine, "load_average": benchlib.load_average(), "revision": benchlib.git_revision(),
        "batch_size": settings.batch_size, "warmup_s": warmup_s,
        "idle": summarise(idle, args.idle_probes),
        "loaded": summarise(loaded, load_probes), "load_target_rate": args.load_rate, "load_seconds": args.load_seconds,
        "load": load_stats, "drain_s": drain_s, "drain_timeout_s": args.drain_timeout,
        "consumer": consumer_summary, "consumer_log": str(consumer_log), "peak_rss_mb": benchlib.peak_rss_mb(),
    }


def report(r: dict[str, Any]) -> str:
    idle, loaded, load = r["idle"], r["loaded"], r["load"]
    verdict = "met" if idle.get("p99_s", 99) < GOAL_P99_IDLE_S else "MISSED"
    lines = [
        f"Alert latency, {r['machine']} (load {r['load_average']}, rev {r['revision']})",
        f"event produced -> alert read from the alerts topic; consumer batch size {r['batch_size']:,}; "
        f"warm-up (consumer start + first alert) {r['warmup_s']:.1f} s",
        f"{'':<40} {'probes':>7} {'got':>5} {'p50 s':>7} {'p99 s':>7} {'min s':>7} {'max s':>7}",
    ]

    def row(label: str, s: dict[str, Any]) -> str:
        if not s.get("received"):
            return f"{label:<40} {s['probes']:>7} {0:>5}"
        return (f"{label:<40} {s['probes']:>7} {s['received']:>5} {s['p50_s']:>7.3f} {s['p99_s']:>7.3f} {s['min_s']:>7.3f} "
                f"{s['max_s']:>7.3f}")

    lines.append(row("idle", idle))
    if loaded["probes"]:
        lines.append(row(f"under load ({load.get('rate', 0):,.0f} events/s achieved)", loaded))
    ratio = loaded["p99_s"] / idle["p99_s"] if loaded.get("received") and idle.get("p99_s") else None
    lines.append(f"goal p99 < {GOAL_P99_IDLE_S:.0f} s idle: {verdict}" + (f"; loaded p99 = {ratio:.1f}x idle p99" if ratio else ""))
    if loaded["probes"]:
        lines.append(f"(background: target {r['load_target_rate']:,.0f}/s for {r['load_seconds']:.0f} s, sent {load.get('sent', 0):,} "
                     f"in {load.get('publish_s', 0):.1f} s; probe alerts drained {r['drain_s']:.1f} s after the load "
                     f"(timeout {r['drain_timeout_s']:.0f} s); {r['consumer']})")
    lines.append(f"(peak RSS: this process {r['peak_rss_mb']:.0f} MB, background producer {load.get('peak_rss_mb', 0):.0f} MB; "
                 f"consumer log {r['consumer_log']})")
    lines.append(benchlib.figures_line(
        "alert_latency", idle_p50_s=round(idle["p50_s"], 4), idle_p99_s=round(idle["p99_s"], 4),
        loaded_p50_s=round(loaded.get("p50_s", -1), 4), loaded_p99_s=round(loaded.get("p99_s", -1), 4),
        loaded_received=loaded.get("received", 0), loaded_probes=loaded["probes"], load_rate=round(load.get("rate", 0)),
        peak_rss_mb=round(r["peak_rss_mb"])))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--idle-probes", type=int, default=50)
    parser.add_argument("--load-rate", type=float, default=10_000, help="background lease-hop events per second (0: no loaded phase)")
    parser.add_argument("--load-seconds", type=float, default=30.0, help="how long the background load runs")
    parser.add_argument("--load-probe-interval", type=float, default=1.0, help="seconds between probes under load")
    parser.add_argument("--probe-timeout", type=float, default=30.0, help="seconds an idle probe may wait for its alert")
    parser.add_argument("--drain-timeout", type=float, default=300.0, help="seconds to wait for the loaded probes' alerts after the load")
    parser.add_argument("--start-timeout", type=float, default=120.0, help="seconds for the consumer to start and raise the first alert")
    benchlib.add_common_options(parser, seed=11, smoke="5 idle probes, 2,000 events/s for 3 s: about 10 s")
    parser.add_argument("--background", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.background:
        return background_main(args)
    if args.smoke:
        args.idle_probes, args.load_rate, args.load_seconds, args.drain_timeout = 5, min(args.load_rate, 2_000), 3.0, 60.0
    benchlib.print_result(measure(args), report, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
