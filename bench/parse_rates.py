"""Parse rate (rows/s) and peak memory of the ingest workers on the largest real sample of each.

For each worker the file is parsed by ``run_ingest`` into a sink that only counts (no publishing),
and, as the baseline, the same (decompressed) lines are read with ``SourceFile.lines()`` and
nothing else. The ratio says how many times slower parsing is than reading. Each worker runs in
its own Python process so its peak RSS (``ru_maxrss``) is its own.

After the timed run the file is parsed once more (untimed) into a sink that hashes every event's
wire form (``to_json()``, the Kafka value: every key and value, in order) with ``ingested_at`` pinned
and the file named relative to the data folder, and every reject (file:line, reason, raw text);
the skips are counted by reason. That fingerprint says whether a faster parser still publishes
exactly the same events: ``--write FILE`` records the fingerprints, ``--check FILE`` exits 1 when a
worker's differs from the recorded one. ``--baseline REV`` also runs the code at git revision REV
(``git archive`` unpacked in a temporary folder, first on the child's ``PYTHONPATH``) on each file,
just before the current code, and compares the two fingerprints.

    python bench/parse_rates.py              # full files (about 3 minutes on 2 cores)
    python bench/parse_rates.py --smoke      # a prefix of each file, about 15 s
    python bench/parse_rates.py --workers vrps pfx2as --data ../shared/data/real
    python bench/parse_rates.py --check bench/parse_fingerprints.json
    python bench/parse_rates.py --baseline main    # before and after, side by side, same fingerprints?
"""
from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
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
    # the samples of these are a few KB (tens of events): their rate is mostly the per-file setup
    "arin": "arin_rdap_whois/ipwhois_rdap_responses_multi_rir.json",
    "rpsl": "rpsl_whois/ipwhois_irr_route_objects.json",
    "transfers": "transfers/arin_transfers_example_from_nro-transfer-log-draft.json",
    "bgpdump": "pfx2as_bgp/bgpdump_tabledump2_excerpt_20170112.txt",
}
SMOKE_EVENTS = 20_000
# the ingest time every event of the fingerprint run carries (the only field that differs between runs)
PINNED_INGESTED_AT = datetime(2026, 1, 1, tzinfo=timezone.utc)
PINNED_FILE_MTIME = datetime(2025, 6, 1, tzinfo=timezone.utc)  # for files dated by nothing but their mtime


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


class FingerprintSink:
    """Hashes every published event's wire form in order, the file's path at the start of each
    reference replaced by ``name`` (so the fingerprint does not depend on where the data folder
    is). Only the opening quote is matched: whois references go on past the path
    (``<path>#<query>``)."""

    def __init__(self, reference: str, name: str) -> None:
        self.hash = hashlib.sha256()
        self.events = 0
        self._reference = b'"reference":' + json.dumps(reference).encode()[:-1]
        self._name = b'"reference":' + json.dumps(name).encode()[:-1]

    def publish(self, event: Any) -> None:
        self.events += 1
        self.hash.update(event.to_json().replace(self._reference, self._name, 1) + b"\n")

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


def fingerprint(parse: Callable[..., Any], path: Path, name: str, limit: int | None) -> dict[str, Any]:
    """The sha256 of every event's wire form and of every reject, and the skips by reason, of
    ``parse`` on ``path`` (at most ``limit`` events), with ``ingested_at`` and the file's mtime pinned."""
    from chainrisk.ingest import common

    sink = FingerprintSink(str(path), name)
    rejects = hashlib.sha256()
    reject_count = 0

    def on_reject(reject: Any) -> None:
        nonlocal reject_count
        reject_count += 1
        rejects.update(json.dumps([name, reject.line, reject.offset, reject.reason, reject.raw], ensure_ascii=False).encode() + b"\n")

    now, file_date = common.utc_now, common.file_observed_at
    common.utc_now = lambda: PINNED_INGESTED_AT  # run_ingest stamps every event with it
    # A file whose content and name give no date is dated by its mtime, which a fresh copy of
    # the data folder changes: pin it, keeping the date-in-the-name rule.
    common.file_observed_at = lambda file: common.date_in_file_name(file) or PINNED_FILE_MTIME
    try:
        summary = common.run_ingest(parse, [path], sink, limit=limit, on_reject=on_reject)
    finally:
        common.utc_now, common.file_observed_at = now, file_date
    return {
        "events": sink.events,
        "events_sha256": sink.hash.hexdigest(),
        "rejects": reject_count,
        "rejects_sha256": rejects.hexdigest(),
        "skipped": dict(sorted(summary.skipped_by_reason.items())),
    }


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def raw_read(path: Path, max_lines: int | None) -> tuple[int, float, float]:
    """(lines, seconds, CPU seconds) to read the decompressed file line by line and do nothing else."""
    from chainrisk.ingest.common import SourceFile

    cpu_started = time.process_time()
    started = time.perf_counter()
    lines = 0
    with SourceFile(path) as src:
        for lines, _ in src.lines():  # noqa: B007 - counting is the point
            if max_lines is not None and lines >= max_lines:
                break
    return lines, time.perf_counter() - started, time.process_time() - cpu_started


