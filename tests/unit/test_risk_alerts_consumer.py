"""Risk-change alerts as the consumer raises them on the embedded default (graph/continuous.py):
each step of tests/risk_alert_cases.py re-analysed incrementally touches exactly its alerts, each
alert naming the events that caused it with their sources; a whole snapshot's withdrawals are one
alert per condition with the snapshot as the cause; a long-running consumer raises
secured_until_near when the UTC date moves; and a SIGKILL between the result write and the alerts
loses no alert. (Kafka + Neo4j: tests/integration/test_risk_alerts_services.py.)

SYNTHETIC DATA in 240.0.0.0/4 and the documentation prefixes (RFC 5737).
"""
from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

from graph_events import lease, vrp
from risk_alert_cases import AS_OF, B1, B3, B4, Continuous, baseline, steps, summary
from snapshot_files import ingest, vrp_export

from chainrisk.analysis.risk_alerts import RISK_KINDS, is_risk_alert
from chainrisk.graph.backend import open_sink
from chainrisk.graph.config import load_settings
from chainrisk.graph.consumer import ConsumerOptions, consume
from chainrisk.graph.stores.nx_store import NxStore
from chainrisk.graph.stores.protocol import AppliedFact, pending_from_json, pending_to_json

NOON = datetime.combine(AS_OF, time(12), timezone.utc)


def test_each_step_through_the_consumer_raises_and_resolves_exactly_its_alerts(tmp_path: Path) -> None:
    store = NxStore(tmp_path, save_interval_s=3600)
    consumer = Continuous(store)
    for step in steps():
        touched = consumer.step(step.events, step.as_of)
        assert summary(touched) == sorted(step.expected), step.name
        for alert in touched:
            if step.events:  # the step's own events are the evidence, with their files and data dates
                ids = {e.event_id for e in step.events}
                assert {e.event_id for e in alert.evidence} & ids, step.name
                entry = next(e for e in alert.evidence if e.event_id in ids)
                event = next(e for e in step.events if e.event_id == entry.event_id)
                assert (entry.source, entry.reference, entry.line, entry.observed_at) == (
                    event.provenance.source, event.provenance.reference, event.provenance.line, event.provenance.observed_at)
                cause = f"{event.provenance.source} {event.provenance.reference} of {event.provenance.observed_at:%Y-%m-%dT%H:%M:%SZ}"
                # a raise names its cause; a resolution the cause that cleared it
                assert cause in alert.causes if alert.status == "open" else cause in (alert.resolution or ""), step.name
            else:  # only the date moved: the consumer's run is the evidence
                assert alert.causes == [f"chainrisk consume date {step.as_of.isoformat()}"], step.name
                assert [e.source for e in alert.evidence] == ["chainrisk consume"]
    stored = [a for a in store.load_alerts(None) if is_risk_alert(a)]
    assert sorted(a["type"] for a in stored) == sorted(RISK_KINDS) and {a["status"] for a in stored} == {"resolved"}
    assert store.pending_changes("g") == []  # every record of risk changes was taken and dropped
    (rov,) = [a for a in stored if a["type"] == "rov_left_valid"]
    assert rov["evidence"][0]["detail"] == "vrp 240.20.0.0/16 retracted" and rov["evidence"][0]["source"] == "rpki-client"


def test_withdrawals_of_different_files_are_different_alerts(tmp_path: Path) -> None:
    store = NxStore(tmp_path, save_interval_s=3600)
    consumer = Continuous(store)
    consumer.step(baseline(), AS_OF)
    (first,) = consumer.step([vrp("240.20.0.0/16", 64501, observed=2, op="retract")], AS_OF)
    (second,) = consumer.step([vrp("240.20.2.0/24", 64502, observed=3, op="retract")], AS_OF)  # B2's own ROA, a later export
    assert first.alert_id != second.alert_id and first.status == second.status == "open"
    assert [a.block for a in first.affected] == [B1, B4] and [a.block for a in second.affected] == ["240.20.2.0/24"]


# --- a whole snapshot -------------------------------------------------------------------------------

