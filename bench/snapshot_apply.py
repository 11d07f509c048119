"""Cost of a second full VRP export against the first, end to end (ingest + consume), on the embedded
backend or (``--backend services``) through Kafka into Neo4j.

Two rpki-client JSON exports go through `chainrisk ingest vrps` and `chainrisk consume --until-idle`,
each in its own process, in a fresh state folder: first the older, then the newer, which supersedes
it (its retractions included). The real pair of 2025-07-20 (../shared/data/real/rpki_vrps/) is used
when present; otherwise a generated pair of realistic size and churn (default 580,000 IPv4 VRPs over
five trust anchors; the newer one has 7 VRPs removed, 6 added and 10,000 with a new expiry).
Figures: wall and CPU seconds of each step, the consumer's peak RSS, and the ratio second/first
(CPU seconds are this machine's Python processes; with ``--backend services`` Neo4j's and Kafka's own
CPU is not in them). Goal: the second export costs at most 1.5x the first; the consumer stays under 1 GB.

    python bench/snapshot_apply.py                 # 580k VRPs, several minutes
    python bench/snapshot_apply.py --vrps 20000    # a quick look
    python bench/snapshot_apply.py --smoke         # 5,000 VRPs, about 20 s
    CHAINRISK_STATE_DIR=<services state> flock /tmp/chainrisk-neo4j.lock python bench/snapshot_apply.py --backend services
        # own topic prefix and group; WIPES the Neo4j database first
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REAL = REPO.parent / "shared" / "data" / "real" / "rpki_vrps"
REAL_PAIR = ("rpki-client_vrps_20250720T093135Z.json.bz2", "rpki-client_vrps_20250720T100145Z.json.bz2")
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
    parser.add_argument("--vrps", type=int, default=580_000, help="VRPs per generated export (when the real pair is absent)")
    parser.add_argument("--smoke", action="store_true", help="5,000 generated VRPs")
    parser.add_argument("--generated", action="store_true", help="use a generated pair even when the real one is present")
    parser.add_argument("--backend", choices=("embedded", "services"), default="embedded",
                        help="services: Kafka + Neo4j of CHAINRISK_STATE_DIR (wipes Neo4j; run under the Neo4j lock)")
    opts = parser.parse_args()
    count = 5_000 if opts.smoke else opts.vrps
    with tempfile.TemporaryDirectory(prefix="chainrisk-snapshot-bench-") as tmp:
        folder = Path(tmp)
        real = [REAL / name for name in REAL_PAIR]
        if all(p.is_file() for p in real) and not opts.generated and not opts.smoke:
            first, second = real
            what = "real rpki-client exports of 2025-07-20 09:31 and 10:01"
        else:
            first, second = generate(folder, count)
            what = f"generated exports, {count:,} IPv4 VRPs each (7 removed, 6 added, 10,000 new expiries)"
        env = {**os.environ, "CHAINRISK_STATE_DIR": str(folder / "state"), "CHAINRISK_BACKEND": "embedded", "CHAINRISK_ALERTS": "false"}
        if opts.backend == "services":
            env = _services_env()
        rows = []
        try:
            for label, path in (("first", first), ("second", second)):
                rows.append(_step(label, path, env))
        finally:
            if opts.backend == "services":
                _delete_topics(env["CHAINRISK_TOPIC_PREFIX"])
        print(f"snapshot apply ({opts.backend}): {what}; load average {os.getloadavg()[0]:.1f}")
        totals = []
        for label, ingest, consume, retracted in rows:
            wall = float(ingest["wall"]) + float(consume["wall"])  # type: ignore[arg-type]
            cpu = float(ingest["cpu"]) + float(consume["cpu"])  # type: ignore[arg-type]
            totals.append((wall, cpu))
            print(f"  {label:6} ingest {ingest['wall']:.1f} s wall / {ingest['cpu']:.1f} s CPU, consume {consume['wall']:.1f} s wall / "
                  f"{consume['cpu']:.1f} s CPU, total {wall:.1f} s wall / {cpu:.1f} s CPU; consumer peak RSS {consume['peak_rss_mb']:.0f} MB")
            if retracted:
                print(f"         {retracted}")
        print(f"  ratio second/first: {totals[1][0] / totals[0][0]:.2f}x wall, {totals[1][1] / totals[0][1]:.2f}x CPU "
              f"(goal <= 1.5x); consumer peak RSS {float(rows[1][2]['peak_rss_mb']):.0f} MB (goal < 1024 MB)")  # type: ignore[arg-type]


def _step(label: str, path: Path, env: dict[str, str]) -> tuple[str, dict[str, object], dict[str, object], str]:
    """Ingest one export and consume it, each in its own process; what the consumer's sweeps retracted."""
    ingest = measured(["ingest", "vrps", str(path), "-q"], env)
    consume = measured(["consume", "--until-idle"], env)
    swept = [line for line in str(consume["output"]).splitlines() if "fact(s) it no longer holds" in line]
    retracted = f"{len(swept)} sweep(s) retracted {sum(int(line.split('retracted ')[1].split()[0]) for line in swept)} VRPs" if swept else ""
    return label, ingest, consume, retracted


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
