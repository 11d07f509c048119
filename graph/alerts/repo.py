"""Where alerts live: ``Alert`` nodes in the graph (both backends, same shape).

    (:Alert {alert_id, type, block, status, resolution, old_party, old_party_name, new_party,
             new_party_name, supplied_party, supplied_party_name, changed_at, first_seen, last_seen,
             affected_blocks, affected_lessees, json})
    (:Alert)-[:CONCERNS]->(:Block)            the block whose holder changed
    (:Alert)-[:AFFECTS {depth}]->(:Block)     each leased block in the blast radius

``json`` is the whole alert as published; the other properties are there for Browser queries.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from chainrisk.graph.stores import cypher


def alert_props(alert: dict[str, Any]) -> dict[str, Any]:
    """The Alert node's properties for one alert (as ``Alert.as_dict()`` gives it)."""

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
        **party("old_party"),
        **party("new_party"),
        **party("supplied_party"),
    }
    return {k: v for k, v in props.items() if v is not None and v != []}


class NxAlertRepository:
    """Alerts in the embedded networkx graph."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def load_alerts(self, alert_ids: Iterable[str] | None = None) -> list[dict[str, Any]]:
        g = self.store.g
        if alert_ids is None:
            nodes = [n for n in g.nodes if n[0] == "Alert"]
        else:
            nodes = [("Alert", i) for i in alert_ids if ("Alert", i) in g]
        return sorted((json.loads(g.nodes[n]["json"]) for n in nodes), key=lambda a: (a["changed_at"], a["id"]))

    def save_alerts(self, alerts: list[dict[str, Any]]) -> None:
        self.store._lock_for_writing()  # noqa: SLF001 - the embedded store's single-writer lock
        g = self.store.g
        for alert in alerts:
            node = ("Alert", alert["id"])
            if node in g:
                for u, v, k in [(u, v, k) for u, v, k in g.out_edges(node, keys=True)]:
                    g.remove_edge(u, v, k)
                g.nodes[node].clear()
            g.add_node(node, labels=("Alert",), **alert_props(alert))
            if ("Block", alert["block"]) in g:
                g.add_edge(node, ("Block", alert["block"]), key="CONCERNS", type="CONCERNS")
            for affected in alert["affected"]:
                if ("Block", affected["block"]) in g:
                    g.add_edge(node, ("Block", affected["block"]), key="AFFECTS", type="AFFECTS", depth=affected["depth"])
        # saved with the graph and the consumer offsets (periodically and on close), so alerts and
        # the batches that raised them are persisted together
        self.store._dirty = True  # noqa: SLF001


class NeoAlertRepository:
    """Alerts in Neo4j."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def load_alerts(self, alert_ids: Iterable[str] | None = None) -> list[dict[str, Any]]:
        with self.store._session() as session:  # noqa: SLF001
            if alert_ids is None:
                rows = session.run(cypher.ALL_ALERTS)
            else:
                rows = session.run(cypher.ALERTS_BY_ID, ids=sorted(alert_ids))
            alerts = [json.loads(r["json"]) for r in rows]
        return sorted(alerts, key=lambda a: (a["changed_at"], a["id"]))

    def save_alerts(self, alerts: list[dict[str, Any]]) -> None:
        rows = [
            {"id": a["id"], "block": a["block"], "props": alert_props(a),
             "affected": [{"block": x["block"], "depth": x["depth"]} for x in a["affected"]]}
            for a in alerts
        ]

        def work(tx: Any) -> None:
            tx.run(cypher.SAVE_ALERTS, rows=rows).consume()

        if not getattr(self.store, "_alert_schema_ready", False):
            with self.store._session() as session:  # noqa: SLF001
                session.run(cypher.ALERT_SCHEMA).consume()
            self.store._alert_schema_ready = True  # noqa: SLF001

        with self.store._session() as session:  # noqa: SLF001
            session.execute_write(work)


def alert_repository(store: Any) -> NxAlertRepository | NeoAlertRepository:
    """The repository that matches the store's backend."""
    from chainrisk.graph.stores.nx_store import NxStore

    return NxAlertRepository(store) if isinstance(store, NxStore) else NeoAlertRepository(store)
