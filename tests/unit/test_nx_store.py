"""The embedded graph store: versions, tombstones, replays, order independence, holder history,
containment, persistence. (The Neo4j store runs the same scenarios in tests/integration.)"""
from __future__ import annotations

import random
from datetime import date
from pathlib import Path

import pytest
from graph_events import day, delegation, lease, listing, mixed_events, registration, transfer, vrp

from chainrisk.common.prefixes import prefix_range
from chainrisk.graph.stores.nx_store import NxStore, StoreBusy
from chainrisk.graph.stores.protocol import OffsetConflict
from chainrisk.graph.stores.records import event_from_props, fact_props

BLOCK = "198.51.100.0/24"


def store(tmp_path: Path, name: str = "s") -> NxStore:
    return NxStore(tmp_path / name, save_interval_s=3600)


def lease_props(s: NxStore, key: str) -> dict:
    u, v = s.lease_edges[key]
    return s.g.edges[u, v, ("LEASES", key)]


def test_every_event_type_round_trips_through_its_properties() -> None:
    for event in mixed_events(11):
        if event.op == "assert":
            assert event_from_props(event.type, fact_props(event)) == event


def test_older_fact_after_newer_is_ignored(tmp_path: Path) -> None:
    s = store(tmp_path)
    newer = lease(BLOCK, "Holder", "Lessee", 10, end=date(2029, 1, 1))
    older = lease(BLOCK, "Holder", "Lessee", 3, end=date(2027, 1, 1))
    s.apply_batch([newer], {}, "g")
    result = s.apply_batch([older], {}, "g")
    assert (result.applied, result.stale) == (0, 1)
    assert lease_props(s, newer.fact_key)["end_date"] == date(2029, 1, 1)
    assert result.changes == []


def test_duplicates_change_nothing(tmp_path: Path) -> None:
    s = store(tmp_path)
    events = mixed_events(1)
    s.apply_batch(events, {}, "g")
    before = s.canonical_dump()
    again = s.apply_batch(events, {}, "g")
    assert again.applied == again.retracted == 0
    assert again.duplicate + again.stale == len(events)
    assert again.changes == []
    assert s.canonical_dump() == before


def test_retract_then_older_assert_stays_retracted_and_newer_assert_returns(tmp_path: Path) -> None:
    s = store(tmp_path)
    hop = lease(BLOCK, "Holder", "Lessee", 1)
    s.apply_batch([hop, lease(BLOCK, "Holder", "Lessee", 5, op="retract")], {}, "g")
    assert hop.fact_key not in s.lease_edges and ("Retracted", hop.fact_key) in s.g
    result = s.apply_batch([lease(BLOCK, "Holder", "Lessee", 3)], {}, "g")
    assert result.stale == 1 and hop.fact_key not in s.lease_edges
    back = lease(BLOCK, "Holder", "Lessee", 8)
    result = s.apply_batch([back], {}, "g")
    assert result.applied == 1 and ("Retracted", hop.fact_key) not in s.g
    assert lease_props(s, hop.fact_key)["event_id"] == back.event_id
    assert result.changes[0].previous is None  # the fact did not exist before: it was retracted


def test_fact_change_hands_over_the_exact_superseded_event(tmp_path: Path) -> None:
    s = store(tmp_path)
    first = registration(BLOCK, "Org A", 1)
    s.apply_batch([first], {}, "g")
    s.close()
    reopened = store(tmp_path)
    second = registration(BLOCK, "Org B", 2, mnt_by=("MNT-B",))
    result = reopened.apply_batch([second, vrp(BLOCK, 64500)], {}, "g")
    assert [(c.event, c.previous) for c in result.changes] == [(second, first)]  # VRPs are not change types


def test_arrival_order_and_batch_size_never_change_the_graph(tmp_path: Path) -> None:
    events = mixed_events(3)
    reference = store(tmp_path, "ref")
    reference.apply_batch(events, {}, "g")
    expected = reference.canonical_dump()
    for seed in range(4):
        shuffled = list(events)
        random.Random(seed).shuffle(shuffled)
        s = store(tmp_path, f"shuffled{seed}")
        size = 1 + seed * 7
        for start in range(0, len(shuffled), size):
            s.apply_batch(shuffled[start:start + size], {}, "g")
        assert s.canonical_dump() == expected, f"order seed {seed}, batch size {size}"
        assert s.load_portfolio() == reference.load_portfolio()


def test_replay_from_the_start_gives_the_identical_dump(tmp_path: Path) -> None:
    events = mixed_events(4)
    s = store(tmp_path)
    for start in range(0, len(events), 10):
        s.apply_batch(events[start:start + 10], {("relationships", 0): start + 10}, "g")
    s.close()
    first = store(tmp_path).canonical_dump()
    replayed = store(tmp_path)
    for start in range(0, len(events), 25):
        replayed.apply_batch(events[start:start + 25], {("relationships", 0): start + 25}, "replay")
    assert replayed.canonical_dump() == first
    last_batch_end = list(range(0, len(events), 10))[-1] + 10
    assert replayed.stored_offsets("g") == {("relationships", 0): last_batch_end}


def test_party_name_is_the_smallest_spelling_whatever_the_order(tmp_path: Path) -> None:
    a = lease(BLOCK, "acme  Leasing", "Lessee", 1)
    b = lease("198.51.101.0/24", "Acme Leasing", "Lessee", 1)
    for order in ([a, b], [b, a]):
        s = store(tmp_path, str(order[0].block))
        s.apply_batch(order, {}, "g")
        assert s.g.nodes[("Party", "acme leasing")]["name"] == "Acme Leasing"


