"""Publishing to Kafka from several processes: the parser stays in this process, N publisher child
processes each run their own idempotent KafkaProducer.

kafka-python's producer is pure Python and costs about as much CPU per message as parsing does, so a
single process spends half its time in it. :class:`ParallelKafkaSink` encodes each event here (key,
value and the partition :func:`~chainrisk.graph.kafka_io.key_partition` gives it, exactly as
:class:`~chainrisk.graph.kafka_io.KafkaSink` does), collects the records of each publisher in chunks,
and hands a chunk over as one pickled message on that publisher's pipe.

Ordering: partition ``p`` of every topic is owned by publisher ``p % N`` (:func:`publisher_of`), so a
partition's messages all go through one pipe and one idempotent producer, in the order they were
published: events of one block keep their file order, as with one process.

Delivery: ``flush()`` hands over the partial chunks, asks every publisher to flush its producer and
waits for each one's reply (how many of its sends failed, the first error). A publisher that died is
seen as end-of-file on its reply pipe (or a broken record pipe); every message handed to it since its
last confirmed flush counts as not delivered, and the error names the process and how it ended.
Publishers ignore SIGINT: Ctrl-C interrupts the parser, and ``close()`` then drains the publishers (a
second Ctrl-C, or any error while closing, terminates them). A publisher whose parent is gone sees
end-of-file on its record pipe and exits.

Protocol (``multiprocessing.connection`` framing on plain pipes): records pipe = the child's stdin,
carrying first the pickled KafkaProducer configuration (:func:`~chainrisk.graph.kafka_io.producer_config`
of the parent's settings; a pipe, so secrets stay off the command line and out of the environment),
then pickled ``list[(topic, key, value, partition)]`` chunks or the commands ``flush`` / ``close``;
reply pipe = the file descriptor named on the child's command line, carrying one pickled
:class:`PublisherReport` dict per command.
"""
from __future__ import annotations

import os
import pickle
import queue
import signal
import subprocess
import sys
import threading
from collections import Counter
from multiprocessing.connection import Connection
from typing import Any, TypedDict

from chainrisk.graph.config import Settings
from chainrisk.graph.eventlog.kafka_io import (
    KafkaDeliveryError,
    KafkaSink,
    _remembered_key_partition,
    ensure_topics,
    producer_config,
)
from chainrisk.ingest.events import INGEST_TOPICS, TOPIC_OF_TYPE, Event

CHUNK_RECORDS = 1000  # records per pickled hand-over: big enough that pickling and pipe writes cost ~nothing per record
OUTBOX_CHUNKS = 2  # chunks queued per publisher before the parser waits for it
FLUSH = b"flush"
CLOSE = b"close"
TERMINATE_GRACE_S = 5.0  # how long a terminated publisher gets before it is killed

Record = tuple[str, "bytes | None", bytes, "int | None"]  # (topic, key, value, partition)


class PublisherReport(TypedDict):
    sent: int  # records this publisher passed to its producer so far
    failed: int  # of those, how many Kafka did not acknowledge (or send() refused)
    first_error: str | None
    fatal: str | None  # set in the last report of a publisher that stopped on an error


def publisher_of(partition: int | None, processes: int) -> int:
    """The index (0 .. processes-1) of the publisher that owns ``partition``: ``partition % processes``;
    messages without a partition (no key: the producer picks one) all go to publisher 0."""
    return 0 if partition is None else partition % processes


def owner_table(partitions: int, processes: int) -> list[int]:
    """The publisher index owning each partition ``0 .. partitions-1`` of a topic (:func:`publisher_of`)."""
    return [publisher_of(p, processes) for p in range(partitions)]


def partition_counts(settings: Settings, topics: list[str]) -> dict[str, int]:
    """The number of partitions each of ``topics`` has now (the topics must exist)."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(**settings.kafka_client_config(), bootstrap_timeout_ms=10_000)
    try:
        described = admin.describe_topics(topics)
    finally:
        admin.close()
    counts = {t["name"]: len(t["partitions"]) for t in described if t.get("error_code", 0) == 0 and t["partitions"]}
    missing = [t for t in topics if t not in counts]
    if missing:
        raise RuntimeError(f"Kafka has no partitions for topic(s) {missing}")
    return counts


def how_it_ended(returncode: int | None) -> str:
    """A process's end in words: its exit status, or the signal that killed it."""
    if returncode is None:
        return "still running"
    if returncode < 0:
        try:
            return f"killed by signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exited with status {returncode}"


