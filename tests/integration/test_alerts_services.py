"""Alerts and analysis through Kafka + Neo4j agree with the embedded backend on the same input:
a lease register, the real ARIN transfer record, the AFRINIC delegated snapshots 2023 -> 2026, and a
register update that replaces an upstream. The alerts topic carries what the store holds.

Alerts exactly once: a batch's changes are stored with the batch (a PendingChanges record in its
transaction), so a crash between the commit and the alerts hook loses no alert - the next consumer
start hands them over - and handing the same changes over again leaves the same alerts."""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from graph_events import alert_batches

from chainrisk.analysis.blocks import analyse_portfolio
from chainrisk.analysis.exposure import exposure
from chainrisk.graph.alerts.engine import AlertEngine, alert_hook
from chainrisk.graph.backend import open_sink, open_store
from chainrisk.graph.config import Settings, load_settings
from chainrisk.graph.consumer import consume
from chainrisk.graph.eventlog.kafka_io import ensure_topics
from chainrisk.graph.stores.neo4j_store import NeoStore
from chainrisk.graph.stores.nx_store import NxStore
from chainrisk.ingest import delegated, leases, transfers
from chainrisk.ingest.common import run_ingest

pytestmark = pytest.mark.services

REAL = Path(__file__).resolve().parents[3] / "shared" / "data" / "real"
REGISTER_V1 = """block,provider,provider_role,recipient,recipient_role,start_date,end_date,lessee_asn
162.208.49.0/24,Database By Design LLC,holder,LeaseCo Platform,upstream,2025-01-01,2027-01-01,
162.208.49.0/24,LeaseCo Platform,upstream,Acme Hosting,lessee,2025-02-01,2026-12-31,AS64500
41.74.130.0/24,AfriHold,holder,Broker One,broker,2022-01-01,2027-01-01,
41.74.130.0/24,Broker One,broker,Lagos Cloud,lessee,2022-02-01,2027-01-01,64501
41.74.130.0/24,AfriHold,holder,Broker Two,broker,2022-01-01,2026-06-01,
41.74.130.0/24,Broker Two,broker,Lagos Cloud,lessee,2022-02-01,2027-06-01,64501
"""


@pytest.fixture
def services(isolated_services: Callable[..., Settings]) -> Settings:
    """Services settings with a fresh topic prefix and group (topics deleted afterwards), on an emptied database."""
    fresh = isolated_services("alerts")
    store = NeoStore(fresh)
    store.ensure_schema()
    store.wipe()
    store.close()
    return fresh


@pytest.fixture
def neo(services: Settings) -> Iterator[NeoStore]:
    """The Neo4j store of ``services`` (which emptied the database)."""
    store = NeoStore(services)
    yield store
    store.close()


def _run_scenario(settings: Settings, tmp_path: Path) -> None:
    """Ingest the scenario step by step, consuming after each step (alerts depend on what came before)."""
    for name in ("transfers/arin_transfers_example_from_nro-transfer-log-draft.json",
                 "delegated_stats/delegated-afrinic-extended-20230323.txt",
                 "delegated_stats/delegated-afrinic-extended-20260821.txt"):
        if not (REAL / name).is_file():
            pytest.skip(f"real sample {name} not present under {REAL}")
    v1, v2 = tmp_path / "v1.csv", tmp_path / "v2.csv"
    v1.write_text(REGISTER_V1)
    v2.write_text(REGISTER_V1.replace("LeaseCo Platform", "Other Platform"))
    steps: list[tuple[Any, Path, datetime | None]] = [
        (leases.parse, v1, datetime(2026, 1, 1, tzinfo=timezone.utc)),
        (transfers.parse, REAL / "transfers/arin_transfers_example_from_nro-transfer-log-draft.json", None),
        (delegated.parse, REAL / "delegated_stats/delegated-afrinic-extended-20230323.txt", None),
        (delegated.parse, REAL / "delegated_stats/delegated-afrinic-extended-20260821.txt", None),
        (leases.make_parser([v2], replaces=v1), v2, datetime(2026, 6, 1, tzinfo=timezone.utc)),
    ]
    for parse, path, observed_at in steps:
        sink = open_sink(settings)
        try:
            run_ingest(parse, [path], sink, observed_at=observed_at)
        finally:
            sink.close()
        consume(settings, until_idle=True)


def _results(settings: Settings) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    store = open_store(settings)
    try:
        alerts = store.load_alerts(None)
        analysis = analyse_portfolio(store.load_portfolio(), date(2026, 11, 1))
    finally:
        store.close()
    blocks = [b.as_dict() for b in analysis.blocks]
    return alerts, blocks, [e.as_dict() for e in exposure(analysis)]


