"""End to end on the services backend: N lease-hop rows from a register file -> Kafka -> Neo4j ->
analysis written back, with seconds per stage and in all.

Stages, one after another, each in its own Python process (so each peak RSS is its own):

0. input: a seeded synthetic register (``chainrisk.synthetic``, the `chainrisk generate`
   format) with at least N rows, generated once and cached (not part of the total);
1. ingest: the `chainrisk ingest leases` path - ``run_ingest`` with the leases worker into the
   ``KafkaSink`` (``open_sink``), stopping after N events, until Kafka acknowledged all of them;
2. consume: the `chainrisk consume --until-idle` path - ``graph.consumer.consume`` (Kafka source,
   ``NeoStore``, alerts as configured) in a fresh consumer group until every partition is read;
3. analyse: the `chainrisk analyze` path - ``load_portfolio`` + ``analyse_portfolio`` +
   ``analysis_rows`` + ``write_analysis``.

With ``--overlap`` stages 1 and 2 run at the same time, as with a `chainrisk consume` that is
always running: the total is then from the ingest's start to the last event applied, plus stage 3.

Each run uses fresh topics ``<topic_prefix>.bench-e2e-<run id>.*`` (deleted at the end unless
``--keep-topics``) and leaves the graph in Neo4j for a look in Browser.

    python bench/end_to_end.py --wipe                    # 1,000,000 events (the goal: <= 300 s)
    python bench/end_to_end.py --overlap --wipe          # the consumer runs while ingest publishes
    python bench/end_to_end.py --smoke --wipe            # 3,000 events, ~15 s
    python bench/end_to_end.py --events 200000 --batch-size 5000 --wipe

Settings come from the normal configuration (CHAINRISK_* / chainrisk.toml), on the services
backend. The database must be empty, or ``--wipe`` given: the run deletes everything in it.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import benchlib

GOAL_SECONDS = 300.0
OVERLAP_TIMEOUT_S = 3600.0
AS_OF = date(2026, 11, 1)  # the synthetic register's data date: the same figures every day


# --- the stages (each runs in its own process) ---------------------------------------------------


def stage_ingest(settings: Any, register: Path, events: int) -> dict[str, Any]:
    from chainrisk.graph.backend import open_sink
    from chainrisk.ingest import leases
    from chainrisk.ingest.common import run_ingest

    started = time.perf_counter()
    sink = open_sink(settings)
    try:
        summary = run_ingest(leases.parse, [register], sink, limit=events)
    finally:
        sink.close()  # flushes: every message acknowledged by Kafka
    seconds = time.perf_counter() - started
    if summary.rejects or summary.files_failed:
        raise SystemExit(f"ingest: {summary.rejects} rejects, failed files {summary.files_failed}")
    return {"events": summary.events, "seconds": seconds, "parse_publish_s": summary.seconds}


def applied_offsets(settings: Any) -> int:
    """Events of this run's group the graph holds: the sum of its stored next offsets (the whole
    group's, whichever consumer process applied them)."""
    from chainrisk.graph.stores.neo4j_store import NeoStore

    store = NeoStore(settings)
    try:
        return sum(store.stored_offsets(settings.consumer_group).values())
    finally:
        store.close()


