"""Reading a consumer's metrics server in tests: GET, a parsed /metrics scrape, and waiting for a condition."""
from __future__ import annotations

import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable

from prometheus_client.parser import text_string_to_metric_families


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics by (name, labels)."""
    status, text = get(port, "/metrics")
    assert status == 200
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def wait_for(condition: Callable[[], bool], what: str, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"consumer exited with {proc.returncode} waiting for {what}: {proc.communicate()[1]}")
        try:
            if condition():
                return
        except (OSError, AssertionError):
            pass  # the server is not up yet
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")
