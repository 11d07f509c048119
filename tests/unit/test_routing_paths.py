"""The routing-path signals: announced after the lease ended, ASN blocklisted, ASPA unauthorised
upstream - each made true and false on hand-made facts (analysis/routing_paths.py), then end to end
from files through the embedded backend to `report block` (tests/routing_path_files.py), and the
workers' new formats on hostile input and on the real bgpdump sample.

SYNTHETIC DATA in documentation prefixes (RFC 5737) and documentation ASNs (RFC 5398)."""
from __future__ import annotations

import json
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from routing_path_files import AFTER, AS_OF, BGP_OBSERVED, CLEAN, EXPECTED_CODES, LISTED, MISMATCH, new_codes, write_files

from chainrisk.analysis.blocks import RISK_POINTS, analyse_portfolio
from chainrisk.analysis.model import AsnListingRecord, AspaRecord, AsPathRecord, Hop, Portfolio
from chainrisk.analysis.routing_paths import (
    ASPA_INVALID,
    ASPA_UNKNOWN,
    ASPA_VALID,
    NO_ATTESTATION,
    NOT_PROVIDER_PLUS,
    PROVIDER_PLUS,
    PathCheck,
    Ramps,
    aspa_hop,
    collapse,
    ramps,
    verify_collected,
    verify_downstream,
    verify_upstream,
)
from chainrisk.cli.main import cli
from chainrisk.ingest import bgpdump, blocklist, leases, vrps
from chainrisk.ingest.common import Reject, Skip
from chainrisk.ingest.events import AsnListing, Aspa, AsPath, LeaseHop

BLOCK = "192.0.2.0/24"
ASN = 64500
END = date(2026, 3, 31)
REAL_BGPDUMP = Path(__file__).resolve().parents[3] / "shared" / "data" / "real" / "pfx2as_bgp" / "bgpdump_tabledump2_excerpt_20170112.txt"


def at(day: date, hour: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=timezone.utc)


def portfolio(*, end: date = END, transit: tuple[int, ...] = (), observed: datetime | None = None, origin: int = ASN,
              **facts: Any) -> Portfolio:
    hop = Hop(BLOCK, "holder", "Holder", "holder", "lessee", "Lessee", "lessee", date(2025, 1, 1), end, ASN,
              transit_asns=transit)
    p = Portfolio(hops=[hop], **facts)
    if observed is not None:
        p.origins = {BLOCK: (origin,)}
        p.origins_observed_at = {BLOCK: observed}
    return p


def result(p: Portfolio) -> Any:
    (r,) = analyse_portfolio(p.canonical(), date(2026, 6, 1)).blocks
    return r


def codes(r: Any) -> set[str]:
    return new_codes(r.risk_flags)


# --- announced after the lease ended ------------------------------------------------------------

def test_announced_after_the_lease_ended() -> None:
    r = result(portfolio(observed=at(date(2026, 5, 30), 12)))
    assert r.announced_after_lease_end is True and r.lease_end == END
    assert r.bgp_observed_at == at(date(2026, 5, 30), 12)
    assert codes(r) == {"announced-after-lease-end"}
    assert "announced-after-lease-end: AS64500 still originates the block in BGP data of 2026-05-30 12:00Z; the lease ended 2026-03-31" in r.risk_flags
    assert r.as_dict()["bgp_observed_at"] == "2026-05-30T12:00:00+00:00" and r.as_dict()["lease_end"] == "2026-03-31"


@pytest.mark.parametrize(("observed", "origin"), [
    (at(END, 23), ASN),  # observed on the lease's last day: still within it
    (at(date(2026, 3, 1)), ASN),  # observed while the lease ran
    (at(date(2026, 5, 30)), 64999),  # after the end, but someone else originates it: not the former lessee
])
def test_not_announced_after_the_lease_ended(observed: datetime, origin: int) -> None:
    r = result(portfolio(observed=observed, origin=origin))
    assert r.announced_after_lease_end is False
    assert codes(r) == set()