def stage_consume(settings: Any, expect: int = 0) -> dict[str, Any]:
    import logging

    from chainrisk.graph.consumer import consume

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="  %(asctime)s %(name)s %(message)s")
    for noisy in ("kafka", "neo4j"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    for handler in logging.getLogger().handlers:  # keep the metrics lines, not the list of 18 partitions
        handler.addFilter(lambda record: not record.getMessage().startswith("partitions"))
    started = time.perf_counter()
    runs = [consume(settings, until_idle=True)]
    # --overlap: ingest may still be publishing, so caught up is not done until the graph has them all
    while expect and applied_offsets(settings) < expect and time.perf_counter() - started < OVERLAP_TIMEOUT_S:
        time.sleep(0.5)
        runs.append(consume(settings, until_idle=True))
    seconds = time.perf_counter() - started
    batch_seconds = [b for r in runs for b in r.batch_seconds]
    return {"records": sum(r.records for r in runs), "applied": sum(r.applied for r in runs), "stale": sum(r.stale for r in runs),
            "duplicate": sum(r.duplicate for r in runs), "dead_lettered": sum(r.dead_lettered for r in runs),
            "batches": len(batch_seconds), "consumer_runs": len(runs), "seconds": seconds,
            "batch_s_avg": sum(batch_seconds) / max(1, len(batch_seconds)), "batch_s_max": max(batch_seconds, default=0.0)}


def stage_analyse(settings: Any) -> dict[str, Any]:
    from chainrisk.analysis.blocks import analyse_portfolio
    from chainrisk.analysis.writeback import analysis_rows
    from chainrisk.graph.stores.neo4j_store import NeoStore

    store = NeoStore(settings)
    try:
        t0 = time.perf_counter()
        portfolio = store.load_portfolio()
        t1 = time.perf_counter()
        analysis = analyse_portfolio(portfolio, AS_OF)
        t2 = time.perf_counter()
        block_rows, spof_rows = analysis_rows(analysis, datetime.now(timezone.utc).replace(microsecond=0))
        store.write_analysis(block_rows, spof_rows)
        t3 = time.perf_counter()
    finally:
        store.close()
    return {"hops": len(portfolio.hops), "blocks": len(analysis.blocks), "spof_rows": len(spof_rows),
            "load_s": t1 - t0, "analyse_s": t2 - t1, "write_s": t3 - t2, "seconds": t3 - t0}


def servers_cpu_s(settings: Any) -> dict[str, float | None]:
    """CPU seconds the local Neo4j and Kafka JVMs have used so far (None when not local)."""
    return {name: benchlib.service_cpu_s(settings, name) for name in ("neo4j", "kafka")}


def cpu_spent(before: dict[str, float | None], after: dict[str, float | None]) -> dict[str, float | None]:
    return {name: None if before[name] is None or after[name] is None else after[name] - before[name] for name in before}


def start_stage(name: str, env: dict[str, str], extra: list[str]) -> tuple[str, subprocess.Popen[str], float]:
    """Start one stage in a child process."""
    process = subprocess.Popen([sys.executable, __file__, "--stage", name, *extra], env=env, stdout=subprocess.PIPE, text=True)
    return name, process, time.perf_counter()


def finish_stage(stage: tuple[str, subprocess.Popen[str], float]) -> dict[str, Any]:
    """Wait for a stage; its figures (JSON, last stdout line) plus its wall time from start to exit."""
    name, process, started = stage
    out, _ = process.communicate()
    wall = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"stage {name} failed (exit {process.returncode}); its errors are above")
    figures = json.loads(out.strip().splitlines()[-1])
    figures["wall_s"] = wall
    return figures


def merge_consumers(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """The figures of the consumer processes that ran at the same time in one group, as one stage."""
    if len(parts) == 1:
        return parts[0]
    merged: dict[str, Any] = {key: sum(p[key] for p in parts) for key in
                              ("records", "applied", "stale", "duplicate", "dead_lettered", "batches", "consumer_runs", "cpu_s")}
    merged.update(seconds=max(p["seconds"] for p in parts), wall_s=max(p["wall_s"] for p in parts),
                  peak_rss_mb=max(p["peak_rss_mb"] for p in parts), batch_s_max=max(p["batch_s_max"] for p in parts),
                  batch_s_avg=sum(p["batch_s_avg"] * p["batches"] for p in parts) / max(1, merged["batches"]))
    return merged


def run_stage(name: str, env: dict[str, str], extra: list[str], settings: Any) -> dict[str, Any]:
    """One stage, with the CPU the servers spent meanwhile (``server_cpu_s``)."""
    before = servers_cpu_s(settings)
    figures = finish_stage(start_stage(name, env, extra))
    figures["server_cpu_s"] = cpu_spent(before, servers_cpu_s(settings))
    return figures


def child_main(args: argparse.Namespace) -> int:
    settings = benchlib.services_settings(batch_size=args.batch_size)
    if args.stage == "ingest":
        figures = stage_ingest(settings, args.register, args.events)
    elif args.stage == "consume":
        figures = stage_consume(settings, args.expect)
    else:
        figures = stage_analyse(settings)
    figures["peak_rss_mb"] = benchlib.peak_rss_mb()
    # the stage's own CPU plus its finished children's (the ingest's publisher processes)
    figures["cpu_s"] = sum(u.ru_utime + u.ru_stime for u in (resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)))
    print(json.dumps(figures))
    return 0