class _Publisher:
    """The parent's handle on one publisher child: its pipes, what was handed to it, and the thread
    that writes to its records pipe.

    A writer thread, not the parser's thread, writes the chunks: Ctrl-C (delivered to the main thread)
    then never cuts a message in half, and the parser keeps parsing while a publisher reads a chunk.
    The outbox holds at most OUTBOX_CHUNKS chunks: when the publisher falls behind, the parser waits."""

    def __init__(self, index: int, processes: int, config: dict[str, Any]) -> None:
        reply_read, reply_write = os.pipe()
        try:
            # `-m`: the child imports only this module, never the parent's __main__ (unlike multiprocessing's spawn)
            self.process = subprocess.Popen(
                [sys.executable, "-m", "chainrisk.graph.eventlog.kafka_publish", str(reply_write)],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, pass_fds=(reply_write,), close_fds=True,
            )
        except BaseException:
            os.close(reply_read)
            raise
        finally:
            os.close(reply_write)  # only the child holds it: its death is end-of-file here
        assert self.process.stdin is not None
        records = Connection(os.dup(self.process.stdin.fileno()), readable=False)
        self.process.stdin.close()
        self.replies = Connection(reply_read, writable=False)
        self.name = f"publisher process {index + 1} of {processes} (pid {self.process.pid})"
        self.buffer: list[Record] = []
        self.handed = 0  # records handed over so far
        self.confirmed = 0  # records handed before its last flush reply (their fate is in the reply)
        self.report: PublisherReport = {"sent": 0, "failed": 0, "first_error": None, "fatal": None}
        self.death: str | None = None  # why it can no longer publish
        self.pipe_broken = False  # set by the writer thread when the child stopped reading
        self.outbox: queue.Queue[bytes | None] = queue.Queue(maxsize=OUTBOX_CHUNKS)
        self.writer = threading.Thread(target=self._write_all, args=(records,), name=f"publisher-{index + 1}-writer", daemon=True)
        self.writer.start()
        self.send(pickle.dumps(config))

    def _write_all(self, records: Connection) -> None:
        """The writer thread: write each outbox message to the records pipe until None; once the pipe
        is broken, keep taking messages (so the parser never waits on a dead publisher) but drop them."""
        try:
            while (message := self.outbox.get()) is not None:
                if not self.pipe_broken:
                    try:
                        records.send_bytes(message)
                    except OSError:
                        self.pipe_broken = True
        finally:
            records.close()

    def hand_over(self) -> None:
        """Queue the buffered records as one chunk (waits while the publisher is OUTBOX_CHUNKS behind)."""
        self.send(pickle.dumps(self.buffer, protocol=pickle.HIGHEST_PROTOCOL))
        self.handed += len(self.buffer)
        self.buffer = []

    def send(self, message: bytes) -> None:
        """Queue ``message`` for the publisher; KafkaDeliveryError if it is dead."""
        if self.death is None and self.pipe_broken:
            self.mark_dead()
        if self.death is not None:
            raise KafkaDeliveryError(f"{self.name} {self.death}")
        self.outbox.put(message)

    def await_report(self) -> None:
        """Wait for the publisher's reply to a command and record it; a publisher that died instead is
        marked dead."""
        try:
            report: PublisherReport = pickle.loads(self.replies.recv_bytes())
        except (EOFError, OSError):
            self.mark_dead()
            return
        except BaseException:
            # interrupted while waiting: its reply can no longer be matched to a command
            self.death = "was interrupted while flushing"
            self.terminate()
            raise
        if report["fatal"] is not None:
            self.mark_dead(report["fatal"])
            return
        self.report = report
        self.confirmed = self.handed

    def mark_dead(self, reason: str | None = None) -> None:
        """Record how the child ended, with the error it reported last if it stopped on one."""
        if reason is None and not self.replies.closed:
            try:
                if self.replies.poll(0):
                    reason = pickle.loads(self.replies.recv_bytes())["fatal"]
            except (EOFError, OSError, pickle.UnpicklingError):
                pass
        try:
            returncode = self.process.wait(timeout=TERMINATE_GRACE_S)
        except subprocess.TimeoutExpired:
            self.terminate()
            returncode = self.process.returncode
        self.death = f"died ({how_it_ended(returncode)})" + (f": {reason}" if reason else "")

    @property
    def unconfirmed(self) -> int:
        """Records given to a dead publisher after its last flush reply (handed over, or still waiting
        in its buffer): not known to be delivered."""
        return self.handed + len(self.buffer) - self.confirmed if self.death is not None else 0

    def terminate(self) -> None:
        """Stop the child now (SIGTERM, then SIGKILL after a grace period) and release the pipes."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=TERMINATE_GRACE_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.release()

    def release(self) -> None:
        """Stop the writer thread (the child has exited or stopped reading: it cannot block long) and
        close the reply pipe."""
        if self.writer.is_alive():
            self.pipe_broken = self.pipe_broken or self.process.poll() is not None
            try:
                self.outbox.put(None, timeout=TERMINATE_GRACE_S)
            except queue.Full:
                pass  # a daemon thread: it ends with the process
            self.writer.join(TERMINATE_GRACE_S)
        if not self.replies.closed:
            self.replies.close()


class ParallelKafkaSink:
    """EventSink publishing like :class:`~chainrisk.graph.kafka_io.KafkaSink` (same topics, keys,
    values, partitions, per-partition order) through ``processes`` publisher child processes."""

    def __init__(self, settings: Settings, processes: int, *, create_topics: bool = True, quiet: bool = False,
                 chunk_records: int = CHUNK_RECORDS) -> None:
        if processes < 1:
            raise ValueError(f"publisher processes must be >= 1, not {processes}")
        if create_topics:
            ensure_topics(settings)
        self.settings = settings
        self.quiet = quiet
        self.processes = processes
        self.chunk_records = chunk_records
        self.sent: Counter[str] = Counter()
        self._topic_of_type = {event_type: settings.topic(name) for event_type, name in TOPIC_OF_TYPE.items()}
        self._partitions = partition_counts(settings, [settings.topic(n) for n in INGEST_TOPICS])
        self._raised: tuple[int, str | None] | None = None  # the failure flush() already raised
        self._closed = False
        self._publishers: list[_Publisher] = []
        try:
            for index in range(processes):
                self._publishers.append(_Publisher(index, processes, producer_config(settings)))
        except BaseException:
            self._terminate_all()
            raise
        # publisher of each partition of each topic, looked up per message
        self._owner = {topic: self._owners(n) for topic, n in self._partitions.items()}

    def _owners(self, partitions: int) -> list[_Publisher]:
        return [self._publishers[i] for i in owner_table(partitions, self.processes)]

    @property
    def pids(self) -> list[int]:
        """The publisher processes' ids."""
        return [p.process.pid for p in self._publishers]

    @property
    def failed(self) -> int:
        """Messages Kafka did not acknowledge, plus those handed to a publisher that died unconfirmed."""
        return sum(p.report["failed"] + p.unconfirmed for p in self._publishers)

    @property
    def first_error(self) -> str | None:
        for p in self._publishers:
            if p.death is not None and p.unconfirmed:
                return f"{p.name} {p.death}; {p.unconfirmed} message(s) handed to it since its last confirmed flush may be lost"
        return next((f"{p.name}: {p.report['first_error']}" for p in self._publishers if p.report["first_error"]), None)

    def send_raw(self, topic: str, key: bytes | None, value: bytes) -> None:
        """Publish one message to the full topic name ``topic`` (as KafkaSink.send_raw does)."""
        if topic not in self._partitions:
            self._partitions.update(partition_counts(self.settings, [topic]))
            self._owner[topic] = self._owners(self._partitions[topic])
        partition = None if key is None else _remembered_key_partition(key, self._partitions[topic])
        self._add(self._publishers[0] if partition is None else self._owner[topic][partition], (topic, key, value, partition))

    def publish(self, event: Event) -> None:
        topic = self._topic_of_type[event.type]
        key = event.block.encode()
        partition = _remembered_key_partition(key, self._partitions[topic])
        self._add(self._owner[topic][partition], (topic, key, event.to_json(), partition))

    def _add(self, publisher: _Publisher, record: Record) -> None:
        if self._closed:
            raise RuntimeError("publish after close()")
        publisher.buffer.append(record)
        self.sent[record[0]] += 1
        if len(publisher.buffer) >= self.chunk_records:
            publisher.hand_over()

    def _command_all(self, command: bytes) -> None:
        """Hand over every partial chunk, send ``command`` to every live publisher, wait for the replies."""
        live = [p for p in self._publishers if p.death is None]
        for p in live:
            try:
                if p.buffer:
                    p.hand_over()
                p.send(command)
            except KafkaDeliveryError:
                pass  # recorded as its death; counted in `failed`
        for p in live:
            if p.death is None:
                p.await_report()

    def _raise_failures(self) -> None:
        """Raise KafkaDeliveryError for the failures so far, unless this very failure was raised before.
        While another exception is propagating (close() in a ``finally`` after Ctrl-C or an error) the
        failure is printed instead, so it neither hides that exception nor goes unreported."""
        failed, first = self.failed, self.first_error
        if failed and self._raised != (failed, first):
            self._raised = (failed, first)
            error = KafkaDeliveryError(f"{failed} message(s) were not delivered to Kafka: {first}")
            if sys.exc_info()[0] is not None:
                print(f"error: {error}", file=sys.stderr)
                return
            raise error

    def flush(self) -> None:
        """Wait until every message published so far is acknowledged; raise KafkaDeliveryError if any
        was not (or went to a publisher that died)."""
        self._command_all(FLUSH)
        self._raise_failures()

    def summary(self) -> str:
        parts = ", ".join(f"{t} {n}" for t, n in sorted(self.sent.items())) or "nothing"
        return (f"kafka: published {sum(self.sent.values())} message(s) ({parts}) through {self.processes} "
                f"publisher processes; {self.failed} failed")

    def close(self) -> None:
        """Drain and stop the publishers; raises KafkaDeliveryError for failures flush() did not
        already raise (see :meth:`_raise_failures`). Interrupted (or failing) while draining, it
        terminates them."""
        if self._closed:
            return
        self._closed = True
        try:
            self._command_all(CLOSE)
            for p in self._publishers:
                if p.death is None:
                    try:  # it replied: everything it was given is acknowledged; it is only closing its producer
                        p.process.wait(timeout=TERMINATE_GRACE_S)
                    except subprocess.TimeoutExpired:
                        pass  # terminated below
        finally:
            self._terminate_all()
            if not self.quiet:
                print(self.summary(), file=sys.stderr)
        self._raise_failures()

    def _terminate_all(self) -> None:
        for p in self._publishers:
            p.terminate()


