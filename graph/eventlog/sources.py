"""Where the consumer reads records and writes dead letters: the embedded log or Kafka.

``RecordSource`` and ``DeadLetters`` are what the consumer loop (``graph/consumer.py``) needs of a
transport; ``LogSource``/``LogDeadLetters`` implement them on the embedded log, ``KafkaSource``/
``KafkaDeadLetters`` on Kafka. A source seeks to the offsets stored with the graph, never Kafka's.
"""
from __future__ import annotations

import base64
import json
import logging
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from chainrisk.graph.config import Settings
from chainrisk.graph.statefiles import StateDirError, ensure_private_dir, open_private
from chainrisk.graph.stores.protocol import GraphStore, TopicPartition
from chainrisk.ingest.events import INGEST_TOPICS, utc_now

log = logging.getLogger("chainrisk.consumer")
MAX_RAW_IN_DLQ = 100_000


@dataclass(frozen=True, slots=True)
class RawRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None  # Kafka allows a message without a value


class RecordSource(Protocol):
    def poll(self, max_records: int, timeout_s: float) -> list[RawRecord]: ...

    def seek(self, offsets: dict[TopicPartition, int]) -> None: ...

    def commit(self, offsets: dict[TopicPartition, int]) -> None: ...

    def lag(self) -> int | None: ...

    def partition_lag(self) -> dict[TopicPartition, int | None]:
        """Each assigned partition and its records not yet read (None while unknown); {} when none is assigned."""
        ...

    def caught_up(self) -> bool: ...

    def behind(self) -> int: ...

    def waiting_for(self) -> str: ...

    def close(self) -> None: ...


class DeadLetters(Protocol):
    def send(self, record: RawRecord, reason: str) -> None: ...

    def flush(self) -> None: ...


def dead_letter_json(record: RawRecord, reason: str, group: str) -> bytes:
    """The dead-letter message for ``record``: why, where it was, and its raw value (as text when it
    is UTF-8, else base64)."""
    raw = (record.value or b"")[:MAX_RAW_IN_DLQ]
    try:
        value, encoding = raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        value, encoding = base64.b64encode(raw).decode("ascii"), "base64"
    body = {
        "reason": reason, "topic": record.topic, "partition": record.partition, "offset": record.offset,
        "key": record.key.decode("utf-8", "replace") if record.key is not None else None,
        "value": value, "value_encoding": encoding, "truncated": len(record.value or b"") > MAX_RAW_IN_DLQ,
        "consumer_group": group, "dead_lettered_at": utc_now().isoformat(),
    }
    return json.dumps(body, ensure_ascii=False).encode()


# --- the embedded transport ----------------------------------------------------------------------------


class LogSource:
    """Records from the embedded event log, from the store's offsets on (partition 0 of each topic)."""

    def __init__(self, event_log: Any, stored: dict[TopicPartition, int], topics: tuple[str, ...] = INGEST_TOPICS) -> None:
        self.log = event_log
        self.topics = topics
        self.positions = {(t, 0): stored.get((t, 0), 0) for t in topics}

    def poll(self, max_records: int, timeout_s: float) -> list[RawRecord]:
        out: list[RawRecord] = []
        for topic in self.topics:
            if len(out) >= max_records:
                break
            position = self.positions[(topic, 0)]
            for rec in self.log.read(topic, position, max_records - len(out)):
                out.append(RawRecord(topic, 0, rec.offset, None, rec.value))
                self.positions[(topic, 0)] = rec.offset + 1
        if not out and timeout_s > 0:
            time.sleep(min(timeout_s, 0.5))
        return out

    def seek(self, offsets: dict[TopicPartition, int]) -> None:
        self.positions.update({tp: n for tp, n in offsets.items() if tp in self.positions})

    def commit(self, offsets: dict[TopicPartition, int]) -> None:
        """Nothing to do: the offsets were stored with the graph."""

    def partition_lag(self) -> dict[TopicPartition, int | None]:
        return {(t, 0): max(0, self.log.end_offset(t) - self.positions[(t, 0)]) for t in self.topics}

    def lag(self) -> int:
        return sum(n or 0 for n in self.partition_lag().values())

    def caught_up(self) -> bool:
        return self.lag() == 0

    def behind(self) -> int:
        return self.lag()

    def waiting_for(self) -> str:
        return "the embedded log"

    def close(self) -> None:
        self.log.close()


