"""The chain analysis's one-pass dominators (bitmasks in topological order) against
networkx.immediate_dominators, and its depth / secured-until against path enumeration, on
thousands of random DAGs of lease hops."""
from __future__ import annotations

import random
from datetime import date, timedelta

import networkx as nx

from chainrisk.analysis.bruteforce import brute_force_block
from chainrisk.analysis.chains import analyse_chain, analyse_dag
from chainrisk.analysis.model import Hop

ROOT = ("virtual root",)


def random_chain(rng: random.Random) -> list[Hop]:
    """A random DAG over parties p0..p{n-1} (edges go to higher numbers), some of them holders,
    the last one the lessee."""
    n = rng.randint(2, 9)
    density = rng.uniform(0.2, 0.9)
    edges = [(u, v) for u in range(n - 1) for v in range(u + 1, n) if rng.random() < density]
    holders = {u for u, _ in edges if rng.random() < 0.3} or ({edges[0][0]} if edges else set())
    day = date(2026, 1, 1)
    return [
        Hop("192.0.2.0/24", f"p{u}", f"P{u}", "holder" if u in holders else "upstream", f"p{v}", f"P{v}",
            "lessee" if v == n - 1 else "upstream", day, day + timedelta(days=rng.randint(0, 60)))
        for u, v in edges
    ]


def networkx_spofs(hops: list[Hop], lessee: str) -> set[str] | None:
    """Parties other than the lessee that dominate it below a virtual root over every holder;
    None when the lessee is unreachable."""
    graph = nx.DiGraph((h.provider, h.recipient) for h in hops)
    graph.add_edges_from((ROOT, h.provider) for h in hops if h.provider_role == "holder")
    if lessee not in graph or ROOT not in graph or lessee not in nx.descendants(graph, ROOT):
        return None
    idom = nx.immediate_dominators(graph, ROOT)
    found, node = set(), idom[lessee]
    while node != ROOT:
        found.add(node)
        node = idom[node]
    return found


def test_spofs_depth_and_secured_until_on_random_dags():
    rng = random.Random(20261127)
    compared = unreachable = multi_path = 0
    for _ in range(4000):
        hops = random_chain(rng)
        if not any(h.recipient_role == "lessee" for h in hops):
            continue
        lessee = next(h.recipient for h in hops if h.recipient_role == "lessee")
        facts = analyse_dag("192.0.2.0/24", hops)
        assert analyse_chain("192.0.2.0/24", hops) == facts  # the line shortcut agrees wherever it applies
        expected = networkx_spofs(hops, lessee)
        if expected is None:
            assert facts.errors == ("no path from a holder to the lessee " + lessee.upper(),)
            unreachable += 1
            continue
        assert set(facts.spofs) == expected, hops
        answer = brute_force_block(hops)
        assert answer.spofs == expected
        assert (facts.depth_min, facts.depth_max, facts.secured_until) == (answer.depth_min, answer.depth_max, answer.secured_until)
        assert facts.path_count >= 1
        multi_path += facts.path_count > 1
        compared += 1
    assert compared > 2500 and unreachable > 50 and multi_path > 1000
