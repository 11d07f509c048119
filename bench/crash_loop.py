"""Crash loop on the real Kafka + Neo4j: SIGKILL the consumer at random moments while a generated
portfolio is being ingested, then `consume --until-idle`; the graph must equal an uninterrupted
embedded run's canonical dump, with nothing lost and nothing duplicated.

    CHAINRISK_STATE_DIR=/path/to/.chainrisk flock /tmp/chainrisk-neo4j.lock \\
        python bench/crash_loop.py --blocks 240000 --kills 20 --deadline 2400     # ~1M events

Runs everything through the `chainrisk` command of this environment: `generate`, the ingest workers
(leases, vrps, pfx2as, blocklist) into Kafka under a topic prefix of its own, and `consume
--backend services --until-idle` started again and again and killed (SIGKILL) after a random 1-12 s;
then one last uninterrupted `--until-idle`, which must exit 0. The same files go through the
embedded default without interruption for the expected graph. Wipes the Neo4j database (run it
under the Neo4j flock); deletes its topics at the end. Prints one line of figures; exit 1 on any
difference, or when the deadline (seconds, whole run) passes.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

FILES = (("leases", "leases.csv"), ("vrps", "vrps.json"), ("pfx2as", "routeviews-rv2-20261101-0000.pfx2as"), ("blocklist", "drop.txt"))


def chainrisk(*args: str) -> list[str]:
    return [sys.executable, "-m", "chainrisk.cli.main", *args]


def ingest_all(data: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    script = " && ".join(" ".join([*map(_quote, chainrisk("ingest", kind, str(data / name), "--quiet"))]) for kind, name in FILES)
    return subprocess.Popen(["sh", "-c", script], env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)


def _quote(arg: str) -> str:
    return "'" + arg.replace("'", "'\\''") + "'"


def multiset(dump: dict[str, list[dict[str, Any]]]) -> Counter[str]:
    """The dump's elements as JSON texts. A snapshot's id is new with each ingest of its file, and the
    expected graph comes from ingesting the files again: each id is written as what identifies the
    snapshot (fact type, scope, observed_at, file) instead, and a Snapshot node's ``event_id`` (its
    end event's, made from that id) is left out."""
    names = {}
    for node in dump["nodes"]:
        if "Snapshot" in node["labels"]:
            p = node["props"]
            names[p["snapshot_id"]] = f"snapshot:{p['fact_type']}|{p['scope']}|{p['observed_at']}|{p['reference']}"
    texts = []
    for element in dump["nodes"] + dump["relationships"]:
        if "Snapshot" in element.get("labels", ()):
            element = {**element, "props": {k: v for k, v in element["props"].items() if k != "event_id"}}
        text = json.dumps(element, sort_keys=True)
        for snapshot_id, name in names.items():
            text = text.replace(snapshot_id, name)
        texts.append(text)
    return Counter(texts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--blocks", type=int, default=240_000, help="generated leased blocks (240k: ~1M events)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--max-alive", type=float, default=12.0, help="a killed consumer lives 1 s to this long")
    parser.add_argument("--deadline", type=float, default=2400.0, help="seconds for the whole run")
    parser.add_argument("--work", type=Path, default=None, help="folder for data and logs (default: a temporary one)")
    args = parser.parse_args()

    from chainrisk.graph.config import Settings
    from chainrisk.graph.stores.neo4j_store import NeoStore
    from chainrisk.graph.stores.nx_store import NxStore

    started = time.monotonic()
    deadline = started + args.deadline
    work = args.work or Path(tempfile.mkdtemp(prefix="crash-loop-"))
    work.mkdir(parents=True, exist_ok=True)
    state = Path(os.environ.get("CHAINRISK_STATE_DIR", ".chainrisk")).resolve()
    prefix = f"crash-{uuid.uuid4().hex[:8]}"
    services = {**os.environ, "CHAINRISK_BACKEND": "services", "CHAINRISK_TOPIC_PREFIX": prefix, "CHAINRISK_CONSUMER_GROUP": prefix,
                "CHAINRISK_STATE_DIR": str(state), "CHAINRISK_ALERTS": "false", "CHAINRISK_TOPIC_PARTITIONS": "6"}
    embedded = {**os.environ, "CHAINRISK_BACKEND": "embedded", "CHAINRISK_STATE_DIR": str(work / "embedded"), "CHAINRISK_ALERTS": "false"}
    log = work / "run.log"
    data = work / "data"
    subprocess.run(chainrisk("generate", "--blocks", str(args.blocks), "--seed", str(args.seed), "--out", str(data)),
                   check=True, stdout=subprocess.DEVNULL)
    settings = Settings(**{"backend": "services", "state_dir": state, "topic_prefix": prefix, "consumer_group": prefix, "alerts": False})
    neo = NeoStore(settings)
    neo.ensure_schema()
    neo.wipe()
    rng = random.Random(args.seed)
    kills: list[float] = []
    try:
        ingest = ingest_all(data, services, log)
        while len(kills) < args.kills and time.monotonic() < deadline:
            consumer = subprocess.Popen(chainrisk("consume", "--until-idle", "--batch-size", "2000", "--metrics-interval", "30"),
                                        env=services, stdout=log.open("ab"), stderr=subprocess.STDOUT)
            alive = rng.uniform(1.0, args.max_alive)
            time.sleep(alive)
            if consumer.poll() is not None:
                break  # caught up before the kill: the remaining kills have nothing to interrupt
            consumer.send_signal(signal.SIGKILL)
            consumer.wait()
            kills.append(round(time.monotonic() - started, 1))
        if ingest.wait(timeout=max(1.0, deadline - time.monotonic())) != 0:
            print(f"ingest failed, see {log}", file=sys.stderr)
            return 1
        ingested = time.monotonic() - started
        final = subprocess.run(chainrisk("consume", "--until-idle", "--metrics-interval", "30"), env=services,
                               stdout=log.open("ab"), stderr=subprocess.STDOUT, timeout=max(1.0, deadline - time.monotonic()))
        consumed = time.monotonic() - started
        for kind, name in FILES:
            subprocess.run(chainrisk("ingest", kind, str(data / name), "--quiet"), env=embedded, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run(chainrisk("consume", "--until-idle"), env=embedded, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=max(1.0, deadline - time.monotonic()))
        expected = multiset(NxStore(work / "embedded").canonical_dump())
        actual = multiset(neo.canonical_dump())
    finally:
        neo.close()
        from kafka import KafkaAdminClient

        admin = KafkaAdminClient(**settings.kafka_client_config())
        try:
            mine = [t for t in admin.list_topics() if t.startswith(f"{prefix}.")]
            if mine:
                admin.delete_topics(mine)
        finally:
            admin.close()
    lost = sum((expected - actual).values())
    extra = sum((actual - expected).values())
    duplicated = sum(n - 1 for n in actual.values() if n > 1)
    events = sum(int(m) for m in re.findall(r"kafka: published (\d+) message", log.read_text(errors="replace")))
    ok = final.returncode == 0 and lost == 0 and extra == 0 and duplicated == 0
    print(f"crash loop: {args.blocks} blocks ({events:,} events), {len(kills)} SIGKILLs at {kills} s; ingest done at {ingested:.0f} s, "
          f"final --until-idle exit {final.returncode} at {consumed:.0f} s; graph {sum(actual.values())} elements, "
          f"expected {sum(expected.values())}: lost {lost}, unexpected {extra}, duplicated {duplicated}; "
          f"{'IDENTICAL' if ok else 'DIFFERENT'} (log {log})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
