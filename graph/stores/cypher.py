"""Every Cypher statement the Neo4j store runs. All values travel as parameters; rows are batched
with ``UNWIND``. Labels, relationship types and property names are never user input: the few
statements made per label below are built from the fixed model tables in ``graph/stores/records.py``."""
from __future__ import annotations

import re

from chainrisk.graph.stores.portfolio import HOP_FIELDS
from chainrisk.graph.stores.records import (
    FACT_LABEL,
    IDENTITY_PROP,
    LINKS,
    PROP_NAMES,
    PROVIDER_ROLE_LABEL,
    RECIPIENT_ROLE_LABEL,
    ROLE_LABELS,
    TEMPORAL_PROPS,
    VERSION_PROPS,
    Link,
    identity_prop,
)


def _temporals(var: str, source: str, props: tuple[tuple[str, str], ...]) -> str:
    """SET items turning the ISO text the store sends for temporal properties into Neo4j
    ``Date`` / ``DateTime`` (packing Python temporals in the driver costs ~0.2 ms each)."""
    return ", ".join(f"{var}.{name} = {kind}({source}.{name})" for name, kind in props)


_PROVENANCE_TIMES = (("observed_at", "datetime"), ("ingested_at", "datetime"))


def _literal_map(event_type: str, source: str) -> str:
    """A map literal of every property of the type's fact element, read from ``source`` (temporal
    ones converted). CREATE with a literal map plans without the Eager that ``SET x = map`` adds on
    relationships; absent (null) entries are simply not stored."""
    kinds = dict(TEMPORAL_PROPS[event_type])
    items = []
    for name in PROP_NAMES[event_type]:
        value = f"{source}.`{name}`"
        items.append(f"`{name}`: {kinds[name]}({value})" if name in kinds else f"`{name}`: {value}")
    return "{" + ", ".join(items) + "}"

# --- schema -------------------------------------------------------------------------------------

_UNIQUE_NODES = {"Party": "key", "Block": "prefix", "AS": "asn", "Maintainer": "name", "Meta": "name", "PendingChanges": "batch_id",
                 "Snapshot": "snapshot_id",
                 **{label: "fact_key" for label in FACT_LABEL.values()}, "Retracted": "fact_key"}
_NODE_INDEXES = [("Block", "first"), ("Block", "last"), ("Block", "prefix_length"), ("Vrp", "first"), ("NonfunctionalCa", "first"), ("BgpRoute", "first"),
                 ("RouteObject", "first"), ("Listing", "first"), ("Registration", "first"), ("Delegation", "first"),
                 ("Transfer", "first"), ("Party", "name"), ("AsnListing", "first"), ("Aspa", "first"), ("AsPath", "first")]
_REL_INDEXES = [("LEASES", "block"), ("LEASES", "first"), ("HELD_BY", "valid_to"), ("HELD_BY", "valid_from")]

SCHEMA: list[str] = [
    *(f"CREATE CONSTRAINT {label.lower()}_{prop}_unique IF NOT EXISTS FOR (n:{label}) REQUIRE n.{prop} IS UNIQUE"
      for label, prop in _UNIQUE_NODES.items()),
    "CREATE CONSTRAINT leases_fact_key_unique IF NOT EXISTS FOR ()-[r:LEASES]-() REQUIRE r.fact_key IS UNIQUE",
    "CREATE CONSTRAINT consumer_offset_unique IF NOT EXISTS FOR (n:ConsumerOffset) REQUIRE (n.group, n.topic, n.partition) IS UNIQUE",
    "CREATE CONSTRAINT snapshot_progress_unique IF NOT EXISTS FOR (n:SnapshotProgress) REQUIRE (n.group, n.snapshot_id) IS UNIQUE",
    *(f"CREATE INDEX {label.lower()}_{prop} IF NOT EXISTS FOR (n:{label}) ON (n.{prop})" for label, prop in _NODE_INDEXES),
    *(f"CREATE INDEX {rel.lower()}_{prop} IF NOT EXISTS FOR ()-[r:{rel}]-() ON (r.{prop})" for rel, prop in _REL_INDEXES),
]
AWAIT_INDEXES = "CALL db.awaitIndexes($seconds)"

# --- consumer offsets ---------------------------------------------------------------------------

# Locks the batch's partitions and moves their offsets on in one go, returning the offsets stored
# before: SET takes the node's write lock, so a second consumer's batch on these partitions waits
# here until this transaction ends, then sees the offsets it wrote. A batch that finds a stored
# offset past its start raises OffsetConflict, and its transaction, this SET included, rolls back.
ADVANCE_OFFSETS = """
UNWIND $parts AS p
MERGE (o:ConsumerOffset {group: $group, topic: p.topic, partition: p.partition})
WITH o, p, o.next_offset AS stored
SET o.next_offset = p.next
RETURN o.topic AS topic, o.partition AS partition, stored AS next
"""
STORED_OFFSETS = """
MATCH (o:ConsumerOffset {group: $group}) WHERE o.next_offset IS NOT NULL
RETURN o.topic AS topic, o.partition AS partition, o.next_offset AS next
"""

