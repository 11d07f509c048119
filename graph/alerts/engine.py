"""Alerts wired to the store, handed to delivery (``graph/alerts/delivery.py``: the alerts topic,
the webhook):

* holder-change alerts (:meth:`AlertEngine.process`): the rules of ``analysis/alerts.py`` applied to
  the changes of each applied batch, against the alerts and lease hops the store holds;
* risk-change alerts: the rules of ``analysis/risk_alerts.py`` applied to the blocks' analysis
  results before and after a re-analysis (:meth:`AlertEngine.risk_changes`, pure), then the changes
  applied to the stored alerts (:meth:`AlertEngine.apply_risk_changes`); the consumer stores the
  changes with the results in between (graph/continuous.py), ``chainrisk analyze`` calls both at
  once (:meth:`AlertEngine.process_results`).

Exactly-once effect: alert writes are idempotent (keyed by alert id, evidence by event id; a change
that already resolved an alert is not taken again for a new one), so processing the same changes
twice leaves the same alerts. The consumer hands every applied batch's changes over at least once
(a pending-changes record stored with the batch, see graph/consumer.py); delivery to the alerts topic
and the webhook is at least once (an alert handed over again is published again, unchanged).
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date
from typing import Any, Protocol

from chainrisk.analysis.alerts import (
    Revert,
    acknowledged,
    alert_from_dict,
    alert_ids_concerned,
    apply_revert,
    holder_changes_of,
    merge_alert,
)
from chainrisk.analysis.holder_changes import Alert, blast_radius
from chainrisk.analysis.model import Hop
from chainrisk.analysis.risk_alerts import (
    DEFAULT_HORIZON_DAYS,
    EvidenceEvent,
    RiskAlert,
    RiskChanges,
    Row,
    alert_ids_for,
    apply_risk_changes,
    risk_changes,
)
from chainrisk.common.prefixes import prefix_range
from chainrisk.graph.config import Settings
from chainrisk.graph.stores.protocol import FactChange

log = logging.getLogger("chainrisk.alerts")


class AlertStore(Protocol):
    """What the engine needs of a ``GraphStore``: lease hops to find the blast radius, and the alerts."""

    def hops_for_blocks(self, prefixes: list[str]) -> list[Hop]: ...

    def leased_blocks_within(self, first: int, last: int) -> list[Hop]: ...

    def load_alerts(self, alert_ids: Iterable[str] | None = None) -> list[dict[str, Any]]: ...

    def alerts_affecting(self, prefixes: Iterable[str]) -> list[dict[str, Any]]: ...

    def save_alerts(self, alerts: list[dict[str, Any]]) -> None: ...


class AlertEngine:
    """Turns applied fact changes and changed analysis results into alerts, stores them, and hands
    new/updated ones on. ``horizon_days``: how close secured-until must come to raise
    ``secured_until_near`` (the ``alert_horizon_days`` setting)."""

    def __init__(self, store: AlertStore, deliver: Callable[[Sequence[Alert | RiskAlert]], None] | None = None,
                 horizon_days: int = DEFAULT_HORIZON_DAYS) -> None:
        self.store = store
        self.deliver = deliver
        self.horizon_days = horizon_days

    def process(self, changes: list[FactChange]) -> list[Alert]:
        """Detect, merge and save; returns the alerts that were opened, updated or resolved."""
        detected = holder_changes_of(changes)
        if not detected:
            return []
        known = {d["id"]: alert_from_dict(d) for d in self.store.load_alerts(alert_ids_concerned(detected))}
        touched: dict[str, Alert] = {}
        for change in detected:
            reverted = known.get(change.revert_of_id or "")
            outcome = apply_revert(reverted, change)
            if outcome is Revert.TAKEN:
                continue
            if outcome is Revert.RESOLVED:
                assert reverted is not None
                touched[reverted.alert_id] = reverted
                continue
            if change.supplied_party is None:
                hops = self.store.leased_blocks_within(*prefix_range(change.block)[:2])
            else:
                hops = self.store.hops_for_blocks([change.block])
            affected = blast_radius(change, hops)
            if not affected and change.alert_id not in known:
                continue  # nothing leased under the change: not this product's concern
            alert = merge_alert(known.get(change.alert_id), change, affected)
            known[alert.alert_id] = touched[alert.alert_id] = alert
        if touched:
            self.store.save_alerts([a.as_dict() for a in touched.values()])
            if self.deliver:
                self.deliver(list(touched.values()))
        return list(touched.values())


    def process_results(self, before: Mapping[str, Row], after: Mapping[str, Row], events: Sequence[EvidenceEvent],
                        as_of: date, party_names: Mapping[str, str] | None = None) -> list[RiskAlert]:
        """Risk-change alerts for a re-analysis of some blocks (:meth:`risk_changes`, then
        :meth:`apply_risk_changes`); returns the alerts opened, extended, cleared or resolved
        (saved and delivered). Handing it ``before == after`` raises nothing, so the rows read
        before a write-back must reach it for the alerts to be raised: the consumer stores the
        :meth:`risk_changes` of each refresh with its results instead (graph/continuous.py)."""
        return self.apply_risk_changes(self.risk_changes(before, after, events, as_of, party_names))

    def risk_changes(self, before: Mapping[str, Row], after: Mapping[str, Row], events: Sequence[EvidenceEvent],
                     as_of: date, party_names: Mapping[str, str] | None = None) -> RiskChanges:
        """The conditions that started and stopped holding between the blocks' results ``before``
        and ``after`` (pure: nothing read or written; ``analysis.risk_alerts.risk_changes`` with
        this engine's horizon).

        * ``before``: the blocks' results as stored before the new ones were written
          (``store.stored_results(prefixes)``, read BEFORE ``write_analysis``); a block absent had none;
        * ``after``: their new results (``analysis.risk_alerts.result_rows(block_rows, spof_rows)`` of
          the rows written); a block of ``before`` absent here is no longer leased. Rows may carry
          more properties than the rules read (``writeback.rows_by_block`` form);
        * ``events``: the evidence - the events (or the consumer's applied facts, with their
          provenance) that caused the re-analysis; ``analysis.risk_alerts.analysis_run_event(...)``
          for a run with none;
        * ``as_of``: the reference date of the new results (``before`` rows are judged on their own
          ``analysed_as_of``, never later); ``party_names``: key -> name for new SPOFs (else the key)."""
        return risk_changes(before, after, events, as_of, self.horizon_days, party_names)

    def apply_risk_changes(self, changes: RiskChanges) -> list[RiskAlert]:
        """The alerts ``changes`` open, extend, clear or resolve, against the stored alerts of the
        blocks concerned; saved and delivered, and returned.

        Idempotent: the same changes again change nothing (alert ids come from type, subject and
        cause; an open (type, block, subject) is not raised twice, an entry cleared is not cleared
        again), so a pending record handed over twice ends as once."""
        if not changes:
            return []
        blocks = {c.block for c in changes.raised} | {c.block for c in changes.cleared}
        stored = self.store.alerts_affecting(blocks) + self.store.load_alerts(alert_ids_for(changes))
        touched = apply_risk_changes(changes, stored)
        if touched:
            self.store.save_alerts([a.as_dict() for a in touched])
            if self.deliver:
                self.deliver(touched)
        for alert in touched:
            log.info("alert %s %s: %s %s%s, %d block(s), %d still open", alert.alert_id, alert.status, alert.kind, alert.block,
                     f" ({alert.subject_name})" if alert.subject_name else "", len(alert.affected),
                     sum(1 for a in alert.affected if a.status == "open"))
        return touched


def acknowledge(store: AlertStore, alert_id: str, note: str | None = None) -> dict[str, Any]:
    """Mark one stored alert acknowledged (``analysis.alerts.acknowledged``: an id, or a prefix of
    exactly one id) and save it. Raises KeyError when no single alert matches."""
    alert = acknowledged(store.load_alerts(None), alert_id, note)
    store.save_alerts([alert])
    return alert


def alert_hook(settings: Settings, store: AlertStore, on_alert: Callable[[str, str], None] | None = None,
               on_delivery_failed: Callable[[str], None] | None = None,
               ) -> tuple[Callable[[list[FactChange]], None], Callable[[], None]]:
    """The consumer's ``on_changes`` hook for alerts on ``store``, and a function to close it.
    ``on_alert(kind, status)`` is called for each alert raised or updated, ``on_delivery_failed(target)``
    for each delivery that gave up (the metrics)."""
    engine, close = alert_engine(settings, store, on_delivery_failed)
    return changes_hook(engine, on_alert), close


def changes_hook(engine: AlertEngine, on_alert: Callable[[str, str], None] | None = None) -> Callable[[list[FactChange]], None]:
    """The consumer's ``on_changes`` hook: holder-change alerts from each batch's changes."""

    def on_changes(changes: list[FactChange]) -> None:
        for alert in engine.process(changes):
            if on_alert is not None:
                on_alert(alert.kind, alert.status)
            log.info("alert %s %s: %s %s -> %s, %d leased block(s) affected", alert.alert_id, alert.status, alert.kind,
                     alert.block, alert.new_party.name if alert.new_party else "-", len(alert.affected))

    return on_changes


def alert_engine(settings: Settings, store: AlertStore, on_delivery_failed: Callable[[str], None] | None = None,
                 ) -> tuple[AlertEngine, Callable[[], None]]:
    """The engine delivering to the configured alerts topic and webhook, and a function to close it
    (``on_delivery_failed(target)``: called for each delivery that gave up)."""
    from chainrisk.graph.alerts.delivery import TopicDelivery, WebhookDelivery, fan_out

    topic = TopicDelivery(settings)
    webhook = WebhookDelivery(settings.webhook_url, on_failure=on_delivery_failed) if settings.webhook_url else None
    return AlertEngine(store, fan_out(topic, webhook), settings.alert_horizon_days), topic.close