# --- the run -----------------------------------------------------------------------------------------


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from chainrisk.graph.eventlog.kafka_io import topic_names

    settings = benchlib.services_settings(batch_size=args.batch_size)
    run_settings, env = benchlib.fresh_run(settings, "e2e", batch_size=args.batch_size)
    prefix, group = run_settings.topic_prefix, run_settings.consumer_group
    machine = benchlib.prepare_graph(settings, args.wipe)

    t = time.perf_counter()
    register = benchlib.register_file(args.events, args.seed, args.work_dir or benchlib.default_work_dir(settings))
    input_s = time.perf_counter() - t
    print(f"input: {register} ({input_s:.1f} s)", file=sys.stderr)
    common = ["--batch-size", str(settings.batch_size)]
    ingest_args = common + ["--register", str(register), "--events", str(args.events)]
    stages: dict[str, dict[str, Any]] = {}
    pipeline_s = None
    try:
        if args.overlap:
            print(f"1+2/3 ingest {args.events:,} events into Kafka topics {prefix}.* while consuming them into Neo4j "
                  f"(group {group}) ...", file=sys.stderr)
            started = time.perf_counter()
            before = servers_cpu_s(settings)
            ingest = start_stage("ingest", env, ingest_args)
            consumers = [start_stage("consume", env, common + ["--expect", str(args.events)]) for _ in range(args.consumers)]
            stages["ingest"] = finish_stage(ingest)
            stages["consume"] = merge_consumers([finish_stage(c) for c in consumers])
            stages["consume"]["server_cpu_s"] = cpu_spent(before, servers_cpu_s(settings))  # both stages' share
            stages["ingest"]["server_cpu_s"] = {"neo4j": None, "kafka": None}
            pipeline_s = time.perf_counter() - started
        else:
            print(f"1/3 ingest {args.events:,} events into Kafka topics {prefix}.* ...", file=sys.stderr)
            stages["ingest"] = run_stage("ingest", env, ingest_args, settings)
            print(f"2/3 consume into Neo4j (group {group}, {args.consumers} consumer process(es)) ...", file=sys.stderr)
            before = servers_cpu_s(settings)  # every event is in Kafka already: caught up is done
            consumers = [start_stage("consume", env, common) for _ in range(args.consumers)]
            stages["consume"] = merge_consumers([finish_stage(c) for c in consumers])
            stages["consume"]["server_cpu_s"] = cpu_spent(before, servers_cpu_s(settings))
        print("3/3 analyse and write back ...", file=sys.stderr)
        stages["analyse"] = run_stage("analyse", env, common, settings)
    finally:
        if not args.keep_topics:
            benchlib.delete_topics(run_settings, topic_names(run_settings))
    server = benchlib.service_rss_mb(settings, "neo4j")
    kafka = benchlib.service_rss_mb(settings, "kafka")
    if stages["consume"]["applied"] != stages["ingest"]["events"] or stages["consume"]["dead_lettered"]:
        raise SystemExit(f"the consumer applied {stages['consume']['applied']:,} of {stages['ingest']['events']:,} events "
                         f"({stages['consume']['dead_lettered']} dead-lettered)")
    if pipeline_s is None:
        total = sum(s["seconds"] for s in stages.values())
    else:  # ingest and consume ran at the same time: from the first byte read to the last event applied
        total = pipeline_s + stages["analyse"]["seconds"]
    cpu_parts = [st.get("cpu_s") for st in stages.values()]
    cpu_parts += [v for st in stages.values() for v in st.get("server_cpu_s", {}).values() if v is not None]
    local_servers = stages["analyse"]["server_cpu_s"]["neo4j"] is not None
    return {
        "cpu_total_s": sum(v for v in cpu_parts if v is not None) if local_servers else None,
        "machine": machine, "load_average": benchlib.load_average(), "revision": benchlib.git_revision(),
        "events": stages["ingest"]["events"], "batch_size": settings.batch_size, "topic_partitions": settings.topic_partitions,
        "alerts": settings.alerts, "overlap": pipeline_s is not None, "consumers": args.consumers,
        "pipeline_s": pipeline_s, "input_s": round(input_s, 1), "stages": stages, "total_s": round(total, 2),
        "total_wall_s": round(sum(s["wall_s"] for s in stages.values()) if pipeline_s is None
                              else max(stages["ingest"]["wall_s"], stages["consume"]["wall_s"]) + stages["analyse"]["wall_s"], 1),
        "events_per_s": round(stages["ingest"]["events"] / total),
        "neo4j_rss_mb": round(server[0]) if server else None, "neo4j_peak_rss_mb": round(server[1]) if server else None,
        "kafka_rss_mb": round(kafka[0]) if kafka else None,
    }


