"""Test helper: small full-snapshot files (VRP exports, pfx2as, DROP) and a lease register, and the
events `run_ingest` makes of them (tests/ is on sys.path via conftest).

SYNTHETIC DATA in documentation prefixes (RFC 5737).
"""
from __future__ import annotations

import gzip
import ipaddress
import json
from pathlib import Path
from typing import Any

from chainrisk.ingest.common import IngestSummary, run_ingest

BLOCK = "198.51.100.0/24"
OTHER = "203.0.113.0/24"
REGISTER = (
    "block,provider,provider_role,recipient,recipient_role,start_date,end_date,lessee_asn\n"
    f"{BLOCK},Holder A,holder,Lessee B,lessee,2025-01-01,2027-12-31,64500\n"
)
ROA = {"asn": 64500, "prefix": BLOCK, "maxLength": 24, "ta": "ripe", "expires": 1753500000}
OTHER_ROA = {"asn": 64501, "prefix": OTHER, "maxLength": 24, "ta": "ripe", "expires": 1753500000}
APNIC_ROA = {"asn": 64502, "prefix": "192.0.2.0/24", "maxLength": 24, "ta": "apnic", "expires": 1753500000}


def _range(prefix: str) -> tuple[str, str]:
    net = ipaddress.ip_network(prefix)
    return str(net.network_address), str(net.broadcast_address)


def inetnum(prefix: str, org: str, source: str) -> str:
    """An RPSL inetnum object (ALLOCATED PA to ``org``, last modified 2020-01-01) of ``source``."""
    first, last = _range(prefix)
    return (f"inetnum:        {first} - {last}\nnetname:        NET\norg:            {org}\n"
            f"status:         ALLOCATED PA\nmnt-by:         {org}-MNT\nlast-modified:  2020-01-01T00:00:00Z\n"
            f"source:         {source}\n\n")


def route(prefix: str, asn: int, source: str) -> str:
    return f"route:          {prefix}\norigin:         AS{asn}\nmnt-by:         X-MNT\nsource:         {source}\n\n"


def bulk_net(handle: str, org: str, prefix: str) -> str:
    """An ARIN bulk whois NetHandle record (an allocation to ``org``)."""
    first, last = _range(prefix)
    return (f"NetHandle:      {handle}\nOrgID:          {org}\nNetName:        {handle}\nNetRange:       {first} - {last}\n"
            f"NetType:        allocation\nRegDate:        2010-01-02\nUpdated:        2015-03-04\nSource:         ARIN\n\n")


def write_register(folder: Path) -> Path:
    path = folder / "leases-20250101.csv"
    path.write_text(REGISTER)
    return path


def vrp_export(path: Path, buildtime: str, roas: list[dict[str, Any]], *, gzipped: bool = False) -> Path:
    """An rpki-client JSON export (``buildtime`` ISO text) holding ``roas``; filler ROAs in
    192.0.2.0/24's neighbourhood pad it so a gzip cut lands inside the stream."""
    text = json.dumps({"metadata": {"buildtime": buildtime}, "roas": roas}, indent=1)
    if gzipped:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def filler_roas(count: int, ta: str = "ripe") -> list[dict[str, Any]]:
    """``count`` distinct VRPs in 10.0.0.0/8 (never the blocks under test)."""
    return [{"asn": 64999, "prefix": f"10.{i // 256}.{i % 256}.0/24", "maxLength": 24, "ta": ta, "expires": 1753500000}
            for i in range(count)]


def pfx2as(folder: Path, date: str, rows: list[tuple[str, str]]) -> Path:
    """A CAIDA Routeviews prefix2as file dated by its name (``routeviews-rv2-<date>.pfx2as``)."""
    path = folder / f"routeviews-rv2-{date}.pfx2as"
    path.write_text("".join(f"{p.split('/')[0]}\t{p.split('/')[1]}\t{origins}\n" for p, origins in rows))
    return path


def drop(folder: Path, name: str, last_modified: str, rows: list[tuple[str, str]]) -> Path:
    """A Spamhaus DROP text list."""
    path = folder / name
    head = f"; Spamhaus DROP List 2025/01/17 - (c) 2025 The Spamhaus Project SLU\n; Last-Modified: {last_modified}\n"
    path.write_text(head + "".join(f"{p} ; {sbl}\n" for p, sbl in rows))
    return path


class ListSink:
    def __init__(self) -> None:
        self.events: list[Any] = []

    def publish(self, event: Any) -> None:
        self.events.append(event)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


def ingest(worker: str, paths: list[Path], **options: Any) -> tuple[list[Any], IngestSummary]:
    """The events (and summary) ``chainrisk ingest <worker>`` would publish for ``paths``."""
    import importlib

    module = importlib.import_module(f"chainrisk.ingest.{worker}")
    sink = ListSink()
    options.setdefault("snapshot", getattr(module, "SNAPSHOT", False))
    summary = run_ingest(module.parse, paths, sink, **options)
    return sink.events, summary
