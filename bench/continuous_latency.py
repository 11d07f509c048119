"""Continuous-analysis latency: from publishing a routing event to (a) the leased block's updated
Block properties being visible in Neo4j and (b) the risk alert arriving on the alerts topic;
p50/p99 idle and under a background load, and a whole VRP snapshot that drops the ROAs of many
leased blocks at once.

A real consumer runs as a subprocess (``chainrisk consume``, services backend, continuous analysis
and alerts on) on fresh topics ``<topic_prefix>.bench-continuous-<run id>.*`` and its own group.
This process

1. publishes, for each probe block (198.18.0.0/15, RFC 2544 benchmarking space), a lease to a
   lessee with an origin ASN and a VRP for that ASN (ROV Valid), and waits until Neo4j shows every
   probe block Valid (the consumer has joined, caught up and analysed them);
2. idle: one probe at a time - a retract of the probe block's VRP (its own file reference, so it
   is one alert of its own) - timed from just before ``send`` to (a) ``rov_state`` NotFound read
   back from Neo4j (``NeoStore.stored_results``, polled every ``--poll-ms``) and (b) the
   ``rov_left_valid`` alert citing the retract's event id read from the alerts topic; then the VRP
   is restored (timed to Valid in Neo4j, and to the resolved alert when the topic carries one);
3. loaded: ``bench/alert_latency.py --background`` publishes generated lease hops (240.0.0.0/4,
   synthetic) to the relationships topic at ``--load-rate`` while withdraw probes go out every
   ``--load-probe-interval`` s without waiting; they are awaited until ``--drain-timeout``;
4. snapshot: ``--snapshot-blocks`` leased blocks (100.64.0.0/10, RFC 6598) get their ROAs from
   one full VRP snapshot (scope ta ``bench-snap``); a second snapshot of that scope lacks them all
   (it keeps one unleased VRP), so its end retracts them: timed from sending its end marker to
   every block NotFound in Neo4j and to the one alert listing them all on the alerts topic.

Ratios: the loaded p99 over the idle p99 of the same run; CPU seconds of the consumer (from
/proc), Kafka and Neo4j over each phase. Goals: p99 < 1 s idle, < 5 s under load, the snapshot
within 30 s.

    CHAINRISK_STATE_DIR=/work/main/.chainrisk flock /tmp/chainrisk-neo4j.lock \\
        python bench/continuous_latency.py --wipe          # 30 idle probes; 5,000 events/s for 20 s; 10k blocks
    python bench/continuous_latency.py --smoke --wipe      # ~30 s

The database must be empty, or ``--wipe`` given (it is wiped). The run's topics are deleted at the end.
"""
from __future__ import annotations

import argparse
import ipaddress
import json
import os
import subprocess
import sys
import threading
import time
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import alert_latency
import benchlib

GOAL_P99_IDLE_S = 1.0
GOAL_P99_LOADED_S = 5.0
GOAL_SNAPSHOT_S = 30.0
PROBE_SPACE = ipaddress.ip_network("198.18.0.0/15")  # RFC 2544: benchmarking, never routed
SNAPSHOT_SPACE = ipaddress.ip_network("100.64.0.0/10")  # RFC 6598: shared address space, 16,384 /24s
PROBE_TA = "bench-probe"
SNAPSHOT_TA = "bench-snap"
VALID, NOT_FOUND = "Valid", "NotFound"


def nth_24(space: ipaddress.IPv4Network, n: int) -> str:
    return f"{ipaddress.ip_address(int(space.network_address) + (n << 8))}/24"


def lessee_asn(n: int) -> int:
    return 4_200_000_000 + n


def provenance(reference: str, line: int, snapshot: str | None = None, observed: datetime | None = None) -> Any:
    from chainrisk.ingest.events import Provenance, utc_now

    return Provenance(source="bench-continuous", reference=reference, line=line, observed_at=observed or datetime.now(timezone.utc),
                      ingested_at=utc_now(), snapshot=snapshot)


def lease(block: str, n: int, reference: str) -> Any:
    from chainrisk.ingest.events import LeaseHop, Party

    return LeaseHop(block=block, provider=Party(name=f"Bench Holder {n}", id=f"BENCH-CH{n}"), provider_role="holder",
                    recipient=Party(name=f"Bench Lessee {n}", id=f"BENCH-CL{n}"), recipient_role="lessee",
                    start_date=date(2020, 1, 1), end_date=date(2035, 12, 31), lessee_asn=lessee_asn(n),
                    provenance=provenance(reference, n)).with_id()


