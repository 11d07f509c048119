"""The vrps worker against the real RPKI exports in rpki_vrps/: every VRP of a full rpki-client run,
and exact events for the small rpki-client, Routinator jsonext and RIPE validator CSV samples."""
from __future__ import annotations

import bz2
import csv
import json
import resource
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from chainrisk.ingest import vrps
from chainrisk.ingest.common import ParseContext, Reject, ScopeSeen, Skip, SourceFile
from chainrisk.ingest.events import Aspa, NonfunctionalCa, Provenance, Vrp

FULL_EXPORT = "rpki_vrps/rpki-client_vrps_20250720T093135Z.json.bz2"


def _utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)


def _split(items: list[Any]) -> tuple[list[Vrp], list[Reject], list[Skip]]:
    items = [i for i in items if not isinstance(i, (Aspa, ScopeSeen))]  # the export's ASPAs: test_full_export_aspas
    events = [i for i in items if isinstance(i, Vrp)]
    rejects = [i for i in items if isinstance(i, Reject)]
    skips = [i for i in items if isinstance(i, Skip)]
    assert len(events) + len(rejects) + len(skips) == len(items)
    return events, rejects, skips


INGESTED_AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)  # as the ingest_file fixture stamps it


def _vrp(path: Path, source: str, line: int, observed_at: datetime, **fields: Any) -> Vrp:
    provenance = Provenance(source=source, reference=str(path), line=line, observed_at=observed_at, ingested_at=INGESTED_AT)
    return Vrp(provenance=provenance, **fields).with_id()


# --- the full rpki-client export (~723k VRPs, 75 MB of JSON), parsed once ------------------------


@dataclass
class Tally:
    """What one streaming pass over the full export saw (events are not kept: ~580k of them)."""

    events: int = 0
    rejects: list[Reject] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    per_ta: Counter[str] = field(default_factory=Counter)
    sample: dict[tuple[str, int], Vrp] = field(default_factory=dict)
    sources: set[str] = field(default_factory=set)
    observed: set[datetime] = field(default_factory=set)
    rss_growth_mb: float = 0.0  # the most resident memory grew while parsing
    lapsing_24h: int = 0  # VRPs expiring within 24 hours of the export's build time
    cas: list[NonfunctionalCa] = field(default_factory=list)
    scopes: list[ScopeSeen] = field(default_factory=list)
    aspas: list[Aspa] = field(default_factory=list)


SAMPLED = {("1.0.0.0/24", 13335), ("8.8.8.0/24", 15169), ("104.144.0.0/16", 16509), ("191.96.0.0/24", 133296)}