# --- pending changes (the consumer's outbox, docs/consumer.md) -----------------------------------------

WRITE_PENDING_CHANGES = """
CREATE (:PendingChanges {group: $group, batch_id: $batch_id, written_at: datetime(), changes_json: $changes_json})
"""
PENDING_CHANGES = """
MATCH (n:PendingChanges {group: $group})
RETURN n.batch_id AS batch_id, n.changes_json AS changes_json ORDER BY n.written_at, n.batch_id
"""
DROP_PENDING_CHANGES = "MATCH (n:PendingChanges {batch_id: $batch_id}) WHERE n.group = $group DELETE n"

# --- snapshots (graph/stores/snapshots.py) ------------------------------------------------------------

# a snapshot_end's Snapshot node, once (a replayed end changes nothing)
MERGE_SNAPSHOTS = """
UNWIND $rows AS r
MERGE (s:Snapshot {snapshot_id: r.snapshot_id})
ON CREATE SET s = r, s.observed_at = datetime(r.observed_at), s.ingested_at = datetime(r.ingested_at)
"""
# The group's counts of each snapshot's events, moved on and returned. The first SET takes the
# node's write lock, so the additions read what a concurrent consumer of the group committed.
ADD_SNAPSHOT_PROGRESS = """
UNWIND $rows AS r
MERGE (p:SnapshotProgress {group: $group, snapshot_id: r.snapshot_id})
ON CREATE SET p.seen = 0, p.added = 0, p.changed = 0, p.unchanged = 0, p.stale = 0, p.duplicate = 0, p.done = false
SET p.batches = coalesce(p.batches, 0) + 1
WITH p, r
SET p.seen = p.seen + r.seen, p.added = p.added + r.added, p.changed = p.changed + r.changed,
    p.unchanged = p.unchanged + r.unchanged, p.stale = p.stale + r.stale, p.duplicate = p.duplicate + r.duplicate
RETURN p.snapshot_id AS snapshot_id, properties(p) AS progress
"""
READ_SNAPSHOTS = "UNWIND $ids AS i MATCH (s:Snapshot {snapshot_id: i}) RETURN properties(s) AS props"
# completions of one scope one at a time: the scope's newest complete snapshot is read under this lock
# when the last full analysis wrote its results (an ISO 8601 UTC string, as the embedded store keeps it)
RECORD_FULL_ANALYSIS = "MERGE (m:Meta {name: $name}) SET m.at = $at"
LAST_FULL_ANALYSIS = "MATCH (m:Meta {name: $name}) RETURN m.at AS at"
LOCK_SNAPSHOT_SCOPE = "MERGE (m:Meta {name: $name}) SET m.completions = coalesce(m.completions, 0) + 1"
SCOPE_SNAPSHOTS = ("MATCH (s:Snapshot) WHERE s.fact_type = $fact_type AND s.scope = $scope AND s.status = 'complete' "
                   "RETURN properties(s) AS props")
MARK_PROGRESS_DONE = "MATCH (p:SnapshotProgress {group: $group, snapshot_id: $snapshot_id}) SET p.done = true"
COMPLETE_SNAPSHOT = """
MATCH (s:Snapshot {snapshot_id: $snapshot_id})
SET s += $props, s.supersedes_observed_at = datetime($supersedes_observed_at)
"""
# a pending snapshot whose every event was already applied (the same file again) is no snapshot
DROP_SNAPSHOT = "MATCH (s:Snapshot {snapshot_id: $snapshot_id}) WHERE s.status = 'pending' DETACH DELETE s"
ADD_SNAPSHOT_RETRACTED = "MATCH (s:Snapshot {snapshot_id: $snapshot_id}) SET s.retracted = coalesce(s.retracted, 0) + $retracted"


def sweep_candidates(label: str, scope_field: str) -> str:
    """Live fact nodes of ``label`` in one scope that a snapshot asserted before ``$before``."""
    return (f"MATCH (n:{label}) WHERE n.`{scope_field}` = $scope AND n.snapshot IS NOT NULL AND n.observed_at < datetime($before) "
            "RETURN n.fact_key AS key, properties(n) AS props ORDER BY key")


# --- fact versions --------------------------------------------------------------------------------


def read_versions(label: str) -> str:
    """Stored (observed_at as ISO text, event_id) of live fact nodes of ``label`` by fact_key."""
    return f"UNWIND $keys AS k MATCH (n:{label} {{fact_key: k}}) RETURN k AS key, toString(n.observed_at) AS at, n.event_id AS id"