def vrp(block: str, asn: int, ta: str, reference: str, line: int, op: str = "assert", snapshot: str | None = None,
        observed: datetime | None = None) -> Any:
    from chainrisk.ingest.events import Vrp

    return Vrp(block=block, max_length=24, asn=asn, ta=ta, op=op, provenance=provenance(reference, line, snapshot, observed)).with_id()


def snapshot_end(snapshot: str, events: int, reference: str, observed: datetime) -> Any:
    """The end of a snapshot: ``observed`` is its facts' (a snapshot sweeps the facts older than its end)."""
    from chainrisk.ingest.events import SnapshotEnd

    return SnapshotEnd(snapshot=snapshot, fact_type="vrp", scope=SNAPSHOT_TA, events=events,
                       provenance=provenance(reference, 0, snapshot, observed)).with_id()


# --- watchers ------------------------------------------------------------------------------------------


class AlertWatch(alert_latency.AlertWatch):
    """The alerts topic: arrival per cited event id (first alert citing it, any status) and, per
    alert id, the most of the ``tracked`` blocks it listed and when."""

    def __init__(self, settings: Any) -> None:
        self.resolved: dict[str, float] = {}
        self.tracked: frozenset[str] = frozenset()  # blocks whose listing in alerts is followed
        self.listing: dict[str, tuple[int, float]] = {}  # alert id -> (most tracked blocks it listed, when)
        self.causes: set[str] = set()
        super().__init__(settings)

    def _seen(self, alert: dict[str, Any], now: float) -> None:
        super()._seen(alert, now)
        if alert.get("status") == "resolved":
            for evidence in alert.get("evidence", []):
                self.resolved.setdefault(evidence["event_id"], now)
        self.causes.update(alert.get("causes", []))
        if self.tracked:
            shown = alert.get("affected", [])
            count = sum(1 for a in shown if a["block"] in self.tracked)
            if alert.get("affected_truncated") and count == len(shown):
                # a record cut to Kafka's size limit shows only some entries; one whose shown
                # entries are all tracked blocks is counted with the total it states
                count = int(alert.get("affected_total", count))
            if count > self.listing.get(alert["id"], (0, 0.0))[0]:
                self.listing[alert["id"]] = (count, now)


class NeoWatch:
    """Polls Neo4j for the blocks awaited to reach an ROV state and notes when each first did."""

    def __init__(self, settings: Any, poll_s: float) -> None:
        from chainrisk.graph.stores.neo4j_store import NeoStore

        self.store = NeoStore(settings)
        self.poll_s = poll_s
        self.waiting: dict[tuple[str, str], float] = {}  # (block, state) -> awaited since (monotonic)
        self.seen: dict[tuple[str, str], float] = {}
        self.polls = 0
        self.cond = threading.Condition()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="neo-watch", daemon=True)
        self.thread.start()

    def expect(self, block: str, state: str) -> None:
        with self.cond:
            self.seen.pop((block, state), None)
            self.waiting[(block, state)] = time.monotonic()

    def _run(self) -> None:
        while not self.stopping.is_set():
            with self.cond:
                keys = list(self.waiting)
            if keys:
                rows = self.store.stored_results(sorted({b for b, _ in keys}))
                now = time.monotonic()
                self.polls += 1
                with self.cond:
                    for block, state in keys:
                        if (rows.get(block) or {}).get("rov_state") == state and (block, state) in self.waiting:
                            del self.waiting[(block, state)]
                            self.seen[(block, state)] = now
                    self.cond.notify_all()
            time.sleep(self.poll_s)

    def wait_for(self, keys: list[tuple[str, str]], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self.cond:
            while not all(k in self.seen for k in keys):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(left)
        return True

    def count_in_state(self, blocks: set[str], state: str) -> int:
        rows = self.store.stored_results(sorted(blocks))
        return sum(1 for b in blocks if (rows.get(b) or {}).get("rov_state") == state)

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)
        self.store.close()


def process_cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Cpu:
    """CPU seconds of the consumer, Kafka and Neo4j since the last :meth:`lap`."""

    def __init__(self, settings: Any, consumer_pid: int) -> None:
        self.settings, self.pid = settings, consumer_pid
        self.last = self._now()

    def _now(self) -> dict[str, float]:
        return {"consumer": process_cpu_s(self.pid), "kafka": benchlib.service_cpu_s(self.settings, "kafka") or 0.0,
                "neo4j": benchlib.service_cpu_s(self.settings, "neo4j") or 0.0}

    def lap(self) -> dict[str, float]:
        now = self._now()
        out = {k: round(now[k] - self.last[k], 1) for k in now}
        self.last = now
        return out


