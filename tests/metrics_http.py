"""Reading a consumer's metrics server in tests: GET, a parsed /metrics scrape, and waiting for a condition."""
from __future__ import annotations

import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from chainrisk.graph.metrics import OUTCOMES
from chainrisk.graph.stores.nx_store import NxStore
from chainrisk.ingest.events import TOPIC_OF_TYPE

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def scrape(port: int) -> Samples:
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


def outcomes_one_by_one(folder: Path, events: list[Any]) -> dict[tuple[str, str, str], int]:
    """(topic, type, outcome) -> events, applying one event per batch and reading its outcome off the
    batch's four totals: independent of how a store counts a batch by type."""
    store = NxStore(folder)
    out: dict[tuple[str, str, str], int] = {}
    for event in events:
        result = store.apply_batch([event], {}, "g")
        (outcome,) = [name for name in OUTCOMES if getattr(result, name)]
        key = (TOPIC_OF_TYPE[event.type], event.type, outcome)
        out[key] = out.get(key, 0) + 1
    store.close()
    return out


def by_type(samples: Samples) -> dict[tuple[str, str, str], int]:
    out = {}
    for (name, labels), value in samples.items():
        outcome = name.removeprefix("chainrisk_events_").removesuffix("_total")
        if outcome in OUTCOMES and value:
            got = dict(labels)
            out[(got["topic"], got["type"], outcome)] = int(value)
    return out
