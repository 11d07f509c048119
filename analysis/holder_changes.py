"""Upstream holder changes: which applied facts mean that a block's holder (or an upstream in a
lease chain) changed, and which leased blocks and lessees that cuts into (the blast radius).

Pure functions: the consumer hands in each applied fact together with the fact it superseded, and
the lease hops it looked up; nothing here reads or writes anything.

Change kinds (``HolderChange.kind``):

* ``transfer`` - an RIR transfer-log record moved the block from one organisation to another;
* ``delegation_holder`` - delegated stats list a different opaque holder id for the same range;
* ``delegation_reclaimed`` - a range went from allocated/assigned to reserved/available, or a newer
  complete delegated file no longer lists it (the snapshot retracted it);
* ``registration_org`` - a registry object's registrant (``org:`` / OrgID) changed;
* ``registration_control`` - its ``mnt-by`` or ``mnt-lower`` changed (control of the space moved);
* ``registration_removed`` - the registry object was retracted (deleted);
* ``lease_upstream`` - in the lease register, a party of a block's chain is now supplied by a
  different provider than before (an upstream or broker was replaced or dropped).
"""
from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from chainrisk.analysis.chains import party_depths
from chainrisk.analysis.model import Hop
from chainrisk.common.prefixes import covers, prefix_ints
from chainrisk.ingest.events import (
    HELD_STATUSES,
    RECLAIMED_STATUSES,
    Delegation,
    HolderTransfer,
    LeaseHop,
    Party,
    PartyRef,
    Registration,
    delegation_holder,
)

# every HolderChange.kind, as listed above
HOLDER_KINDS = ("transfer", "delegation_holder", "delegation_reclaimed", "registration_org", "registration_control",
                "registration_removed", "lease_upstream")


@dataclass(frozen=True)
class Evidence:
    source: str
    reference: str
    line: int | None
    offset: int | None
    event_id: str
    observed_at: datetime
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "reference": self.reference,
            "line": self.line,
            "offset": self.offset,
            "event_id": self.event_id,
            "observed_at": self.observed_at.isoformat(),
            "detail": self.detail,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Evidence:
        """The evidence :meth:`as_dict` wrote."""
        return cls(d["source"], d["reference"], d.get("line"), d.get("offset"), d["event_id"], datetime.fromisoformat(d["observed_at"]),
                   d.get("detail", ""))


