"""The registry chain, from hand-built records shaped like the real ARIN 104.144.194.0 reply."""
from __future__ import annotations

from datetime import date

from chainrisk.analysis.blocks import analyse_portfolio
from chainrisk.analysis.model import Hop, Portfolio, RegistryRecord
from chainrisk.analysis.registry_chain import order_registry_records, registry_links

ARIN = [  # listed out of order on purpose: the order comes from prefixes and parent handles
    RegistryRecord("104.144.194.0/23", "arin", "NET-104-144-194-0-1", "REASSIGNED", "lessee", "c07015515", "ProxynVPN",
                   "NET-104-144-0-0-2", "NOC13339-ARIN", netname="NET-104-144-194-0-1"),
    RegistryRecord("104.144.0.0/16", "arin", "NET-104-144-0-0-2", "REALLOCATED", "upstream", "bns-34", "B2 Net Solutions Inc.",
                   "NET-104-144-0-0-1", "NOC13339-ARIN", netname="SERVERMANIA"),
    RegistryRecord("104.144.0.0/16", "arin", "NET-104-144-0-0-1", "DIRECT ALLOCATION", "holder", "bns-34", "B2 Net Solutions Inc.",
                   "NET-104-0-0-0-0", "NOC13339-ARIN", netname="B2NETSOLUTIONS"),
]


def test_records_are_ordered_by_prefix_then_parent_handle():
    assert [r.handle for r in order_registry_records(ARIN)] == ["NET-104-144-0-0-1", "NET-104-144-0-0-2", "NET-104-144-194-0-1"]


def test_a_record_whose_org_repeats_its_parents_is_its_netname():
    links = registry_links(ARIN)
    assert [(link.party, link.party_name, link.by_netname, link.role) for link in links] == [
        ("bns-34", "B2 Net Solutions Inc.", False, "holder"),
        ("servermania", "SERVERMANIA", True, "upstream"),
        ("c07015515", "ProxynVPN", False, "lessee"),
    ]


def test_registry_chain_analysis_of_the_assignment():
    analysis = analyse_portfolio(Portfolio(registrations=ARIN), date(2026, 1, 1))
    (r,) = analysis.blocks
    assert (r.block, r.basis, r.lessee, r.holders) == ("104.144.194.0/23", "registry", "ProxynVPN", ("B2 Net Solutions Inc.",))
    assert (r.depth_min, r.depth_max) == (2, 2)
    assert r.spofs == ("B2 Net Solutions Inc.", "SERVERMANIA")
    assert r.secured_until is None  # registry rights carry no contract end date
    assert r.abuse_contact is True


def test_a_contract_chain_takes_precedence_and_the_registry_chain_is_shown_beside_it():
    hops = [Hop("104.144.194.0/23", "bns-34", "B2 Net Solutions", "holder", "c07015515", "ProxynVPN", "lessee",
                date(2024, 1, 1), date(2026, 6, 30), 64500, None, "LOA-1")]
    (r,) = analyse_portfolio(Portfolio(hops=hops, registrations=ARIN), date(2026, 1, 1)).blocks
    assert (r.basis, r.depth_min, r.secured_until) == ("contract", 1, date(2026, 6, 30))
    assert r.registry_chain[0] == "ARIN" and len(r.registry_chain) == 4
    assert r.source_clear  # same holder by key


def test_records_with_no_holder_give_no_registry_chain():
    orphan = [RegistryRecord("192.0.2.0/24", "ripe", "X", "ASSIGNED PA", "lessee", "l", "L")]
    assert registry_links(orphan) == []
    assert analyse_portfolio(Portfolio(registrations=orphan), date(2026, 1, 1)).blocks == []
