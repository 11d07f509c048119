"""How the embedded graph is kept on disk: one SQLite file, ``<state_dir>/graph/graph.db``.

Nothing in it can run code when read (plain rows of JSON text, unlike a pickle, which a crafted
state folder could use to run anything on ``chainrisk report``). Two parts, written in SQLite
transactions, so they never disagree with each other:

* the **snapshot** (``nodes``, ``offsets``, ``pending``): the whole graph, the consumer
  offsets and the pending changes (the consumer's outbox) at one moment, rewritten by
  :func:`write_snapshot`;
* the **journal**: every batch applied since that snapshot - its events (their wire JSON), the
  offsets it moved to and its pending-changes id - one row per batch, committed with the batch
  (:func:`append_journal`). Loading replays the journal on the snapshot, so a batch is durable
  as soon as ``apply_batch`` returned, and a crash re-reads only the batch that was being applied.

One ``nodes`` row per node: its label, its identity (text or integer), its properties and its
outgoing edges (``[[target label, target identity, key, properties], ...]``). Property values are
JSON with two tagged forms, ``{"$dt": iso}`` (datetime) and ``{"$d": iso}`` (date); a node's
``labels`` is stored only when it is not just its label; tuple edge keys come back as tuples. The
nodes of the store's fact tables (graph/stores/nx_tables.py) are stored as the same rows, so the file
does not depend on how memory holds them. A file that is not such a
database, of another format version, or an old ``graph.pickle`` is a :class:`GraphStateError` whose
message says how to rebuild the graph from the event log; a pickle is never opened.
"""
from __future__ import annotations

import json
import sqlite3
import sys
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import networkx as nx

from chainrisk.common.memory import SharedValues, compact_dict, without_cyclic_gc
from chainrisk.graph.statefiles import open_private
from chainrisk.graph.stores.nx_tables import FactTable, new_tables
from chainrisk.graph.stores.protocol import TopicPartition
from chainrisk.graph.stores.records import BARE_RELS, FACT_LABEL, SHARED_PROPS, TABLE_LINKS

