"""The embedded graph store: a networkx MultiDiGraph holding exactly the graph model
(docs/graph-model.md), persisted under the state folder.

Nodes are ``(label, identity)`` tuples with the node's properties as attributes plus ``labels`` (a
Party's: ``("Party", *sorted(role labels))``, kept from per-party role counts of its current LEASES);
edges carry ``type`` plus their properties; an edge's key is its type, except LEASES
(``("LEASES", fact_key)``) and HELD_BY (``("HELD_BY", source, fact_key, valid_from)``), of which
several may join the same two nodes. The nodes of VRPs and BGP routes (``TABLE_LINKS``: a million
of them) are not in the MultiDiGraph but rows of a fact table per label (``graph/stores/nx_tables.py``),
their AS relationships following from their properties; every reader of nodes and relationships goes
through :meth:`NxStore.node_data`, :meth:`NxStore.node_items` and :meth:`NxStore.edge_items`.

Persistence (``graph/stores/nx_persist.py``): ``<state_dir>/graph/graph.db``, a SQLite file holding
a snapshot of the graph (alerts included), the consumer offsets and the pending changes (the
consumer's outbox), plus a journal of the batches applied since. Each ``apply_batch`` commits its
batch's events and offsets to the journal before it returns, so a crash loses nothing applied; the
snapshot is rewritten (and the journal emptied) at most every ``save_interval_s`` seconds (and at
most a fifth of the time: a big graph takes seconds to write), on ``write_analysis`` and on
``close()``. Loading replays the journal on the snapshot. Changes made outside ``apply_batch``
(alerts, dropped pending changes) are kept by the next snapshot; until then the pending changes
that raised the alerts are still stored, so the consumer hands them to the alerts again after a
crash. One process at a time may write (a lock file); any number may read.
"""
from __future__ import annotations

import fcntl
import json
import sqlite3
import sys
import time
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import networkx as nx

from chainrisk.analysis.affected import covering_prefixes
from chainrisk.analysis.alerts import alert_order
from chainrisk.analysis.model import Hop, Portfolio
from chainrisk.analysis.risk_alerts import RISK_FIELDS
from chainrisk.common.memory import SharedValues, compact_dict, without_cyclic_gc
from chainrisk.common.prefixes import ints_to_prefix, prefix_length, prefix_range, prefix_size
from chainrisk.common.timestamps import as_utc
from chainrisk.graph.statefiles import ensure_private_dir, open_private
from chainrisk.graph.stores import nx_persist, preparation, snapshots
from chainrisk.graph.stores.alerts import AFFECTS, ALERT_LABEL, CONCERNS, affected_links, alert_props
from chainrisk.graph.stores.facts import BatchPlan, Version, plan_batch
from chainrisk.graph.stores.holders import holder_runs, merge_evidence
from chainrisk.graph.stores.incremental import analysed_on, holds_block_results, refresh_plan, stored_row
from chainrisk.graph.stores.portfolio import HOP_FIELDS, ORIGIN_FIELDS, PORTFOLIO_PARTS, add_route, hop_from_row, values_of
from chainrisk.graph.stores.protocol import (
    AnalysisCompute,
    AnalysisInput,
    AnalysisRefresh,
    BatchResult,
    Holding,
    OffsetConflict,
    PendingChanges,
    RefreshOutbox,
    TopicPartition,
    holding_order,
    hop_order,
    new_batch_id,
    offset_conflicts,
    outbox_record,
    pending_from_json,
    pending_to_json,
)
from chainrisk.graph.stores.records import (
    FACT_LABEL,
    FULL_ANALYSIS_KEY,
    LEASE_TYPE,
    LEASES,
    LINKS,
    MACHINERY_LABELS,
    SHARED_PROPS,
    block_props,
    cached_party_key,
    canonical_props,
    canonical_value,
    event_from_props,
    fact_props,
    hop_role_labels,
    link_targets,
    native,
    party_labels,
    sort_dump,
)
from chainrisk.graph.stores.writeback_plan import DIGEST, WriteBackPlan, block_keys, plan_write_back
from chainrisk.ingest.events import Event, decode_event

Node = tuple[str, Any]
# fact nodes the block analysis reads, looked up by prefix for an incremental analysis
ANALYSED_LABELS = frozenset({*PORTFOLIO_PARTS, "BgpRoute"})


@cache
def _own_labels(label: str) -> tuple[str]:
    """The ``labels`` of a node that has just its label: one tuple per label, not one per node."""
    return (label,)


class StoreBusy(Exception):
    """Another process holds the embedded graph's write lock."""


