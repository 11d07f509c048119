"""Secrets stay secret: a bad webhook URL is a configuration error at start that never quotes the
URL, a failing webhook never stops the consumer, and validation errors never print a value."""
from __future__ import annotations

import logging
import socket
import threading
import time
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


def test_json_logs_and_metrics_of_a_long_running_consumer_never_show_a_secret(tmp_path: Path, broken_http_server: str,
                                                                              free_port) -> None:
    """Every secret set; a consumer with --log-format json and --metrics-port applies batches that raise
    alerts whose webhook fails, and a dead letter: every line is a JSON object with the structured
    fields, the failed deliveries are counted, and no log line, metric or health answer shows a secret."""
    import json
    import os
    import signal
    import subprocess
    import sys

    from metrics_http import get, scrape, wait_for

    secrets = {"CHAINRISK_WEBHOOK_URL": broken_http_server, "CHAINRISK_NEO4J_PASSWORD": "neo4j-pw-" + TOKEN + "-n",
               "CHAINRISK_KAFKA_SASL_PASSWORD": "sasl-" + TOKEN + "-k"}
    log = EventLog(tmp_path / "log")
    records = 0
    for batch in alert_batches():
        for event in batch:
            log.append(TOPIC_OF_TYPE[event.type], [event.to_json()])
            records += 1
    poison_offset = log.end_offset("relationships")
    log.append("relationships", [b"not json"])
    log.close()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAINRISK_")} | secrets | {"CHAINRISK_LOG_FORMAT": "json"}
    proc = subprocess.Popen([sys.executable, "-m", "chainrisk.cli.main", "consume", "--state-dir", str(tmp_path),
                             "--metrics-port", str(port), "--metrics-interval", "1", "--batch-size", "2"],
                            cwd=Path(__file__).resolve().parents[2], env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        def delivered_all() -> bool:
            samples = scrape(port)
            alerts = sum(v for (name, _), v in samples.items() if name == "chainrisk_alerts_total")
            return alerts > 0 and samples.get(("chainrisk_alert_deliveries_failed_total", (("target", "webhook"),))) == alerts

        wait_for(delivered_all, "every webhook delivery failed and counted", proc, timeout=120)
        wait_for(lambda: scrape(port)[("chainrisk_records_read_total", ())] == records + 1, "every record read", proc)
        time.sleep(1.5)  # one more metrics log line
        exposed = get(port, "/metrics")[1] + get(port, "/readyz")[1] + get(port, "/healthz")[1]
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    lines = [json.loads(line) for line in err.splitlines() if line.strip()]  # every line one JSON object
    assert lines and all({"time", "level", "logger", "message"} <= line.keys() for line in lines)
    assert any(line["logger"] == "chainrisk.alerts" and "gave up" in line["message"] for line in lines)
    assert any(line.get("offset") == poison_offset and line.get("topic") == "relationships" for line in lines)  # the dead letter
    (done,) = [line for line in lines if line["message"].startswith("done: ")]
    assert done["records"] == records + 1 and done["dead_lettered"] == 1 and "seconds" in done
    assert any("events_per_s" in line for line in lines)  # the periodic metrics line
    webhook_address = broken_http_server.split("/services/")[0].removeprefix("http://")
    for text in (out, err, exposed):
        assert TOKEN not in text and webhook_address not in text
        for value in secrets.values():
            assert value not in text
