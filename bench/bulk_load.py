"""Bulk first load against streaming, side by side in one run: the same lease-hop events (from a
seeded synthetic register) are published once to fresh Kafka topics, then

1. streaming: an empty Neo4j, ``consume --until-idle`` (the consumer loop in process, default batch
   size, alerts and continuous analysis off) from the topics;
2. bulk: the same Neo4j emptied again, ``chainrisk load`` (graph/bulk.py: fold in memory, CSV,
   Neo4j stopped, ``neo4j-admin database import``, Neo4j started, schema) from the same topics;

and the two graphs' canonical dumps are compared (digest of the sorted dump; ``--no-compare``
skips it: reading a million-relationship dump takes a while). Prints events/s of each, the ratio,
each stage's seconds and the CPU seconds of this process (with the import tool, a child) and of
the Neo4j JVM(s).

The import stops and starts Neo4j, so the benchmark runs a Neo4j of its own (state folder
``--neo4j-dir``, ports ``--bolt-port`` / ``--http-port``, the configured state folder's jars) and
stops it at the end; Kafka is the configured one (topics of this run only, deleted at the end).

    python bench/bulk_load.py                      # 1,000,000 events
    python bench/bulk_load.py --events 200000
    python bench/bulk_load.py --smoke              # 3,000 events
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import time
from pathlib import Path
from typing import Any

import benchlib

GOAL_RATIO = 5.0


def cpu_self_s() -> float:
    """CPU seconds of this process and its waited-for children (the neo4j-admin import tool)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def dump_digest(settings: Any) -> tuple[str, int, int]:
    from chainrisk.graph.stores.neo4j_store import NeoStore

    store = NeoStore(settings)
    try:
        dump = store.canonical_dump()
    finally:
        store.close()
    digest = hashlib.sha256()
    for part in ("nodes", "relationships"):
        for item in dump[part]:
            digest.update(json.dumps(item, sort_keys=True, default=str).encode() + b"\n")
    return digest.hexdigest()[:16], len(dump["nodes"]), len(dump["relationships"])


def empty(settings: Any) -> None:
    from chainrisk.graph.stores.neo4j_store import NeoStore

    store = NeoStore(settings)
    try:
        store.ensure_schema()
        store.wipe()
    finally:
        store.close()


def run(args: argparse.Namespace) -> dict[str, Any]:
    from chainrisk.graph.bulk import bulk_load
    from chainrisk.graph.consumer import ConsumerOptions, consume
    from chainrisk.graph.eventlog.kafka_io import KafkaSink, topic_names
    from chainrisk.graph.services import runner

    base = benchlib.services_settings()
    run_settings, _ = benchlib.fresh_run(base, "bulk", alerts=False, continuous_analysis=False)
    jars = base.jars_dir or Path(base.state_dir).resolve() / "jars"
    own = run_settings.model_copy(update={"state_dir": Path(args.neo4j_dir), "neo4j_uri": f"bolt://127.0.0.1:{args.bolt_port}",
                                          "neo4j_http_port": args.http_port, "jars_dir": jars, "neo4j_password": None})
    events = benchlib.lease_hop_events(args.events, args.seed, args.work_dir or benchlib.default_work_dir(base))
    result: dict[str, Any] = {"events": len(events)}
    runner.up(own, only=(runner.NEO4J,))
    try:
        started = time.monotonic()
        sink = KafkaSink(own, quiet=True)
        for event in events:
            sink.publish(event)
        sink.close()
        result["publish_s"] = time.monotonic() - started
        del events

        empty(own)
        cpu, neo_cpu = cpu_self_s(), benchlib.service_cpu_s(own, "neo4j") or 0.0
        started = time.monotonic()
        stats = consume(own, options=ConsumerOptions(group=f"{own.consumer_group}-stream", batch_size=own.batch_size, until_idle=True,
                                                     metrics_interval_s=30))
        result["stream_s"] = time.monotonic() - started
        result["stream_cpu_s"] = cpu_self_s() - cpu
        result["stream_neo4j_cpu_s"] = (benchlib.service_cpu_s(own, "neo4j") or 0.0) - neo_cpu
        result["stream_records"] = stats.records
        if not args.no_compare:
            result["stream_digest"], result["nodes"], result["relationships"] = dump_digest(own)

        empty(own)
        cpu, neo_cpu = cpu_self_s(), benchlib.service_cpu_s(own, "neo4j") or 0.0
        stopped_cpu = {"before": 0.0}

        def progress(message: str) -> None:
            if message.startswith("stopping neo4j"):  # the JVM's CPU up to the import's stop
                stopped_cpu["before"] = (benchlib.service_cpu_s(own, "neo4j") or 0.0) - neo_cpu
            print(f"[bulk] {message}", flush=True)

        started = time.monotonic()
        loaded = bulk_load(own.model_copy(update={"consumer_group": f"{own.consumer_group}-bulk"}), source="topics", progress=progress)
        result["bulk_s"] = time.monotonic() - started
        result["bulk_cpu_s"] = cpu_self_s() - cpu
        result["bulk_neo4j_cpu_s"] = stopped_cpu["before"] + (benchlib.service_cpu_s(own, "neo4j") or 0.0)
        result["bulk_records"] = loaded.consumed.records
        result["peak_rss_mb"] = benchlib.peak_rss_mb()  # of this process: the events made, streaming, then the fold
        for stage, seconds in loaded.seconds.items():
            result[f"bulk_{stage}_s"] = seconds
        if not args.no_compare:
            result["bulk_digest"], bulk_nodes, bulk_rels = dump_digest(own)
            result["identical"] = result["bulk_digest"] == result["stream_digest"]
        result["stream_eps"] = result["stream_records"] / result["stream_s"]
        result["bulk_eps"] = result["bulk_records"] / result["bulk_s"]
        result["ratio"] = result["bulk_eps"] / result["stream_eps"]
        result["machine"] = benchlib.machine_line()
        result["load_average"] = benchlib.load_average()
        result["commit"] = benchlib.git_revision()
        benchlib.delete_topics(own, topic_names(own))
    finally:
        if not args.keep_neo4j:
            runner.down(own, only=(runner.NEO4J,))
    return result