class NxStore:
    def __init__(self, state_dir: Path, *, save_interval_s: float = 10.0, persist: bool = True) -> None:
        self.dir = Path(state_dir) / "graph"
        self.path = self.dir / nx_persist.DB_NAME
        self.save_interval_s = save_interval_s
        # False: the graph lives in memory only (the bulk load folds the log here, then exports it):
        # batches are not journaled and nothing is saved, so a failure loses the whole fold
        self.persist = persist
        self._lock_file: Any = None
        self._db: sqlite3.Connection | None = None  # the writer's connection, opened with the write lock
        self._dirty = False  # changed since the snapshot, beyond what the journal holds
        self._journaled = False  # batches in the journal since the snapshot
        self._last_save = time.monotonic()
        self._save_seconds = 0.0
        # repeated property values and reference nodes seen since the last snapshot, held once
        # (dropped on save, so values no element holds any more are not kept for ever)
        self._shared = SharedValues()
        self._ends: dict[Node, Node] = {}
        self._load()

    # --- persistence ---------------------------------------------------------------------------

    def _load(self) -> None:
        """Memory from the file: the snapshot, then the journal's batches re-applied in order."""
        state = nx_persist.read_state(self.dir, self._db)
        self.g: nx.MultiDiGraph[Node] = state.graph
        # the nodes of the TABLE_LINKS labels, not in self.g (graph/stores/nx_tables.py): read every
        # node and relationship through node_data, node_items and edge_items
        self.tables = state.tables
        raw: Any = self.g  # the stubs leave the adjacency dicts out
        self._nodes: dict[Node, dict[str, Any]] = raw._node  # noqa: SLF001 - fact nodes get compact dicts (compact_dict)
        self.offsets: dict[str, dict[TopicPartition, int]] = state.offsets
        self.pending: dict[str, dict[str, PendingChanges]] = {  # group -> batch id -> record, oldest first
            group: {batch_id: PendingChanges(batch_id, *pending_from_json(text)) for batch_id, text in records.items()}
            for group, records in state.pending.items()}
        with without_cyclic_gc():
            self._build_indexes()
        self.snapshot_progress: dict[str, dict[str, dict[str, Any]]] = state.snapshot_progress
        self._snapshot_id = state.snapshot_id
        self._journal_seq = 0
        self._replay(state.journal)
        self._journaled = bool(state.journal)
        self._dirty = False

    def _replay(self, entries: list[nx_persist.JournalEntry]) -> None:
        for entry in entries:
            try:
                events = [decode_event(raw) for raw in entry.events]
            except Exception as exc:  # noqa: BLE001 - a damaged journal row is a damaged state file
                raise nx_persist.GraphStateError(f"{self.path}: journal entry {entry.seq} is not readable ({exc}); "
                                                 f"{nx_persist.rebuild_advice(self.dir)}") from None
            result = self._apply(events, entry.group)
            self.offsets.setdefault(entry.group, {}).update(entry.offsets)
            if entry.pending_id is not None and (result.changes or result.applied_facts):
                self.pending.setdefault(entry.group, {})[entry.pending_id] = PendingChanges(entry.pending_id, result.changes,
                                                                                              result.applied_facts)
            self._journal_seq = entry.seq

    def _catch_up(self) -> None:
        """Memory brought up to the file, for the writer that just took the lock: the journal rows
        written since this store loaded, or everything again when a snapshot was written since."""
        assert self._db is not None
        snapshot_id, seq = nx_persist.journal_position(self._db)
        if snapshot_id != self._snapshot_id or seq < self._journal_seq:
            self._load()
        elif seq > self._journal_seq:
            entries = nx_persist.read_journal(self._db, self._journal_seq)
            self._replay(entries)
            self._journaled = True

    def _build_indexes(self) -> None:
        """In-memory lookups, rebuilt on load: LEASES by fact_key and by block, blocks by length, and
        per party how many current LEASES give it each role label."""
        self.lease_edges: dict[str, tuple[Node, Node]] = {}
        self.block_leases: dict[str, set[str]] = {}
        self.block_firsts: dict[int, list[int]] = {}
        self.role_counts: dict[Node, dict[str, int]] = {}
        # prefix -> the fact nodes the analysis reads there: the node itself while it is the only one
        # (most prefixes have one; a set per prefix was a fifth of a VRP's memory), else a list
        self._facts_at: dict[str, Node | list[Node]] = {}
        for u, v, data in self.g.edges(data=True):
            if data["type"] == LEASES:
                self._index_lease(data["fact_key"], data["block"], u, v)
                self._count_roles(u, v, data, 1)
        for node, data in self.g.nodes(data=True):
            if node[0] == "Block":
                self.block_firsts.setdefault(data["prefix_length"], []).append(data["first"])
            elif node[0] in ANALYSED_LABELS:
                self._add_fact_at(data["prefix"], node)
        for label, table in self.tables.items():
            for key, prefix in table.prefixes():
                self._add_fact_at(prefix, (label, key))
        for firsts in self.block_firsts.values():
            firsts.sort()

    def facts_at(self, prefix: str) -> list[Node]:
        """The fact nodes the analysis reads at ``prefix``."""
        found = self._facts_at.get(prefix)
        return [] if found is None else found if isinstance(found, list) else [found]

    def _add_fact_at(self, prefix: str, node: Node) -> None:
        found = self._facts_at.get(prefix)
        if found is None:
            self._facts_at[prefix] = node
        elif isinstance(found, list):
            found.append(node)
        else:
            self._facts_at[prefix] = [found, node]

    def _drop_fact_at(self, prefix: str, node: Node) -> None:
        found = self._facts_at.get(prefix)
        if isinstance(found, list):
            if node in found:
                found.remove(node)
        elif found == node:
            del self._facts_at[prefix]

    def _index_lease(self, key: str, block: str, u: Node, v: Node) -> None:
        self.lease_edges[key] = (u, v)
        self.block_leases.setdefault(block, set()).add(key)

    def _count_roles(self, provider: Node, recipient: Node, hop: dict[str, Any], delta: int) -> None:
        """Count a LEASES hop's role labels on its parties in (``delta`` 1) or out (-1), and set the
        parties' labels to the roles they still have."""
        for party, label in zip((provider, recipient), hop_role_labels(hop["provider_role"], hop["recipient_role"])):
            if label is None:
                continue
            counts = self.role_counts.setdefault(party, {})
            counts[label] = counts.get(label, 0) + delta
            if not counts[label]:
                del counts[label]
            self.g.nodes[party]["labels"] = party_labels(counts)

    def save(self) -> None:
        """Write the snapshot (graph, offsets, pending changes) and empty the journal, atomically
        (one SQLite transaction)."""
        started = time.monotonic()
        self._lock_for_writing()
        assert self._db is not None
        # pending changes as JSON text, like Neo4j's records
        pending = {group: {batch_id: pending_to_json(record.changes, record.applied_facts, record.risk) for batch_id, record in records.items()}
                   for group, records in self.pending.items() if records}
        self._snapshot_id = nx_persist.write_snapshot(self._db, self.g, self.tables, self.offsets, pending, self.snapshot_progress)
        self._shared.clear()
        self._ends.clear()
        self._journal_seq = 0
        self._dirty = self._journaled = False
        self._save_seconds = time.monotonic() - started
        self._last_save = time.monotonic()

    def _lock_for_writing(self) -> None:
        if self._lock_file is not None:
            return
        ensure_private_dir(self.dir)
        handle = open_private(self.dir / "write.lock", "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise StoreBusy(f"another chainrisk process is writing the embedded graph in {self.dir}; stop it first") from None
        try:
            self._db = nx_persist.open_db(self.dir)
            self._catch_up()  # the file may have moved on since this store was opened
        except BaseException:
            if self._db is not None:
                self._db.close()
                self._db = None
            handle.close()
            raise
        self._lock_file = handle

    def close(self) -> None:
        try:
            if self.persist and self._lock_file is not None and (self._dirty or self._journaled):
                self.save()  # a writer folds its journal into the snapshot: the next load replays nothing
        finally:
            if self._db is not None:
                self._db.close()
                self._db = None
            if self._lock_file is not None:
                self._lock_file.close()
                self._lock_file = None

    # --- schema / offsets ------------------------------------------------------------------------

    def ensure_schema(self) -> None:
        """Take the write lock and create the graph file (0600) if missing: the consumer's start, so
        a state folder it cannot write, or another writer, stops it before it reads anything. The
        in-memory indexes need nothing: they are rebuilt on load."""
        self._lock_for_writing()

    def stored_offsets(self, group: str) -> dict[TopicPartition, int]:
        return dict(self.offsets.get(group, {}))

    # --- pending changes (kept with graph and offsets: a snapshot taken between a batch and its hook
    # --- holds the batch's changes, so the hook still gets them after a crash) ------------------------

    def pending_changes(self, group: str) -> list[PendingChanges]:
        self._lock_for_writing()  # the caller hands them on and drops them: a writer's job
        return list(self.pending.get(group, {}).values())

    def drop_pending_changes(self, group: str, batch_id: str) -> None:
        self._lock_for_writing()
        if self.pending.get(group, {}).pop(batch_id, None) is not None:
            self._dirty = True

    # --- apply ---------------------------------------------------------------------------------------

    def prepare_batch(self, events: list[Event]) -> None:
        """Nothing: the embedded store is Python through and through, so work done ahead on another
        thread would only compete for the interpreter with the batch being applied."""
        return None

    def apply_batch(
        self,
        events: list[Event],
        offsets: dict[TopicPartition, int],
        group: str,
        start_offsets: dict[TopicPartition, int] | None = None,
        keep_changes: bool = False,
        prepared: None = None,
    ) -> BatchResult:
        started = time.monotonic()
        self._lock_for_writing()
        stored_offsets = self.offsets.get(group, {})
        conflicts = offset_conflicts(stored_offsets, start_offsets)
        if conflicts:
            raise OffsetConflict(conflicts)
        try:
            result = self._apply(events, group)
            self.offsets.setdefault(group, {}).update(offsets)
            if keep_changes and (result.changes or result.applied_facts):
                result.pending_id = new_batch_id()
                self.pending.setdefault(group, {})[result.pending_id] = PendingChanges(result.pending_id, result.changes,
                                                                                         result.applied_facts)
            if self.persist:
                assert self._db is not None
                self._journal_seq = nx_persist.append_journal(self._db, group, [e.to_json() for e in events], offsets,
                                                              result.pending_id)
        except BaseException:
            self._load()  # drop the half-applied batch: memory goes back to what the file holds
            raise
        result.seconds = time.monotonic() - started
        if not self.persist:
            return result
        self._journaled = True
        # at most every save_interval_s, and never more than a fifth of the time spent saving
        if time.monotonic() - self._last_save >= max(self.save_interval_s, 5 * self._save_seconds):
            self.save()
        result.seconds = time.monotonic() - started
        return result

    def _apply(self, events: list[Event], group: str) -> BatchResult:
        facts, ends = snapshots.split_ends(events)
        result, plan = self._apply_facts(facts)
        tally = snapshots.tallies(facts, plan)
        if ends or tally:
            result.add(self._apply_snapshots(tally, ends, group))
        return result

    def _apply_snapshots(self, tally: dict[str, dict[str, int]], ends: list[Event], group: str) -> BatchResult:
        """Count the batch's snapshot events for ``group``, record the snapshot ends, and complete
        (and sweep for) the snapshots now complete (graph/stores/snapshots.py)."""
        for end in ends:
            node = ("Snapshot", end.snapshot)  # type: ignore[union-attr]
            if node not in self.g:
                self._add_node(node, snapshots.record_of(end))
        progress = self.snapshot_progress.setdefault(group, {})
        for sid, counts in tally.items():
            mine = progress.setdefault(sid, dict.fromkeys(snapshots.COUNTS, 0))
            for name, value in counts.items():
                mine[name] += value
        result = BatchResult()
        found = [self.g.nodes[("Snapshot", sid)] for sid in set(tally) | {e.snapshot for e in ends} if ("Snapshot", sid) in self.g]  # type: ignore[union-attr]
        for record in sorted(found, key=snapshots.order):
            mine = progress.setdefault(record["snapshot_id"], dict.fromkeys(snapshots.COUNTS, 0))
            if not snapshots.ready(record, mine):
                continue
            mine["done"] = True
            scope_complete = [data for node, data in self.g.nodes(data=True) if node[0] == "Snapshot" and data["status"] == snapshots.COMPLETE
                              and data["fact_type"] == record["fact_type"] and data["scope"] == record["scope"]]
            completion = snapshots.complete(record, mine, scope_complete)
            result.notes += completion.notes
            if completion.drop:
                self.g.remove_node(("Snapshot", record["snapshot_id"]))
                continue
            record.update(completion.props)
            result.add(self._sweep(completion.sweeper))
        return result

    def _sweep(self, sweeper: dict[str, Any]) -> BatchResult:
        """Retract the live facts of the sweeper's scope that older snapshots asserted."""
        fact_type, scope, before = sweeper["fact_type"], sweeper["scope"], as_utc(sweeper["observed_at"])
        label = FACT_LABEL[fact_type]
        table = self.tables.get(label)
        found = table.items() if table is not None else ((node[1], data) for node, data in self.g.nodes(data=True) if node[0] == label)
        keys = sorted(key for key, data in found if snapshots.in_sweep(data, fact_type, scope, before))
        if not keys:
            return BatchResult()
        retracts = [snapshots.retraction(self._stored_event(fact_type, key), sweeper) for key in keys]
        result, _ = self._apply_facts(retracts)
        node = self.g.nodes[("Snapshot", sweeper["snapshot_id"])]
        node["retracted"] = node.get("retracted", 0) + result.retracted
        result.notes.append(snapshots.sweep_note(sweeper, result.retracted))
        return result

    def _apply_facts(self, events: list[Event]) -> tuple[BatchResult, BatchPlan]:
        keys = [e.fact_key for e in events]
        stored: dict[str, Version] = {}
        for event, key in zip(events, keys):
            if key not in stored:
                version = self._stored_version(event.type, key)
                if version is not None:
                    stored[key] = version
        plan = plan_batch(events, stored, keys)
        writes = preparation.fact_writes(plan)
        props = {key: fact_props(event, key) for keyed in preparation.update_candidates(writes).values() for key, event in keyed}
        live = {key: self._live_props(key.split("|", 1)[0], key) for key in props}
        preparation.split_unchanged(writes, plan, {key for key, p in props.items() if preparation.same_content(live[key] or {}, p)})
        previous = {key: self._stored_event(key.split("|", 1)[0], key) for key in plan.keys_needing_stored_event()}
        fresh = preparation.new_events(events, plan.decisions)
        self._write_references(preparation.references(preparation.without_unchanged(fresh, plan)))
        self._write_facts(writes)
        for keyed in writes.touch.values():
            for key, _event in keyed:
                self._touch(key, live[key] or {}, props[key])
        for prefix, holder_events in preparation.holder_events(fresh).items():
            self._update_holders(prefix, holder_events)
        return BatchResult(applied=plan.applied, stale=plan.stale, duplicate=plan.duplicate, retracted=plan.retracted,
                           unchanged=len(plan.unchanged), changes=plan.changes(previous), outcomes=dict(plan.outcomes),
                           applied_facts=plan.applied_facts), plan

    def _fact_node(self, event_type: str, key: str) -> Node:
        return (FACT_LABEL[event_type], key)

    def _live_props(self, event_type: str, key: str) -> dict[str, Any] | None:
        if event_type == LEASE_TYPE:
            ends = self.lease_edges.get(key)
            return None if ends is None else self.g.edges[ends[0], ends[1], (LEASES, key)]
        return self.node_data(self._fact_node(event_type, key))

    def _stored_version(self, event_type: str, key: str) -> Version | None:
        props = self._live_props(event_type, key)
        if props is not None:
            return Version(props["observed_at"], props["event_id"], "assert")
        tomb = ("Retracted", key)
        if tomb in self.g:
            data = self.g.nodes[tomb]
            return Version(data["observed_at"], data["event_id"], "retract")
        return None

    def _stored_event(self, event_type: str, key: str) -> Event:
        props = self._live_props(event_type, key)
        assert props is not None
        return event_from_props(event_type, {k: v for k, v in props.items() if k not in ("labels", "type")})

    # --- writes ----------------------------------------------------------------------------------------

    def _add_node(self, node: Node, props: dict[str, Any]) -> None:
        self.g.add_node(node, labels=_own_labels(node[0]), **props)

    def _fact_data(self, event: Event, key: str) -> dict[str, Any]:
        """The fact element's properties (:func:`fact_props`) with each property name and each
        repeated value (:data:`SHARED_PROPS`) held once: a snapshot's facts share their provenance."""
        shared, intern = self._shared, sys.intern
        return {intern(name): shared(value) if name in SHARED_PROPS else value for name, value in fact_props(event, key).items()}

    def _reference(self, node: Node) -> Node:
        """The tuple already used for this reference node since the last snapshot: an edge's end is
        kept by the edge, so thousands of facts linking one AS number share one tuple, not one each."""
        return self._ends.setdefault(node, node)

    def _add_bare_edge(self, u: Node, v: Node, rel: str) -> None:
        """A :data:`BARE_RELS` relationship, holding the one property dict of its type."""
        self.g.add_edge(u, v, key=rel)
        raw: Any = self.g  # the stubs leave the adjacency dicts out
        raw._succ[u][v][rel] = nx_persist.bare_props(rel)  # noqa: SLF001 - the key dict both directions share

    def _write_references(self, refs: preparation.References) -> None:
        for key, (name, pid) in sorted(refs.parties.items()):
            node = ("Party", key)
            if node not in self.g:
                self._add_node(node, {k: v for k, v in {"key": key, "name": name, "party_id": pid}.items() if v is not None})
                continue
            data = self.g.nodes[node]
            data["name"] = min(data["name"], name)
            if pid is not None:
                data["party_id"] = pid if "party_id" not in data else min(data["party_id"], pid)
        for name in sorted(refs.maintainers):
            if ("Maintainer", name) not in self.g:
                self._add_node(("Maintainer", name), {"name": name})
        for asn in sorted(refs.asns):
            if ("AS", asn) not in self.g:
                self._add_node(("AS", asn), {"asn": asn})
        self._add_blocks({p for p in refs.blocks if ("Block", p) not in self.g})

    def _add_blocks(self, new: set[str]) -> None:
        """Create the new blocks and link them (and existing blocks they now cover) by WITHIN."""
        if not new:
            return
        lengths = set(self.block_firsts) | {prefix_length(p) for p in new}
        existing_supernets = {s for p in new for s in preparation.supernets(p, lengths) if ("Block", s) in self.g}
        children: set[tuple[str, int | None]] = set()
        for prefix in new:
            first, last, length = prefix_range(prefix)
            for child_length, firsts in self.block_firsts.items():
                if child_length <= length:
                    continue
                for child_first in firsts[bisect_left(firsts, first):bisect_right(firsts, last)]:
                    child = ints_to_prefix(child_first, child_length)
                    children.add((child, self._parent_length(("Block", child))))
        links = preparation.parents_of_new_blocks(new, existing_supernets, lengths)
        links.update(preparation.reparented_children(new, sorted(children, key=str)))
        for prefix in sorted(new):
            props = block_props(prefix)
            self._add_node(("Block", prefix), props)
            firsts = self.block_firsts.setdefault(props["prefix_length"], [])
            firsts.insert(bisect_left(firsts, props["first"]), props["first"])
        for child, parent in links.items():
            node = ("Block", child)
            for _, old_parent, key in list(self.g.out_edges(node, keys=True)):
                if key == "WITHIN":
                    self.g.remove_edge(node, old_parent, key)
            self._add_bare_edge(node, self._reference(("Block", parent)), "WITHIN")

    def _parent_length(self, node: Node) -> int | None:
        for _, parent, key in self.g.out_edges(node, keys=True):
            if key == "WITHIN":
                return int(self.g.nodes[parent]["prefix_length"])
        return None

    def _write_facts(self, writes: preparation.FactWrites) -> None:
        for key in writes.untombstone:
            self.g.remove_node(("Retracted", key))
        for event_type, keys in writes.delete.items():
            for key in keys:
                if event_type == LEASE_TYPE:
                    u, v = self.lease_edges.pop(key)
                    hop = self.g.edges[u, v, (LEASES, key)]
                    self.block_leases[hop["block"]].discard(key)
                    self._count_roles(u, v, hop, -1)
                    self.g.remove_edge(u, v, (LEASES, key))
                else:
                    node = self._fact_node(event_type, key)
                    table = self.tables.get(node[0])
                    if table is not None:
                        self._drop_fact_at(table.prefix(key), node)
                        table.pop(key)
                        continue
                    if node[0] in ANALYSED_LABELS:
                        self._drop_fact_at(self.g.nodes[node]["prefix"], node)
                    self.g.remove_node(node)
        for event in writes.tombstone:
            node = ("Retracted", event.fact_key)
            if node in self.g:
                self.g.remove_node(node)
            self._add_node(node, preparation.retract_props(event))
        for keyed in writes.create.values():
            for key, event in keyed:
                self._create_fact(key, event)
        for keyed in writes.update.values():
            for key, event in keyed:
                self._update_fact(key, event)

    def _create_fact(self, key: str, event: Event) -> None:
        props = self._fact_data(event, key)
        if event.type == LEASE_TYPE:
            u = ("Party", cached_party_key(event.provider.name, event.provider.id))
            v = ("Party", cached_party_key(event.recipient.name, event.recipient.id))
            self.g.add_edge(u, v, key=(LEASES, key), type=LEASES, **props)
            self._index_lease(key, event.block, u, v)
            self._count_roles(u, v, props, 1)
            return
        node = self._fact_node(event.type, key)
        table = self.tables.get(node[0])
        if table is not None:  # its relationships follow from its properties
            table.put(key, props)
            self._add_fact_at(props["prefix"], node)
            return
        self.g.add_node(node)
        self._nodes[node] = compact_dict(node[0], {"labels": _own_labels(node[0]), **props})
        if node[0] in ANALYSED_LABELS:
            self._add_fact_at(props["prefix"], node)
        self._link(node, event, only_mutable=False)

    def _link(self, node: Node, event: Event, only_mutable: bool) -> None:
        targets = link_targets(event)
        for link in LINKS[event.type]:
            if only_mutable and not link.mutable:
                continue
            for target in targets.get(link.rel, []):
                other = self._reference((link.target, target))
                u, v = (node, other) if link.outgoing else (other, node)
                self._add_bare_edge(u, v, link.rel)

    def _update_fact(self, key: str, event: Event) -> None:
        props = self._fact_data(event, key)
        if event.type == LEASE_TYPE:
            u, v = self.lease_edges[key]
            data = self.g.edges[u, v, (LEASES, key)]
            self._count_roles(u, v, data, -1)
            data.clear()
            data.update(type=LEASES, **props)
            self._count_roles(u, v, data, 1)
            return
        node = self._fact_node(event.type, key)
        table = self.tables.get(node[0])
        if table is not None:  # the same fact key: the same prefix, indexed already
            table.put(key, props)
            return
        self._nodes[node] = compact_dict(node[0], {"labels": _own_labels(node[0]), **props})
        mutable = {link.rel for link in LINKS[event.type] if link.mutable}
        for u, v, rel in list(self.g.out_edges(node, keys=True)) + list(self.g.in_edges(node, keys=True)):
            if rel in mutable:
                self.g.remove_edge(u, v, rel)
        self._link(node, event, only_mutable=True)

    def _touch(self, key: str, data: dict[str, Any], props: dict[str, Any]) -> None:
        """A live element re-stated as it was: only its version properties move."""
        for name, value in preparation.version_props(props).items():
            if value is None:
                data.pop(name, None)
            else:
                data[name] = self._shared(value) if name in SHARED_PROPS else value
        table = self.tables.get(FACT_LABEL.get(key.split("|", 1)[0], ""))
        if table is not None:  # data was a copy of the row
            table.put(key, data)

    def _update_holders(self, prefix: str, events: list[Event]) -> None:
        node = ("Block", prefix)
        data = self.g.nodes[node]
        old = data.get("holder_evidence", [])
        merged = merge_evidence(old, events)
        if merged == old:
            return
        data["holder_evidence"] = merged
        for _, party, key in list(self.g.out_edges(node, keys=True)):
            if isinstance(key, tuple) and key[0] == "HELD_BY":
                self.g.remove_edge(node, party, key)
        for run in holder_runs(merged):
            since = run.valid_from.isoformat() if run.valid_from else ""
            self.g.add_edge(node, ("Party", run.party), key=("HELD_BY", run.source, run.fact_key, since), type="HELD_BY", **run.props())

    # --- reads ---------------------------------------------------------------------------------------

    def _hop(self, key: str) -> Hop:
        u, v = self.lease_edges[key]
        return hop_from_row(values_of(self.g.edges[u, v, (LEASES, key)], HOP_FIELDS))

    def load_portfolio(self) -> Portfolio:
        portfolio = Portfolio(hops=[self._hop(key) for key in self.lease_edges])
        for node, data in self.node_items():
            label = node[0]
            if label == "BgpRoute":
                add_route(portfolio, values_of(data, ORIGIN_FIELDS))
            elif label in PORTFOLIO_PARTS:
                attr, fields, make = PORTFOLIO_PARTS[label]
                getattr(portfolio, attr).append(make(values_of(data, fields)))
        return portfolio.canonical()

    def hops_for_blocks(self, prefixes: list[str]) -> list[Hop]:
        hops = [self._hop(k) for p in set(prefixes) for k in self.block_leases.get(p, ())]
        return sorted(hops, key=hop_order)

    def leased_blocks_within(self, first: int, last: int) -> list[Hop]:
        prefixes = []
        for length, firsts in self.block_firsts.items():
            for block_first in firsts[bisect_left(firsts, first):bisect_right(firsts, last)]:
                if block_first + prefix_size(length) - 1 <= last:
                    prefixes.append(ints_to_prefix(block_first, length))
        return self.hops_for_blocks(prefixes)

    def holder_history(self, prefix: str) -> list[Holding]:
        node = ("Block", prefix)
        if node not in self.g:
            return []
        out = []
        for _, party, data in self.g.out_edges(node, data=True):
            if data["type"] == "HELD_BY":
                out.append(Holding(prefix, party[1], self.g.nodes[party]["name"], data["source"], data.get("valid_from"),
                                   data.get("valid_to"), data["fact_key"], data["event_id"], data["reference"]))
        return sorted(out, key=holding_order)

    def holders_of(self, prefix: str) -> list[Holding]:
        return [h for h in self.holder_history(prefix) if h.valid_to is None]

    # --- every node and relationship: the graph's and the fact tables' ---------------------------------

    def node_data(self, node: Node) -> dict[str, Any] | None:
        """The node's properties (``labels`` included); None when there is no such node. A fact
        table's node gives a copy (changing it changes nothing)."""
        table = self.tables.get(node[0])
        if table is not None:
            return table.get(node[1])
        return self._nodes.get(node)

    def node_items(self) -> Iterator[tuple[Node, dict[str, Any]]]:
        """Every node with its properties (as :meth:`node_data`)."""
        yield from self.g.nodes(data=True)
        for label, table in self.tables.items():
            for key, data in table.items():
                yield (label, key), data

    def edge_items(self) -> Iterator[tuple[Node, Node, dict[str, Any]]]:
        """Every relationship as (start, end, properties with ``type``)."""
        yield from self.g.edges(data=True)
        for label, table in self.tables.items():
            props = nx_persist.bare_props(table.rel)
            for key, asn in table.edges():
                yield (label, key), ("AS", asn), props

    def canonical_dump(self) -> dict[str, Any]:
        nodes = []
        for node, data in self.node_items():
            if node[0] in MACHINERY_LABELS:
                continue
            nodes.append({"labels": sorted(data["labels"]), "props": canonical_props({k: v for k, v in data.items() if k != "labels"})})
        rels = []
        for u, v, data in self.edge_items():
            rels.append({"type": data["type"], "start": [u[0], canonical_value(u[1])], "end": [v[0], canonical_value(v[1])],
                         "props": canonical_props({k: val for k, val in data.items() if k != "type"})})
        return sort_dump(nodes, rels)

    # --- alerts (graph/stores/alerts.py) --------------------------------------------------------------

    def load_alerts(self, alert_ids: Iterable[str] | None = None) -> list[dict[str, Any]]:
        if alert_ids is None:
            nodes = [n for n in self.g.nodes if n[0] == ALERT_LABEL]
        else:
            nodes = [(ALERT_LABEL, i) for i in set(alert_ids) if (ALERT_LABEL, i) in self.g]
        return sorted((json.loads(self.g.nodes[n]["json"]) for n in nodes), key=alert_order)

    def alerts_affecting(self, prefixes: Iterable[str]) -> list[dict[str, Any]]:
        g = self.g
        found = {u for p in set(prefixes) if ("Block", p) in g
                 for u, _, data in g.in_edges(("Block", p), data=True) if data["type"] == AFFECTS}
        alerts = (json.loads(g.nodes[n]["json"]) for n in found if g.nodes[n]["status"] != "resolved")
        return sorted(alerts, key=alert_order)

    def save_alerts(self, alerts: list[dict[str, Any]]) -> None:
        self._lock_for_writing()
        g = self.g
        for alert in alerts:
            node = (ALERT_LABEL, alert["id"])
            if node in g:
                g.remove_edges_from(list(g.out_edges(node, keys=True)))
                g.nodes[node].clear()
            g.add_node(node, labels=(ALERT_LABEL,), **alert_props(alert))
            if ("Block", alert["block"]) in g:
                g.add_edge(node, ("Block", alert["block"]), key=CONCERNS, type=CONCERNS)
            for block, depth in affected_links(alert):
                if ("Block", block) in g:
                    g.add_edge(node, ("Block", block), key=AFFECTS, type=AFFECTS, **({} if depth is None else {"depth": depth}))
        # saved with the graph and the consumer offsets (periodically and on close), so alerts and
        # the batches that raised them are persisted together
        self._dirty = True

    # --- analysis write-back ------------------------------------------------------------------------

    def write_analysis(self, block_rows: list[dict[str, Any]], spof_rows: list[dict[str, Any]]) -> None:
        self._lock_for_writing()
        keys = block_keys(block_rows)
        stored = {node[1]: data.get(DIGEST) for node, data in self.g.nodes(data=True)
                  if node[0] == "Block" and (DIGEST in data or not data.keys().isdisjoint(keys) or self._spof_edges(node))}
        with without_cyclic_gc():  # millions of small objects, no cycles
            plan = plan_write_back(block_rows, spof_rows, stored)
        self._apply_write_back(plan)
        self._dirty = True
        self.save()

    def record_full_analysis(self, at: datetime) -> None:
        self._lock_for_writing()
        assert self._db is not None
        nx_persist.write_meta(self._db, FULL_ANALYSIS_KEY, as_utc(at).isoformat())

    def last_full_analysis(self) -> datetime | None:
        value = nx_persist.read_meta(self.dir, FULL_ANALYSIS_KEY, self._db)  # from the file: `chainrisk analyze` runs apart
        return None if value is None else datetime.fromisoformat(value)

    def _apply_write_back(self, plan: WriteBackPlan) -> None:
        for write in plan.writes:
            node = ("Block", write.prefix)
            if node not in self.g:
                continue
            self._set_analysis(node, plan.keys, write.values, write.digest)
            self.g.remove_edges_from(self._spof_edges(node))
            for party, *values in write.spofs:
                if ("Party", party) in self.g:
                    props = {k: v for k, v in zip(plan.spof_keys, values) if v is not None}
                    self.g.add_edge(("Party", party), node, key="SPOF_FOR", type="SPOF_FOR", **props)
        for prefix in plan.clears:
            node = ("Block", prefix)
            self._set_analysis(node, plan.keys, [None] * len(plan.keys), None)
            self.g.remove_edges_from(self._spof_edges(node))

    # --- incremental analysis (graph/stores/incremental.py) -------------------------------------------

    def _blocks_inside(self, prefix: str) -> list[str]:
        """The Block nodes equal to or inside ``prefix``."""
        first, last, length = prefix_range(prefix)
        out: list[str] = []
        for block_length, firsts in self.block_firsts.items():
            if block_length >= length:
                out.extend(ints_to_prefix(f, block_length) for f in firsts[bisect_left(firsts, first):bisect_right(firsts, last)])
        return out

    def _is_candidate(self, prefix: str) -> bool:
        if self.block_leases.get(prefix) or holds_block_results(self.g.nodes[("Block", prefix)]):
            return True
        return any(n[0] == "Registration" and self.g.nodes[n].get("role") == "lessee" for n in self.facts_at(prefix))

    def analysis_input(self, within: Sequence[str], overlapping: Sequence[str]) -> AnalysisInput:
        scope = {b for p in [*within, *overlapping] for b in self._blocks_inside(p)}
        scope.update(c for p in overlapping for c in covering_prefixes(p) if ("Block", c) in self.g)
        blocks = sorted(b for b in scope if self._is_candidate(b))
        cover = {c for b in blocks for c in covering_prefixes(b)}
        inside = {i for b in blocks for i in self._blocks_inside(b)}
        portfolio = Portfolio(hops=[self._hop(k) for p in cover for k in self.block_leases.get(p, ())])
        for prefix in cover | inside:
            for node in self.facts_at(prefix):
                label, data = node[0], self.node_data(node)
                assert data is not None
                if prefix not in cover and label not in ("Registration", "Listing"):
                    continue  # VRPs, origins and route objects count only at or above a block
                if label == "BgpRoute":
                    add_route(portfolio, values_of(data, ORIGIN_FIELDS))
                else:
                    attr, fields, make = PORTFOLIO_PARTS[label]
                    getattr(portfolio, attr).append(make(values_of(data, fields)))
        given = AnalysisInput(blocks, portfolio.canonical())
        for prefix in blocks:
            data = self.g.nodes[("Block", prefix)]
            if holds_block_results(data):
                spofs = [(d.get("position", 0), u[1]) for u, _, d in self.g.in_edges(("Block", prefix), data=True)
                         if d["type"] == "SPOF_FOR"]
                given.stored[prefix] = stored_row(prefix, data, spofs)
                given.digests[prefix] = data.get(DIGEST)
        return given

    def refresh_analysis(self, within: Sequence[str], overlapping: Sequence[str], compute: AnalysisCompute,
                         outbox: RefreshOutbox | None = None) -> AnalysisRefresh:
        self._lock_for_writing()
        plan, refresh = refresh_plan(self.analysis_input(within, overlapping), compute)
        self._apply_write_back(plan)
        record = outbox_record(outbox, refresh)
        if record is not None:  # in memory with the results: both persist with the graph, or neither
            group, batch_id, text = record
            self.pending.setdefault(group, {})[batch_id] = PendingChanges(batch_id, *pending_from_json(text))
        self._dirty = True  # saved with the graph; until then the batch's pending record is kept too
        return refresh

    def dated_results(self, before: date) -> list[tuple[str, date, date | None]]:
        out: list[tuple[str, date, date | None]] = []
        for node, data in self.g.nodes(data=True):
            if node[0] == "Block" and holds_block_results(data) and data.get("secured_until") is not None and data["secured_until"] < before:
                out.append((node[1], data["secured_until"], analysed_on(data.get("analysed_as_of"), data.get("analysed_at"))))
        return sorted(out)

    def stored_results(self, prefixes: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
        g = self.g
        if prefixes is None:
            nodes = sorted((n for n, data in g.nodes(data=True) if n[0] == "Block" and DIGEST in data), key=lambda n: n[1])
        else:
            nodes = sorted(("Block", p) for p in set(prefixes) if ("Block", p) in g and DIGEST in g.nodes[("Block", p)])
        out: dict[str, dict[str, Any]] = {}
        for node in nodes:
            data = g.nodes[node]
            spofs = sorted((d.get("position", 0), u[1]) for u, _, d in g.in_edges(node, data=True) if d["type"] == "SPOF_FOR")
            out[node[1]] = {f: native(data.get(f)) for f in RISK_FIELDS} | {"spofs": [key for _, key in spofs]}
        return out

    def _spof_edges(self, block: Node) -> list[tuple[Node, Node, Any]]:
        return [(u, v, k) for u, v, k, d in self.g.in_edges(block, keys=True, data=True) if d["type"] == "SPOF_FOR"]

    def _set_analysis(self, block: Node, keys: Sequence[str], values: Sequence[Any], digest: str | None) -> None:
        """The block's analysis properties: each of ``keys`` set to its value or removed (None)."""
        data = self.g.nodes[block]
        for name, value in [*zip(keys, values), (DIGEST, digest)]:
            if value is None:
                data.pop(name, None)
            else:
                data[name] = value
