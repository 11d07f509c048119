"""The whole graph :func:`risk_graph.build_risk_graph` makes, written out by hand from the fixture's
story (tests/risk_graph.py), for the exact-graph tests of both stores (tests/unit/test_exact_graph.py,
tests/integration/test_exact_graph_neo4j.py). Every label and every relationship type the graph
model has (docs/graph-model.md) appears; the machinery labels (ConsumerOffset, Meta, PendingChanges)
are not part of the canonical dump.

NODES: label -> (key fields, the set of their values, one tuple per node carrying the label).
RELS: type -> (start label, end label, check_rels keywords, the sorted list of rows).
"""
from __future__ import annotations

from typing import Any

A, B, C, D = "198.18.1.0/24", "198.18.2.0/24", "203.0.113.0/24", "198.51.100.0/24"
NW16, DROP23 = "198.18.0.0/16", "198.18.2.0/23"
ROLE_LABELS = frozenset({"Holder", "Upstream", "Broker", "Lessee"})  # extra labels of Party nodes
NW_REG = "registration|ripe|198.18.0.0 - 198.18.255.255|198.18.0.0/16"
SG_REG = "registration|ripe|203.0.113.0 - 203.0.113.255|203.0.113.0/24"

NODES: dict[str, tuple[tuple[str, ...], set[tuple[Any, ...]]]] = {
    "Party": (("key", "name", "party_id"), {
        ("org-nw1-ripe", "Northwind Holdings", "ORG-NW1-RIPE"),
        ("leaseco", "LeaseCo", None),
        ("brokerx", "BrokerX", None),
        ("acme hosting", "Acme Hosting", None),
        ("beta cloud", "Beta Cloud", None),
        ("resale ltd", "Resale Ltd", None),
        ("org-sg1-ripe", "Southgate Networks", "ORG-SG1-RIPE"),  # the registration's org (with its id)
        ("southgate networks", "Southgate Networks", None),  # the transfer's recipient (no id): another key
        ("old holder inc", "Old Holder Inc", None),
        ("ripencc:nw-0001", "RIPENCC holder nw-0001", "nw-0001"),  # delegated-stats opaque holder ids
        ("ripencc:ew-0002", "RIPENCC holder ew-0002", "ew-0002"),
        ("harbor holdings", "Harbor Holdings", None),
        ("old tenant", "Old Tenant", None),
    }),
    # role labels from the current LEASES
    "Holder": (("key",), {("org-nw1-ripe",), ("resale ltd",), ("harbor holdings",)}),
    "Upstream": (("key",), {("leaseco",)}),
    "Broker": (("key",), {("brokerx",)}),
    "Lessee": (("key",), {("acme hosting",), ("beta cloud",), ("old tenant",)}),
    # leased blocks carry the analysis write-back (spof_count); the /16 (registry) and /23 (DROP) do not
    "Block": (("prefix", "prefix_length", "spof_count"), {
        (A, 24, 2), (B, 24, 1), (C, 24, 1), (D, 24, 1), (NW16, 16, None), (DROP23, 23, None),
    }),
    # AS paths link only their origin AS; ASPAs their customer and providers
    "AS": (("asn",), {(0,), (64500,), (64501,), (64502,), (64503,), (64510,)}),
    "Maintainer": (("name",), {("NW-MNT",), ("LEASECO-MNT",), ("SG-MNT",)}),
    "Registration": (("fact_key", "org_name"), {(NW_REG, "Northwind Holdings"), (SG_REG, "Southgate Networks")}),
    # one fact per (registry, block): the 2026-04-01 record replaced the 2025 one
    "Delegation": (("fact_key", "holder_id"), {("delegation|ripencc|198.18.0.0/16", "ew-0002")}),
    "Transfer": (("fact_key", "from_name", "to_name"), {
        ("holder_transfer|203.0.113.0/24|2026-03-01T00:00:00+00:00|southgate networks", "Old Holder Inc", "Southgate Networks"),
    }),
    "Vrp": (("fact_key",), {("vrp|198.18.1.0/24|24|64501|ripe",), ("vrp|198.18.0.0/16|16|64500|ripe",), ("vrp|198.18.2.0/23|32|0|ripe",)}),
    # block C is seen only through an AS_SET route: no origin, so no ORIGINATED_BY either
    "BgpRoute": (("fact_key", "origins", "as_sets"), {("route_origin|198.18.1.0/24", (64501,), None),
                                                      ("route_origin|198.18.2.0/24", (64502,), None),
                                                      ("route_origin|203.0.113.0/24", None, ("64501,64999",)),
                                                      ("route_origin|198.51.100.0/24", (64503,), None)}),
    "RouteObject": (("fact_key",), {("route_object|198.18.1.0/24|64501|RIPE",), ("route_object|203.0.113.0/24|64501|RADB",)}),
    "Listing": (("fact_key", "entry_id"), {("blocklist_entry|spamhaus-drop|198.18.2.0/23", "SBL000001")}),
    "AsnListing": (("fact_key", "as_name"), {("asn_listing|spamhaus-asndrop|64503", "OLD-TENANT-AS")}),
    "Aspa": (("fact_key", "providers"), {("aspa|64503", (64510,)), ("aspa|64501", (64510,))}),
    "AsPath": (("fact_key", "path"), {("as_path|198.51.100.0/24|192.0.2.254|64999", (64999, 64511, 64503, 64503)),
                                      ("as_path|198.18.1.0/24|192.0.2.254|64999", (64999, 64510, 64501))}),
    "Retracted": (("fact_key", "fact_type"), {("route_object|198.18.2.0/24|64502|RIPE", "route_object")}),
    "Alert": (("type", "block", "old_party", "new_party", "status"), {
        ("delegation_holder", NW16, "ripencc:nw-0001", "ripencc:ew-0002", "open"),
        ("transfer", C, "old holder inc", "southgate networks", "open"),
    }),
}

