"""Risk-change alerts: which changes of leased blocks' analysis results break a chain, and the alert
lifecycle for them. Pure: rows and events in, alerts out; the engine that reads the stored rows and
alerts and delivers is ``graph/alerts/engine.py`` (``AlertEngine.process_results``).

Input: a block's results as the write-back stores them (``analysis.writeback.analysis_rows``: the
:data:`RISK_FIELDS` of its block row; other properties are ignored) plus ``spofs``, the party keys
of its single points of failure in position order (0 = holder side) - :func:`result_rows` builds
these from a fresh analysis, ``GraphStore.stored_results`` reads the same shape back.

Alert types (``RiskRule.kind``), each with one open alert entry per (type, block, subject):

* ``rov_left_valid`` - the block's ROV state was Valid and is now Invalid or NotFound (ROA withdrawn,
  origin changed; the figure carries the reason); resolved when it is Valid again;
* ``new_spof`` - a party (the subject) is now a single point of failure of the block and was not
  (e.g. a parallel path ended); resolved when it no longer is;
* ``secured_until_near`` - the block's secured-until date falls within the horizon (default 30
  days) of the reference date: no renewal is recorded (secured-until is computed over the recorded
  lease hops, so a recorded renewal moves it out); resolved when it moves beyond the horizon;
* ``listed`` - the block or a prefix covering it is on a blocklist; resolved when no longer listed;
* ``origin_not_in_bgp`` - the lessee's origin was seen in BGP for the block and no longer is;
  resolved when it is seen again;
* ``renewal_gap`` - a renewal gap (the subject, ``"X->Y"``) opened; resolved when it closes;
* ``data_error`` - the block has a data error (the subject) it did not have; resolved when it is gone;
* ``routing_signal`` - a routing-proof risk flag of :data:`ROUTING_SIGNALS` (the subject: its code,
  e.g. ``roa-lapsing``, ``asn-blocklisted``) now holds for the block (the figure is the flag with its
  evidence); resolved when the flag is gone.

A condition is raised only when it holds after and not before, for a block that held results
before (a first analysis is no change), so re-analysing the same data raises nothing and a
condition that clears within the batch that caused it never shows. A block that loses its
results (no longer leased) clears all its conditions.

No alert storms: the blocks of one type and subject raised by the same cause - the full snapshot
(``provenance.snapshot``) or else the file (``provenance.reference``) of the events that overlap
the block - form ONE alert listing them (``affected``, each with its lessee and figure before ->
after). Its id is derived from (type, subject, causes), so later batches of the same snapshot add
their blocks to it and a replay of a batch updates the same alert. Evidence is deduplicated by event
id (at most :data:`MAX_EVIDENCE` kept per alert, :data:`MAX_BLOCK_EVIDENCE` ids per block). An
alert is resolved when every block in it has cleared; raised again (same id) it is reopened.
"""
from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Protocol

from chainrisk.analysis.holder_changes import Evidence
from chainrisk.analysis.prefix_index import OverlapIndex
from chainrisk.analysis.signals import VALID
from chainrisk.common.prefixes import int_to_address, prefix_ints, prefix_size
from chainrisk.ingest.events import PartyRef, Provenance

DEFAULT_HORIZON_DAYS = 30
MAX_EVIDENCE = 100  # evidence entries kept per alert (a whole snapshot may touch thousands of blocks)
MAX_BLOCK_EVIDENCE = 10  # event ids kept per affected block
# the block-row properties the rules read (with ``spofs``); what ``GraphStore.stored_results`` returns
RISK_FIELDS = ("analysis_basis", "lessee", "rov_state", "rov_reason", "bgp_seen", "secured_until", "renewal_gaps", "listed", "data_errors",
               "risk_flags", "analysed_at", "analysed_as_of")
# the risk flags (``analysis.blocks.risk_findings`` codes) whose appearance is a routing-proof change
# of its own; ROV leaving Valid, listings and BGP origins have rules of their own above
ROUTING_SIGNALS = ("roa-lapsing", "ca-nonfunctional", "roa-loose-maxlength", "as0-covered", "as-set-origin", "irr-nonauthoritative",
                   "announced-after-lease-end", "asn-blocklisted", "aspa-unauthorised-upstream")

Row = Mapping[str, Any]


