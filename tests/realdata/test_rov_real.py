"""RFC 6811 route origin validation at full scale: every route of the CAIDA Routeviews prefix2as file
of 2024-04-06 against the 731k-VRP rpki-client export of 2025-07-20 (both real, in
``../shared/data/real/``), cross-checked on a random sample by an independent, slow reference.

The files are read with the ingest workers' record parsers (``ingest.vrps.json_vrp_fields``,
``ingest.pfx2as.pfx2as_origin``), skipping only the event wrapping. A *route* is one (prefix, origin
AS) pair: the worker lists every origin of a MOAS prefix, each validated as an origin of that prefix;
a route ending in an AS_SET has origin NONE (RFC 6811) and is validated as no AS.
"""
from __future__ import annotations

import bz2
import gzip
import ipaddress
import json
import random
import time
from collections import Counter
from pathlib import Path

import pytest

from chainrisk.analysis.model import VrpRecord
from chainrisk.analysis.prefix_index import CoveringIndex
from chainrisk.analysis.signals import validate_route
from chainrisk.common.prefixes import prefix_ints
from chainrisk.ingest.common import Skip
from chainrisk.ingest.pfx2as import pfx2as_origin
from chainrisk.ingest.vrps import json_vrp_fields

VRP_FILE = "rpki_vrps/rpki-client_vrps_20250720T093135Z.json.bz2"
PFX2AS_FILE = "pfx2as_bgp/routeviews-rv2-20240406.pfx2as.gz"

pytestmark = pytest.mark.slow


def read_vrps(path: Path) -> list[tuple[str, int, int]]:
    """(prefix, maxLength, asn) of every IPv4 VRP, through the VRP worker's record parser."""
    with bz2.open(path) as fh:
        document = json.load(fh)
    vrps = []
    for item in document["roas"]:
        fields = json_vrp_fields(item)
        if fields is not None:
            vrps.append((fields["block"], fields["max_length"], fields["asn"]))
    return vrps


def read_routes(path: Path) -> list[tuple[str, int | None]]:
    """(prefix, origin AS) for every route of every IPv4 line, through the pfx2as worker's parser:
    (prefix, None) for each AS_SET route (origin NONE)."""
    routes = []
    with gzip.open(path, "rt") as fh:
        for line in fh:
            parsed = pfx2as_origin(line.rstrip("\n").split("\t"))
            if isinstance(parsed, Skip):  # IPv6
                continue
            blocks, origins, as_sets = parsed
            routes.extend((prefix, asn) for prefix in blocks for asn in origins)
            routes.extend((prefix, None) for prefix in blocks for _ in as_sets)
    return routes


@pytest.fixture(scope="module")
def real_rov(request: pytest.FixtureRequest):
    real_sample = request.getfixturevalue("real_sample")
    started = time.monotonic()
    vrps = read_vrps(real_sample(VRP_FILE))
    routes = read_routes(real_sample(PFX2AS_FILE))
    read_s = time.monotonic() - started
    index: CoveringIndex[VrpRecord] = CoveringIndex()
    for prefix, max_length, asn in vrps:
        first, length = prefix_ints(prefix)
        index.add(first, length, VrpRecord(prefix, max_length, asn, ""))
    index_s = time.monotonic() - started - read_s
    return vrps, routes, index, read_s, index_s


def reference_validation(vrps_by_octet: dict[int, list], short_vrps: list, prefix: str, asn: int) -> tuple[str, str | None]:
    """RFC 6811 the slow way, independent of the index: covering by ``ipaddress.subnet_of`` over
    every VRP that shares the route's first octet (plus those shorter than /8)."""
    route = ipaddress.ip_network(prefix)
    octet = int(route.network_address) >> 24
    covering = [(net, ml, a) for net, ml, a in vrps_by_octet.get(octet, []) + short_vrps if route.subnet_of(net)]
    if not covering:
        return "NotFound", None
    if any(a == asn and a != 0 and route.prefixlen <= ml for _, ml, a in covering):
        return "Valid", None
    if any(a == asn and a != 0 for _, _, a in covering):
        return "Invalid", "too-specific"
    return "Invalid", "asn-mismatch"