RELS: dict[str, tuple[str, str, dict[str, Any], list[tuple[Any, ...]]]] = {
    # provider -> recipient, one per lease hop (Northwind leases to LeaseCo twice: blocks A and B)
    "LEASES": ("Party", "Party", {"rel_props": ("block",)}, [
        ("org-nw1-ripe", "leaseco", A),
        ("leaseco", "acme hosting", A),
        ("org-nw1-ripe", "leaseco", B),
        ("leaseco", "beta cloud", B),
        ("org-nw1-ripe", "brokerx", B),
        ("brokerx", "beta cloud", B),
        ("resale ltd", "acme hosting", C),
        ("harbor holdings", "old tenant", D),
    ]),
    # the most specific other covering block; C and the /16 are top blocks
    "WITHIN": ("Block", "Block", {}, [(A, NW16), (B, DROP23), (DROP23, NW16)]),
    "REGISTERED_AS": ("Block", "Registration", {"end_key": "prefix"}, [(NW16, NW16), (C, C)]),
    "REGISTRANT": ("Registration", "Party", {"start_key": "prefix"}, [(NW16, "org-nw1-ripe"), (C, "org-sg1-ripe")]),
    "MNT_BY": ("Registration", "Maintainer", {"start_key": "prefix"}, [(NW16, "NW-MNT"), (C, "SG-MNT")]),
    "MNT_LOWER": ("Registration", "Maintainer", {"start_key": "prefix"}, [(NW16, "LEASECO-MNT")]),
    "MNT_ROUTES": ("Registration", "Maintainer", {"start_key": "prefix"}, [(NW16, "LEASECO-MNT")]),
    # holder history: (block, party, source, valid_from, valid_to); valid_to None = current
    "HELD_BY": ("Block", "Party", {"rel_props": ("source", "valid_from", "valid_to")}, [
        (NW16, "org-nw1-ripe", "registration", "2025-01-15T00:00:00+00:00", None),
        (NW16, "ripencc:nw-0001", "delegation", "2025-01-10T00:00:00+00:00", "2026-04-01T00:00:00+00:00"),
        (NW16, "ripencc:ew-0002", "delegation", "2026-04-01T00:00:00+00:00", None),
        (C, "old holder inc", "transfer", None, "2026-03-01T00:00:00+00:00"),  # held it since before the record
        (C, "southgate networks", "transfer", "2026-03-01T00:00:00+00:00", None),
        (C, "org-sg1-ripe", "registration", "2026-05-01T00:00:00+00:00", None),
    ]),
    "FOR": ("Delegation", "Block", {"start_key": "holder_id"}, [("ew-0002", NW16)]),
    "OF": ("Transfer", "Block", {"start_key": "prefix"}, [(C, C)]),
    "FROM": ("Transfer", "Party", {"start_key": "prefix"}, [(C, "old holder inc")]),
    "TO": ("Transfer", "Party", {"start_key": "prefix"}, [(C, "southgate networks")]),
    "AUTHORIZES": ("Vrp", "AS", {"start_key": "prefix"}, [(NW16, 64500), (A, 64501), (DROP23, 0)]),
    "ORIGINATED_BY": ("BgpRoute", "AS", {"start_key": "prefix"}, [(A, 64501), (B, 64502), (D, 64503)]),
    "LISTS_AS": ("AsnListing", "AS", {"start_key": "asn"}, [(64503, 64503)]),
    "CUSTOMER": ("Aspa", "AS", {"start_key": "customer_asn"}, [(64501, 64501), (64503, 64503)]),
    "PROVIDER": ("Aspa", "AS", {"start_key": "customer_asn"}, [(64501, 64510), (64503, 64510)]),
    "PATH_ORIGIN": ("AsPath", "AS", {"start_key": "prefix"}, [(A, 64501), (D, 64503)]),
    "ORIGIN": ("RouteObject", "AS", {"start_key": "prefix"}, [(A, 64501), (C, 64501)]),
    "LISTS": ("Listing", "Block", {"start_key": "prefix"}, [(DROP23, DROP23)]),
    # analysis write-back: (party, block, position from the holder side, lessee)
    "SPOF_FOR": ("Party", "Block", {"rel_props": ("position", "lessee")}, [
        ("org-nw1-ripe", A, 0, "Acme Hosting"),
        ("leaseco", A, 1, "Acme Hosting"),
        ("org-nw1-ripe", B, 0, "Beta Cloud"),  # B has two paths (LeaseCo, BrokerX): only the holder is on both
        ("resale ltd", C, 0, "Acme Hosting"),
        ("harbor holdings", D, 0, "Old Tenant"),
    ]),
    # alerts, by type: the block whose holder changed, and the leased blocks in the blast radius (with hop depth)
    "CONCERNS": ("Alert", "Block", {"start_key": "type"}, [("delegation_holder", NW16), ("transfer", C)]),
    "AFFECTS": ("Alert", "Block", {"start_key": "type", "rel_props": ("depth",)}, [
        ("delegation_holder", A, 0),
        ("delegation_holder", B, 0),
        ("transfer", C, 0),
    ]),
}
