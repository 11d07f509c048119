"""What the ingest remembers of each scope's last complete snapshot, so that its summary can say what a
new snapshot changes without reading the graph (which it cannot do on the Kafka backend).

Per event log and scope (ingest/snapshots.py) one state file under ``<state_dir>/snapshots/`` holds
the previous complete snapshot's id, date and file, and a *fingerprint* of every fact it held: 8
bytes of hash of the fact key, 8 of the fact's content (every field but the id and the provenance:
what the store compares to tell an unchanged re-assertion from a change), sorted. A new complete
snapshot is diffed against it: facts *added* (key not held before), *changed* (held, other
content: a VRP with a new expiry, a route with a new origin), *unchanged*, and *retracted* (held
before, absent now) - what the consumer's sweep will retract when the event log holds no other
facts of the scope. The file is replaced (atomically) only by a complete snapshot newer than the one
it records; an older or incomplete one leaves it alone, as the consumer leaves the newer snapshot in
force. The format is a JSON header line and the packed fingerprints: nothing in it is executed.
This module is the pure part (fingerprints, the diff, the file format); graph/snapshot_ledger.py
reads and writes the files.
"""
from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from chainrisk.common.timestamps import as_utc

FORMAT = "chainrisk-snapshot-state/1"
_PAIR = struct.Struct(">QQ")
# how the summary says a snapshot relates to the one the state file records
FIRST, NEWER, OLDER, SAME, AS_OLD = "first", "newer", "older", "same", "as old"


def fingerprint(event: Any) -> int:
    """The fact's key hash (high 64 bits) and content hash (low 64 bits, of its ``content_json``) as
    one integer, so that sorting fingerprints sorts by key."""
    key = hashlib.blake2b(event.fact_key.encode(), digest_size=8).digest()
    content = hashlib.blake2b(event.content_json().encode(), digest_size=8).digest()
    return int.from_bytes(key + content, "big")


@dataclass(frozen=True)
class Changes:
    added: int = 0
    changed: int = 0
    unchanged: int = 0
    retracted: int = 0


@dataclass(frozen=True)
class Previous:
    """The complete snapshot a state file records."""

    snapshot: str
    observed_at: datetime
    reference: str
    facts: int
    pairs: bytes  # facts * 16 bytes: (key hash, content hash), sorted by key hash


@dataclass(frozen=True)
class Outcome:
    """What a complete snapshot is against the scope's recorded one: ``relation`` (FIRST, NEWER,
    OLDER, SAME: the same facts at the same date, AS_OLD: other facts at the same date), the counts
    (for FIRST and NEWER), and the snapshot it is compared with."""

    relation: str
    previous: Previous | None
    changes: Changes | None


def packed(fingerprints: list[int]) -> bytes:
    """The fingerprints sorted by key, one per key (of a key listed twice in a file the larger
    content hash is kept: the store, too, keeps one version of a fact)."""
    out = bytearray()
    last = -1
    for value in sorted(fingerprints):
        key = value >> 64
        if key == last:
            out[-16:] = value.to_bytes(16, "big")
        else:
            out += value.to_bytes(16, "big")
        last = key
    return bytes(out)


def diff(before: bytes, after: bytes) -> Changes:
    """Compare two :func:`packed` fingerprint lists (a merge of the two sorted lists)."""
    old = _PAIR.iter_unpack(before)
    new = _PAIR.iter_unpack(after)
    added = changed = unchanged = retracted = 0
    a = next(old, None)
    b = next(new, None)
    while a is not None and b is not None:
        if a[0] == b[0]:
            if a[1] == b[1]:
                unchanged += 1
            else:
                changed += 1
            a, b = next(old, None), next(new, None)
        elif a[0] < b[0]:
            retracted += 1
            a = next(old, None)
        else:
            added += 1
            b = next(new, None)
    retracted += (a is not None) + sum(1 for _ in old)
    added += (b is not None) + sum(1 for _ in new)
    return Changes(added, changed, unchanged, retracted)


def compare(previous: Previous | None, observed_at: datetime, pairs: bytes) -> Outcome:
    """What a complete snapshot of ``observed_at`` holding ``pairs`` (:func:`packed`) is against the
    scope's recorded one; it is to be recorded when the relation is FIRST or NEWER."""
    observed_at = as_utc(observed_at)
    if previous is not None and observed_at < previous.observed_at:
        return Outcome(OLDER, previous, None)
    if previous is not None and observed_at == previous.observed_at:
        return Outcome(SAME if pairs == previous.pairs else AS_OLD, previous, None)
    return Outcome(NEWER if previous else FIRST, previous, diff(previous.pairs if previous else b"", pairs))


def encode(log: str, fact_type: str, scope: str, snapshot: str, observed_at: datetime, reference: str, pairs: bytes) -> bytes:
    """A state file's bytes: a JSON header line, then the packed fingerprints."""
    head = {"format": FORMAT, "log": log, "fact_type": fact_type, "scope": scope, "snapshot": snapshot,
            "observed_at": as_utc(observed_at).isoformat(), "reference": reference, "facts": len(pairs) // 16}
    return json.dumps(head).encode() + b"\n" + pairs


def decode(data: bytes, log: str, fact_type: str, scope: str) -> Previous | None:
    """The snapshot a state file's bytes record; None when they are not a state file of this
    format, event log and scope."""
    head, newline, body = data.partition(b"\n")
    try:
        meta = json.loads(head)
        if (newline and isinstance(meta, dict) and meta.get("format") == FORMAT and meta.get("log") == log
                and meta.get("fact_type") == fact_type and meta.get("scope") == scope and len(body) == 16 * int(meta["facts"])):
            return Previous(str(meta["snapshot"]), as_utc(datetime.fromisoformat(meta["observed_at"])), str(meta["reference"]),
                            int(meta["facts"]), body)
    except (ValueError, KeyError, TypeError):
        pass
    return None


class Ledger(Protocol):
    """Where the ingest keeps the state files (graph/snapshot_ledger.py)."""

    def settle(self, fact_type: str, scope: str, snapshot: str, observed_at: datetime, reference: str,
               fingerprints: list[int]) -> Outcome:
        """Compare a complete snapshot with the scope's recorded one (:func:`compare`), and record it
        when it is the first or newer."""
        ...
