"""Risk-change alerts on the embedded default, through the full analysis (`chainrisk analyze`):
each alert type raised by the change that causes it, resolved by the one that clears it, not
raised twice (tests/risk_alert_cases.py); the alerts topic, `chainrisk alerts --type` and
`alerts ack`. (Kafka + Neo4j: tests/integration/test_risk_alerts_services.py.)

SYNTHETIC DATA in 240.0.0.0/4.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from risk_alert_cases import B1, B4, baseline, steps, summary

from chainrisk.analysis.risk_alerts import RISK_KINDS, result_rows
from chainrisk.analysis.writeback import analysis_rows
from chainrisk.cli.report_cmd import analyse_and_write_back
from chainrisk.graph.alerts.engine import AlertEngine, alert_engine
from chainrisk.graph.backend import log_dir, open_sink
from chainrisk.graph.config import load_settings
from chainrisk.graph.eventlog.embedded import EventLog
from chainrisk.graph.stores.nx_store import NxStore


def test_each_step_raises_and_resolves_exactly_its_alerts(tmp_path: Path) -> None:
    store = NxStore(tmp_path, save_interval_s=3600)
    engine = AlertEngine(store)
    for step in steps():
        if step.events:
            store.apply_batch(step.events, {}, "g")
        assert summary(analyse_and_write_back(store, step.as_of, alerts=engine).alerts) == sorted(step.expected), step.name
    stored = store.load_alerts(None)
    assert sorted(a["type"] for a in stored) == sorted(RISK_KINDS)  # one alert per type: none raised twice
    assert {a["status"] for a in stored} == {"resolved"}
    store.close()
    assert NxStore(tmp_path).load_alerts(None) == stored  # saved with the graph


def test_stored_results_read_back_what_the_analysis_wrote(tmp_path: Path) -> None:
    store = NxStore(tmp_path, save_interval_s=3600)
    store.apply_batch(baseline(), {}, "g")
    run = analyse_and_write_back(store, steps()[0].as_of)
    written = result_rows(*analysis_rows(run.analysis))
    stored = store.stored_results(None)
    assert sorted(stored) == sorted(written)
    assert {p: {k: v for k, v in r.items() if k != "analysed_at"} for p, r in stored.items()} == \
        {p: {k: v for k, v in r.items() if k != "analysed_at"} for p, r in written.items()}
    assert store.stored_results([B1, "198.51.100.0/24"]) == {B1: stored[B1]}  # a block without results is left out
    assert stored[B1]["spofs"] == ["holder h"]


def test_alerts_reach_the_topic_and_the_cli_filters_by_type(tmp_path: Path, run_cli: Any) -> None:
    settings = load_settings(backend="embedded", state_dir=tmp_path)
    as_of = steps()[0].as_of.isoformat()
    cases = {s.name: s for s in steps()}
    env = {"CHAINRISK_CONFIG": str(tmp_path / "none.toml"), "CHAINRISK_BACKEND": None}

    def ingest_and_analyse(events: list[Any]) -> str:
        sink = open_sink(settings)
        for event in events:
            sink.publish(event)
        sink.close()
        done = run_cli("analyze", "--state-dir", str(tmp_path), "--as-of", as_of, env=env)
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "risk-change alerts: 0 raised" in ingest_and_analyse(baseline())
    out = ingest_and_analyse(cases["the holder's ROA withdrawn"].events)
    assert "risk-change alerts: 1 raised, updated or resolved (1 open)" in out
    ingest_and_analyse(cases["the covering prefix is listed"].events)

    listed = run_cli("alerts", "--state-dir", str(tmp_path), "--type", "rov_left_valid", "--format", "json", env=env)
    assert listed.returncode == 0, listed.stderr
    (rov,) = json.loads(listed.stdout)
    assert (rov["type"], rov["status"], [a["block"] for a in rov["affected"]]) == ("rov_left_valid", "open", [B1, B4])
    assert [(a["before"], a["after"], a["lessees"]) for a in rov["affected"]] == [("Valid", "NotFound", ["Lessee L1"]),
                                                                                    ("Valid", "NotFound", ["Lessee L4"])]
    both = run_cli("alerts", "--state-dir", str(tmp_path), "--type", "listed", "--type", "rov_left_valid", env=env)
    assert both.returncode == 0 and "listed" in both.stdout and "rov_left_valid" in both.stdout
    assert "Valid -> NotFound" in both.stdout

    acked = run_cli("alerts", "--state-dir", str(tmp_path), "ack", rov["id"][:8], "--note", "ROA re-issue requested", env=env)
    assert acked.returncode == 0, acked.stderr
    # the ROA back: the acknowledged alert is resolved
    ingest_and_analyse(cases["the ROA is back"].events)
    (resolved,) = json.loads(run_cli("alerts", "--state-dir", str(tmp_path), "--type", "rov_left_valid", "--status", "all",
                                     "--format", "json", env=env).stdout)
    assert (resolved["id"], resolved["status"]) == (rov["id"], "resolved")

    published = [json.loads(r.value) for r in EventLog(log_dir(settings)).iter_all("alerts")]
    assert [(a["type"], a["status"]) for a in published] == [("rov_left_valid", "open"), ("listed", "open"),
                                                              ("rov_left_valid", "resolved")]
    assert published[0]["block"] == "240.20.0.0/21" and published[0]["evidence"][0]["source"] == "chainrisk analyze"


def test_the_engine_delivers_what_it_saves(tmp_path: Path) -> None:
    settings = load_settings(backend="embedded", state_dir=tmp_path)
    store = NxStore(tmp_path, save_interval_s=3600)
    engine, close = alert_engine(settings, store)
    try:
        for step in steps()[:3]:
            if step.events:
                store.apply_batch(step.events, {}, "g")
            analyse_and_write_back(store, step.as_of, alerts=engine)
    finally:
        close()
    published = [json.loads(r.value) for r in EventLog(log_dir(settings)).iter_all("alerts")]
    assert published == store.load_alerts(None)
    assert engine.horizon_days == settings.alert_horizon_days == 30
