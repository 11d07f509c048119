"""Parse rate (rows/s) and peak memory of the ingest workers on the largest real sample of each.

For each worker the file is parsed by ``run_ingest`` into a sink that only counts (no publishing),
and, as the baseline, the same (decompressed) lines are read with ``SourceFile.lines()`` and
nothing else. The ratio says how many times slower parsing is than reading. Each worker runs in
its own Python process so its peak RSS (``ru_maxrss``) is its own.

    python bench/parse_rates.py              # full files (about 2 minutes on 2 cores)
    python bench/parse_rates.py --smoke      # a prefix of each file, about 10 s
    python bench/parse_rates.py --workers vrps pfx2as --data ../shared/data/real
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "real"

# worker -> its largest real sample (by decompressed size / rows), relative to the data folder
LARGEST: dict[str, str] = {
    "delegated": "delegated_stats/delegated-ripencc-extended-20130418.txt.gz",
    "vrps": "rpki_vrps/rpki-client_vrps_20250720T093135Z.json.bz2",
    "pfx2as": "pfx2as_bgp/routeviews-rv2-20240406.pfx2as.gz",
    "blocklist": "blocklists/spamhaus_drop_v4_20250415.json",
}
SMOKE_EVENTS = 20_000


class CountingSink:
    """Counts events and remembers the furthest source line reached (the raw-read baseline reads
    exactly that many lines in --smoke mode)."""

    def __init__(self) -> None:
        self.events = 0
        self.last_line = 0

    def publish(self, event: Any) -> None:
        self.events += 1
        line = event.provenance.line
        if line is not None and line > self.last_line:
            self.last_line = line

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def raw_read(path: Path, max_lines: int | None) -> tuple[int, float]:
    """(lines, seconds) to read the decompressed file line by line and do nothing else."""
    from chainrisk.ingest.common import SourceFile

    started = time.perf_counter()
    lines = 0
    with SourceFile(path) as src:
        for lines, _ in src.lines():  # noqa: B007 - counting is the point
            if max_lines is not None and lines >= max_lines:
                break
    return lines, time.perf_counter() - started


def measure_one(worker: str, path: Path, limit: int | None) -> dict[str, Any]:
    """Parse ``path`` with ``worker`` (at most ``limit`` events), then read the same lines raw."""
    from chainrisk.ingest.common import run_ingest

    module = importlib.import_module(f"chainrisk.ingest.{worker}")
    sink = CountingSink()
    baseline_rss = peak_rss_mb()
    summary = run_ingest(module.parse, [path], sink, limit=limit)
    parse_rss = peak_rss_mb()
    if summary.files_failed:
        raise SystemExit(f"{worker}: {summary.files_failed[0]}")
    rows = summary.events + summary.rejects + summary.skipped
    lines, raw_seconds = raw_read(path, sink.last_line if limit is not None else None)
    return {
        "worker": worker,
        "file": path.name,
        "rows": rows,
        "events": summary.events,
        "rejects": summary.rejects,
        "skipped": summary.skipped,
        "parse_seconds": summary.seconds,
        "rows_per_second": rows / summary.seconds if summary.seconds else 0.0,
        "raw_lines": lines,
        "raw_seconds": raw_seconds,
        "raw_lines_per_second": lines / raw_seconds if raw_seconds else 0.0,
        "slowdown": (summary.seconds / rows) / (raw_seconds / lines) if rows and lines and raw_seconds else 0.0,
        "interpreter_rss_mb": baseline_rss,
        "peak_rss_mb": parse_rss,
    }


def run_in_subprocess(worker: str, path: Path, limit: int | None) -> dict[str, Any]:
    command = [sys.executable, __file__, "--one", worker, "--file", str(path)] + (["--limit", str(limit)] if limit else [])
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{worker}: {done.stderr.strip() or done.stdout.strip()}")
    return json.loads(done.stdout)


def format_table(results: list[dict[str, Any]]) -> str:
    header = f"{'worker':<10} {'file':<48} {'rows':>9} {'parse s':>8} {'rows/s':>9} {'raw s':>7} {'lines/s':>10} {'x raw':>6} {'peak RSS':>9}"
    rows = [header, "-" * len(header)]
    for r in results:
        rows.append(
            f"{r['worker']:<10} {r['file'][:48]:<48} {r['rows']:>9,} {r['parse_seconds']:>8.2f} {r['rows_per_second']:>9,.0f} "
            f"{r['raw_seconds']:>7.2f} {r['raw_lines_per_second']:>10,.0f} {r['slowdown']:>6.1f} {r['peak_rss_mb']:>6.0f} MB"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help=f"parse only the first {SMOKE_EVENTS:,} events of each file (~10 s in all)")
    parser.add_argument("--workers", nargs="+", default=list(LARGEST), choices=list(LARGEST))
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the real samples folder (default: ../shared/data/real)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON lines instead of a table")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: measure one worker in this process
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--limit", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.one:
        print(json.dumps(measure_one(args.one, args.file, args.limit)))
        return 0

    limit = SMOKE_EVENTS if args.smoke else None
    results = []
    for worker in args.workers:
        path = args.data / LARGEST[worker]
        if not path.is_file():
            print(f"{worker}: skipped, {path} not found", file=sys.stderr)
            continue
        results.append(run_in_subprocess(worker, path, limit))
    if args.json:
        for result in results:
            print(json.dumps(result))
    else:
        print(format_table(results))
        print(f"\n(x raw = parse time per row / raw read time per line; peak RSS of the worker's own process"
              f"{'; --smoke: first ' + format(SMOKE_EVENTS, ',') + ' events per file' if args.smoke else ''}; "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs: the rates scale with what else runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
