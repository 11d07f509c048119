"""The embedded event log: Kafka's role when no servers are configured.

Each topic is a folder ``<state_dir>/log/<topic>/`` of append-only JSON-lines segments named by the
offset of their first record (``00000000000000000000.jsonl``, a new segment every
``SEGMENT_RECORDS`` records). One partition per topic; a record's offset is its index in the topic.
Appends take a per-topic lock file, so two ingest processes can write the same topic; a half-written
last line (a writer killed mid-write) is not a record: readers skip it and the next writer cuts it off.
``flush()`` fsyncs what was appended. Folders are created 0700 and segments 0600
(``graph/statefiles.py``); a state folder that cannot be written is a ``StateDirError``.
"""
from __future__ import annotations

import fcntl
import os
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from chainrisk.graph.statefiles import ensure_private_dir, open_private, state_dir_error
from chainrisk.ingest.events import TOPIC_OF_TYPE, Event

SEGMENT_RECORDS = 100_000
SUFFIX = ".jsonl"


@dataclass(frozen=True, slots=True)
class LogRecord:
    topic: str
    offset: int
    value: bytes


def _count_complete_lines(path: Path) -> tuple[int, int]:
    """(complete lines, byte length of the complete lines) of a segment file."""
    lines = 0
    good = 0
    done = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            lines += chunk.count(b"\n")
            last = chunk.rfind(b"\n")
            if last >= 0:
                good = done + last + 1
            done += len(chunk)
    return lines, good


class EventLog:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._readers: dict[str, tuple[Path, IO[bytes], int]] = {}  # topic -> (segment, handle, offset of next line)

    def topic_dir(self, topic: str) -> Path:
        return self.root / topic

    def topics(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if p.is_dir()) if self.root.exists() else []

    def _segments(self, topic: str) -> list[int]:
        folder = self.topic_dir(topic)
        if not folder.exists():
            return []
        return sorted(int(p.name[: -len(SUFFIX)]) for p in folder.glob(f"*{SUFFIX}") if p.name[: -len(SUFFIX)].isdigit())

    def _segment_path(self, topic: str, base: int) -> Path:
        return self.topic_dir(topic) / f"{base:020d}{SUFFIX}"

    # --- writing ---------------------------------------------------------------------------------

    def append(self, topic: str, values: list[bytes]) -> int:
        """Append records (one JSON document each, no raw newlines); returns the first one's offset."""
        folder = ensure_private_dir(self.topic_dir(topic))
        try:
            return self._append_locked(topic, folder, values)
        except OSError as exc:
            raise state_dir_error(folder, exc) from None

    def _append_locked(self, topic: str, folder: Path, values: list[bytes]) -> int:
        with open_private(folder / ".lock", "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            bases = self._segments(topic)
            base = bases[-1] if bases else 0
            path = self._segment_path(topic, base)
            count, good = _count_complete_lines(path) if path.exists() else (0, 0)
            if path.exists() and path.stat().st_size != good:
                os.truncate(path, good)  # a writer died mid-line: that line was never a record
            first = base + count
            position = first
            pending = list(values)
            while pending:
                if count >= SEGMENT_RECORDS:
                    base, count = base + count, 0
                    path = self._segment_path(topic, base)
                room = SEGMENT_RECORDS - count
                chunk, pending = pending[:room], pending[room:]
                with open_private(path, "ab") as fh:
                    fh.write(b"".join(v.replace(b"\n", b" ") + b"\n" for v in chunk))
                    fh.flush()
                    os.fsync(fh.fileno())
                count += len(chunk)
                position += len(chunk)
            return first

    # --- reading ---------------------------------------------------------------------------------

    def end_offset(self, topic: str) -> int:
        """The offset the next appended record will get."""
        bases = self._segments(topic)
        if not bases:
            return 0
        return bases[-1] + _count_complete_lines(self._segment_path(topic, bases[-1]))[0]

    def read(self, topic: str, offset: int, max_records: int) -> list[LogRecord]:
        """Up to ``max_records`` complete records from ``offset`` on (fewer at the end of the log)."""
        out: list[LogRecord] = []
        bases = self._segments(topic)
        if not bases:
            return out
        offset = max(offset, bases[0])
        index = bisect_right(bases, offset) - 1
        while index < len(bases):
            got = self._read_segment(topic, bases[index], offset, max_records - len(out))
            out.extend(got)
            if got:
                offset = got[-1].offset + 1
            if len(out) >= max_records:
                break
            index += 1  # this segment is exhausted; only the last one can still grow
            if index < len(bases):
                offset = max(offset, bases[index])
        return out

    def _read_segment(self, topic: str, base: int, offset: int, limit: int) -> list[LogRecord]:
        path = self._segment_path(topic, base)
        cached = self._readers.get(topic)
        if cached is not None and cached[0] == path and cached[2] <= offset:
            _, fh, at = cached
        else:
            if cached is not None:
                cached[1].close()
            fh = open(path, "rb")  # noqa: SIM115 - kept open for sequential reads, closed in close()
            at = base
        out = []
        while at < offset + limit:
            start = fh.tell()
            line = fh.readline()
            if not line.endswith(b"\n"):
                fh.seek(start)  # not complete yet: read it again next time
                break
            if at >= offset:
                out.append(LogRecord(topic, at, line[:-1]))
            at += 1
        self._readers[topic] = (path, fh, at)
        return out

    def iter_all(self, topic: str, start: int = 0, chunk: int = 10_000) -> Iterator[LogRecord]:
        """Every complete record of the topic from ``start`` on."""
        offset = start
        while batch := self.read(topic, offset, chunk):
            yield from batch
            offset = batch[-1].offset + 1

    def close(self) -> None:
        for _, fh, _ in self._readers.values():
            fh.close()
        self._readers.clear()


class EventLogSink:
    """The ingest's EventSink for the embedded backend: buffers events per topic and appends them
    in chunks; ``flush()`` appends the rest (each append is fsynced)."""

    def __init__(self, log: EventLog, buffer_records: int = 5000) -> None:
        self.log = log
        self.buffer_records = buffer_records
        self._buffers: dict[str, list[bytes]] = {}
        self.published: dict[str, int] = {}

    def publish(self, event: Event) -> None:
        topic = TOPIC_OF_TYPE[event.type]
        buffer = self._buffers.setdefault(topic, [])
        buffer.append(event.to_json())
        if len(buffer) >= self.buffer_records:
            self._write(topic)

    def _write(self, topic: str) -> None:
        buffer = self._buffers.get(topic)
        if buffer:
            self.log.append(topic, buffer)
            self.published[topic] = self.published.get(topic, 0) + len(buffer)
            self._buffers[topic] = []

    def flush(self) -> None:
        for topic in list(self._buffers):
            self._write(topic)

    def close(self) -> None:
        self.flush()

    def __enter__(self) -> EventLogSink:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