class EvidenceEvent(Protocol):
    """What the rules need of an event (every ``ingest.events`` event has it). A ``provenance``
    attribute (``ingest.events.Provenance``) is read when present: the evidence's source, file, line
    and data date, and the cause (snapshot or file); without one (a fact touch naming type, block,
    op and id only) the cause is the event type and the date the reference date."""

    @property
    def type(self) -> str: ...

    @property
    def block(self) -> str: ...

    @property
    def op(self) -> str: ...

    @property
    def event_id(self) -> str: ...


# --- the rules -----------------------------------------------------------------------------------

def _day(row: Row, as_of: date) -> date:
    """The day a stored row's date-dependent figures were judged against: its ``analysed_as_of``
    (else the date of its ``analysed_at``, else ``as_of``), never later than ``as_of``."""
    day = _date(row.get("analysed_as_of"))
    if day is None:
        stamp = row.get("analysed_at")
        if not stamp:
            return as_of
        day = datetime.fromisoformat(stamp).date() if isinstance(stamp, str) else stamp.date()
    return min(day, as_of)


def _rov(row: Row, _day: date, _h: int) -> dict[str, str]:
    return {} if row.get("rov_state") == VALID else {"": ""}


def _rov_figure(row: Row, _s: str, _day: date, _h: int) -> str:
    state = row.get("rov_state") or "no lessee ASN"
    return f"{state} ({row['rov_reason']})" if row.get("rov_reason") else state


def _spofs(row: Row, _day: date, _h: int) -> dict[str, str]:
    return {key: key for key in row.get("spofs") or ()}


def _spof_figure(row: Row, subject: str, _day: date, _h: int) -> str:
    keys = list(row.get("spofs") or ())
    return f"SPOF at position {keys.index(subject)} of {len(keys)}" if subject in keys else "not a SPOF"


def _near(row: Row, day: date, horizon: int) -> dict[str, str]:
    until = _date(row.get("secured_until"))
    return {"": ""} if until is not None and until <= day + timedelta(days=horizon) else {}


def _near_figure(row: Row, _s: str, day: date, _h: int) -> str:
    until = _date(row.get("secured_until"))
    if until is None:
        return "no secured-until date"
    left = (until - day).days
    return f"secured until {until.isoformat()} ({left} days left)" if left >= 0 else f"secured until {until.isoformat()} (expired)"


def _listed(row: Row, _day: date, _h: int) -> dict[str, str]:
    return {"": ""} if row.get("listed") else {}


def _listed_figure(row: Row, _s: str, _day: date, _h: int) -> str:
    return "listed" if row.get("listed") else "not listed"


def _not_in_bgp(row: Row, _day: date, _h: int) -> dict[str, str]:
    return {} if row.get("bgp_seen") is True else {"": ""}


def _bgp_figure(row: Row, _s: str, _day: date, _h: int) -> str:
    seen = row.get("bgp_seen")
    return "no lessee ASN" if seen is None else ("origin seen in BGP" if seen else "origin not seen in BGP")


def _members(name: str) -> Callable[[Row, date, int], dict[str, str]]:
    def subjects(row: Row, _day: date, _h: int) -> dict[str, str]:
        return {item: item for item in row.get(name) or ()}
    return subjects


def _member_figure(name: str, absent: str) -> Callable[[Row, str, date, int], str]:
    def figure(row: Row, subject: str, _day: date, _h: int) -> str:
        return subject if subject in (row.get(name) or ()) else absent
    return figure


def _flags(row: Row) -> dict[str, str]:
    """The row's routing-signal flags by code: ``{"roa-lapsing": "roa-lapsing: <evidence>", ...}``."""
    flags: dict[str, str] = {}
    for flag in row.get("risk_flags") or ():
        code = flag.partition(":")[0]
        if code in ROUTING_SIGNALS:
            flags.setdefault(code, flag)
    return flags


def _routing(row: Row, _day: date, _h: int) -> dict[str, str]:
    return {code: code for code in _flags(row)}


def _routing_figure(row: Row, subject: str, _day: date, _h: int) -> str:
    return _flags(row).get(subject, f"no {subject}")


def _date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def _always(_row: Row) -> bool:
    return True


def _figures_known(before: Row) -> bool:
    """A row with data errors has no chain figures: its SPOFs, gaps and dates appearing again once
    the error is fixed are not a change."""
    return not before.get("data_errors")


@dataclass(frozen=True)
class RiskRule:
    """One alert type: the subjects for which its condition holds in a row (subject -> display
    name; ``""`` for a condition of the whole block), the figure shown for a row, and which
    earlier rows it may be raised from (``raisable``)."""

    kind: str
    subjects: Callable[[Row, date, int], dict[str, str]]
    figure: Callable[[Row, str, date, int], str]
    raisable: Callable[[Row], bool] = _always


