"""Per-block chain figures on small hand-made chains, one definition at a time (docs/analysis.md).

Each chain test runs twice: once through ``analyse_chain`` (what the analysis calls: lines take a
shortcut) and once through ``analyse_dag`` (the general path), each compared with the figures
written out in the test."""
from __future__ import annotations

from datetime import date

import pytest

from chainrisk.analysis.blocks import analyse_portfolio
from chainrisk.analysis.chains import _line_chain, analyse_chain, analyse_dag, holder_lessee_paths
from chainrisk.analysis.model import Hop, Portfolio

BLOCK = "198.51.100.0/24"
AS_OF = date(2026, 1, 1)


def hop(provider: str, recipient: str, end: str, *, prole: str | None = None, rrole: str | None = None,
        block: str = BLOCK, asn: int | None = None, doc: str | None = "LOA-1") -> Hop:
    """A hop between parties named like their role: H* holders, U* upstreams, B* brokers, L* lessees."""
    role = {"H": "holder", "U": "upstream", "B": "broker", "L": "lessee"}
    return Hop(block, provider.casefold(), provider, prole or role[provider[0]], recipient.casefold(), recipient,
               rrole or role[recipient[0]], date(2024, 1, 1), date.fromisoformat(end), asn, None, doc)


@pytest.fixture(params=[analyse_chain, analyse_dag], ids=["analyse_chain", "analyse_dag"])
def analyse(request: pytest.FixtureRequest):  # noqa: ANN201 - one of the two analysis functions
    """The figures of ``hops`` (block :data:`BLOCK`) from one of the two functions."""
    return lambda hops: request.param(BLOCK, hops)


LINE = [hop("Holder Co", "Up Ltd", "2027-06-30"), hop("Up Ltd", "Lessee GmbH", "2026-12-31", asn=64500)]
LONG_LINE = [hop("H", "U1", "2026-06-01"), hop("U1", "U2", "2027-01-01"), hop("U2", "L", "2026-12-01")]
PARALLEL = [hop("H", "U1", "2026-03-01"), hop("U1", "L", "2028-01-01"), hop("H", "U2", "2027-09-01"), hop("U2", "L", "2027-05-01")]


def test_only_a_single_line_takes_the_shortcut():
    assert _line_chain(BLOCK, LINE) is not None
    assert _line_chain(BLOCK, list(reversed(LONG_LINE))) is not None  # row order does not matter
    assert _line_chain(BLOCK, PARALLEL) is None
    assert _line_chain(BLOCK, [hop("H", "L", "2026-02-01"), hop("H", "U", "2029-01-01"), hop("U", "L", "2027-01-01")]) is None
    assert _line_chain(BLOCK, [hop("U", "L", "2027-01-01")]) is None  # no holder


def test_line_holder_upstream_lessee(analyse):
    facts = analyse(LINE)
    assert facts.holders == ("holder co",)
    assert (facts.depth_min, facts.depth_max, facts.path_count) == (2, 2, 1)
    assert [facts.name(k) for k in facts.spofs] == ["Holder Co", "Up Ltd"]
    assert facts.secured_until == date(2026, 12, 31)
    assert facts.renewal_gaps == ()
    assert facts.lessee_asn == 64500
    assert facts.errors == ()


def test_long_line_every_party_but_the_lessee_is_a_spof_and_a_hop_outlasting_its_supply_is_a_gap(analyse):
    facts = analyse(list(reversed(LONG_LINE)))
    assert facts.holders == ("h",)
    assert (facts.depth_min, facts.depth_max, facts.path_count) == (3, 3, 1)
    assert [facts.name(k) for k in facts.spofs] == ["H", "U1", "U2"]
    assert facts.secured_until == date(2026, 6, 1)  # the earliest end on the line
    # U1 -> U2 ends 2027-01-01, after H -> U1 (2026-06-01); U2 -> L ends before U1 -> U2
    assert facts.renewal_gaps == ("U1->U2",)
    assert facts.lessee_asn is None and facts.errors == ()


def test_parallel_upstreams_leave_only_the_holder_as_spof_and_secured_until_is_max_of_path_minima(analyse):
    # path minima: 2026-03-01 via U1, 2027-05-01 via U2
    facts = analyse(PARALLEL)
    assert [facts.name(k) for k in facts.spofs] == ["H"]
    assert (facts.depth_min, facts.depth_max, facts.path_count) == (2, 2, 2)
    assert facts.secured_until == date(2027, 5, 1)
    # U1 -> L ends after U1's only supply (H -> U1) ends: a renewal gap; U2 -> L does not
    assert facts.renewal_gaps == ("U1->L",)


def test_broker_where_two_upstreams_join_is_a_spof(analyse):
    facts = analyse([
        hop("H", "U1", "2028-01-01"), hop("H", "U2", "2028-01-01"),
        hop("U1", "Broker X", "2027-01-01"), hop("U2", "Broker X", "2026-06-01"),
        hop("Broker X", "L", "2026-12-01"),
    ])
    assert [facts.name(k) for k in facts.spofs] == ["H", "Broker X"]
    assert (facts.depth_min, facts.depth_max, facts.path_count) == (3, 3, 2)
    assert facts.secured_until == date(2026, 12, 1)
    # Broker X -> L (2026-12-01) is not later than every supply of Broker X (one ends 2027-01-01)
    assert facts.renewal_gaps == ()


