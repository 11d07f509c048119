"""Exposure per party and the what-if questions, on a small hand-made portfolio."""
from __future__ import annotations

from datetime import date

import pytest

from chainrisk.analysis.blocks import analyse_portfolio
from chainrisk.analysis.exposure import UnknownParty, exposure, remove_party, resolve_party, transfer_block
from chainrisk.analysis.model import Hop, Portfolio
from chainrisk.analysis.writeback import analysis_rows

AS_OF = date(2026, 1, 1)


def hop(block: str, provider: str, recipient: str, end: str, prole: str = "upstream", rrole: str = "upstream") -> Hop:
    return Hop(block, provider.casefold(), provider, prole, recipient.casefold(), recipient, rrole, date(2024, 1, 1),
               date.fromisoformat(end), 64500 if rrole == "lessee" else None, None, "LOA")


# Big Holder supplies three blocks; Platform carries two of them alone, a third jointly with Other Up.
PORTFOLIO = Portfolio(hops=[
    hop("192.0.2.0/24", "Big Holder", "Platform", "2028-01-01", prole="holder"),
    hop("192.0.2.0/24", "Platform", "Acme", "2027-01-01", rrole="lessee"),
    hop("198.51.100.0/23", "Big Holder", "Platform", "2028-01-01", prole="holder"),
    hop("198.51.100.0/23", "Platform", "Beta", "2027-06-01", rrole="lessee"),
    hop("203.0.113.0/24", "Big Holder", "Platform", "2026-03-01", prole="holder"),
    hop("203.0.113.0/24", "Big Holder", "Other Up", "2029-01-01", prole="holder"),
    hop("203.0.113.0/24", "Platform", "Acme", "2026-03-01", rrole="lessee"),
    hop("203.0.113.0/24", "Other Up", "Acme", "2027-09-01", rrole="lessee"),
    hop("100.64.0.0/24", "Small Holder", "Acme", "2027-01-01", prole="holder", rrole="lessee"),
])


@pytest.fixture
def analysis():
    return analyse_portfolio(PORTFOLIO, AS_OF)


def test_exposure_counts_blocks_addresses_and_lessees_per_spof(analysis):
    rows = [(r.party, r.spof_blocks, r.spof_addresses, r.spof_lessees, r.share, r.lessees) for r in exposure(analysis)]
    total = 256 + 512 + 256 + 256
    assert rows == [
        ("Big Holder", 3, 1024, 2, round(1024 / total, 6), ["Acme", "Beta"]),
        ("Platform", 2, 768, 2, round(768 / total, 6), ["Acme", "Beta"]),
        ("Small Holder", 1, 256, 1, round(256 / total, 6), ["Acme"]),
    ]
    assert list(exposure(analysis)[0].as_dict())[:3] == ["party", "spof_blocks", "spof_addresses"]


def test_removing_a_party_lists_lost_blocks_per_lessee_and_secured_until_changes(analysis):
    impact = remove_party(analysis, resolve_party(analysis, "platform"))
    assert [(x.lessee, x.blocks, x.addresses) for x in impact.lost] == [("Beta", ["198.51.100.0/23"], 512), ("Acme", ["192.0.2.0/24"], 256)]
    assert (impact.blocks_touched, impact.blocks_cut_off, impact.addresses_cut_off) == (3, 2, 768)
    # 203.0.113.0/24 keeps the Other Up path; its secured_until is that path's minimum either way
    assert impact.secured_until_changes == []
    impact = remove_party(analysis, resolve_party(analysis, "Other Up"))
    assert impact.lost == []
    assert [(c.block, c.before, c.after) for c in impact.secured_until_changes] == [
        ("203.0.113.0/24", date(2027, 9, 1), date(2026, 3, 1))
    ]


def test_removing_a_lessee_cuts_nothing_upstream(analysis):
    impact = remove_party(analysis, resolve_party(analysis, "Acme"))
    assert impact.lost == [] and impact.own_blocks == ["100.64.0.0/24", "192.0.2.0/24", "203.0.113.0/24"]


def test_transfer_moves_the_holder_position_and_its_exposure(analysis):
    impact = transfer_block(analysis, "192.0.2.0/23", "New Corp")
    assert [(c.block, c.holders_before, c.holders_after, c.spofs_after) for c in impact.blocks] == [
        ("192.0.2.0/24", ["Big Holder"], ["New Corp"], ["New Corp", "Platform"]),
    ]
    assert [(e.party, e.spof_addresses_before, e.spof_addresses_after) for e in impact.exposure_changes] == [
        ("Big Holder", 1024, 768), ("New Corp", 0, 256),
    ]


def test_transfer_to_a_party_already_in_the_chain_makes_it_the_holder(analysis):
    impact = transfer_block(analysis, "198.51.100.0/23", "Platform")
    (change,) = impact.blocks
    assert (change.holders_after, change.spofs_after, change.errors_after) == (["Platform"], ["Platform"], [])


def test_unknown_party_and_block_are_reported(analysis):
    with pytest.raises(UnknownParty, match="no party named 'Nobody'"):
        resolve_party(analysis, "Nobody")
    with pytest.raises(LookupError, match="no leased block equals or lies inside 10.0.0.0/8"):
        transfer_block(analysis, "10.0.0.0/8", "X")


def test_write_back_rows(analysis):
    block_rows, spof_rows = analysis_rows(analysis)
    row = next(r for r in block_rows if r["prefix"] == "203.0.113.0/24")
    assert (row["depth_min"], row["depth_max"], row["spof_count"], row["secured_until"], row["path_count"]) == (2, 2, 1, date(2027, 9, 1), 2)
    assert sorted((r["party"], r["block"], r["position"]) for r in spof_rows if r["block"] == "192.0.2.0/24") == [
        ("big holder", "192.0.2.0/24", 0), ("platform", "192.0.2.0/24", 1)]
    assert len(spof_rows) == sum(len(r.spof_keys) for r in analysis.blocks)