LEASED = ["198.51.100.0/26", "198.51.100.64/26", "198.51.100.128/26", "203.0.113.0/24"]
REGISTER = "block,provider,provider_role,recipient,recipient_role,start_date,end_date,lessee_asn\n" + "".join(
    f"{block},Holder A,holder,Lessee {n},lessee,2025-01-01,2027-12-31,64500\n" for n, block in enumerate(LEASED))
ROAS = [{"asn": 64500, "prefix": block, "maxLength": 26 if block.endswith("/26") else 24, "ta": "ripe", "expires": 1900000000}
        for block in LEASED]
FILLER = [{"asn": 64999, "prefix": f"10.0.{i}.0/24", "maxLength": 24, "ta": "ripe", "expires": 1900000000} for i in range(30)]


def test_a_snapshot_that_withdraws_many_roas_is_one_alert_naming_it(tmp_path: Path) -> None:
    register = tmp_path / "leases.csv"
    register.write_text(REGISTER)
    leases, _ = ingest("leases", [register])
    first, _ = ingest("vrps", [vrp_export(tmp_path / "a.json", "2026-02-28T00:00:00Z", ROAS + FILLER)])
    second, _ = ingest("vrps", [vrp_export(tmp_path / "b.json", "2026-03-01T00:00:00Z", ROAS[3:] + FILLER[5:])])
    store = NxStore(tmp_path / "graph", save_interval_s=3600)
    consumer = Continuous(store)
    assert consumer.step(leases + first, AS_OF) == []
    # the next export in small batches: its events, then its end and the sweep that retracts what it lacks
    (alert,) = consumer.step(second, AS_OF, batch_size=7)
    sid = next(e.provenance.snapshot for e in second if e.type == "vrp")
    assert (alert.kind, alert.status, alert.causes) == ("rov_left_valid", "open", [f"snapshot {sid} of rpki-client {tmp_path / 'b.json'}"])
    assert [(a.block, a.before, a.after) for a in alert.affected] == [(b, "Valid", "NotFound") for b in LEASED[:3]]
    assert alert.block == "198.51.100.0/24"
    retracted = [e for e in alert.evidence if e.detail.startswith("vrp 198.51.100.")]
    assert len(retracted) == 3 and {(e.source, e.reference) for e in retracted} == {("rpki-client", str(tmp_path / "b.json"))}
    assert all(e.detail.endswith(f"retracted: no longer in the snapshot {sid[:12]} of {tmp_path / 'b.json'} (2026-03-01T00:00:00Z)")
               for e in retracted)
    assert all(len(a.event_ids) == 1 for a in alert.affected)  # each block names the retraction of its own ROA
    # the same export again (another run: another snapshot id, the same facts) raises nothing
    again, _ = ingest("vrps", [vrp_export(tmp_path / "b.json", "2026-03-01T00:00:00Z", ROAS[3:] + FILLER[5:])])
    assert consumer.step(again, AS_OF) == []
    # the ROAs back in the next export: the one alert resolved, by that snapshot
    third, _ = ingest("vrps", [vrp_export(tmp_path / "c.json", "2026-03-02T00:00:00Z", ROAS + FILLER)])
    (resolved,) = consumer.step(third, AS_OF)
    assert (resolved.alert_id, resolved.status) == (alert.alert_id, "resolved")
    assert [a.status for a in resolved.affected] == ["cleared"] * 3


# --- the outbox record ------------------------------------------------------------------------------

def test_applied_facts_keep_their_provenance_in_the_pending_record() -> None:
    events = [lease(B1, "Holder H", "Lessee L", 3), vrp("240.20.0.0/16", 64501, observed=3, op="retract"), lease(B4, "Holder H", "L", 4)]
    applied = [AppliedFact(e.type, e.block, e.op, e.event_id, e.provenance) for e in events] + [AppliedFact("vrp", B1, "assert", "x")]
    risk = {"evidence": [], "raised": [], "cleared": []}
    assert pending_from_json(pending_to_json([], applied, risk)) == ([], applied, risk)
    assert pending_from_json(pending_to_json([], applied)) == ([], applied, None)
    # records written before the provenance was kept
    assert pending_from_json('{"changes": [], "applied": [["vrp", "240.20.0.0/16", "retract", "e-1"]]}') == \
        ([], [AppliedFact("vrp", "240.20.0.0/16", "retract", "e-1")], None)


