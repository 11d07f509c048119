"""bench/parse_rates.py --smoke runs on the real samples and reports, for every worker whose largest
sample is present, a parse rate, the raw-read ratio, peak RSS and the events' fingerprint, the same as
bench/parse_fingerprints.json records (so the benchmark cannot rot)."""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "parse_rates.py"
RECORDED = BENCH.parent / "parse_fingerprints.json"  # the fingerprints of the events before any parser was made faster
REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real"


def largest_samples() -> dict[str, str]:
    spec = importlib.util.spec_from_file_location("parse_rates", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return dict(module.LARGEST)


def test_parse_rates_smoke_reports_every_present_worker() -> None:
    present = {worker for worker, relative in largest_samples().items() if (REAL / relative).is_file()}
    if not present:
        pytest.skip(f"none of the real samples parse_rates.py reads is under {REAL} (see SOURCES.md there)")
    done = subprocess.run([sys.executable, str(BENCH), "--smoke", "--json", "--data", str(REAL), "--check", str(RECORDED)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr  # 1: some worker's events differ from the recorded ones
    results = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert {r["worker"] for r in results} == present
    for r in results:
        assert r["rows"] > 0 and r["rows_per_second"] > 0, r
        assert r["raw_lines"] > 0 and r["slowdown"] > 0, r
        assert r["peak_rss_mb"] >= r["interpreter_rss_mb"] > 0, r
        assert r["fingerprint"]["events"] == r["events"] and len(r["fingerprint"]["events_sha256"]) == 64, r
        assert r["check"] == "same", r


@pytest.mark.parametrize("worker", ["arin", "rpsl"])  # their references run on past the path: <path>#<query>
def test_fingerprint_does_not_depend_on_where_the_data_folder_is(worker: str, tmp_path: Path) -> None:
    relative = largest_samples()[worker]
    if not (REAL / relative).is_file():
        pytest.skip(f"{REAL / relative} is absent (see SOURCES.md in {REAL})")
    elsewhere = tmp_path / "somewhere" / "else"
    elsewhere.parent.mkdir(parents=True)
    elsewhere.symlink_to(REAL, target_is_directory=True)
    done = subprocess.run([sys.executable, str(BENCH), "--smoke", "--json", "--workers", worker,
                           "--data", str(elsewhere), "--check", str(RECORDED)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr


def test_fingerprint_does_not_depend_on_the_files_mtime(tmp_path: Path) -> None:
    """Some arin records carry no date, so they are dated by the file's mtime, which every fresh
    copy of the data folder changes: the fingerprint pins it."""
    relative = largest_samples()["arin"]
    if not (REAL / relative).is_file():
        pytest.skip(f"{REAL / relative} is absent (see SOURCES.md in {REAL})")
    copy = tmp_path / "real" / relative
    copy.parent.mkdir(parents=True)
    shutil.copyfile(REAL / relative, copy)
    os.utime(copy, (1_000_000_000, 1_000_000_000))  # 2001-09-09, unlike any copy's
    done = subprocess.run([sys.executable, str(BENCH), "--smoke", "--json", "--workers", "arin",
                           "--data", str(tmp_path / "real"), "--check", str(RECORDED)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