def test_no_bgp_data_leaves_the_question_open() -> None:
    r = result(portfolio())
    assert r.announced_after_lease_end is None and r.bgp_observed_at is None and codes(r) == set()


# --- ASN blocklisted ------------------------------------------------------------------------------

def test_the_lessees_asn_on_asn_drop() -> None:
    r = result(portfolio(end=date(2027, 1, 1), asn_listings=[AsnListingRecord(ASN, "spamhaus-asndrop", "BAD-AS")]))
    assert r.asn_listings == ("spamhaus-asndrop AS64500 BAD-AS (lessee)",)
    assert codes(r) == {"asn-blocklisted"}
    assert r.risk_score - result(portfolio(end=date(2027, 1, 1))).risk_score == RISK_POINTS["asn-blocklisted"]


def test_a_registered_transit_on_asn_drop() -> None:
    r = result(portfolio(end=date(2027, 1, 1), transit=(64510,), asn_listings=[AsnListingRecord(64510, "spamhaus-asndrop", None)]))
    assert r.asn_listings == ("spamhaus-asndrop AS64510 (transit)",)
    assert codes(r) == {"asn-blocklisted"}


def test_an_unrelated_asn_on_asn_drop_flags_nothing() -> None:
    r = result(portfolio(end=date(2027, 1, 1), transit=(64510,), asn_listings=[AsnListingRecord(64999, "spamhaus-asndrop", None)]))
    assert r.asn_listings == () and codes(r) == set()


# --- ASPA -----------------------------------------------------------------------------------------

def test_hop_check_and_prepends() -> None:
    aspas = {ASN: frozenset({64510})}
    assert aspa_hop(aspas, ASN, 64510) == PROVIDER_PLUS
    assert aspa_hop(aspas, ASN, 64511) == NOT_PROVIDER_PLUS
    assert aspa_hop(aspas, 64999, 64510) == NO_ATTESTATION
    assert aspa_hop({64502: frozenset({0})}, 64502, 64503) == NOT_PROVIDER_PLUS  # AS0 ASPA: no providers at all
    assert collapse((64999, 64510, 64510, 64500, 64500)) == (64999, 64510, 64500)
    assert collapse((64999, frozenset({64501, 64505}), 64500, 64500)) == (64999, frozenset({64501, 64505}), 64500)


# A hand-made topology in the shape of the draft's up-ramp / down-ramp picture:
#   tier-1s T1 64502 and T2 64503 peer (each an ASPA of AS 0: no providers); OR 64500 (the lessee) is a
#   customer of P 64501, a customer of T1; C 64504 (the collector peer) is a customer of T2; M 64505 is
#   multihomed to P and T2 and leaks P's routes to T2 (a valley at M).
OR, P, T1, T2, C, M, X = 64500, 64501, 64502, 64503, 64504, 64505, 64506
TOPOLOGY = {OR: frozenset({P}), P: frozenset({T1}), T1: frozenset({0}), T2: frozenset({0}), C: frozenset({T2}),
            M: frozenset({P, T2})}
UP_ONLY = (T1, P, OR)  # as T2 gets it from its peer T1: every hop customer -> provider
UP_THEN_DOWN = (C, T2, T1, P, OR)  # as the collector gets it from C: up to T1, across to T2, down to C
LEAK = (C, T2, M, P, OR)  # M hands a route from its provider P to its other provider T2