# The index hints matter: a plan cached while the graph was empty would scan every LEASES
# relationship per key, and Neo4j replans only after its statistics drift far enough.
READ_LEASE_VERSIONS = ("UNWIND $keys AS k MATCH ()-[n:LEASES {fact_key: k}]->() USING INDEX n:LEASES(fact_key) "
                       "RETURN k AS key, toString(n.observed_at) AS at, n.event_id AS id")
READ_TOMBSTONES = ("UNWIND $keys AS k MATCH (t:Retracted {fact_key: k}) "
                   "RETURN k AS key, toString(t.observed_at) AS at, t.event_id AS id")


def read_props(label: str) -> str:
    return f"UNWIND $keys AS k MATCH (n:{label} {{fact_key: k}}) RETURN k AS key, properties(n) AS props"


READ_LEASE_PROPS = ("UNWIND $keys AS k MATCH ()-[n:LEASES {fact_key: k}]->() USING INDEX n:LEASES(fact_key) "
                    "RETURN k AS key, properties(n) AS props")

# --- reference nodes ------------------------------------------------------------------------------

# a party's name (and id) is the smallest spelling seen: only rows that lower it write (and lock)
MERGE_PARTIES = """
UNWIND $rows AS r
MERGE (p:Party {key: r.key})
ON CREATE SET p.name = r.name, p.party_id = r.party_id
WITH p, r
WHERE r.name < p.name OR (r.party_id IS NOT NULL AND (p.party_id IS NULL OR r.party_id < p.party_id))
SET p.name = CASE WHEN r.name < p.name THEN r.name ELSE p.name END,
    p.party_id = CASE WHEN r.party_id IS NOT NULL AND (p.party_id IS NULL OR r.party_id < p.party_id)
                      THEN r.party_id ELSE p.party_id END
"""
MERGE_MAINTAINERS = "UNWIND $names AS n MERGE (:Maintainer {name: n})"
MERGE_ASNS = "UNWIND $asns AS a MERGE (:AS {asn: a})"

EXISTING_BLOCKS = "UNWIND $prefixes AS p MATCH (b:Block {prefix: p}) RETURN p AS prefix"
# Block creation is serialised per /8 of address space (docs/graph-model.md, Block containment):
# containment only links blocks that overlap, and overlapping blocks share a /8, so batches that
# create blocks in different /8s run side by side. $octets sorted: every consumer locks in one order.
# Each lock node lists the prefix lengths of the blocks overlapping its /8 (none when it is new). It
# also returns which of $prefixes exist once the locks are held: another consumer may have created
# some meanwhile.
LOCK_BLOCK_OCTETS = """
UNWIND $octets AS octet
MERGE (m:Meta {name: 'blocks/' + toString(octet)})
ON CREATE SET m.prefix_lengths = []
SET m.prefix_lengths = m.prefix_lengths
WITH collect({octet: octet, lengths: m.prefix_lengths}) AS locked
RETURN locked, [p IN $prefixes WHERE EXISTS { MATCH (:Block {prefix: p}) }] AS existing
"""
SET_BLOCK_OCTET_LENGTHS = "UNWIND $rows AS r MATCH (m:Meta {name: 'blocks/' + toString(r.octet)}) SET m.prefix_lengths = r.lengths"
# the hint: with many blocks of few lengths the planner may seek Block(prefix_length) instead and
# scan every longer block for each range (2 s instead of 0.05 s per batch, bench/neo4j_writes.py)
BLOCKS_INSIDE = """
UNWIND $ranges AS r
MATCH (c:Block) USING INDEX c:Block(first) WHERE c.first >= r.first AND c.first <= r.last AND c.prefix_length > r.length
OPTIONAL MATCH (c)-[:WITHIN]->(p:Block)
RETURN DISTINCT c.prefix AS child, p.prefix_length AS parent_length
"""
CREATE_BLOCKS = "UNWIND $rows AS r CREATE (b:Block) SET b = r"
LINK_WITHIN = """
UNWIND $links AS w
MATCH (c:Block {prefix: w.child})
OPTIONAL MATCH (c)-[old:WITHIN]->()
DELETE old
WITH DISTINCT c, w
MATCH (p:Block {prefix: w.parent})
CREATE (c)-[:WITHIN]->(p)
"""

# --- fact writes ----------------------------------------------------------------------------------