def _current_rss_mb() -> float:
    """This process's resident memory now (not the peak: earlier tests may have raised that)."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / (1 << 20)


@pytest.fixture(scope="module")
def full_export(real_sample) -> tuple[Path, Tally]:
    path = real_sample(FULL_EXPORT)
    tally = Tally()
    before = highest = _current_rss_mb()
    ctx = ParseContext(reference=str(path), ingested_at=INGESTED_AT)
    with SourceFile(path) as src:
        for number, item in enumerate(vrps.parse(src, ctx)):
            if number % 50_000 == 0:
                highest = max(highest, _current_rss_mb())
            if isinstance(item, Reject):
                tally.rejects.append(item)
            elif isinstance(item, Skip):
                tally.skipped[item.reason] += 1
            elif isinstance(item, ScopeSeen):
                tally.scopes.append(item)
            elif isinstance(item, NonfunctionalCa):
                tally.cas.append(item)
            elif isinstance(item, Aspa):
                tally.aspas.append(item)
            else:
                tally.events += 1
                if item.expires is not None and item.expires - item.provenance.observed_at <= timedelta(hours=24):
                    tally.lapsing_24h += 1
                tally.per_ta[item.ta] += 1
                tally.sources.add(item.provenance.source)
                tally.observed.add(item.provenance.observed_at)
                if (item.block, item.asn) in SAMPLED:
                    tally.sample[(item.block, item.asn)] = item
    tally.rss_growth_mb = highest - before
    return path, tally


@pytest.mark.slow
def test_full_export_every_vrp_accounted_for(full_export) -> None:
    path, tally = full_export
    # independent count: the whole document with json.load (~450 MB of Python objects)
    with bz2.open(path, "rt", encoding="utf-8") as handle:
        document = json.load(handle)
    roas = document["roas"]
    ipv6 = sum(":" in roa["prefix"] for roa in roas)
    assert tally.rejects == []
    assert tally.events + tally.skipped[vrps.SKIP_IPV6.reason] == len(roas)
    assert (tally.events, tally.skipped[vrps.SKIP_IPV6.reason]) == (len(roas) - ipv6, ipv6) == (580366, 143155)
    assert tally.per_ta == Counter(roa["ta"] for roa in roas if ":" not in roa["prefix"])
    # the roas array holds the de-duplicated VRPs: metadata "uniquevrps", not "vrps" (731,896 counts
    # the same VRP once per ROA that carries it)
    assert len(roas) == document["metadata"]["uniquevrps"] == 723521
    assert document["metadata"]["vrps"] == 731896


@pytest.mark.slow
def test_full_export_nonfunctional_cas_and_vrps_lapsing_within_a_day(full_export, capsys) -> None:
    """The rules behind ca-nonfunctional and roa-lapsing on the real export: every nonfunc_cas
    element is a NonfunctionalCa fact, and the worker's expiries against the build time agree with
    an independent count over the raw JSON."""
    path, tally = full_export
    with bz2.open(path, "rt", encoding="utf-8") as handle:
        document = json.load(handle)
    built = datetime.fromisoformat(document["metadata"]["buildtime"].replace("Z", "+00:00"))
    raw_lapsing = sum(1 for roa in document["roas"] if ":" not in roa["prefix"] and roa["expires"] - built.timestamp() <= 24 * 3600)
    raw_lapsing_v6 = sum(1 for roa in document["roas"] if ":" in roa["prefix"] and roa["expires"] - built.timestamp() <= 24 * 3600)
    cas = document["nonfunc_cas"]
    with capsys.disabled():
        print(f"\n  real rpki-client export of {built:%Y-%m-%dT%H:%MZ}: {len(cas)} non-functional CAs "
              f"(metadata nonfunctionalcas {document['metadata']['nonfunctionalcas']}; per TA {dict(Counter(c.ta for c in tally.cas))}); "
              f"{tally.lapsing_24h:,} IPv4 VRPs (and {raw_lapsing_v6:,} IPv6) expire within 24 h of the build time")
    assert [(c.ta, c.location, c.ca_repository, c.manifest, c.ski) for c in tally.cas] == [
        (c["ta"], c["location"], c["caRepository"], c["rpkiManifest"], c["ski"]) for c in cas]
    assert len(tally.cas) == len(cas) == document["metadata"]["nonfunctionalcas"] == 124
    assert {c.provenance.observed_at for c in tally.cas} == {built}
    # the export speaks for the CAs of every trust anchor it names, those without any too
    assert sorted(s.scope for s in tally.scopes if s.fact_type == "nonfunctional_ca") == sorted(Counter(roa["ta"] for roa in document["roas"]))
    assert tally.lapsing_24h == raw_lapsing == 265_214
    # every RIPE VRP is among them: the RIPE NCC's hosted CAs publish manifests and CRLs valid for about
    # a day, so a 24-hour horizon calls all RIPE space lapsing (docs/analysis.md, roa-lapsing)
    ripe = [roa for roa in document["roas"] if roa["ta"] == "ripe" and ":" not in roa["prefix"]]
    assert len(ripe) == 244_062 and all(roa["expires"] - built.timestamp() <= 24 * 3600 for roa in ripe)
    assert sum(1 for roa in document["roas"] if ":" not in roa["prefix"] and roa["expires"] - built.timestamp() <= 8 * 3600) == 5_431


@pytest.mark.slow
def test_full_export_aspas(full_export) -> None:
    """Every element of the export's aspas array is an Aspa fact with its customer, providers and
    expiry, dated by the build time; the export says how many it validated (metadata aspas)."""
    path, tally = full_export
    with bz2.open(path, "rt", encoding="utf-8") as handle:
        document = json.load(handle)
    assert len(tally.aspas) == len(document["aspas"]) == document["metadata"]["aspas"] == 100
    assert [(a.customer_asn, a.providers) for a in tally.aspas] == [
        (x["customer_asid"], tuple(sorted(set(x["providers"])))) for x in document["aspas"]]
    assert {a.provenance.observed_at for a in tally.aspas} == {_utc(2025, 7, 20, 9, 31, 33)}
    first = tally.aspas[0]
    assert (first.customer_asn, first.providers, first.expires) == (945, (13213, 150369), datetime.fromtimestamp(1753070425, tz=timezone.utc))
    assert ScopeSeen("aspa", "rpki-client", "rpki-client", _utc(2025, 7, 20, 9, 31, 33)) in tally.scopes


@pytest.mark.slow
def test_full_export_known_vrps(full_export) -> None:
    path, tally = full_export
    built = _utc(2025, 7, 20, 9, 31, 33)  # metadata.buildtime
    assert tally.sources == {"rpki-client"} and tally.observed == {built}
    assert tally.sample == {
        ("1.0.0.0/24", 13335): _vrp(path, "rpki-client", 49, built, block="1.0.0.0/24", max_length=24, asn=13335, ta="apnic",
                                    expires=datetime.fromtimestamp(1753453058, tz=timezone.utc)),
        ("8.8.8.0/24", 15169): _vrp(path, "rpki-client", 11403, built, block="8.8.8.0/24", max_length=24, asn=15169, ta="arin",
                                    expires=datetime.fromtimestamp(1753106400, tz=timezone.utc)),
        # SOURCES.md: the 2018 B2 Net Solutions /16 is authorised for Amazon in 2025
        ("104.144.0.0/16", 16509): _vrp(path, "rpki-client", 285502, built, block="104.144.0.0/16", max_length=24, asn=16509, ta="arin",
                                        expires=datetime.fromtimestamp(1753106400, tz=timezone.utc)),
        ("191.96.0.0/24", 133296): _vrp(path, "rpki-client", 479519, built, block="191.96.0.0/24", max_length=24, asn=133296, ta="ripe",
                                        expires=datetime.fromtimestamp(1753066123, tz=timezone.utc)),
    }


@pytest.mark.slow
def test_full_export_streams_in_bounded_memory(full_export) -> None:
    """75 MB of JSON whose json.load costs ~450 MB: streaming must stay far below that."""
    _, tally = full_export
    assert tally.rss_growth_mb < 50


# --- small files: exact events ----------------------------------------------------------------------


def _json_counts(path: Path) -> tuple[int, int]:
    """(IPv4, IPv6) VRPs of a small JSON export, counted with json.load."""
    roas = json.loads(path.read_text(encoding="utf-8"))["roas"]
    ipv6 = sum(":" in roa["prefix"] for roa in roas)
    return len(roas) - ipv6, ipv6


@pytest.mark.parametrize(
    ("relative", "counts", "built"),
    [
        ("rpki_vrps/rpki-client_vrps_2021_excerpt.json", (22, 48), _utc(2021, 9, 1, 0, 4, 19)),
        ("rpki_vrps/rpki-client_vrps_20231001_excerpt.json", (8, 371), _utc(2023, 10, 1, 0, 5, 43)),
    ],
)
def test_rpki_client_excerpts(real_sample, ingest_file, relative: str, counts: tuple[int, int], built: datetime) -> None:
    path = real_sample(relative)
    events, rejects, skips = _split(ingest_file(vrps.parse, path))
    assert rejects == []
    assert (len(events), len(skips)) == _json_counts(path) == counts
    assert {(e.provenance.source, e.provenance.observed_at) for e in events} == {("rpki-client", built)}
    first = events[0]
    assert (first.block, first.asn, first.max_length, first.ta) == ("1.0.0.0/24", 13335, 24, "apnic")


@pytest.mark.parametrize(
    ("relative", "lapsing", "lapsing_v6"),
    [
        ("rpki_vrps/rpki-client_vrps_2021_excerpt.json", 0, 0),
        ("rpki_vrps/rpki-client_vrps_20231001_excerpt.json", 0, 371),
    ],
)
def test_rpki_client_excerpts_lapsing_and_nonfunctional_cas(real_sample, ingest_file, relative: str, lapsing: int,
                                                            lapsing_v6: int) -> None:
    """The roa-lapsing and ca-nonfunctional rules on the excerpts: the worker's VRPs expiring within
    24 h of the build time agree with the raw JSON (the IPv6 ones are skipped, so only counted
    here), and neither excerpt has a nonfunc_cas section, so the worker makes no NonfunctionalCa."""
    path = real_sample(relative)
    items = ingest_file(vrps.parse, path)
    document = json.loads(path.read_text(encoding="utf-8"))
    built = datetime.fromisoformat(document["metadata"]["buildtime"].replace("Z", "+00:00"))
    worker = sum(1 for i in items if isinstance(i, Vrp) and i.expires is not None and i.expires - i.provenance.observed_at <= timedelta(hours=24))
    raw = Counter(":" in roa["prefix"] for roa in document["roas"] if roa["expires"] - built.timestamp() <= 24 * 3600)
    assert (worker, raw[False], raw[True]) == (lapsing, lapsing, lapsing_v6)
    assert "nonfunc_cas" not in document and not [i for i in items if isinstance(i, NonfunctionalCa)]


def test_rpki_client_2021_first_vrp_exact(real_sample, ingest_file) -> None:
    assert ingest_file.ingested_at == INGESTED_AT
    path = real_sample("rpki_vrps/rpki-client_vrps_2021_excerpt.json")
    events, _, _ = _split(ingest_file(vrps.parse, path))
    assert events[0] == _vrp(path, "rpki-client", 29, _utc(2021, 9, 1, 0, 4, 19), block="1.0.0.0/24", max_length=24, asn=13335,
                             ta="apnic", expires=datetime.fromtimestamp(1630592339, tz=timezone.utc))


def test_routinator_jsonext_exact(real_sample, ingest_file) -> None:
    path = real_sample("rpki_vrps/routinator_jsonext_20250309_excerpt.json")
    items = ingest_file(vrps.parse, path)
    generated = _utc(2025, 3, 9, 21, 45, 54)
    assert items == [
        _vrp(path, "routinator", 7, generated, block="1.0.0.0/24", max_length=24, asn=13335, ta="apnic",
             expires=_utc(2025, 3, 15, 14, 17, 32),  # chainValidity.notAfter
             uri="rsync://rpki.apnic.net/member_repository/A91872ED/ED8C96901D6C11E28A38A3AD08B02CD2/797B4DEC293B11E8B187196DC4F9AE02.roa"),
        vrps.SKIP_IPV6,  # AS37125 2c0f:fff0::/32
    ]


def test_ripe_validator_csv(real_sample, ingest_file) -> None:
    path = real_sample("rpki_vrps/ripe-validator_lacnic-roas_2013.csv")
    events, rejects, skips = _split(ingest_file(vrps.parse, path, observed_at=_utc(2013, 9, 20)))
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    ipv6 = sum(":" in row["IP Prefix"] for row in rows)
    assert rejects == []
    assert (len(events), len(skips)) == (len(rows) - ipv6, ipv6) == (846, 102)
    assert {e.ta for e in events} == {"lacnic"}  # from the repository.lacnic.net URIs
    assert events[0] == _vrp(path, "rpki-validator-csv", 2, _utc(2013, 9, 20), block="190.122.184.0/22", max_length=22, asn=27884,
                             ta="lacnic", expires=_utc(2015, 9, 12, 3, 0, 0), uri=rows[0]["URI"])
    assert all(e.uri and e.uri.startswith("rsync://repository.lacnic.net/") for e in events)
    (wide,) = [e for e in events if e.block == "209.99.224.0/20"]
    assert (wide.asn, wide.max_length, wide.provenance.line) == (17401, 24, 947)


def test_reingest_gives_the_same_ids(real_sample) -> None:
    path = real_sample("rpki_vrps/rpki-client_vrps_20231001_excerpt.json")

    def ids(ingested_at: datetime) -> list[str]:
        with SourceFile(path) as src:
            return [e.event_id for e in vrps.parse(src, ParseContext(reference=str(path), ingested_at=ingested_at)) if isinstance(e, Vrp)]

    first = ids(_utc(2026, 1, 1))
    assert len(first) == len(set(first)) == 8
    assert ids(_utc(2026, 6, 1)) == first