RULES: tuple[RiskRule, ...] = (
    RiskRule("rov_left_valid", _rov, _rov_figure, lambda before: before.get("rov_state") == VALID),
    RiskRule("new_spof", _spofs, _spof_figure, _figures_known),
    RiskRule("secured_until_near", _near, _near_figure, _figures_known),
    RiskRule("listed", _listed, _listed_figure),
    RiskRule("origin_not_in_bgp", _not_in_bgp, _bgp_figure, lambda before: before.get("bgp_seen") is True),
    RiskRule("renewal_gap", _members("renewal_gaps"), _member_figure("renewal_gaps", "no renewal gap"), _figures_known),
    RiskRule("data_error", _members("data_errors"), _member_figure("data_errors", "no data error")),
    RiskRule("routing_signal", _routing, _routing_figure, _figures_known),
)
RISK_KINDS = frozenset(rule.kind for rule in RULES)


# --- detection -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class RiskChange:
    """A condition of one block that started (raised) or stopped (cleared) holding."""

    kind: str
    block: str
    subject: str  # "" for a condition of the whole block; a party key, a renewal gap or a data error
    subject_name: str
    lessee: str | None
    before: str
    after: str
    evidence: tuple[Evidence, ...]
    causes: tuple[str, ...]

    @property
    def entry_key(self) -> tuple[str, str, str]:
        return (self.kind, self.block, self.subject)


@dataclass
class RiskChanges:
    raised: list[RiskChange] = field(default_factory=list)
    cleared: list[RiskChange] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.raised or self.cleared)

    def as_dict(self) -> dict[str, Any]:
        """JSON form (what :func:`risk_changes_from_dict` reads back): the evidence once, in
        ``evidence``, each change naming its entries by index (an event is evidence of many blocks)."""
        shared: dict[Evidence, int] = {}

        def change(c: RiskChange) -> list[Any]:
            return [c.kind, c.block, c.subject, c.subject_name, c.lessee, c.before, c.after,
                    [shared.setdefault(e, len(shared)) for e in c.evidence], list(c.causes)]

        raised, cleared = [change(c) for c in self.raised], [change(c) for c in self.cleared]
        return {"evidence": [e.as_dict() for e in shared], "raised": raised, "cleared": cleared}


def risk_changes_from_dict(d: Mapping[str, Any]) -> RiskChanges:
    """The changes ``RiskChanges.as_dict()`` wrote."""
    evidence = [Evidence.from_dict(e) for e in d["evidence"]]

    def change(c: Sequence[Any]) -> RiskChange:
        kind, block, subject, name, lessee, before, after, refs, causes = c
        return RiskChange(kind, block, subject, name, lessee, before, after, tuple(evidence[i] for i in refs), tuple(causes))

    return RiskChanges([change(c) for c in d["raised"]], [change(c) for c in d["cleared"]])


def result_rows(block_rows: Iterable[Row], spof_rows: Iterable[Row]) -> dict[str, dict[str, Any]]:
    """``{prefix: row}`` for :func:`risk_changes` from ``analysis_rows`` output: each block row's
    :data:`RISK_FIELDS` and its ``spofs`` (party keys in position order), the shape
    ``GraphStore.stored_results`` reads back."""
    rows: dict[str, dict[str, Any]] = {}
    for row in block_rows:
        rows[row["prefix"]] = {name: row.get(name) for name in RISK_FIELDS} | {"spofs": []}
    for spof in sorted(spof_rows, key=lambda s: (s["block"], s["position"])):
        if spof["block"] in rows:
            rows[spof["block"]]["spofs"].append(spof["party"])
    return rows


@dataclass(frozen=True)
class RunEvent:
    """Evidence that is no ingested event: a run that re-judged the stored results (a full
    analysis, a new reference date). It concerns every block (``0.0.0.0/0``); its ``cause`` is
    the run's ``source`` and ``reference``."""

    event_id: str
    provenance: Provenance
    detail: str
    type: str = "analysis"
    block: str = "0.0.0.0/0"
    op: str = "assert"

    @property
    def cause(self) -> str:
        return f"{self.provenance.source} {self.provenance.reference}"


def analysis_run_event(source: str, reference: str, at: datetime, detail: str) -> RunEvent:
    """The evidence of one run (``source``, e.g. ``chainrisk analyze``; ``reference``: what it
    judged, which is also its cause) at ``at``."""
    return RunEvent(f"{source}|{reference}|{at.isoformat()}",
                    Provenance(source=source, reference=reference, observed_at=at, ingested_at=at), detail)