_LEASE_TIMES = _temporals("l", "r.props", TEMPORAL_PROPS["lease_hop"])
CREATE_LEASES = f"""
UNWIND $rows AS r
MATCH (a:Party {{key: r.provider}})
MATCH (b:Party {{key: r.recipient}})
CREATE (a)-[:LEASES {_literal_map("lease_hop", "r.props")}]->(b)
"""
UPDATE_LEASES = (f"UNWIND $rows AS r MATCH ()-[l:LEASES {{fact_key: r.props.fact_key}}]->() USING INDEX l:LEASES(fact_key) "
                 f"SET l = r.props, {_LEASE_TIMES}")
DELETE_LEASES = "UNWIND $keys AS k MATCH ()-[l:LEASES {fact_key: k}]->() USING INDEX l:LEASES(fact_key) DELETE l"


def _link_clause(link: Link) -> str:
    target = f"(x:{link.target} {{{identity_prop(link.target)}: t}})"
    arrow = f"(n)-[:{link.rel}]->(x)" if link.outgoing else f"(x)-[:{link.rel}]->(n)"
    return f"CALL (n, r) {{ UNWIND r.links.{link.rel} AS t MATCH {target} CREATE {arrow} }}"


def create_facts(event_type: str) -> str:
    """Create fact nodes of one type with their links; rows: ``{props, links: {REL: [identity]}}``."""
    lines = ["UNWIND $rows AS r", f"CREATE (n:{FACT_LABEL[event_type]} {_literal_map(event_type, 'r.props')})"]
    if LINKS[event_type]:  # a query may not end with WITH: a type that links to nothing has no link clauses
        lines += ["WITH n, r", *(_link_clause(link) for link in LINKS[event_type])]
    return "\n".join(lines)


def update_facts(event_type: str) -> str:
    """Replace the properties of live fact nodes and re-create their mutable links."""
    mutable = [link for link in LINKS[event_type] if link.mutable]
    lines = ["UNWIND $rows AS r", f"MATCH (n:{FACT_LABEL[event_type]} {{fact_key: r.props.fact_key}})",
             f"SET n = r.props, {_temporals('n', 'r.props', TEMPORAL_PROPS[event_type])}"]
    if mutable:
        lines.append("WITH n, r")
        lines.append(f"CALL (n) {{ MATCH (n)-[old:{'|'.join(link.rel for link in mutable)}]-() DELETE old }}")
        lines += [_link_clause(link) for link in mutable]
    return "\n".join(lines)


def touch_unchanged_facts(event_type: str) -> str:
    """For the ``$rows`` (``{fact_key, props}``: the element as it would be written) whose live node
    holds exactly that content (every property but the version equal, absent ones absent on both
    sides), move only the version (an absent provenance field removed) and return their fact keys.
    Compared in Neo4j: no stored value travels back."""
    kinds = dict(TEMPORAL_PROPS[event_type])

    def new(name: str) -> str:
        return f"{kinds[name]}(r.props.`{name}`)" if name in kinds else f"r.props.`{name}`"

    names = PROP_NAMES[event_type]
    tests = [f"coalesce(n.`{name}` = {new(name)}, n.`{name}` IS NULL AND r.props.`{name}` IS NULL)"
             for name in names if name not in VERSION_PROPS and name != "fact_key"]
    moves = [f"n.`{name}` = {new(name)}" for name in sorted(VERSION_PROPS)]
    return (f"UNWIND $rows AS r MATCH (n:{FACT_LABEL[event_type]} {{fact_key: r.fact_key}}) "
            f"WHERE {' AND '.join(tests) or 'true'} SET {', '.join(moves)} RETURN r.fact_key AS key")


def delete_facts(event_type: str) -> str:
    return f"UNWIND $keys AS k MATCH (n:{FACT_LABEL[event_type]} {{fact_key: k}}) DETACH DELETE n"


STORE_TOMBSTONES = f"UNWIND $rows AS r MERGE (t:Retracted {{fact_key: r.fact_key}}) SET t = r, {_temporals('t', 'r', _PROVENANCE_TIMES)}"
DROP_TOMBSTONES = "UNWIND $keys AS k MATCH (t:Retracted {fact_key: k}) DELETE t"

# --- party role labels ------------------------------------------------------------------------------


def _role_label_holds(label: str) -> str:
    """A predicate: party ``p`` has a current LEASES giving it role ``label`` (see records.py);
    existence checks, so a hub party's hops are read only until one is found."""
    checks = [f"EXISTS {{ (p)-[o:LEASES]->() WHERE o.provider_role = '{role.value}' }}"
              for role, given in PROVIDER_ROLE_LABEL.items() if given == label]
    checks += [f"EXISTS {{ (p)<-[i:LEASES]-() WHERE i.recipient_role = '{role.value}' }}"
               for role, given in RECIPIENT_ROLE_LABEL.items() if given == label]
    return " OR ".join(checks)


