"""Neo4j write speed: the consumer's write path against a bare ``UNWIND $rows MERGE`` loader of the
same rows (the practical limit) and one transaction per event (the naive way).

Input: the first N lease-hop events the leases worker makes from a seeded synthetic register
(``chainrisk.synthetic``). The database is emptied before each run; each run ends with a
check that it holds one LEASES relationship per distinct fact.

1. consumer: ``NeoStore.apply_batch`` over batches of the configured ``batch_size`` (as
   ``chainrisk consume`` calls it: with offsets and start offsets), i.e. the version reads, the
   decisions, blocks and containment, parties, LEASES, holder history and offsets, one
   transaction per batch. Events are already decoded (decoding is the consumer's, not Neo4j's);
   each next batch's ``prepare_batch`` (fact keys, references, parameter rows) runs on a worker
   thread while the current batch's transaction runs, as in the consumer. A second run prepares
   each batch right before applying it, in series: the ratio between the two is what the
   pipelining gains (skip it with ``--no-serial``).
2. bare: per batch of the same size, one transaction of two statements: ``UNWIND $rows MERGE``
   the parties, then ``UNWIND $rows MATCH`` both parties ``MERGE`` the LEASES relationship by
   fact_key ``SET`` the same properties (dates converted the same way). No blocks, no versions,
   no offsets: what a loader that trusts its input can do at most. Rows are built before timing.
3. naive: one write transaction per event (MERGE both parties, MERGE the relationship, SET the
   properties), on the first ``--naive-events`` events only (it is slow), as events/s.

Consumer and bare runs alternate ``--repeat`` times (default 2) and the best of each counts: the
machine is shared, and the best run is the one least disturbed by others. Each run's CPU seconds
(this process + the local Neo4j JVM, from /proc) are printed per event too: on a busy machine the
CPU a run costs is steadier than its wall time.

    python bench/neo4j_writes.py --wipe                 # 200,000 events, twice each, ~6 min
    python bench/neo4j_writes.py --smoke --wipe         # 4,000 events, ~10 s
    python bench/neo4j_writes.py --events 500000 --batch-size 5000 --wipe

Settings come from the normal configuration (CHAINRISK_* / chainrisk.toml), on the services
backend. The database must be empty, or ``--wipe`` given: every run deletes everything in it.
Goal: consumer >= 0.8x the bare loader.
"""
from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

import benchlib

GOAL_RATIO = 0.8
TOPIC = "bench.relationships"  # the offsets the consumer path stores (a name only; no Kafka here)
GROUP = "bench-neo4j-writes"

BARE_PARTIES = """
UNWIND $rows AS r
MERGE (p:Party {key: r.key})
ON CREATE SET p.name = r.name, p.party_id = r.party_id
"""


def bare_leases_statement() -> str:
    """The bare loader's relationship statement (the same temporal conversions as the store's)."""
    from chainrisk.graph.stores.records import TEMPORAL_PROPS

    dates = ", ".join(f"l.{name} = {kind}(r.props.{name})" for name, kind in TEMPORAL_PROPS["lease_hop"])
    return f"""
UNWIND $rows AS r
MATCH (a:Party {{key: r.provider}})
MATCH (b:Party {{key: r.recipient}})
MERGE (a)-[l:LEASES {{fact_key: r.props.fact_key}}]->(b)
SET l = r.props, {dates}
"""


def naive_statement() -> str:
    from chainrisk.graph.stores.records import TEMPORAL_PROPS

    dates = ", ".join(f"l.{name} = {kind}($props.{name})" for name, kind in TEMPORAL_PROPS["lease_hop"])
    return f"""
MERGE (a:Party {{key: $provider.key}}) ON CREATE SET a.name = $provider.name, a.party_id = $provider.party_id
MERGE (b:Party {{key: $recipient.key}}) ON CREATE SET b.name = $recipient.name, b.party_id = $recipient.party_id
MERGE (a)-[l:LEASES {{fact_key: $props.fact_key}}]->(b)
SET l = $props, {dates}
"""


def lease_rows(events: list[Any]) -> list[dict[str, Any]]:
    """One row per event: both party keys and the LEASES properties exactly as the store writes them."""
    from chainrisk.graph.stores.neo4j_store import wire
    from chainrisk.graph.stores.records import fact_props

    return [{"provider": e.provider.key, "recipient": e.recipient.key, "props": wire(fact_props(e))} for e in events]


