"""The interface both graph stores implement (Neo4j: ``neo4j_store``, embedded networkx: ``nx_store``).

The consumer, the alerts engine and the CLI only ever talk to a :class:`GraphStore` (the analysis
never does: it gets the :class:`~chainrisk.analysis.model.Portfolio` a store loads, and its results go
back through :meth:`GraphStore.write_analysis`), which is what lets the two backends give identical
results. Both stores share the pure parts in this package: which version of a fact wins
(``facts``), what a batch writes (``preparation``, ``records``), holder history (``holders``), the
analysis input (``portfolio``) and the write-back plan (``writeback_plan``).
"""
from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, NamedTuple, Protocol

from chainrisk.analysis.model import Hop, Portfolio
from chainrisk.ingest.events import Event, Provenance, decode_event

TopicPartition = tuple[str, int]


@dataclass(frozen=True, slots=True)
class FactChange:
    """An applied event of a change type (registration, delegation, holder_transfer, lease_hop;
    assert or retract) and the event it superseded for the same fact_key (None if the fact did not
    exist, or was retracted, before)."""

    event: Event
    previous: Event | None


def changes_to_json(changes: list[FactChange]) -> str:
    """The changes as one JSON array of ``{"event": ..., "previous": ... | null}``, each event as
    ``model_dump_json`` writes it (what :func:`changes_from_json` reads back)."""
    items = [f'{{"event":{c.event.model_dump_json()},"previous":{"null" if c.previous is None else c.previous.model_dump_json()}}}'
             for c in changes]
    return "[" + ",".join(items) + "]"


def changes_from_json(text: str) -> list[FactChange]:
    """The changes :func:`changes_to_json` wrote (each event through ``decode_event``)."""
    return [FactChange(decode_event(json.dumps(item["event"])),
                       None if item["previous"] is None else decode_event(json.dumps(item["previous"])))
            for item in json.loads(text)]


class AppliedFact(NamedTuple):
    """An applied event of any fact type (assert or retract, snapshot retractions included): what
    the incremental analysis needs to know which blocks to re-analyse, and the evidence it names -
    the event's provenance (source, file, line, data date, and the full snapshot it is part of or,
    for a snapshot's sweep retraction, the snapshot that retracted it). None only in records
    written before the provenance was kept."""

    type: str
    block: str
    op: str
    event_id: str
    provenance: Provenance | None = None


def _applied_to_json(applied_facts: list[AppliedFact]) -> str:
    """``{"provenance": [...], "facts": [[type, block, op, event_id, provenance index, line, offset], ...]}``:
    the provenance without line and offset is shared by the facts of one file, so it is written once."""
    shared: dict[tuple[Any, ...], int] = {}
    facts: list[list[Any]] = []
    for fact in applied_facts:
        p = fact.provenance
        if p is None:
            facts.append([fact.type, fact.block, fact.op, fact.event_id])
            continue
        key = (p.source, p.reference, p.observed_at, p.ingested_at, p.snapshot)
        index = shared.setdefault(key, len(shared))
        facts.append([fact.type, fact.block, fact.op, fact.event_id, index, p.line, p.offset])
    provenance = [{"source": source, "reference": reference, "observed_at": observed.isoformat(), "ingested_at": ingested.isoformat(),
                   "snapshot": snapshot} for source, reference, observed, ingested, snapshot in shared]
    return json.dumps({"provenance": provenance, "facts": facts})


def _applied_from_json(record: Any) -> list[AppliedFact]:
    if isinstance(record, list):  # written before the provenance was kept: [[type, block, op, event_id], ...]
        return [AppliedFact(*t) for t in record]
    shared = record["provenance"]
    out: list[AppliedFact] = []
    for fact in record["facts"]:
        if len(fact) == 4:
            out.append(AppliedFact(*fact))
            continue
        kind, block, op, event_id, index, line, offset = fact
        p = shared[index]
        out.append(AppliedFact(kind, block, op, event_id, Provenance(
            source=p["source"], reference=p["reference"], line=line, offset=offset, observed_at=datetime.fromisoformat(p["observed_at"]),
            ingested_at=datetime.fromisoformat(p["ingested_at"]), snapshot=p["snapshot"])))
    return out


def pending_to_json(changes: list[FactChange], applied_facts: list[AppliedFact], risk: Mapping[str, Any] | None = None) -> str:
    """A pending-changes record's text: ``{"changes": <changes_to_json>, "applied": <the applied facts
    with their provenance>}``, and ``"risk"``: the risk changes of a re-analysis whose results are
    written (``analysis.risk_alerts.RiskChanges.as_dict()``), for a record that carries those."""
    text = f'{{"changes":{changes_to_json(changes)},"applied":{_applied_to_json(applied_facts)}'
    if risk is not None:
        text += f',"risk":{json.dumps(risk)}'
    return text + "}"