def test_direct_and_indirect_paths_give_different_min_and_max_depth(analyse):
    facts = analyse([hop("H", "L", "2026-02-01"), hop("H", "U", "2029-01-01"), hop("U", "L", "2027-01-01")])
    assert (facts.depth_min, facts.depth_max) == (1, 2)
    assert [facts.name(k) for k in facts.spofs] == ["H"]
    assert facts.secured_until == date(2027, 1, 1)


def test_holder_is_not_a_spof_when_another_holder_also_supplies_the_chain(analyse):
    facts = analyse([hop("H1", "U", "2027-01-01"), hop("H2", "U", "2027-01-01"), hop("U", "L", "2026-06-01")])
    assert facts.holders == ("h1", "h2")
    assert [facts.name(k) for k in facts.spofs] == ["U"]


def test_renewal_gap_only_when_later_than_every_supply_and_never_from_a_holder(analyse):
    facts = analyse([
        hop("H", "U", "2026-01-01"), hop("H", "L", "2030-01-01"),  # holder hops never count
        hop("U", "B", "2026-06-01"),  # later than U's only supply: gap
        hop("B", "L", "2026-06-01"),  # equal to B's supply: no gap
    ])
    assert facts.renewal_gaps == ("U->B",)
    facts = analyse([hop("H1", "U", "2026-01-01"), hop("H2", "U", "2027-01-01"), hop("U", "L", "2026-06-01")])
    assert facts.renewal_gaps == ()


@pytest.mark.parametrize(
    ("hops", "error"),
    [
        ([hop("H", "U", "2027-01-01"), hop("U", "B", "2027-01-01"), hop("B", "U", "2027-01-01"), hop("B", "L", "2027-01-01")],
         "cycle: U -> B -> U"),
        ([hop("H", "U", "2027-01-01"), hop("U", "U", "2027-01-01"), hop("U", "L", "2027-01-01")], "cycle: U -> U"),
        ([hop("U", "L", "2027-01-01")], "no holder: no row names a provider with role holder"),
        ([hop("H", "U", "2027-01-01")], "no lessee: no row names a recipient with role lessee"),
        ([hop("H", "L1", "2027-01-01"), hop("H", "L2", "2027-01-01")], "several lessees: L1, L2"),
        ([hop("H", "U", "2027-01-01"), hop("B", "L", "2027-01-01")], "no path from a holder to the lessee L"),
    ],
)
def test_data_errors_are_named(analyse, hops, error):
    facts = analyse(hops)
    assert error in facts.errors
    assert (facts.depth_min, facts.spofs, facts.secured_until) == (None, (), None)


def test_a_broken_block_does_not_stop_the_rest_of_the_portfolio():
    good = [hop("H", "U", "2027-01-01", block="192.0.2.0/24"), hop("U", "L", "2026-05-01", block="192.0.2.0/24", asn=64501)]
    broken = [hop("H", "U", "2027-01-01", block="198.51.100.0/24"), hop("U", "H", "2027-01-01", rrole="holder", block="198.51.100.0/24"),
              hop("U", "L", "2027-01-01", block="198.51.100.0/24")]
    analysis = analyse_portfolio(Portfolio(hops=good + broken), AS_OF)
    by_block = {r.block: r for r in analysis.blocks}
    assert by_block["198.51.100.0/24"].data_errors == ("cycle: H -> U -> H",)
    assert by_block["198.51.100.0/24"].risk_score >= 100
    assert by_block["192.0.2.0/24"].data_errors == ()
    assert by_block["192.0.2.0/24"].spofs == ("H", "U")


def test_names_are_given_as_in_the_input_and_parties_match_by_key():
    hops = [
        Hop(BLOCK, "bns-34", "B2 Net Solutions Inc.", "holder", "servermania", "ServerMania", "upstream", date(2024, 1, 1), date(2027, 1, 1)),
        Hop(BLOCK, "servermania", "SERVERMANIA", "upstream", "c07015515", "ProxynVPN", "lessee", date(2024, 1, 1), date(2026, 1, 1)),
    ]
    result = analyse_portfolio(Portfolio(hops=hops), AS_OF).blocks[0]
    assert result.holders == ("B2 Net Solutions Inc.",)
    assert result.spofs == ("B2 Net Solutions Inc.", "ServerMania")  # first spelling met
    assert result.lessee == "ProxynVPN"
    assert result.as_dict()["secured_until"] == "2026-01-01"


def test_display_paths_are_enumerated_shortest_first():
    hops = [hop("H", "L", "2026-02-01"), hop("H", "U", "2029-01-01"), hop("U", "L", "2027-01-01")]
    assert holder_lessee_paths(hops) == [["h", "l"], ["h", "u", "l"]]
