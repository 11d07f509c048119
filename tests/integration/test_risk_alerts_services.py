"""Risk-change alerts through Kafka + Neo4j, as `chainrisk analyze` raises them: every step of
tests/risk_alert_cases.py published to Kafka, consumed into Neo4j, analysed with the alerts engine
delivering to the Kafka alerts topic. Each alert type is raised by the change that causes it,
resolved by the one that clears it, never raised twice, and the alerts, the stored results and the
topic equal the embedded default's (tests/unit/test_risk_alerts_store.py).

The consumer's own risk alerts (continuous analysis) step by step on Neo4j equal the embedded
default's, evidence and causes included; a SIGKILL of a Kafka + Neo4j consumer between the
result write and the alerts loses no alert (tests/unit/test_risk_alerts_consumer.py: embedded).

Run under the Neo4j lock (one shared database): flock /tmp/chainrisk-neo4j.lock pytest ...
SYNTHETIC DATA in 240.0.0.0/4.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, time, timezone
from pathlib import Path
from typing import Any

import pytest
from risk_alert_cases import B1, Continuous, steps, summary

from chainrisk.analysis.risk_alerts import RISK_KINDS, is_risk_alert
from chainrisk.cli.report_cmd import analyse_and_write_back
from chainrisk.graph.alerts.engine import AlertEngine, alert_engine
from chainrisk.graph.backend import open_sink, open_store
from chainrisk.graph.config import Settings
from chainrisk.graph.consumer import consume
from chainrisk.graph.eventlog.kafka_io import ensure_topics
from chainrisk.graph.stores.neo4j_store import NeoStore
from chainrisk.graph.stores.nx_store import NxStore

pytestmark = pytest.mark.services


@pytest.fixture
def services(isolated_services: Callable[..., Settings]) -> Settings:
    # the scenario's alerts come from `chainrisk analyze` after each step; the consumer's own
    # continuous analysis would raise them first (tests/integration/test_continuous_services.py)
    fresh = isolated_services("riskalerts", continuous_analysis=False)
    store = NeoStore(fresh)
    store.ensure_schema()
    store.wipe()
    store.close()
    ensure_topics(fresh)
    return fresh


def _published(settings: Settings) -> list[dict[str, Any]]:
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(settings.topic("alerts"), auto_offset_reset="earliest", enable_auto_commit=False, group_id=None,
                             consumer_timeout_ms=5000, **settings.kafka_client_config())
    try:
        return [json.loads(record.value) for record in consumer]
    finally:
        consumer.close()


def _without_run_stamps(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The alerts without what depends on when the analysis ran (its evidence's id and date)."""
    out = []
    for a in alerts:
        a = {k: v for k, v in a.items() if k not in ("changed_at", "first_seen", "last_seen")}
        a["evidence"] = [{k: v for k, v in e.items() if not (e["source"] == "chainrisk analyze" and k in ("event_id", "observed_at"))}
                         for e in a["evidence"]]
        a["affected"] = [{**x, "event_ids": [i for i in x["event_ids"] if not i.startswith("chainrisk analyze|")]}
                         for x in a["affected"]]
        out.append(a)
    return out


def test_each_risk_alert_is_raised_resolved_and_not_raised_twice_on_kafka_and_neo4j(services: Settings, tmp_path: Path) -> None:
    embedded = NxStore(tmp_path / "embedded", save_interval_s=3600)
    local = AlertEngine(embedded)
    for step in steps():
        if step.events:
            sink = open_sink(services)
            try:
                for event in step.events:
                    sink.publish(event)
            finally:
                sink.close()
            consume(services, until_idle=True)
            embedded.apply_batch(step.events, {}, "g")
        store = open_store(services)
        engine, close = alert_engine(services, store)
        try:
            touched = analyse_and_write_back(store, step.as_of, alerts=engine).alerts
        finally:
            close()
            store.close()
        assert summary(touched) == sorted(step.expected), step.name
        analyse_and_write_back(embedded, step.as_of, alerts=local)

    neo = NeoStore(services)
    try:
        stored = [a for a in neo.load_alerts(None) if is_risk_alert(a)]  # the consumer raises holder-change alerts too
        results = neo.stored_results(None)
        affecting = neo.alerts_affecting([B1])
    finally:
        neo.close()
    assert sorted(a["type"] for a in stored) == sorted(RISK_KINDS)
    assert {a["status"] for a in stored} == {"resolved"} and not [a for a in affecting if is_risk_alert(a)]
    assert _without_run_stamps(stored) == _without_run_stamps(embedded.load_alerts(None))
    strip = lambda rows: {p: {k: v for k, v in r.items() if k != "analysed_at"} for p, r in rows.items()}  # noqa: E731
    assert strip(results) == strip(embedded.stored_results(None))

    # the Browser library: every risk alert resolved, one per type; what changed on the last day
    from neo4j import GraphDatabase

    from chainrisk.graph.browser.library import bind_parameters, load_library, run_query

    library = load_library()
    driver = GraphDatabase.driver(services.neo4j_uri, auth=(services.neo4j_user, services.resolve_neo4j_password()))
    try:
        query = library.get("alerts-by-type")
        _, rows = run_query(driver, services.neo4j_database, query, bind_parameters(query, {"status": "resolved"}))
        by_type = {r[0]: r[1:3] for r in rows}
        assert {t: by_type[t] for t in RISK_KINDS} == {t: [1, 6 if t == "listed" else 2 if t in ("rov_left_valid", "routing_signal") else 1]
                                                      for t in RISK_KINDS}
        query = library.get("changes-since")
        _, rows = run_query(driver, services.neo4j_database, query, bind_parameters(query, {"since": "2026-01-01"}))
        rov = next(r for r in rows if r[1] == "rov_left_valid")
        assert rov[5] == [f"{B1}: Valid -> Valid", "240.20.4.0/24: Valid -> Valid"]  # cleared: the figure they went back to
        assert rov[8] == ["chainrisk analyze full analysis as of 2026-03-01"]
    finally:
        driver.close()

    published = [a for a in _published(services) if is_risk_alert(a)]
    assert {a["id"]: a for a in published} == {a["id"]: a for a in stored}  # the latest version of each is what is stored
    assert len(published) == sum(len(s.expected) for s in steps())  # each touched alert published once per step


