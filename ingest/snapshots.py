"""Full snapshots: which facts a complete file of a snapshot format speaks for, and how they are named.

A *snapshot* is everything one file says about one *scope*; a complete newer snapshot of a scope
supersedes the previous one: what the previous one held and the new one lacks is retracted by the
consumer (graph/stores/snapshots.py). The scope of a fact is its type and the value of one field:

| fact type | scope field | so a snapshot is |
|---|---|---|
| vrp | ``ta`` | the VRPs of one trust anchor in one export (a trust anchor the export does not name keeps its VRPs) |
| nonfunctional_ca | ``ta`` | the non-functional CAs an rpki-client export lists under one trust anchor (none listed: an empty snapshot) |
| route_origin | ``source`` (provenance) | one pfx2as (caida-pfx2as) or ip2asn (iptoasn) file |
| blocklist_entry | ``list_name`` | one DROP or EDROP list |
| delegation | ``registry`` | one RIR's delegated(-extended) file |
| registration | ``registry`` | the inetnum objects of one registry's dump (RPSL split dump, ARIN bulk NetHandle records) |
| route_object | ``registry`` | the route objects of one registry's dump |
| asn_listing | ``list_name`` | one ASN-DROP list |
| aspa | ``source`` (provenance) | the ASPAs of one validator export (rpki-client) |
| as_path | ``source`` (provenance) | one ``bgpdump -m`` RIB dump |

Every fact event of a snapshot carries the snapshot's id in ``provenance.snapshot``; after the file
was read to its end (no read error, no reject, no ``--limit``, no interruption) the ingest publishes
one :class:`~chainrisk.ingest.events.SnapshotEnd` per scope with the number of events it published.
The id is new for every ingest run (a random part), so the consumer's count of a snapshot's events
cannot mix two runs of the same file (a run cut short would otherwise count toward a later full one,
and its sweep could run before all the facts it keeps were applied). An identical file ingested again
is still a no-op: the consumer drops a snapshot whose every event it already held when a complete one
of the same scope, source, date and size exists (graph/stores/snapshots.py). What a complete snapshot
changes against the scope's previous one (added, changed, unchanged, retracted) the ingest tells
from its own record of that one (ingest/snapshot_state.py), without reading the graph.
"""
from __future__ import annotations

import hashlib
from typing import Any

SCOPE_FIELD: dict[str, str] = {
    "vrp": "ta",
    "nonfunctional_ca": "ta",
    "route_origin": "source",
    "blocklist_entry": "list_name",
    "delegation": "registry",
    "registration": "registry",
    "route_object": "registry",
    "asn_listing": "list_name",
    "aspa": "source",
    "as_path": "source",
}
SNAPSHOT_TYPES = frozenset(SCOPE_FIELD)


def scope_of(event: Any) -> str | None:
    """The scope value of a fact event (None for a type that has no snapshots)."""
    name = SCOPE_FIELD.get(event.type)
    if name is None:
        return None
    return str(event.provenance.source if name == "source" else getattr(event, name))


def scope_label(fact_type: str, scope: str) -> str:
    """How summaries and logs name a scope: ``vrp ta=ripe``."""
    return f"{fact_type} {SCOPE_FIELD.get(fact_type, 'scope')}={scope}"


def snapshot_id(run: str, reference: str, fact_type: str, scope: str) -> str:
    """The id of the snapshot of one scope in one file of one ingest run (``run``: random per run)."""
    return hashlib.sha256(f"{run}|{reference}|{fact_type}|{scope}".encode()).hexdigest()[:32]
