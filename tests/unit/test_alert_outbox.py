"""Alerts exactly once on the embedded backend: a batch's changes are kept with the graph and the
offsets until the alerts hook has them (the pending-changes record), handing them over again leaves
the same alerts, and `chainrisk alerts ack` persists. (Neo4j: tests/integration/test_alerts_services.py.)"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from graph_events import alert_batches, mixed_events

from chainrisk.graph.alerts.engine import AlertEngine
from chainrisk.graph.config import load_settings
from chainrisk.graph.consumer import consume
from chainrisk.graph.eventlog.embedded import EventLog
from chainrisk.graph.stores.nx_store import NxStore
from chainrisk.graph.stores.protocol import changes_from_json, changes_to_json

GROUP = "g"


def alerts_of(store: NxStore) -> list[dict[str, Any]]:
    return store.load_alerts(None)


def test_changes_round_trip_through_their_json(tmp_path: Path) -> None:
    store = NxStore(tmp_path, save_interval_s=3600)
    changes = store.apply_batch(mixed_events(5), {}, "g").changes
    changes += store.apply_batch(mixed_events(6), {}, "g").changes  # newer versions: changes with a previous event
    assert any(c.previous is not None for c in changes) and any(c.event.op == "retract" for c in changes)
    assert changes_from_json(changes_to_json(changes)) == changes


def test_the_same_changes_handed_over_twice_leave_the_same_alerts(tmp_path: Path) -> None:
    once, twice = NxStore(tmp_path / "once"), NxStore(tmp_path / "twice")
    engines = {id(s): AlertEngine(s) for s in (once, twice)}
    for batch in alert_batches():
        engines[id(once)].process(once.apply_batch(batch, {}, "g").changes)
        changes = twice.apply_batch(batch, {}, "g").changes
        engines[id(twice)].process(changes)
        engines[id(twice)].process(changes)
        assert alerts_of(twice) == alerts_of(once)
    assert sorted((a["type"], a["status"]) for a in alerts_of(once)) == [("lease_upstream", "open"), ("transfer", "resolved")]


def test_pending_changes_are_kept_until_dropped_and_saved_with_the_graph(tmp_path: Path) -> None:
    store = NxStore(tmp_path, save_interval_s=3600)
    batches = alert_batches()
    first = store.apply_batch(batches[0], {("relationships", 0): 2}, GROUP, keep_changes=True)
    second = store.apply_batch(batches[1], {("relationships", 0): 3}, GROUP, keep_changes=True)
    bare = store.apply_batch(batches[2], {}, "other")  # without keep_changes: no record
    assert first.pending_id and second.pending_id and bare.pending_id is None
    assert [p.batch_id for p in store.pending_changes(GROUP)] == [first.pending_id, second.pending_id]
    assert store.pending_changes("other") == []
    store.drop_pending_changes(GROUP, first.pending_id)
    store.drop_pending_changes(GROUP, first.pending_id)  # gone already: nothing
    store.close()
    reopened = NxStore(tmp_path)
    (kept,) = reopened.pending_changes(GROUP)
    assert (kept.batch_id, kept.changes) == (second.pending_id, second.changes)
    assert reopened.stored_offsets(GROUP) == {("relationships", 0): 3}
    assert "PendingChanges" not in json.dumps(reopened.canonical_dump())


CRASH_AFTER_BATCHES = """
import os, sys
sys.path.insert(0, {tests!r})
from pathlib import Path
from graph_events import alert_batches
GROUP = {group!r}
from chainrisk.graph.stores.nx_store import NxStore

store = NxStore(Path({state!r}))
for batch in alert_batches()[:2]:
    store.apply_batch(batch, {{}}, GROUP, keep_changes=True)
    store.save()  # the periodic snapshot, taken before the hook ran
os._exit(17)  # killed before the alerts hook ran: no close(), no alerts
"""


def test_a_batch_applied_just_before_a_crash_raises_its_alerts_at_the_next_start(tmp_path: Path) -> None:
    state = tmp_path / "state"
    settings = load_settings(backend="embedded", state_dir=state)
    script = CRASH_AFTER_BATCHES.format(tests=str(Path(__file__).parents[1]), group=settings.consumer_group, state=str(state))
    crashed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert crashed.returncode == 17, crashed.stderr
    before = NxStore(state)
    assert alerts_of(before) == [] and len(before.pending_changes(settings.consumer_group)) == 2
    before.close()

    stats = consume(settings, until_idle=True)
    assert stats.pending_handed_over == 2

    expected = NxStore(tmp_path / "expected")
    engine = AlertEngine(expected)
    for batch in alert_batches()[:2]:
        engine.process(expected.apply_batch(batch, {}, GROUP).changes)
    after = NxStore(state)
    assert alerts_of(after) == alerts_of(expected) != []
    assert after.pending_changes(settings.consumer_group) == []
    published = [json.loads(r.value)["id"] for r in EventLog(state / "log").iter_all("alerts")]
    assert published == [a["id"] for a in alerts_of(expected)]


def test_alerts_ack_persists(tmp_path: Path, run_cli) -> None:  # noqa: ANN001 - the conftest fixture
    state = tmp_path / "state"
    store = NxStore(state)
    engine = AlertEngine(store)
    for batch in alert_batches()[:2]:
        engine.process(store.apply_batch(batch, {}, GROUP).changes)
    store.close()
    (alert,) = alerts_of(NxStore(state))
    done = run_cli("alerts", "--state-dir", str(state), "ack", alert["id"][:8], "--note", "seen")
    assert done.returncode == 0, done.stderr
    listed = run_cli("alerts", "--status", "all", "--format", "json", "--state-dir", str(state))
    (acked,) = json.loads(listed.stdout)
    assert (acked["id"], acked["status"], acked["resolution"]) == (alert["id"], "acknowledged", "acknowledged: seen")
