"""What a decided batch must write: pure preparation shared by both stores.

After :func:`chainrisk.graph.facts.plan_batch`, a store needs to know which fact elements to create,
replace or delete, which tombstones to store or drop, which reference nodes (parties, blocks,
maintainers, AS numbers) the batch names, whose holder evidence grows, and how new blocks fit into
the containment tree. Each is computed here from plain values; the stores only execute it.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from chainrisk.common.prefixes import MASKS, ints_to_prefix, prefix_ints, prefix_length
from chainrisk.graph.stores.facts import BatchPlan, Decision
from chainrisk.graph.stores.records import (
    BLOCK_TYPES,
    HOLDER_TYPES,
    LEASE_TYPE,
    VERSION_PROPS,
    asns_named,
    block_props,
    cached_party_key,
    hop_role_labels,
    maintainers_named,
    merge_party_names,
    parties_named,
)
from chainrisk.ingest.events import Event, LeaseHop


@dataclass
class References:
    """Reference nodes named by a batch: party key -> (name, id), block prefixes, maintainer names, AS numbers."""

    parties: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    blocks: set[str] = field(default_factory=set)
    maintainers: set[str] = field(default_factory=set)
    asns: set[int] = field(default_factory=set)


def new_events(events: list[Event], decisions: list[Decision]) -> list[Event]:
    """The events not already applied before (everything but duplicates): the ones whose reference
    nodes and holder observations may be new. A duplicate's were written when it was first applied."""
    return [e for e, d in zip(events, decisions) if d is not Decision.DUPLICATE]


def references(events: list[Event]) -> References:
    """Every reference node the events name (whatever their decision: reference nodes are a
    function of the set of events seen, so arrival order cannot change them)."""
    refs = References()
    found = []
    for event in events:
        found.extend(parties_named(event))
        if event.type in BLOCK_TYPES:
            refs.blocks.add(event.block)
        for names in maintainers_named(event).values():
            refs.maintainers.update(names)
        refs.asns.update(asns_named(event))
    refs.parties = merge_party_names(found)
    return refs


def keys_by_type(keys: Iterable[str]) -> dict[str, list[str]]:
    """Event type -> the distinct fact keys of that type among ``keys``, sorted (a fact key starts
    with its event type)."""
    out: dict[str, set[str]] = {}
    for key in keys:
        out.setdefault(key.split("|", 1)[0], set()).add(key)
    return {kind: sorted(found) for kind, found in out.items()}


@dataclass
class PreparedBatch:
    """What applying ``events`` needs that depends on the events alone, not on the stored graph:
    computed before the store's transaction (the consumer does it on its decode thread, while the
    previous batch is being written), so the transaction holds only the version-dependent work.

    ``keys``: the fact key of each event, in order; ``keys_by_type`` / ``distinct_keys``: the same,
    grouped and sorted for the version reads; ``references``: the reference nodes of every event;
    ``block_props``: Block node properties of each referenced block; ``rows``: the store's write
    row of each event's fact element (by position; None when the store builds none)."""

    events: list[Event]
    keys: list[str]
    keys_by_type: dict[str, list[str]]
    distinct_keys: list[str]
    references: References
    block_props: dict[str, dict[str, Any]]
    rows: list[dict[str, Any]] | None = None
    _row_of: dict[int, dict[str, Any]] = field(default_factory=dict, repr=False)
    ends: list[Event] = field(default_factory=list)  # the batch's snapshot_end events (not in ``events``)
    given: list[Event] | None = None  # the batch as given, when snapshot_end events were taken out of it

    def row(self, event: Event) -> dict[str, Any]:
        """The write row of ``event`` (one of ``events``)."""
        return self._row_of[id(event)]


def prepare_batch(events: list[Event], fact_row: Callable[[Event, str], dict[str, Any]] | None = None) -> PreparedBatch:
    """The :class:`PreparedBatch` of ``events``; ``fact_row(event, fact_key)`` builds a store's write
    row per event (rows are made for every event: a stale or duplicate one is rare, and skipped later)."""
    keys = [e.fact_key for e in events]
    refs = references(events)
    by_type = keys_by_type(keys)
    prepared = PreparedBatch(events, keys, by_type, sorted(k for found in by_type.values() for k in found), refs,
                             {p: block_props(p) for p in refs.blocks})
    if fact_row is not None:
        prepared.rows = [fact_row(e, k) for e, k in zip(events, keys)]
        prepared._row_of = {id(e): r for e, r in zip(events, prepared.rows)}
    return prepared


