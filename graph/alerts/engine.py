"""Holder-change alerts: detection (pure, in ``analysis.holder_changes``) wired to the store,
lifecycle, the alerts topic and webhook delivery.

Lifecycle: one open alert per (type, block, new party) - its id is derived from those, so repeated
evidence updates the same alert (evidence deduplicated by event id; first/last seen are the
evidence's own dates, so a replay rebuilds identical alerts). A change that undoes an open alert
(old and new party swapped) resolves it; ``chainrisk alerts ack ID`` acknowledges one.

Exactly-once effect: alert writes are idempotent (keyed by alert id, evidence by event id; a change
that already resolved an alert is not taken again for a new one), so processing the same changes
twice leaves the same alerts. The consumer hands every applied batch's changes over at least once
(a pending-changes record stored with the batch, see graph/consumer.py); delivery to the alerts topic
and the webhook is at least once (an alert handed over again is published again, unchanged).
"""
from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from chainrisk.analysis.holder_changes import (
    AffectedLease,
    Alert,
    Evidence,
    HolderChange,
    PartyRef,
    blast_radius,
    detect_lease_changes,
    detect_registry_change,
)
from chainrisk.common.prefixes import prefix_range
from chainrisk.graph.stores.protocol import FactChange
from chainrisk.ingest.events import LeaseHop

if TYPE_CHECKING:  # imported where used: the embedded backend must not need kafka-python
    from chainrisk.graph.eventlog.embedded import EventLog
    from chainrisk.graph.eventlog.kafka_io import KafkaSink

log = logging.getLogger("chainrisk.alerts")

ALERT_STATUSES = ("open", "resolved", "acknowledged")


class AlertRepository(Protocol):
    """Where alerts live (Alert nodes in Neo4j or in the embedded graph)."""

    def load_alerts(self, alert_ids: Iterable[str] | None = None) -> list[dict[str, Any]]: ...

    def save_alerts(self, alerts: list[dict[str, Any]]) -> None: ...


class ChangeSource(Protocol):
    def hops_for_blocks(self, prefixes: list[str]) -> list[Any]: ...

    def leased_blocks_within(self, first: int, last: int) -> list[Any]: ...


# --- (de)serialising alerts ------------------------------------------------------------------


def alert_from_dict(d: dict[str, Any]) -> Alert:
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
        evidence=[
            Evidence(e["source"], e["reference"], e.get("line"), e.get("offset"), e["event_id"],
                     datetime.fromisoformat(e["observed_at"]), e.get("detail", ""))
            for e in d.get("evidence", [])
        ],
        affected=[
            AffectedLease(a["block"], tuple(a["lessees"]), a["depth"], datetime.fromisoformat(a["lease_started"]).date())
            for a in d.get("affected", [])
        ],
    )


# --- the engine --------------------------------------------------------------------------------


def holder_changes_of(changes: list[FactChange]) -> list[HolderChange]:
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


class AlertEngine:
    """Turns applied fact changes into alerts, stores them, and hands new/updated ones on."""

    def __init__(
        self,
        source: ChangeSource,
        repository: AlertRepository,
        deliver: Callable[[list[Alert]], None] | None = None,
    ) -> None:
        self.source = source
        self.repository = repository
        self.deliver = deliver

    def process(self, changes: list[FactChange]) -> list[Alert]:
        """Detect, merge and save; returns the alerts that were opened, updated or resolved."""
        detected = holder_changes_of(changes)
        if not detected:
            return []
        ids = {c.alert_id for c in detected} | {c.revert_of_id for c in detected if c.revert_of_id}
        known = {d["id"]: alert_from_dict(d) for d in self.repository.load_alerts(ids)}
        touched: dict[str, Alert] = {}
        for change in detected:
            reverted = known.get(change.revert_of_id or "")
            if reverted is not None and any(e.event_id == change.evidence.event_id for e in reverted.evidence):
                continue  # this evidence resolved it already: the same changes handed over again
            if reverted is not None and reverted.status == "open" and change.changed_at >= reverted.changed_at:
                reverted.status = "resolved"
                reverted.resolution = f"reverted: {change.evidence.detail} ({change.evidence.source})"
                reverted.evidence.append(change.evidence)
                reverted.last_seen = max(reverted.last_seen, change.evidence.observed_at)
                touched[reverted.alert_id] = reverted
                continue
            if change.supplied_party is None:
                hops = self.source.leased_blocks_within(*prefix_range(change.block)[:2])
            else:
                hops = self.source.hops_for_blocks([change.block])
            affected = blast_radius(change, hops)
            if not affected and change.alert_id not in known:
                continue  # nothing leased under the change: not this product's concern
            alert = merge_alert(known.get(change.alert_id), change, affected)
            known[alert.alert_id] = touched[alert.alert_id] = alert
        if touched:
            self.repository.save_alerts([a.as_dict() for a in touched.values()])
            if self.deliver:
                self.deliver(list(touched.values()))
        return list(touched.values())