@dataclass(frozen=True)
class HolderChange:
    """One detected change of who holds (or supplies) ``block``."""

    kind: str
    block: str
    old_party: PartyRef | None
    new_party: PartyRef | None
    changed_at: datetime
    evidence: Evidence
    # for lease_upstream: the party whose supplier changed; None means the block's holder changed
    supplied_party: PartyRef | None = None

    @property
    def alert_id(self) -> str:
        """One open alert per (kind, block, new party): repeated evidence updates the same alert."""
        new_key = self.new_party.key if self.new_party else "-"
        scope = self.supplied_party.key if self.supplied_party else ""
        raw = f"{self.kind}|{self.block}|{scope}|{new_key}"
        return hashlib.sha256(raw.encode()).hexdigest()[:16]

    @property
    def revert_of_id(self) -> str | None:
        """The id an open alert would have if this change undoes it (old and new swapped)."""
        if self.old_party is None:
            return None
        scope = self.supplied_party.key if self.supplied_party else ""
        raw = f"{self.kind}|{self.block}|{scope}|{self.old_party.key}"
        return hashlib.sha256(raw.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class AffectedLease:
    """A leased block inside the changed block, with where in its chain the changed link sits."""

    block: str
    lessees: tuple[str, ...]
    depth: int  # hops from the chain's holder to the changed link (0 = the holder itself)
    lease_started: date


@dataclass
class Alert:
    alert_id: str
    kind: str
    block: str
    old_party: PartyRef | None
    new_party: PartyRef | None
    changed_at: datetime
    evidence: list[Evidence]
    affected: list[AffectedLease]
    first_seen: datetime
    last_seen: datetime
    status: str = "open"  # open | resolved | acknowledged
    resolution: str | None = None
    supplied_party: PartyRef | None = None

    def as_dict(self) -> dict[str, Any]:
        def party(p: PartyRef | None) -> dict[str, str] | None:
            return None if p is None else {"key": p.key, "name": p.name}

        return {
            "id": self.alert_id,
            "type": self.kind,
            "block": self.block,
            "old_party": party(self.old_party),
            "new_party": party(self.new_party),
            "supplied_party": party(self.supplied_party),
            "changed_at": self.changed_at.isoformat(),
            "status": self.status,
            "resolution": self.resolution,
            "first_seen": self.first_seen.isoformat(),
            "last_seen": self.last_seen.isoformat(),
            "evidence": [e.as_dict() for e in self.evidence],
            "affected": [
                {"block": a.block, "lessees": list(a.lessees), "depth": a.depth, "lease_started": a.lease_started.isoformat()}
                for a in self.affected
            ],
        }


def _ref(party: Party | None) -> PartyRef | None:
    return None if party is None else PartyRef(party.key, party.name)


def _evidence(event: Any, detail: str) -> Evidence:
    p = event.provenance
    return Evidence(p.source, p.reference, p.line, p.offset, event.event_id, p.observed_at, detail)


def _registry_party(registry: str, holder_id: str | None, status: str) -> PartyRef | None:
    if holder_id:
        return delegation_holder(registry, holder_id)
    if status in RECLAIMED_STATUSES:
        return PartyRef(f"{registry}:{status}".casefold(), f"{registry.upper()} ({status})")
    return None


def detect_registry_change(event: Any, previous: Any | None, op: str = "assert") -> list[HolderChange]:
    """Holder changes that one applied registry-side fact implies, given the fact it superseded.

    * HolderTransfer: always a change (from_party -> to_party), dated by the transfer date.
    * Delegation: the opaque holder id changed (both present), or the status went from
      allocated/assigned to reserved/available (reclaimed).
    * Registration: the registrant changed, or mnt-by / mnt-lower changed, or the object was
      retracted. A first sighting (no previous fact) is not a change.
    """
    if isinstance(event, HolderTransfer):
        return [
            HolderChange(
                "transfer", event.block, _ref(event.from_party), _ref(event.to_party), event.transfer_date,
                _evidence(event, f"{event.transfer_type} {event.source_rir or '?'} -> {event.recipient_rir or '?'}"),
            )
        ]
    if previous is None:
        return []
    when = event.provenance.observed_at
    if isinstance(event, Delegation) and isinstance(previous, Delegation):
        old = _registry_party(previous.registry, previous.holder_id, previous.status)
        new = _registry_party(event.registry, event.holder_id, event.status)
        if op == "retract" and previous.status in HELD_STATUSES:  # the range is gone from a newer complete file
            return [HolderChange("delegation_reclaimed", event.block, old, None, when,
                                 _evidence(event, f"{previous.status} range no longer listed"))]
        if previous.status in HELD_STATUSES and event.status in RECLAIMED_STATUSES:
            return [HolderChange("delegation_reclaimed", event.block, old, new, when,
                                 _evidence(event, f"status {previous.status} -> {event.status}"))]
        if previous.holder_id and event.holder_id and previous.holder_id != event.holder_id:
            return [HolderChange("delegation_holder", event.block, old, new, when,
                                 _evidence(event, f"opaque id {previous.holder_id} -> {event.holder_id}"))]
        return []
    if isinstance(event, Registration) and isinstance(previous, Registration):
        if op == "retract":
            return [HolderChange("registration_removed", event.block, _ref(previous.org), None, when,
                                 _evidence(event, f"{previous.registry} object {previous.handle} deleted"))]
        old_key = previous.org.key if previous.org else None
        new_key = event.org.key if event.org else None
        if old_key != new_key:
            return [HolderChange("registration_org", event.block, _ref(previous.org), _ref(event.org), when,
                                 _evidence(event, f"{event.registry} {event.handle} org changed"))]
        if set(previous.mnt_by) != set(event.mnt_by) or set(previous.mnt_lower) != set(event.mnt_lower):
            old = PartyRef("mnt:" + ",".join(sorted(previous.mnt_by + previous.mnt_lower)).casefold(),
                           "mnt-by " + ", ".join(previous.mnt_by) + "; mnt-lower " + ", ".join(previous.mnt_lower))
            new = PartyRef("mnt:" + ",".join(sorted(event.mnt_by + event.mnt_lower)).casefold(),
                           "mnt-by " + ", ".join(event.mnt_by) + "; mnt-lower " + ", ".join(event.mnt_lower))
            return [HolderChange("registration_control", event.block, old, new, when,
                                 _evidence(event, f"{event.registry} {event.handle} maintainers changed"))]
    return []


def detect_lease_changes(hops: list[LeaseHop]) -> list[HolderChange]:
    """Lease-register changes of an upstream, from the applied lease-hop facts of one batch that
    added a hop (no earlier version) or retracted one. Per (block, supplied party R):

    * a retracted hop X -> R paired with a new hop Y -> R: R's supplier X was replaced by Y;
    * a retracted hop with no new hop into R: R lost supplier X (new party None);
    * a new hop with no retracted one is a new (parallel) path, which adds no risk: not a change.

    The register tells a replacement apart from a parallel path only through explicit retractions
    (``chainrisk ingest leases NEW --replaces OLD``).
    """
    groups: dict[tuple[str, str], tuple[list[LeaseHop], list[LeaseHop]]] = {}
    for hop in hops:
        removed, added = groups.setdefault((hop.block, hop.recipient.key), ([], []))
        (removed if hop.op == "retract" else added).append(hop)
    changes: list[HolderChange] = []
    for (block, _), (removed, added) in sorted(groups.items()):
        removed.sort(key=lambda h: h.provider.key)
        added.sort(key=lambda h: h.provider.key)
        for i, gone in enumerate(removed):
            new = added[i] if i < len(added) else None
            evidence_event = new or gone
            detail = (
                f"{gone.recipient.name} now supplied by {new.provider.name} (was {gone.provider.name})"
                if new else f"hop {gone.provider.name} -> {gone.recipient.name} removed"
            )
            changes.append(HolderChange(
                "lease_upstream", block, _ref(gone.provider), _ref(new.provider) if new else None,
                evidence_event.provenance.observed_at, _evidence(evidence_event, detail), supplied_party=_ref(gone.recipient),
            ))
    return changes


def blast_radius(change: HolderChange, leased_hops: list[Hop]) -> list[AffectedLease]:
    """The leased blocks the change cuts into: every block with lease hops that lies inside (or
    equals) ``change.block`` and whose lease started on or before the change (a lease signed after
    the change was signed with the new holder). ``leased_hops`` are the hops of those candidate
    blocks. Depth is 0 for a holder-level change, else the depth of the supplied party."""
    changed = prefix_ints(change.block)
    by_block: dict[str, list[Hop]] = {}
    for hop in leased_hops:
        if covers(changed, prefix_ints(hop.block)):
            by_block.setdefault(hop.block, []).append(hop)
    affected = []
    change_day = change.changed_at.date()
    for block, hops in sorted(by_block.items(), key=lambda kv: prefix_ints(kv[0])):
        started = min(h.start_date for h in hops)
        if started > change_day:
            continue
        if change.supplied_party is None:
            depth = 0
        else:
            depths = party_depths(hops)
            if change.supplied_party.key in depths:
                depth = depths[change.supplied_party.key]
            elif change.old_party is not None and change.old_party.key in depths and any(
                h.provider == change.supplied_party.key for h in hops
            ):
                depth = depths[change.old_party.key] + 1  # the supplied party was cut off but still supplies others
            else:
                continue
        lessees = tuple(sorted({h.recipient_name for h in hops if h.recipient_role == "lessee"}))
        affected.append(AffectedLease(block, lessees, depth, started))
    return affected
