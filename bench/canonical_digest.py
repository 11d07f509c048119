"""Digests of what the pipeline produces for a generated portfolio, to show that a change of code
changed no result: the canonical graph dump (facts and analysis write-back, timestamps of the run
left out), and the JSON of ``report blocks`` and ``report exposure``.

    python bench/canonical_digest.py --blocks 100000 --seed 1 --backend embedded
    python bench/canonical_digest.py --blocks 100000 --seed 1 --backend services   # Kafka + Neo4j up

Everything runs through the ``chainrisk`` command of the current environment (generate, every
ingest worker, consume --until-idle, analyze, report) in a fresh state folder, so two revisions can
be compared by running this script in each one's environment. Prints one line per digest.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

AS_OF = "2026-11-01"
FILE_TIME = 1793491200  # 2026-11-01T00:00:00Z, the generated files' modification time
FILES = (("leases", "leases.csv"), ("rpsl", "registry.db"), ("transfers", "transfers.json"),
         ("vrps", "vrps.json"), ("pfx2as", "routeviews-rv2-20261101-0000.pfx2as"), ("blocklist", "drop.txt"))
RUN_STAMPS = {"analysed_at", "ingested_at", "computed_at"}


def _run(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(["chainrisk", *args], env=env, capture_output=True, text=True)
    if done.returncode not in (0, 1):  # 1: the generator plants rejects on purpose in some files
        sys.exit(f"chainrisk {' '.join(args)} failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout


def _strip(value: object) -> object:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in RUN_STAMPS}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


_SNAPSHOT_ID = re.compile(r'(?<=snapshot": ")[0-9a-f]{32}|(?<=snapshot_id": ")[0-9a-f]{32}|(?<=snapshot )[0-9a-f]{32}')


def _run_free(value: object, work: Path | None) -> object:
    """``value`` without what differs between two runs of the same input: run stamps; ``work``, the
    run's own temporary folder (in every fact's ``reference``), as ``$WORK``; each ingest's random
    snapshot id as ``$SNAPSHOT<n>``, numbered in order of first appearance; the alert ids (hashes
    of a cause that names a snapshot id) as ``$ALERT``, and a Snapshot node's ``event_id`` (its end
    marker's, a hash of the id) left out; the node and relationship lists are sorted again."""
    text = json.dumps(_strip(value), sort_keys=True, default=str)
    if work is not None:
        text = text.replace(str(work), "$WORK")
    names: dict[str, str] = {}
    text = _SNAPSHOT_ID.sub(lambda m: names.setdefault(m.group(0), f"$SNAPSHOT{len(names) + 1}"), text)
    for alert_id in set(re.findall(r'alert_id": "([0-9a-f]{16})"', text)):
        text = text.replace(alert_id, "$ALERT")
    clean = json.loads(text)
    if isinstance(clean, dict):
        for node in clean.get("nodes", []):
            if "Snapshot" in node.get("labels", []):
                node.get("props", {}).pop("event_id", None)
        for key in ("nodes", "relationships"):
            if isinstance(clean.get(key), list):
                clean[key].sort(key=lambda item: json.dumps(item, sort_keys=True))
    return clean


def _digest(value: object, work: Path | None = None) -> str:
    """A short sha256 of ``value`` as :func:`_run_free` leaves it, so two runs can be compared."""
    return hashlib.sha256(json.dumps(_run_free(value, work), sort_keys=True).encode()).hexdigest()[:16]


DUMP = """
import json, sys
from chainrisk.graph.config import load_settings
try:
    from chainrisk.graph.backend import open_store
except ImportError:
    from chainrisk.graph.transport import open_store
store = open_store(load_settings())
try:
    json.dump(store.canonical_dump(), sys.stdout, default=str)
finally:
    store.close()
"""


WIPE = """
from chainrisk.graph.config import load_settings
try:
    from chainrisk.graph.backend import open_store
except ImportError:
    from chainrisk.graph.transport import open_store
store = open_store(load_settings())
try:
    store.wipe()
finally:
    store.close()
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--blocks", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--backend", choices=["embedded", "services"], default="embedded")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--write-dump", type=Path, metavar="FILE",
                        help="also write the digested graph dump (run stamps left out) to FILE, to diff two runs")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="chainrisk-digest-"))
    env = dict(os.environ, CHAINRISK_BACKEND=args.backend)
    if args.backend == "embedded":
        env["CHAINRISK_STATE_DIR"] = str(work / "state")
    else:  # topics of its own; Community Neo4j has one database, which is wiped first
        env["CHAINRISK_TOPIC_PREFIX"] = f"digest{os.getpid()}"
        subprocess.run([sys.executable, "-c", WIPE], env=env, check=True)
    started = time.monotonic()
    _run(["generate", "--blocks", str(args.blocks), "--seed", str(args.seed), "--out", str(work / "in"), "--broken-rate", "0.01"], env)
    # a file whose content and name give no date is observed at its modification time, which is part
    # of its events' ids: without a fixed one, two runs a second apart give different graphs
    for path in (work / "in").iterdir():
        os.utime(path, (FILE_TIME, FILE_TIME))
    for worker, name in FILES:
        if (work / "in" / name).exists():
            _run(["ingest", worker, "--quiet", str(work / "in" / name)], env)
    _run(["consume", "--until-idle"], env)
    _run(["analyze", "--as-of", AS_OF], env)
    blocks = json.loads(_run(["report", "blocks", "--format", "json", "--limit", "0", "--as-of", AS_OF], env))
    exposure = json.loads(_run(["report", "exposure", "--format", "json", "--limit", "0", "--as-of", AS_OF], env))
    dump = json.loads(subprocess.run([sys.executable, "-c", DUMP], env=env, capture_output=True, text=True, check=True).stdout)
    print(f"backend {args.backend}, {args.blocks:,} blocks, seed {args.seed}, {time.monotonic() - started:.0f}s")
    print(f"graph dump: {len(dump['nodes']):,} nodes, {len(dump['relationships']):,} relationships, sha256 {_digest(dump, work)}")
    if args.write_dump is not None:
        args.write_dump.write_text(json.dumps(_run_free(dump, work), sort_keys=True, indent=1) + "\n")
    print(f"report blocks: {len(blocks) if isinstance(blocks, list) else len(blocks.get('blocks', []))} rows, sha256 {_digest(blocks)}")
    print(f"report exposure: sha256 {_digest(exposure)}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
