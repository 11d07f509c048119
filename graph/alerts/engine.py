"""Holder-change alerts wired to the store: the rules (``analysis/alerts.py``) applied to the
changes of each applied batch, against the alerts and lease hops the store holds, and the new or
updated alerts handed to delivery (``graph/alerts/delivery.py``: the alerts topic, the webhook).

Exactly-once effect: alert writes are idempotent (keyed by alert id, evidence by event id; a change
that already resolved an alert is not taken again for a new one), so processing the same changes
twice leaves the same alerts. The consumer hands every applied batch's changes over at least once
(a pending-changes record stored with the batch, see graph/consumer.py); delivery to the alerts topic
and the webhook is at least once (an alert handed over again is published again, unchanged).
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
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
from chainrisk.common.prefixes import prefix_range
from chainrisk.graph.config import Settings
from chainrisk.graph.stores.protocol import FactChange

log = logging.getLogger("chainrisk.alerts")


class AlertStore(Protocol):
    """What the engine needs of a ``GraphStore``: lease hops to find the blast radius, and the alerts."""

    def hops_for_blocks(self, prefixes: list[str]) -> list[Hop]: ...

    def leased_blocks_within(self, first: int, last: int) -> list[Hop]: ...

    def load_alerts(self, alert_ids: Iterable[str] | None = None) -> list[dict[str, Any]]: ...

    def save_alerts(self, alerts: list[dict[str, Any]]) -> None: ...


class AlertEngine:
    """Turns applied fact changes into alerts, stores them, and hands new/updated ones on."""

    def __init__(self, store: AlertStore, deliver: Callable[[list[Alert]], None] | None = None) -> None:
        self.store = store
        self.deliver = deliver

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
    from chainrisk.graph.alerts.delivery import TopicDelivery, WebhookDelivery, fan_out

    topic = TopicDelivery(settings)
    webhook = WebhookDelivery(settings.webhook_url, on_failure=on_delivery_failed) if settings.webhook_url else None
    engine = AlertEngine(store, fan_out(topic, webhook))

    def on_changes(changes: list[FactChange]) -> None:
        for alert in engine.process(changes):
            if on_alert is not None:
                on_alert(alert.kind, alert.status)
            log.info("alert %s %s: %s %s -> %s, %d leased block(s) affected", alert.alert_id, alert.status, alert.kind,
                     alert.block, alert.new_party.name if alert.new_party else "-", len(alert.affected))

    return on_changes, topic.close