def test_ramps_of_the_draft_definitions() -> None:
    # AS(1) = OR .. AS(5) = C; up: OR->P Provider+, P->T1 Provider+, T1->T2 Not Provider+ (AS0 ASPA)
    # down: C->T2 Provider+ (J=5), T2->T1 Not Provider+ (J=4): max_down = 5 - 4 + 1
    assert ramps(TOPOLOGY, UP_THEN_DOWN) == Ramps(max_up=3, min_up=3, max_down=2, min_down=2)
    # up: OR->P Provider+, P->M Not Provider+ (I=2); down: C->T2 Provider+, T2->M Not Provider+ (J=4)
    assert ramps(TOPOLOGY, LEAK) == Ramps(max_up=2, min_up=2, max_down=2, min_down=2)
    # without P's, T2's and M's ASPAs nothing is disproved: the max ramps run the whole path
    sparse = {OR: frozenset({P}), C: frozenset({T2})}
    assert ramps(sparse, LEAK) == Ramps(max_up=5, min_up=2, max_down=5, min_down=2)
    assert ramps(TOPOLOGY, (OR,)) == Ramps(1, 1, 1, 1)


def test_a_valid_up_only_path() -> None:
    assert verify_upstream(TOPOLOGY, UP_ONLY) == ASPA_VALID
    assert verify_downstream(TOPOLOGY, UP_ONLY) == ASPA_VALID
    assert verify_upstream(TOPOLOGY, (OR,)) == ASPA_VALID == verify_downstream(TOPOLOGY, (OR,))  # N = 1


def test_a_valid_up_then_down_path_is_valid_downstream_only() -> None:
    # the reason a collector's paths take the downstream procedure: upstream finds this valley-free path Invalid
    assert verify_downstream(TOPOLOGY, UP_THEN_DOWN) == ASPA_VALID
    assert verify_upstream(TOPOLOGY, UP_THEN_DOWN) == ASPA_INVALID
    assert verify_collected(TOPOLOGY, UP_THEN_DOWN) == PathCheck(UP_THEN_DOWN, ASPA_VALID)


def test_a_valley_is_invalid_and_names_its_hops() -> None:
    assert verify_downstream(TOPOLOGY, LEAK) == ASPA_INVALID
    check = verify_collected(TOPOLOGY, LEAK)
    assert check == PathCheck(LEAK, ASPA_INVALID, ((P, M), (T2, M)))  # M is neither P's nor T2's provider
    assert check.label() == "64504 64503 64505 64501 64500 (Invalid)"


def test_no_attestation_is_unknown() -> None:
    sparse = {OR: frozenset({P}), C: frozenset({T2})}
    assert verify_downstream(sparse, LEAK) == ASPA_UNKNOWN
    assert verify_upstream(sparse, UP_ONLY) == ASPA_UNKNOWN  # P's hop to T1 is not attested
    assert verify_collected(sparse, LEAK) == PathCheck(LEAK, ASPA_UNKNOWN)
    assert verify_downstream({}, LEAK) == ASPA_UNKNOWN


def test_an_as_set_or_an_empty_path_is_invalid() -> None:
    with_set = (C, T2, frozenset({T1, M}), P, OR)
    assert verify_downstream(TOPOLOGY, with_set) == ASPA_INVALID == verify_upstream(TOPOLOGY, with_set)
    assert verify_downstream({}, (C, frozenset({OR}))) == ASPA_INVALID  # even with no ASPA at all
    assert verify_downstream(TOPOLOGY, ()) == ASPA_INVALID == verify_upstream(TOPOLOGY, ())


def test_prepends_do_not_change_the_outcome() -> None:
    prepended = (C, C, T2, T1, T1, P, OR, OR, OR)
    assert verify_downstream(TOPOLOGY, prepended) == ASPA_VALID
    assert verify_collected(TOPOLOGY, prepended) == PathCheck(UP_THEN_DOWN, ASPA_VALID)
    assert verify_collected(TOPOLOGY, (C, T2, T2, M, P, P, OR)) == PathCheck(LEAK, ASPA_INVALID, ((P, M), (T2, M)))


