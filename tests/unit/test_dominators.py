"""The bitmask dominator pass against networkx.immediate_dominators on thousands of random DAGs."""
from __future__ import annotations

import random

import networkx as nx

from chainrisk.analysis.dominators import dominator_masks, mask_members

ROOT = "root"


def networkx_dominators(n: int, edges: list[tuple[int, int]], roots: list[int]) -> dict[int, set[int]]:
    """Dominator sets (virtual root excluded) of every node reachable from the virtual root."""
    graph = nx.DiGraph()
    graph.add_node(ROOT)
    graph.add_nodes_from(range(n))
    graph.add_edges_from(edges)
    graph.add_edges_from((ROOT, r) for r in roots)
    idom = nx.immediate_dominators(graph, ROOT)
    reachable = nx.descendants(graph, ROOT)
    out = {}
    for v in reachable:
        chain, node = set(), v
        while node != ROOT:
            chain.add(node)
            node = idom[node]
        out[v] = chain
    return out


def random_dag(rng: random.Random) -> tuple[int, list[tuple[int, int]], list[int]]:
    n = rng.randint(1, 9)
    density = rng.random()
    edges = [(u, v) for u in range(n) for v in range(u + 1, n) if rng.random() < density]
    roots = [v for v in range(n) if rng.random() < 0.3] or [0]
    return n, edges, roots


def test_bitmask_dominators_match_networkx_on_random_dags():
    rng = random.Random(20261127)
    checked = 0
    for _ in range(4000):
        n, edges, roots = random_dag(rng)
        preds: list[list[int]] = [[] for _ in range(n)]
        for u, v in edges:
            preds[v].append(u)
        is_root = [v in roots for v in range(n)]
        masks = dominator_masks(preds, is_root)
        expected = networkx_dominators(n, edges, roots)
        for v in range(n):
            got = set(mask_members(masks[v]))
            assert got == expected.get(v, set()), (n, edges, roots, v)
            checked += 1
    assert checked > 15000


def test_mask_members_lists_set_bits_in_order():
    assert mask_members(0) == []
    assert mask_members(0b101001) == [0, 3, 5]