def _stamp(at: datetime) -> str:
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def evidence_of(event: EvidenceEvent, as_of: date) -> Evidence:
    """An event as alert evidence: where it came from (source, file, line or offset), its id, its
    data date (``as_of`` when it has no provenance) and what it did - a retract naming a snapshot
    is that snapshot's sweep (the fact is no longer in it)."""
    p: Provenance | None = getattr(event, "provenance", None)
    detail = getattr(event, "detail", None)
    if not detail:
        detail = f"{event.type} {event.block} {'retracted' if event.op == 'retract' else 'asserted'}"
        if p is not None and p.snapshot and event.op == "retract":
            detail += f": no longer in the snapshot {p.snapshot[:12]} of {p.reference} ({_stamp(p.observed_at)})"
    if p is None:
        return Evidence(event.type, event.block, None, None, event.event_id, datetime.combine(as_of, time(), timezone.utc), detail)
    return Evidence(p.source, p.reference, p.line, p.offset, event.event_id, p.observed_at, detail)


def cause_of(event: EvidenceEvent) -> str:
    """What one cause of many blocks' changes is: the full snapshot the event belongs to (or, on a
    retract, that retracted it; named with its file), else the file it came from as of its data date (the same path
    read again on a later day is another cause); a run's own ``cause``; without provenance the
    event type."""
    cause: str | None = getattr(event, "cause", None)
    if cause:
        return cause
    p: Provenance | None = getattr(event, "provenance", None)
    if p is None:
        return f"{event.type} events"
    if p.snapshot:  # its events and its sweep's retractions name the same file, whatever their dates
        return f"snapshot {p.snapshot} of {p.source} {p.reference}"
    return f"{p.source} {p.reference} of {_stamp(p.observed_at)}"


def _kept(evidence: list[Evidence]) -> tuple[Evidence, ...]:
    """A change's evidence, sorted, at most :data:`MAX_EVIDENCE` entries: the oldest and the newest
    (what an alert keeps of it - it keeps at most that many - and its first and last seen)."""
    evidence.sort(key=lambda e: (e.observed_at, e.event_id))
    if len(evidence) > MAX_EVIDENCE:
        evidence[MAX_EVIDENCE - 1:] = evidence[-1:]
    return tuple(evidence)


def _leased(row: Row | None) -> Row | None:
    """The row if it is a leased block's (it has an ``analysis_basis``; a holding with only idle
    space has results of another kind), else None."""
    return row if row is not None and row.get("analysis_basis") is not None else None


def risk_changes(before: Mapping[str, Row], after: Mapping[str, Row], events: Sequence[EvidenceEvent], as_of: date,
                 horizon_days: int = DEFAULT_HORIZON_DAYS, party_names: Mapping[str, str] | None = None) -> RiskChanges:
    """The conditions that started and stopped holding between ``before`` (the blocks' stored rows,
    prefix -> row, absent = no results) and ``after`` (their new rows; absent = no longer leased;
    a row without ``analysis_basis`` is no leased block's and counts as absent),
    judged on ``as_of`` (``before`` rows on their own ``analysed_at`` date, never later than
    ``as_of``) with the secured-until horizon ``horizon_days``. ``events``: the evidence (the
    batch's events); a block's evidence and causes are the events whose prefix overlaps it (all of
    them when none does; at least one event is needed when anything changed - a run with no
    event passes a :func:`analysis_run_event`). ``party_names``: key -> name, to name a new SPOF
    (else its key). Ordered by block, rule, subject."""
    names = party_names or {}
    index = OverlapIndex((e.block, e) for e in events)
    everything = list(events)
    judged: dict[int, tuple[Evidence, str]] = {}  # id(event) -> its evidence and cause: an event is evidence of many blocks

    def judge(e: EvidenceEvent) -> tuple[Evidence, str]:
        found = judged.get(id(e))
        if found is None:
            found = judged[id(e)] = (evidence_of(e, as_of), cause_of(e))
        return found
    out = RiskChanges()
    for prefix in sorted(set(before) | set(after), key=prefix_ints):
        old, new = _leased(before.get(prefix)), _leased(after.get(prefix))
        if old is None:
            continue  # a first analysis is no change
        old_day = _day(old, as_of)
        found: list[tuple[RiskRule, str, str, bool]] = []
        for rule in RULES:
            was = rule.subjects(old, old_day, horizon_days)
            now = rule.subjects(new, as_of, horizon_days) if new is not None else {}
            if now.keys() - was.keys() and rule.raisable(old):
                found.extend((rule, s, now[s], True) for s in sorted(now.keys() - was.keys()))
            # a condition may have come to hold by the date alone (raised then from these very figures)
            was = was | rule.subjects(old, as_of, horizon_days) if old_day != as_of else was
            found.extend((rule, s, was[s], False) for s in sorted(was.keys() - now.keys()))
        if not found:
            continue
        related = index.overlapping(*prefix_ints(prefix)) or everything
        if not related:
            raise ValueError(f"{prefix}: results changed but no evidence was given (pass the events, or an analysis_run_event)")
        seen = [judge(e) for e in related]
        evidence = _kept([e for e, _ in seen])
        causes = tuple(sorted({c for _, c in seen}))
        lessee = (new or old).get("lessee")
        for rule, subject, name, raised in found:
            after_figure = rule.figure(new, subject, as_of, horizon_days) if new is not None else "no longer a leased block"
            if rule.kind == "new_spof":
                name = names.get(subject, subject)
            change = RiskChange(rule.kind, prefix, subject, name, lessee, rule.figure(old, subject, old_day, horizon_days),
                                after_figure, evidence, causes)
            (out.raised if raised else out.cleared).append(change)
    return out