def aspa_result(paths: list[tuple[int, ...]], aspas: dict[int, frozenset[int]], transit: tuple[int, ...] = ()) -> Any:
    records = [AsPathRecord(BLOCK, path[0], path, f"192.0.2.{250 - k}") for k, path in enumerate(paths)]
    return result(portfolio(end=date(2027, 1, 1), transit=transit, aspas=[AspaRecord(c, tuple(sorted(p))) for c, p in aspas.items()],
                            as_paths=records))


def test_an_invalid_path_of_the_lessees_route_is_flagged_with_its_hops() -> None:
    r = aspa_result([UP_THEN_DOWN, LEAK], TOPOLOGY)
    assert r.as_paths == ("64504 64503 64505 64501 64500 (Invalid)", "64504 64503 64502 64501 64500 (Valid)")
    assert r.aspa_invalid_hops == ("AS64501 -> AS64505 (path 64504 64503 64505 64501 64500)",
                                   "AS64503 -> AS64505 (path 64504 64503 64505 64501 64500)")
    assert r.aspa_unauthorised == (M,) and r.aspa_providers == (P,) and r.upstream_asns == (P,)
    assert codes(r) == {"aspa-unauthorised-upstream"}
    assert ("aspa-unauthorised-upstream: AS64500's route is Invalid by ASPA verification (draft-ietf-sidrops-aspa-verification): "
            "the customer's ASPA does not name the provider in AS64501 -> AS64505 (path 64504 64503 64505 64501 64500); "
            "AS64503 -> AS64505 (path 64504 64503 64505 64501 64500); AS64500's ASPA attests AS64501") in r.risk_flags


def test_an_upstream_the_lessees_aspa_does_not_name() -> None:
    r = aspa_result([(C, T2, X, OR)], TOPOLOGY)  # OR hands its route to X, which its ASPA does not name; T2 is not X's customer
    assert r.as_paths == ("64504 64503 64506 64500 (Invalid)",)
    assert r.aspa_invalid_hops == ("AS64500 -> AS64506 (path 64504 64503 64506 64500)", "AS64503 -> AS64506 (path 64504 64503 64506 64500)")
    assert codes(r) == {"aspa-unauthorised-upstream"}


def test_a_register_transit_the_aspa_does_not_name() -> None:
    r = aspa_result([UP_THEN_DOWN], TOPOLOGY, transit=(P, 64512))
    assert r.as_paths == ("64504 64503 64502 64501 64500 (Valid)",) and r.upstream_asns == (P, 64512)
    assert r.aspa_invalid_hops == ("AS64500 -> AS64512 (register transit)",) and r.aspa_unauthorised == (64512,)
    assert codes(r) == {"aspa-unauthorised-upstream"}


@pytest.mark.parametrize(("paths", "aspas", "transit"), [
    ([UP_THEN_DOWN, UP_ONLY], TOPOLOGY, (P,)),  # a clean block: every path Valid, the transit attested
    ([LEAK], {OR: frozenset({P}), C: frozenset({T2})}, ()),  # the leak unproven without P's, T2's and M's ASPAs: Unknown
    ([(64999, 64511, OR)], {OR: frozenset({P})}, ()),  # only the lessee's ASPA: 64511 might be its customer or peer - Unknown
    ([(64999, 64511, OR)], {}, (64511,)),  # no ASPA at all
    ([(C, T2, X, 64666)], TOPOLOGY, ()),  # an Invalid path of another origin is not the lessee's route
])
def test_valid_unknown_or_foreign_paths_flag_nothing(paths: list[tuple[int, ...]], aspas: dict[int, frozenset[int]],
                                                     transit: tuple[int, ...]) -> None:
    r = aspa_result(paths, aspas, transit)
    assert all(not p.endswith("(Invalid)") for p in r.as_paths)
    assert r.aspa_invalid_hops == () and r.aspa_unauthorised == () and codes(r) == set()


# --- end to end, embedded ---------------------------------------------------------------------------

def run(state: Path, *args: str) -> str:
    outcome = CliRunner().invoke(cli, [*args, "--state-dir", str(state), "--backend", "embedded"])
    assert outcome.exit_code == 0, outcome.output
    return outcome.output