def pending_from_json(text: str) -> tuple[list[FactChange], list[AppliedFact], dict[str, Any] | None]:
    """What :func:`pending_to_json` wrote: changes, applied facts, risk changes (None when it holds
    none). A bare changes array (records written before applied facts were kept) has neither."""
    if text.lstrip().startswith("["):
        return changes_from_json(text), [], None
    record = json.loads(text)
    changes = [FactChange(decode_event(json.dumps(item["event"])),
                          None if item["previous"] is None else decode_event(json.dumps(item["previous"])))
               for item in record["changes"]]
    return changes, _applied_from_json(record["applied"]), record.get("risk")


def new_batch_id() -> str:
    """A unique name for a pending-changes record, in the order records are made (the time first):
    records written in the same clock tick of the store are still handed over in the order made."""
    return f"{time.time_ns():016x}{uuid.uuid4().hex[:16]}"


@dataclass(frozen=True, slots=True)
class PendingChanges:
    """The changes of an applied batch that the consumer's hook has not finished with yet (the
    outbox record ``apply_batch(..., keep_changes=True)`` writes in the batch's transaction), or
    the risk changes of a re-analysis not yet handed to the alerts (the record
    ``refresh_analysis(..., outbox=...)`` writes in the transaction of the results)."""

    batch_id: str
    changes: list[FactChange]
    applied_facts: list[AppliedFact] = field(default_factory=list)
    # the risk changes of a re-analysis (``analysis.risk_alerts.RiskChanges.as_dict()``), stored in
    # the transaction that wrote its results, until the alerts engine took them
    risk: dict[str, Any] | None = None


@dataclass
class BatchResult:
    """What one ``apply_batch`` did. ``applied`` counts asserts that took effect, ``retracted``
    retracts that took effect, ``stale`` events older than the stored version, ``duplicate`` events
    already applied (same event_id); ``unchanged``: of ``applied``, the asserts that re-stated the
    stored content (only the fact's version moved). ``pending_id``: the pending-changes record stored with the
    batch (``keep_changes`` and some changes or applied facts), else None."""

    applied: int = 0
    stale: int = 0
    duplicate: int = 0
    retracted: int = 0
    unchanged: int = 0
    changes: list[FactChange] = field(default_factory=list)
    applied_facts: list[AppliedFact] = field(default_factory=list)  # every applied fact event, for the incremental analysis
    seconds: float = 0.0
    pending_id: str | None = None
    notes: list[str] = field(default_factory=list)  # snapshots completed and the retractions they applied, for the log
    # (event type, outcome) -> events, outcome one of applied/retracted/stale/duplicate: the counts above by type
    outcomes: dict[tuple[str, str], int] = field(default_factory=dict)

    def add(self, other: BatchResult) -> None:
        """Count ``other`` (more work of the same transaction) in."""
        self.applied += other.applied
        self.stale += other.stale
        self.duplicate += other.duplicate
        self.retracted += other.retracted
        self.unchanged += other.unchanged
        self.changes += other.changes
        self.applied_facts += other.applied_facts
        self.notes += other.notes
        for key, n in other.outcomes.items():
            self.outcomes[key] = self.outcomes.get(key, 0) + n

    @property
    def events(self) -> int:
        return self.applied + self.stale + self.duplicate + self.retracted


@dataclass(frozen=True, slots=True)
class Holding:
    """One run of a block's holder history (a HELD_BY relationship); ``valid_to`` None = current."""

    block: str
    party_key: str
    party_name: str
    source: str  # registration | delegation | transfer
    valid_from: datetime | None
    valid_to: datetime | None
    fact_key: str
    event_id: str
    reference: str


def hop_order(h: Hop) -> tuple[str, str, str]:
    """How lease hops are listed (as ``Portfolio.canonical`` orders them)."""
    return (h.block, h.provider, h.recipient)


def holding_order(h: Holding) -> tuple[Any, ...]:
    """How holder runs are listed: by source, timeline (registry object), then start (unknown first)."""
    since = "" if h.valid_from is None else h.valid_from.isoformat()
    return (h.source, h.fact_key if h.source != "transfer" else "", h.valid_from is not None, since, h.party_key)


