"""Holder-change alerts end to end on the embedded backend, from real registry data: the ARIN
transfer record, the AFRINIC delegated 2023 -> 2026 snapshots, and a lease register update."""
from __future__ import annotations

import ipaddress
from datetime import datetime, timezone
from pathlib import Path

import pytest

from chainrisk.graph.backend import open_sink, open_store
from chainrisk.graph.config import load_settings
from chainrisk.graph.consumer import consume
from chainrisk.ingest import delegated, leases, transfers
from chainrisk.ingest.common import run_ingest

ARIN_TRANSFER = "transfers/arin_transfers_example_from_nro-transfer-log-draft.json"
AFRINIC_2023 = "delegated_stats/delegated-afrinic-extended-20230323.txt"
AFRINIC_2026 = "delegated_stats/delegated-afrinic-extended-20260821.txt"

REGISTER_V1 = """block,provider,provider_role,recipient,recipient_role,start_date,end_date,lessee_asn
162.208.49.0/24,Database By Design LLC,holder,LeaseCo Platform,upstream,2025-01-01,2027-01-01,
162.208.49.0/24,LeaseCo Platform,upstream,Acme Hosting,lessee,2025-02-01,2026-12-31,AS64500
162.208.50.0/25,Database By Design LLC,holder,Late Lessee,lessee,2026-05-01,2027-05-01,64502
41.74.130.0/24,AfriHold,holder,Broker One,broker,2022-01-01,2027-01-01,
41.74.130.0/24,Broker One,broker,Lagos Cloud,lessee,2022-02-01,2027-01-01,64501
41.79.253.0/24,KenyaHold,holder,Nairobi Edge,lessee,2021-06-01,2027-01-01,64503
"""


def _ingest(settings, module, path: Path, observed_at: datetime | None = None) -> None:
    sink = open_sink(settings)
    try:
        run_ingest(module.parse, [path], sink, observed_at=observed_at)
    finally:
        sink.close()
    consume(settings, until_idle=True)


def _alerts(settings) -> dict[tuple[str, str], dict]:
    store = open_store(settings)
    try:
        return {(a["type"], a["block"]): a for a in store.load_alerts(None)}
    finally:
        store.close()


@pytest.fixture
def settings(tmp_path: Path):
    s = load_settings(backend="embedded", state_dir=tmp_path / "state")
    register = tmp_path / "v1.csv"
    register.write_text(REGISTER_V1)
    _ingest(s, leases, register, datetime(2026, 1, 1, tzinfo=timezone.utc))
    return s


def test_arin_transfer_alert_names_the_leases_it_cuts_into(settings, real_sample):
    _ingest(settings, transfers, real_sample(ARIN_TRANSFER))
    alert = _alerts(settings)[("transfer", "162.208.48.0/22")]
    assert alert["old_party"]["name"] == "Database By Design LLC"
    assert alert["new_party"]["name"] == "The AES Corporation"
    assert alert["changed_at"].startswith("2026-04-14")
    assert alert["evidence"][0]["source"] and alert["evidence"][0]["reference"].endswith(Path(ARIN_TRANSFER).name)
    # 162.208.50.0/25 was leased after the transfer (2026-05-01): not in the blast radius
    assert [(a["block"], a["lessees"], a["depth"]) for a in alert["affected"]] == [("162.208.49.0/24", ["Acme Hosting"], 0)]
    assert alert["status"] == "open"


def test_afrinic_holder_id_change_and_reclaim_alerts(settings, real_sample):
    _ingest(settings, delegated, real_sample(AFRINIC_2023))
    assert _alerts(settings) == {}  # a first snapshot is no change
    _ingest(settings, delegated, real_sample(AFRINIC_2026))
    alerts = _alerts(settings)
    holder = alerts[("delegation_holder", "41.74.128.0/20")]
    assert (holder["old_party"]["key"], holder["new_party"]["key"]) == ("afrinic:f36b5aad", "afrinic:f36c2bf2")
    assert [(a["block"], a["lessees"], a["depth"]) for a in holder["affected"]] == [("41.74.130.0/24", ["Lagos Cloud"], 0)]
    # 41.79.252.0/22 moved from KE/F36341BD to ZA/F3650F65
    moved = [a for (kind, block), a in alerts.items()
             if ipaddress.ip_network("41.79.253.0/24").subnet_of(ipaddress.ip_network(block))]
    assert [(a["type"], a["old_party"]["key"], a["new_party"]["key"]) for a in moved] == [
        ("delegation_holder", "afrinic:f36341bd", "afrinic:f3650f65")]
    assert moved[0]["affected"][0]["lessees"] == ["Nairobi Edge"]
    # every alert is about a block that really changed between the snapshots, and nothing leased is outside
    assert all(a["affected"] for a in alerts.values())


def test_lease_register_update_of_an_upstream(settings, tmp_path):
    v1 = tmp_path / "v1.csv"
    v2 = tmp_path / "v2.csv"
    v2.write_text(REGISTER_V1.replace("LeaseCo Platform", "Other Platform"))
    sink = open_sink(settings)
    try:
        parse = leases.make_parser([v2], replaces=v1)
        run_ingest(parse, [v2], sink, observed_at=datetime(2026, 6, 1, tzinfo=timezone.utc))
    finally:
        sink.close()
    consume(settings, until_idle=True)
    alerts = [a for a in _alerts(settings).values() if a["type"] == "lease_upstream"]
    # one alert: Acme Hosting's supplier LeaseCo -> Other (LeaseCo's own removal is the same change)
    assert [(a["block"], a["old_party"]["name"], a["new_party"]["name"], a["supplied_party"]["name"]) for a in alerts] == [
        ("162.208.49.0/24", "LeaseCo Platform", "Other Platform", "Acme Hosting")]
    assert [(x["block"], x["lessees"], x["depth"]) for x in alerts[0]["affected"]] == [("162.208.49.0/24", ["Acme Hosting"], 2)]


def test_alerts_are_idempotent_and_revert_resolves(settings, tmp_path, real_sample):
    _ingest(settings, transfers, real_sample(ARIN_TRANSFER))
    _ingest(settings, transfers, real_sample(ARIN_TRANSFER))  # the same file again
    (alert,) = [a for a in _alerts(settings).values() if a["type"] == "transfer"]
    assert len(alert["evidence"]) == 1
    back = tmp_path / "back.json"
    back.write_text(real_sample(ARIN_TRANSFER).read_text()
                    .replace('"Database By Design LLC"', '"__SWAP__"')
                    .replace('"The AES Corporation"', '"Database By Design LLC"')
                    .replace('"__SWAP__"', '"The AES Corporation"')
                    .replace("2026-04-14", "2026-09-30"))
    _ingest(settings, transfers, back)
    (alert,) = [a for a in _alerts(settings).values() if a["type"] == "transfer"]
    assert alert["status"] == "resolved" and alert["resolution"].startswith("reverted")
