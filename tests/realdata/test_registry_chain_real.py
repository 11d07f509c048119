"""Registry chains from real whois data, read by the ingest workers and turned into analysis records
the way both graph stores do (``graph.records.fact_props`` -> ``graph.portfolio.registration_from_row``)."""
from __future__ import annotations

from datetime import date

from chainrisk.analysis.blocks import analyse_portfolio
from chainrisk.analysis.exposure import exposure
from chainrisk.analysis.model import Hop, Portfolio, RegistryRecord
from chainrisk.graph.stores.portfolio import REGISTRATION_FIELDS, registration_from_row, values_of
from chainrisk.graph.stores.records import fact_props
from chainrisk.ingest import arin, rpsl
from chainrisk.ingest.common import Reject, Skip
from chainrisk.ingest.events import party_key

AS_OF = date(2026, 11, 27)


def registry_records(items: list) -> list[RegistryRecord]:
    return [registration_from_row(values_of(fact_props(e), REGISTRATION_FIELDS))
            for e in items if not isinstance(e, (Reject, Skip)) and e.type == "registration"]


def test_arin_104_144_194_0_chain_holder_upstream_lessee(real_sample, ingest_file):
    path = real_sample("arin_rdap_whois/arin_whois_n+104.144.194.0_2018.txt")
    analysis = analyse_portfolio(Portfolio(registrations=registry_records(ingest_file(arin.parse, path))), AS_OF)

    (block,) = analysis.blocks  # the /23 assignment is the one leased block; the /16 nets are its chain
    assert block.block == "104.144.194.0/23"
    assert block.basis == "registry"
    assert block.holders == ("B2 Net Solutions Inc.",)
    assert block.lessee == "ProxynVPN"
    assert (block.depth_min, block.depth_max, block.path_count) == (2, 2, 1)
    # the Reallocated net repeats B2's OrgID, so it is represented by its netname (the reseller)
    assert [party_key(s) for s in block.spofs] == ["b2 net solutions inc.", "servermania"]
    assert block.spof_keys == ("bns-34", "servermania")
    assert block.registry_chain == (
        "ARIN",
        "B2 Net Solutions Inc. (DIRECT ALLOCATION, NET-104-144-0-0-1)",
        "SERVERMANIA (REALLOCATED, NET-104-144-0-0-2)",
        "ProxynVPN (REASSIGNED, NET-104-144-194-0-1)",
    )
    assert block.registry_holder == "B2 Net Solutions Inc."
    assert block.abuse_contact is True
    assert block.data_errors == ()
    assert [(r.party, r.spof_blocks, r.spof_addresses, r.share) for r in exposure(analysis)] == [
        ("B2 Net Solutions Inc.", 1, 512, 1.0),
        ("SERVERMANIA", 1, 512, 1.0),
    ]


def test_ripe_191_96_contract_chain_through_the_ipxo_broker(real_sample, ingest_file):
    """A lease of 191.96.1.0/24 through IPXO: IPXO has no registration of its own, but it is the
    allocation's mnt-lower / mnt-routes, which is a registry footprint; the contract holder matches
    the registry holder by its org handle."""
    path = real_sample("rpsl_whois/ripe_whois_191.96.0.0_16_ipxo_broker_2022.txt")
    records = registry_records(ingest_file(rpsl.parse, path))

    def lease(holder_name: str, holder_id: str | None) -> list[Hop]:
        block = "191.96.1.0/24"
        return [
            Hop(block, party_key(holder_name, holder_id), holder_name, "holder", "ipxo", "IPXO", "broker", date(2024, 1, 1), date(2027, 1, 1)),
            Hop(block, "ipxo", "IPXO", "broker", "lessee 47583", "Lessee 47583", "lessee", date(2024, 1, 1), date(2026, 6, 1), 47583),
        ]

    by_handle = analyse_portfolio(Portfolio(hops=lease("Cyber Assets FZCO", "ORG-CAF4-RIPE"), registrations=records), AS_OF).blocks[0]
    assert by_handle.source_clear, by_handle.source_issues
    assert by_handle.registry_holder == "ORG-CAF4-RIPE"
    assert by_handle.abuse_contact is True

    by_other_name = analyse_portfolio(Portfolio(hops=lease("Some Other Holder Ltd", None), registrations=records), AS_OF).blocks[0]
    assert by_other_name.source_issues == (
        "contract holder Some Other Holder Ltd is not the registry holder ORG-CAF4-RIPE (191.96.0.0 - 191.96.255.255)",
    )
