"""The analysis benchmark's smoke mode runs (so bench/analysis_bench.py cannot rot), its brute-force
cross-check finds no disagreement, and the analysis spread over two processes gives the one-process results."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "analysis_bench.py"


def test_analysis_bench_smoke():
    done = subprocess.run([sys.executable, str(BENCH), "--smoke", "--processes", "2"], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    row = next(line for line in done.stdout.splitlines() if re.match(r"\s+\d{1,3},\d{3}\s+\d+\.\d+\s", line))
    wall, cpu = (float(x) for x in row.split()[1:3])
    assert 0 < cpu and 0 < wall
    assert "0 disagreements" in done.stdout
    assert re.search(r"over 2 process\(es\): [\d.]+ s wall .*results identical", done.stdout), done.stdout