def _recheck_role_labels(labels: str) -> str:
    """Clauses that re-derive the role labels listed by the expression ``labels`` on party ``p``.
    Removing them first takes the party's write lock before its LEASES are read, so a concurrent
    batch's hops are seen once it committed, and that batch's own check comes after this one's."""
    lines = [f"FOREACH (_ IN CASE WHEN '{label}' IN {labels} THEN [1] ELSE [] END | REMOVE p:{label})" for label in ROLE_LABELS]
    lines.append(f"WITH p, {labels} AS checked")
    lines += [f"FOREACH (_ IN CASE WHEN '{label}' IN checked AND ({_role_label_holds(label)}) THEN [1] ELSE [] END | SET p:{label})"
              for label in ROLE_LABELS]
    return "\n".join(lines)


# rows {key, add, check}, sorted by key (batch.role_label_changes): labels a batch's LEASES give
# (set at once; SET takes the party's write lock even when the label is there, so a concurrent
# re-check of the same party comes before or after this batch, never in between) and labels they
# may have taken away (re-derived from the party's current LEASES).
UPDATE_ROLE_LABELS = ("UNWIND $rows AS r\nMATCH (p:Party {key: r.key})\n"
                      + "\n".join(f"FOREACH (_ IN CASE WHEN '{label}' IN r.add THEN [1] ELSE [] END | SET p:{label})"
                                   for label in ROLE_LABELS)
                      + "\nWITH p, r\n" + _recheck_role_labels("r.check"))

# --- holder history ---------------------------------------------------------------------------------

READ_EVIDENCE = "UNWIND $prefixes AS p MATCH (b:Block {prefix: p}) RETURN p AS prefix, b.holder_evidence AS evidence"
WRITE_HOLDERS = """
UNWIND $rows AS r
MATCH (b:Block {prefix: r.prefix})
SET b.holder_evidence = r.evidence
WITH b, r
CALL (b) { MATCH (b)-[h:HELD_BY]->() DELETE h }
WITH b, r
UNWIND r.runs AS run
MATCH (p:Party {key: run.party})
CREATE (b)-[h:HELD_BY]->(p)
SET h = run.props, h.valid_from = datetime(run.props.valid_from), h.valid_to = datetime(run.props.valid_to)
"""

# --- reads -----------------------------------------------------------------------------------------

_HOP_DATES = {name for name, _ in TEMPORAL_PROPS["lease_hop"]}
# dates come back as ISO text: hydrating Neo4j temporal values in Python is slow for a million rows
_HOP_LIST = "[" + ", ".join(f"toString(l.{f})" if f in _HOP_DATES else f"l.{f}" for f in HOP_FIELDS) + "]"
_HOP_ROW = f"{_HOP_LIST} AS row"
HOPS_FOR_BLOCKS = f"UNWIND $prefixes AS p MATCH ()-[l:LEASES {{block: p}}]->() USING INDEX l:LEASES(block) RETURN {_HOP_ROW}"
HOPS_WITHIN = (f"MATCH ()-[l:LEASES]->() USING INDEX l:LEASES(first) WHERE l.first >= $first AND l.first <= $last "
               f"AND l.last <= $last RETURN {_HOP_ROW}")

# Whole-label reads stream one record per /12 of address space (4096 index range seeks), each
# holding the list of that range's rows: the driver's cost is per record, so a million hops read
# ~2.5x faster than one record per hop, while the server never holds more than one /12 at a time.
CHUNK_BITS = 12


def _chunked(match: str, var: str, row: str) -> str:
    size = 1 << (32 - CHUNK_BITS)
    return (f"UNWIND range(0, {(1 << CHUNK_BITS) - 1}) AS chunk CALL (chunk) {{ MATCH {match} "
            f"WHERE {var}.first >= chunk * {size} AND {var}.first < (chunk + 1) * {size} RETURN collect({row}) AS rows }} "
            f"WITH rows WHERE size(rows) > 0 RETURN rows")


ALL_HOPS = _chunked("()-[l:LEASES]->() USING INDEX l:LEASES(first)", "l", _HOP_LIST)


def all_rows(label: str, fields: tuple[str, ...]) -> str:
    """Every node of ``label`` as lists of the ``fields`` values, one record per /12 (see ALL_HOPS)."""
    return _chunked(f"(n:{label}) USING INDEX n:{label}(first)", "n", "[" + ", ".join(f"n.{f}" for f in fields) + "]")


HOLDER_HISTORY = """
MATCH (b:Block {prefix: $prefix})-[h:HELD_BY]->(p:Party)
RETURN p.key AS party, p.name AS name, h.source AS source, h.valid_from AS valid_from, h.valid_to AS valid_to,
       h.fact_key AS fact_key, h.event_id AS event_id, h.reference AS reference
"""

