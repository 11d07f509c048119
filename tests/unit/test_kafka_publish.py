"""Routing of the parallel Kafka sink: every partition of a topic is owned by exactly one publisher
process, the owners spread the partitions evenly, and the setting that selects it is read from the
environment. (Publishing itself is tested against the real Kafka in tests/integration.)"""
from __future__ import annotations

import signal
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from chainrisk.graph.config import Settings
from chainrisk.graph.eventlog.kafka_io import key_partition
from chainrisk.graph.eventlog.kafka_publish import how_it_ended, owner_table, publisher_of


@given(partitions=st.integers(1, 64), processes=st.integers(1, 8))
def test_each_partition_has_one_owner_and_the_owners_are_balanced(partitions: int, processes: int) -> None:
    owners = owner_table(partitions, processes)
    assert len(owners) == partitions
    assert all(0 <= owner < processes for owner in owners)
    assert owners == [publisher_of(p, processes) for p in range(partitions)]
    load = Counter(owners)
    # every publisher gets work when there are enough partitions, and no publisher more than one extra partition
    assert len(load) == min(partitions, processes)
    assert max(load.values()) - min(load.values()) <= 1


def test_default_partitions_two_publishers_split_three_and_three() -> None:
    assert owner_table(6, 2) == [0, 1, 0, 1, 0, 1]
    assert owner_table(6, 3) == [0, 1, 2, 0, 1, 2]
    assert owner_table(6, 1) == [0] * 6


def test_messages_without_a_key_go_to_the_first_publisher() -> None:
    assert publisher_of(None, 3) == 0


@given(blocks=st.lists(st.from_regex(r"24[0-9]\.[0-9]{1,3}\.[0-9]{1,3}\.0/2[0-4]", fullmatch=True), min_size=1, max_size=200),
       processes=st.integers(2, 4))
def test_all_events_of_one_block_go_to_one_publisher(blocks: list[str], processes: int) -> None:
    """A block's key always maps to one partition and so to one publisher: its events cannot overtake
    each other by taking different processes."""
    owners = owner_table(6, processes)
    publisher_of_block: dict[str, set[int]] = {}
    for block in blocks:
        publisher_of_block.setdefault(block, set()).add(owners[key_partition(block.encode(), 6)])
    assert all(len(publishers) == 1 for publishers in publisher_of_block.values())


def test_how_a_publisher_ended_is_named() -> None:
    assert how_it_ended(-signal.SIGKILL) == "killed by signal SIGKILL"
    assert how_it_ended(1) == "exited with status 1"
    assert how_it_ended(None) == "still running"


def test_publish_processes_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHAINRISK_PUBLISH_PROCESSES", "3")
    assert Settings().publish_processes == 3
    monkeypatch.setenv("CHAINRISK_PUBLISH_PROCESSES", "0")
    with pytest.raises(ValidationError, match="publish_processes"):
        Settings()