FORMAT = 2  # 1 was graph.pickle
DB_NAME = "graph.db"
OLD_PICKLE = "graph.pickle"
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS nodes (label TEXT NOT NULL, ident NOT NULL, props TEXT NOT NULL, out_edges TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS offsets (grp TEXT NOT NULL, topic TEXT NOT NULL, part INTEGER NOT NULL, next_offset INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS pending (grp TEXT NOT NULL, batch_id TEXT NOT NULL, seq INTEGER NOT NULL, changes_json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS journal (seq INTEGER PRIMARY KEY, grp TEXT NOT NULL, events BLOB NOT NULL, offsets TEXT NOT NULL,
                                    pending_id TEXT);
"""


class GraphStateError(Exception):
    """The embedded graph's file cannot be used; the message says what to do."""


def rebuild_advice(folder: Path) -> str:
    return f"rebuild the graph from the event log: delete {folder} and run `chainrisk consume --until-idle`"


@dataclass
class JournalEntry:
    seq: int
    group: str
    events: list[bytes]
    offsets: dict[TopicPartition, int]
    pending_id: str | None


@dataclass
class StoredState:
    graph: nx.MultiDiGraph[Any] = field(default_factory=nx.MultiDiGraph)
    tables: dict[str, FactTable] = field(default_factory=new_tables)  # the TABLE_LINKS labels' nodes (nx_tables.py)
    offsets: dict[str, dict[TopicPartition, int]] = field(default_factory=dict)
    pending: dict[str, dict[str, str]] = field(default_factory=dict)  # group -> batch id -> changes JSON, oldest first
    journal: list[JournalEntry] = field(default_factory=list)
    # group -> snapshot id -> the group's counts of that snapshot's events (graph/stores/snapshots.py)
    snapshot_progress: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    snapshot_id: int = 0  # bumped by every write_snapshot: a reader knows whether its copy is stale


# --- values ------------------------------------------------------------------------------------------


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, date):
        return {"$d": value.isoformat()}
    if isinstance(value, tuple):  # only reached inside a value json could not take as it is
        return list(value)
    raise TypeError(f"cannot store a {type(value).__name__} in the embedded graph")


def _hook(obj: dict[str, Any]) -> Any:
    if len(obj) == 1:
        if "$dt" in obj:
            return datetime.fromisoformat(obj["$dt"])
        if "$d" in obj:
            return date.fromisoformat(obj["$d"])
    return obj


_encode = json.JSONEncoder(default=_default, ensure_ascii=False, separators=(",", ":"), check_circular=False).encode
_decode = json.JSONDecoder(object_hook=_hook).decode


def _key(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _loading_decoder(shared: SharedValues) -> Any:
    """A decoder of stored properties that holds each property name once (``json`` makes a new
    string per name per row) and each value of :data:`SHARED_PROPS` once per load."""
    intern = sys.intern

    def pairs(items: list[tuple[str, Any]]) -> Any:
        if len(items) == 1:
            name, value = items[0]
            if name == "$dt":
                return datetime.fromisoformat(value)
            if name == "$d":
                return date.fromisoformat(value)
        return {intern(name): shared(value) if name in SHARED_PROPS else value for name, value in items}

    return json.JSONDecoder(object_pairs_hook=pairs).decode


FACT_LABELS = frozenset(FACT_LABEL.values())


def _graph(conn: sqlite3.Connection) -> tuple[nx.MultiDiGraph[Any], dict[str, FactTable]]:
    """The MultiDiGraph and the fact tables of the ``nodes`` rows (``label, ident, props, out_edges``):
    nodes first, then their edges. A :data:`TABLE_LINKS` node goes to its label's table, and its
    stored edges are not read: they follow from its properties (graph/stores/nx_tables.py).

    Built in networkx's own adjacency dicts (``_node``, ``_succ``, ``_pred``: a node's attribute
    dict, and per edge one key dict shared by both directions, as ``add_edge`` makes them) rather
    than by ``add_edge`` per edge, which costs several times more for a graph of a million edges.
    Read one row at a time, holding as little as the store itself would after building the same
    graph: labels, property names and repeated values once, fact nodes' properties in compact dicts
    (:func:`compact_dict`), a fact's ``fact_key`` the string of its identity, an edge's end the one
    tuple of that node, one property dict per :data:`BARE_RELS` type."""
    g: nx.MultiDiGraph[Any] = nx.MultiDiGraph()
    tables = new_tables()
    raw: Any = g  # the stubs leave the adjacency dicts out
    nodes, succ, pred = raw._node, raw._succ, raw._pred  # noqa: SLF001 - see above
    shared = SharedValues()
    decode = _loading_decoder(shared)
    intern = sys.intern
    own_labels: dict[str, tuple[str, ...]] = {}
    ends: dict[Any, Any] = {}  # (label, ident) -> the node's one tuple
    for label, ident, props in conn.execute("SELECT label, ident, props FROM nodes"):
        data = decode(props)
        table = tables.get(label)
        if table is not None:
            if data.get("fact_key") != ident:
                raise ValueError(f"a {label} node whose fact_key is not its identity {ident!r}")
            table.put(ident, data)
            continue
        node = (intern(label), ident)
        ends[node] = node
        data["labels"] = tuple(data["labels"]) if "labels" in data else own_labels.setdefault(node[0], (node[0],))
        if data.get("fact_key") == node[1]:
            data["fact_key"] = node[1]
        nodes[node] = compact_dict(node[0], data) if node[0] in FACT_LABELS else data
        succ[node] = {}
        pred[node] = {}
    skipped = ", ".join("?" * len(TABLE_LINKS))
    for u_label, u_ident, out_edges in conn.execute(f"SELECT label, ident, out_edges FROM nodes WHERE out_edges != '[]' "  # noqa: S608 - placeholders only
                                                    f"AND label NOT IN ({skipped})", tuple(TABLE_LINKS)):
        u = ends[(u_label, u_ident)]
        targets = succ[u]
        for v_label, v_ident, key, data in decode(out_edges):
            v = ends[(v_label, v_ident)]
            keydict = targets.get(v)
            if keydict is None:
                keydict = targets[v] = pred[v][u] = {}
            if type(key) is str:
                key = intern(key)
                if key in BARE_RELS and data == {"type": key}:
                    data = bare_props(key)
            keydict[_key(key)] = data
    return g, tables


_BARE: dict[str, dict[str, str]] = {}


def bare_props(rel: str) -> dict[str, str]:
    """The one property dict of every :data:`BARE_RELS` relationship of type ``rel`` (never
    changed in place: such a relationship is only ever added or removed)."""
    props = _BARE.get(rel)
    if props is None:
        props = _BARE[rel] = {"type": sys.intern(rel)}
    return props


def _rows(g: nx.MultiDiGraph[Any], tables: dict[str, FactTable]) -> Any:
    succ = getattr(g, "_succ")  # noqa: B009 - the adjacency _graph() rebuilds; the stubs leave it out
    for node, data in g.nodes(data=True):
        label, ident = node
        props = {k: v for k, v in data.items() if k != "labels"}
        if tuple(data.get("labels", ())) != (label,):
            props["labels"] = data.get("labels", ())
        out = [[v[0], v[1], key, edge] for v, keydict in succ[node].items() for key, edge in keydict.items()]
        yield label, ident, _encode(props), _encode(out)
    for label, table in tables.items():  # the rows a networkx node of the label would have given
        edge = bare_props(table.rel)
        for key, data in table.items():
            del data["labels"]
            yield label, key, _encode(data), _encode([["AS", asn, table.rel, edge] for asn in table.targets(data)])


# --- the file ------------------------------------------------------------------------------------------


def _connect(folder: Path, *, create: bool) -> sqlite3.Connection | None:
    """A connection to ``folder/graph.db``; None when there is none and ``create`` is false."""
    path = folder / DB_NAME
    if (folder / OLD_PICKLE).exists() and not path.exists():
        raise GraphStateError(f"{folder / OLD_PICKLE} is an embedded graph in the old pickle format, which this version "
                              f"does not open (loading a pickle can run code); {rebuild_advice(folder)}")
    if not path.exists():
        if not create:
            return None
        open_private(path, "ab").close()  # 0600 before SQLite creates it (its -wal and -shm files take the same mode)
    try:
        conn = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")  # a batch journaled is on disk, like the log's fsynced appends
        conn.execute("PRAGMA journal_size_limit=67108864")
        conn.executescript(SCHEMA)
        version = conn.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
        if version is None:
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('format', ?), ('snapshot_id', '0')", (str(FORMAT),))
        elif version[0] != str(FORMAT):
            conn.close()
            raise GraphStateError(f"{path}: embedded graph format {version[0]}, this version reads {FORMAT}; {rebuild_advice(folder)}")
    except sqlite3.DatabaseError as exc:
        raise GraphStateError(f"{path} is not a readable embedded graph ({exc}); {rebuild_advice(folder)}") from None
    return conn


def open_db(folder: Path) -> sqlite3.Connection:
    """The graph file for writing, created (0600) when missing."""
    conn = _connect(folder, create=True)
    assert conn is not None
    return conn


def write_meta(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))


def read_meta(folder: Path, key: str, conn: sqlite3.Connection | None = None) -> str | None:
    """One value of the meta table; None when it (or the graph file) is missing."""
    own = conn is None
    conn = conn or _connect(folder, create=False)
    if conn is None:
        return None
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    finally:
        if own:
            conn.close()
    return None if row is None else str(row[0])


def read_state(folder: Path, conn: sqlite3.Connection | None = None) -> StoredState:
    """The snapshot and the journal since it; an empty state when there is no graph file yet."""
    own = conn is None
    conn = conn or _connect(folder, create=False)
    if conn is None:
        return StoredState()
    state = StoredState()
    try:
        conn.execute("BEGIN")  # one consistent read, even while a writer commits
        try:
            state.snapshot_id = int(conn.execute("SELECT value FROM meta WHERE key = 'snapshot_id'").fetchone()[0])
            with without_cyclic_gc():  # millions of small acyclic objects
                state.graph, state.tables = _graph(conn)
            for grp, topic, part, offset in conn.execute("SELECT grp, topic, part, next_offset FROM offsets"):
                state.offsets.setdefault(grp, {})[(topic, part)] = offset
            for grp, batch_id, text in conn.execute("SELECT grp, batch_id, changes_json FROM pending ORDER BY seq"):
                state.pending.setdefault(grp, {})[batch_id] = text
            progress = conn.execute("SELECT value FROM meta WHERE key = 'snapshot_progress'").fetchone()
            if progress is not None:
                state.snapshot_progress = json.loads(progress[0])
            state.journal = read_journal(conn, 0)
        finally:
            conn.execute("COMMIT")
    except (sqlite3.DatabaseError, ValueError, TypeError, KeyError, IndexError) as exc:
        raise GraphStateError(f"{folder / DB_NAME} is not a readable embedded graph ({type(exc).__name__}: {exc}); "
                              f"{rebuild_advice(folder)}") from None
    finally:
        if own:
            conn.close()
    return state


def read_journal(conn: sqlite3.Connection, after_seq: int) -> list[JournalEntry]:
    entries = []
    for seq, grp, events, offsets, pending_id in conn.execute(
            "SELECT seq, grp, events, offsets, pending_id FROM journal WHERE seq > ? ORDER BY seq", (after_seq,)):
        moved = {(topic, int(part)): n for topic, part, n in json.loads(offsets)}
        entries.append(JournalEntry(seq, grp, bytes(events).split(b"\n") if events else [], moved, pending_id))
    return entries


def journal_position(conn: sqlite3.Connection) -> tuple[int, int]:
    """(snapshot id, last journal seq): what a reader that loaded both has seen."""
    snapshot_id = int(conn.execute("SELECT value FROM meta WHERE key = 'snapshot_id'").fetchone()[0])
    seq = conn.execute("SELECT coalesce(max(seq), 0) FROM journal").fetchone()[0]
    return snapshot_id, int(seq)


def append_journal(conn: sqlite3.Connection, group: str, events: list[bytes], offsets: dict[TopicPartition, int],
                   pending_id: str | None) -> int:
    """Record one applied batch (committed when this returns); returns its journal seq."""
    moved = json.dumps([[t, p, n] for (t, p), n in sorted(offsets.items())])
    cursor = conn.execute("INSERT INTO journal (grp, events, offsets, pending_id) VALUES (?, ?, ?, ?)",
                          (group, b"\n".join(events), moved, pending_id))
    return int(cursor.lastrowid or 0)


def write_snapshot(conn: sqlite3.Connection, g: nx.MultiDiGraph[Any], tables: dict[str, FactTable],
                   offsets: dict[str, dict[TopicPartition, int]], pending: dict[str, dict[str, str]],
                   snapshot_progress: dict[str, dict[str, dict[str, Any]]]) -> int:
    """Replace the snapshot with this graph, offsets, pending changes and snapshot progress and
    empty the journal, in one transaction; returns the new snapshot id."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        for table in ("nodes", "offsets", "pending", "journal"):
            conn.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names
        with without_cyclic_gc():
            conn.executemany("INSERT INTO nodes VALUES (?, ?, ?, ?)", _rows(g, tables))
        conn.executemany("INSERT INTO offsets VALUES (?, ?, ?, ?)",
                         ((grp, t, p, n) for grp, moved in offsets.items() for (t, p), n in moved.items()))
        conn.executemany("INSERT INTO pending VALUES (?, ?, ?, ?)",
                         ((grp, batch_id, i, text) for grp, records in pending.items() for i, (batch_id, text) in enumerate(records.items())))
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('snapshot_progress', ?)", (json.dumps(snapshot_progress, sort_keys=True),))
        snapshot_id = int(conn.execute("SELECT value FROM meta WHERE key = 'snapshot_id'").fetchone()[0]) + 1
        conn.execute("UPDATE meta SET value = ? WHERE key = 'snapshot_id'", (str(snapshot_id),))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # fold the rewrite into the file; the WAL stays small
    return snapshot_id