def ingest_all(state: Path, folder: Path) -> None:
    for worker, path in write_files(folder):
        run(state, "ingest", worker, str(path), "-q")
    run(state, "consume", "--until-idle")


def block_report(state: Path, block: str) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(run(state, "report", "block", block, "--format", "json", "--as-of", AS_OF))
    return report


@pytest.fixture(scope="module")
def embedded_reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("routing-paths")
    ingest_all(folder / "state", folder / "files")
    return {block: block_report(folder / "state", block) for block in EXPECTED_CODES}


@pytest.mark.parametrize("block", sorted(EXPECTED_CODES))
def test_each_block_shows_exactly_its_signals(embedded_reports: dict[str, dict[str, Any]], block: str) -> None:
    assert new_codes(embedded_reports[block]["risk_flags"]) == EXPECTED_CODES[block]


def test_report_block_shows_the_evidence(embedded_reports: dict[str, dict[str, Any]]) -> None:
    after, listed, mismatch, clean = (embedded_reports[b] for b in (AFTER, LISTED, MISMATCH, CLEAN))
    assert (after["bgp_observed_at"], after["lease_end"], after["announced_after_lease_end"]) == (BGP_OBSERVED, "2026-03-31", True)
    assert listed["asn_listings"] == ["spamhaus-asndrop AS64502 LISTED-AS (lessee)", "spamhaus-asndrop AS64530 BAD-TRANSIT (transit)"]
    assert (mismatch["as_paths"], mismatch["upstream_asns"], mismatch["aspa_providers"], mismatch["aspa_unauthorised"]) == (
        ["64999 64511 64503 (Invalid)"], [64510, 64511, 64512], [64510], [64511, 64512])
    assert mismatch["aspa_invalid_hops"] == ["AS64503 -> AS64511 (path 64999 64511 64503)", "AS64999 -> AS64511 (path 64999 64511 64503)",
                                             "AS64503 -> AS64512 (register transit)"]
    assert (clean["as_paths"], clean["upstream_asns"], clean["aspa_providers"], clean["aspa_unauthorised"], clean["aspa_invalid_hops"]) == (
        ["64999 64510 64500 (Valid)"], [64510], [64510], [], [])
    assert listed["as_paths"] == ["64999 64530 64502 (Unknown)"]
    assert clean["announced_after_lease_end"] is False and clean["asn_listings"] == []


def test_replaying_the_same_files_changes_nothing(tmp_path: Path, embedded_reports: dict[str, dict[str, Any]]) -> None:
    state = tmp_path / "state"
    ingest_all(state, tmp_path / "files")
    ingest_all(state, tmp_path / "files")  # every file again: new snapshot ids, the same facts
    assert {b: block_report(state, b) for b in EXPECTED_CODES} == embedded_reports


def test_the_table_shows_the_signals(tmp_path: Path) -> None:
    state = tmp_path / "state"
    ingest_all(state, tmp_path / "files")
    table = run(state, "report", "block", MISMATCH, "--as-of", AS_OF)
    assert "aspa_invalid_hops" in table and "64999 64511 64503 (Invalid)" in table and "aspa-unauthorised-upstream" in table


# --- workers: the new formats -----------------------------------------------------------------------

def parse(module: Any, path: Path) -> list[Any]:
    from chainrisk.ingest.common import ParseContext, SourceFile

    with SourceFile(path) as src:
        return list(module.parse(src, ParseContext(reference=str(path), ingested_at=at(date(2026, 6, 1)))))


