"""How the consumer loop fills a batch: a lone record after a quiet spell is applied as it comes
(no ``batch_wait_s`` wait: an event's latency when idle), records that come several at a time are
gathered up to the batch size (large batches when busy)."""
from __future__ import annotations

from chainrisk.graph.consumer import ConsumerOptions, _fill_batch
from chainrisk.graph.eventlog.sources import RawRecord


class Trickle:
    """A record source handing out ``per_poll`` records per poll from what it holds, noting each poll's timeout."""

    def __init__(self, count: int, per_poll: int) -> None:
        self.held = [RawRecord("t", 0, offset, None, b"{}") for offset in range(count)]
        self.per_poll = per_poll
        self.timeouts: list[float] = []

    def poll(self, max_records: int, timeout_s: float) -> list[RawRecord]:
        self.timeouts.append(timeout_s)
        n = min(self.per_poll, max_records)
        taken, self.held = self.held[:n], self.held[n:]
        return taken


def test_a_lone_record_goes_without_waiting_to_fill_the_batch() -> None:
    source = Trickle(5, per_poll=1)
    records = _fill_batch(source, ConsumerOptions(group="g", batch_size=10, batch_wait_s=5.0))
    assert [r.offset for r in records] == [0]
    assert len(source.timeouts) == 1  # no second poll waiting for more


def test_records_coming_several_at_a_time_fill_the_batch_up_to_its_size() -> None:
    source = Trickle(9, per_poll=2)
    records = _fill_batch(source, ConsumerOptions(group="g", batch_size=5, batch_wait_s=5.0))
    assert [r.offset for r in records] == [0, 1, 2, 3, 4]
    assert len(source.held) == 4