_IDENTITY = "CASE " + " ".join(f"WHEN {{v}}:{label} THEN {{v}}.{prop}" for label, prop in IDENTITY_PROP.items()) + " ELSE {v}.fact_key END"
DUMP_NODES = "MATCH (n) RETURN labels(n) AS labels, properties(n) AS props"
DUMP_RELS = (
    "MATCH (a)-[r]->(b) RETURN type(r) AS type, labels(a)[0] AS a_label, " + _IDENTITY.format(v="a") + " AS a_id, "
    "labels(b)[0] AS b_label, " + _IDENTITY.format(v="b") + " AS b_id, properties(r) AS props"
)

# --- analysis write-back ------------------------------------------------------------------------------
# graph/stores/writeback_plan.py decides which blocks to write: only those whose results changed.

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _prop_name(name: str) -> str:
    """A property name for a statement's text (values always go as parameters)."""
    if not _NAME.match(name):
        raise ValueError(f"not a property name: {name!r}")
    return name


# Blocks holding analysis results, as [prefix, analysis_digest], one record per /12 (see ALL_HOPS):
# a digest, or (written without one) any of the $keys or an incoming SPOF_FOR.
STORED_ANALYSIS = _chunked(
    "(b:Block) USING INDEX b:Block(first)", "b",
    "CASE WHEN b.analysis_digest IS NOT NULL OR any(k IN $keys WHERE b[k] IS NOT NULL) OR EXISTS { ()-[:SPOF_FOR]->(b) } "
    "THEN [b.prefix, b.analysis_digest] END")


# A block's stored results for the risk alerts: [prefix, [the $fields' values], [the party keys of its
# SPOF_FOR in position order]], for blocks holding results (an analysis_digest).
_STORED_RESULT = ("[b.prefix, [f IN $fields | b[f]], "
                  "COLLECT { MATCH (p:Party)-[s:SPOF_FOR]->(b) WITH p, s ORDER BY s.position RETURN p.key }]")
STORED_RESULTS = ("UNWIND $prefixes AS prefix MATCH (b:Block {prefix: prefix}) WHERE b.analysis_digest IS NOT NULL "
                  f"RETURN {_STORED_RESULT}")
ALL_STORED_RESULTS = _chunked("(b:Block) USING INDEX b:Block(first)", "b",
                              f"CASE WHEN b.analysis_digest IS NOT NULL THEN {_STORED_RESULT} END")


def write_block_analysis(keys: list[str], spof_keys: list[str], replaces: bool) -> str:
    """Rows ``[prefix, [values in keys order], digest, [[party, *values in spof_keys order], ...]]``:
    set the block's properties (null removes one) and digest, create its SPOF_FOR; with
    ``replaces`` (blocks that held results) delete its old SPOF_FOR first. Lists, not maps: a fifth
    less to pack and unpack. Blocks new to analysis go without the delete: it makes the plan Eager."""
    sets = ", ".join([f"b.{_prop_name(k)} = r[1][{i}]" for i, k in enumerate(keys)] + ["b.analysis_digest = r[2]"])
    spof_sets = ", ".join(f"s.{_prop_name(k)} = x[{i + 1}]" for i, k in enumerate(spof_keys))
    return (f"UNWIND $rows AS r MATCH (b:Block {{prefix: r[0]}}) SET {sets}\n"
            + ("WITH b, r CALL (b) { MATCH ()-[old:SPOF_FOR]->(b) DELETE old }\n" if replaces else "")
            + "WITH b, r UNWIND r[3] AS x MATCH (p:Party {key: x[0]}) CREATE (p)-[s:SPOF_FOR]->(b)"
            + (f" SET {spof_sets}" if spof_sets else ""))


def clear_block_analysis(keys: list[str]) -> str:
    """Rows: prefixes; remove the blocks' analysis properties, digest and SPOF_FOR."""
    removes = ", ".join([f"b.{_prop_name(k)} = null" for k in keys] + ["b.analysis_digest = null"])
    return (f"UNWIND $rows AS p MATCH (b:Block {{prefix: p}}) SET {removes}\n"
            "WITH b CALL (b) { MATCH ()-[old:SPOF_FOR]->(b) DELETE old }")


# --- maintenance -----------------------------------------------------------------------------------------

# how many nodes and relationships the database holds (the bulk load: empty before, as imported after)
COUNT_NODES = "MATCH (n) RETURN count(n) AS n"
COUNT_RELATIONSHIPS = "MATCH ()-[r]->() RETURN count(r) AS n"

# relationships first: DETACH DELETE of a hub party with 100k LEASES in one inner transaction
# exceeds the transaction memory pool (MemoryPoolOutOfMemoryError, bench/neo4j_writes.py)
WIPE = (
    "MATCH ()-[r]->() CALL (r) { DELETE r } IN TRANSACTIONS OF 10000 ROWS",
    "MATCH (n) CALL (n) { DELETE n } IN TRANSACTIONS OF 10000 ROWS",
)

