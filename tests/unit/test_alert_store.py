"""The embedded store's alert operations (the GraphStore protocol's ``load_alerts`` /
``save_alerts``, and acknowledging through them): what each step stores and gives back, the Alert
node's shape, and persistence. Neo4j gives the same: tests/integration/test_alert_store_neo4j.py."""
from __future__ import annotations

import json
from pathlib import Path

from alert_cases import (
    ABSENT,
    GONE,
    LEASED_1,
    LEASED_2,
    WIDE,
    resolved_transfer_alert,
    run_alert_operations,
    transfer_alert,
    upstream_alert,
)

from chainrisk.graph.stores.alerts import alert_props
from chainrisk.graph.stores.nx_store import NxStore


def _links(elements: dict) -> set[tuple]:
    return {(r["type"], r["start"][1], r["end"][1], r["props"].get("depth")) for r in elements["rels"]}


def test_alert_operations_of_the_embedded_store(tmp_path: Path) -> None:
    store = NxStore(tmp_path, save_interval_s=3600)
    steps = run_alert_operations(store)
    transfer, upstream, resolved = transfer_alert().as_dict(), upstream_alert().as_dict(), resolved_transfer_alert().as_dict()

    assert steps["empty"] == {"all": [], "by_id": [], "none": [], "elements": {"nodes": [], "rels": []}}

    saved = steps["saved"]
    assert saved["all"] == [upstream, transfer]  # by change date (day 10 before day 30), not by id
    assert saved["by_id"] == [upstream]  # an unknown id left out, a repeated one given once
    assert saved["none"] == []
    assert _links(saved["elements"]) == {  # links only to blocks the graph has: not ABSENT, not GONE
        ("CONCERNS", transfer["id"], WIDE, None),
        ("AFFECTS", transfer["id"], LEASED_1, 0),
        ("AFFECTS", transfer["id"], LEASED_2, 0),
        ("AFFECTS", upstream["id"], LEASED_2, 1),
    }
    assert {ABSENT, GONE}.isdisjoint(b for _, _, b, _ in _links(saved["elements"]))

    replaced = steps["replaced"]
    assert replaced["all"] == [upstream, resolved]
    assert _links(replaced["elements"]) == {  # the replaced alert's old AFFECTS are gone
        ("CONCERNS", transfer["id"], WIDE, None),
        ("AFFECTS", transfer["id"], LEASED_1, 0),
        ("AFFECTS", upstream["id"], LEASED_2, 1),
    }

    acked = steps["acknowledged"]
    assert (acked["id"], acked["status"], acked["resolution"]) == (upstream["id"], "acknowledged", "acknowledged: seen")
    assert steps["after_ack"]["all"] == [acked, resolved]
    assert {k: v for k, v in acked.items() if k not in ("status", "resolution")} == \
        {k: v for k, v in upstream.items() if k not in ("status", "resolution")}
    assert steps["ack_errors"] == ["f" * 16, " is ambiguous (2 alerts)"]

    store.close()
    reopened = NxStore(tmp_path)
    assert reopened.load_alerts() == steps["after_ack"]["all"]  # saved with the graph


def test_the_alert_node_holds_the_alert_for_browser_queries(tmp_path: Path) -> None:
    store = NxStore(tmp_path, save_interval_s=3600)
    run_alert_operations(store)
    node = store.g.nodes[("Alert", resolved_transfer_alert().alert_id)]
    props = {k: v for k, v in node.items() if k != "labels"}
    assert node["labels"] == ("Alert",)
    assert props == alert_props(resolved_transfer_alert().as_dict())
    assert (props["status"], props["resolution"], props["block"]) == ("resolved", "reverted: transfer back (test)", WIDE)
    assert (props["old_party"], props["old_party_name"], props["new_party"]) == ("holder a", "Holder A", "holder b")
    assert (props["affected_blocks"], props["affected_lessees"]) == ([LEASED_1], ["Lessee X"])
    assert json.loads(props["json"]) == resolved_transfer_alert().as_dict()
    assert "supplied_party" not in props  # absent values are not stored

    upstream = store.g.nodes[("Alert", upstream_alert().alert_id)]
    assert (upstream["supplied_party"], upstream["supplied_party_name"]) == ("lessee y", "Lessee Y")
    assert "new_party" not in upstream and upstream["status"] == "acknowledged"
