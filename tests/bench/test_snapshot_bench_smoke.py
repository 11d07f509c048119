"""The snapshot benchmark's smoke modes run on the embedded backend (so bench/snapshot_apply.py cannot
rot), for VRP exports and for pfx2as files: the second file's sweep retracts what it lacks, and the
ingest's printed counts equal the consumer's."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "snapshot_apply.py"


@pytest.mark.parametrize("source", ["vrps", "pfx2as"])
def test_snapshot_bench_smoke(source: str, tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    done = subprocess.run([sys.executable, str(BENCH), "--smoke", "--source", source], capture_output=True, text=True, timeout=300,
                          check=False, env=env, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout + done.stderr
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith("FIGURES snapshot_apply "))
    got = dict(re.findall(r"(\w+)=(\S+)", line))
    assert got["source"] == source and float(got["ratio_cpu"]) > 0 and float(got["consumer_rss_mb"]) > 0
    counts = ("added", "changed", "unchanged", "retracted")
    assert [int(got[f"ingest_{k}"]) for k in counts] == [int(got[f"consumer_{k}"]) for k in counts]
    assert int(got["ingest_retracted"]) > 0 and int(got["ingest_added"]) > 0 and int(got["ingest_changed"]) > 0
