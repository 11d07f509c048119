"""The small risk graph the query-library and Browser tests run against.

SYNTHETIC DATA, hand-made (benchmark space 198.18.0.0/15 and documentation space 203.0.113.0/24):
a lease register of four leased blocks plus the registry, routing and reputation facts around
them. It is loaded the way production data is: events -> ``apply_batch`` -> alerts -> analysis
(``analyse_portfolio``) -> ``write_analysis``, into either store.

    block            chain (contract dates)                                              signals
    198.18.1.0/24    Northwind Holdings -(2024-01-01..2026-06-30)-> LeaseCo              ROV Valid, IRR, BGP
                     LeaseCo -(2025-01-01..2027-06-30)-> Acme Hosting AS64501           renewal gap at LeaseCo
    198.18.2.0/24    Northwind -> LeaseCo -> Beta Cloud AS64502 and                      DROP 198.18.2.0/23,
                     Northwind -> BrokerX (broker, LOA) -> Beta Cloud                    ROV Invalid, no IRR
    203.0.113.0/24   Resale Ltd -(2025-01-01..2026-12-31)-> Acme Hosting AS64501         registry holder is
                                                                                         Southgate Networks,
                                                                                         no abuse-c, no ROA,
                                                                                         AS_SET route, RADB
                                                                                         route object
    198.51.100.0/24  Harbor Holdings -(2025-01-01..2026-03-31)-> Old Tenant AS64503       still announced on
                     (register transit AS64511)                                          2026-05-30, AS64503 on
                                                                                         ASN-DROP, ASPA names only
                                                                                         AS64510 but the path runs
                                                                                         via AS64511

Routing proof: A's only VRP lapses 12 hours after its export; an AS0 VRP covers 198.18.2.0/23 (block
B and the idle 198.18.3.0/24). Northwind's /16 less A and B is its idle space.

Registry: 198.18.0.0/16 ALLOCATED PA to Northwind Holdings (ORG-NW1-RIPE, mnt-lower LEASECO-MNT,
abuse-c), delegated-stats holder id nw-0001, changing to ew-0002 on 2026-04-01; 203.0.113.0/24
transferred from Old Holder Inc to Southgate Networks on 2026-03-01 and registered to Southgate.
An IRR route object for 198.18.2.0/24 is withdrawn (a tombstone). Loading raises two holder-change
alerts (the /16's delegated holder, the /24's transfer); the write-back adds SPOF_FOR. The whole
resulting graph is written out in tests/risk_graph_expected.py.
"""
from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

from chainrisk.graph.config import Settings
from chainrisk.ingest.events import (
    AsnListing,
    Aspa,
    AsPath,
    BlocklistEntry,
    Delegation,
    HolderTransfer,
    LeaseHop,
    Party,
    Provenance,
    Registration,
    RouteObject,
    RouteOrigin,
    Vrp,
)

AS_OF = date(2026, 6, 1)  # the day the analysis judges expiry against
INGESTED = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
GROUP = "querylib-tests"

BLOCK_A = "198.18.1.0/24"
BLOCK_B = "198.18.2.0/24"
BLOCK_C = "203.0.113.0/24"
BLOCK_D = "198.51.100.0/24"

NORTHWIND = Party(name="Northwind Holdings", id="ORG-NW1-RIPE")
LEASECO = Party(name="LeaseCo")
BROKERX = Party(name="BrokerX")
ACME = Party(name="Acme Hosting")
BETA = Party(name="Beta Cloud")
RESALE = Party(name="Resale Ltd")
HARBOR = Party(name="Harbor Holdings")
OLD_TENANT = Party(name="Old Tenant")

# block, provider, provider role, recipient, recipient role, start, end, lessee ASN, document
LEASE_REGISTER: list[tuple[str, Party, str, Party, str, date, date, int | None, str | None]] = [
    (BLOCK_A, NORTHWIND, "holder", LEASECO, "upstream", date(2024, 1, 1), date(2026, 6, 30), None, None),
    (BLOCK_A, LEASECO, "upstream", ACME, "lessee", date(2025, 1, 1), date(2027, 6, 30), 64501, None),
    (BLOCK_B, NORTHWIND, "holder", LEASECO, "upstream", date(2024, 1, 1), date(2027, 12, 31), None, None),
    (BLOCK_B, LEASECO, "upstream", BETA, "lessee", date(2025, 1, 1), date(2027, 12, 31), 64502, None),
    (BLOCK_B, NORTHWIND, "holder", BROKERX, "broker", date(2024, 1, 1), date(2027, 12, 31), None, "LOA-BX-2024"),
    (BLOCK_B, BROKERX, "broker", BETA, "lessee", date(2025, 1, 1), date(2026, 12, 31), 64502, "LOA-BX-2024"),
    (BLOCK_C, RESALE, "holder", ACME, "lessee", date(2025, 1, 1), date(2026, 12, 31), 64501, None),
]