def report(r: dict[str, Any]) -> str:
    stages = ", ".join(f"{s} {r[f'bulk_{s}_s']:.1f} s" for s in ("fold", "files", "import", "schema") if f"bulk_{s}_s" in r)
    lines = [
        f"{r['events']:,} lease-hop events ({r.get('nodes', '?')} nodes, {r.get('relationships', '?')} relationships); "
        f"{r['machine']}; load {r['load_average']}; commit {r['commit']}",
        "| run | seconds | events/s | x streaming | CPU s Python (+ import tool) | CPU s Neo4j |",
        "|---|---:|---:|---:|---:|---:|",
        f"| streaming (`consume --until-idle`) | {r['stream_s']:.1f} | {r['stream_eps']:,.0f} | 1.00 | {r['stream_cpu_s']:.0f} | "
        f"{r['stream_neo4j_cpu_s']:.0f} |",
        f"| bulk (`chainrisk load`: {stages}) | {r['bulk_s']:.1f} | {r['bulk_eps']:,.0f} | **{r['ratio']:.2f}** | "
        f"{r['bulk_cpu_s']:.0f} | {r['bulk_neo4j_cpu_s']:.0f} |",
    ]
    lines.append(f"peak RSS of the benchmark process (events generated, streaming, the fold): {r['peak_rss_mb']:,.0f} MB")
    if "identical" in r:
        lines.append(f"canonical dumps: streamed {r['stream_digest']}, bulk {r['bulk_digest']}: "
                     f"{'identical' if r['identical'] else 'DIFFERENT'}")
    lines.append(f"goal >= {GOAL_RATIO:.0f}x streaming: {'met' if r['ratio'] >= GOAL_RATIO else 'missed'} ({r['ratio']:.2f}x)")
    lines.append(benchlib.figures_line("bulk_load", events=r["events"], stream_eps=r["stream_eps"], bulk_eps=r["bulk_eps"],
                                       ratio=r["ratio"], bulk_s=r["bulk_s"], stream_s=r["stream_s"],
                                       identical=int(r.get("identical", True))))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--neo4j-dir", default=f"/tmp/chainrisk-bench-bulk-{os.getuid()}", help="the benchmark's own Neo4j state folder")
    parser.add_argument("--bolt-port", type=int, default=27687)
    parser.add_argument("--http-port", type=int, default=27474)
    parser.add_argument("--keep-neo4j", action="store_true", help="leave the benchmark's Neo4j running")
    parser.add_argument("--no-compare", action="store_true", help="skip reading both graphs' canonical dumps")
    benchlib.add_common_options(parser, seed=20261203, smoke="3,000 events")
    args = parser.parse_args()
    if args.smoke:
        args.events = 3000
    benchlib.print_result(run(args), report, args.json)


if __name__ == "__main__":
    main()