def open_kafka_sink(settings: Settings, *, quiet: bool = False) -> KafkaSink | ParallelKafkaSink:
    """The ingest's Kafka sink: :class:`ParallelKafkaSink` with ``settings.publish_processes``
    publishers when that is more than 1, else the single-process :class:`KafkaSink`."""
    if settings.publish_processes > 1:
        return ParallelKafkaSink(settings, settings.publish_processes, quiet=quiet)
    return KafkaSink(settings, quiet=quiet)


# --- in the publisher child ------------------------------------------------------------------------


def publish_chunks(records: Connection, replies: Connection) -> int:
    """The publisher loop: send every record of every chunk from ``records`` through one idempotent
    producer to the partition it names; on ``flush`` / ``close`` flush the producer and reply with a
    PublisherReport. Returns the exit status (0 after ``close``, 3 when the parent went away)."""
    from kafka import KafkaProducer

    try:
        config = pickle.loads(records.recv_bytes())
    except (EOFError, OSError):
        return 3
    producer = KafkaProducer(**config)
    report: PublisherReport = {"sent": 0, "failed": 0, "first_error": None, "fatal": None}

    def on_error(exc: BaseException) -> None:
        report["failed"] += 1
        if report["first_error"] is None:
            report["first_error"] = f"{type(exc).__name__}: {exc}"

    send = producer.send
    try:
        while True:
            try:
                message = records.recv_bytes()
            except (EOFError, OSError):  # the parent is gone (or cut a message short): deliver what we have
                return 3
            if message == FLUSH or message == CLOSE:
                producer.flush()
                replies.send_bytes(pickle.dumps(report))
                if message == CLOSE:
                    return 0
                continue
            chunk: list[Record] = pickle.loads(message)
            for topic, key, value, partition in chunk:
                try:
                    send(topic, key=key, value=value, partition=partition).add_errback(on_error)
                except Exception as exc:  # noqa: BLE001 - e.g. metadata timeout: counted, reported, not a crash
                    on_error(exc)
            report["sent"] += len(chunk)
    finally:
        producer.close()


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it drains or terminates us
    records = Connection(os.dup(sys.stdin.fileno()), writable=False)
    replies = Connection(int(argv[0]), readable=False)
    try:
        return publish_chunks(records, replies)
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which names it in its error
        fatal: PublisherReport = {"sent": 0, "failed": 0, "first_error": None, "fatal": f"{type(exc).__name__}: {exc}"}
        try:
            replies.send_bytes(pickle.dumps(fatal))
        except OSError:
            pass
        print(f"chainrisk publisher (pid {os.getpid()}): {fatal['fatal']}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
