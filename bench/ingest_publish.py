"""The ingest stage alone: N lease-hop rows of a register file -> leases worker -> KafkaSink -> acked by
Kafka (the `chainrisk ingest leases` path, stage 1 of bench/end_to_end.py), with the CPU seconds it
costs per event; with ``--baseline REV`` the same run of the code at git revision REV, in the same
session, and the ratio.

Each variant runs in its own child process (so its CPU time and peak RSS are its own) into fresh
topics ``<topic_prefix>.bench-ingest-<run id>.*`` (deleted at the end unless ``--keep-topics``). The
baseline's ``chainrisk`` packages are ``git archive REV`` unpacked in a temporary folder, put first on
the child's ``sys.path``. ``--verify`` also parses the first N rows once more per variant (fixed
ingested time, no Kafka) and compares a sha256 of every (key, partition, value) in order: the
baseline and the current code must publish the same bytes to the same partitions.

    python bench/ingest_publish.py --baseline 44a9487 --verify     # 1,000,000 events, both variants
    python bench/ingest_publish.py --events 200000 --repeat 2     # current code only, twice
    python bench/ingest_publish.py --smoke --baseline HEAD --verify  # 3,000 events, ~20 s
    python bench/ingest_publish.py --processes 1,2,3 --repeat 3   # publisher processes, alternated

The machine is shared: compare CPU seconds per event (user + system, all threads, the publisher
processes included), and wall time only between variants run alternately (``--repeat``).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import benchlib

PARTITIONS_FOR_VERIFY = 6  # the partition count the fingerprint assumes (Settings.topic_partitions' default)
FIXED_INGESTED_AT = datetime(2026, 1, 1, tzinfo=timezone.utc)


# --- in the child ------------------------------------------------------------------------------------


def stage_publish(register: Path, events: int) -> dict[str, Any]:
    """Publish the first ``events`` rows through the leases worker into Kafka, until all are acked
    (with ``CHAINRISK_PUBLISH_PROCESSES`` publisher processes where the code has them)."""
    from chainrisk.ingest import leases
    from chainrisk.ingest.common import run_ingest

    settings = benchlib.services_settings()
    # (not an ImportError test: the editable install's finder would find this checkout's module for an old revision)
    if "publish_processes" in type(settings).model_fields:
        from chainrisk.graph.eventlog.kafka_publish import open_kafka_sink

        sink = open_kafka_sink(settings, quiet=True)  # creates this run's topics
    else:  # a revision before parallel publishing
        from chainrisk.graph.eventlog.kafka_io import KafkaSink

        sink = KafkaSink(settings, quiet=True)
    cpu_before, children_before, started = process_cpu_s(), children_cpu_s(), time.perf_counter()
    try:
        summary = run_ingest(leases.parse, [register], sink, limit=events)
    finally:
        sink.close()  # flushes: every message acknowledged; publisher processes waited for
    seconds = time.perf_counter() - started
    parent_cpu, children_cpu = process_cpu_s() - cpu_before, children_cpu_s() - children_before
    cpu = parent_cpu + children_cpu
    if summary.rejects or summary.files_failed:
        raise SystemExit(f"ingest: {summary.rejects} rejects, failed files {summary.files_failed}")
    return {"events": summary.events, "seconds": seconds, "cpu_s": cpu, "parent_cpu_s": parent_cpu, "process_cpu_s": process_cpu_s(),
            "peak_rss_mb": benchlib.peak_rss_mb(), "leases_module": leases.__file__}


def stage_fingerprint(register: Path, events: int) -> dict[str, Any]:
    """sha256 over (key, partition, value) of the first ``events`` events, ingested at a fixed time."""
    from kafka.partitioner.default import murmur2

    from chainrisk.graph.eventlog import kafka_io
    from chainrisk.ingest import leases
    from chainrisk.ingest.common import ParseContext, Reject, SourceFile

    def default_partition(key: bytes, partitions: int) -> int:
        return (murmur2(key) & 0x7FFFFFFF) % partitions

    # the partition the variant's KafkaSink sends to: its own choice where it makes one
    partition_of = getattr(kafka_io, "key_partition", default_partition)
    digest, count = hashlib.sha256(), 0
    with SourceFile(register) as src:
        for item in leases.parse(src, ParseContext(reference=str(register), ingested_at=FIXED_INGESTED_AT)):
            if isinstance(item, Reject):
                continue
            key = item.block.encode()
            partition = partition_of(key, PARTITIONS_FOR_VERIFY)
            for part in (key, str(partition).encode(), item.event_id.encode(), item.to_json()):
                digest.update(len(part).to_bytes(4, "big") + part)
            count += 1
            if count >= events:
                break
    return {"events": count, "sha256": digest.hexdigest()}


def process_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def children_cpu_s() -> float:
    """CPU seconds of this process's finished, waited-for children (the publisher processes)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# --- the parent --------------------------------------------------------------------------------------