# --- the date ------------------------------------------------------------------------------------------

def test_a_long_running_consumer_raises_secured_until_near_when_the_date_moves(tmp_path: Path) -> None:
    state = tmp_path / "state"
    settings = load_settings(backend="embedded", state_dir=state, continuous_analysis=True, alerts=True)
    publish(state, baseline())
    now = [NOON]
    passes = [0]
    renewal = lease(B3, "Holder H", "Lessee L3", 14, end=date(2027, 4, 15))

    def should_stop() -> bool:
        passes[0] += 1
        if passes[0] == 5:
            now[0] = NOON + timedelta(days=20)  # the lease of B3 (to 2026-04-15) now ends within the 30-day horizon
        if passes[0] == 10:
            now[0] = NOON + timedelta(days=20, hours=12)  # past midnight: the next day
        if passes[0] == 15:
            publish(state, [renewal])
        return passes[0] > 25

    stats = consume(settings, should_stop=should_stop, clock=lambda: now[0],
                    options=ConsumerOptions(group=settings.consumer_group, poll_timeout_s=0.05, batch_wait_s=0.0))
    assert stats.applied == len(baseline()) + 1
    store = NxStore(state)
    (near,) = [a for a in store.load_alerts(None) if a["type"] == "secured_until_near"]
    assert (near["status"], [(a["block"], a["status"], a["before"], a["after"]) for a in near["affected"]]) == (
        "resolved", [(B3, "cleared", "secured until 2026-04-15 (45 days left)", "secured until 2027-04-15 (389 days left)")])
    assert near["causes"] == ["chainrisk consume date 2026-03-21"]
    # by data date: the renewal's (the register of 2026-01-15), then the consumer's run on the new date
    assert [(e["source"], e["observed_at"][:10]) for e in near["evidence"]] == [("lease-register", "2026-01-15"), ("chainrisk consume", "2026-03-21")]
    assert near["evidence"][0]["event_id"] == renewal.event_id
    assert store.g.nodes[("Block", B3)]["secured_until"] == date(2027, 4, 15)
    store.close()


def publish(state: Path, events: list[Any]) -> None:
    sink = open_sink(load_settings(state_dir=state))
    for event in events:
        sink.publish(event)
    sink.close()


# --- a crash between the result write and the alerts ------------------------------------------------

# Runs the consumer with a SIGKILL aimed between the write of the refreshed results and the risk
# alerts: the graph file is saved with the results first (the embedded store persists results with
# the graph: a stop after a failed alert delivery saves it so), then the process is killed.
_KILLED_BEFORE_ALERTS = """
import os, signal, sys
from datetime import datetime, timezone
from pathlib import Path
from chainrisk.graph import continuous
from chainrisk.graph.config import load_settings
from chainrisk.graph.consumer import consume

def deliver(self, risk):
    self.engine.store.save()
    os.kill(os.getpid(), signal.SIGKILL)
continuous.RiskOutbox.deliver = deliver
settings = load_settings(backend="embedded", state_dir=Path(sys.argv[1]), continuous_analysis=True, alerts=True)
consume(settings, until_idle=True, clock=lambda: datetime.fromisoformat(sys.argv[2]))
"""


def risk_alerts(state: Path) -> list[dict[str, Any]]:
    store = NxStore(state)
    try:
        return [a for a in store.load_alerts(None) if is_risk_alert(a)]
    finally:
        store.close()


