"""Analysis speed on the embedded path: a seeded synthetic portfolio in memory -> every block's
results (chain figures, ROV, BGP, blocklists, risk flags) -> exposure, against the brute-force
method on the same data.

For each size, in its own Python process (so peak RSS is that size's own):

1. generate the register (``chainrisk.synthetic``, seeded) with matching VRPs, BGP origins
   and a DROP list, and build the analysis ``Portfolio`` in memory (not timed as analysis);
2. ``analyse_portfolio`` + ``exposure`` in one process: wall and CPU seconds, blocks/s;
   then the same spread over ``--processes`` processes (graph/analysis_pool.py: forked children,
   their CPU seconds counted), checked identical to the one-process results (a digest of every
   field of every block, and of the exposure rows); for both, the peak RSS and PSS of the whole
   process tree (this process and its children, /proc/<pid>/smaps_rollup, sampled every 0.2 s);
3. the chain part alone (``analyse_chain`` per block), for a like-for-like comparison;
4. brute force on a random sample of blocks (remove each party and test reachability for the
   SPOFs; enumerate every path for depth and secured-until), extrapolated to all blocks; the
   sample's answers are checked equal to the analysis's.

Steps 3 and 4 and the ratios use CPU seconds (the machine is shared; wall time also measures
whatever else runs); step 2 reports both.

    python bench/analysis_bench.py                      # 100,000 and 1,000,000 blocks (~3-4 min)
    python bench/analysis_bench.py --smoke              # 20,000 blocks in shares of 5,000, about 20 s
    python bench/analysis_bench.py --sizes 1000000 --processes 2
    python bench/analysis_bench.py --sizes 1000000 --profile   # pyinstrument profile in bench/out/

Goals: 1,000,000 blocks in at most 60 s in one process, in at most 20 s spread over the cores.
"""
from __future__ import annotations

import argparse
import json
import operator
import os
import platform
import random
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
AS_OF = date(2026, 11, 1)
GOAL_SECONDS_PER_MILLION = 60.0
GOAL_PARALLEL_SECONDS_PER_MILLION = 20.0


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def tree_memory_mb() -> tuple[float, float]:
    """RSS and PSS of this process and its children (their pages shared copy-on-write count once in PSS)."""
    rss = pss = 0
    pids = [os.getpid()]
    try:
        with open(f"/proc/{os.getpid()}/task/{os.getpid()}/children") as fh:
            pids += [int(x) for x in fh.read().split()]
    except OSError:
        pass
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as fh:
                for line in fh:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
        except OSError:  # a child that just ended
            continue
    return rss / 1024, pss / 1024


@contextmanager
def tree_peak(into: dict[str, float], every_s: float = 0.2) -> Iterator[None]:
    """Sample :func:`tree_memory_mb` while the block runs; the peaks go to ``into``."""
    done = threading.Event()
    into["rss"], into["pss"] = tree_memory_mb()

    def sample() -> None:
        while not done.wait(every_s):
            rss, pss = tree_memory_mb()
            into["rss"], into["pss"] = max(into["rss"], rss), max(into["pss"], pss)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        rss, pss = tree_memory_mb()
        into["rss"], into["pss"] = max(into["rss"], rss), max(into["pss"], pss)


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def results_digest(analysis: Any, rows: list[Any]) -> int:
    """One number for every field of every block result and every exposure row (same process: same string hashes)."""
    from dataclasses import astuple, fields

    from chainrisk.analysis.blocks import BlockResult

    every = operator.attrgetter(*(f.name for f in fields(BlockResult)))
    return hash((tuple(map(hash, map(every, analysis.blocks))), tuple(hash(astuple(r)[:5]) for r in rows),
                 tuple(tuple(r.lessees) for r in rows)))


