"""How the consumer loop fills a batch: after a quiet spell the first records are applied as they
come (no ``batch_wait_s`` wait: an event's latency when idle), while records keep coming it keeps
polling to fill the batch (large batches when busy)."""
from __future__ import annotations

from chainrisk.graph.consumer import ConsumerOptions, _fill_batch
from chainrisk.graph.eventlog.sources import RawRecord


class Trickle:
    """A record source handing out one record per poll from what it holds, noting each poll's timeout."""

    def __init__(self, count: int) -> None:
        self.held = [RawRecord("t", 0, offset, None, b"{}") for offset in range(count)]
        self.timeouts: list[float] = []

    def poll(self, max_records: int, timeout_s: float) -> list[RawRecord]:
        self.timeouts.append(timeout_s)
        taken, self.held = self.held[:min(1, max_records)], self.held[min(1, max_records):]
        return taken


def test_after_an_idle_poll_the_first_records_go_without_waiting_to_fill() -> None:
    source = Trickle(5)
    records = _fill_batch(source, ConsumerOptions(group="g", batch_size=10, batch_wait_s=5.0), fill=False)
    assert [r.offset for r in records] == [0]
    assert len(source.timeouts) == 1  # no second poll waiting for more


def test_while_busy_a_batch_is_filled_up_to_its_size() -> None:
    source = Trickle(5)
    records = _fill_batch(source, ConsumerOptions(group="g", batch_size=4, batch_wait_s=5.0))
    assert [r.offset for r in records] == [0, 1, 2, 3]
    assert len(source.held) == 1
