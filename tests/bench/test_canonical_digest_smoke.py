"""bench/canonical_digest.py gives the same digests for two runs of the same input (so it can show
that a change of code changed no result), and they change when the input does."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "canonical_digest.py"


def digests(seed: int) -> list[str]:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    env.pop("CHAINRISK_STATE_DIR", None)
    done = subprocess.run([sys.executable, str(BENCH), "--blocks", "300", "--seed", str(seed), "--backend", "embedded"],
                          capture_output=True, text=True, timeout=600, env=env, check=False)
    assert done.returncode == 0, done.stderr
    found = re.findall(r"sha256 ([0-9a-f]{16})", done.stdout)
    assert len(found) == 3, done.stdout  # graph dump, report blocks, report exposure
    return found


def test_two_runs_of_the_same_input_give_the_same_digests() -> None:
    first = digests(1)
    assert digests(1) == first  # snapshot ids, alert ids and the work folder differ between runs
    assert digests(2)[0] != first[0]
