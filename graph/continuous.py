"""Continuous analysis: the consumer keeps every leased block's analysis results current.

After each applied batch the consumer hands the batch's applied facts (every applied event: type,
block, op, event id and provenance; kept in the batch's pending-changes record, so a crash before
the results are written is repaired on restart) to :meth:`ContinuousAnalysis.after_batch`: ``analysis/affected.py``
says around which prefixes leased blocks may have new results, the store gives those blocks'
sub-portfolio (``GraphStore.refresh_analysis``), the pure analysis computes them, and the store
writes back just the blocks whose results changed (Block properties, ``analysis_digest``,
``analysed_at``, SPOF_FOR; a block no longer leased loses its results). The results are what a full
``chainrisk analyze`` on the same day writes (tests/unit/test_continuous.py).

Time is an event too: :meth:`ContinuousAnalysis.tick` re-analyses, when the UTC date has changed
since the last look (or ``recheck_s`` passed), the blocks whose figures depend on the date
(``analysis.affected.date_sensitive``: secured-until within the expiry window, not expired when
last analysed). The clock is injectable so tests can move the date.

Risk-change alerts (:class:`RiskOutbox`): the risk changes between each refresh's results before
and after (``AlertEngine.risk_changes``; evidence: the applied facts with their provenance, or the
run for a date change) are stored by the store as a pending-changes record in the transaction that
writes the results (``refresh_analysis(..., outbox=...)``), then applied to the alerts
(``AlertEngine.apply_risk_changes``) and the record dropped. The before rows are gone once the
results are written, so a crash in between would lose the alerts without the record: the next
start hands it over (``graph/consumer.py: hand_over_pending``), and a delivery that failed is
tried again before the next refresh. Every refresh also goes to the ``on_refresh`` hook.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from chainrisk.analysis.affected import AffectedPrefixes, affected_prefixes, date_sensitive, date_window
from chainrisk.analysis.blocks import EXPIRY_WARNING, analyse_portfolio
from chainrisk.analysis.risk_alerts import analysis_run_event, risk_changes_from_dict
from chainrisk.analysis.routing_proof import ROA_LAPSE_HORIZON
from chainrisk.analysis.writeback import analysis_rows
from chainrisk.graph.stores.protocol import AnalysisInput, AnalysisRefresh, AppliedFact, GraphStore, PendingChanges

if TYPE_CHECKING:
    from chainrisk.analysis.risk_alerts import RiskAlert
    from chainrisk.graph.alerts.engine import AlertEngine

log = logging.getLogger("chainrisk.continuous")


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class RiskRefresh:
    """One refresh: the candidate blocks' results ``before`` and ``after`` (``writeback.rows_by_block``
    form; a block missing from ``after`` is no longer leased), the ``evidence`` (the applied facts
    that caused it; empty when the date moved), and the day the figures were judged against."""

    refresh: AnalysisRefresh
    evidence: list[AppliedFact]
    as_of: date
    cause: str  # "facts" | "date"
    at: datetime  # when it ran (UTC, whole seconds: the blocks' new analysed_at)
    party_names: dict[str, str] = field(default_factory=dict)  # key -> name of the parties in the re-analysed chains

    @property
    def before(self) -> dict[str, dict[str, object]]:
        return self.refresh.before

    @property
    def after(self) -> dict[str, dict[str, object]]:
        return self.refresh.after


@dataclass
class RiskOutbox:
    """The risk-change alerts of the refreshes of consumer group ``group``: what a refresh stores
    with its results (:meth:`judge`), and how a stored record reaches the alerts (:meth:`deliver`).
    ``on_alert(kind, status)``: called for each alert raised or updated (the metrics)."""

    engine: AlertEngine
    group: str
    on_alert: Callable[[str, str], None] | None = None

    def judge(self, refreshed: RiskRefresh) -> dict[str, Any] | None:
        """The refresh's risk changes (``RiskChanges.as_dict()``), None when there are none. Pure:
        the store calls it in the transaction of the results."""
        evidence: Sequence[Any] = refreshed.evidence or [analysis_run_event(
            "chainrisk consume", f"date {refreshed.as_of.isoformat()}", refreshed.at,
            f"the date moved to {refreshed.as_of.isoformat()}: {len(refreshed.refresh.blocks)} block(s) re-analysed")]
        changes = self.engine.risk_changes(refreshed.before, refreshed.after, evidence, refreshed.as_of, refreshed.party_names)
        return changes.as_dict() if changes else None

    def deliver(self, risk: dict[str, Any]) -> list[RiskAlert]:
        """Apply stored risk changes to the alerts (idempotent: a record handed over twice ends as once)."""
        alerts = self.engine.apply_risk_changes(risk_changes_from_dict(risk))
        if self.on_alert is not None:
            for alert in alerts:
                self.on_alert(alert.kind, alert.status)
        return alerts


@dataclass
class ContinuousAnalysis:
    store: GraphStore
    clock: Callable[[], datetime] = utc_now
    recheck_s: float | None = None  # also re-check date-dependent figures this often (None: only when the date changes)
    horizon: timedelta = EXPIRY_WARNING  # the furthest secured-until horizon a figure or alert looks at
    roa_lapse_horizon: timedelta = ROA_LAPSE_HORIZON  # as for `chainrisk analyze` (settings.roa_lapse_hours)
    on_refresh: Callable[[RiskRefresh], None] | None = None
    risk: RiskOutbox | None = None  # risk-change alerts through the outbox (None: no alerts)
    _checked_on: date | None = field(default=None, init=False)
    _undelivered: list[tuple[str, dict[str, Any]]] = field(default_factory=list, init=False)  # (record id, risk changes), oldest first
    _checked_at: float = field(default=0.0, init=False)
    refreshed: int = field(default=0, init=False)  # blocks re-analysed, over the run
    written: int = field(default=0, init=False)  # blocks whose results changed

    def _now(self) -> tuple[date, datetime]:
        now = self.clock().astimezone(timezone.utc).replace(microsecond=0)
        return now.date(), now

    def after_batch(self, applied: Sequence[AppliedFact]) -> RiskRefresh | None:
        """Re-analyse the leased blocks the applied facts can affect and write their results back."""
        self.deliver_pending()
        scope = affected_prefixes((t.type, t.block) for t in applied)
        if not scope:
            return None
        return self._refresh(scope, list(applied), "facts")

    def tick(self) -> RiskRefresh | None:
        """When the UTC date changed since the last call (the first call included) or ``recheck_s``
        passed: re-analyse the blocks whose figures depend on today's date."""
        self.deliver_pending()
        today, _ = self._now()
        due = self._checked_on != today or (self.recheck_s is not None and time.monotonic() - self._checked_at >= self.recheck_s)
        if not due:
            return None
        self._checked_on, self._checked_at = today, time.monotonic()
        dated = self.store.dated_results(today + date_window(self.horizon))
        stale = [prefix for prefix, until, analysed in dated if date_sensitive(until, analysed, today, self.horizon)]
        if not stale:
            return None
        log.info("the date is %s: re-analysing %d block(s) whose figures depend on it", today, len(stale))
        return self._refresh(AffectedPrefixes(within=tuple(stale)), [], "date")

    def _refresh(self, scope: AffectedPrefixes, evidence: list[AppliedFact], cause: str) -> RiskRefresh:
        today, now = self._now()
        names: dict[str, str] = {}

        def compute(given: AnalysisInput) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
            analysis = analyse_portfolio(given.portfolio, today, self.roa_lapse_horizon)
            names.clear()  # a store may run this again (a retried transaction)
            names.update(analysis.party_names)
            return analysis_rows(analysis, now)

        recorded: list[dict[str, Any] | None] = [None]
        outbox = None
        if self.risk is not None:
            risk = self.risk

            def judge(refresh: AnalysisRefresh) -> dict[str, Any] | None:
                recorded[0] = risk.judge(RiskRefresh(refresh, evidence, today, cause, now, dict(names)))
                return recorded[0]

            outbox = (risk.group, judge)
        refresh = self.store.refresh_analysis(scope.within, scope.overlapping, compute, outbox=outbox)
        self.refreshed += len(refresh.blocks)
        self.written += refresh.written + refresh.cleared
        outcome = RiskRefresh(refresh, evidence, today, cause, now, names)
        if refresh.pending_id is not None and recorded[0] is not None:
            self._undelivered.append((refresh.pending_id, recorded[0]))
            self.deliver_pending()
        if self.on_refresh is not None:
            self.on_refresh(outcome)
        return outcome

    def deliver_pending(self) -> None:
        """Hand the risk changes stored with results to the alerts, oldest first, dropping each
        record once taken (a failed delivery stays, to be tried again first)."""
        while self._undelivered:
            batch_id, risk = self._undelivered[0]
            assert self.risk is not None
            self.risk.deliver(risk)
            self.store.drop_pending_changes(self.risk.group, batch_id)
            self._undelivered.pop(0)

    def hand_over(self, record: PendingChanges) -> bool:
        """Deliver a stored record of risk changes left by an earlier run (a crash after the results
        were written); False when this analysis has no alerts to hand them to (the record stays)."""
        if self.risk is None or record.risk is None:
            return False
        if all(batch_id != record.batch_id for batch_id, _ in self._undelivered):
            self._undelivered.append((record.batch_id, record.risk))
        self.deliver_pending()
        return True