class LogDeadLetters:
    def __init__(self, event_log: Any, group: str) -> None:
        self.log = event_log
        self.group = group
        self.pending: list[bytes] = []

    def send(self, record: RawRecord, reason: str) -> None:
        self.pending.append(dead_letter_json(record, reason, self.group))

    def flush(self) -> None:
        if self.pending:
            self.log.append("dlq", self.pending)
            self.pending = []


# --- the Kafka transport -----------------------------------------------------------------------------------

SHORT_QUEUE = 100  # a partition queue this short is not a backlog (PartitionQueues.take)
DRAIN_POLLS = 8  # polls without waiting that move what kafka-python has fetched into the queues, per poll


class PartitionQueues:
    """Records read from Kafka but not yet handed to the consumer loop, one queue per partition,
    handed out shortest queue first: a partition with a backlog (a bulk load of lease hops) never
    holds back one with a few new records (a VRP withdrawal), so detection does not wait behind
    bulk writes. Each queue keeps its partition's offset order and is handed out from its front,
    so every batch holds, per partition, one run of records following the previous batch's run -
    what the offsets stored with each batch need."""

    def __init__(self) -> None:
        self.queues: dict[TopicPartition, deque[RawRecord]] = {}

    def __len__(self) -> int:
        return sum(len(q) for q in self.queues.values())

    def size(self, tp: TopicPartition) -> int:
        return len(self.queues.get(tp, ()))

    def add(self, records: Iterable[RawRecord]) -> None:
        for record in records:
            self.queues.setdefault((record.topic, record.partition), deque()).append(record)

    def take(self, max_records: int) -> list[RawRecord]:
        """Up to ``max_records`` records: all of the shortest queue, then of the next, and so on;
        while other queues hold a backlog, the short ones (:data:`SHORT_QUEUE` records at most) go
        alone, as a small batch of their own, so their transaction does not carry a bulk batch."""
        order = sorted(self.queues, key=lambda tp: (len(self.queues[tp]), tp))
        short = [tp for tp in order if len(self.queues[tp]) <= SHORT_QUEUE]
        if short and len(short) < len(order):
            order = short
        out: list[RawRecord] = []
        for tp in order:
            queue = self.queues[tp]
            while queue and len(out) < max_records:
                out.append(queue.popleft())
            if not queue:
                del self.queues[tp]
            if len(out) >= max_records:
                break
        return out

    def drop(self, partitions: Iterable[TopicPartition]) -> None:
        """Forget what was read of ``partitions`` (revoked, or about to be re-read from a seek)."""
        for tp in partitions:
            self.queues.pop(tp, None)