def report(r: dict[str, Any]) -> str:
    s = r["stages"]
    n = r["events"]
    verdict = "met" if r["total_s"] <= GOAL_SECONDS else "MISSED"
    peak = max(st["peak_rss_mb"] for st in s.values())
    lines = [
        f"End to end, {r['machine']} (load {r['load_average']}, rev {r['revision']})",
        f"{n:,} lease-hop events, batch size {r['batch_size']:,}, {r['topic_partitions']} partitions, alerts "
        f"{'on' if r['alerts'] else 'off'}, {'ingest and consumer at the same time' if r['overlap'] else 'one stage after the other'}, "
        f"{r['consumers']} consumer process(es); "
        f"input register ready in {r['input_s']} s (not counted)",
        f"{'stage':<44} {'seconds':>8} {'events/s':>10} {'share':>6} {'peak RSS':>9}   CPU s: {'python':>6} {'neo4j':>6} {'kafka':>6}",
    ]

    def cpu_text(stage: dict[str, Any] | None) -> str:
        if stage is None:
            return ""
        server = stage.get("server_cpu_s", {})
        values = [stage.get("cpu_s"), server.get("neo4j"), server.get("kafka")]
        return "          " + " ".join(f"{v:>6.0f}" if v is not None else f"{'-':>6}" for v in values)

    def row(label: str, seconds: float, rss: float | None, stage: dict[str, Any] | None = None) -> str:
        per_s = f"{n / seconds:>10,.0f}" if seconds > 0 else f"{'':>10}"
        rss_text = f"{rss:>6.0f} MB" if rss is not None else ""
        return f"{label:<44} {seconds:>8.1f} {per_s} {seconds / r['total_s']:>6.0%} {rss_text:>9} {cpu_text(stage)}"

    lines.append(row("1 ingest: parse + publish to Kafka (acked)", s["ingest"]["seconds"], s["ingest"]["peak_rss_mb"], s["ingest"]))
    lines.append(row("2 consume: Kafka -> Neo4j" + (" (from ingest start)" if r["overlap"] else ""), s["consume"]["seconds"],
                     s["consume"]["peak_rss_mb"], s["consume"]))
    if r["overlap"]:
        lines.append(row("1+2 at the same time: file -> Neo4j", r["pipeline_s"], None))
    lines.append(row("3 analyse: load + analyse + write back", s["analyse"]["seconds"], s["analyse"]["peak_rss_mb"], s["analyse"]))
    lines.append(f"{'    load_portfolio':<44} {s['analyse']['load_s']:>8.1f}")
    lines.append(f"{'    analyse_portfolio':<44} {s['analyse']['analyse_s']:>8.1f}")
    lines.append(f"{'    analysis_rows + write_analysis':<44} {s['analyse']['write_s']:>8.1f}")
    lines.append(row("total", r["total_s"], peak))
    cpu_total = r["cpu_total_s"]
    if cpu_total is not None:
        lines.append(f"CPU: {cpu_total:,.0f} core-seconds in all (Python stages + Neo4j + Kafka JVMs) = {cpu_total / r['total_s']:.2f} "
                     f"cores busy on average; the 2 cores give {2 * GOAL_SECONDS:,.0f} core-seconds in {GOAL_SECONDS:.0f} s, "
                     f"minus whatever else runs (load average {r['load_average']})")
    lines.append(f"goal <= {GOAL_SECONDS:.0f} s: {verdict} ({r['total_s'] / GOAL_SECONDS:.2f}x the budget; "
                 f"{r['events_per_s']:,} events/s end to end)")
    lines.append(f"(consumer: {s['consume']['batches']:,} batches in {s['consume']['consumer_runs']} consume run(s), "
                 f"avg {s['consume']['batch_s_avg'] * 1000:.0f} ms, max "
                 f"{s['consume']['batch_s_max'] * 1000:.0f} ms per transaction; analysis: {s['analyse']['blocks']:,} blocks, "
                 f"{s['analyse']['hops']:,} hops, {s['analyse']['spof_rows']:,} SPOF rows; with process start-up "
                 f"{r['total_wall_s']} s; Neo4j JVM RSS {r['neo4j_rss_mb']} MB, Kafka JVM RSS {r['kafka_rss_mb']} MB)")
    lines.append(benchlib.figures_line(
        "end_to_end", events=n, total_s=r["total_s"], events_per_s=r["events_per_s"], ingest_s=round(s["ingest"]["seconds"], 1),
        consume_s=round(s["consume"]["seconds"], 1), analyse_s=round(s["analyse"]["seconds"], 1),
        vs_goal=round(r["total_s"] / GOAL_SECONDS, 3), overlap=int(r["overlap"]), peak_rss_mb=round(peak)))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="lease-hop rows to push through (default 1,000,000)")
    parser.add_argument("--batch-size", type=int, default=None, help="consumer events per transaction (default: the configured batch_size)")
    benchlib.add_common_options(parser, seed=7, smoke="3,000 events: about 10 s")
    parser.add_argument("--overlap", action="store_true",
                        help="run the consumer while ingest publishes (as a running `chainrisk consume` would) instead of after it")
    parser.add_argument("--consumers", type=int, default=1, help="consumer processes in one group (stage 2)")
    parser.add_argument("--stage", choices=["ingest", "consume", "analyse"], help=argparse.SUPPRESS)
    parser.add_argument("--expect", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--register", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.stage:
        return child_main(args)
    if args.smoke:
        args.events = min(args.events, 3_000)
    benchlib.print_result(measure(args), report, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