def measure_one(worker: str, path: Path, limit: int | None, name: str, with_fingerprint: bool = True) -> dict[str, Any]:
    """Parse ``path`` with ``worker`` (at most ``limit`` events), read the same lines raw, then
    (untimed) take the events' fingerprint."""
    from chainrisk.ingest.common import run_ingest

    module = importlib.import_module(f"chainrisk.ingest.{worker}")
    sink = CountingSink()
    baseline_rss = peak_rss_mb()
    cpu_started = time.process_time()
    summary = run_ingest(module.parse, [path], sink, limit=limit)
    parse_cpu = time.process_time() - cpu_started
    parse_rss = peak_rss_mb()
    if summary.files_failed:
        raise SystemExit(f"{worker}: {summary.files_failed[0]}")
    rows = summary.events + summary.rejects + summary.skipped
    lines, raw_seconds, raw_cpu = raw_read(path, sink.last_line if limit is not None else None)
    result = {
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
        "ratio": (raw_seconds / lines) / (summary.seconds / rows) if rows and lines and summary.seconds else 0.0,
        "cpu_seconds": parse_cpu,
        "raw_cpu_seconds": raw_cpu,
        # the same ratio in CPU seconds: steadier than wall time on a machine other work shares
        "cpu_ratio": (raw_cpu / lines) / (parse_cpu / rows) if rows and lines and parse_cpu else 0.0,
        "interpreter_rss_mb": baseline_rss,
        "peak_rss_mb": parse_rss,
    }
    if with_fingerprint:
        result["fingerprint"] = fingerprint(module.parse, path, name, limit)
    return result


def run_in_subprocess(worker: str, path: Path, limit: int | None, name: str, with_fingerprint: bool,
                      code_path: Path | None = None) -> dict[str, Any]:
    """:func:`measure_one` in a child process; ``code_path`` first on its ``PYTHONPATH`` (a baseline's packages)."""
    command = ([sys.executable, __file__, "--one", worker, "--file", str(path), "--name", name] + (["--limit", str(limit)] if limit else [])
               + ([] if with_fingerprint else ["--no-fingerprint"]))
    env = dict(os.environ)
    if code_path is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(code_path), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{worker}: {done.stderr.strip() or done.stdout.strip()}")
    return json.loads(done.stdout)


def format_table(results: list[dict[str, Any]]) -> str:
    header = (f"{'worker':<10} {'code':<14} {'file':<44} {'rows':>9} {'parse s':>8} {'rows/s':>9} {'raw s':>7} {'lines/s':>10} {'x raw':>6} "
              f"{'ratio':>6} {'CPU s':>6} {'CPU ratio':>9} {'peak RSS':>9}  fingerprint (events, rejects)")
    rows = [header, "-" * len(header)]
    for r in results:
        fp = r.get("fingerprint")
        mark = f"{fp['events_sha256'][:12]} {fp['rejects_sha256'][:8]}" if fp else "-"
        if "check" in r:
            mark += f" {r['check']}"
        rows.append(
            f"{r['worker']:<10} {r.get('variant', 'current')[:14]:<14} {r['file'][:44]:<44} {r['rows']:>9,} {r['parse_seconds']:>8.2f} "
            f"{r['rows_per_second']:>9,.0f} "
            f"{r['raw_seconds']:>7.2f} {r['raw_lines_per_second']:>10,.0f} {r['slowdown']:>6.1f} {r['ratio']:>6.3f} "
            f"{r['cpu_seconds']:>6.1f} {r['cpu_ratio']:>9.3f} {r['peak_rss_mb']:>6.0f} MB  {mark}"
        )
    baselines = {r["worker"]: r for r in results if r.get("variant", "current") != "current"}
    for r in results:
        before = baselines.get(r["worker"])
        if before is None or r is before:
            continue
        same = "identical" if before.get("fingerprint") == r.get("fingerprint") else "DIFFERENT"
        rows.append(f"{r['worker']:<10} {before['variant']} -> current: {before['parse_seconds'] / r['parse_seconds']:.2f}x wall, "
                    f"{before['cpu_seconds'] / r['cpu_seconds']:.2f}x CPU, ratio {before['ratio']:.3f} -> {r['ratio']:.3f}, "
                    f"CPU ratio {before['cpu_ratio']:.3f} -> {r['cpu_ratio']:.3f}, "
                    f"fingerprints {same}" if r["parse_seconds"] and r["cpu_seconds"] else f"{r['worker']:<10} fingerprints {same}")
    return "\n".join(rows)