def test_bgpdump_on_the_real_sample() -> None:
    if not REAL_BGPDUMP.exists():
        pytest.skip(f"real data sample not present: {REAL_BGPDUMP}")
    items = parse(bgpdump, REAL_BGPDUMP)
    assert all(isinstance(i, AsPath) for i in items) and len(items) == 9
    assert {i.block for i in items} == {"177.137.216.0/22"}
    assert {collapse(i.path)[-1] for i in items} == {263087, 99999}  # one peer's path ends in another origin
    peer = next(i for i in items if i.peer_ip == "208.51.134.248")
    assert (peer.peer_asn, collapse(peer.path)) == (3549, (3549, 28347, 263444, 263087))
    assert peer.provenance.observed_at == datetime(2017, 1, 12, 8, 0, 4, tzinfo=timezone.utc)
    assert len({i.fact_key for i in items}) == 9


def test_bgpdump_hostile_lines_are_rejected_with_their_line(tmp_path: Path) -> None:
    good = f"TABLE_DUMP2|1780135200|B|192.0.2.254|64999|{BLOCK}|64999 64510 64500|IGP|192.0.2.254|0|0||NAG||"
    lines = [
        good,
        "TABLE_DUMP2|1780135200|B|192.0.2.254|64999",  # too few fields
        f"TABLE_DUMP2|soon|B|192.0.2.254|64999|{BLOCK}|64999 64500|IGP",
        f"TABLE_DUMP2|1780135200|B|not-an-ip|64999|{BLOCK}|64999 64500|IGP",
        "TABLE_DUMP2|1780135200|B|192.0.2.254|64999|192.0.2.7/24|64999 64500|IGP",  # host bits
        f"TABLE_DUMP2|1780135200|B|192.0.2.254|64999|{BLOCK}|64999 x64500|IGP",
        f"TABLE_DUMP2|1780135200|B|192.0.2.254|64999|{BLOCK}|64999 0 64500|IGP",
        f"TABLE_DUMP2|1780135200|B|192.0.2.254|64999|{BLOCK}|64999 {{64500,64501}}|IGP",  # AS_SET: skipped
        "TABLE_DUMP2|1780135200|B|2001:db8::1|64999|2001:db8::/32|64999 64500|IGP",  # IPv6: skipped
        f"BGP4MP|1780135200|A|192.0.2.254|64999|{BLOCK}|64999 64500|IGP",  # an update: skipped
        f"TABLE_DUMP2|1780135200|B|192.0.2.254|64999|{BLOCK}|64999 64500\x00|IGP",
        f"WHAT|1780135200|B|192.0.2.254|64999|{BLOCK}|64999 64500|IGP",
        good.replace("192.0.2.254|64999", "192.0.2.253|64998"),
    ]
    path = tmp_path / "rib.txt"
    path.write_text("\n".join(lines) + "\n")
    items = parse(bgpdump, path)
    rejects = [(i.line, i.reason.split(":")[0]) for i in items if isinstance(i, Reject)]
    assert rejects == [(2, "wrong number of fields"), (3, "bad time"), (4, "bad peer address"), (5, "host bits set"),
                       (6, "bad AS path"), (7, "bad AS path"), (11, "NUL byte"), (12, "not a RIB entry")]
    assert [i.reason for i in items if isinstance(i, Skip)] == [bgpdump.SKIP_AS_SET.reason, bgpdump.SKIP_IPV6.reason, bgpdump.SKIP_UPDATE.reason]
    assert [(i.provenance.line, i.peer_asn) for i in items if isinstance(i, AsPath)] == [(1, 64999), (13, 64998)]
    assert all(f"{path}:" in f"{i.where()}:" for i in items if isinstance(i, Reject))


def test_bgpdump_refuses_another_format(tmp_path: Path) -> None:
    from chainrisk.ingest.common import SourceError

    path = tmp_path / "x.txt"
    path.write_text("192.0.2.0\t24\t64500\n")
    with pytest.raises(SourceError, match=":1: not a `bgpdump -m` file"):
        parse(bgpdump, path)