@dataclass
class FactWrites:
    """Fact element changes, per event type: ``create`` asserts with no live element, ``update``
    asserts replacing a live element, ``delete`` fact keys of live elements a retract removes;
    ``tombstone`` retracts to store, ``untombstone`` fact keys whose tombstone an assert replaces."""

    create: dict[str, list[tuple[str, Event]]] = field(default_factory=dict)  # (fact_key, event)
    update: dict[str, list[tuple[str, Event]]] = field(default_factory=dict)
    delete: dict[str, list[str]] = field(default_factory=dict)
    tombstone: list[Event] = field(default_factory=list)
    untombstone: list[str] = field(default_factory=list)
    # asserts re-stating a live element's content (:func:`split_unchanged`): only the version moves
    touch: dict[str, list[tuple[str, Event]]] = field(default_factory=dict)


def fact_writes(plan: BatchPlan) -> FactWrites:
    """The element changes that take the store from ``plan.stored`` to ``plan.final``."""
    out = FactWrites()
    for key, event in plan.final.items():
        stored = plan.stored.get(key)
        live = stored is not None and stored.op == "assert"
        if event.op == "assert":
            if live:
                out.update.setdefault(event.type, []).append((key, event))
            else:
                out.create.setdefault(event.type, []).append((key, event))
                if stored is not None:
                    out.untombstone.append(key)
        else:
            if live:
                out.delete.setdefault(event.type, []).append(key)
            out.tombstone.append(event)
    return out


# never part of the content compared: the version, and element bookkeeping (a node's labels, a
# relationship's type)
_NOT_CONTENT = VERSION_PROPS | {"labels", "type"}


def same_content(stored: dict[str, Any], props: dict[str, Any]) -> bool:
    """Whether the stored element's properties and a new version's (:func:`fact_props`) state the
    same fact content: everything but the version properties equal."""
    for name, value in props.items():
        if name not in _NOT_CONTENT and stored.get(name) != value:
            return False
    return sum(1 for name in stored if name not in _NOT_CONTENT) == sum(1 for name in props if name not in _NOT_CONTENT)


def update_candidates(writes: FactWrites) -> dict[str, list[tuple[str, Event]]]:
    """The updates that may re-state unchanged content (LEASES are always rewritten: their parties'
    role counts follow every version)."""
    return {kind: keyed for kind, keyed in writes.update.items() if kind != LEASE_TYPE}


def split_unchanged(writes: FactWrites, plan: BatchPlan, unchanged: set[str]) -> None:
    """Move the updates of ``unchanged`` (fact keys whose new version states the stored content)
    from ``writes.update`` to ``writes.touch``, and drop their changes from ``plan.pending`` (an
    unchanged fact changes nothing downstream). A key applied more than once in the batch is
    left an update: its changes in between are real."""
    if not unchanged:
        return
    applied: dict[str, int] = {}
    for _, key, _, _ in plan.pending:
        applied[key] = applied.get(key, 0) + 1
    unchanged = {key for key in unchanged if applied.get(key, 0) <= 1}
    for kind in list(writes.update):
        keep = [(k, e) for k, e in writes.update[kind] if k not in unchanged]
        moved = [(k, e) for k, e in writes.update[kind] if k in unchanged]
        if moved:
            writes.touch[kind] = moved
        if keep:
            writes.update[kind] = keep
        else:
            del writes.update[kind]
    plan.pending = [p for p in plan.pending if p[1] not in unchanged]
    plan.unchanged = unchanged


def without_unchanged(events: list[Event], plan: BatchPlan) -> list[Event]:
    """``events`` without the final versions of ``plan.unchanged`` (their reference nodes exist:
    the live element they re-state names the same ones)."""
    if not plan.unchanged:
        return events
    skip = {id(plan.final[key]) for key in plan.unchanged}
    return [e for e in events if id(e) not in skip]


def version_props(props: dict[str, Any]) -> dict[str, Any]:
    """The version properties of a new element's ``props``, absent ones as None (to remove)."""
    return {name: props.get(name) for name in sorted(VERSION_PROPS)}


def replaced_lease_keys(writes: FactWrites) -> set[str]:
    """Fact keys of the live LEASES the writes update or delete."""
    return {key for key, _ in writes.update.get(LEASE_TYPE, [])} | set(writes.delete.get(LEASE_TYPE, []))


