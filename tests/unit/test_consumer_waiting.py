"""The consumer loop's `--until-idle` ends only when the graph has reached the topics' ends: a source
that delivers nothing while the graph is behind (no partitions assigned, the rest held by other
members) is waited for, said so, and given up with the reason after the wait timeout."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest

from chainrisk.graph.consumer import ConsumerOptions, ConsumerStalled, run_consumer
from chainrisk.graph.eventlog.sources import RawRecord
from chainrisk.graph.stores.nx_store import NxStore


class NothingAssigned:
    """A record source of the consumer loop whose group gives it nothing, while `behind` records wait."""

    def __init__(self, behind: int) -> None:
        self.records_behind = behind
        self.polls = 0

    def poll(self, max_records: int, timeout_s: float) -> list[RawRecord]:
        self.polls += 1
        return []

    def seek(self, offsets: dict) -> None: ...

    def commit(self, offsets: dict) -> None: ...

    def lag(self) -> None:
        return None

    def partition_lag(self) -> dict:
        return {}

    def caught_up(self) -> bool:
        return self.records_behind == 0

    def behind(self) -> int:
        return self.records_behind

    def waiting_for(self) -> str:
        return "no partitions of group g assigned to this consumer yet"

    def close(self) -> None: ...


class NoDeadLetters:
    def send(self, record: RawRecord, reason: str) -> None: ...

    def flush(self) -> None: ...


def options(**kw: float) -> ConsumerOptions:
    return ConsumerOptions(group="g", until_idle=True, poll_timeout_s=0.0, wait_timeout_s=kw.get("wait", 0.6),
                           wait_log_interval_s=kw.get("log", 0.2))


def test_until_idle_never_ends_as_done_while_the_graph_is_behind(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    source = NothingAssigned(behind=280_000)
    caplog.set_level(logging.INFO, logger="chainrisk.consumer")
    with pytest.raises(ConsumerStalled) as stalled:
        run_consumer(NxStore(tmp_path), source, NoDeadLetters(), options())
    assert "280,000 record(s) behind" in str(stalled.value) and "no partitions of group g assigned" in str(stalled.value)
    assert "waiting" in caplog.text and "no partitions of group g assigned" in caplog.text
    assert source.polls > 1


def test_until_idle_ends_at_once_when_the_graph_has_everything(tmp_path: Path) -> None:
    stats = run_consumer(NxStore(tmp_path), NothingAssigned(behind=0), NoDeadLetters(), options(wait=60))
    assert stats.records == 0
