"""Which version of a fact wins: the decision both stores share.

A fact is named by ``event.fact_key``. The store keeps one version per fact: the live element
(op ``assert``) or a tombstone (op ``retract``). An incoming event is

* applied - its ``(observed_at, event_id)`` is larger than the stored one: a newer observation, or the
  same observation time and a larger event id (a deterministic tie-break, so arrival order never
  matters);
* duplicate - the same ``event_id`` as the stored version (a replay);
* stale - older than the stored version (it cannot overwrite a newer fact or resurrect a retracted one).

:func:`plan_batch` decides a whole batch against the stored versions, event after event against the
running state, so one batch gives exactly what the same events one at a time would.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from chainrisk.common.timestamps import as_utc
from chainrisk.graph.stores.protocol import AppliedFact, FactChange
from chainrisk.graph.stores.records import CHANGE_TYPES
from chainrisk.ingest.events import Event


@dataclass(frozen=True, slots=True)
class Version:
    observed_at: datetime
    event_id: str
    op: str  # assert | retract


class Decision(str, Enum):
    APPLY = "apply"
    STALE = "stale"
    DUPLICATE = "duplicate"


def version_of(event: Event) -> Version:
    """The version an event would store."""
    return Version(event.provenance.observed_at, event.event_id, event.op)


def order_key(version: Version) -> tuple[datetime, str]:
    """What versions are ordered by: observation time (UTC), then event id."""
    return as_utc(version.observed_at), version.event_id


def decide(stored: Version | None, incoming: Version) -> Decision:
    """Apply, stale or duplicate for ``incoming`` against the ``stored`` version (None: nothing stored)."""
    if stored is None:
        return Decision.APPLY
    if incoming.event_id == stored.event_id:
        return Decision.DUPLICATE
    return Decision.APPLY if order_key(incoming) > order_key(stored) else Decision.STALE


@dataclass
class BatchPlan:
    """The outcome of deciding a batch.

    ``final``: fact_key -> the last applied event (assert or retract), i.e. what to write;
    ``stored``: the versions read from the store (what to replace); ``decisions``: one per event in
    arrival order; ``pending``: applied change-type events with the event they superseded, where
    ``from_store`` means "the stored live element" (the store reads it only for those keys);
    ``applied_facts``: every applied event of any type."""

    final: dict[str, Event] = field(default_factory=dict)
    stored: dict[str, Version] = field(default_factory=dict)
    decisions: list[Decision] = field(default_factory=list)
    pending: list[tuple[Event, str, Event | None, bool]] = field(default_factory=list)
    applied_facts: list[AppliedFact] = field(default_factory=list)  # every applied event, in order
    applied: int = 0
    stale: int = 0
    duplicate: int = 0
    retracted: int = 0
    unchanged: set[str] = field(default_factory=set)  # applied asserts that re-state the stored content (the store finds them)
    # (event type, outcome) -> events: the same four outcomes per event type, for the consumer's metrics
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)

    def keys_needing_stored_event(self) -> set[str]:
        """Fact keys whose stored live element is some change's ``previous``."""
        return {key for _, key, _, from_store in self.pending if from_store}

    def changes(self, stored_events: dict[str, Event]) -> list[FactChange]:
        """The FactChange list, with stored predecessors taken from ``stored_events``."""
        return [FactChange(e, stored_events[key] if from_store else prev) for e, key, prev, from_store in self.pending]


def plan_batch(events: list[Event], stored: dict[str, Version], keys: list[str] | None = None) -> BatchPlan:
    """Decide every event of a batch, in order, against ``stored`` (fact_key -> stored version,
    absent keys have nothing stored) and the events applied before it in the batch. ``keys``: the
    events' fact keys, when the caller computed them already."""
    plan = BatchPlan(stored=dict(stored))
    current: dict[str, Version] = dict(stored)
    for event, key in zip(events, keys or [e.fact_key for e in events]):
        incoming = version_of(event)
        decision = decide(current.get(key), incoming)
        plan.decisions.append(decision)
        if decision is Decision.STALE:
            plan.stale += 1
            plan.outcomes[(event.type, "stale")] += 1
            continue
        if decision is Decision.DUPLICATE:
            plan.duplicate += 1
            plan.outcomes[(event.type, "duplicate")] += 1
            continue
        if event.op == "retract":
            plan.retracted += 1
            plan.outcomes[(event.type, "retracted")] += 1
        else:
            plan.applied += 1
            plan.outcomes[(event.type, "applied")] += 1
        plan.applied_facts.append(AppliedFact(event.type, event.block, event.op, event.event_id, event.provenance))
        if event.type in CHANGE_TYPES:
            if key in plan.final:  # superseding an event applied earlier in this batch
                before = plan.final[key]
                plan.pending.append((event, key, before if before.op == "assert" else None, False))
            else:
                was_live = key in stored and stored[key].op == "assert"
                plan.pending.append((event, key, None, was_live))
        plan.final[key] = event
        current[key] = incoming
    return plan