# --- the alert -----------------------------------------------------------------------------------

@dataclass
class AffectedBlock:
    """One block in a risk alert: its lessee, the figure before -> after, whether its condition
    still holds (``open``) or has cleared (``cleared``), and the ids of its evidence events."""

    block: str
    lessee: str | None
    before: str
    after: str
    status: str = "open"
    event_ids: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"block": self.block, "lessees": [self.lessee] if self.lessee else [], "before": self.before,
                "after": self.after, "status": self.status, "event_ids": list(self.event_ids)}


@dataclass
class RiskAlert:
    """One risk alert: a condition of one type and subject raised by one cause, on one or more
    blocks. ``block`` is the smallest prefix covering them all (what the alert concerns)."""

    alert_id: str
    kind: str
    subject: str
    subject_name: str
    causes: list[str]
    changed_at: datetime
    first_seen: datetime
    last_seen: datetime
    evidence: list[Evidence]
    affected: list[AffectedBlock]
    status: str = "open"  # open | resolved | acknowledged
    resolution: str | None = None

    @property
    def block(self) -> str:
        return covering_prefix([a.block for a in self.affected])

    @property
    def new_party(self) -> PartyRef | None:
        """The party that became a SPOF (``new_spof``), else None."""
        return PartyRef(self.subject, self.subject_name) if self.kind == "new_spof" else None

    def as_dict(self) -> dict[str, Any]:
        party = self.new_party
        return {
            "id": self.alert_id,
            "type": self.kind,
            "block": self.block,
            "subject": self.subject,
            "subject_name": self.subject_name,
            "causes": list(self.causes),
            "old_party": None,
            "new_party": None if party is None else {"key": party.key, "name": party.name},
            "supplied_party": None,
            "changed_at": self.changed_at.isoformat(),
            "status": self.status,
            "resolution": self.resolution,
            "first_seen": self.first_seen.isoformat(),
            "last_seen": self.last_seen.isoformat(),
            "evidence": [e.as_dict() for e in self.evidence],
            "affected": [a.as_dict() for a in self.affected],
        }


def risk_alert_from_dict(d: Mapping[str, Any]) -> RiskAlert:
    """The alert ``RiskAlert.as_dict()`` wrote."""
    return RiskAlert(
        alert_id=d["id"], kind=d["type"], subject=d.get("subject", ""), subject_name=d.get("subject_name", ""),
        causes=list(d.get("causes", [])), changed_at=datetime.fromisoformat(d["changed_at"]),
        first_seen=datetime.fromisoformat(d["first_seen"]), last_seen=datetime.fromisoformat(d["last_seen"]),
        evidence=[Evidence.from_dict(e) for e in d.get("evidence", [])],
        affected=[AffectedBlock(a["block"], (a.get("lessees") or [None])[0], a["before"], a["after"], a.get("status", "open"),
                                list(a.get("event_ids", []))) for a in d.get("affected", [])],
        status=d.get("status", "open"), resolution=d.get("resolution"),
    )


def is_risk_alert(d: Mapping[str, Any]) -> bool:
    """True for a risk alert (``as_dict`` form), False for a holder-change alert."""
    return d.get("type") in RISK_KINDS


