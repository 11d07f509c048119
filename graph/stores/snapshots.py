"""Snapshots that forget: what both stores do with snapshot events, as pure functions.

The ingest tags every fact event of a full snapshot with the snapshot's id (``provenance.snapshot``)
and, once the file was read completely, publishes a ``snapshot_end`` event with the number of events
(ingest/snapshots.py). The events of one snapshot are spread over partitions and topics, so the
end may be read before some of them. The consumer therefore counts, per consumer group and
snapshot, the tagged events it has decided (applied, stale or duplicate) - in the batch's
transaction, with the offsets, so each is counted exactly once - and a snapshot is *complete* for
the group when its end has been applied and the count reached its ``events``.

When a snapshot completes, in the same transaction:

* its ``Snapshot`` node (made, ``status: pending``, when its end was first applied) becomes
  ``complete`` with the counts (``added``: facts it created, ``changed``: live facts it re-asserted
  with new content, ``unchanged``: live facts it re-asserted as they were - only their version moved,
  ``stale``: its events older than the stored version, ``duplicate``) and the scope's newest
  complete snapshot before it as ``supersedes`` / ``supersedes_observed_at`` (when that is older);
* the scope's *newest* complete snapshot N (by ``observed_at``, then id) sweeps the scope: every
  live fact of the scope that a snapshot asserted (``snapshot`` set; plain assertions are never
  swept) and whose ``observed_at`` is older than N's is retracted by a retract event from N (its
  provenance names N: ``snapshot``, ``observed_at``), applied exactly like an ingested retract
  (tombstone, holder history ends, the change handed to the alerts). So an older snapshot that
  completes late retracts nothing and overwrites nothing newer (its facts are stale, and what only
  it asserted is swept again by N), and a replay finds nothing left to sweep.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chainrisk.common.timestamps import as_utc
from chainrisk.graph.stores.facts import BatchPlan, Decision
from chainrisk.ingest.events import Event, Provenance
from chainrisk.ingest.snapshots import SCOPE_FIELD, scope_label

END_TYPE = "snapshot_end"
PENDING, COMPLETE = "pending", "complete"
COUNTS = ("seen", "added", "changed", "unchanged", "stale", "duplicate")


def split_ends(events: list[Event]) -> tuple[list[Event], list[Event]]:
    """(fact events, snapshot_end events), each in arrival order."""
    if not any(e.type == END_TYPE for e in events):
        return events, []
    return [e for e in events if e.type != END_TYPE], [e for e in events if e.type == END_TYPE]


def tallies(events: list[Event], plan: BatchPlan) -> dict[str, dict[str, int]]:
    """Snapshot id -> what this batch did with its events: ``seen`` (every tagged event), ``stale``,
    ``duplicate`` (by decision), ``added`` / ``changed`` / ``unchanged`` (facts whose final version
    in the batch is the snapshot's assert: created; replacing a live version with new content; or
    re-stating the live version's content, ``plan.unchanged``)."""
    out: dict[str, dict[str, int]] = {}
    for event, decision in zip(events, plan.decisions):
        sid = event.provenance.snapshot
        if sid is None or event.op != "assert":
            continue
        counts = out.setdefault(sid, dict.fromkeys(COUNTS, 0))
        counts["seen"] += 1
        if decision is Decision.STALE:
            counts["stale"] += 1
        elif decision is Decision.DUPLICATE:
            counts["duplicate"] += 1
    for key, event in plan.final.items():
        sid = event.provenance.snapshot
        if sid is None or event.op != "assert" or sid not in out:
            continue
        stored = plan.stored.get(key)
        if stored is None or stored.op != "assert":
            out[sid]["added"] += 1
        else:
            out[sid]["unchanged" if key in plan.unchanged else "changed"] += 1
    return out


def record_of(end: Event) -> dict[str, Any]:
    """The properties of the ``Snapshot`` node a snapshot_end event makes (status pending)."""
    p = end.provenance
    return {"snapshot_id": end.snapshot, "fact_type": end.fact_type, "scope": end.scope,  # type: ignore[union-attr]
            "scope_label": scope_label(end.fact_type, end.scope), "events": end.events,  # type: ignore[union-attr]
            "source": p.source, "reference": p.reference, "observed_at": as_utc(p.observed_at), "ingested_at": as_utc(p.ingested_at),
            "event_id": end.event_id, "status": PENDING}


def order(record: dict[str, Any]) -> tuple[datetime, str]:
    """How snapshots of one scope are ordered: observed_at, then id."""
    return as_utc(record["observed_at"]), record["snapshot_id"]


def ready(record: dict[str, Any] | None, progress: dict[str, Any]) -> bool:
    """The group has applied the snapshot's end and all its events, and not yet completed it."""
    return record is not None and not progress.get("done") and progress.get("seen", 0) >= record["events"]


@dataclass
class Completion:
    """What completing ``record`` writes: ``props`` onto its Snapshot node (empty when another group
    completed it before), and the snapshot that sweeps its scope (``sweeper``)."""

    record: dict[str, Any]
    props: dict[str, Any]
    sweeper: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    drop: bool = False  # every event was a duplicate: the same file again, its Snapshot node goes and nothing is swept


def complete(record: dict[str, Any], progress: dict[str, Any], scope_complete: list[dict[str, Any]]) -> Completion:
    """Complete ``record`` given the group's ``progress`` and the scope's snapshots already complete.
    A pending snapshot every one of whose events the store already held (``duplicate``) while a
    complete snapshot of the scope has its source, date and size is that file ingested again, not a
    new snapshot: it is dropped, so re-ingesting a file changes nothing."""
    when = f"{as_utc(record['observed_at']):%Y-%m-%dT%H:%MZ}"
    twin = any(r["snapshot_id"] != record["snapshot_id"] and r["source"] == record["source"] and r["events"] == record["events"]
               and as_utc(r["observed_at"]) == as_utc(record["observed_at"]) for r in scope_complete)
    if twin and record.get("status") != COMPLETE and int(progress.get("duplicate", 0)) >= record["events"]:
        note = (f"snapshot {record['scope_label']} of {when} ({record['snapshot_id'][:12]}): all {record['events']} events "
                f"were already applied (the same file again): nothing to do")
        return Completion(record, {}, record, [note], drop=True)
    others = [r for r in scope_complete if r["snapshot_id"] != record["snapshot_id"]]
    before = max((r for r in others if order(r) < order(record)), key=order, default=None)
    props: dict[str, Any] = {}
    if record.get("status") != COMPLETE:
        props = {"status": COMPLETE, **{k: int(progress.get(k, 0)) for k in COUNTS if k != "seen"}}
        if before is not None:
            props["supersedes"] = before["snapshot_id"]
            props["supersedes_observed_at"] = as_utc(before["observed_at"])
    done = {**record, **props}
    sweeper = max([*others, done], key=order)
    note = f"snapshot {record['scope_label']} of {when} ({record['snapshot_id'][:12]}) complete: {record['events']} events"
    if props:
        note += f", {props['added']} added, {props['changed']} changed, {props['unchanged']} unchanged, {props['stale']} stale"
        if before is not None:
            note += f"; supersedes the snapshot of {as_utc(before['observed_at']):%Y-%m-%dT%H:%MZ}"
    if sweeper is not done:
        note += f"; older than the snapshot of {as_utc(sweeper['observed_at']):%Y-%m-%dT%H:%MZ}, which stays in force"
    return Completion(record, props, sweeper, [note])


def in_sweep(props: dict[str, Any], fact_type: str, scope: str, before: datetime) -> bool:
    """A stored live fact element that the sweep of ``scope`` by a snapshot of ``before`` retracts."""
    return (props.get("snapshot") is not None and props.get(SCOPE_FIELD[fact_type]) == scope
            and as_utc(props["observed_at"]) < before)


def retraction(stored: Event, sweeper: dict[str, Any]) -> Event:
    """The retract event by which the snapshot ``sweeper`` withdraws the stored fact ``stored``."""
    prov = Provenance(source=sweeper["source"], reference=sweeper["reference"], observed_at=as_utc(sweeper["observed_at"]),
                      ingested_at=as_utc(sweeper["ingested_at"]), snapshot=sweeper["snapshot_id"])
    return stored.model_copy(update={"op": "retract", "provenance": prov, "event_id": ""}).with_id()


def sweep_note(sweeper: dict[str, Any], retracted: int) -> str:
    return (f"snapshot {sweeper['scope_label']} of {as_utc(sweeper['observed_at']):%Y-%m-%dT%H:%MZ} "
            f"({sweeper['snapshot_id'][:12]}): retracted {retracted} fact(s) it no longer holds")