def test_a_sigkill_between_the_result_write_and_the_alerts_loses_no_alert(tmp_path: Path) -> None:
    state, uninterrupted = tmp_path / "state", tmp_path / "uninterrupted"
    settings = load_settings(backend="embedded", state_dir=state, continuous_analysis=True, alerts=True)
    publish(state, baseline())
    consume(settings, until_idle=True, clock=lambda: NOON)
    withdrawn = vrp("240.20.0.0/16", 64501, observed=2, op="retract")
    publish(state, [withdrawn])
    shutil.copytree(state, uninterrupted)
    consume(settings.model_copy(update={"state_dir": uninterrupted}), until_idle=True, clock=lambda: NOON)
    expected = risk_alerts(uninterrupted)
    assert [a["type"] for a in expected] == ["rov_left_valid"]

    killed = subprocess.run([sys.executable, "-c", _KILLED_BEFORE_ALERTS, str(state), NOON.isoformat()],
                            capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    crashed = NxStore(state)
    (record,) = [r for r in crashed.pending_changes(settings.consumer_group) if r.risk is not None]
    assert [c[1] for c in record.risk["raised"]] == [B1, B4]
    assert crashed.stored_results([B1])[B1]["rov_state"] == "NotFound"  # the results were written
    assert [a for a in crashed.load_alerts(None) if is_risk_alert(a)] == []  # the alerts were not
    crashed.close()

    stats = consume(settings, until_idle=True, clock=lambda: NOON)  # the restart hands the record over
    assert stats.pending_handed_over >= 1
    assert risk_alerts(state) == expected
    after = NxStore(state)
    assert after.pending_changes(settings.consumer_group) == []
    after.close()
    consume(settings, until_idle=True, clock=lambda: NOON)  # and once more: nothing changes
    assert risk_alerts(state) == expected


def test_a_failed_alert_delivery_is_retried_before_the_next_refresh(tmp_path: Path) -> None:
    store = NxStore(tmp_path, save_interval_s=3600)
    consumer = Continuous(store)
    consumer.step(baseline(), AS_OF)
    failing = [True]
    apply = consumer.engine.apply_risk_changes

    def flaky(changes: Any) -> Any:
        if failing[0]:
            raise ConnectionError("alert store away")
        return apply(changes)

    consumer.engine.apply_risk_changes = flaky  # type: ignore[method-assign]
    result = store.apply_batch([vrp("240.20.0.0/16", 64501, observed=2, op="retract")], {}, "g", keep_changes=True)
    try:
        consumer.analysis.after_batch(result.applied_facts)
        raise AssertionError("the delivery should have failed")
    except ConnectionError:
        pass
    assert len([r for r in store.pending_changes("g") if r.risk is not None]) == 1
    # the consumer retries the batch's analysis: the results are current already, the stored changes are delivered first
    failing[0] = False
    consumer.analysis.after_batch(result.applied_facts)
    assert summary(consumer.touched) == [("rov_left_valid", "", "open", ((B1, "open", "Valid", "NotFound"), (B4, "open", "Valid", "NotFound")))]
    assert [r for r in store.pending_changes("g") if r.risk is not None] == []


def test_risk_changes_stay_pending_for_a_consumer_without_alerts(tmp_path: Path) -> None:
    state = tmp_path / "state"
    store = NxStore(state, save_interval_s=3600)
    consumer = Continuous(store, group="chainrisk-graph")
    consumer.step(baseline(), AS_OF)
    consumer.engine.apply_risk_changes = lambda changes: (_ for _ in ()).throw(ConnectionError("away"))  # type: ignore[method-assign]
    result = store.apply_batch([vrp("240.20.0.0/16", 64501, observed=2, op="retract")], {}, "chainrisk-graph", keep_changes=True)
    try:
        consumer.analysis.after_batch(result.applied_facts)
    except ConnectionError:
        pass
    store.drop_pending_changes("chainrisk-graph", result.pending_id or "")
    store.close()  # the stop saves the graph: results and the record of their risk changes
    settings = load_settings(backend="embedded", state_dir=state, continuous_analysis=False, alerts=True)
    consume(settings, until_idle=True, clock=lambda: NOON)
    kept = NxStore(state)
    assert len([r for r in kept.pending_changes(settings.consumer_group) if r.risk is not None]) == 1
    kept.close()
    consume(settings.model_copy(update={"continuous_analysis": True}), until_idle=True, clock=lambda: NOON)
    (rov,) = risk_alerts(state)
    assert (rov["type"], [a["block"] for a in rov["affected"]]) == ("rov_left_valid", [B1, B4])