def covering_prefix(prefixes: Sequence[str]) -> str:
    """The smallest prefix that covers all of ``prefixes`` (one prefix: itself)."""
    ranges = [prefix_ints(p) for p in prefixes]
    first = min(f for f, _ in ranges)
    last = max(f + prefix_size(n) - 1 for f, n in ranges)
    length = 32 - (first ^ last).bit_length()
    network = ipaddress.IPv4Network(f"{int_to_address(first)}/{length}", strict=False)
    return str(network)


def risk_alert_id(kind: str, subject: str, causes: Sequence[str]) -> str:
    """One alert per (type, subject, causes): the blocks one cause breaks the same way share it."""
    raw = "|".join(["risk", kind, subject, *causes])
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def alert_ids_for(changes: RiskChanges) -> set[str]:
    """The ids the raised changes' alerts have (what the engine loads, with the open alerts of the blocks)."""
    return {risk_alert_id(c.kind, c.subject, c.causes) for c in changes.raised}


def _add_evidence(alert: RiskAlert, evidence: Iterable[Evidence]) -> None:
    known = {e.event_id for e in alert.evidence}
    for e in evidence:
        if e.event_id not in known and len(alert.evidence) < MAX_EVIDENCE:
            alert.evidence.append(e)
            known.add(e.event_id)
        alert.first_seen = min(alert.first_seen, e.observed_at)
        alert.last_seen = max(alert.last_seen, e.observed_at)
    alert.evidence.sort(key=lambda e: (e.observed_at, e.event_id))


def _event_ids(change: RiskChange, have: Sequence[str] = ()) -> list[str]:
    ids = list(have)
    for e in change.evidence:
        if e.event_id not in ids and len(ids) < MAX_BLOCK_EVIDENCE:
            ids.append(e.event_id)
    return ids


def apply_risk_changes(changes: RiskChanges, stored: Iterable[Mapping[str, Any]]) -> list[RiskAlert]:
    """The lifecycle: the alerts ``changes`` open, extend, clear or resolve, given ``stored`` (the
    stored alerts of the blocks concerned that are not resolved, and those of :func:`alert_ids_for`;
    other kinds are ignored). Returns the alerts touched, by id.

    * cleared: the block's open entry in its alert is marked cleared (figure after, evidence); an
      alert with no open entry left is resolved (an acknowledged one too);
    * raised: nothing when the (type, block, subject) entry is open already; else added to the
      alert of (type, subject, causes) - new, or the stored one (reopened if resolved).
    Idempotent: the same changes applied to the alerts this returned change nothing."""
    alerts = {d["id"]: risk_alert_from_dict(d) for d in stored if is_risk_alert(d)}
    open_entries: dict[tuple[str, str, str], RiskAlert] = {}
    for alert in alerts.values():
        if alert.status != "resolved":
            for a in alert.affected:
                if a.status == "open":
                    open_entries[(alert.kind, a.block, alert.subject)] = alert
    touched: dict[str, RiskAlert] = {}
    for change in changes.cleared:
        owner = open_entries.pop(change.entry_key, None)
        if owner is None:
            continue
        entry = next(a for a in owner.affected if a.block == change.block and a.status == "open")
        entry.status, entry.after = "cleared", change.after
        entry.event_ids = _event_ids(change, entry.event_ids)
        _add_evidence(owner, change.evidence)
        if all(a.status == "cleared" for a in owner.affected):
            owner.status = "resolved"
            owner.resolution = f"cleared: {change.after} ({', '.join(change.causes)})"
        touched[owner.alert_id] = owner
    for change in changes.raised:
        if change.entry_key in open_entries:
            continue  # one open alert entry per (type, block, subject): not raised twice
        alert_id = risk_alert_id(change.kind, change.subject, change.causes)
        found = alerts.get(alert_id)
        seen = max(e.observed_at for e in change.evidence)
        if found is None:
            alert = alerts[alert_id] = RiskAlert(alert_id, change.kind, change.subject, change.subject_name, list(change.causes),
                                                 seen, seen, seen, [], [])
        else:
            alert = found
            if alert.status == "resolved":
                alert.status, alert.resolution = "open", None
        alert.affected = [a for a in alert.affected if a.block != change.block]
        alert.affected.append(AffectedBlock(change.block, change.lessee, change.before, change.after, "open", _event_ids(change)))
        alert.affected.sort(key=lambda a: prefix_ints(a.block))
        _add_evidence(alert, change.evidence)
        open_entries[change.entry_key] = touched[alert_id] = alert
    return [touched[k] for k in sorted(touched)]