def summarise(latencies: list[float], sent: int) -> dict[str, Any]:
    return alert_latency.summarise(latencies, sent)


# --- the run -------------------------------------------------------------------------------------------


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from chainrisk.graph.eventlog.kafka_io import ensure_topics, topic_names

    settings = benchlib.services_settings()
    run_settings, env = benchlib.fresh_run(settings, "continuous", alerts=True, continuous_analysis=True)
    work_dir = args.work_dir or benchlib.default_work_dir(settings)
    work_dir.mkdir(parents=True, exist_ok=True)
    machine = benchlib.prepare_graph(settings, args.wipe)
    ensure_topics(run_settings)
    load_probes = int(args.load_seconds / args.load_probe_interval) if args.load_rate > 0 else 0
    probes = args.idle_probes + load_probes
    consumer_log = work_dir / f"continuous-latency-consumer-{benchlib.run_id()}.log"
    consumer = alert_latency.start_consumer(env, consumer_log)
    cpu = Cpu(settings, consumer.pid)
    watch = AlertWatch(run_settings)
    neo = NeoWatch(run_settings, args.poll_ms / 1000)
    producer = alert_latency.Producer(run_settings)
    background: subprocess.Popen[str] | None = None
    result: dict[str, Any] = {"machine": machine, "revision": benchlib.git_revision(), "batch_size": settings.batch_size,
                              "poll_ms": args.poll_ms}
    try:
        # 1. setup: every probe block leased and Valid
        started = time.monotonic()
        blocks = [nth_24(PROBE_SPACE, n) for n in range(probes)]
        for n, block in enumerate(blocks):
            producer.producer.send(run_settings.topic("relationships"), key=block.encode(), value=lease(block, n, "bench:leases").to_json())
            producer.producer.send(run_settings.topic("routing"), key=block.encode(),
                                   value=vrp(block, lessee_asn(n), PROBE_TA, "bench:vrps", n).to_json())
        producer.producer.flush()
        for block in blocks:
            neo.expect(block, VALID)
        if not neo.wait_for([(b, VALID) for b in blocks], args.start_timeout):
            raise SystemExit(f"the probe blocks were not all Valid in Neo4j within {args.start_timeout:.0f} s; log {consumer_log}")
        result["setup_s"] = time.monotonic() - started
        cpu.lap()
        print(f"consumer up, {probes} probe blocks Valid after {result['setup_s']:.1f} s; {args.idle_probes} idle probes ...",
              file=sys.stderr)

        # 2. idle: withdraw, then restore, one at a time
        neo_idle, alert_idle, neo_restore, alert_restore = [], [], [], []
        for n in range(args.idle_probes):
            block = blocks[n]
            withdraw = vrp(block, lessee_asn(n), PROBE_TA, f"bench:withdraw-{n}", n, op="retract")
            neo.expect(block, NOT_FOUND)
            sent_at = producer.send(withdraw)
            if neo.wait_for([(block, NOT_FOUND)], args.probe_timeout):
                neo_idle.append(neo.seen[(block, NOT_FOUND)] - sent_at)
            if watch.wait_for([withdraw.event_id], args.probe_timeout):
                alert_idle.append(watch.arrived[withdraw.event_id] - sent_at)
            time.sleep(0.05 + (n % 7) * 0.03)  # spread the probes over the consumer's poll cycle
            restore = vrp(block, lessee_asn(n), PROBE_TA, f"bench:restore-{n}", n)
            neo.expect(block, VALID)
            sent_at = producer.send(restore)
            if neo.wait_for([(block, VALID)], args.probe_timeout):
                neo_restore.append(neo.seen[(block, VALID)] - sent_at)
            if watch.wait_for([restore.event_id], 2.0):  # a resolved alert, when the engine publishes one citing it
                alert_restore.append(watch.arrived[restore.event_id] - sent_at)
            time.sleep(0.05 + (n % 5) * 0.03)
        result["idle"] = {"neo4j": summarise(neo_idle, args.idle_probes), "alert": summarise(alert_idle, args.idle_probes),
                          "neo4j_restore": summarise(neo_restore, args.idle_probes),
                          "alert_restore": summarise(alert_restore, args.idle_probes), "cpu_s": cpu.lap(),
                          "load_average": benchlib.load_average()}

        # 3. loaded: withdraw probes at a fixed interval under the background lease-hop load
        result["loaded"] = {"neo4j": summarise([], 0), "alert": summarise([], 0)}
        if load_probes:
            print(f"background load: {args.load_rate:,.0f} events/s for {args.load_seconds:.0f} s, a probe every "
                  f"{args.load_probe_interval} s ...", file=sys.stderr)
            background = subprocess.Popen(
                [sys.executable, alert_latency.__file__, "--background", "--load-rate", str(args.load_rate), "--load-seconds",
                 str(args.load_seconds), "--seed", str(args.seed), *(["--work-dir", str(args.work_dir)] if args.work_dir else [])],
                env=env, stdout=subprocess.PIPE, text=True)
            assert background.stdout is not None
            if background.stdout.readline().strip() != "started":
                raise SystemExit("the background load process did not start")
            cpu.lap()
            sent: dict[str, tuple[str, float]] = {}
            load_started = time.monotonic()
            for i in range(load_probes):
                n = args.idle_probes + i
                time.sleep(max(0.0, load_started + (i + 0.5) * args.load_probe_interval - time.monotonic()))
                withdraw = vrp(blocks[n], lessee_asn(n), PROBE_TA, f"bench:withdraw-{n}", n, op="retract")
                neo.expect(blocks[n], NOT_FOUND)
                sent[withdraw.event_id] = (blocks[n], producer.send(withdraw))
            load_stats = json.loads(background.stdout.readline())
            background.wait()
            drain_started = time.monotonic()
            neo.wait_for([(b, NOT_FOUND) for b, _ in sent.values()], args.drain_timeout)
            watch.wait_for(list(sent), max(1.0, args.drain_timeout - (time.monotonic() - drain_started)))
            result["loaded"] = {
                "neo4j": summarise([neo.seen[(b, NOT_FOUND)] - t for b, t in sent.values() if (b, NOT_FOUND) in neo.seen], load_probes),
                "alert": summarise([watch.arrived[e] - t for e, (_, t) in sent.items() if e in watch.arrived], load_probes),
                "load": load_stats, "drain_s": time.monotonic() - drain_started, "cpu_s": cpu.lap(),
                "load_average": benchlib.load_average()}

        # 4. snapshot: one VRP snapshot drops the ROAs of many leased blocks
        result["snapshot"] = measure_snapshot(args, run_settings, producer, watch, neo, cpu, consumer_log)
    finally:
        producer.close()
        watch.close()
        neo.close()
        if background is not None and background.poll() is None:
            background.kill()
        status = alert_latency.stop_consumer(consumer)
        if not args.keep_topics:
            benchlib.delete_topics(run_settings, topic_names(run_settings))
    result["consumer"] = next((line for line in reversed(consumer_log.read_text(errors="replace").splitlines())
                               if line.startswith("consumed ")), f"(consumer exit {status}; log {consumer_log})")
    result["consumer_log"] = str(consumer_log)
    result["load_average"] = benchlib.load_average()
    return result


