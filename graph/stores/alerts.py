"""The Alert node, the same in both stores:

    (:Alert {alert_id, type, block, status, resolution, old_party, old_party_name, new_party,
             new_party_name, supplied_party, supplied_party_name, changed_at, first_seen, last_seen,
             affected_blocks, affected_lessees, json})
    risk-change alerts also: {subject, subject_name, causes, figures, open_blocks}
    (:Alert)-[:CONCERNS]->(:Block)            the block whose holder changed (a risk alert: the
                                              smallest block covering its blocks)
    (:Alert)-[:AFFECTS {depth}]->(:Block)     each leased block in the blast radius (a risk alert's
                                              blocks: no depth)

``json`` is the whole alert as published (``Alert.as_dict()``), what ``load_alerts`` gives back;
the other properties are there for Browser queries. A link is made only to a block that exists.
"""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any

ALERT_LABEL = "Alert"
CONCERNS = "CONCERNS"
AFFECTS = "AFFECTS"


def alert_props(alert: dict[str, Any]) -> dict[str, Any]:
    """The Alert node's properties for one alert (as ``Alert.as_dict()`` gives it); absent values
    (None, empty lists) are not stored."""

    def party(field: str) -> dict[str, Any]:
        p = alert.get(field) or {}
        return {field: p.get("key"), f"{field}_name": p.get("name")}

    props: dict[str, Any] = {
        "alert_id": alert["id"],
        "type": alert["type"],
        "block": alert["block"],
        "status": alert["status"],
        "resolution": alert.get("resolution"),
        "changed_at": datetime.fromisoformat(alert["changed_at"]),
        "first_seen": datetime.fromisoformat(alert["first_seen"]),
        "last_seen": datetime.fromisoformat(alert["last_seen"]),
        "affected_blocks": [a["block"] for a in alert["affected"]],
        "affected_lessees": sorted({lessee for a in alert["affected"] for lessee in a["lessees"]}),
        "json": json.dumps(alert, sort_keys=True),
        # risk-change alerts (analysis/risk_alerts.py): what they are about, why, each block's figure
        "subject": alert.get("subject") or None,
        "subject_name": alert.get("subject_name") or None,
        "causes": alert.get("causes"),
        "figures": [f"{a['block']}: {a['before']} -> {a['after']}" for a in alert["affected"] if "before" in a],
        "open_blocks": [a["block"] for a in alert["affected"] if a.get("status") == "open"],
        **party("old_party"),
        **party("new_party"),
        **party("supplied_party"),
    }
    return {k: v for k, v in props.items() if v is not None and v != []}


def affected_links(alert: dict[str, Any]) -> list[tuple[str, int | None]]:
    """``(block, depth)`` of each AFFECTS link of the alert (depth None: a risk alert's block,
    whose link has no depth)."""
    return [(a["block"], a.get("depth")) for a in alert["affected"]]