def test_asn_drop_hostile_lines(tmp_path: Path) -> None:
    lines = [
        '{"asn":64530,"rir":"RIPENCC","domain":"bad.example","cc":"NL","asname":"BAD-AS"}',
        '{"asn":"AS64531"}',
        '{"asn":"sixty"}',
        '{"asn":true}',
        '{"asn":64532,"asname":7}',
        '{"cidr":"192.0.2.0/24","sblid":"SBL1"}',  # a DROP prefix record in an ASN-DROP list
        "{not json",
        "[1, 2]",
        '{"asn":99999999999}',
        '{"type":"metadata","timestamp":1780135200,"size":9,"records":2,"copyright":"x","terms":"y"}',
    ]
    path = tmp_path / "asndrop.json"
    path.write_text("\n".join(lines) + "\n")
    items = parse(blocklist, path)
    assert [(i.line, i.reason.split(":")[0]) for i in items if isinstance(i, Reject)] == [
        (3, "not an AS number"), (4, "not an AS number"), (5, "bad asname"), (6, "not an ASN-DROP record"), (7, "invalid JSON"),
        (8, "not an ASN-DROP record"), (9, "not an AS number")]
    listed = [i for i in items if isinstance(i, AsnListing)]
    assert [(i.asn, i.as_name, i.rir, i.country, i.provenance.line) for i in listed] == [
        (64530, "BAD-AS", "ripencc", "NL", 1), (64531, None, None, None, 2)]
    assert {i.provenance.observed_at for i in listed} == {datetime(2026, 5, 30, 10, tzinfo=timezone.utc)}
    assert {i.list_name for i in listed} == {"spamhaus-asndrop"}


def test_aspas_hostile_elements(tmp_path: Path) -> None:
    aspas = [{"customer_asid": 64500, "providers": [64510, 64511, 64510]}, {"customer_asid": "x", "providers": []},
             {"customer_asid": 64501}, {"customer_asid": 64502, "providers": ["AS64512", {"asid": 64513}]},
             {"customer_asid": 64503, "providers": [64503]}, {"customer_asid": 64504, "providers": [None]},
             {"customer_asid": 64505, "providers": [64510], "expires": "never"}]
    path = tmp_path / "rpki-client.json"
    path.write_text(json.dumps({"metadata": {"buildtime": "2026-05-30T10:00:00Z"}, "roas": [], "aspas": aspas}, indent=1))
    items = parse(vrps, path)
    assert [(i.customer_asn, i.providers) for i in items if isinstance(i, Aspa)] == [(64500, (64510, 64511)), (64502, (64512, 64513))]
    rejects = [i for i in items if isinstance(i, Reject)]
    assert [r.reason.split(":")[0] for r in rejects] == ["bad ASPA", "not an ASPA", "bad ASPA", "bad ASPA", "bad expires"]
    assert all(r.line is not None and r.line > 3 for r in rejects)


def test_transit_asns_in_the_register(tmp_path: Path) -> None:
    path = tmp_path / "leases.csv"
    path.write_text("block,provider,provider_role,recipient,recipient_role,start_date,end_date,lessee_asn,transit_asns\n"
                    f"{BLOCK},H,holder,L,lessee,2025-01-01,2027-01-01,64500,\"AS64510; 64511 ,64510\"\n"
                    f"{BLOCK},H,holder,M,lessee,2025-01-01,2027-01-01,64500,AS64510;transit-co\n"
                    "198.51.100.0/24,H,holder,L,lessee,2025-01-01,2027-01-01,64500,\n")
    items = parse(leases, path)
    hops = [i for i in items if isinstance(i, LeaseHop)]
    assert [h.transit_asns for h in hops] == [(64510, 64511), ()]
    (reject,) = [i for i in items if isinstance(i, Reject)]
    assert reject.line == 3 and reject.reason.startswith("bad transit_asns: 'transit-co' is not an AS number")
    # a hop without transit_asns keeps the id and bytes it had before the column existed
    assert b"\"transit_asns\":" in hops[0].to_json()
    assert b"\"transit_asns\":" not in hops[1].to_json()
