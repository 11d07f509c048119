"""The analysis benchmark's smoke mode runs (so bench/analysis_bench.py cannot rot) and its brute-force
cross-check finds no disagreement."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "analysis_bench.py"


def test_analysis_bench_smoke():
    done = subprocess.run([sys.executable, str(BENCH), "--smoke"], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    row = next(line for line in done.stdout.splitlines() if re.match(r"\s+\d{1,3},\d{3}\s+\d+\.\d+\s", line))
    wall, cpu = (float(x) for x in row.split()[1:3])
    assert 0 < cpu and 0 < wall
    assert "0 disagreements" in done.stdout
