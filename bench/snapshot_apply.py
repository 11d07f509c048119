"""Cost of a second full VRP export against the first, or (``--source pfx2as``) of the next day's
pfx2as file against the first, end to end (ingest + consume), on the embedded backend or
(``--backend services``) through Kafka into Neo4j.

Two rpki-client JSON exports go through `chainrisk ingest vrps` and `chainrisk consume --until-idle`,
each in its own process, in a fresh state folder: first the older, then the newer, which supersedes
it (its retractions included). The real pair of 2025-07-20 (../shared/data/real/rpki_vrps/) is used
when present; otherwise a generated pair of realistic size and churn (default 580,000 IPv4 VRPs over
five trust anchors; the newer one has 7 VRPs removed, 6 added and 10,000 with a new expiry).
Figures: wall and CPU seconds of each step, the consumer's peak RSS, and the ratio second/first
(CPU seconds are this machine's Python processes; with ``--backend services`` Neo4j's and Kafka's own
CPU is not in them). Goal: the second export costs at most 1.5x the first; the consumer stays under 1 GB.

``--source pfx2as``: the real CAIDA Routeviews file of 2024-04-06 (../shared/data/real/pfx2as_bgp/,
~1M lines; read in place) or a generated one (``--routes``), then a "next day" file generated from it
in a temporary folder with seeded churn (0.5% of the routes withdrawn, 0.5% new prefixes, 1% with
another origin), named ``routeviews-rv2-20240407-1200.pfx2as.gz`` so that its date parses.
Each step also prints the ingest's snapshot line (its counts against the previous snapshot) and the
consumer's, which must agree.

    python bench/snapshot_apply.py                 # 580k VRPs, several minutes
    python bench/snapshot_apply.py --vrps 20000    # a quick look
    python bench/snapshot_apply.py --smoke         # 5,000 VRPs, about 20 s
    python bench/snapshot_apply.py --source pfx2as            # ~1M routes, tens of minutes
    python bench/snapshot_apply.py --source pfx2as --smoke    # 5,000 generated routes
    CHAINRISK_STATE_DIR=<services state> flock /tmp/chainrisk-neo4j.lock python bench/snapshot_apply.py --backend services
        # own topic prefix and group; WIPES the Neo4j database first
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import benchlib

REPO = Path(__file__).resolve().parents[1]
REAL = REPO.parent / "shared" / "data" / "real" / "rpki_vrps"
REAL_PAIR = ("rpki-client_vrps_20250720T093135Z.json.bz2", "rpki-client_vrps_20250720T100145Z.json.bz2")
_INGEST_COUNTS = re.compile(r"([\d,]+) added, ([\d,]+) changed, ([\d,]+) unchanged, ([\d,]+) retracted")
_CONSUMER_COUNTS = re.compile(r"(\d+) added, (\d+) changed, (\d+) unchanged")
REAL_PFX2AS = REPO.parent / "shared" / "data" / "real" / "pfx2as_bgp" / "routeviews-rv2-20240406.pfx2as.gz"
NEXT_DAY = "routeviews-rv2-20240407-1200.pfx2as.gz"
WITHDRAWN, NEW, MOVED = 0.005, 0.005, 0.01  # the next day's churn, as shares of the first file's routes
TAS = (("ripe", 0.31), ("apnic", 0.24), ("arin", 0.26), ("lacnic", 0.13), ("afrinic", 0.06))


def _roa(i: int, rng: random.Random) -> dict[str, object]:
    """A VRP in 10.0.0.0/8-like space spread over the IPv4 space (synthetic, distinct per i)."""
    length = rng.choice((16, 18, 20, 22, 23, 24, 24, 24, 24))
    first = (i * 2654435761) % (1 << 32) >> (32 - length) << (32 - length)
    prefix = f"{first >> 24}.{first >> 16 & 255}.{first >> 8 & 255}.{first & 255}/{length}"
    ta = rng.choices([t for t, _ in TAS], [w for _, w in TAS])[0]
    return {"asn": 64512 + i % 1000, "prefix": prefix, "maxLength": max(length, 24), "ta": ta, "expires": 1753500000 + i % 86400}


def generate(folder: Path, count: int, seed: int = 7) -> tuple[Path, Path]:
    """Two exports 30 minutes apart: the second lacks 7 VRPs, has 6 new ones and 10,000 new expiries."""
    rng = random.Random(seed)
    roas = {}
    i = 0
    while len(roas) < count:
        roa = _roa(i, rng)
        roas[(roa["prefix"], roa["maxLength"], roa["asn"], roa["ta"])] = roa
        i += 1
    first = list(roas.values())
    second = [dict(r) for r in first[7:]]
    for roa in rng.sample(second, min(10_000, len(second))):
        roa["expires"] = int(roa["expires"]) + 3600  # type: ignore[call-overload]
    extra = 0
    while extra < 6:
        roa = _roa(i, rng)
        i += 1
        if (roa["prefix"], roa["maxLength"], roa["asn"], roa["ta"]) not in roas:
            second.append(roa)
            extra += 1
    paths = []
    for name, built, rows in (("a", "2025-07-20T09:31:33Z", first), ("b", "2025-07-20T10:01:45Z", second)):
        path = folder / f"vrps-{name}.json"
        with open(path, "w") as fh:
            fh.write(json.dumps({"metadata": {"buildtime": built}})[:-1] + ', "roas": [\n')
            fh.write(",\n".join(json.dumps(r) for r in rows))
            fh.write("\n]}\n")
        paths.append(path)
    return paths[0], paths[1]


def generate_routes(path: Path, count: int, seed: int = 7) -> Path:
    """A pfx2as file of ``count`` distinct routes spread over the IPv4 unicast space (some MOAS)."""
    rng = random.Random(seed)
    seen: set[tuple[int, int]] = set()
    with gzip.open(path, "wt") as fh:
        while len(seen) < count:
            length = rng.choice((16, 19, 20, 21, 22, 23, 24, 24, 24, 24, 24))
            first = rng.randrange(1 << 24, 224 << 24) >> (32 - length) << (32 - length)
            if (first, length) in seen:
                continue
            seen.add((first, length))
            origin = str(rng.randrange(1, 400_000)) + (f"_{rng.randrange(1, 400_000)}" if rng.random() < 0.01 else "")
            fh.write(f"{first >> 24}.{first >> 16 & 255}.{first >> 8 & 255}.{first & 255}\t{length}\t{origin}\n")
    return path


def next_day(first: Path, folder: Path, seed: int = 11) -> tuple[Path, dict[str, int]]:
    """The next day's file: the first's lines with seeded churn (withdrawn, new, another origin)."""
    rng = random.Random(seed)
    with gzip.open(first, "rt") as fh:
        lines = [line.rstrip("\n").split("\t") for line in fh if line.strip()]
    held = {(row[0], row[1]) for row in lines}
    origins = [row[2] for row in lines]
    kept, churn = [], {"withdrawn": 0, "new": 0, "moved": 0}
    for row in lines:
        draw = rng.random()
        if draw < WITHDRAWN:
            churn["withdrawn"] += 1
            continue
        if draw < WITHDRAWN + MOVED:
            other = rng.choice(origins)
            if other != row[2]:
                row = [row[0], row[1], other]
                churn["moved"] += 1
        kept.append(row)
    while churn["new"] < int(len(lines) * NEW):
        first_ip = rng.randrange(1 << 24, 224 << 24) >> 8 << 8
        prefix = f"{first_ip >> 24}.{first_ip >> 16 & 255}.{first_ip >> 8 & 255}.0"
        if (prefix, "24") not in held:
            held.add((prefix, "24"))
            kept.append([prefix, "24", rng.choice(origins)])
            churn["new"] += 1
    path = folder / NEXT_DAY
    with gzip.open(path, "wt") as fh:
        fh.writelines("\t".join(row) + "\n" for row in kept)
    return path, churn


def measured(args: list[str], env: dict[str, str]) -> dict[str, object]:
    """Run ``chainrisk <args>`` in its own process: wall s, CPU s, its own peak RSS MB, its output."""
    with tempfile.TemporaryFile() as out:
        started = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "chainrisk.cli.main", *args], env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode(errors="replace")
    if proc.returncode:
        raise SystemExit(f"chainrisk {' '.join(args)} failed:\n{text[-3000:]}")
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "peak_rss_mb": usage.ru_maxrss / 1024, "output": text}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", choices=("vrps", "pfx2as"), default="vrps", help="VRP exports (default) or pfx2as files")
    parser.add_argument("--vrps", type=int, default=580_000, help="VRPs per generated export (when the real pair is absent)")
    parser.add_argument("--routes", type=int, default=1_000_000, help="routes of the generated first pfx2as file (when the real one is absent)")
    parser.add_argument("--smoke", action="store_true", help="5,000 generated VRPs or routes")
    parser.add_argument("--generated", action="store_true", help="use a generated pair even when the real one is present")
    parser.add_argument("--backend", choices=("embedded", "services"), default="embedded",
                        help="services: Kafka + Neo4j of CHAINRISK_STATE_DIR (wipes Neo4j; run under the Neo4j lock)")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="chainrisk-snapshot-bench-") as tmp:
        folder = Path(tmp)
        first, second, what = (_pfx2as_pair if opts.source == "pfx2as" else _vrp_pair)(folder, opts)
        env = {**os.environ, "CHAINRISK_STATE_DIR": str(folder / "state"), "CHAINRISK_BACKEND": "embedded", "CHAINRISK_ALERTS": "false"}
        if opts.backend == "services":
            env = _services_env()
        rows = []
        try:
            for label, path in (("first", first), ("second", second)):
                rows.append(_step(opts.source, label, path, env))
        finally:
            if opts.backend == "services":
                _delete_topics(env["CHAINRISK_TOPIC_PREFIX"])
                _delete_snapshot_state(env["CHAINRISK_TOPIC_PREFIX"])
        print(f"snapshot apply ({opts.source}, {opts.backend}): {what}; load average {os.getloadavg()[0]:.1f}")
        totals = []
        for label, ingest, consume, retracted, said in rows:
            wall = float(ingest["wall"]) + float(consume["wall"])  # type: ignore[arg-type]
            cpu = float(ingest["cpu"]) + float(consume["cpu"])  # type: ignore[arg-type]
            totals.append((wall, cpu))
            print(f"  {label:6} ingest {ingest['wall']:.1f} s wall / {ingest['cpu']:.1f} s CPU, consume {consume['wall']:.1f} s wall / "
                  f"{consume['cpu']:.1f} s CPU, total {wall:.1f} s wall / {cpu:.1f} s CPU; consumer peak RSS {consume['peak_rss_mb']:.0f} MB")
            for line in said:
                print(f"         {line}")
            if retracted:
                print(f"         {retracted}")
        print(f"  ratio second/first: {totals[1][0] / totals[0][0]:.2f}x wall, {totals[1][1] / totals[0][1]:.2f}x CPU "
              f"(goal <= 1.5x); consumer peak RSS {float(rows[1][2]['peak_rss_mb']):.0f} MB (goal < 1024 MB)")  # type: ignore[arg-type]
        said = rows[1][4]
        ingest_counts = _summed(_INGEST_COUNTS, [line for line in said if line.startswith("ingest: ")])
        consumer_counts = _summed(_CONSUMER_COUNTS, [line for line in said if line.startswith("consumer: ")])
        swept = rows[1][3]
        consumer_counts.append(int(swept.split(" retracted ")[1].split()[0]) if swept else 0)
        print(benchlib.figures_line("snapshot_apply", source=opts.source, backend=opts.backend, ratio_cpu=totals[1][1] / totals[0][1],
                           ratio_wall=totals[1][0] / totals[0][0], consumer_rss_mb=float(rows[1][2]["peak_rss_mb"]),  # type: ignore[arg-type]
                           **{f"ingest_{k}": v for k, v in zip(("added", "changed", "unchanged", "retracted"), ingest_counts)},
                           **{f"consumer_{k}": v for k, v in zip(("added", "changed", "unchanged", "retracted"), consumer_counts)},
                           commit=benchlib.git_revision(), load=os.getloadavg()[0]))


def _summed(pattern: re.Pattern[str], lines: list[str]) -> list[int]:
    """The counts ``pattern`` finds in each of ``lines`` (one per scope), added up."""
    total = [0] * pattern.groups
    for line in lines:
        match = pattern.search(line)
        if match:
            total = [t + int(g.replace(",", "")) for t, g in zip(total, match.groups())]
    return total


def _vrp_pair(folder: Path, opts: argparse.Namespace) -> tuple[Path, Path, str]:
    real = [REAL / name for name in REAL_PAIR]
    if all(p.is_file() for p in real) and not opts.generated and not opts.smoke:
        return real[0], real[1], "real rpki-client exports of 2025-07-20 09:31 and 10:01"
    count = 5_000 if opts.smoke else opts.vrps
    first, second = generate(folder, count)
    return first, second, f"generated exports, {count:,} IPv4 VRPs each (7 removed, 6 added, 10,000 new expiries)"


def _pfx2as_pair(folder: Path, opts: argparse.Namespace) -> tuple[Path, Path, str]:
    if REAL_PFX2AS.is_file() and not opts.generated and not opts.smoke:
        first, what = REAL_PFX2AS, f"real {REAL_PFX2AS.name}"
    else:
        count = 5_000 if opts.smoke else opts.routes
        first, what = generate_routes(folder / "routeviews-rv2-20240406-1200.pfx2as.gz", count), f"a generated file of {count:,} routes"
    second, churn = next_day(first, folder)
    return first, second, (f"{what}, then {NEXT_DAY} generated from it ({churn['withdrawn']:,} withdrawn, {churn['new']:,} new, "
                           f"{churn['moved']:,} with another origin)")


def _step(source: str, label: str, path: Path, env: dict[str, str]) -> tuple[str, dict[str, object], dict[str, object], str, list[str]]:
    """Ingest one file and consume it, each in its own process; what the consumer's sweeps retracted,
    and the ingest's and the consumer's lines about the snapshot."""
    ingest = measured(["ingest", source, str(path)], env)
    consume = measured(["consume", "--until-idle"], env)
    swept = [line for line in str(consume["output"]).splitlines() if "fact(s) it no longer holds" in line]
    retracted = f"{len(swept)} sweep(s) retracted {sum(int(line.split('retracted ')[1].split()[0]) for line in swept)} facts" if swept else ""
    said = [f"ingest: {line}" for line in str(ingest["output"]).splitlines() if line.startswith("snapshot ")]
    said += [f"consumer: {line.split(' INFO ', 1)[1]}" for line in str(consume["output"]).splitlines() if ") complete: " in line]
    return label, ingest, consume, retracted, said


def _delete_topics(prefix: str) -> None:
    """Remove the run's topics from the broker (two full exports' worth of messages)."""
    from kafka import KafkaAdminClient

    from chainrisk.graph.config import load_settings

    admin = KafkaAdminClient(**load_settings(backend="services").kafka_client_config())
    try:
        mine = [t for t in admin.list_topics() if t.startswith(f"{prefix}.")]
        if mine:
            admin.delete_topics(mine)
    finally:
        admin.close()


def _delete_snapshot_state(prefix: str) -> None:
    """Remove the ingest's snapshot state of the run's topics from the services' state folder."""
    from chainrisk.graph.backend import event_log_name
    from chainrisk.graph.config import load_settings

    settings = load_settings(backend="services").model_copy(update={"topic_prefix": prefix})
    log = event_log_name(settings)
    for path in (Path(settings.state_dir) / "snapshots").glob("*"):
        with open(path, "rb") as fh:
            head = fh.readline()
        try:
            if json.loads(head).get("log") == log:
                path.unlink()
        except ValueError:
            continue


def _services_env() -> dict[str, str]:
    """The environment of a run through Kafka into Neo4j (the services of CHAINRISK_STATE_DIR): a topic
    prefix and group of its own, and an empty Neo4j database."""
    import uuid

    from chainrisk.graph.config import load_settings
    from chainrisk.graph.stores.neo4j_store import NeoStore

    prefix = f"snapbench-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "CHAINRISK_BACKEND": "services", "CHAINRISK_TOPIC_PREFIX": prefix, "CHAINRISK_CONSUMER_GROUP": prefix,
           "CHAINRISK_ALERTS": "false"}
    settings = load_settings(backend="services")
    neo = NeoStore(settings)
    try:
        neo.ensure_schema()
        neo.wipe()
    finally:
        neo.close()
    return env


if __name__ == "__main__":
    main()
