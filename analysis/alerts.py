"""The alert rules: which holder changes the applied facts imply, how an alert takes new evidence,
when a change resolves the alert it undoes, acknowledging, and an alert's JSON form read back.

Pure functions over the detection in ``analysis.holder_changes``: a new alert kind is a new
``HolderChange.kind`` detected there and, if it needs one, a rule here. The engine that loads and
saves alerts and looks up the leased blocks a change cuts into is ``graph/alerts/engine.py``.

Lifecycle: one open alert per (type, block, supplied party, new party) - its id is derived from
those (``HolderChange.alert_id``), so repeated evidence updates the same alert (evidence
deduplicated by event id; first/last seen are the evidence's own dates, so a replay rebuilds
identical alerts). A change that undoes an open alert (old and new party swapped) resolves it;
an operator acknowledges one.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import Enum
from typing import Any, Protocol

from chainrisk.analysis.holder_changes import (
    AffectedLease,
    Alert,
    Evidence,
    HolderChange,
    detect_lease_changes,
    detect_registry_change,
)
from chainrisk.ingest.events import LeaseHop, PartyRef


class AppliedChange(Protocol):
    """An applied fact and the fact it superseded (the stores' ``FactChange``)."""

    @property
    def event(self) -> Any: ...

    @property
    def previous(self) -> Any | None: ...


def holder_changes_of(changes: Iterable[AppliedChange]) -> list[HolderChange]:
    """Every holder change the applied facts imply."""
    found: list[HolderChange] = []
    lease_hops: list[LeaseHop] = []
    for change in changes:
        event = change.event
        if isinstance(event, LeaseHop):
            # a new or removed hop may be a replaced supplier; new dates or terms of a hop are not
            if change.previous is None or event.op == "retract":
                lease_hops.append(event)
        else:
            found.extend(detect_registry_change(event, change.previous, event.op))
    found.extend(detect_lease_changes(lease_hops))
    return found


def alert_ids_concerned(changes: Iterable[HolderChange]) -> set[str]:
    """The ids of the alerts ``changes`` may update or resolve (what the engine loads first)."""
    return {c.alert_id for c in changes} | {c.revert_of_id for c in changes if c.revert_of_id}


class Revert(Enum):
    """What a change does to the alert it would undo (see :func:`apply_revert`)."""

    NONE = "none"
    TAKEN = "taken"
    RESOLVED = "resolved"


def apply_revert(reverted: Alert | None, change: HolderChange) -> Revert:
    """The revert rule. ``reverted`` is the stored alert whose id is ``change.revert_of_id`` (None
    when there is none):

    * ``TAKEN``: this evidence resolved it already (the same changes handed over again) - nothing to do;
    * ``RESOLVED``: it was open and the change, dated no earlier, swaps its old and new party back:
      ``reverted`` is now resolved, with this evidence added;
    * ``NONE``: not a revert of an open alert - the change raises or updates its own alert.
    """
    if reverted is None:
        return Revert.NONE
    if any(e.event_id == change.evidence.event_id for e in reverted.evidence):
        return Revert.TAKEN
    if reverted.status == "open" and change.changed_at >= reverted.changed_at:
        reverted.status = "resolved"
        reverted.resolution = f"reverted: {change.evidence.detail} ({change.evidence.source})"
        reverted.evidence.append(change.evidence)
        reverted.last_seen = max(reverted.last_seen, change.evidence.observed_at)
        return Revert.RESOLVED
    return Revert.NONE


def merge_alert(existing: Alert | None, change: HolderChange, affected: list[AffectedLease]) -> Alert:
    """The alert after this piece of evidence: new, or the existing one with the evidence added
    (once per event id), last/first seen widened and the blast radius refreshed."""
    if existing is None:
        return Alert(
            alert_id=change.alert_id, kind=change.kind, block=change.block, old_party=change.old_party,
            new_party=change.new_party, supplied_party=change.supplied_party, changed_at=change.changed_at,
            evidence=[change.evidence], affected=affected,
            first_seen=change.evidence.observed_at, last_seen=change.evidence.observed_at,
        )
    if all(e.event_id != change.evidence.event_id for e in existing.evidence):
        existing.evidence.append(change.evidence)
        existing.evidence.sort(key=lambda e: (e.observed_at, e.event_id))
    existing.first_seen = min(existing.first_seen, change.evidence.observed_at)
    existing.last_seen = max(existing.last_seen, change.evidence.observed_at)
    existing.affected = affected or existing.affected
    return existing


def acknowledged(alerts: list[dict[str, Any]], alert_id: str, note: str | None = None) -> dict[str, Any]:
    """The one alert of ``alerts`` (``Alert.as_dict()`` form) whose id is ``alert_id`` - or, failing
    that, starts with it - marked acknowledged (``note`` kept in its resolution). Raises KeyError
    when none or several match."""
    matches = [a for a in alerts if a["id"] == alert_id] or [a for a in alerts if a["id"].startswith(alert_id)]
    if len(matches) != 1:
        raise KeyError(alert_id if not matches else f"{alert_id} is ambiguous ({len(matches)} alerts)")
    alert = dict(matches[0])
    alert["status"] = "acknowledged"
    alert["resolution"] = "acknowledged" + (f": {note}" if note else "")
    return alert


def alert_from_dict(d: dict[str, Any]) -> Alert:
    """The alert ``Alert.as_dict()`` wrote (as stored and published)."""

    def party(p: dict[str, str] | None) -> PartyRef | None:
        return None if not p else PartyRef(p["key"], p["name"])

    return Alert(
        alert_id=d["id"],
        kind=d["type"],
        block=d["block"],
        old_party=party(d.get("old_party")),
        new_party=party(d.get("new_party")),
        supplied_party=party(d.get("supplied_party")),
        changed_at=datetime.fromisoformat(d["changed_at"]),
        status=d.get("status", "open"),
        resolution=d.get("resolution"),
        first_seen=datetime.fromisoformat(d["first_seen"]),
        last_seen=datetime.fromisoformat(d["last_seen"]),
        evidence=[Evidence.from_dict(e) for e in d.get("evidence", [])],
        affected=[
            AffectedLease(a["block"], tuple(a["lessees"]), a["depth"], datetime.fromisoformat(a["lease_started"]).date())
            for a in d.get("affected", [])
        ],
    )


def alert_order(alert: dict[str, Any]) -> tuple[str, str]:
    """How alerts are listed: by when the change happened, then id."""
    return (alert["changed_at"], alert["id"])