def party_rows(events: list[Any]) -> list[dict[str, Any]]:
    """The distinct parties of ``events`` (first spelling seen), sorted by key (a stable lock order)."""
    parties: dict[str, dict[str, Any]] = {}
    for e in events:
        for p in (e.provider, e.recipient):
            parties.setdefault(p.key, {"key": p.key, "name": p.name, "party_id": p.id})
    return [parties[k] for k in sorted(parties)]


def batches(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def leases_count(store: Any) -> int:
    with store.driver.session(database=store.database) as session:
        return int(session.run("MATCH ()-[l:LEASES]->() RETURN count(l) AS n").single()["n"])


# --- the three runs --------------------------------------------------------------------------------


@dataclass
class Timing:
    """One run: wall seconds, CPU seconds of this process, CPU seconds of the local Neo4j JVM (None
    when Neo4j is not a local `chainrisk services up` process)."""

    wall: float
    client_cpu: float
    server_cpu: float | None

    @property
    def cpu(self) -> float | None:
        return None if self.server_cpu is None else self.client_cpu + self.server_cpu


class Stopwatch:
    def __init__(self, settings: Any) -> None:
        self.settings = settings

    def __enter__(self) -> Stopwatch:
        self.server = benchlib.service_cpu_s(self.settings, "neo4j")
        self.client = time.process_time()
        self.wall = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        wall, client = time.perf_counter() - self.wall, time.process_time() - self.client
        server = benchlib.service_cpu_s(self.settings, "neo4j")
        self.timing = Timing(wall, client, None if server is None or self.server is None else server - self.server)


def run_consumer_path(store: Any, events: list[Any], batch_size: int, pipelined: bool = True) -> Timing:
    """Apply ``events`` through ``NeoStore.apply_batch``, batch by batch. ``pipelined``: as
    ``chainrisk consume`` does, each next batch's ``prepare_batch`` runs on a worker thread while
    the current batch's transaction runs; otherwise each batch is prepared, then applied."""
    chunks = batches(events, batch_size)

    def apply(index: int, prepared: Any) -> None:
        start = index * batch_size
        chunk = chunks[index]
        store.apply_batch(chunk, {(TOPIC, 0): start + len(chunk)}, GROUP, {(TOPIC, 0): start}, prepared=prepared)

    with Stopwatch(store.settings) as watch:
        if not pipelined:
            for index, chunk in enumerate(chunks):
                apply(index, store.prepare_batch(chunk))
        else:
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="bench-prepare") as worker:
                ahead = worker.submit(store.prepare_batch, chunks[0]) if chunks else None
                for index in range(len(chunks)):
                    prepared = ahead.result()  # type: ignore[union-attr]
                    ahead = worker.submit(store.prepare_batch, chunks[index + 1]) if index + 1 < len(chunks) else None
                    apply(index, prepared)
    return watch.timing


def run_bare_loader(store: Any, events: list[Any], batch_size: int) -> tuple[Timing, float]:
    """(the load, seconds to build the rows beforehand) for the bare MERGE loader."""
    built = time.perf_counter()
    work = [(party_rows(chunk), lease_rows(chunk)) for chunk in batches(events, batch_size)]
    build_s = time.perf_counter() - built
    leases = bare_leases_statement()

    def load(tx: Any, parties: list[dict[str, Any]], rows: list[dict[str, Any]]) -> None:
        tx.run(BARE_PARTIES, rows=parties).consume()
        tx.run(leases, rows=rows).consume()

    with Stopwatch(store.settings) as watch, store.driver.session(database=store.database) as session:
        for parties, rows in work:
            session.execute_write(load, parties, rows)
    return watch.timing, build_s


def run_naive(store: Any, events: list[Any]) -> Timing:
    """Write ``events`` one transaction each."""
    statement = naive_statement()
    rows = lease_rows(events)

    def one(tx: Any, event: Any, row: dict[str, Any]) -> None:
        tx.run(statement, props=row["props"],
               provider={"key": event.provider.key, "name": event.provider.name, "party_id": event.provider.id},
               recipient={"key": event.recipient.key, "name": event.recipient.name, "party_id": event.recipient.id}).consume()

    with Stopwatch(store.settings) as watch, store.driver.session(database=store.database) as session:
        for event, row in zip(events, rows):
            session.execute_write(one, event, row)
    return watch.timing


# --- driver ----------------------------------------------------------------------------------------