def test_holder_history_from_registrations_delegations_and_transfers(tmp_path: Path) -> None:
    s = store(tmp_path)
    s.apply_batch([
        registration(BLOCK, "Org B", 30), registration(BLOCK, "Org A", 0), registration(BLOCK, "Org B", 40),
        delegation(BLOCK, "F36B5AAD", 0), delegation(BLOCK, None, 20, status="reserved"),
        transfer(BLOCK, "Org A", "Org B", 25),
    ], {}, "g")
    runs = [(h.source, h.party_key, h.valid_from, h.valid_to) for h in s.holder_history(BLOCK)]
    assert runs == [
        ("delegation", "afrinic:f36b5aad", day(0), day(20)),
        ("registration", "org-org a", day(0), day(30)),
        ("registration", "org-org b", day(30), None),
        ("transfer", "org a", None, day(25)),
        ("transfer", "org b", day(25), None),
    ]
    assert [(h.source, h.party_name) for h in s.holders_of(BLOCK)] == [("registration", "Org B"), ("transfer", "Org B")]


def test_block_containment_is_maintained_in_both_directions(tmp_path: Path) -> None:
    s = store(tmp_path)
    s.apply_batch([lease("10.1.2.0/24", "H", "L"), lease("10.1.3.0/24", "H", "L")], {}, "g")
    s.apply_batch([registration("10.0.0.0/8", "Org", 0)], {}, "g")
    s.apply_batch([listing("10.1.0.0/20")], {}, "g")

    def parent(prefix: str) -> str | None:
        found = [v[1] for _, v, k in s.g.out_edges(("Block", prefix), keys=True) if k == "WITHIN"]
        assert len(found) <= 1
        return found[0] if found else None

    assert parent("10.1.2.0/24") == parent("10.1.3.0/24") == "10.1.0.0/20"
    assert parent("10.1.0.0/20") == "10.0.0.0/8"
    assert parent("10.0.0.0/8") is None


def test_lookups_for_the_alert_blast_radius(tmp_path: Path) -> None:
    s = store(tmp_path)
    s.apply_batch([lease("10.1.2.0/24", "H", "U", recipient_role="upstream"), lease("10.1.2.0/24", "U", "L", provider_role="upstream"),
                   lease("10.2.0.0/24", "H", "L")], {}, "g")
    assert [(h.provider, h.recipient) for h in s.hops_for_blocks(["10.1.2.0/24"])] == [("h", "u"), ("u", "l")]
    first, last, _ = prefix_range("10.1.0.0/16")
    assert {h.block for h in s.leased_blocks_within(first, last)} == {"10.1.2.0/24"}
    first, last, _ = prefix_range("10.0.0.0/8")
    assert len(s.leased_blocks_within(first, last)) == 3


def test_a_batch_is_durable_once_applied_with_its_offsets(tmp_path: Path) -> None:
    s = store(tmp_path)
    s.apply_batch([lease(BLOCK, "H", "L", 1)], {("relationships", 0): 1}, "g")
    s.save()
    s.apply_batch([lease("198.51.101.0/24", "H", "L", 1)], {("relationships", 0): 2}, "g")
    # a crash now (no snapshot since the second batch): the journal still holds it and its offset
    crashed = store(tmp_path, "s")
    assert crashed.stored_offsets("g") == {("relationships", 0): 2}
    assert set(crashed.lease_edges) == {lease(BLOCK, "H", "L", 1).fact_key, lease("198.51.101.0/24", "H", "L", 1).fact_key}
    assert crashed.canonical_dump() == s.canonical_dump()
    assert crashed.load_portfolio() == s.load_portfolio()


def test_offset_conflict_when_the_batch_was_partly_applied(tmp_path: Path) -> None:
    s = store(tmp_path)
    s.apply_batch([lease(BLOCK, "H", "L", 1)], {("relationships", 0): 10}, "g", {("relationships", 0): 0})
    with pytest.raises(OffsetConflict):
        s.apply_batch([lease(BLOCK, "H", "L", 2)], {("relationships", 0): 12}, "g", {("relationships", 0): 5})
    s.apply_batch([lease(BLOCK, "H", "L", 2)], {("relationships", 0): 12}, "g", {("relationships", 0): 10})
    assert s.stored_offsets("g") == {("relationships", 0): 12}


def test_one_writer_at_a_time(tmp_path: Path) -> None:
    a, b = store(tmp_path), store(tmp_path)
    a.apply_batch([lease(BLOCK, "H", "L")], {}, "g")
    with pytest.raises(StoreBusy):
        b.apply_batch([lease(BLOCK, "H", "L")], {}, "g")
    a.close()
    b.apply_batch([lease(BLOCK, "H", "L")], {}, "g")  # sees a's snapshot: a duplicate now
    assert b.canonical_dump() == store(tmp_path, "s").canonical_dump()


def test_analysis_write_back_replaces_the_previous_run(tmp_path: Path) -> None:
    s = store(tmp_path)
    s.apply_batch([lease(BLOCK, "H", "L"), lease("198.51.101.0/24", "H", "L")], {}, "g")
    s.write_analysis([{"prefix": BLOCK, "depth_min": 1, "spofs": ["h"]}, {"prefix": "198.51.101.0/24", "depth_min": 2}],
                     [{"party": "h", "block": BLOCK, "position": 0}])
    s.write_analysis([{"prefix": "198.51.101.0/24", "depth_min": 3}], [{"party": "l", "block": "198.51.101.0/24", "position": 1}])
    assert "depth_min" not in s.g.nodes[("Block", BLOCK)]
    assert s.g.nodes[("Block", "198.51.101.0/24")]["depth_min"] == 3
    spofs = [(u[1], v[1], d["position"]) for u, v, d in s.g.edges(data=True) if d["type"] == "SPOF_FOR"]
    assert spofs == [("l", "198.51.101.0/24", 1)]
