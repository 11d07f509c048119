"""Holder history: the observations of who holds a block, and the HELD_BY runs they imply.

A block keeps its observations (``Block.holder_evidence``, sorted JSON strings) and its HELD_BY
relationships are recomputed from them whenever one is added, so the history does not depend on the
order events arrive in. Pure functions; both stores call them.

* registration: every registration event observes, at its ``observed_at``, the registrant (``org``)
  when its role is ``holder``, else nobody; one timeline per registry object (fact_key).
* delegation: observes ``<registry>:<opaque id>`` when allocated/assigned, else nobody (reclaimed);
  one timeline per (registry, block).
* transfer: each transfer record is an observation at its ``transfer_date`` of ``to_party`` (and of
  ``from_party`` before it); one timeline per block; a newer version of the same transfer (fact_key)
  replaces the older one, a retract removes it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chainrisk.common.timestamps import as_utc
from chainrisk.graph.stores.facts import Version, order_key, version_of
from chainrisk.ingest.events import HELD_STATUSES, Event, Role, delegation_holder, party_key


def _iso(moment: datetime) -> str:
    return as_utc(moment).isoformat()


def observation_of(event: Event) -> dict[str, Any] | None:
    """The holder observation an event makes (None for event types that say nothing of holders)."""
    p = event.provenance
    base = {"fact_key": event.fact_key, "event_id": event.event_id, "reference": p.reference, "evidence_source": p.source}
    if event.type == "registration":
        org = event.org if event.op == "assert" and event.role == Role.HOLDER else None
        party = (party_key(org.name, org.id), org.name) if org is not None else (None, None)
        return {**base, "source": "registration", "timeline": event.fact_key, "id": event.event_id, "at": _iso(p.observed_at),
                "party": party[0], "name": party[1]}
    if event.type == "delegation":
        holder_id = event.holder_id if event.op == "assert" and event.status in HELD_STATUSES else None
        ref = delegation_holder(event.registry, holder_id) if holder_id else None
        return {**base, "source": "delegation", "timeline": event.fact_key, "id": event.event_id, "at": _iso(p.observed_at),
                "party": ref and ref.key, "name": ref and ref.name}
    if event.type == "holder_transfer":
        src, dst = event.from_party, event.to_party
        return {**base, "source": "transfer", "timeline": "transfer", "id": event.fact_key,
                "at": _iso(event.transfer_date),
                "party": party_key(dst.name, dst.id), "name": dst.name,
                "from_party": party_key(src.name, src.id), "from_name": src.name,
                "retracted": event.op == "retract", "v_at": _iso(p.observed_at), "v_id": event.event_id}
    return None


def _encode(obs: dict[str, Any]) -> str:
    return json.dumps(obs, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def merge_evidence(existing: list[str], events: list[Event]) -> list[str]:
    """The block's evidence after adding the observations of ``events``: registration and
    delegation observations are kept once per event id; a transfer's observation is replaced by a
    newer version of the same transfer (same rule as facts). Sorted, so equal sets compare equal."""
    by_id: dict[tuple[str, str], dict[str, Any]] = {}
    for text in existing:
        obs = json.loads(text)
        by_id[(obs["source"], obs["id"])] = obs
    for event in events:
        obs = observation_of(event)
        if obs is None:
            continue
        slot = (obs["source"], obs["id"])
        old = by_id.get(slot)
        if old is not None:
            if obs["source"] != "transfer":
                continue  # this very event was observed before
            old_version = Version(datetime.fromisoformat(old["v_at"]), old["v_id"], "assert")
            if order_key(version_of(event)) <= order_key(old_version):
                continue
        by_id[slot] = obs
    return sorted(_encode(o) for o in by_id.values())


@dataclass(frozen=True, slots=True)
class Run:
    """One HELD_BY relationship: ``party`` held the block from ``valid_from`` to ``valid_to``."""

    source: str
    party: str
    name: str
    valid_from: datetime | None
    valid_to: datetime | None
    fact_key: str
    event_id: str
    reference: str
    evidence_source: str
    evidence_count: int

    def props(self) -> dict[str, Any]:
        """The HELD_BY properties (absent values left out)."""
        values = {
            "source": self.source, "valid_from": self.valid_from, "valid_to": self.valid_to, "fact_key": self.fact_key,
            "event_id": self.event_id, "reference": self.reference, "evidence_source": self.evidence_source,
            "evidence_count": self.evidence_count,
        }
        return {k: v for k, v in values.items() if v is not None}


def _at(obs: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(obs["at"])


def _timeline_runs(source: str, observations: list[dict[str, Any]]) -> list[Run]:
    """Runs of one timeline: consecutive observations of one party merge; a run ends at the first
    observation of another party (or of nobody)."""
    runs: list[Run] = []
    start: dict[str, Any] | None = None
    count = 0
    for obs in observations:
        if start is not None and obs["party"] == start["party"]:
            count += 1
            continue
        if start is not None:
            runs.append(_run(source, start, start.get("_from_at", _at(start)), _at(obs), count))
        start, count = (obs, 1) if obs["party"] is not None else (None, 0)
    if start is not None:
        runs.append(_run(source, start, start.get("_from_at", _at(start)), None, count))
    return runs


def _run(source: str, obs: dict[str, Any], valid_from: datetime | None, valid_to: datetime | None, count: int) -> Run:
    return Run(source, obs["party"], obs["name"], valid_from, valid_to, obs["fact_key"], obs["event_id"], obs["reference"],
               obs["evidence_source"], count)


def holder_runs(evidence: list[str]) -> list[Run]:
    """Every HELD_BY run implied by a block's evidence, ordered by source, timeline, start."""
    timelines: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for text in evidence:
        obs = json.loads(text)
        if obs.get("retracted"):
            continue
        timelines.setdefault((obs["source"], obs["timeline"]), []).append(obs)
    runs: list[Run] = []
    for (source, _), observations in sorted(timelines.items()):
        observations.sort(key=lambda o: (_at(o), o["id"]))
        if source == "transfer":
            first = observations[0]
            before = {**first, "party": first["from_party"], "name": first["from_name"], "_from_at": None}
            observations = [before, *observations]
        runs.extend(_timeline_runs(source, observations))
    return runs