def measure(blocks: int, seed: int, brute_sample: int, profile: Path | None, processes: int = 1,
            min_share: int | None = None) -> dict[str, Any]:
    """Every figure for one portfolio size (runs in this process)."""
    from chainrisk import synthetic
    from chainrisk.analysis.blocks import analyse_portfolio
    from chainrisk.analysis.bruteforce import brute_force_block
    from chainrisk.analysis.chains import analyse_chain
    from chainrisk.analysis.exposure import exposure
    from chainrisk.graph import analysis_pool

    if min_share is not None:
        analysis_pool.MIN_SHARE_BLOCKS = min_share

    t0 = time.monotonic()
    generated = synthetic.generate(blocks, seed, broken_rate=0.001)
    plan = synthetic.plan_signals(generated, seed)
    portfolio = synthetic.to_portfolio(generated, plan)
    del generated
    setup_s = time.monotonic() - t0
    rss_before = current_rss_mb()

    profiler = None
    if profile is not None:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.005)
        profiler.start()
    single_peak: dict[str, float] = {}
    with tree_peak(single_peak):
        wall, cpu = time.monotonic(), time.process_time()
        analysis = analyse_portfolio(portfolio, AS_OF)
        rows = exposure(analysis)
        analysis_s, analysis_cpu = time.monotonic() - wall, time.process_time() - cpu
    if profiler is not None:
        profiler.stop()
        profile.write_text(profiler.output_text(unicode=True, color=False, show_all=False))
    rss_after = current_rss_mb()
    single_digest = results_digest(analysis, rows)

    # the comparisons use CPU time: the machine is shared, and wall time measures the neighbours too
    hops_by_block = analysis.hops_by_block
    cpu = time.process_time()
    for block, hops in hops_by_block.items():
        analyse_chain(block, hops)
    chain_s = time.process_time() - cpu

    rng = random.Random(seed)
    candidates = [r for r in analysis.blocks if not r.data_errors]
    sample = rng.sample(candidates, min(brute_sample, len(candidates)))
    cpu = time.process_time()
    answers = [brute_force_block(hops_by_block[r.block]) for r in sample]
    brute_s = time.process_time() - cpu
    mismatches = sum(1 for r, a in zip(sample, answers)
                     if a.spofs != frozenset(r.spof_keys) or (a.depth_min, a.depth_max, a.secured_until) != (r.depth_min, r.depth_max, r.secured_until))
    brute_all_s = brute_s / len(sample) * len(analysis.blocks)
    count, sampled = len(analysis.blocks), len(sample)
    del analysis, rows, hops_by_block, candidates, sample, answers

    # the same analysis spread over the processes; the one-process results are gone (only their digest is kept),
    # so the peak is this run's own
    workers = analysis_pool.processes_for(count, processes)
    parallel_peak: dict[str, float] = {}
    with tree_peak(parallel_peak):
        wall, cpu, child_cpu = time.monotonic(), time.process_time(), children_cpu_s()
        analysis = analysis_pool.analyse_portfolio_parallel(portfolio, AS_OF, processes=processes)
        rows = exposure(analysis)
        parallel_s, parallel_cpu = time.monotonic() - wall, time.process_time() - cpu
        parallel_child_cpu = children_cpu_s() - child_cpu
    same = results_digest(analysis, rows) == single_digest
    return {
        "blocks": count,
        "hops": len(portfolio.hops),
        "vrps": len(portfolio.vrps),
        "parties_spof": len(rows),
        "setup_s": round(setup_s, 2),
        "analysis_s": round(analysis_s, 2),
        "analysis_cpu_s": round(analysis_cpu, 2),
        "blocks_per_s": round(count / analysis_s),
        "chain_only_s": round(chain_s, 2),
        "brute_sample": sampled,
        "brute_sample_s": round(brute_s, 2),
        "brute_extrapolated_s": round(brute_all_s, 1),
        "brute_vs_chain": round(brute_all_s / chain_s, 1),
        # the whole analysis with its chain part done the brute-force way instead
        "brute_analysis_cpu_s": round(analysis_cpu - chain_s + brute_all_s, 1),
        "brute_vs_full": round((analysis_cpu - chain_s + brute_all_s) / analysis_cpu, 2),
        "brute_mismatches": mismatches,
        "processes": workers,
        "parallel_s": round(parallel_s, 2),
        "parallel_cpu_s": round(parallel_cpu + parallel_child_cpu, 2),
        "parallel_parent_cpu_s": round(parallel_cpu, 2),
        "parallel_vs_single": round(analysis_s / parallel_s, 2),
        "parallel_same_results": same,
        "single_tree_peak_rss_mb": round(single_peak["rss"]),
        "single_tree_peak_pss_mb": round(single_peak["pss"]),
        "parallel_tree_peak_rss_mb": round(parallel_peak["rss"]),
        "parallel_tree_peak_pss_mb": round(parallel_peak["pss"]),
        "rss_before_analysis_mb": round(rss_before),
        "rss_after_analysis_mb": round(rss_after),
        "peak_rss_mb": round(peak_rss_mb()),
    }