def test_alerts_and_analysis_agree_between_backends(services: Settings, tmp_path: Path) -> None:
    # the holder-change alerts; the continuous analysis' risk alerts name as evidence the events of
    # the batch that raised them, and Kafka batches the step's events otherwise than the embedded
    # log (tests/integration/test_continuous_services.py compares the kept results)
    embedded = load_settings(backend="embedded", state_dir=tmp_path / "embedded", continuous_analysis=False)
    services = services.model_copy(update={"continuous_analysis": False})
    _run_scenario(embedded, tmp_path)
    _run_scenario(services, tmp_path)
    e_alerts, e_blocks, e_exposure = _results(embedded)
    s_alerts, s_blocks, s_exposure = _results(services)

    assert sorted((a["type"], a["block"]) for a in s_alerts) == [
        ("delegation_holder", "41.74.128.0/20"),
        ("lease_upstream", "162.208.49.0/24"),
        ("transfer", "162.208.48.0/22"),
    ]
    assert s_alerts == e_alerts
    assert s_blocks == e_blocks
    assert s_exposure == e_exposure
    lagos = next(b for b in s_blocks if b["block"] == "41.74.130.0/24")
    assert (lagos["depth_min"], lagos["depth_max"], lagos["spofs"]) == (2, 2, ["AfriHold"])


def test_alerts_topic_carries_the_stored_alerts(services: Settings, tmp_path: Path) -> None:
    _run_scenario(services, tmp_path)
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(services.topic("alerts"), auto_offset_reset="earliest", enable_auto_commit=False, group_id=None,
                             consumer_timeout_ms=5000, **services.kafka_client_config())
    published: dict[str, dict[str, Any]] = {}
    try:
        for record in consumer:
            alert = json.loads(record.value)
            assert record.key.decode() == alert["block"]
            published[alert["id"]] = alert  # the latest version of each alert wins
    finally:
        consumer.close()
    store = open_store(services)
    try:
        stored = {a["id"]: a for a in store.load_alerts(None)}
    finally:
        store.close()
    assert published == stored


# --- exactly once: the pending-changes outbox ----------------------------------------------------------


def _count(neo: NeoStore, label: str) -> int:
    with neo.driver.session(database=neo.database) as session:  # a test probe
        return int(session.run(f"MATCH (n:{label}) RETURN count(n) AS n").single()["n"])


def _embedded_alerts(tmp_path: Path, batches: list[list[Any]]) -> list[dict[str, Any]]:
    """The alerts of an embedded store whose hook ran after every batch."""
    store = NxStore(tmp_path / "embedded")
    engine = AlertEngine(store)
    for batch in batches:
        engine.process(store.apply_batch(batch, {}, "embedded").changes)
    return store.load_alerts(None)


def test_alerts_of_batches_applied_before_a_crash_are_raised_at_the_next_start(services: Settings, neo: NeoStore,
                                                                                tmp_path: Path) -> None:
    batches = alert_batches()[:2]
    # the consumer's transactions, then a crash before its hook ran
    results = [neo.apply_batch(batch, {}, services.consumer_group, keep_changes=True) for batch in batches]
    assert all(r.pending_id and r.changes for r in results)
    assert (_count(neo, "Alert"), _count(neo, "PendingChanges")) == (0, 2)
    embedded = NxStore(tmp_path / "graph-only")
    for batch in batches:
        embedded.apply_batch(batch, {}, "g")
    assert neo.canonical_dump() == embedded.canonical_dump()  # the records are machinery, not graph

    stats = consume(services, until_idle=True)
    assert stats.pending_handed_over == 2 and stats.records == 0
    alerts = neo.load_alerts(None)
    assert [(a["type"], a["block"], a["status"]) for a in alerts] == [("transfer", "240.9.0.0/16", "open")]
    assert alerts == _embedded_alerts(tmp_path, batches)
    assert neo.pending_changes(services.consumer_group) == [] and _count(neo, "PendingChanges") == 0


def test_changes_handed_over_twice_leave_identical_alerts(services: Settings, neo: NeoStore, tmp_path: Path) -> None:
    ensure_topics(services)  # the hook publishes to the alerts topic before a consumer made it
    batches = alert_batches()
    results = [neo.apply_batch(batch, {}, services.consumer_group, keep_changes=True) for batch in batches]
    other_group = neo.apply_batch(batches[0], {}, "another-group", keep_changes=True)  # duplicates only: no record
    assert other_group.changes == [] and other_group.pending_id is None
    pending = neo.pending_changes(services.consumer_group)
    assert [p.batch_id for p in pending] == [r.pending_id for r in results]  # oldest first
    assert [p.changes for p in pending] == [r.changes for r in results]  # the exact changes, decoded

    on_changes, close = alert_hook(services, neo)
    try:
        for record in pending:
            on_changes(record.changes)
        first = neo.load_alerts(None)
        for record in pending:
            on_changes(record.changes)
        second = neo.load_alerts(None)
    finally:
        close()
    assert sorted((a["type"], a["status"]) for a in first) == [("lease_upstream", "open"), ("transfer", "resolved")]
    assert second == first

    # the consumer hands the records over a third time at start, then drops them
    stats = consume(services, until_idle=True)
    assert stats.pending_handed_over == len(batches)
    assert neo.load_alerts(None) == first
    assert _count(neo, "PendingChanges") == 0

    # the embedded store, the same way: apply everything, then hand the records over
    embedded_settings = load_settings(backend="embedded", state_dir=tmp_path / "embedded")
    local = NxStore(embedded_settings.state_dir)
    for batch in batches:
        local.apply_batch(batch, {}, services.consumer_group, keep_changes=True)
    local.close()
    consume(embedded_settings.model_copy(update={"consumer_group": services.consumer_group}), until_idle=True)
    assert NxStore(embedded_settings.state_dir).load_alerts(None) == first
