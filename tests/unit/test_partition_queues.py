"""PartitionQueues (graph/eventlog/sources.py): what the Kafka source read is handed to the consumer
loop shortest partition queue first, each partition's records in offset order and none twice."""
from __future__ import annotations

from chainrisk.graph.eventlog.sources import PartitionQueues, RawRecord


def records(topic: str, partition: int, first: int, count: int) -> list[RawRecord]:
    return [RawRecord(topic, partition, offset, None, b"{}") for offset in range(first, first + count)]


def test_a_short_queue_goes_before_a_backlog() -> None:
    queues = PartitionQueues()
    queues.add(records("relationships", 0, 0, 900))
    queues.add(records("relationships", 1, 0, 700))
    queues.add(records("routing", 2, 40, 1))
    assert queues.take(500) == [RawRecord("routing", 2, 40, None, b"{}")]  # alone: its batch carries no backlog
    batch = queues.take(500)  # then the shorter backlog, from its front
    assert [(r.partition, r.offset) for r in batch] == [(1, n) for n in range(500)]
    assert len(queues) == 900 + 200


def test_without_a_backlog_short_queues_share_a_batch() -> None:
    queues = PartitionQueues()
    queues.add(records("relationships", 0, 0, 60))
    queues.add(records("routing", 1, 0, 2))
    batch = queues.take(500)
    assert [(r.partition, r.offset) for r in batch] == [(1, 0), (1, 1), *((0, n) for n in range(60))]


def test_every_record_once_in_partition_order() -> None:
    queues = PartitionQueues()
    for first in range(0, 1000, 100):
        queues.add(records("relationships", 0, first, 100))
        queues.add(records("routing", 1, first // 10, 10))
    taken: list[RawRecord] = []
    while len(queues):
        batch = queues.take(128)
        assert 0 < len(batch) <= 128
        for partition in (0, 1):  # within a batch each partition's records are one run, in order
            offsets = [r.offset for r in batch if r.partition == partition]
            if offsets:
                assert offsets == list(range(offsets[0], offsets[0] + len(offsets)))
        taken.extend(batch)
    assert [r.offset for r in taken if r.partition == 0] == list(range(1000))
    assert [r.offset for r in taken if r.partition == 1] == list(range(100))


def test_dropped_partitions_are_forgotten() -> None:
    queues = PartitionQueues()
    queues.add(records("relationships", 0, 0, 5))
    queues.add(records("routing", 1, 0, 3))
    queues.drop([("relationships", 0)])
    assert queues.size(("relationships", 0)) == 0
    assert [r.topic for r in queues.take(10)] == ["routing"] * 3
    assert queues.take(10) == []