# --- the consumer's own risk alerts (continuous analysis) -----------------------------------------

def test_each_step_through_the_continuous_analysis_on_neo4j_equals_the_embedded_default(services: Settings, tmp_path: Path) -> None:
    neo = NeoStore(services)
    embedded = NxStore(tmp_path / "embedded", save_interval_s=3600)
    try:
        on_neo4j, on_embedded = Continuous(neo, services.consumer_group), Continuous(embedded, services.consumer_group)
        for step in steps():
            touched = on_neo4j.step(step.events, step.as_of)
            assert summary(touched) == sorted(step.expected), step.name
            assert [a.as_dict() for a in touched] == [a.as_dict() for a in on_embedded.step(step.events, step.as_of)], step.name
        stored = [a for a in neo.load_alerts(None) if is_risk_alert(a)]
        assert sorted(a["type"] for a in stored) == sorted(RISK_KINDS) and {a["status"] for a in stored} == {"resolved"}
        assert stored == embedded.load_alerts(None)  # evidence, causes, dates: the same events give the same alerts
        assert neo.pending_changes(services.consumer_group) == []
    finally:
        neo.close()
        embedded.close()


_KILLED_BEFORE_ALERTS = """
import os, signal, sys
from datetime import datetime
from chainrisk.graph import continuous
from chainrisk.graph.config import Settings
from chainrisk.graph.consumer import consume

def deliver(self, risk):  # the refreshed results are committed with their record: die before the alerts
    os.kill(os.getpid(), signal.SIGKILL)
continuous.RiskOutbox.deliver = deliver
settings = Settings(state_dir=sys.argv[1], backend="services", topic_prefix=sys.argv[2], consumer_group=sys.argv[2], topic_partitions=3,
                    continuous_analysis=True)
consume(settings, until_idle=True, clock=lambda: datetime.fromisoformat(sys.argv[3]))
"""


def test_a_sigkill_between_the_result_write_and_the_alerts_loses_no_alert_on_kafka_and_neo4j(services: Settings, tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    from graph_events import vrp
    from risk_alert_cases import AS_OF, B4, baseline

    services = services.model_copy(update={"continuous_analysis": True})  # the consumer raises the alerts itself here
    noon = datetime.combine(AS_OF, time(12), timezone.utc)
    withdrawn = vrp("240.20.0.0/16", 64501, observed=2, op="retract")

    def publish(events: list[Any]) -> None:
        sink = open_sink(services)
        try:
            for event in events:
                sink.publish(event)
        finally:
            sink.close()

    publish(baseline())
    consume(services, until_idle=True, clock=lambda: noon)
    publish([withdrawn])
    killed = subprocess.run([sys.executable, "-c", _KILLED_BEFORE_ALERTS, str(services.state_dir), services.topic_prefix, noon.isoformat()],
                            capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    neo = NeoStore(services)
    try:
        (record,) = [r for r in neo.pending_changes(services.consumer_group) if r.risk is not None]
        assert [c[1] for c in record.risk["raised"]] == [B1, B4]
        assert neo.stored_results([B1])[B1]["rov_state"] == "NotFound"  # the results were committed
        assert [a for a in neo.load_alerts(None) if is_risk_alert(a)] == []  # the alerts were not
    finally:
        neo.close()

    stats = consume(services, until_idle=True, clock=lambda: noon)  # the restart hands the record over
    assert stats.pending_handed_over >= 1
    embedded = NxStore(tmp_path / "embedded", save_interval_s=3600)
    uninterrupted = Continuous(embedded, services.consumer_group)
    uninterrupted.step(baseline(), AS_OF)
    (expected,) = uninterrupted.step([withdrawn], AS_OF)
    neo = NeoStore(services)
    try:
        assert [a for a in neo.load_alerts(None) if is_risk_alert(a)] == [expected.as_dict()]
        assert neo.pending_changes(services.consumer_group) == []
    finally:
        neo.close()
        embedded.close()
    assert [a["id"] for a in _published(services) if is_risk_alert(a)] == [expected.alert_id]