# --- alerts (load_alerts / save_alerts; the node: graph/stores/alerts.py) ---------------------------------

ALERT_SCHEMA = "CREATE CONSTRAINT alert_id_unique IF NOT EXISTS FOR (n:Alert) REQUIRE n.alert_id IS UNIQUE"
ALL_ALERTS = "MATCH (a:Alert) RETURN a.json AS json"
ALERTS_BY_ID = "MATCH (a:Alert) WHERE a.alert_id IN $ids RETURN a.json AS json"
# alerts not resolved that affect one of the blocks (through the Block.prefix index)
ALERTS_AFFECTING = ("UNWIND $prefixes AS prefix MATCH (:Block {prefix: prefix})<-[:AFFECTS]-(a:Alert) "
                    "WHERE a.status <> 'resolved' RETURN DISTINCT a.json AS json")
# Replace each alert's properties and its CONCERNS / AFFECTS links (to blocks that exist).
SAVE_ALERTS = """
UNWIND $rows AS row
MERGE (a:Alert {alert_id: row.id})
SET a = row.props
WITH a, row
CALL (a) { MATCH (a)-[old:CONCERNS|AFFECTS]->() DELETE old }
CALL (a, row) {
  MATCH (b:Block {prefix: row.block})
  CREATE (a)-[:CONCERNS]->(b)
}
CALL (a, row) {
  UNWIND row.affected AS x
  MATCH (lb:Block {prefix: x.block})
  CREATE (a)-[:AFFECTS {depth: x.depth}]->(lb)
}
"""

# --- incremental analysis (GraphStore.analysis_input / refresh_analysis) -----------------------------------
# A candidate is a block that has lease hops, a registry assignment, or a leased block's results
# (analysis_basis; a holding's idle-space results are the full analysis' own).

# Neo4j re-plans a cached statement whenever the graph's statistics have drifted (at most every
# 10 s, so often while a graph grows); for FACTS_AROUND that costs ~0.5-1.5 s of planning, on the
# path from an event to its results. These reads have their plan fixed by index hints, so a new
# plan gains nothing: they keep the first one.
PINNED_PLAN = "CYPHER replan=skip "

_CANDIDATE = ("(b.analysis_basis IS NOT NULL OR EXISTS { (b)-[:REGISTERED_AS]->(:Registration {role: 'lessee'}) })")
# $ranges: [{first, last}]; blocks equal to or inside a range (by the Block(first) index)
CANDIDATES_INSIDE = (f"{PINNED_PLAN}UNWIND $ranges AS r MATCH (b:Block) USING INDEX b:Block(first) WHERE b.first >= r.first AND b.first <= r.last "
                     f"AND b.last <= r.last AND {_CANDIDATE} RETURN DISTINCT b.prefix AS prefix")
HOP_BLOCKS_INSIDE = (f"{PINNED_PLAN}UNWIND $ranges AS r MATCH ()-[l:LEASES]->() USING INDEX l:LEASES(first) WHERE l.first >= r.first "
                     "AND l.first <= r.last AND l.last <= r.last RETURN DISTINCT l.block AS prefix")
CANDIDATES_AT = f"UNWIND $prefixes AS p MATCH (b:Block {{prefix: p}}) WHERE {_CANDIDATE} RETURN b.prefix AS prefix"
HOP_BLOCKS_AT = (f"{PINNED_PLAN}UNWIND $prefixes AS p MATCH ()-[l:LEASES {{block: p}}]->() USING INDEX l:LEASES(block) "
                 "RETURN DISTINCT l.block AS prefix")


def facts_at(label: str, fields: tuple[str, ...]) -> str:
    """$at: [{first, prefix}]; the ``label`` facts at exactly these prefixes, as lists of ``fields``."""
    return (f"UNWIND $at AS p MATCH (n:{label}) USING INDEX n:{label}(first) WHERE n.first = p.first AND n.prefix = p.prefix "
            "RETURN [" + ", ".join(f"n.{f}" for f in fields) + "] AS row")


def facts_inside(label: str, fields: tuple[str, ...]) -> str:
    """$ranges: [{first, last}]; the ``label`` facts equal to or inside a range, as lists of ``fields``."""
    return (f"UNWIND $ranges AS r MATCH (n:{label}) USING INDEX n:{label}(first) WHERE n.first >= r.first AND n.first <= r.last "
            "AND n.last <= r.last RETURN [" + ", ".join(f"n.{f}" for f in fields) + "] AS row")