@dataclass
class AnalysisInput:
    """What re-analysing the leased blocks around some prefixes needs (``GraphStore.analysis_input``).

    ``blocks``: the candidates - every block in scope that has lease hops, a registry assignment
    (it may be a registry-basis lease) or stored results; ``portfolio``: every current fact their
    analysis reads (the lease hops of each candidate and of every block covering it; the
    registrations and listings overlapping it; the VRPs, BGP origins and route objects at it or
    covering it), so that ``analyse_portfolio(portfolio)`` gives each candidate the results a full
    analysis gives it; ``stored``: the results the candidates hold now (``writeback.rows_by_block``
    form), ``digests`` their write-back digests."""

    blocks: list[str]
    portfolio: Portfolio
    stored: dict[str, dict[str, Any]] = field(default_factory=dict)
    digests: dict[str, str | None] = field(default_factory=dict)


# the analysis of an AnalysisInput: (block rows, SPOF rows) as analysis.writeback.analysis_rows gives them
AnalysisCompute = Callable[[AnalysisInput], tuple[list[dict[str, Any]], list[dict[str, Any]]]]


@dataclass
class AnalysisRefresh:
    """What ``GraphStore.refresh_analysis`` did: the candidate blocks, their results before and
    after (``writeback.rows_by_block`` form; a block absent from ``after`` is no longer leased and
    its results were cleared), how many blocks were written and cleared, and the pending-changes
    record of its risk changes (``pending_id``; None: no outbox, or nothing to hand over)."""

    blocks: list[str]
    before: dict[str, dict[str, Any]]
    after: dict[str, dict[str, Any]]
    written: int = 0
    cleared: int = 0
    pending_id: str | None = None


# A refresh's outbox: the consumer group, and what to store for a refresh (called with it in the
# transaction that writes its results; pure, as a store may call it again for a retried
# transaction): the risk changes as ``RiskChanges.as_dict()``, or None when there are none.
RefreshOutbox = tuple[str, Callable[[AnalysisRefresh], dict[str, Any] | None]]


def outbox_record(outbox: RefreshOutbox | None, refresh: AnalysisRefresh) -> tuple[str, str, str] | None:
    """(group, batch id, record text) of the pending-changes record a refresh stores with its
    results (None: none to store), its id set on ``refresh.pending_id``."""
    if outbox is None:
        return None
    group, judge = outbox
    risk = judge(refresh)
    if not risk:
        refresh.pending_id = None
        return None
    refresh.pending_id = new_batch_id()
    return group, refresh.pending_id, pending_to_json([], [], risk)


class OffsetConflict(Exception):
    """The store's offset for a partition is past where the batch starts: another consumer (or an
    earlier run of this one) already applied part of it. The consumer re-seeks to the stored offsets."""

    def __init__(self, conflicts: dict[TopicPartition, tuple[int | None, int]]) -> None:
        self.conflicts = conflicts
        detail = ", ".join(f"{t}[{p}] stored {s} batch starts {b}" for (t, p), (s, b) in sorted(conflicts.items()))
        super().__init__(f"offsets moved under this consumer: {detail}")


def offset_conflicts(stored: Mapping[TopicPartition, int | None], start_offsets: dict[TopicPartition, int] | None
                     ) -> dict[TopicPartition, tuple[int | None, int]]:
    """Partitions whose stored next offset is past the batch's first offset: (stored, batch start)."""
    out: dict[TopicPartition, tuple[int | None, int]] = {}
    for tp, start in (start_offsets or {}).items():
        have = stored.get(tp)
        if have is not None and have > start:
            out[tp] = (have, start)
    return out


