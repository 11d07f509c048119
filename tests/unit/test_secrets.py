"""Secrets stay secret: a bad webhook URL is a configuration error at start that never quotes the
URL, a failing webhook never stops the consumer, and validation errors never print a value."""
from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from graph_events import alert_batches

from chainrisk.graph.alerts.delivery import WebhookDelivery
from chainrisk.graph.alerts.engine import AlertEngine
from chainrisk.graph.config import ConfigError, Settings, load_settings
from chainrisk.graph.eventlog.embedded import EventLog
from chainrisk.graph.stores.nx_store import NxStore
from chainrisk.ingest.events import TOPIC_OF_TYPE

TOKEN = "T0KEN-SECRET-123"


@pytest.mark.parametrize("url", [f"hooks.example.invalid/services/{TOKEN}", f"ftp://hooks.example.invalid/{TOKEN}",
                                 f"https:///{TOKEN}", f"https://hooks.example.invalid:{TOKEN}/x"])
def test_a_webhook_url_urllib_cannot_post_to_is_a_configuration_error_without_the_url(url: str,
                                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHAINRISK_WEBHOOK_URL", url)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "CHAINRISK_WEBHOOK_URL" in str(caught.value) and "http" in str(caught.value)
    assert TOKEN not in str(caught.value)
    with pytest.raises(Exception) as raw:  # the model itself, as tests and library code build it
        Settings()
    assert TOKEN not in str(raw.value)


def test_a_valid_webhook_url_is_kept_secret_in_the_settings_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHAINRISK_WEBHOOK_URL", f"https://hooks.example.invalid/services/{TOKEN}")
    monkeypatch.setenv("CHAINRISK_NEO4J_PASSWORD", "pw-" + TOKEN)
    settings = load_settings()
    assert settings.webhook_url is not None and settings.webhook_url.get_secret_value().endswith(TOKEN)
    assert TOKEN not in repr(settings) and TOKEN not in str(settings.model_dump())
    assert TOKEN not in repr(WebhookDelivery(settings.webhook_url)) + repr(vars(WebhookDelivery(settings.webhook_url)))


def test_a_bad_webhook_url_stops_consume_at_start_with_one_line_and_no_secret(tmp_path: Path, run_cli) -> None:
    done = run_cli("consume", "--until-idle", "--state-dir", str(tmp_path),
                   env={"CHAINRISK_WEBHOOK_URL": f"hooks.example.invalid/services/{TOKEN}"})
    assert done.returncode == 1, done.stderr
    assert "CHAINRISK_WEBHOOK_URL" in done.stderr and "http:// or https://" in done.stderr
    assert TOKEN not in done.stdout + done.stderr and "Traceback" not in done.stderr


@pytest.fixture
def broken_http_server() -> Iterator[str]:
    """A URL whose server answers every request with bytes that are no HTTP response (http.client
    raises BadStatusLine, which is not an OSError)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    conn.recv(65536)
                    conn.sendall(b"not http at all\r\n\r\n")
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/services/{TOKEN}"
    stop.set()
    thread.join(5)
    server.close()


def test_a_failing_webhook_never_stops_the_alerts_and_never_logs_the_url(tmp_path: Path, broken_http_server: str,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    store = NxStore(tmp_path, save_interval_s=3600)
    webhook = WebhookDelivery(broken_http_server, attempts=2, backoff_s=0.01)
    engine = AlertEngine(store, webhook)
    caplog.set_level(logging.WARNING, logger="chainrisk.alerts")
    raised = []
    for batch in alert_batches():
        raised += engine.process(store.apply_batch(batch, {}, "g").changes)
    assert raised, "the batches raise alerts"
    assert webhook.failures == len(raised)  # each alert tried, given up, counted
    assert "gave up after 2 attempts" in caplog.text and "BadStatusLine" in caplog.text
    assert TOKEN not in caplog.text and "127.0.0.1" not in caplog.text
    assert store.load_alerts(None), "the alerts are stored all the same"


def test_consume_with_a_failing_webhook_applies_everything_and_exits_0(tmp_path: Path, broken_http_server: str, run_cli) -> None:
    log = EventLog(tmp_path / "log")
    for batch in alert_batches():
        for event in batch:
            log.append(TOPIC_OF_TYPE[event.type], [event.to_json()])
    done = run_cli("consume", "--until-idle", "--state-dir", str(tmp_path), env={"CHAINRISK_WEBHOOK_URL": broken_http_server})
    assert done.returncode == 0, done.stderr
    assert "webhook delivery of alert" in done.stderr and "gave up" in done.stderr
    assert TOKEN not in done.stdout + done.stderr and "Traceback" not in done.stderr
    assert NxStore(tmp_path).load_alerts(None)
