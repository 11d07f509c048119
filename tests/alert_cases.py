"""The alert operations of a graph store (``load_alerts``, ``save_alerts``, acknowledging through
them), run step by step on any store: the embedded store's results are checked in
tests/unit/test_alert_store.py, Neo4j's are compared with them in
tests/integration/test_alert_store_neo4j.py.

SYNTHETIC DATA in 240.0.0.0/4 and RFC 5737 prefixes.
"""
from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any

from graph_events import day, lease, prov, transfer

from chainrisk.analysis.holder_changes import AffectedLease, Alert, Evidence, PartyRef
from chainrisk.graph.alerts.engine import acknowledge

WIDE = "240.9.0.0/16"  # transferred: exists as a Block
LEASED_1, LEASED_2 = "240.9.1.0/24", "240.9.2.0/24"
ABSENT = "198.51.100.0/24"  # no event names it: no Block node
GONE = "240.9.3.0/24"  # an affected block the graph does not have


def graph_events() -> list[Any]:
    return [
        lease(LEASED_1, "Holder A", "Lessee X"),
        lease(LEASED_2, "Holder A", "Up 1", recipient_role="upstream"),
        lease(LEASED_2, "Up 1", "Lessee Y", provider_role="upstream"),
        transfer(WIDE, "Holder A", "Holder B", 30, observed=31),
    ]


def _evidence(observed: int, event_id: str, detail: str) -> Evidence:
    p = prov(observed)
    return Evidence(p.source, p.reference, p.line, p.offset, event_id, p.observed_at, detail)


def transfer_alert() -> Alert:
    """Opened by a transfer of WIDE; cuts into both leased blocks and a block the graph lacks."""
    return Alert(
        alert_id="a1" * 8, kind="transfer", block=WIDE, old_party=PartyRef("holder a", "Holder A"),
        new_party=PartyRef("holder b", "Holder B"), changed_at=day(30), evidence=[_evidence(31, "e-transfer", "transfer")],
        affected=[AffectedLease(LEASED_1, ("Lessee X",), 0, date(2026, 1, 1)),
                  AffectedLease(LEASED_2, ("Lessee Y",), 0, date(2026, 1, 1)),
                  AffectedLease(GONE, ("Lessee Z",), 0, date(2026, 1, 1))],
        first_seen=day(31), last_seen=day(31),
    )


def upstream_alert() -> Alert:
    """A replaced upstream of a block the graph has no node for; changed before the transfer."""
    return Alert(
        alert_id="0b" * 8, kind="lease_upstream", block=ABSENT, old_party=PartyRef("up 1", "Up 1"), new_party=None,
        changed_at=day(10), evidence=[_evidence(10, "e-hop", "hop Up 1 -> Lessee Y removed")],
        affected=[AffectedLease(LEASED_2, ("Lessee Y",), 1, date(2026, 1, 1))],
        first_seen=day(10), last_seen=day(10), supplied_party=PartyRef("lessee y", "Lessee Y"),
    )


def resolved_transfer_alert() -> Alert:
    """transfer_alert() resolved by a later transfer back, its blast radius now LEASED_1 only."""
    alert = transfer_alert()
    return dataclasses.replace(
        alert, status="resolved", resolution="reverted: transfer back (test)", last_seen=day(41),
        evidence=[*alert.evidence, _evidence(41, "e-back", "transfer back")], affected=alert.affected[:1],
    )


def alert_elements(store: Any) -> dict[str, Any]:
    """The Alert nodes and their CONCERNS / AFFECTS relationships, as ``canonical_dump`` gives them."""
    dump = store.canonical_dump()
    return {"nodes": [n for n in dump["nodes"] if "Alert" in n["labels"]],
            "rels": [r for r in dump["relationships"] if r["type"] in ("CONCERNS", "AFFECTS")]}


def observe(store: Any) -> dict[str, Any]:
    return {
        "all": store.load_alerts(),
        "by_id": store.load_alerts([upstream_alert().alert_id, "f" * 16, upstream_alert().alert_id]),
        "none": store.load_alerts([]),
        "elements": alert_elements(store),
    }


def run_alert_operations(store: Any) -> dict[str, Any]:
    """Load the graph, then save, replace and acknowledge alerts; what the store shows after each
    step (plus the acknowledged alert and the errors of acknowledging no / an ambiguous alert)."""
    store.apply_batch(graph_events(), {}, "alert-cases")
    steps: dict[str, Any] = {"empty": observe(store)}
    store.save_alerts([transfer_alert().as_dict(), upstream_alert().as_dict()])
    steps["saved"] = observe(store)
    store.save_alerts([resolved_transfer_alert().as_dict()])
    steps["replaced"] = observe(store)
    steps["acknowledged"] = acknowledge(store, upstream_alert().alert_id[:6], "seen")
    steps["after_ack"] = observe(store)
    errors = []
    for wanted in ("f" * 16, ""):  # no alert; every alert (ambiguous)
        try:
            acknowledge(store, wanted)
        except KeyError as exc:
            errors.append(exc.args[0])
    steps["ack_errors"] = errors
    return steps
