"""Party role labels (Holder, Upstream, Broker, Lessee) in the embedded store: always those the
party's current LEASES give it, whatever the batches, their order, updates and retracts.
(The Neo4j store runs the same events in tests/integration/test_graph_services.py.)"""
from __future__ import annotations

import random
from datetime import date
from pathlib import Path

from graph_events import lease, role_change_events

from chainrisk.graph.stores import preparation
from chainrisk.graph.stores.facts import plan_batch, version_of
from chainrisk.graph.stores.nx_store import NxStore

BLOCK = "198.51.100.0/24"
OTHER = "203.0.113.0/24"


def store(tmp_path: Path, name: str = "s") -> NxStore:
    return NxStore(tmp_path / name, save_interval_s=3600)


def party_labels(s: NxStore) -> dict[str, tuple[str, ...]]:
    """Party key -> the labels the store gave it."""
    return {node[1]: data["labels"] for node, data in s.g.nodes(data=True) if node[0] == "Party"}


def labels_from_leases(s: NxStore) -> dict[str, tuple[str, ...]]:
    """Party key -> labels by the rule, read off the current LEASES: a provider is Holder, Upstream or
    Broker by its provider_role, a recipient Upstream, Broker or Lessee by its recipient_role."""
    roles: dict[str, set[str]] = {node[1]: set() for node in s.g.nodes if node[0] == "Party"}
    for provider, recipient, hop in s.g.edges(data=True):
        if hop["type"] != "LEASES":
            continue
        if hop["provider_role"] in ("holder", "upstream", "broker"):
            roles[provider[1]].add(hop["provider_role"].capitalize())
        if hop["recipient_role"] in ("upstream", "broker", "lessee"):
            roles[recipient[1]].add(hop["recipient_role"].capitalize())
    return {key: ("Party", *sorted(found)) for key, found in roles.items()}


def test_a_chain_labels_each_party_by_the_roles_it_plays(tmp_path: Path) -> None:
    s = store(tmp_path)
    s.apply_batch([
        lease(BLOCK, "North", "LeaseCo", 1, recipient_role="upstream"),
        lease(BLOCK, "LeaseCo", "BrokerX", 1, provider_role="upstream", recipient_role="broker"),
        lease(BLOCK, "BrokerX", "Acme", 1, provider_role="broker"),
        lease(OTHER, "Acme", "Beta", 1, provider_role="upstream"),  # Acme is a lessee and, elsewhere, an upstream
    ], {}, "g")
    assert party_labels(s) == {
        "north": ("Party", "Holder"),
        "leaseco": ("Party", "Upstream"),
        "brokerx": ("Party", "Broker"),
        "acme": ("Party", "Lessee", "Upstream"),
        "beta": ("Party", "Lessee"),
    }


def test_a_holder_only_provides_and_a_lessee_only_receives(tmp_path: Path) -> None:
    s = store(tmp_path)
    s.apply_batch([lease(BLOCK, "Odd", "Odder", 1, provider_role="lessee", recipient_role="holder")], {}, "g")
    assert party_labels(s) == {"odd": ("Party",), "odder": ("Party",)}


def test_a_role_goes_with_the_last_hop_that_gives_it(tmp_path: Path) -> None:
    s = store(tmp_path)
    s.apply_batch([lease(BLOCK, "North", "LeaseCo", 1, recipient_role="upstream"),
                   lease(OTHER, "South", "LeaseCo", 1, recipient_role="upstream")], {}, "g")
    # a newer version of one hop makes LeaseCo a broker there: still an upstream through the other
    s.apply_batch([lease(BLOCK, "North", "LeaseCo", 2, recipient_role="broker")], {}, "g")
    assert party_labels(s)["leaseco"] == ("Party", "Broker", "Upstream")
    s.apply_batch([lease(OTHER, "South", "LeaseCo", 3, recipient_role="upstream", op="retract")], {}, "g")
    assert party_labels(s)["leaseco"] == ("Party", "Broker")
    assert party_labels(s)["south"] == ("Party",)  # a holder of nothing any more
    s.apply_batch([lease(OTHER, "South", "LeaseCo", 4, recipient_role="upstream")], {}, "g")  # the hop comes back
    assert party_labels(s)["leaseco"] == ("Party", "Broker", "Upstream")
    assert party_labels(s)["south"] == ("Party", "Holder")