class KafkaSource:
    """Records from the ingest topics through a KafkaConsumer in ``group``. On every partition
    assignment it seeks to the offsets stored with the graph (the beginning when none)."""

    def __init__(self, settings: Settings, store: GraphStore, group: str, batch_size: int) -> None:
        from kafka import ConsumerRebalanceListener, KafkaConsumer

        source = self

        class SeekToStoredOffsets(ConsumerRebalanceListener):
            def on_partitions_revoked(self, revoked: Any) -> None:
                source.queued.drop((tp.topic, tp.partition) for tp in revoked)
                log.info("partitions revoked: %s", _names(revoked))

            def on_partitions_assigned(self, assigned: Any) -> None:
                source._seek_assigned(list(assigned))

        self.store = store
        self.group = group
        self.batch_size = batch_size
        # what was fetched, per partition (PartitionQueues); a partition holding a batch's worth is
        # paused (kafka-python fetches it no further) until the loop has taken some of it
        self.queued = PartitionQueues()
        self.topics = [settings.topic(t) for t in INGEST_TOPICS]
        self.session_timeout_s = SESSION_TIMEOUT_MS / 1000
        self._slot_lock, instance_id = static_instance_id(Path(settings.state_dir), group)
        self.consumer = KafkaConsumer(
            **settings.kafka_client_config(),
            group_id=group,
            group_instance_id=instance_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=batch_size,
            bootstrap_timeout_ms=10_000,
            max_poll_interval_ms=600_000,
            session_timeout_ms=SESSION_TIMEOUT_MS,
            heartbeat_interval_ms=3_000,
        )
        self.consumer.subscribe(self.topics, listener=SeekToStoredOffsets())
        self.started = time.monotonic()

    def _seek_assigned(self, partitions: list[Any]) -> None:
        stored = self.store.stored_offsets(self.group)
        self.queued.drop((tp.topic, tp.partition) for tp in partitions)
        for tp in partitions:
            offset = stored.get((tp.topic, tp.partition))
            if offset is None:
                self.consumer.seek_to_beginning(tp)
            else:
                self.consumer.seek(tp, offset)
        log.info("partitions assigned: %s (seeking to the offsets stored with the graph)", _names(partitions))

    def poll(self, max_records: int, timeout_s: float) -> list[RawRecord]:
        """Up to ``max_records`` records, shortest partition queue first (:class:`PartitionQueues`):
        first everything kafka-python has fetched is moved into the queues (waiting up to
        ``timeout_s`` only when they are empty)."""
        paused = self.consumer.paused()
        drained = [tp for tp in paused if self.queued.size((tp.topic, tp.partition)) < self.batch_size]
        if drained:
            self.consumer.resume(*drained)
        wait_ms = 0 if len(self.queued) else int(timeout_s * 1000)
        for _ in range(DRAIN_POLLS):
            polled = self.consumer.poll(timeout_ms=wait_ms, max_records=self.batch_size)
            wait_ms = 0
            if not polled:
                # kafka-python has handed over all it fetched: only now pause (a partition paused
                # while some of its fetched records are still to be handed over is left stuck by
                # kafka-python 3.0, never fetched again)
                full = [tp for tp in self.consumer.assignment() or ()
                        if self.queued.size((tp.topic, tp.partition)) >= self.batch_size]
                if full:
                    self.consumer.pause(*full)
                break
            for tp, records in polled.items():
                self.queued.add(RawRecord(tp.topic, tp.partition, r.offset, r.key, r.value) for r in records)
        return self.queued.take(max_records)

    def seek(self, offsets: dict[TopicPartition, int]) -> None:
        for tp in self.consumer.assignment() or set():
            offset = offsets.get((tp.topic, tp.partition))
            if offset is not None:
                self.queued.drop([(tp.topic, tp.partition)])
                self.consumer.seek(tp, offset)

    def commit(self, offsets: dict[TopicPartition, int]) -> None:
        from kafka import OffsetAndMetadata
        from kafka import TopicPartition as KafkaTP

        try:
            self.consumer.commit({KafkaTP(t, p): OffsetAndMetadata(n, "", -1) for (t, p), n in offsets.items()})
        except Exception as exc:  # noqa: BLE001 - Kafka's copy is informational; the store has the offsets
            log.info("Kafka offset commit skipped (%s: %s); the offsets are stored with the graph", type(exc).__name__, exc)

    def partition_lag(self) -> dict[TopicPartition, int | None]:
        assigned = list(self.consumer.assignment() or ())
        if not assigned:
            return {}
        ends = self.consumer.end_offsets(assigned)
        out: dict[TopicPartition, int | None] = {}
        for tp in assigned:
            position = self.consumer.position(tp)  # None: kafka-python has no position for it yet, the lag is unknown
            # read but still queued here counts as not yet read
            out[(tp.topic, tp.partition)] = None if position is None else max(0, ends[tp] - position) + self.queued.size((tp.topic, tp.partition))
        return out

    def lag(self) -> int | None:
        lags = self.partition_lag()
        if not lags or None in lags.values():
            return None
        return sum(n or 0 for n in lags.values())

    def _partitions(self) -> list[Any]:
        from kafka import TopicPartition as KafkaTP

        return [KafkaTP(t, p) for t in self.topics for p in sorted(self.consumer.partitions_for_topic(t) or ())]

    def behind(self) -> int:
        """Records of the ingest topics past the offsets stored with the graph (the graph is the
        truth: what any member of the group applied counts, what this consumer merely read does not).
        Topics whose partitions Kafka has not described yet count as one record behind."""
        partitions = self._partitions()
        if len(partitions) < len(self.topics) or {tp.topic for tp in partitions} != set(self.topics):
            return max(1, sum(1 for _ in partitions))
        ends = self.consumer.end_offsets(partitions)
        begins = self.consumer.beginning_offsets(partitions)
        stored = self.store.stored_offsets(self.group)
        return sum(max(0, ends[tp] - stored.get((tp.topic, tp.partition), begins[tp])) for tp in partitions)

    def caught_up(self) -> bool:
        """The offsets stored with the graph have reached the end offsets of every partition of the
        ingest topics - never merely "nothing assigned to this consumer"."""
        return self.behind() == 0

    def waiting_for(self) -> str:
        assigned = self.consumer.assignment()
        if not assigned:
            return (f"no partitions of group {self.group} assigned to this consumer yet (a member that stopped without "
                    f"leaving the group holds them until its session expires, up to {self.session_timeout_s:.0f} s)")
        return (f"this consumer read its partitions ({_names(assigned)}) to their end; "
                f"the others belong to other members of group {self.group}")

    def close(self) -> None:
        try:
            self.consumer.close(autocommit=False)
        finally:
            if self._slot_lock is not None:
                self._slot_lock.close()