def _labels_by_party(hops: list[Event]) -> dict[str, set[str]]:
    """Party key -> the role labels the lease hops among ``hops`` give their providers and recipients."""
    out: dict[str, set[str]] = {}
    for hop in hops:
        if not isinstance(hop, LeaseHop):
            continue
        provider_label, recipient_label = hop_role_labels(hop.provider_role, hop.recipient_role)
        if provider_label:
            out.setdefault(cached_party_key(hop.provider.name, hop.provider.id), set()).add(provider_label)
        if recipient_label:
            out.setdefault(cached_party_key(hop.recipient.name, hop.recipient.id), set()).add(recipient_label)
    return out


def role_label_changes(writes: FactWrites, replaced: dict[str, Event]) -> dict[str, tuple[set[str], set[str]]]:
    """Party key -> (labels to add, labels to re-check) after the writes' LEASES.

    To add: the labels of the new versions of created and updated hops (live after the batch, so
    they hold whatever else the party has). To re-check against the party's current LEASES: the
    labels of the stored versions (``replaced``: fact key -> stored event, for
    :func:`replaced_lease_keys`) of updated and deleted hops, which the party may have lost, unless
    the batch also adds them. No other role label of any party can change, so this keeps every
    party's role labels exact."""
    added = _labels_by_party([event for _, event in writes.create.get(LEASE_TYPE, []) + writes.update.get(LEASE_TYPE, [])])
    maybe_lost = _labels_by_party([replaced[key] for key in sorted(replaced_lease_keys(writes))])
    return {key: (added.get(key, set()), maybe_lost.get(key, set()) - added.get(key, set()))
            for key in sorted(added.keys() | maybe_lost.keys())}


def holder_events(events: list[Event]) -> dict[str, list[Event]]:
    """Block prefix -> the events among ``events`` that are holder observations for it."""
    out: dict[str, list[Event]] = {}
    for event in events:
        if event.type in HOLDER_TYPES:
            out.setdefault(event.block, []).append(event)
    return out


def retract_props(event: Event) -> dict[str, Any]:
    """The properties of the Retracted tombstone a retract stores."""
    props: dict[str, Any] = {"fact_key": event.fact_key, "fact_type": event.type, "event_id": event.event_id}
    props.update({k: v for k, v in event.provenance if v is not None})
    return props


# --- block containment ----------------------------------------------------------------------------


def supernets(prefix: str, lengths: set[int] | list[int]) -> list[str]:
    """The prefixes of the given ``lengths`` (shorter than ``prefix``'s) that cover ``prefix``."""
    first, length = prefix_ints(prefix)
    return [ints_to_prefix(first & MASKS[n], n) for n in sorted(lengths) if n < length]


def octets(first: int, last: int) -> range:
    """The first octets of the /8s the address range ``first``..``last`` overlaps."""
    return range(first >> 24, (last >> 24) + 1)


def octet_lengths_after(lengths_of: dict[int, set[int]], new_blocks: list[dict[str, Any]]) -> dict[int, set[int]]:
    """/8 (first octet) -> its prefix lengths in use once ``new_blocks`` (Block properties) exist,
    for the /8s whose set grows; ``lengths_of``: each affected /8's lengths before."""
    grown: dict[int, set[int]] = {}
    for block in new_blocks:
        for octet in octets(block["first"], block["last"]):
            before = lengths_of.get(octet, set())
            if block["prefix_length"] not in before:
                grown.setdefault(octet, set(before)).add(block["prefix_length"])
    return grown


def parents_of_new_blocks(new_blocks: set[str], existing_supernets: set[str], lengths: set[int]) -> dict[str, str]:
    """New block -> its most specific covering block among the blocks that existed before
    (``existing_supernets``: those of the new blocks' supernets that exist) and the other new blocks.
    ``lengths``: every prefix length in use, new blocks' included."""
    present = existing_supernets | new_blocks
    links = {}
    for prefix in new_blocks:
        covering = [s for s in supernets(prefix, lengths) if s in present]
        if covering:
            links[prefix] = max(covering, key=prefix_length)
    return links


def reparented_children(new_blocks: set[str], children: list[tuple[str, int | None]]) -> dict[str, str]:
    """Existing block -> new parent, for existing blocks inside a new block whose current parent
    (given by its prefix length, None for no parent) is less specific than the new block.
    ``children``: (prefix, current parent's prefix length) of existing blocks inside new blocks."""
    new_lengths = {prefix_length(p) for p in new_blocks}
    links = {}
    for prefix, parent_length in children:
        covering = [s for s in supernets(prefix, new_lengths) if s in new_blocks]
        if not covering:
            continue
        best = max(covering, key=prefix_length)
        if parent_length is None or parent_length < prefix_length(best):
            links[prefix] = best
    return links