def per_event_cpu_ms(timings: list[Timing], events: int) -> float | None:
    """The least CPU (client + Neo4j) per event among the runs, in ms."""
    cpus = [t.cpu for t in timings if t.cpu is not None]
    return 1000 * min(cpus) / events if cpus else None


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from chainrisk.graph.stores.neo4j_store import NeoStore

    settings = benchlib.services_settings(batch_size=args.batch_size)
    work_dir = args.work_dir or benchlib.default_work_dir(settings)
    made = time.perf_counter()
    events = benchlib.lease_hop_events(args.events, args.seed, work_dir)
    make_s = time.perf_counter() - made
    facts = len({e.fact_key for e in events})
    naive_events = events[:args.naive_events]
    naive_facts = len({e.fact_key for e in naive_events})

    store = NeoStore(settings)
    try:
        store.ensure_schema()
        machine = benchlib.machine_line(store)
        benchlib.clear_graph(store, args.wipe)

        def checked(name: str, expected: int) -> None:
            got = leases_count(store)
            if got != expected:
                raise SystemExit(f"{name}: {got:,} LEASES relationships after the run, expected {expected:,}")
            store.wipe()

        consumer_runs: list[Timing] = []
        serial_runs: list[Timing] = []
        bare_runs: list[Timing] = []
        for round_no in range(1, args.repeat + 1):  # alternated, so a busy spell of the machine hits both
            print(f"[{round_no}/{args.repeat}] consumer write path: {len(events):,} events in batches of "
                  f"{settings.batch_size:,} ...", file=sys.stderr)
            consumer_runs.append(run_consumer_path(store, events, settings.batch_size))
            checked("consumer", facts)
            if not args.no_serial:
                print(f"[{round_no}/{args.repeat}] consumer write path, preparation in series ...", file=sys.stderr)
                serial_runs.append(run_consumer_path(store, events, settings.batch_size, pipelined=False))
                checked("consumer, preparation in series", facts)
            print(f"[{round_no}/{args.repeat}] bare UNWIND MERGE loader ...", file=sys.stderr)
            bare, bare_build_s = run_bare_loader(store, events, settings.batch_size)
            bare_runs.append(bare)
            checked("bare", facts)
        print(f"naive, one transaction per event: {len(naive_events):,} events ...", file=sys.stderr)
        naive = run_naive(store, naive_events)
        checked("naive", naive_facts)
        server = benchlib.service_rss_mb(settings, "neo4j")
    finally:
        store.close()

    consumer_s, bare_s = min(t.wall for t in consumer_runs), min(t.wall for t in bare_runs)
    serial_s = min(t.wall for t in serial_runs) if serial_runs else None
    consumer_rate = len(events) / consumer_s
    bare_rate = len(events) / bare_s
    naive_rate = len(naive_events) / naive.wall
    cpu = {"consumer": per_event_cpu_ms(consumer_runs, len(events)), "bare": per_event_cpu_ms(bare_runs, len(events)),
           "serial": per_event_cpu_ms(serial_runs, len(events)),
           "naive": per_event_cpu_ms([naive], len(naive_events))}
    return {
        "machine": machine,
        "load_average": benchlib.load_average(),
        "revision": benchlib.git_revision(),
        "events": len(events),
        "facts": facts,
        "batch_size": settings.batch_size,
        "input_s": round(make_s, 2),
        "repeat": args.repeat,
        "consumer_runs": [asdict(t) for t in consumer_runs],
        "bare_runs": [asdict(t) for t in bare_runs],
        "naive_run": asdict(naive),
        "serial_runs": [asdict(t) for t in serial_runs],
        "serial_s": round(serial_s, 2) if serial_s else None,
        "serial_eps": round(len(events) / serial_s) if serial_s else None,
        "serial_vs_bare": round(bare_s / serial_s, 3) if serial_s else None,
        "consumer_s": round(consumer_s, 2),
        "consumer_eps": round(consumer_rate),
        "bare_s": round(bare_s, 2),
        "bare_build_s": round(bare_build_s, 2),
        "bare_eps": round(bare_rate),
        "naive_events": len(naive_events),
        "naive_s": round(naive.wall, 2),
        "naive_eps": round(naive_rate),
        "consumer_vs_bare": round(consumer_rate / bare_rate, 3),
        "naive_vs_bare": round(naive_rate / bare_rate, 4),
        "consumer_vs_naive": round(consumer_rate / naive_rate, 1),
        "cpu_ms_per_event": cpu,
        "cpu_consumer_vs_bare": round(cpu["bare"] / cpu["consumer"], 3) if cpu["bare"] and cpu["consumer"] else None,
        "peak_rss_mb": round(benchlib.peak_rss_mb()),
        "neo4j_rss_mb": round(server[0]) if server else None,
        "neo4j_peak_rss_mb": round(server[1]) if server else None,
    }