SESSION_TIMEOUT_MS = 30_000
MAX_SLOTS = 64


def static_instance_id(state_dir: Path, group: str) -> tuple[Any, str | None]:
    """A static group membership id for this consumer (Kafka's ``group.instance.id``, KIP-345) and
    the lock that reserves it: ``<host>-<group>-<slot>``, the lowest slot whose lock file
    ``<state_dir>/consumers/<group>.<slot>.lock`` no other live process holds.

    A consumer restarted after a crash takes the slot its predecessor held (the kernel released
    the dead process's lock), so the broker hands it the dead member's partitions at once instead
    of waiting out the session timeout; concurrent consumers on one host get distinct slots, so
    none fences another. Without a writable state folder: ``(None, None)``, dynamic membership."""
    import fcntl
    import hashlib
    import socket

    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in group)
    try:
        folder = ensure_private_dir(state_dir / "consumers")
    except StateDirError as exc:
        log.info("static group membership off (%s); a restarted consumer waits for the old member's session to expire", exc)
        return None, None
    for slot in range(MAX_SLOTS):
        handle = open_private(folder / f"{safe}.{slot}.lock", "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        where = hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:8]  # two state folders, two slot sets
        return handle, f"{socket.gethostname()}-{where}-{group}-{slot}"[-249:]
    return None, None


def _names(partitions: Any) -> str:
    return ", ".join(sorted(f"{tp.topic}[{tp.partition}]" for tp in partitions)) or "none"


class KafkaDeadLetters:
    def __init__(self, settings: Settings, group: str) -> None:
        from chainrisk.graph.eventlog.kafka_io import KafkaSink

        self.topic = settings.topic("dlq")
        self.group = group
        self.sink = KafkaSink(settings, create_topics=False, quiet=True)

    def send(self, record: RawRecord, reason: str) -> None:
        self.sink.send_raw(self.topic, record.key, dead_letter_json(record, reason, self.group))

    def flush(self) -> None:
        self.sink.flush()

    def close(self) -> None:
        self.sink.close()