# [prefix, [the $keys' values], [[position, party key] of its SPOF_FOR]] of the candidates holding results,
# in one record: the driver's cost is per record (see ALL_HOPS)
CANDIDATE_RESULTS = ("UNWIND $prefixes AS p MATCH (b:Block {prefix: p}) WHERE b.analysis_basis IS NOT NULL "
                     "RETURN collect([p, [k IN $keys | b[k]], [(s:Party)-[r:SPOF_FOR]->(b) | [r.position, s.key]]]) AS rows")
# the lease hops of blocks, as HOPS_FOR_BLOCKS, in one record
HOP_ROWS_FOR_BLOCKS = f"{PINNED_PLAN}UNWIND $prefixes AS p MATCH ()-[l:LEASES {{block: p}}]->() USING INDEX l:LEASES(block) RETURN collect({_HOP_LIST}) AS rows"

# Prefix lengths in use per fact label, so a refresh reads a candidate's covering prefixes of those
# lengths only (a VRP export has a dozen of the 25 a /24 has). A label's Meta node lists every
# length any of its nodes ever had (a superset: lengths are never taken out); its lengths count
# only once ``complete`` is set, by COMPLETE_FACT_LENGTHS having looked at every node of the label.
# Block-type facts (registrations, delegations, listings) and lease hops sit on Block prefixes:
# the per-/8 Block lengths (``blocks/<octet>`` above) serve those.
FACT_LENGTHS = ("UNWIND $labels AS label OPTIONAL MATCH (m:Meta {name: 'lengths/' + label}) "
                "RETURN label, m.prefix_lengths AS lengths, coalesce(m.complete, false) AS complete")
# rows {label, lengths}: add lengths, under the Meta node's write lock (taken first, then re-read)
GROW_FACT_LENGTHS = """
UNWIND $rows AS r
MERGE (m:Meta {name: 'lengths/' + r.label})
ON CREATE SET m.prefix_lengths = []
SET m.prefix_lengths = m.prefix_lengths
WITH m, r
SET m.prefix_lengths = [n IN range(0, 32) WHERE n IN m.prefix_lengths OR n IN r.lengths]
"""


def complete_fact_lengths(label: str) -> str:
    """Add the lengths of every ``label`` node to its lengths node and mark it complete, under its
    write lock: a batch creating a node meanwhile adds its own length after this commits."""
    return (f"MERGE (m:Meta {{name: 'lengths/{_prop_name(label)}'}}) ON CREATE SET m.prefix_lengths = [] "
            "SET m.prefix_lengths = m.prefix_lengths WITH m "
            f"CALL (m) {{ MATCH (n:{_prop_name(label)}) RETURN collect(DISTINCT toInteger(split(n.prefix, '/')[1])) AS found }} "
            "SET m.prefix_lengths = [n IN range(0, 32) WHERE n IN m.prefix_lengths OR n IN found], m.complete = true")


BLOCK_OCTET_LENGTHS = ("UNWIND $octets AS octet OPTIONAL MATCH (m:Meta {name: 'blocks/' + toString(octet)}) "
                       "RETURN octet, m.prefix_lengths AS lengths")


def facts_around(parts: list[tuple[str, tuple[str, ...], bool]]) -> str:
    """One statement for the facts of several labels: ``parts`` are (label, fields, inside); for
    each label ``$at_<label>`` ([{first, prefix}]: facts at exactly these prefixes) and, with
    ``inside``, ``$in_<label>`` ([{first, last}]: facts equal to or inside a range). Returns
    ``label`` and ``row`` (the ``fields`` values)."""
    branches = []
    for label, fields, inside in parts:
        name, row = _prop_name(label), "[" + ", ".join(f"n.{_prop_name(f)}" for f in fields) + "]"
        branches.append(f"UNWIND $at_{name} AS p MATCH (n:{name}) USING INDEX n:{name}(first) "
                        f"WHERE n.first = p.first AND n.prefix = p.prefix RETURN '{name}' AS label, {row} AS row")
        if inside:
            branches.append(f"UNWIND $in_{name} AS r MATCH (n:{name}) USING INDEX n:{name}(first) WHERE n.first >= r.first "
                            f"AND n.first <= r.last AND n.last <= r.last RETURN '{name}' AS label, {row} AS row")
    return PINNED_PLAN + "CALL () { " + " UNION ALL ".join(branches) + " } RETURN label, row"


# the write lock of each candidate block, taken before its facts are read: refreshes of one block run in turn
LOCK_BLOCKS = "UNWIND $prefixes AS p MATCH (b:Block {prefix: p}) SET b.analysis_lock = true REMOVE b.analysis_lock"
DATED_RESULTS = ("MATCH (b:Block) WHERE b.analysis_basis IS NOT NULL AND b.secured_until < date($before) "
                 "RETURN b.prefix AS prefix, b.secured_until AS secured_until, b.analysed_as_of AS as_of, b.analysed_at AS analysed_at")