def report(r: dict[str, Any]) -> str:
    verdict = "met" if r["consumer_vs_bare"] >= GOAL_RATIO else "MISSED"
    server = f"; Neo4j JVM RSS {r['neo4j_rss_mb']:,} MB (peak {r['neo4j_peak_rss_mb']:,} MB)" if r["neo4j_rss_mb"] else ""
    cpu = r["cpu_ms_per_event"]

    def cpu_text(name: str) -> str:
        return f"{cpu[name]:>10.3f}" if cpu[name] is not None else f"{'?':>10}"

    walls = lambda runs: ", ".join(f"{t['wall']:.1f}" for t in runs)  # noqa: E731
    lines = [
        f"Neo4j writes, {r['machine']} (load {r['load_average']}, rev {r['revision']})",
        f"{r['events']:,} lease-hop events ({r['facts']:,} facts), batch size {r['batch_size']:,}; input made in {r['input_s']} s",
        f"{'run':<34} {'events':>9} {'seconds':>9} {'events/s':>10} {'x bare':>8} {'CPU ms/ev':>10}",
        f"{'consumer (NeoStore.apply_batch)':<34} {r['events']:>9,} {r['consumer_s']:>9.2f} {r['consumer_eps']:>10,} "
        f"{r['consumer_vs_bare']:>8.2f} {cpu_text('consumer')}",
        *([f"{'  same, preparation in series':<34} {r['events']:>9,} {r['serial_s']:>9.2f} {r['serial_eps']:>10,} "
           f"{r['serial_vs_bare']:>8.2f} {cpu_text('serial')}"] if r["serial_s"] else []),
        f"{'bare UNWIND MERGE (the limit)':<34} {r['events']:>9,} {r['bare_s']:>9.2f} {r['bare_eps']:>10,} {1.0:>8.2f} {cpu_text('bare')}",
        f"{'naive: 1 transaction per event':<34} {r['naive_events']:>9,} {r['naive_s']:>9.2f} {r['naive_eps']:>10,} "
        f"{r['naive_vs_bare']:>8.3f} {cpu_text('naive')}",
        f"consumer = {r['consumer_vs_bare']:.2f}x bare, {r['consumer_vs_naive']:.1f}x naive; goal >= {GOAL_RATIO}x bare: {verdict}"
        + (f"; by CPU per event (client + Neo4j) consumer = {r['cpu_consumer_vs_bare']:.2f}x bare" if r["cpu_consumer_vs_bare"] else ""),
        f"(best of {r['repeat']} alternated run(s) each, wall s: consumer {walls(r['consumer_runs'])}; "
        f"in series {walls(r['serial_runs']) or '-'}; bare {walls(r['bare_runs'])}; "
        f"bare rows built beforehand in {r['bare_build_s']} s, not timed; naive on the first {r['naive_events']:,} events only; "
        f"peak RSS of this process {r['peak_rss_mb']:,} MB{server})",
        benchlib.figures_line("neo4j_writes", events=r["events"], consumer_eps=r["consumer_eps"], bare_eps=r["bare_eps"],
                              naive_eps=r["naive_eps"], consumer_vs_bare=r["consumer_vs_bare"], naive_vs_bare=r["naive_vs_bare"],
                              cpu_consumer_vs_bare=r["cpu_consumer_vs_bare"], peak_rss_mb=r["peak_rss_mb"]),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000, help="lease-hop events for the consumer and bare runs")
    parser.add_argument("--naive-events", type=int, default=2_000, help="events for the one-transaction-per-event run")
    parser.add_argument("--batch-size", type=int, default=None, help="events per transaction (default: the configured batch_size)")
    parser.add_argument("--repeat", type=int, default=2, help="consumer and bare runs, alternated; the best of each counts (noisy machine)")
    parser.add_argument("--no-serial", action="store_true",
                        help="skip the consumer run that prepares each batch before applying it instead of on a worker thread")
    benchlib.add_common_options(parser, seed=7, smoke="4,000 events, 300 naive: about 10 s", topics=False)
    args = parser.parse_args(argv)
    if args.smoke:
        args.events, args.naive_events, args.repeat = min(args.events, 4_000), min(args.naive_events, 300), 1
    args.naive_events = min(args.naive_events, args.events)
    benchlib.print_result(measure(args), report, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
