"""Test helper: a small portfolio in files that exercises the routing-path signals (announced after
the lease ended, ASN blocklisted, ASPA unauthorised upstream), with a clean block beside them, and
the signals each block is expected to show (tests/ is on sys.path via conftest).

SYNTHETIC DATA in documentation and benchmark prefixes (RFC 5737, RFC 2544) and documentation ASNs
(RFC 5398).

    block            lessee (ASN)              what the files say                             expected
    192.0.2.0/24     Clean Lessee (64500)      ASPA 64500 -> {64510}; path 64999 64510 64500    nothing new
                                               (prepended); transit 64510; lease to 2027
    198.51.100.0/24  Former Lessee (64501)     lease ended 2026-03-31; pfx2as of 2026-05-30     announced-after-lease-end
                                               still shows 64501
    203.0.113.0/24   Listed Lessee (64502)     64502 and its transit 64530 on ASN-DROP          asn-blocklisted
    198.18.0.0/24    Mismatch Lessee (64503)   ASPA 64503 -> {64510}; path via 64511 (Invalid:  aspa-unauthorised-upstream
                                               the peer's ASPA does not name 64511 either);
                                               register transit 64512

The collector peer 64999 has an ASPA naming AS 0 only (a transit-free network: no providers), so
under the downstream procedure a path whose lessee -> upstream hop is Not Provider+ and whose
upstream -> peer hop is not provably down is Invalid, while the clean block's path stays Valid.
"""
from __future__ import annotations

import json
from pathlib import Path

CLEAN, AFTER, LISTED, MISMATCH = "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "198.18.0.0/24"
AS_OF = "2026-06-01"
BGP_TIME = 1780135200  # 2026-05-30T10:00:00Z, the RIB dump's time
BGP_OBSERVED = "2026-05-30T12:00:00+00:00"  # the pfx2as file's name says 2026-05-30 12:00
NEW_CODES = frozenset({"announced-after-lease-end", "asn-blocklisted", "aspa-unauthorised-upstream"})
EXPECTED_CODES = {
    CLEAN: frozenset(),
    AFTER: frozenset({"announced-after-lease-end"}),
    LISTED: frozenset({"asn-blocklisted"}),
    MISMATCH: frozenset({"aspa-unauthorised-upstream"}),
}

REGISTER = """block,provider,provider_role,recipient,recipient_role,start_date,end_date,lessee_asn,transit_asns
192.0.2.0/24,Doc Holder,holder,Clean Lessee,lessee,2025-01-01,2027-12-31,64500,AS64510
198.51.100.0/24,Doc Holder,holder,Former Lessee,lessee,2025-01-01,2026-03-31,64501,
203.0.113.0/24,Doc Holder,holder,Listed Lessee,lessee,2025-01-01,2027-12-31,64502,64530
198.18.0.0/24,Doc Holder,holder,Mismatch Lessee,lessee,2025-01-01,2027-12-31,64503,AS64510;AS64512
"""
PFX2AS = "".join(f"{p.split('/')[0]}\t24\t{asn}\n" for p, asn in ((CLEAN, 64500), (AFTER, 64501), (LISTED, 64502), (MISMATCH, 64503)))
BGPDUMP = "".join(
    f"TABLE_DUMP2|{BGP_TIME}|B|192.0.2.254|64999|{prefix}|{path}|IGP|192.0.2.254|0|0||NAG||\n"
    for prefix, path in ((CLEAN, "64999 64510 64500 64500"), (MISMATCH, "64999 64511 64503"), (LISTED, "64999 64530 64502"))
)
ASNDROP = [
    {"asn": 64502, "rir": "ripencc", "domain": "listed.example", "cc": "NL", "asname": "LISTED-AS"},
    {"asn": 64530, "rir": "arin", "domain": "transit.example", "cc": "US", "asname": "BAD-TRANSIT"},
    {"type": "metadata", "timestamp": BGP_TIME, "size": 2, "records": 2, "copyright": "SYNTHETIC", "terms": "test data"},
]
ROAS = [{"asn": asn, "prefix": p, "maxLength": 24, "ta": "ripe", "expires": BGP_TIME + 86400}
        for p, asn in ((CLEAN, 64500), (AFTER, 64501), (LISTED, 64502), (MISMATCH, 64503))]
ASPAS = [
    {"customer_asid": 64500, "expires": BGP_TIME + 86400, "providers": [64510]},
    {"customer_asid": 64503, "expires": BGP_TIME + 86400, "providers": [64510]},
    {"customer_asid": 64999, "expires": BGP_TIME + 86400, "providers": [0]},
]


def write_files(folder: Path) -> list[tuple[str, Path]]:
    """Write the files; returns ``(worker, path)`` in ingest order."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "leases": folder / "leases-20260531.csv",
        "vrps": folder / "rpki-client.json",
        "pfx2as": folder / "routeviews-rv2-20260530-1200.pfx2as",
        "blocklist": folder / "asndrop-20260530.json",
        "bgpdump": folder / "rib.20260530.1000.txt",
    }
    files["leases"].write_text(REGISTER)
    files["vrps"].write_text(json.dumps({"metadata": {"buildtime": "2026-05-30T10:00:00Z"}, "roas": ROAS, "aspas": ASPAS}, indent=1))
    files["pfx2as"].write_text(PFX2AS)
    files["blocklist"].write_text("".join(json.dumps(r) + "\n" for r in ASNDROP))
    files["bgpdump"].write_text(BGPDUMP)
    return list(files.items())


def new_codes(flags: list[str]) -> set[str]:
    """The routing-path risk flag codes among ``flags`` (``"<code>: <detail>"``)."""
    return {f.split(":", 1)[0] for f in flags} & NEW_CODES