def run_child(stage: str, args: argparse.Namespace, env: dict[str, str], code_path: Path | None) -> dict[str, Any]:
    child_env = dict(env)
    if code_path is not None:
        child_env["PYTHONPATH"] = os.pathsep.join([str(code_path), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    done = subprocess.run([sys.executable, __file__, "--stage", stage, "--register", str(args.register), "--events", str(args.events)],
                          env=child_env, stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"stage {stage} failed (exit {done.returncode}); its errors are above")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from chainrisk.graph.eventlog.kafka_io import topic_names

    settings = benchlib.services_settings()
    args.register = benchlib.register_file(args.events, args.seed, args.work_dir or benchlib.default_work_dir(settings))
    result: dict[str, Any] = {"events": args.events, "register": str(args.register), "machine": benchlib.machine_line(),
                              "revision": benchlib.git_revision(), "baseline": args.baseline, "runs": []}
    with tempfile.TemporaryDirectory(prefix="ingest-baseline-") as scratch:
        # (name, code folder or None for this checkout, publisher processes or None for the configured)
        variants: list[tuple[str, Path | None, int | None]] = [
            (f"current p={n}" if len(args.processes) > 1 or n is not None else "current", None, n) for n in args.processes]
        if args.baseline:
            variants.insert(0, (f"baseline {args.baseline}", benchlib.unpack_revision(args.baseline, Path(scratch)), None))
        for _ in range(args.repeat):
            for name, code_path, processes in variants:
                run_settings, env = benchlib.fresh_run(settings, "ingest", publish_processes=processes)
                try:
                    figures = run_child("publish", args, env, code_path)
                finally:
                    if not args.keep_topics:
                        benchlib.delete_topics(run_settings, topic_names(run_settings))
                figures.update(variant=name, load=benchlib.load_average())
                result["runs"].append(figures)
                print(f"  {name:<22} {figures['events']:>9,} events {figures['seconds']:7.1f} s wall "
                      f"{figures['cpu_s']:7.1f} s CPU  (load {figures['load']})", file=sys.stderr, flush=True)
        if args.verify:
            # once per code: the partitions a record gets do not depend on the publisher processes
            codes = {"current": None, **{name: path for name, path, _p in variants if path is not None}}
            result["fingerprints"] = {name: run_child("fingerprint", args, dict(os.environ), path) for name, path in codes.items()}
    return result


def best(result: dict[str, Any], variant_prefix: str) -> dict[str, Any] | None:
    """The variant's run with the least CPU per event (the least disturbed by the shared machine)."""
    runs = [r for r in result["runs"] if r["variant"].startswith(variant_prefix)]
    return min(runs, key=lambda r: r["cpu_s"] / r["events"]) if runs else None


def median_walls(result: dict[str, Any]) -> dict[str, float]:
    """Each variant's median wall seconds over its runs, in the order the variants first ran."""
    seconds: dict[str, list[float]] = {}
    for r in result["runs"]:
        seconds.setdefault(r["variant"], []).append(r["seconds"])
    return {name: sorted(s)[len(s) // 2] if len(s) % 2 else sum(sorted(s)[len(s) // 2 - 1:len(s) // 2 + 1]) / 2 for name, s in seconds.items()}


def report(result: dict[str, Any]) -> str:
    lines = [f"ingest_publish: {result['events']:,} lease-hop rows -> leases worker -> Kafka sink -> acked (acks=all, idempotent)",
             f"  {result['machine']}; code {result['revision']}",
             f"  {'variant':<24}{'events':>10}{'wall s':>9}{'events/s':>10}{'CPU s':>9}{'CPU us/event':>14}{'parent us/ev':>14}{'peak RSS MB':>13}  load"]
    for r in result["runs"]:
        parent = r.get("parent_cpu_s", r["cpu_s"])
        lines.append(f"  {r['variant']:<24}{r['events']:>10,}{r['seconds']:>9.1f}{r['events'] / r['seconds']:>10,.0f}{r['cpu_s']:>9.1f}"
                     f"{r['cpu_s'] / r['events'] * 1e6:>14.1f}{parent / r['events'] * 1e6:>14.1f}{r['peak_rss_mb']:>13.0f}  {r['load']}")
    walls = median_walls(result)
    if len(walls) > 1:
        first_name, first_wall = next(iter(walls.items()))
        lines.append("  median wall s: " + ", ".join(f"{name} {wall:.1f}"
                                                     + ("" if name == first_name else f" (speed-up {first_wall / wall:.2f} vs {first_name})")
                                                  for name, wall in walls.items()))
    current, baseline = best(result, "current"), best(result, "baseline")
    assert current is not None
    figures: dict[str, Any] = {"events": current["events"], "eps": current["events"] / current["seconds"],
                               "cpu_us_per_event": current["cpu_s"] / current["events"] * 1e6,
                               "cpu_s_per_1m": current["cpu_s"] / current["events"] * 1e6, "peak_rss_mb": current["peak_rss_mb"]}
    if baseline is not None:
        ratio = (baseline["cpu_s"] / baseline["events"]) / (current["cpu_s"] / current["events"])
        figures.update(baseline_eps=baseline["events"] / baseline["seconds"], baseline_cpu_us_per_event=baseline["cpu_s"] / baseline["events"] * 1e6,
                       cpu_ratio=ratio)
        lines.append(f"  CPU per event, best runs: baseline / current = {ratio:.2f}x (goal >= 2x)")
    prints = result.get("fingerprints")
    if prints:
        same = len({(p["events"], p["sha256"]) for p in prints.values()}) == 1
        figures["identical"] = int(same)
        for name, p in prints.items():
            lines.append(f"  {name:<24} sha256(key, partition, event_id, value) of {p['events']:,} events: {p['sha256'][:16]}...")
        lines.append("  values, keys, ids, partitions: " + ("IDENTICAL" if same else "DIFFERENT"))
    lines.append(benchlib.figures_line("ingest_publish", **figures))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000, help="rows to publish (default 1,000,000)")
    parser.add_argument("--baseline", metavar="REV", default=None, help="also run the code at this git revision and print the CPU ratio")
    parser.add_argument("--verify", action="store_true", help="compare a sha256 of every (key, partition, id, value) between the variants")
    parser.add_argument("--repeat", type=int, default=1, help="runs per variant, alternating (the best CPU per event is compared)")
    parser.add_argument("--processes", type=lambda text: [int(n) for n in text.split(",")], default=[None], metavar="N[,M...]",
                        help="publisher processes of the current code (CHAINRISK_PUBLISH_PROCESSES), one variant each, e.g. 1,2,3")
    parser.add_argument("--stage", choices=("publish", "fingerprint"), help=argparse.SUPPRESS)
    parser.add_argument("--register", type=Path, help=argparse.SUPPRESS)
    benchlib.add_common_options(parser, seed=7, smoke="3,000 events: ~20 s")
    args = parser.parse_args()
    if args.stage:
        stage = stage_publish if args.stage == "publish" else stage_fingerprint
        print(json.dumps(stage(args.register, args.events)))
        return 0
    if args.smoke:
        args.events = 3000
    benchlib.print_result(measure(args), report, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