class GraphStore(Protocol):
    def ensure_schema(self) -> None:
        """Create constraints and indexes (idempotent)."""

    def stored_offsets(self, group: str) -> dict[TopicPartition, int]:
        """(topic, partition) -> the next offset to read, as committed with the graph."""

    def prepare_batch(self, events: list[Event]) -> Any:
        """What :meth:`apply_batch` can compute from ``events`` alone, before its transaction (None:
        nothing worth doing ahead). Pure: safe on another thread while a batch is being applied."""

    def apply_batch(
        self,
        events: list[Event],
        offsets: dict[TopicPartition, int],
        group: str,
        start_offsets: dict[TopicPartition, int] | None = None,
        keep_changes: bool = False,
        prepared: Any = None,
    ) -> BatchResult:
        """Apply ``events`` (in arrival order) and store ``offsets`` (next offset per partition) in one
        transaction (``prepared``: this store's ``prepare_batch(events)``, if made already). With
        ``start_offsets`` (where the batch began per partition) the store first checks that none of
        its stored offsets is past them (someone already applied part of the
        batch) and raises :class:`OffsetConflict` if one is. With ``keep_changes``, a batch with
        changes or applied facts also stores them, in the same transaction, as a pending-changes record of ``group``
        (``result.pending_id``) that stays until :meth:`drop_pending_changes`."""

    def pending_changes(self, group: str) -> list[PendingChanges]:
        """The pending-changes records of ``group``, oldest first."""

    def drop_pending_changes(self, group: str, batch_id: str) -> None:
        """Delete one pending-changes record (nothing if it is gone already)."""

    def load_portfolio(self) -> Portfolio:
        """Every current fact as the analysis input, in canonical order."""

    def hops_for_blocks(self, prefixes: list[str]) -> list[Hop]:
        """Current lease hops of exactly these blocks."""

    def leased_blocks_within(self, first: int, last: int) -> list[Hop]:
        """Current lease hops whose block lies inside the address range ``first``..``last``."""

    def holders_of(self, prefix: str) -> list[Holding]:
        """The block's current holders (HELD_BY with no ``valid_to``), one per source timeline."""

    def holder_history(self, prefix: str) -> list[Holding]:
        """Every HELD_BY run of the block, oldest first."""

    def canonical_dump(self) -> dict[str, Any]:
        """All nodes (labels, properties) and relationships (type, endpoints' identity, properties),
        without ``ingested_at`` and the consumer's machinery, sorted."""

    def write_analysis(self, block_rows: list[dict[str, Any]], spof_rows: list[dict[str, Any]]) -> None:
        """Set analysis properties on Block nodes (each row: ``prefix`` + properties; the property
        names of the rows are cleared on every other block that held results) and replace all SPOF_FOR
        relationships (each row: ``party`` key, ``block`` prefix + properties). Blocks whose results
        did not change since the last write-back are left alone, ``analysed_at`` included
        (``graph/stores/writeback_plan.py``)."""

    def record_full_analysis(self, at: datetime) -> None:
        """Remember when a full ``chainrisk analyze`` wrote its results (``last_full_analysis``)."""
        ...

    def last_full_analysis(self) -> datetime | None:
        """When the last full analysis wrote its results (UTC), or None when none did."""
        ...

    def analysis_input(self, within: Sequence[str], overlapping: Sequence[str]) -> AnalysisInput:
        """The candidates (leased blocks, or blocks holding results) equal to or inside a prefix of
        ``within`` or ``overlapping``, or covering one of ``overlapping``, with the facts their
        analysis reads and their stored results (:class:`AnalysisInput`)."""

    def refresh_analysis(self, within: Sequence[str], overlapping: Sequence[str], compute: AnalysisCompute,
                         outbox: RefreshOutbox | None = None) -> AnalysisRefresh:
        """Re-analyse the candidates of :meth:`analysis_input` with ``compute`` and write back, for
        just those blocks, the results that changed: Block properties, ``analysis_digest`` and
        SPOF_FOR (rows of blocks that are not candidates are ignored); a candidate without a row
        loses its results. Read and write are one unit per store (Neo4j: one transaction that
        locks the candidates first, so two consumers refreshing the same block write in turn).
        With an ``outbox``, the same unit also stores what it gives for the refresh as a
        pending-changes record of its group (:func:`outbox_record`; ``result.pending_id``), so
        the risk changes between the results before and after survive a crash right after."""

    def dated_results(self, before: date) -> list[tuple[str, date, date | None]]:
        """``(prefix, secured_until, the day its figures were judged against)`` of every leased
        block holding results whose ``secured_until`` is before ``before``."""

    def stored_results(self, prefixes: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
        """The analysis results written back for these blocks (None: every block holding results),
        as ``analysis.risk_alerts`` reads them: prefix -> the block's ``RISK_FIELDS`` properties
        (None where unset; dates as ``date``) and ``spofs``, the party keys of its SPOF_FOR in
        ``position`` order. Blocks without results (no ``analysis_digest``) are left out."""

    def alerts_affecting(self, prefixes: Iterable[str]) -> list[dict[str, Any]]:
        """The stored alerts that are not resolved with an AFFECTS link to one of these blocks, as
        :meth:`load_alerts` gives them."""

    def load_alerts(self, alert_ids: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """The stored alerts (each as ``Alert.as_dict()`` gave it to :meth:`save_alerts`), all of
        them or those of these ids (unknown ids are left out), by change date, then id
        (``analysis.alerts.alert_order``)."""

    def save_alerts(self, alerts: list[dict[str, Any]]) -> None:
        """Store each alert (``Alert.as_dict()`` form) as its Alert node (``graph/stores/alerts.py``),
        replacing the node of the same id with its CONCERNS and AFFECTS links, in one write."""

    def close(self) -> None:
        """Persist (embedded) and release resources."""
