"""Party depths (used by the blast radius of an upstream change) follow the chain analysis: the
lessee's depth is the block's ``depth_min``, on every shape the synthetic portfolio has."""
from __future__ import annotations

from collections import Counter

from chainrisk import synthetic
from chainrisk.analysis.chains import analyse_chain, party_depths


def test_the_lessee_depth_is_the_chain_depth_min_on_every_block():
    portfolio = synthetic.to_portfolio(synthetic.generate(3000, seed=5, broken_rate=0.02))
    by_block: dict[str, list] = {}
    for h in portfolio.hops:
        by_block.setdefault(h.block, []).append(h)
    shapes: Counter[str] = Counter()
    for block, hops in by_block.items():
        facts = analyse_chain(block, hops)
        depths = party_depths(hops)
        if facts.errors:
            shapes["broken"] += 1
            continue
        shapes["line" if facts.path_count == 1 else "dag"] += 1
        assert depths[facts.lessee] == facts.depth_min, block
        assert all(depths[k] == 0 for k in facts.holders), block
        assert set(facts.spofs) <= set(depths) <= set(facts.parties), block  # an unsupplied party (a warning) is not reached
    assert min(shapes["line"], shapes["dag"]) > 100 and shapes["broken"] > 0, shapes