def acknowledge(repository: AlertRepository, alert_id: str, note: str | None = None) -> dict[str, Any]:
    """Mark one alert acknowledged. Raises KeyError when there is no alert with that id (or prefix
    of an id, if unique)."""
    alerts = repository.load_alerts(None)
    matches = [a for a in alerts if a["id"] == alert_id] or [a for a in alerts if a["id"].startswith(alert_id)]
    if len(matches) != 1:
        raise KeyError(alert_id if not matches else f"{alert_id} is ambiguous ({len(matches)} alerts)")
    alert = matches[0]
    alert["status"] = "acknowledged"
    alert["resolution"] = "acknowledged" + (f": {note}" if note else "")
    repository.save_alerts([alert])
    return alert


# --- delivery ----------------------------------------------------------------------------------


class WebhookDelivery:
    """POSTs each alert as JSON to a URL, with bounded retries and backoff. The URL is a secret
    (it often carries a token): it is never logged."""

    def __init__(self, url: str, attempts: int = 4, timeout_s: float = 5.0, backoff_s: float = 0.5) -> None:
        self._url = url
        self.attempts = attempts
        self.timeout_s = timeout_s
        self.backoff_s = backoff_s
        self.failures = 0

    def __call__(self, alerts: list[Alert]) -> None:
        for alert in alerts:
            self._post(alert.as_dict())

    def _post(self, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        for attempt in range(1, self.attempts + 1):
            request = urllib.request.Request(self._url, data=data, method="POST", headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # noqa: S310 - operator-configured URL
                    if 200 <= response.status < 300:
                        return
                    reason = f"HTTP {response.status}"
            except urllib.error.HTTPError as exc:
                reason = f"HTTP {exc.code}"
            except (urllib.error.URLError, OSError) as exc:
                reason = type(exc).__name__
            log.warning("webhook delivery of alert %s failed (%s), attempt %d/%d", body["id"], reason, attempt, self.attempts)
            if attempt < self.attempts:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
        self.failures += 1
        log.error("webhook delivery of alert %s gave up after %d attempts", body["id"], self.attempts)


def fan_out(*deliveries: Callable[[list[Alert]], None] | None) -> Callable[[list[Alert]], None]:
    """One delivery callable that calls each configured one in turn."""
    active = [d for d in deliveries if d is not None]

    def deliver(alerts: list[Alert]) -> None:
        for d in active:
            d(alerts)

    return deliver


class TopicDelivery:
    """Publishes alerts (JSON, keyed by block) to the alerts topic: Kafka ``<prefix>.alerts`` on the
    services backend, the embedded log's ``alerts`` topic otherwise."""

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self._kafka: KafkaSink | None
        self._log: EventLog | None
        if settings.backend == "services":
            from chainrisk.graph.eventlog.kafka_io import KafkaSink

            self._kafka = KafkaSink(settings, create_topics=False, quiet=True)
            self._log = None
        else:
            from chainrisk.graph.backend import log_dir
            from chainrisk.graph.eventlog.embedded import EventLog

            self._kafka = None
            self._log = EventLog(log_dir(settings))

    def __call__(self, alerts: list[Alert]) -> None:
        values = [json.dumps(a.as_dict(), sort_keys=True).encode() for a in alerts]
        if self._kafka is not None:
            for alert, value in zip(alerts, values):
                self._kafka.send_raw(self.settings.topic("alerts"), alert.block.encode(), value)
            self._kafka.flush()
        elif self._log is not None:
            self._log.append("alerts", values)

    def close(self) -> None:
        if self._kafka is not None:
            self._kafka.close()
        if self._log is not None:
            self._log.close()


def alert_hook(settings: Any, store: Any) -> tuple[Callable[[list[FactChange]], None], Callable[[], None]]:
    """The consumer's ``on_changes`` hook for alerts on ``store``, and a function to close it."""
    from chainrisk.graph.alerts.repo import alert_repository

    topic = TopicDelivery(settings)
    webhook = WebhookDelivery(settings.webhook_url.get_secret_value()) if settings.webhook_url else None
    engine = AlertEngine(store, alert_repository(store), fan_out(topic, webhook))

    def on_changes(changes: list[FactChange]) -> None:
        for alert in engine.process(changes):
            log.info("alert %s %s: %s %s -> %s, %d leased block(s) affected", alert.alert_id, alert.status, alert.kind,
                     alert.block, alert.new_party.name if alert.new_party else "-", len(alert.affected))

    return on_changes, topic.close
