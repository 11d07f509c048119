"""ASPA verification (draft-ietf-sidrops-aspa-verification, analysis/routing_paths.py) of the real
`bgpdump -m` sample's paths against the ASPAs of the real rpki-client exports: none of the ASes on
those 2017 paths has an ASPA in either export, so the downstream procedure finds every path
Unknown (min_up = min_down = 1) and no hop is named - what a lessee's block routed this way shows."""
from __future__ import annotations

import pytest

from chainrisk.analysis.routing_paths import ASPA_UNKNOWN, Ramps, collapse, ramps, verify_collected
from chainrisk.ingest import bgpdump, vrps
from chainrisk.ingest.events import Aspa, AsPath

SAMPLE = "pfx2as_bgp/bgpdump_tabledump2_excerpt_20170112.txt"


@pytest.mark.parametrize("export", ["rpki_vrps/rpki-client_vrps_20231001_excerpt.json", "rpki_vrps/rpki-client_vrps_2021_excerpt.json"])
def test_the_sample_paths_are_unknown_without_aspas_on_them(real_sample, ingest_file, export: str) -> None:
    paths = [i for i in ingest_file(bgpdump.parse, real_sample(SAMPLE)) if isinstance(i, AsPath)]
    aspas = {a.customer_asn: frozenset(a.providers) for a in ingest_file(vrps.parse, real_sample(export)) if isinstance(a, Aspa)}
    assert len(paths) == 9
    on_paths = {asn for p in paths for asn in p.path}
    assert len(on_paths) == 20 and not on_paths & set(aspas)
    for p in paths:
        check = verify_collected(aspas, p.path)
        n = len(collapse(p.path))
        assert (check.outcome, check.hops, len(check.path)) == (ASPA_UNKNOWN, (), n), p
        assert ramps(aspas, check.path) == Ramps(max_up=n, min_up=1, max_down=n, min_down=1)