def _at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc)


def _prov(source: str, observed: date, line: int) -> Provenance:
    return Provenance(source=source, reference=f"{source}-fixture.txt", line=line, observed_at=_at(observed), ingested_at=INGESTED)


def lease_events() -> list[LeaseHop]:
    """One LeaseHop per register row (observed 2026-05-31, the register's export day), and block D's
    ended lease, whose row names the lessee's transit provider."""
    return [
        *(LeaseHop(block=block, provider=provider, provider_role=prole, recipient=recipient, recipient_role=rrole,
                   start_date=start, end_date=end, lessee_asn=asn, document_ref=doc,
                   provenance=_prov("lease-register", date(2026, 5, 31), line)).with_id()  # type: ignore[misc]
          for line, (block, provider, prole, recipient, rrole, start, end, asn, doc) in enumerate(LEASE_REGISTER, start=2)),
        LeaseHop(block=BLOCK_D, provider=HARBOR, provider_role="holder", recipient=OLD_TENANT, recipient_role="lessee",  # type: ignore[arg-type]
                 start_date=date(2025, 1, 1), end_date=date(2026, 3, 31), lessee_asn=64503, transit_asns=(64511,),
                 provenance=_prov("lease-register", date(2026, 5, 31), len(LEASE_REGISTER) + 2)).with_id(),
    ]


def registry_events() -> list[Any]:
    """Registrations, delegated-stats records and a transfer."""
    return [
        Registration(block="198.18.0.0/16", registry="ripe", handle="198.18.0.0 - 198.18.255.255", status="ALLOCATED PA",
                     role="holder", org=NORTHWIND, netname="NW-NET", country="NL", mnt_by=("NW-MNT",),
                     mnt_lower=("LEASECO-MNT",), mnt_routes=("LEASECO-MNT",), abuse_c="NW-ABUSE",
                     provenance=_prov("ripe-whois", date(2025, 1, 15), 1)).with_id(),
        Delegation(block="198.18.0.0/16", registry="ripencc", country="NL", status="allocated", holder_id="nw-0001",
                   registered=date(2010, 5, 1), provenance=_prov("ripencc-delegated", date(2025, 1, 10), 7)).with_id(),
        Delegation(block="198.18.0.0/16", registry="ripencc", country="NL", status="allocated", holder_id="ew-0002",
                   registered=date(2010, 5, 1), provenance=_prov("ripencc-delegated", date(2026, 4, 1), 7)).with_id(),
        Registration(block=BLOCK_C, registry="ripe", handle="203.0.113.0 - 203.0.113.255", status="ALLOCATED PA",
                     role="holder", org=Party(name="Southgate Networks", id="ORG-SG1-RIPE"), netname="SG-NET",
                     mnt_by=("SG-MNT",), provenance=_prov("ripe-whois", date(2026, 5, 1), 1)).with_id(),
        HolderTransfer(block=BLOCK_C, from_party=Party(name="Old Holder Inc"), to_party=Party(name="Southgate Networks"),
                       transfer_date=_at(date(2026, 3, 1)), transfer_type="RESOURCE_TRANSFER", source_rir="RIPE NCC",
                       recipient_rir="RIPE NCC", provenance=_prov("ripe-transfers", date(2026, 3, 2), 3)).with_id(),
    ]


