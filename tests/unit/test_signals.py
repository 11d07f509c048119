"""Routing, reputation and source-clarity signals, and the prefix indexes behind them."""
from __future__ import annotations

import ipaddress
import random
from datetime import date

from chainrisk.analysis.blocks import analyse_portfolio
from chainrisk.analysis.model import Hop, Listing, Portfolio, RegistryRecord, RouteObjectRecord, VrpRecord
from chainrisk.analysis.prefix_index import CoveringIndex, OverlapIndex
from chainrisk.analysis.signals import comparable_name, origin_validation, validate_route, vrp_index
from chainrisk.common.prefixes import int_to_address, prefix_ints

AS_OF = date(2026, 1, 1)


def test_origin_validation_follows_rfc_6811():
    assert origin_validation([], 24, 64500) == ("NotFound", None)
    assert origin_validation([(24, 64500)], 24, 64500) == ("Valid", None)
    assert origin_validation([(24, 64501)], 24, 64500) == ("Invalid", "asn-mismatch")
    assert origin_validation([(24, 64500)], 25, 64500) == ("Invalid", "too-specific")
    # one matching VRP is enough, whatever the others say
    assert origin_validation([(16, 64501), (24, 64500)], 24, 64500) == ("Valid", None)
    # AS0 never matches, not even a route from AS0
    assert origin_validation([(24, 0)], 24, 0) == ("Invalid", "asn-mismatch")
    assert origin_validation([(24, 0)], 24, 64500) == ("Invalid", "asn-mismatch")


def test_covering_index_finds_exactly_the_covering_prefixes():
    rng = random.Random(5)
    prefixes = set()
    while len(prefixes) < 400:
        length = rng.randint(8, 24)
        first = rng.randrange(0, 1 << 32) & ((0xFFFFFFFF << (32 - length)) & 0xFFFFFFFF)
        prefixes.add(f"{int_to_address(first)}/{length}")
    index = CoveringIndex.from_items((p, p) for p in prefixes)
    nets = {p: ipaddress.ip_network(p) for p in prefixes}
    for probe in list(prefixes)[:100] + [f"{int_to_address(rng.randrange(0, 1 << 32) & 0xFFFFFF00)}/24" for _ in range(100)]:
        net = ipaddress.ip_network(probe)
        expected = sorted(p for p, n in nets.items() if net.subnet_of(n))
        assert sorted(index.covering(*prefix_ints(probe))) == expected


def test_overlap_index_returns_covering_and_contained_entries():
    index = OverlapIndex([(p, p) for p in ("10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "10.1.2.128/25", "10.2.0.0/16", "11.0.0.0/24")])
    assert sorted(index.overlapping(*prefix_ints("10.1.0.0/16"))) == ["10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "10.1.2.128/25"]
    assert sorted(index.overlapping(*prefix_ints("10.1.2.0/25"))) == ["10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24"]
    assert index.overlapping(*prefix_ints("12.0.0.0/8")) == []


def test_vrp_index_validation_of_a_block():
    index = vrp_index([VrpRecord("104.144.0.0/16", 24, 16509, "arin")])
    assert validate_route(index, *prefix_ints("104.144.194.0/24"), 16509) == ("Valid", None)
    assert validate_route(index, *prefix_ints("104.144.194.0/25"), 16509) == ("Invalid", "too-specific")
    assert validate_route(index, *prefix_ints("104.144.194.0/24"), 55286) == ("Invalid", "asn-mismatch")
    assert validate_route(index, *prefix_ints("104.145.0.0/24"), 16509) == ("NotFound", None)


def hop(block: str, provider: str, prole: str, recipient: str, rrole: str, asn: int | None = None, doc: str | None = "LOA") -> Hop:
    return Hop(block, provider.casefold(), provider, prole, recipient.casefold(), recipient, rrole, date(2024, 1, 1),
               date(2027, 1, 1), asn, None, doc)


def test_routing_readiness_and_reputation_of_a_block():
    block = "198.51.100.0/24"
    portfolio = Portfolio(
        hops=[hop(block, "Holder", "holder", "Lessee", "lessee", asn=64500)],
        vrps=[VrpRecord(block, 24, 64500, "ripe")],
        origins={"198.51.0.0/16": (64999,), block: (64500,)},
        route_objects=[RouteObjectRecord("198.51.100.0/24", 64500, "ripe")],
        listings=[Listing("198.51.100.128/25", "spamhaus-drop", "SBL1"), Listing("203.0.113.0/24", "spamhaus-drop", "SBL2")],
    )
    r = analyse_portfolio(portfolio, AS_OF).blocks[0]
    assert (r.rov_state, r.rov_reason, r.bgp_seen, r.irr_route, r.routing_ready) == ("Valid", None, True, True, True)
    assert r.bgp_origins == (64500, 64999)  # the block's own origin first, then covering prefixes'
    assert r.listings == ("spamhaus-drop SBL1 198.51.100.128/25",)  # overlapping (inside), not the other one
    assert r.abuse_contact is None  # no registry object: unknown
    assert any(f.startswith("blocklisted") for f in r.risk_flags)


def test_lessee_origin_seen_only_on_a_covering_prefix_counts_as_seen():
    block = "198.51.100.0/24"
    portfolio = Portfolio(hops=[hop(block, "Holder", "holder", "Lessee", "lessee", asn=64500)], origins={"198.51.0.0/16": (64500,)})
    r = analyse_portfolio(portfolio, AS_OF).blocks[0]
    assert (r.rov_state, r.bgp_seen, r.irr_route, r.routing_ready) == ("NotFound", True, False, False)


def registration(block: str, handle: str, role: str, org: str | None, **kw) -> RegistryRecord:
    return RegistryRecord(block, "ripe", handle, kw.pop("status", role.upper()), role, org.casefold() if org else None, org, **kw)


def test_source_clarity_flags_a_holder_mismatch_and_an_undocumented_intermediary_without_footprint():
    block = "192.0.2.0/24"
    regs = [registration("192.0.2.0/23", "A", "holder", "Real Holder GmbH", abuse_c="AB-1", mnt_lower=("PLATFORM-MNT",))]
    hops = [hop(block, "Contract Holder", "holder", "Shadow Broker", "broker", doc=None),
            hop(block, "Shadow Broker", "broker", "Platform", "upstream", doc=None),
            hop(block, "Platform", "upstream", "Lessee", "lessee", asn=64500, doc=None)]
    r = analyse_portfolio(Portfolio(hops=hops, registrations=regs), AS_OF).blocks[0]
    assert r.source_issues == (
        "contract holder Contract Holder is not the registry holder Real Holder GmbH (A)",
        "intermediary Shadow Broker has no registry footprint and no document_ref",
    )  # Platform has a footprint: it is the allocation's mnt-lower
    assert r.source_clear is False and r.abuse_contact is True
    matching = [hop(block, "Real Holder", "holder", "Shadow Broker", "broker", doc="LOA-7"),
                hop(block, "Shadow Broker", "broker", "Lessee", "lessee", asn=64500)]
    r = analyse_portfolio(Portfolio(hops=matching, registrations=regs), AS_OF).blocks[0]
    assert r.source_clear is True  # "Real Holder" == "Real Holder GmbH" after dropping the legal form


def test_comparable_name():
    assert comparable_name("B2 Net Solutions Inc.") == comparable_name("b2  net solutions") == "b2 net solutions"
    assert comparable_name("IPXO-MNT") == "ipxo"
    assert comparable_name("Ltd") == "ltd"  # never reduced to nothing