def baseline_differences(results: list[dict[str, Any]]) -> list[str]:
    """The workers whose current fingerprint differs from the baseline's in the same run."""
    baselines = {r["worker"]: r.get("fingerprint") for r in results if r.get("variant", "current") != "current"}
    return [r["worker"] for r in results if r.get("variant", "current") == "current" and r["worker"] in baselines
            and baselines[r["worker"]] != r.get("fingerprint")]


def fingerprint_key(worker: str, smoke: bool) -> str:
    return f"{worker}{' --smoke' if smoke else ''}"


def check_fingerprints(results: list[dict[str, Any]], recorded: dict[str, Any], smoke: bool) -> list[str]:
    """Mark each result ``same``/``DIFFERENT``/``new`` against the recorded fingerprints; the differing workers."""
    different = []
    for r in results:
        if r.get("variant", "current") != "current":
            continue
        want = recorded.get(fingerprint_key(r["worker"], smoke))
        if want is None:
            r["check"] = "new"
        elif want == {"file": r["file"], **r["fingerprint"]}:
            r["check"] = "same"
        else:
            r["check"] = "DIFFERENT"
            different.append(r["worker"])
    return different


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help=f"parse only the first {SMOKE_EVENTS:,} events of each file (~10 s in all)")
    parser.add_argument("--workers", nargs="+", default=list(LARGEST), choices=list(LARGEST))
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the real samples folder (default: ../shared/data/real)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON lines instead of a table")
    parser.add_argument("--check", type=Path, metavar="FILE", help="compare each worker's event fingerprint with FILE's; exit 1 on a difference")
    parser.add_argument("--write", type=Path, metavar="FILE", help="record the fingerprints in FILE (merged with what it holds)")
    parser.add_argument("--baseline", metavar="REV", help="also run the code at git revision REV on each file, just before the current code")
    parser.add_argument("--no-fingerprint", action="store_true", help="time only: skip the second, fingerprinting parse")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: measure one worker in this process
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--name", help=argparse.SUPPRESS)
    parser.add_argument("--limit", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.one:
        print(json.dumps(measure_one(args.one, args.file, args.limit, args.name or args.file.name, not args.no_fingerprint)))
        return 0
    if args.no_fingerprint and (args.check or args.write):
        parser.error("--check and --write need the fingerprints")

    limit = SMOKE_EVENTS if args.smoke else None
    results = []
    with tempfile.TemporaryDirectory(prefix="parse-baseline-") as scratch:
        variants: list[tuple[str, Path | None]] = [("current", None)]
        if args.baseline:
            sys.path.insert(0, str(Path(__file__).resolve().parent))
            import benchlib

            variants.insert(0, (f"base {args.baseline}", benchlib.unpack_revision(args.baseline, Path(scratch))))
        for worker in args.workers:
            path = args.data / LARGEST[worker]
            if not path.is_file():
                print(f"{worker}: skipped, {path} not found", file=sys.stderr)
                continue
            for label, code_path in variants:
                result = run_in_subprocess(worker, path, limit, LARGEST[worker], not args.no_fingerprint, code_path)
                results.append({**result, "variant": label})
    different = baseline_differences(results) if not args.no_fingerprint else []
    if args.check:
        different += check_fingerprints(results, json.loads(args.check.read_text()), args.smoke)
    if args.write:
        recorded = json.loads(args.write.read_text()) if args.write.is_file() else {}
        recorded.update({fingerprint_key(r["worker"], args.smoke): {"file": r["file"], **r["fingerprint"]} for r in results
                         if r["variant"] == "current"})
        args.write.write_text(json.dumps(dict(sorted(recorded.items())), indent=1) + "\n")
    if args.json:
        for result in results:
            print(json.dumps(result))
    else:
        print(format_table(results))
        print(f"\n(x raw = parse time per row / raw read time per line, ratio = its inverse (goal >= 0.1), "
              f"CPU ratio = the same in CPU seconds; CPU s of the timed parse; peak RSS of the worker's own process"
              f"{'; --smoke: first ' + format(SMOKE_EVENTS, ',') + ' events per file' if args.smoke else ''}; "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs: the rates scale with what else runs)")
    if different:
        print(f"fingerprint DIFFERENT (from the baseline's or {args.check}'s): {', '.join(sorted(set(different)))}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
