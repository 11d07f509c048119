"""Handing alerts on: to the alerts topic (Kafka ``<prefix>.alerts`` or the embedded log's
``alerts``) and to a webhook. Each delivery is a callable taking the alerts the engine opened,
updated or resolved; :func:`fan_out` calls several in turn. At least once: an alert handed over
again is published again, unchanged."""
from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from pydantic import SecretStr

from chainrisk.graph.config import Settings

log = logging.getLogger("chainrisk.alerts")


class Alert(Protocol):
    """What delivery needs of an alert: a holder-change ``Alert`` or a ``RiskAlert``."""

    @property
    def block(self) -> str: ...

    def as_dict(self) -> dict[str, Any]: ...


class WebhookDelivery:
    """POSTs each alert as JSON to a URL, with bounded retries and backoff. The URL is a secret
    (it often carries a token): it is kept as a ``SecretStr`` and never logged, not even inside an
    exception's message. A delivery that fails through every attempt is logged and counted, never
    raised: the alert is already stored in the graph and published to the alerts topic, so the
    consumer goes on (``chainrisk alerts list`` shows it)."""

    def __init__(self, url: str | SecretStr, attempts: int = 4, timeout_s: float = 5.0, backoff_s: float = 0.5,
                 on_failure: Callable[[str], None] | None = None) -> None:
        self._url = url if isinstance(url, SecretStr) else SecretStr(url)
        self.attempts = attempts
        self.timeout_s = timeout_s
        self.backoff_s = backoff_s
        self.failures = 0
        self.on_failure = on_failure  # called with "webhook" for each delivery that gave up (the metrics)

    def __call__(self, alerts: Sequence[Alert]) -> None:
        for alert in alerts:
            self._post(alert.as_dict())

    def _post(self, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        for attempt in range(1, self.attempts + 1):
            try:
                request = urllib.request.Request(self._url.get_secret_value(), data=data, method="POST",
                                                 headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # noqa: S310 - operator-configured URL
                    if 200 <= response.status < 300:
                        return
                    reason = f"HTTP {response.status}"
            except urllib.error.HTTPError as exc:
                reason = f"HTTP {exc.code}"
            except Exception as exc:  # noqa: BLE001 - only the type: messages of URL errors may quote the URL
                reason = type(exc).__name__
            log.warning("webhook delivery of alert %s failed (%s), attempt %d/%d", body["id"], reason, attempt, self.attempts)
            if attempt < self.attempts:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
        self.failures += 1
        if self.on_failure is not None:
            self.on_failure("webhook")
        log.error("webhook delivery of alert %s gave up after %d attempts; the alert is kept in the graph and on the "
                  "alerts topic (chainrisk alerts list)", body["id"], self.attempts)


# Kafka refuses a record over the producer's max_request_size and the topic's max.message.bytes
# (both 1 MiB by default); what a record may take, leaving room for its key and headers
TOPIC_MESSAGE_LIMIT = 900_000


def topic_message(alert: dict[str, Any], limit: int = TOPIC_MESSAGE_LIMIT) -> bytes:
    """The alerts-topic record of ``alert`` (its JSON, keys sorted). An alert too large for one
    record (one cause hitting ten thousand blocks) keeps only the first entries of ``affected``
    that fit, with ``affected_total`` (how many it has) and ``affected_truncated: true``; the whole
    alert stays in the graph (``chainrisk alerts --format json``)."""
    data = json.dumps(alert, sort_keys=True).encode()
    affected = alert.get("affected") or []
    keep = len(affected)
    while len(data) > limit and keep > 0:
        keep = keep // 2
        data = json.dumps({**alert, "affected": affected[:keep], "affected_total": len(affected), "affected_truncated": True},
                          sort_keys=True).encode()
    return data


class TopicDelivery:
    """Publishes alerts (JSON, keyed by block) to the alerts topic of the configured backend, each
    as one record of at most :data:`TOPIC_MESSAGE_LIMIT` bytes (:func:`topic_message`)."""

    def __init__(self, settings: Settings) -> None:
        from chainrisk.graph.backend import open_topic_writer

        self._writer = open_topic_writer(settings, "alerts")

    def __call__(self, alerts: Sequence[Alert]) -> None:
        self._writer.write([(a.block.encode(), topic_message(a.as_dict())) for a in alerts])

    def close(self) -> None:
        self._writer.close()


def fan_out(*deliveries: Callable[[Sequence[Alert]], None] | None) -> Callable[[Sequence[Alert]], None]:
    """One delivery callable that calls each configured one in turn."""
    active = [d for d in deliveries if d is not None]

    def deliver(alerts: Sequence[Alert]) -> None:
        for d in active:
            d(alerts)

    return deliver
