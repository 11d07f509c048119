"""The Neo4j graph store (official driver). Same model and same decisions as the embedded store.
Each batch is, after the event-only preparation (:meth:`NeoStore.prepare_batch`, done ahead on the
consumer's decode thread):

0. a short transaction creating the blocks the events name that do not exist yet, with their
   containment, under a lock per /8 they overlap (only when there are new ones);
1. one transaction that locks the consumer offsets of the batch's partitions and moves them on
   (refusing a batch that does not start where the stored offsets are:
   :class:`~chainrisk.graph.store.OffsetConflict`);
2. reads the stored versions of the batch's facts (one query per event type, plus one for tombstones);
3. decides in Python (``graph/stores/facts.py``);
4. writes: reference nodes, fact elements, the role labels of the parties whose LEASES changed,
   holder history - one ``UNWIND`` statement per kind of change and event type, never one per event.

Deadlocks between concurrent consumers are transient errors; the driver retries the whole
transaction function. Every Cypher statement is in ``graph/stores/cypher.py``.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from typing import Any

from neo4j import Driver, GraphDatabase, ManagedTransaction

from chainrisk.analysis.affected import covering_prefixes
from chainrisk.analysis.alerts import alert_order
from chainrisk.analysis.model import Hop, Portfolio
from chainrisk.analysis.risk_alerts import RISK_FIELDS
from chainrisk.analysis.writeback import ROW_NAMES
from chainrisk.common.memory import without_cyclic_gc
from chainrisk.common.prefixes import prefix_ints, prefix_range
from chainrisk.common.timestamps import as_utc
from chainrisk.graph.config import Settings
from chainrisk.graph.stores import cypher, preparation, snapshots
from chainrisk.graph.stores.alerts import affected_links, alert_props
from chainrisk.graph.stores.facts import BatchPlan, Version, plan_batch
from chainrisk.graph.stores.holders import holder_runs, merge_evidence
from chainrisk.graph.stores.incremental import analysed_on, covering_at_lengths, refresh_plan, stored_row
from chainrisk.graph.stores.portfolio import ORIGIN_FIELDS, PORTFOLIO_PARTS, add_route, hop_from_row
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
    BLOCK_TYPES,
    FACT_LABEL,
    FULL_ANALYSIS_KEY,
    LEASE_TYPE,
    MACHINERY_LABELS,
    cached_party_key,
    canonical_props,
    canonical_value,
    event_from_props,
    fact_props,
    link_targets,
    native,
    sort_dump,
)
from chainrisk.graph.stores.writeback_plan import DIGEST, block_keys, plan_write_back
from chainrisk.ingest.events import Event
from chainrisk.ingest.snapshots import SCOPE_FIELD

WRITE_CHUNK = 10_000
WRITE_SESSIONS = 2  # analysis write-back: chunks written from two sessions at once


# fact labels whose prefix lengths are kept per label (the others sit on Block prefixes)
LENGTH_LABELS = frozenset(FACT_LABEL[t] for t in FACT_LABEL if t not in BLOCK_TYPES)
# the labels a refresh reads: the portfolio's and the BGP routes; registrations and listings also inside a block
FACT_READ_LABELS = (*PORTFOLIO_PARTS, "BgpRoute")
INSIDE_LABELS = ("Registration", "Listing")
_NO_PREFIX = {"first": -1, "prefix": ""}  # an $at entry no fact has
_NO_RANGE = {"first": -1, "last": -2}  # a $ranges entry nothing lies in
FACTS_AROUND = cypher.facts_around([(label, ORIGIN_FIELDS if label == "BgpRoute" else PORTFOLIO_PARTS[label][1], label in INSIDE_LABELS)
                                    for label in FACT_READ_LABELS])


def _fixed(lengths: set[int] | None) -> Callable[[str], set[int] | None]:
    return lambda _block: lengths


def wire(props: dict[str, Any]) -> dict[str, Any]:
    """Properties as sent to Neo4j: temporal values as ISO text (the statements convert them back
    with ``date()`` / ``datetime()``; the driver's own temporal packing is ~100x slower)."""
    out = dict(props)
    for name, value in props.items():
        if isinstance(value, date):  # datetime included
            out[name] = value.isoformat()
    return out


class QuietRows(list[Any]):
    """A list parameter whose repr is its length. The driver (neo4j 6.4, ``Bolt5x5.run``) formats
    every RUN's parameters for a debug log line even when debug logging is off: for a batch's rows
    that is a megabyte of text per statement, ~7 us per event of the consumer's time."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"<{len(self)} rows>"


def _run(tx: Any, statement: str, **params: Any) -> Any:
    """``tx.run(statement, **params)`` with every list parameter passed as :class:`QuietRows`."""
    return tx.run(statement, **{name: QuietRows(value) if isinstance(value, list) else value for name, value in params.items()})


def _chunks(rows: list[Any], size: int = WRITE_CHUNK) -> Iterable[list[Any]]:
    for start in range(0, len(rows), size):
        yield rows[start:start + size]


def _write_rows(tx: ManagedTransaction, statement: str, rows: list[Any]) -> None:
    _run(tx, statement, rows=rows).consume()


class NeoStore:
    def __init__(self, settings: Settings, driver: Driver | None = None) -> None:
        self.settings = settings
        self.database = settings.neo4j_database
        self._alert_schema_ready = False  # the Alert constraint is made with the first alerts saved
        self.driver = driver or GraphDatabase.driver(
            settings.neo4j_uri, auth=(settings.neo4j_user, settings.resolve_neo4j_password()),
            # the driver retries a managed transaction's transient failures for up to 10 s; past that the
            # consumer's own retries take over, which log, count and turn /readyz 503, so a Neo4j that
            # goes away mid-transaction shows in readiness within seconds, not after a minute
            connection_timeout=10, max_transaction_retry_time=10,
            notifications_min_severity="OFF",  # "property key does not exist" on an empty graph is expected
        )

    def close(self) -> None:
        self.driver.close()

    def _session(self) -> Any:
        return self.driver.session(database=self.database)

    # --- schema / offsets ------------------------------------------------------------------------

    def ensure_schema(self) -> None:
        with self._session() as session:
            for statement in cypher.SCHEMA:
                session.run(statement).consume()
            session.run(cypher.AWAIT_INDEXES, seconds=300).consume()
            # a graph written before the lengths were kept (or just wiped): look at every node once
            for r in list(session.run(cypher.FACT_LENGTHS, labels=sorted(LENGTH_LABELS))):
                if not r["complete"]:
                    session.execute_write(lambda tx, label=r["label"]: _run(tx, cypher.complete_fact_lengths(label)).consume())

    def stored_offsets(self, group: str) -> dict[TopicPartition, int]:
        with self._session() as session:
            return {(r["topic"], r["partition"]): r["next"] for r in session.run(cypher.STORED_OFFSETS, group=group)}

    def graph_size(self) -> tuple[int, int]:
        """(nodes, relationships) in the database, bookkeeping nodes included."""
        with self._session() as session:
            return (session.run(cypher.COUNT_NODES).single()["n"], session.run(cypher.COUNT_RELATIONSHIPS).single()["n"])

    def wipe(self) -> None:
        """Delete every node and relationship of the database (tests, `--reset`); keeps the schema."""
        with self._session() as session:
            for statement in cypher.WIPE:
                session.run(statement).consume()

    # --- apply -----------------------------------------------------------------------------------------

    def prepare_batch(self, events: list[Event]) -> preparation.PreparedBatch:
        """Everything about ``events`` that needs no stored state (fact keys, reference nodes, Block
        properties, the fact elements' wire rows), computed outside the transaction: the consumer
        does it on its decode thread while the previous batch is being written."""
        facts, ends = snapshots.split_ends(events)
        prepared = preparation.prepare_batch(facts, self._fact_row)
        if ends:
            prepared.ends, prepared.given = ends, events
        return prepared

    @staticmethod
    def _fact_row(event: Event, key: str) -> dict[str, Any]:
        """The parameter row that creates or replaces ``event``'s fact element."""
        if event.type == LEASE_TYPE:
            return {"provider": cached_party_key(event.provider.name, event.provider.id),
                    "recipient": cached_party_key(event.recipient.name, event.recipient.id),
                    "props": wire(fact_props(event, key))}
        return {"props": wire(fact_props(event, key)), "links": link_targets(event)}

    def apply_batch(
        self,
        events: list[Event],
        offsets: dict[TopicPartition, int],
        group: str,
        start_offsets: dict[TopicPartition, int] | None = None,
        keep_changes: bool = False,
        prepared: preparation.PreparedBatch | None = None,
    ) -> BatchResult:
        started = time.monotonic()
        if prepared is None or (prepared.given or prepared.events) is not events:
            prepared = self.prepare_batch(events)
        with self._session() as session:
            if prepared.references.blocks:
                # Blocks first, in a short transaction of their own: creating them is serialised per /8
                # (containment), and holding those locks through the whole batch would serialise
                # concurrent consumers entirely. A crash between the two transactions leaves blocks
                # that re-applying the batch names anyway (reference nodes are a function of the
                # events seen), so the graph still ends as if each batch were one transaction.
                session.execute_write(self.add_blocks, prepared.references.blocks, prepared)
            result: BatchResult = session.execute_write(self._apply_tx, prepared, offsets, group, start_offsets, keep_changes)
        result.seconds = time.monotonic() - started
        return result

    def _apply_tx(self, tx: ManagedTransaction, prepared: preparation.PreparedBatch, offsets: dict[TopicPartition, int], group: str,
                  start_offsets: dict[TopicPartition, int] | None, keep_changes: bool) -> BatchResult:
        parts = [{"topic": t, "partition": p, "next": n} for (t, p), n in sorted(offsets.items())]
        if parts:
            stored_offsets = {(r["topic"], r["partition"]): r["next"] for r in _run(tx, cypher.ADVANCE_OFFSETS, parts=parts, group=group)}
            conflicts = offset_conflicts(stored_offsets, start_offsets)
            if conflicts:
                raise OffsetConflict(conflicts)  # rolls the offsets just written back with the transaction

        result, plan = self._apply_facts(tx, prepared)
        tally = snapshots.tallies(prepared.events, plan)
        if prepared.ends or tally:
            result.add(self._apply_snapshots(tx, tally, prepared.ends, group))
        if keep_changes and (result.changes or result.applied_facts):
            result.pending_id = new_batch_id()
            _run(tx, cypher.WRITE_PENDING_CHANGES, group=group, batch_id=result.pending_id,
                 changes_json=pending_to_json(result.changes, result.applied_facts)).consume()
        return result

    def _apply_snapshots(self, tx: ManagedTransaction, tally: dict[str, dict[str, int]], ends: list[Event], group: str) -> BatchResult:
        """Count the batch's snapshot events for ``group``, record the snapshot ends, and complete
        (and sweep for) the snapshots now complete (graph/stores/snapshots.py)."""
        if ends:
            _run(tx, cypher.MERGE_SNAPSHOTS, rows=[wire(snapshots.record_of(e)) for e in ends]).consume()
        ids = sorted(set(tally) | {e.snapshot for e in ends})  # type: ignore[union-attr]
        rows = [{"snapshot_id": sid, **tally.get(sid, dict.fromkeys(snapshots.COUNTS, 0))} for sid in ids]
        progress = {r["snapshot_id"]: dict(r["progress"]) for r in _run(tx, cypher.ADD_SNAPSHOT_PROGRESS, rows=rows, group=group)}
        records = [self._snapshot_record(r["props"]) for r in _run(tx, cypher.READ_SNAPSHOTS, ids=ids)]
        result = BatchResult()
        for record in sorted(records, key=snapshots.order):
            mine = progress[record["snapshot_id"]]
            if not snapshots.ready(record, mine):
                continue
            _run(tx, cypher.LOCK_SNAPSHOT_SCOPE, name=f"snapshots/{record['fact_type']}/{record['scope']}").consume()
            record = self._snapshot_record(_run(tx, cypher.READ_SNAPSHOTS, ids=[record["snapshot_id"]]).single()["props"])
            _run(tx, cypher.MARK_PROGRESS_DONE, group=group, snapshot_id=record["snapshot_id"]).consume()
            scope_complete = [self._snapshot_record(r["props"])
                              for r in _run(tx, cypher.SCOPE_SNAPSHOTS, fact_type=record["fact_type"], scope=record["scope"])]
            completion = snapshots.complete(record, mine, scope_complete)
            if completion.drop:
                _run(tx, cypher.DROP_SNAPSHOT, snapshot_id=record["snapshot_id"]).consume()
                result.notes += completion.notes
                continue
            if completion.props:
                props = wire({k: v for k, v in completion.props.items() if k != "supersedes_observed_at"})
                at = completion.props.get("supersedes_observed_at")
                _run(tx, cypher.COMPLETE_SNAPSHOT, snapshot_id=record["snapshot_id"], props=props,
                     supersedes_observed_at=at.isoformat() if at else None).consume()
            result.notes += completion.notes
            result.add(self._sweep(tx, completion.sweeper))
        return result

    @staticmethod
    def _snapshot_record(props: Any) -> dict[str, Any]:
        return {k: native(v) for k, v in dict(props).items()}

    def _sweep(self, tx: ManagedTransaction, sweeper: dict[str, Any]) -> BatchResult:
        """Retract the live facts of the sweeper's scope that older snapshots asserted."""
        fact_type = sweeper["fact_type"]
        query = cypher.sweep_candidates(FACT_LABEL[fact_type], SCOPE_FIELD[fact_type])
        rows = _run(tx, query, scope=sweeper["scope"], before=as_utc(sweeper["observed_at"]).isoformat())
        retracts = [snapshots.retraction(event_from_props(fact_type, r["props"]), sweeper) for r in rows]
        if not retracts:
            return BatchResult()
        result, _ = self._apply_facts(tx, preparation.prepare_batch(retracts, self._fact_row))
        _run(tx, cypher.ADD_SNAPSHOT_RETRACTED, snapshot_id=sweeper["snapshot_id"], retracted=result.retracted).consume()
        result.notes.append(snapshots.sweep_note(sweeper, result.retracted))
        return result

    def _apply_facts(self, tx: ManagedTransaction, prepared: preparation.PreparedBatch) -> tuple[BatchResult, BatchPlan]:
        """Decide and write the fact events of ``prepared`` (no offsets, no outbox)."""
        events = prepared.events
        plan = plan_batch(events, self._stored_versions(tx, prepared), prepared.keys)
        writes = preparation.fact_writes(plan)
        self._touch_unchanged(tx, writes, plan, prepared)
        # the stored versions of replaced hops: changes' predecessors, and roles a party may lose
        previous = self._stored_events(tx, plan.keys_needing_stored_event() | preparation.replaced_lease_keys(writes))
        fresh = preparation.new_events(events, plan.decisions)
        # a duplicate's reference nodes were written when it was first applied (an unchanged fact's
        # when the version it re-states was): all events name the same ones then
        written = preparation.without_unchanged(fresh, plan)
        refs = prepared.references if len(written) == len(events) else preparation.references(written)
        self._write_references(tx, refs)
        self._write_facts(tx, writes, prepared)
        self._update_role_labels(tx, preparation.role_label_changes(writes, previous))
        self._update_holders(tx, preparation.holder_events(fresh))
        result = BatchResult(applied=plan.applied, stale=plan.stale, duplicate=plan.duplicate, retracted=plan.retracted,
                             unchanged=len(plan.unchanged), changes=plan.changes(previous), outcomes=dict(plan.outcomes),
                             applied_facts=plan.applied_facts)
        return result, plan

    def _touch_unchanged(self, tx: ManagedTransaction, writes: preparation.FactWrites, plan: BatchPlan,
                         prepared: preparation.PreparedBatch) -> None:
        """Move only the version of the updates that re-state the stored content, in one statement
        per type that compares in Neo4j (no stored value travels back), and take them out of the
        updates (:func:`preparation.split_unchanged`; ``writes.touch`` is then already written).
        A key that stays an update (applied more than once, with a change in between) is rewritten
        whole afterwards, its touch overwritten."""
        unchanged: set[str] = set()
        for event_type, keyed in sorted(preparation.update_candidates(writes).items()):
            rows = [{"fact_key": key, "props": prepared.row(event)["props"]} for key, event in keyed]
            unchanged.update(r["key"] for r in _run(tx, cypher.touch_unchanged_facts(event_type), rows=rows))
        preparation.split_unchanged(writes, plan, unchanged)

    def pending_changes(self, group: str) -> list[PendingChanges]:
        with self._session() as session:
            rows = list(session.run(cypher.PENDING_CHANGES, group=group))
        return [PendingChanges(r["batch_id"], *pending_from_json(r["changes_json"])) for r in rows]

    def drop_pending_changes(self, group: str, batch_id: str) -> None:
        with self._session() as session:
            session.execute_write(lambda tx: _run(tx, cypher.DROP_PENDING_CHANGES, group=group, batch_id=batch_id).consume())

    def _stored_versions(self, tx: ManagedTransaction, prepared: preparation.PreparedBatch) -> dict[str, Version]:
        stored: dict[str, Version] = {}
        for event_type, keys in prepared.keys_by_type.items():
            query = cypher.READ_LEASE_VERSIONS if event_type == LEASE_TYPE else cypher.read_versions(FACT_LABEL[event_type])
            for r in _run(tx, query, keys=keys):
                stored[r["key"]] = Version(datetime.fromisoformat(r["at"]), r["id"], "assert")
        for r in _run(tx, cypher.READ_TOMBSTONES, keys=prepared.distinct_keys):
            stored.setdefault(r["key"], Version(datetime.fromisoformat(r["at"]), r["id"], "retract"))
        return stored

    def _stored_events(self, tx: ManagedTransaction, keys: set[str]) -> dict[str, Event]:
        out: dict[str, Event] = {}
        for event_type, type_keys in preparation.keys_by_type(keys).items():
            query = cypher.READ_LEASE_PROPS if event_type == LEASE_TYPE else cypher.read_props(FACT_LABEL[event_type])
            for r in _run(tx, query, keys=type_keys):
                out[r["key"]] = event_from_props(event_type, r["props"])
        return out

    def add_blocks(self, tx: ManagedTransaction, prefixes: set[str], prepared: preparation.PreparedBatch) -> None:
        """Create the blocks that do not exist yet, with their WITHIN links (and re-parent existing
        blocks a new one now covers more specifically), holding the locks of the /8s they overlap.
        The transaction function of a batch's first, short transaction (:meth:`apply_batch`)."""
        if not prefixes:
            return
        new = prefixes - {r["prefix"] for r in _run(tx, cypher.EXISTING_BLOCKS, prefixes=sorted(prefixes))}
        if not new:
            return
        props = prepared.block_props
        octets = sorted({o for p in new for o in preparation.octets(props[p]["first"], props[p]["last"])})
        locked = _run(tx, cypher.LOCK_BLOCK_OCTETS, octets=octets, prefixes=sorted(new)).single()
        lengths_of = {row["octet"]: set(row["lengths"]) for row in locked["locked"]}
        new -= set(locked["existing"])  # another consumer may have created some while this one waited for the locks
        if not new:
            return
        # lengths in use anywhere in these /8s: a superset of what covers or lies inside each new block
        lengths_before = set().union(*lengths_of.values())
        lengths = lengths_before | {props[p]["prefix_length"] for p in new}
        candidates = sorted({s for p in new for s in preparation.supernets(p, lengths_before)})
        existing_supernets = {r["prefix"] for r in _run(tx, cypher.EXISTING_BLOCKS, prefixes=candidates)} if candidates else set()
        longest_before = max(lengths_before, default=-1)
        ranges = [{"first": props[p]["first"], "last": props[p]["last"], "length": props[p]["prefix_length"]}
                  for p in sorted(new) if props[p]["prefix_length"] < longest_before]
        children = [(r["child"], r["parent_length"]) for r in _run(tx, cypher.BLOCKS_INSIDE, ranges=ranges)] if ranges else []
        children = [(c, pl) for c, pl in children if c not in new]
        links = preparation.parents_of_new_blocks(new, existing_supernets, lengths)
        links.update(preparation.reparented_children(new, sorted(children, key=str)))
        for rows in _chunks([props[p] for p in sorted(new)]):
            _run(tx, cypher.CREATE_BLOCKS, rows=rows).consume()
        grown = preparation.octet_lengths_after(lengths_of, [props[p] for p in new])
        if grown:
            _run(tx, cypher.SET_BLOCK_OCTET_LENGTHS, rows=[{"octet": o, "lengths": sorted(n)} for o, n in sorted(grown.items())]).consume()
        if links:
            rows = [{"child": c, "parent": p} for c, p in sorted(links.items())]
            for chunk in _chunks(rows):
                _run(tx, cypher.LINK_WITHIN, links=chunk).consume()

    def _write_references(self, tx: ManagedTransaction, refs: preparation.References) -> None:
        if refs.parties:
            rows = [{"key": k, "name": n, "party_id": pid} for k, (n, pid) in sorted(refs.parties.items())]
            _run(tx, cypher.MERGE_PARTIES, rows=rows).consume()
        if refs.maintainers:
            _run(tx, cypher.MERGE_MAINTAINERS, names=sorted(refs.maintainers)).consume()
        if refs.asns:
            _run(tx, cypher.MERGE_ASNS, asns=sorted(refs.asns)).consume()

    def _write_facts(self, tx: ManagedTransaction, writes: preparation.FactWrites, prepared: preparation.PreparedBatch) -> None:
        if writes.untombstone:
            _run(tx, cypher.DROP_TOMBSTONES, keys=sorted(writes.untombstone)).consume()
        for event_type, keys in sorted(writes.delete.items()):
            query = cypher.DELETE_LEASES if event_type == LEASE_TYPE else cypher.delete_facts(event_type)
            _run(tx, query, keys=sorted(keys)).consume()
        if writes.tombstone:
            _run(tx, cypher.STORE_TOMBSTONES, rows=[wire(preparation.retract_props(e)) for e in writes.tombstone]).consume()
        for event_type, keyed in sorted(writes.create.items()):
            query = cypher.CREATE_LEASES if event_type == LEASE_TYPE else cypher.create_facts(event_type)
            _run(tx, query, rows=[prepared.row(e) for _, e in keyed]).consume()
        for event_type, keyed in sorted(writes.update.items()):
            query = cypher.UPDATE_LEASES if event_type == LEASE_TYPE else cypher.update_facts(event_type)
            _run(tx, query, rows=[prepared.row(e) for _, e in keyed]).consume()
        self._grow_fact_lengths(tx, writes)

    @staticmethod
    def _grow_fact_lengths(tx: ManagedTransaction, writes: preparation.FactWrites) -> None:
        """Add the prefix lengths of the facts written to their label's lengths node, where they
        are new (read first without a lock: lengths only grow, so one already there stays)."""
        wanted: dict[str, set[int]] = {}
        for event_type, keyed in [*writes.create.items(), *writes.update.items()]:
            label = FACT_LABEL.get(event_type)
            if label in LENGTH_LABELS:
                wanted.setdefault(label, set()).update(prefix_ints(e.block)[1] for _, e in keyed)
        if not wanted:
            return
        stored = {r["label"]: set(r["lengths"] or ()) for r in _run(tx, cypher.FACT_LENGTHS, labels=sorted(wanted))}
        grow = [{"label": label, "lengths": sorted(lengths)} for label, lengths in sorted(wanted.items()) if not lengths <= stored[label]]
        if grow:
            _run(tx, cypher.GROW_FACT_LENGTHS, rows=grow).consume()

    def _update_role_labels(self, tx: ManagedTransaction, changes: dict[str, tuple[set[str], set[str]]]) -> None:
        if changes:
            rows = [{"key": key, "add": sorted(add), "check": sorted(check)} for key, (add, check) in sorted(changes.items())]
            _run(tx, cypher.UPDATE_ROLE_LABELS, rows=rows).consume()

    def _update_holders(self, tx: ManagedTransaction, by_block: dict[str, list[Event]]) -> None:
        if not by_block:
            return
        stored = {r["prefix"]: list(r["evidence"] or []) for r in _run(tx, cypher.READ_EVIDENCE, prefixes=sorted(by_block))}
        rows = []
        for prefix, events in sorted(by_block.items()):
            old = stored.get(prefix, [])
            merged = merge_evidence(old, events)
            if merged != old:
                runs = [{"party": run.party, "props": wire(run.props())} for run in holder_runs(merged)]
                rows.append({"prefix": prefix, "evidence": merged, "runs": runs})
        if rows:
            _run(tx, cypher.WRITE_HOLDERS, rows=rows).consume()

    # --- reads -------------------------------------------------------------------------------------------

    def load_portfolio(self) -> Portfolio:
        portfolio = Portfolio()
        with without_cyclic_gc(), self._session() as session:  # a million hops: millions of small objects
            portfolio.hops = [hop_from_row(row) for r in session.run(cypher.ALL_HOPS) for row in r[0]]
            for label, (attr, fields, make) in PORTFOLIO_PARTS.items():
                setattr(portfolio, attr, [make(row) for r in session.run(cypher.all_rows(label, fields)) for row in r[0]])
            rows = session.run(cypher.all_rows("BgpRoute", ORIGIN_FIELDS))
            for r in rows:
                for row in r[0]:
                    add_route(portfolio, row)
        return portfolio.canonical()

    def hops_for_blocks(self, prefixes: list[str]) -> list[Hop]:
        with self._session() as session:
            hops = [hop_from_row(r[0]) for r in session.run(cypher.HOPS_FOR_BLOCKS, prefixes=sorted(set(prefixes)))]
        return sorted(hops, key=hop_order)

    def leased_blocks_within(self, first: int, last: int) -> list[Hop]:
        with self._session() as session:
            hops = [hop_from_row(r[0]) for r in session.run(cypher.HOPS_WITHIN, first=first, last=last)]
        return sorted(hops, key=hop_order)

    def holder_history(self, prefix: str) -> list[Holding]:
        with self._session() as session:
            rows = list(session.run(cypher.HOLDER_HISTORY, prefix=prefix))
        out = [Holding(prefix, r["party"], r["name"], r["source"], native(r["valid_from"]), native(r["valid_to"]),
                       r["fact_key"], r["event_id"], r["reference"]) for r in rows]
        return sorted(out, key=holding_order)

    def holders_of(self, prefix: str) -> list[Holding]:
        return [h for h in self.holder_history(prefix) if h.valid_to is None]

    def canonical_dump(self) -> dict[str, Any]:
        nodes, rels = [], []
        with self._session() as session:
            for r in session.run(cypher.DUMP_NODES):
                if MACHINERY_LABELS.intersection(r["labels"]):
                    continue
                nodes.append({"labels": sorted(r["labels"]), "props": canonical_props(r["props"])})
            for r in session.run(cypher.DUMP_RELS):
                rels.append({"type": r["type"], "start": [r["a_label"], canonical_value(r["a_id"])],
                             "end": [r["b_label"], canonical_value(r["b_id"])], "props": canonical_props(r["props"])})
        return sort_dump(nodes, rels)

    # --- alerts (graph/stores/alerts.py) ------------------------------------------------------------------

    def load_alerts(self, alert_ids: Iterable[str] | None = None) -> list[dict[str, Any]]:
        with self._session() as session:
            if alert_ids is None:
                rows = session.run(cypher.ALL_ALERTS)
            else:
                rows = session.run(cypher.ALERTS_BY_ID, ids=sorted(set(alert_ids)))
            alerts = [json.loads(r["json"]) for r in rows]
        return sorted(alerts, key=alert_order)

    def alerts_affecting(self, prefixes: Iterable[str]) -> list[dict[str, Any]]:
        with self._session() as session:
            alerts = [json.loads(r["json"]) for r in session.run(cypher.ALERTS_AFFECTING, prefixes=sorted(set(prefixes)))]
        return sorted(alerts, key=alert_order)

    def save_alerts(self, alerts: list[dict[str, Any]]) -> None:
        rows = [{"id": a["id"], "block": a["block"], "props": alert_props(a),
                 "affected": [{"block": block, "depth": depth} for block, depth in affected_links(a)]}
                for a in alerts]
        with self._session() as session:
            if not self._alert_schema_ready:
                session.run(cypher.ALERT_SCHEMA).consume()
                self._alert_schema_ready = True
            session.execute_write(lambda tx: _run(tx, cypher.SAVE_ALERTS, rows=rows).consume())

    # --- analysis write-back -------------------------------------------------------------------------------

    def write_analysis(self, block_rows: list[dict[str, Any]], spof_rows: list[dict[str, Any]]) -> None:
        with self._session() as session:
            stored = {prefix: digest for r in session.run(cypher.STORED_ANALYSIS, keys=block_keys(block_rows)) for prefix, digest in r[0]}
        with without_cyclic_gc():  # millions of small objects, no cycles
            plan = plan_write_back(block_rows, spof_rows, stored)
            writes: dict[bool, list[list[Any]]] = {False: [], True: []}
            for w in plan.writes:
                writes[w.replaces].append([w.prefix, w.values, w.digest, w.spofs])
        # one transaction per chunk: the write-back of a whole portfolio in one transaction outgrows
        # Neo4j's transaction memory (1M lease hops: more than the 717 MiB a 1 GiB heap allows;
        # bench/end_to_end.py). Readers may see it half done.
        for replaces, rows in writes.items():
            self._write_chunks(cypher.write_block_analysis(plan.keys, plan.spof_keys, replaces), rows)
        self._write_chunks(cypher.clear_block_analysis(plan.keys), plan.clears)

    def record_full_analysis(self, at: datetime) -> None:
        with self._session() as session:
            session.run(cypher.RECORD_FULL_ANALYSIS, name=FULL_ANALYSIS_KEY, at=as_utc(at).isoformat()).consume()

    def last_full_analysis(self) -> datetime | None:
        with self._session() as session:
            record = session.run(cypher.LAST_FULL_ANALYSIS, name=FULL_ANALYSIS_KEY).single()
        return None if record is None or record["at"] is None else datetime.fromisoformat(record["at"])

    # --- incremental analysis (graph/stores/incremental.py) ---------------------------------------------------

    def analysis_input(self, within: Sequence[str], overlapping: Sequence[str]) -> AnalysisInput:
        with self._session() as session:
            result: AnalysisInput = session.execute_read(self._analysis_input, within, overlapping, False)
        return result

    def refresh_analysis(self, within: Sequence[str], overlapping: Sequence[str], compute: AnalysisCompute,
                         outbox: RefreshOutbox | None = None) -> AnalysisRefresh:
        def refresh(tx: ManagedTransaction) -> AnalysisRefresh:
            plan, outcome = refresh_plan(self._analysis_input(tx, within, overlapping, True), compute)
            rows: dict[bool, list[list[Any]]] = {False: [], True: []}
            for w in plan.writes:
                rows[w.replaces].append([w.prefix, w.values, w.digest, w.spofs])
            for replaces, chunk in rows.items():
                if chunk:
                    _run(tx, cypher.write_block_analysis(plan.keys, plan.spof_keys, replaces), rows=chunk).consume()
            if plan.clears:
                _run(tx, cypher.clear_block_analysis(plan.keys), rows=plan.clears).consume()
            record = outbox_record(outbox, outcome)
            if record is not None:
                group, batch_id, text = record
                _run(tx, cypher.WRITE_PENDING_CHANGES, group=group, batch_id=batch_id, changes_json=text).consume()
            return outcome

        with self._session() as session:
            done: AnalysisRefresh = session.execute_write(refresh)
        return done

    @staticmethod
    def _analysis_input(tx: ManagedTransaction, within: Sequence[str], overlapping: Sequence[str], lock: bool) -> AnalysisInput:
        def ranges(prefixes: Iterable[str]) -> list[dict[str, int]]:
            return [{"first": f, "last": last} for f, last, _ in map(prefix_range, sorted(set(prefixes)))]

        def at(prefixes: Iterable[str]) -> list[dict[str, Any]]:
            return [{"first": prefix_range(p)[0], "prefix": p} for p in sorted(set(prefixes))]

        scope_ranges = ranges([*within, *overlapping])
        around = sorted({c for p in overlapping for c in covering_prefixes(p)[1:]})
        found: set[str] = set()
        for statement, params in ((cypher.CANDIDATES_INSIDE, {"ranges": scope_ranges}), (cypher.HOP_BLOCKS_INSIDE, {"ranges": scope_ranges}),
                                  (cypher.CANDIDATES_AT, {"prefixes": around}), (cypher.HOP_BLOCKS_AT, {"prefixes": around})):
            found.update(r["prefix"] for r in _run(tx, statement, **params))
        blocks = sorted(found)
        if lock and blocks:
            _run(tx, cypher.LOCK_BLOCKS, prefixes=blocks).consume()
        # which covering prefixes can hold facts: the lengths in use (Block ones per /8; the other
        # facts' per label), read after the lock so a batch applied before it is counted
        octets = sorted({prefix_ints(b)[0] >> 24 for b in blocks})
        per_octet: dict[int, set[int] | None] = {
            r["octet"]: None if r["lengths"] is None else set(r["lengths"]) for r in _run(tx, cypher.BLOCK_OCTET_LENGTHS, octets=octets)}
        per_label: dict[str, set[int] | None] = {
            r["label"]: set(r["lengths"] or ()) if r["complete"] else None
            for r in _run(tx, cypher.FACT_LENGTHS, labels=sorted(LENGTH_LABELS))}
        block_cover = sorted(covering_at_lengths(blocks, lambda b: per_octet.get(prefix_ints(b)[0] >> 24)))
        # Neo4j's plan cache keys a statement by its parameters' types too, and an empty list is not a
        # list of maps: each list ends with an entry that matches nothing (no prefix starts below 0),
        # so every refresh finds the one cached plan of FACTS_AROUND, whichever labels it reads
        reads: dict[str, Any] = {}
        for label in FACT_READ_LABELS:
            if label in LENGTH_LABELS:
                reads[f"at_{label}"] = [*at(covering_at_lengths(blocks, _fixed(per_label.get(label)))), _NO_PREFIX]
            else:
                reads[f"at_{label}"] = [*at(block_cover), _NO_PREFIX]
        for label in INSIDE_LABELS:
            reads[f"in_{label}"] = [*ranges(blocks), _NO_RANGE]
        portfolio = Portfolio(hops=[hop_from_row(row) for r in _run(tx, cypher.HOP_ROWS_FOR_BLOCKS, prefixes=block_cover) for row in r[0]])
        found_rows: dict[str, list[Any]] = {}
        for r in _run(tx, FACTS_AROUND, **reads):
            found_rows.setdefault(r["label"], []).append(r["row"])
        for label, (attr, _, make) in PORTFOLIO_PARTS.items():
            setattr(portfolio, attr, list(dict.fromkeys(make(row) for row in found_rows.get(label, ()))))
        for row in found_rows.get("BgpRoute", ()):
            add_route(portfolio, row)
        given = AnalysisInput(blocks, portfolio.canonical())
        keys = [*ROW_NAMES, DIGEST]
        for r in _run(tx, cypher.CANDIDATE_RESULTS, prefixes=blocks, keys=keys):
            for prefix, values, spofs in r[0]:
                props = {k: native(v) for k, v in zip(keys, values) if v is not None}
                given.stored[prefix] = stored_row(prefix, props, [(pos or 0, key) for pos, key in spofs])
                given.digests[prefix] = props.get(DIGEST)
        return given

    def dated_results(self, before: date) -> list[tuple[str, date, date | None]]:
        with self._session() as session:
            rows = [(r["prefix"], native(r["secured_until"]), analysed_on(native(r["as_of"]), r["analysed_at"]))
                    for r in session.run(cypher.DATED_RESULTS, before=before.isoformat())]
        return sorted(rows)

    def stored_results(self, prefixes: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
        with self._session() as session:
            if prefixes is None:
                records = [row for r in session.run(cypher.ALL_STORED_RESULTS, fields=list(RISK_FIELDS)) for row in r[0]]
            else:
                records = [r[0] for r in session.run(cypher.STORED_RESULTS, fields=list(RISK_FIELDS), prefixes=sorted(set(prefixes)))]
        out: dict[str, dict[str, Any]] = {}
        for prefix, values, spofs in sorted(records, key=lambda row: str(row[0])):
            out[prefix] = dict(zip(RISK_FIELDS, native(values))) | {"spofs": list(spofs)}
        return out

    def _write_chunks(self, statement: str, rows: list[Any], sessions: int = WRITE_SESSIONS) -> None:
        """``statement`` over ``rows``, a transaction per chunk, from ``sessions`` sessions at once
        (rows must touch disjoint nodes, bar shared ends of new relationships: Neo4j's work on one
        transaction runs on one core, and Python packs the next chunk meanwhile)."""
        chunks = list(_chunks(rows))

        def write(mine: list[list[Any]]) -> None:
            with self._session() as session:
                for chunk in mine:
                    session.execute_write(_write_rows, statement, chunk)

        if sessions <= 1 or len(chunks) <= 1:
            write(chunks)
            return
        with ThreadPoolExecutor(sessions) as pool:
            for done in [pool.submit(write, chunks[i::sessions]) for i in range(sessions)]:
                done.result()