def measure_snapshot(args: argparse.Namespace, settings: Any, producer: Any, watch: AlertWatch, neo: NeoWatch, cpu: Cpu,
                     consumer_log: Path) -> dict[str, Any]:
    from chainrisk.ingest.snapshots import snapshot_id

    count = args.snapshot_blocks
    blocks = [nth_24(SNAPSHOT_SPACE, n) for n in range(count)]
    spare = nth_24(SNAPSHOT_SPACE, count)  # an unleased VRP both snapshots hold (the second is not empty)
    relationships, routing = settings.topic("relationships"), settings.topic("routing")
    tag = benchlib.run_id()
    first = snapshot_id(f"{tag}-1", "bench:snapshot-1", "vrp", SNAPSHOT_TA)
    second = snapshot_id(f"{tag}-2", "bench:snapshot-2", "vrp", SNAPSHOT_TA)
    print(f"snapshot: {count:,} leased blocks with ROAs from one VRP snapshot ...", file=sys.stderr)
    started = time.monotonic()
    observed = datetime.now(timezone.utc).replace(microsecond=0)
    for n, block in enumerate(blocks):
        producer.producer.send(relationships, key=block.encode(), value=lease(block, 10_000_000 + n, "bench:snapshot-leases").to_json())
        producer.producer.send(routing, key=block.encode(), value=vrp(block, lessee_asn(10_000_000 + n), SNAPSHOT_TA, "bench:snapshot-1",
                                                                       n, snapshot=first, observed=observed).to_json())
    producer.producer.send(routing, key=spare.encode(), value=vrp(spare, 64_496, SNAPSHOT_TA, "bench:snapshot-1", count, snapshot=first,
                                                                  observed=observed).to_json())
    producer.send(snapshot_end(first, count + 1, "bench:snapshot-1", observed))
    want = set(blocks)
    deadline = time.monotonic() + args.start_timeout + count / 100
    while neo.count_in_state(want, VALID) < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"the snapshot's blocks were not all Valid in Neo4j in time; log {consumer_log}")
        time.sleep(0.5)
    setup_s = time.monotonic() - started
    cpu.lap()
    print(f"  all Valid after {setup_s:.1f} s; the next snapshot drops them ...", file=sys.stderr)

    later = datetime.fromtimestamp(observed.timestamp() + 60, timezone.utc)
    producer.producer.send(routing, key=spare.encode(), value=vrp(spare, 64_496, SNAPSHOT_TA, "bench:snapshot-2", 0, snapshot=second,
                                                                  observed=later).to_json())
    producer.producer.flush()
    with watch.cond:
        watch.tracked = frozenset(blocks)
    sent_at = producer.send(snapshot_end(second, 1, "bench:snapshot-2", later))
    neo_s = alert_s = None
    deadline = sent_at + args.snapshot_timeout
    while time.monotonic() < deadline and (neo_s is None or alert_s is None):
        if neo_s is None and neo.count_in_state(want, NOT_FOUND) == count:
            neo_s = time.monotonic() - sent_at
        with watch.cond:
            full = [at for listed, at in watch.listing.values() if listed >= count]
        if alert_s is None and full:
            alert_s = min(full) - sent_at
        time.sleep(0.25)
    with watch.cond:
        listed = max((n for n, _ in watch.listing.values()), default=0)
        alerts = sum(1 for n, _ in watch.listing.values() if n)  # alerts listing any of the blocks: goal one
        causes = sorted(watch.causes)
    return {"blocks": count, "setup_s": setup_s, "neo4j_s": neo_s, "alert_s": alert_s, "alert_blocks": listed, "alerts": alerts, "causes": causes,
            "not_found": neo.count_in_state(want, NOT_FOUND), "timeout_s": args.snapshot_timeout, "cpu_s": cpu.lap(),
            "load_average": benchlib.load_average()}