def test_every_route_of_the_2024_table_against_the_2025_vrps(real_rov, capsys):
    vrps, routes, index, read_s, index_s = real_rov
    started = time.monotonic()
    counts = Counter()
    for prefix, asn in routes:
        first, length = prefix_ints(prefix)
        state, reason = validate_route(index, first, length, asn)
        counts[(state, reason)] += 1
    rov_s = time.monotonic() - started
    with capsys.disabled():
        print(f"\n  {len(vrps):,} IPv4 VRPs, {len(routes):,} routes; read {read_s:.1f}s, index {index_s:.1f}s, "
              f"ROV {rov_s:.1f}s ({len(routes) / rov_s:,.0f} routes/s): {dict(counts)}")
    assert len(vrps) == 580_366
    # 40 of them end in an AS_SET (origin NONE): counted as members they were 111 routes, 2 of them Valid
    assert len(routes) == 1_004_423 and sum(1 for _, asn in routes if asn is None) == 40
    assert counts == {
        ("Valid", None): 523_101,
        ("Invalid", "asn-mismatch"): 25_414,
        ("Invalid", "too-specific"): 3_958,
        ("NotFound", None): 451_950,
    }


def test_a_random_sample_agrees_with_an_independent_reference(real_rov):
    vrps, routes, index, _, _ = real_rov
    by_octet: dict[int, list] = {}
    short: list = []
    for prefix, max_length, asn in vrps:
        net = ipaddress.ip_network(prefix)
        entry = (net, max_length, asn)
        if net.prefixlen < 8:
            short.append(entry)
        else:
            by_octet.setdefault(int(net.network_address) >> 24, []).append(entry)
    rng = random.Random(6811)
    sample = rng.sample(routes, 3000)
    # Invalid is rare (~3%): add routes the index calls Invalid, so both reasons are checked in bulk
    candidates = rng.sample(routes, 30000)
    sample += [r for r in candidates if validate_route(index, *prefix_ints(r[0]), r[1])[0] == "Invalid"][:600]
    disagreements = []
    states: Counter[str] = Counter()
    for prefix, asn in sample:
        expected = reference_validation(by_octet, short, prefix, asn)
        got = validate_route(index, *prefix_ints(prefix), asn)
        states[expected[1] or expected[0]] += 1
        if got != expected:
            disagreements.append((prefix, asn, got, expected))
    assert disagreements == []
    assert len(states) == 4 and min(states.values()) >= 50, states  # every state and reason exercised


@pytest.mark.parametrize(
    ("prefix", "asn", "expected"),
    [
        ("1.0.0.0/24", 13335, ("Valid", None)),  # ROA 1.0.0.0/24-24 AS13335 (APNIC)
        ("8.8.8.0/24", 15169, ("Valid", None)),
        ("191.96.1.0/24", 47583, ("Valid", None)),  # a 191.96.0.0/16 lease whose lessee kept its ROA
        ("191.96.2.0/24", 211439, ("Valid", None)),
        ("191.96.0.0/24", 61317, ("Invalid", "asn-mismatch")),  # 2024 origin; by 2025 the ROA names AS133296
        ("191.96.0.0/24", 133296, ("Valid", None)),
        ("104.144.194.0/24", 55286, ("Invalid", "asn-mismatch")),  # 104.144.0.0/16-24 now authorises AS16509 only
        ("104.144.194.0/24", 16509, ("Valid", None)),
        ("104.144.194.0/25", 16509, ("Invalid", "too-specific")),  # longer than maxLength 24
        ("2.59.116.0/24", 0, ("Invalid", "asn-mismatch")),  # an AS0 ROA never validates, not even AS0
        ("240.0.0.0/24", 64500, ("NotFound", None)),  # reserved space: no ROA covers it
    ],
)
def test_hand_checked_cases(real_rov, prefix, asn, expected):
    _, _, index, _, _ = real_rov
    assert validate_route(index, *prefix_ints(prefix), asn) == expected