def run_in_subprocess(blocks: int, seed: int, brute_sample: int, profile: Path | None, processes: int,
                      min_share: int | None) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--one", str(blocks), "--seed", str(seed), "--brute-sample", str(brute_sample),
           "--processes", str(processes)]
    if min_share is not None:
        cmd += ["--min-share", str(min_share)]
    if profile is not None:
        cmd += ["--profile-file", str(profile)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"measuring {blocks} blocks failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(results: list[dict[str, Any]]) -> str:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    lines = [f"analysis benchmark, {date.today()}, {platform.node()}: {os.cpu_count()} cores, "
             f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB, Python {platform.python_version()}, "
             f"load average {load} (wall time suffers when other work shares the cores; CPU time does not)",
             "columns: analysis wall/CPU s and blocks/s (wall); chain part CPU s with dominators vs brute force (remove each",
             "party + reachability, path enumeration; extrapolated from a sample); whole analysis CPU s with the brute-force",
             "chain part instead, and its ratio to ours; peak RSS of the process (portfolio + results)",
             f"{'blocks':>10} {'wall s':>7} {'cpu s':>7} {'blocks/s':>9} {'chain cpu':>9} {'brute chain':>11} {'ratio':>6} "
             f"{'brute analysis':>14} {'ratio':>6} {'peak RSS MB':>11}"]
    for r in results:
        lines.append(f"{r['blocks']:>10,} {r['analysis_s']:>7.2f} {r['analysis_cpu_s']:>7.2f} {r['blocks_per_s']:>9,} "
                     f"{r['chain_only_s']:>9.2f} {r['brute_extrapolated_s']:>11.1f} {r['brute_vs_chain']:>5.1f}x "
                     f"{r['brute_analysis_cpu_s']:>14.1f} {r['brute_vs_full']:>5.2f}x {r['peak_rss_mb']:>11,}")
    for r in results:
        lines.append(f"  {r['blocks']:,} blocks: {r['hops']:,} hops, {r['vrps']:,} VRPs; setup (generate + build) {r['setup_s']}s; "
                     f"brute force measured on {r['brute_sample']:,} random blocks ({r['brute_sample_s']}s) and extrapolated, "
                     f"{r['brute_mismatches']} disagreements; RSS {r['rss_before_analysis_mb']} MB before analysis, "
                     f"{r['rss_after_analysis_mb']} MB after")
        lines.append(f"  over {r['processes']} process(es): {r['parallel_s']} s wall ({r['parallel_vs_single']}x the one process's), "
                     f"{r['parallel_cpu_s']} s CPU (this process {r['parallel_parent_cpu_s']}); results "
                     f"{'identical' if r['parallel_same_results'] else 'DIFFERENT'}; peak of the process tree RSS / PSS: "
                     f"one process {r['single_tree_peak_rss_mb']:,} / {r['single_tree_peak_pss_mb']:,} MB, "
                     f"over the processes {r['parallel_tree_peak_rss_mb']:,} / {r['parallel_tree_peak_pss_mb']:,} MB")
        if r["blocks"] >= 1_000_000:
            verdict = "met" if r["analysis_s"] <= GOAL_SECONDS_PER_MILLION else "MISSED"
            lines.append(f"  goal 1M blocks <= {GOAL_SECONDS_PER_MILLION:.0f} s: {verdict} ({r['analysis_s']} s wall, {r['analysis_cpu_s']} s CPU)")
            verdict = "met" if r["parallel_s"] <= GOAL_PARALLEL_SECONDS_PER_MILLION else "MISSED"
            lines.append(f"  goal 1M blocks <= {GOAL_PARALLEL_SECONDS_PER_MILLION:.0f} s over the cores: {verdict} "
                         f"({r['parallel_s']} s wall over {r['processes']} processes)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--smoke", action="store_true", help="one small size in small shares, about 20 s")
    parser.add_argument("--processes", type=int, default=None,
                        help="processes for the spread run (default: the analysis_processes setting, one per CPU)")
    parser.add_argument("--min-share", type=int, default=None,
                        help="fewest blocks per process (default: the product's, graph/analysis_pool.py MIN_SHARE_BLOCKS)")
    parser.add_argument("--seed", type=int, default=20261127)
    parser.add_argument("--brute-sample", type=int, default=20_000, help="blocks the brute force runs on (then extrapolated)")
    parser.add_argument("--profile", action="store_true", help="write a pyinstrument profile per size to bench/out/analysis-profile-<N>.txt")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--profile-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.processes is None:
        from chainrisk.graph.config import Settings

        args.processes = Settings().analysis_processes
    if args.one is not None:
        print(json.dumps(measure(args.one, args.seed, args.brute_sample, args.profile_file, args.processes, args.min_share)))
        return 0
    if args.smoke and args.min_share is None:
        args.min_share = 5_000  # so the smoke size is spread too
    sizes = [20_000] if args.smoke else args.sizes
    sample = min(args.brute_sample, 2_000) if args.smoke else args.brute_sample
    results = []
    for n in sizes:
        profile = REPO / "bench" / "out" / f"analysis-profile-{n}.txt" if args.profile else None
        if profile is not None:
            profile.parent.mkdir(parents=True, exist_ok=True)
        results.append(run_in_subprocess(n, args.seed, sample, profile, args.processes, args.min_share))
        print(f"measured {n:,} blocks: analysis {results[-1]['analysis_s']} s", file=sys.stderr)
    print(report(results))
    if args.json:
        print(json.dumps(results, indent=2))
    failed = [r for r in results if r["brute_mismatches"] or not r["parallel_same_results"]]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