# --- the report ----------------------------------------------------------------------------------------


def row(label: str, s: dict[str, Any]) -> str:
    if not s.get("received"):
        return f"  {label:<34} {s.get('received', 0)}/{s.get('probes', 0)} seen"
    return (f"  {label:<34} p50 {s['p50_s'] * 1000:7.0f} ms  p99 {s['p99_s'] * 1000:7.0f} ms  max {s['max_s'] * 1000:7.0f} ms  "
            f"({s['received']}/{s['probes']})")


def verdict(value: float | None, goal: float) -> str:
    return "met" if value is not None and value < goal else "NOT MET"


def report(r: dict[str, Any]) -> str:
    idle, loaded, snap = r["idle"], r["loaded"], r["snapshot"]
    load = loaded.get("load", {})
    lines = [f"continuous-analysis latency (revision {r['revision']}; {r['machine']}; batch {r['batch_size']}, Neo4j polled every "
             f"{r['poll_ms']} ms)",
             "idle (load average " + idle["load_average"] + f"; CPU s {idle['cpu_s']}):",
             row("withdraw -> Block rov_state in Neo4j", idle["neo4j"]), row("withdraw -> rov_left_valid alert", idle["alert"]),
             row("restore -> Block Valid in Neo4j", idle["neo4j_restore"]), row("restore -> resolved alert", idle["alert_restore"])]
    if load:
        lines += [f"under load ({load.get('rate', 0):,.0f} lease hops/s achieved of {r.get('load_target', 0):,.0f}, "
                  f"{load.get('sent', 0):,} in {load.get('publish_s', 0):.1f} s; load average {loaded['load_average']}; "
                  f"CPU s {loaded['cpu_s']}; drained {loaded['drain_s']:.1f} s after the load):",
                  row("withdraw -> Block rov_state in Neo4j", loaded["neo4j"]), row("withdraw -> rov_left_valid alert", loaded["alert"])]
    neo_s = "-" if snap["neo4j_s"] is None else f"{snap['neo4j_s']:.1f} s"
    alert_s = "-" if snap["alert_s"] is None else f"{snap['alert_s']:.1f} s"
    lines.append(f"snapshot dropping {snap['blocks']:,} leased blocks' ROAs (load average {snap['load_average']}; CPU s {snap['cpu_s']}): "
                 f"all NotFound in Neo4j {neo_s} ({snap['not_found']:,}), the alert listing them {alert_s} "
                 f"(at most {snap['alert_blocks']:,} in one alert; {snap['alerts']} alerts list any); setup {snap['setup_s']:.1f} s; "
                 f"alert causes seen {snap['causes']}")
    idle_p99 = max(idle["neo4j"].get("p99_s", 99), idle["alert"].get("p99_s", 99))
    loaded_p99 = max(loaded["neo4j"].get("p99_s", 99), loaded["alert"].get("p99_s", 99)) if loaded["alert"].get("probes") else None
    ratio = f"; loaded p99 = {loaded_p99 / idle_p99:.1f}x idle p99" if loaded_p99 is not None and idle_p99 else ""
    snap_s = max(snap["neo4j_s"], snap["alert_s"]) if snap["neo4j_s"] is not None and snap["alert_s"] is not None else None
    lines.append(f"goals: p99 < {GOAL_P99_IDLE_S:.0f} s idle {verdict(idle_p99, GOAL_P99_IDLE_S)}; p99 < {GOAL_P99_LOADED_S:.0f} s under "
                 f"load {verdict(loaded_p99, GOAL_P99_LOADED_S)}; snapshot < {GOAL_SNAPSHOT_S:.0f} s {verdict(snap_s, GOAL_SNAPSHOT_S)}"
                 + ratio)
    lines.append(f"({r['consumer']}; log {r['consumer_log']}; load average at the end {r['load_average']})")
    lines.append(benchlib.figures_line(
        "continuous_latency", idle_neo4j_p50_s=round(idle["neo4j"].get("p50_s", -1), 4),
        idle_neo4j_p99_s=round(idle["neo4j"].get("p99_s", -1), 4), idle_alert_p50_s=round(idle["alert"].get("p50_s", -1), 4),
        idle_alert_p99_s=round(idle["alert"].get("p99_s", -1), 4), idle_received=idle["alert"].get("received", 0),
        idle_probes=idle["alert"]["probes"], loaded_neo4j_p99_s=round(loaded["neo4j"].get("p99_s", -1), 4),
        loaded_alert_p50_s=round(loaded["alert"].get("p50_s", -1), 4), loaded_alert_p99_s=round(loaded["alert"].get("p99_s", -1), 4),
        loaded_received=loaded["alert"].get("received", 0), loaded_probes=loaded["alert"].get("probes", 0),
        load_rate=round(load.get("rate", 0)), snapshot_blocks=snap["blocks"], snapshot_alert_blocks=snap["alert_blocks"], snapshot_alerts=snap["alerts"],
        snapshot_neo4j_s=round(snap["neo4j_s"] if snap["neo4j_s"] is not None else -1, 2),
        snapshot_alert_s=round(snap["alert_s"] if snap["alert_s"] is not None else -1, 2)))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--idle-probes", type=int, default=30)
    parser.add_argument("--load-rate", type=float, default=5_000, help="background lease-hop events per second (0: no loaded phase)")
    parser.add_argument("--load-seconds", type=float, default=20.0)
    parser.add_argument("--load-probe-interval", type=float, default=1.0, help="seconds between probes under load")
    parser.add_argument("--snapshot-blocks", type=int, default=10_000, help="leased blocks whose ROAs one snapshot drops")
    parser.add_argument("--poll-ms", type=float, default=20.0, help="how often Neo4j is read for the awaited blocks")
    parser.add_argument("--probe-timeout", type=float, default=30.0)
    parser.add_argument("--drain-timeout", type=float, default=300.0)
    parser.add_argument("--snapshot-timeout", type=float, default=300.0)
    parser.add_argument("--start-timeout", type=float, default=120.0)
    benchlib.add_common_options(parser, seed=11, smoke="3 idle probes, 1,000 events/s for 2 s, a 200-block snapshot: about 30 s")
    args = parser.parse_args(argv)
    if args.smoke:
        args.idle_probes, args.load_rate, args.load_seconds, args.snapshot_blocks = 3, min(args.load_rate, 1_000), 2.0, 200
        args.drain_timeout = args.snapshot_timeout = 60.0
    result = measure(args)
    result["load_target"] = args.load_rate
    benchlib.print_result(result, report, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
