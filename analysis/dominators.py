"""Dominators of small DAGs, fast.

A block's chain is a DAG of a handful of parties. ``networkx.immediate_dominators`` (Cooper-Harvey-
Kennedy) is the reference, but building a networkx graph per block costs ~50 us, too much for a
million blocks. On a DAG visited in topological order the dataflow equation is solved in one pass:

    dom(v) = {v} | intersection of dom(p) over the predecessors p of v

with a virtual root in front of every root (holder), so dom(root) = {root}. Sets are int bitmasks
over the nodes' topological positions. tests/unit/test_dominators.py checks this against networkx on
thousands of random DAGs.
"""
from __future__ import annotations

from collections.abc import Sequence


def dominator_masks(preds: Sequence[Sequence[int]], roots: Sequence[bool]) -> list[int]:
    """Dominator sets of the DAG whose nodes ``0..n-1`` are numbered in topological order.

    ``preds[v]`` lists the predecessors of ``v`` (all numbered below ``v``); ``roots[v]`` is True
    when the virtual root has an edge to ``v``. Returns, per node, the bitmask of the nodes that lie
    on every path from the virtual root to it (bit ``i`` = node ``i``; the node itself included,
    the virtual root left out), or 0 for a node the virtual root cannot reach.
    """
    dom = [0] * len(preds)
    for v, incoming in enumerate(preds):
        if roots[v]:
            dom[v] = 1 << v  # the virtual root's edge: only the root itself dominates it
            continue
        acc = -1
        for p in incoming:
            d = dom[p]
            if d:
                acc &= d
        if acc != -1:
            dom[v] = acc | (1 << v)
    return dom


def mask_members(mask: int) -> list[int]:
    """The node numbers whose bits are set in ``mask``, ascending (= topological order)."""
    members = []
    i = 0
    while mask:
        if mask & 1:
            members.append(i)
        mask >>= 1
        i += 1
    return members