def routing_and_reputation_events() -> list[Any]:
    return [
        # lapsing: the only VRP making Acme Valid expires 12 hours after the export was built
        Vrp(block=BLOCK_A, max_length=24, asn=64501, ta="ripe", expires=datetime(2026, 5, 30, 12, tzinfo=timezone.utc),
            provenance=_prov("rpki-client", date(2026, 5, 30), 1)).with_id(),
        Vrp(block="198.18.0.0/16", max_length=16, asn=64500, ta="ripe", provenance=_prov("rpki-client", date(2026, 5, 30), 2)).with_id(),
        # AS0 over block B and the idle 198.18.3.0/24 beside it
        Vrp(block="198.18.2.0/23", max_length=32, asn=0, ta="ripe", provenance=_prov("rpki-client", date(2026, 5, 30), 3)).with_id(),
        # block C: announced only with an AS_SET (origin NONE); its route object only in RADB, for RIPE space
        RouteOrigin(block=BLOCK_C, origins=(), as_sets=("64501,64999",), provenance=_prov("pfx2as", date(2026, 5, 30), 3)).with_id(),
        RouteObject(block=BLOCK_C, origin_asn=64501, registry="RADB", provenance=_prov("irr", date(2026, 5, 30), 3)).with_id(),
        RouteObject(block=BLOCK_A, origin_asn=64501, registry="RIPE", mnt_by=("LEASECO-MNT",),
                    provenance=_prov("irr", date(2026, 5, 30), 1)).with_id(),
        RouteOrigin(block=BLOCK_A, origins=(64501,), provenance=_prov("pfx2as", date(2026, 5, 30), 1)).with_id(),
        RouteOrigin(block=BLOCK_B, origins=(64502,), provenance=_prov("pfx2as", date(2026, 5, 30), 2)).with_id(),
        BlocklistEntry(block="198.18.2.0/23", list_name="spamhaus-drop", entry_id="SBL000001",
                       provenance=_prov("spamhaus", date(2026, 5, 30), 1)).with_id(),
        # withdrawn from the IRR: the store keeps only its tombstone, so block B still has no IRR route
        RouteObject(block=BLOCK_B, origin_asn=64502, registry="RIPE", mnt_by=("LEASECO-MNT",), op="retract",
                    provenance=_prov("irr", date(2026, 5, 30), 2)).with_id(),
    ]


def routing_path_events() -> list[Any]:
    """Block D's former lessee still announcing it, its ASN on ASN-DROP, its ASPA and AS path; and
    Acme's ASPA and path for block A, whose upstream the ASPA does name."""
    bgp = _prov("pfx2as", date(2026, 5, 30), 3)
    return [
        RouteOrigin(block=BLOCK_D, origins=(64503,), provenance=bgp).with_id(),
        AsnListing(list_name="spamhaus-asndrop", asn=64503, as_name="OLD-TENANT-AS", country="NL", rir="ripencc",
                   provenance=_prov("spamhaus-asndrop", date(2026, 5, 30), 1)).with_id(),
        Aspa(customer_asn=64503, providers=(64510,), provenance=_prov("rpki-client", date(2026, 5, 30), 3)).with_id(),
        Aspa(customer_asn=64501, providers=(64510,), provenance=_prov("rpki-client", date(2026, 5, 30), 4)).with_id(),
        AsPath(block=BLOCK_D, peer_ip="192.0.2.254", peer_asn=64999, path=(64999, 64511, 64503, 64503),
               provenance=_prov("bgpdump", date(2026, 5, 30), 1)).with_id(),
        AsPath(block=BLOCK_A, peer_ip="192.0.2.254", peer_asn=64999, path=(64999, 64510, 64501),
               provenance=_prov("bgpdump", date(2026, 5, 30), 2)).with_id(),
    ]


def all_events() -> list[Any]:
    return [*lease_events(), *registry_events(), *routing_and_reputation_events(), *routing_path_events()]


def build_risk_graph(store: Any) -> Any:
    """Load :func:`all_events` into ``store`` (either backend, assumed empty), raise the holder-change
    alerts the consumer would raise, analyse the portfolio as of :data:`AS_OF` and write the results
    back. Returns the :class:`~chainrisk.analysis.blocks.PortfolioAnalysis`."""
    from chainrisk.analysis.blocks import analyse_portfolio
    from chainrisk.analysis.idle_space import idle_space
    from chainrisk.analysis.writeback import analysis_rows
    from chainrisk.graph.alerts.engine import AlertEngine

    store.ensure_schema()
    events = all_events()
    result = store.apply_batch(events, {}, GROUP)
    retracts = sum(e.op == "retract" for e in events)
    assert (result.applied, result.retracted) == (len(events) - retracts, retracts), f"fixture events not all applied: {result}"
    AlertEngine(store).process(result.changes)
    portfolio = store.load_portfolio()
    analysis = analyse_portfolio(portfolio, AS_OF)
    block_rows, spof_rows = analysis_rows(analysis, INGESTED, idle_space(portfolio, analysis))
    store.write_analysis(block_rows, spof_rows)
    return analysis


def load_risk_graph(settings: Settings) -> Any:
    """Empty the Neo4j database of ``settings`` and :func:`build_risk_graph` in it through the
    project's Neo4j store. Returns the :class:`~chainrisk.analysis.blocks.PortfolioAnalysis`."""
    from chainrisk.graph.stores.neo4j_store import NeoStore

    store = NeoStore(settings)
    try:
        store.ensure_schema()
        store.wipe()
        return build_risk_graph(store)
    finally:
        store.close()
