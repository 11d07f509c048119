"""The analysis against the brute-force reference on a generated register with parallel paths,
diamonds and broken blocks: for every block, the SPOFs (remove each party, test reachability),
reachability, depth and secured-until (path enumeration) must agree."""
from __future__ import annotations

from collections import Counter
from datetime import date

import pytest

from chainrisk import synthetic
from chainrisk.analysis.blocks import analyse_portfolio
from chainrisk.analysis.bruteforce import brute_force_block, lessee_reachable
from chainrisk.analysis.exposure import exposure, remove_party

AS_OF = date(2026, 11, 27)


@pytest.fixture(scope="module")
def generated():
    portfolio = synthetic.generate(4000, seed=11, broken_rate=0.03)
    return portfolio, analyse_portfolio(synthetic.to_portfolio(portfolio), AS_OF)


def test_every_block_agrees_with_brute_force(generated):
    portfolio, analysis = generated
    shapes = Counter(b.shape for b in portfolio.blocks)
    assert shapes["parallel"] > 200 and shapes["diamond"] > 150  # the register really has several paths
    compared = 0
    for result in analysis.blocks:
        hops = analysis.hops_by_block[result.block]
        lessees = {h.recipient for h in hops if h.recipient_role == "lessee"}
        if len(lessees) != 1 or any(e.startswith("cycle") for e in result.data_errors):
            assert result.data_errors
            continue
        answer = brute_force_block(hops)
        assert answer.reachable == (not result.data_errors), result.block
        assert answer.spofs == frozenset(result.spof_keys), result.block
        assert (answer.depth_min, answer.depth_max) == (result.depth_min, result.depth_max), result.block
        assert answer.secured_until == result.secured_until, result.block
        compared += 1
    assert compared > 3800
    multi_path = [r for r in analysis.blocks if r.path_count > 1]
    assert len(multi_path) > 500
    # with parallel upstreams only the holder is left as a SPOF
    assert any(len(r.spofs) == 1 and r.depth_min == 2 for r in multi_path)


def test_generated_defects_are_reported_as_data_errors(generated):
    portfolio, analysis = generated
    by_block = {r.block: r for r in analysis.blocks}
    expected = {"cycle": "cycle", "no-holder": "no holder", "no-lessee": "no lessee"}
    seen = Counter()
    for block in portfolio.blocks:
        if block.defect in expected:
            errors = by_block[block.prefix].data_errors
            assert any(e.startswith(expected[block.defect]) for e in errors), (block.prefix, block.defect, errors)
            seen[block.defect] += 1
    assert len(seen) == 3 and min(seen.values()) >= 3, seen


def test_removing_a_party_cuts_off_exactly_the_blocks_it_is_a_spof_for(generated):
    _, analysis = generated
    for row in exposure(analysis)[:6]:
        impact = remove_party(analysis, row.party_key)
        cut = {b for lost in impact.lost for b in lost.blocks}
        spof_for = {r.block for r in analysis.blocks if row.party_key in r.spof_keys}
        assert cut == spof_for
        assert impact.addresses_cut_off == row.spof_addresses
        for block in cut:  # and the brute force agrees that nothing reaches the lessee without it
            result = analysis.block(block)
            assert not lessee_reachable(analysis.hops_by_block[block], result.lessee_key, removed=row.party_key)