def test_labels_equal_the_rule_after_every_batch_in_any_order(tmp_path: Path) -> None:
    events = role_change_events(31)
    dumps = []
    for attempt in range(4):
        rng = random.Random(attempt)
        shuffled = events[:] if attempt == 0 else rng.sample(events, len(events))
        s = store(tmp_path, f"run{attempt}")
        at, losses, before = 0, 0, {}
        while at < len(shuffled):
            size = rng.randint(1, 15)
            s.apply_batch(shuffled[at:at + size], {}, "g")
            at += size
            now = party_labels(s)
            assert now == labels_from_leases(s)
            losses += sum(1 for key, labels in before.items() if set(labels) - set(now[key]))
            before = now
        assert losses > 0, "the events should take roles away too"
        dumps.append(s.canonical_dump())
    assert all(d == dumps[0] for d in dumps[1:])


def test_labels_survive_a_restart(tmp_path: Path) -> None:
    s = store(tmp_path)
    s.apply_batch(role_change_events(32), {}, "g")
    expected = party_labels(s)
    assert expected == labels_from_leases(s)
    s.close()
    reopened = store(tmp_path)
    assert party_labels(reopened) == expected
    # the reopened store goes on by the rule: with every hop retracted, no party keeps a role
    hops = [data for _, _, data in reopened.g.edges(data=True) if data["type"] == "LEASES"]
    assert hops
    reopened.apply_batch([lease(h["block"], h["provider_name"], h["recipient_name"], 99, op="retract") for h in hops], {}, "g")
    assert set(party_labels(reopened).values()) == {("Party",)}


def test_role_label_changes_add_what_new_hops_give_and_recheck_what_replaced_hops_gave() -> None:
    created = lease(BLOCK, "North", "LeaseCo", 1, recipient_role="upstream")
    stored_hop = lease(OTHER, "South", "Broker B", 1, recipient_role="broker")
    updated = lease(OTHER, "South", "Broker B", 2, provider_role="upstream", recipient_role="lessee")
    plan = plan_batch([created, updated], {stored_hop.fact_key: version_of(stored_hop)})
    writes = preparation.fact_writes(plan)
    assert preparation.replaced_lease_keys(writes) == {stored_hop.fact_key}
    changes = preparation.role_label_changes(writes, {stored_hop.fact_key: stored_hop})
    assert changes == {"north": ({"Holder"}, set()), "leaseco": ({"Upstream"}, set()),
                       "south": ({"Upstream"}, {"Holder"}), "broker b": ({"Lessee"}, {"Broker"})}
    retract = lease(OTHER, "South", "Broker B", 3, op="retract")
    writes = preparation.fact_writes(plan_batch([retract], {stored_hop.fact_key: version_of(stored_hop)}))
    assert preparation.role_label_changes(writes, {stored_hop.fact_key: stored_hop}) == {"south": (set(), {"Holder"}),
                                                                                  "broker b": (set(), {"Broker"})}
    # an update that keeps the roles re-checks nothing: the new version gives the same labels
    same_roles = lease(OTHER, "South", "Broker B", 4, recipient_role="broker", end=date(2030, 1, 1))
    writes = preparation.fact_writes(plan_batch([same_roles], {stored_hop.fact_key: version_of(stored_hop)}))
    assert preparation.role_label_changes(writes, {stored_hop.fact_key: stored_hop}) == {"south": ({"Holder"}, set()),
                                                                                  "broker b": ({"Broker"}, set())}
