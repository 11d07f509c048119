"""The version decision both stores share (graph/stores/facts.py) and the pure batch preparation."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from graph_events import lease, mixed_events, registration

from chainrisk.common.prefixes import prefix_range
from chainrisk.graph.stores.facts import Decision, Version, decide, plan_batch, version_of
from chainrisk.graph.stores.preparation import (
    octet_lengths_after,
    octets,
    parents_of_new_blocks,
    prepare_batch,
    references,
    reparented_children,
    supernets,
)
from chainrisk.graph.stores.records import block_props

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("stored", "incoming", "expected"),
    [
        (None, Version(T0, "b", "assert"), Decision.APPLY),
        (None, Version(T0, "b", "retract"), Decision.APPLY),
        (Version(T0, "b", "assert"), Version(T0, "b", "assert"), Decision.DUPLICATE),
        (Version(T0, "b", "assert"), Version(T0 + timedelta(days=1), "a", "assert"), Decision.APPLY),
        (Version(T0, "b", "assert"), Version(T0 - timedelta(days=1), "z", "assert"), Decision.STALE),
        (Version(T0, "b", "assert"), Version(T0, "c", "assert"), Decision.APPLY),  # tie: larger event id wins
        (Version(T0, "b", "assert"), Version(T0, "a", "assert"), Decision.STALE),
        (Version(T0, "b", "assert"), Version(T0 + timedelta(seconds=1), "a", "retract"), Decision.APPLY),
        (Version(T0, "b", "retract"), Version(T0 - timedelta(days=1), "z", "assert"), Decision.STALE),  # no resurrection
        (Version(T0, "b", "retract"), Version(T0 + timedelta(days=1), "a", "assert"), Decision.APPLY),
        (Version(T0, "b", "retract"), Version(T0, "b", "retract"), Decision.DUPLICATE),
        # a naive timestamp is UTC: the same instant, so the event id decides
        (Version(T0, "b", "assert"), Version(T0.replace(tzinfo=None), "c", "assert"), Decision.APPLY),
        (Version(T0 + timedelta(hours=2), "b", "assert"),
         Version(datetime(2026, 1, 1, 3, tzinfo=timezone(timedelta(hours=2))), "a", "assert"), Decision.STALE),
    ],
)
def test_decision_table(stored: Version | None, incoming: Version, expected: Decision) -> None:
    assert decide(stored, incoming) is expected


def test_batch_decides_like_one_event_at_a_time() -> None:
    old = lease("192.0.2.0/24", "Holder", "Lessee", 1)
    new = lease("192.0.2.0/24", "Holder", "Lessee", 5, end=old.end_date.replace(year=2029))
    newest_retract = lease("192.0.2.0/24", "Holder", "Lessee", 9, op="retract")
    plan = plan_batch([new, old, new, newest_retract, old], {})
    assert plan.decisions == [Decision.APPLY, Decision.STALE, Decision.DUPLICATE, Decision.APPLY, Decision.STALE]
    assert (plan.applied, plan.stale, plan.duplicate, plan.retracted) == (1, 2, 1, 1)
    assert plan.final == {new.fact_key: newest_retract}
    changes = plan.changes({})
    assert [(c.event, c.previous) for c in changes] == [(new, None), (newest_retract, new)]


def test_previous_comes_from_the_store_only_for_a_live_stored_fact() -> None:
    first = registration("192.0.2.0/24", "Org A", 1)
    second = registration("192.0.2.0/24", "Org B", 2)
    live = plan_batch([second], {first.fact_key: version_of(first)})
    assert live.keys_needing_stored_event() == {first.fact_key}
    assert live.changes({first.fact_key: first})[0].previous == first
    tomb = plan_batch([second], {first.fact_key: version_of(registration("192.0.2.0/24", "Org A", 1, op="retract"))})
    assert tomb.keys_needing_stored_event() == set()
    assert tomb.changes({})[0].previous is None


def test_plan_counts_the_event_ids_not_the_content() -> None:
    # the same content observed on another day is a new version, not a duplicate
    a, b = registration("192.0.2.0/24", "Org A", 1), registration("192.0.2.0/24", "Org A", 2)
    assert a.event_id != b.event_id
    plan = plan_batch([b], {a.fact_key: version_of(a)})
    assert plan.decisions == [Decision.APPLY]


def test_supernets_only_of_lengths_in_use() -> None:
    assert supernets("10.1.2.0/24", {8, 16, 24, 28}) == ["10.0.0.0/8", "10.1.0.0/16"]
    assert supernets("10.1.2.0/24", set()) == []


def test_new_blocks_get_their_most_specific_cover_among_old_and_new() -> None:
    links = parents_of_new_blocks({"10.1.2.0/24", "10.1.0.0/20"}, {"10.0.0.0/8", "10.1.0.0/16"}, {8, 16, 20, 24})
    assert links == {"10.1.2.0/24": "10.1.0.0/20", "10.1.0.0/20": "10.1.0.0/16"}
    assert parents_of_new_blocks({"11.0.0.0/8"}, set(), {8}) == {}


def test_existing_blocks_move_under_a_more_specific_new_block() -> None:
    children = [("10.1.2.0/24", 16), ("10.1.3.0/24", 22), ("10.1.4.0/24", None), ("10.9.0.0/24", 16)]
    assert reparented_children({"10.1.0.0/20"}, children) == {"10.1.2.0/24": "10.1.0.0/20", "10.1.4.0/24": "10.1.0.0/20"}


def test_octets_are_the_slash_eights_a_range_overlaps() -> None:
    first, last, _ = prefix_range("10.1.2.0/24")
    assert list(octets(first, last)) == [10]
    first, last, _ = prefix_range("8.0.0.0/7")
    assert list(octets(first, last)) == [8, 9]
    first, last, _ = prefix_range("0.0.0.0/0")
    assert list(octets(first, last)) == list(range(256))


def test_octet_lengths_grow_only_where_a_new_length_appears() -> None:
    before = {10: {16, 24}, 11: set()}
    new = [block_props("10.1.2.0/24"), block_props("10.9.0.0/20"), block_props("11.0.0.0/16"), block_props("10.0.0.0/7")]
    grown = octet_lengths_after(before, new)
    # 10: /24 was there, /20 and /7 are new; 11: /16 and /7; the /7 also covers 11
    assert grown == {10: {7, 16, 20, 24}, 11: {7, 16}}
    assert before == {10: {16, 24}, 11: set()}  # not modified
    assert octet_lengths_after({10: {24}}, [block_props("10.1.2.0/24")]) == {}


def test_prepared_batch_holds_what_the_events_alone_decide() -> None:
    events = mixed_events(5)
    prepared = prepare_batch(events, lambda event, key: {"key": key, "type": event.type})
    assert prepared.keys == [e.fact_key for e in events]
    assert sorted(prepared.distinct_keys) == prepared.distinct_keys == sorted(set(prepared.keys))
    assert {k for keys in prepared.keys_by_type.values() for k in keys} == set(prepared.keys)
    assert all(k.startswith(kind + "|") for kind, keys in prepared.keys_by_type.items() for k in keys)
    assert prepared.references == references(events)
    assert prepared.block_props == {p: block_props(p) for p in prepared.references.blocks}
    assert [prepared.row(e) for e in events] == [{"key": e.fact_key, "type": e.type} for e in events]
    assert prepare_batch(events).rows is None
