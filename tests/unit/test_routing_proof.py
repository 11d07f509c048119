"""Routing proof beyond the RFC 6811 state, one small hand-made portfolio per signal: each fixture
makes its flag true, and the clean block beside it carries no flag of the routing proof at all."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from chainrisk.analysis.blocks import RISK_POINTS, BlockResult, analyse_portfolio, routing_proof_findings
from chainrisk.analysis.idle_space import idle_space
from chainrisk.analysis.model import CaRecord, DelegationRecord, Hop, Portfolio, RegistryRecord, RouteObjectRecord, VrpRecord

BLOCK = "198.51.100.0/24"
CLEAN = "203.0.113.0/24"
ASN = 64500
AS_OF = date(2026, 11, 1)
BUILT = datetime(2026, 10, 31, 12, 0, tzinfo=timezone.utc)
LATER = BUILT + timedelta(days=7)
ROUTING_PROOF = ("as-set-origin", "roa-lapsing", "ca-nonfunctional", "roa-loose-maxlength", "as0-covered", "irr-nonauthoritative")


def hops(block: str, asn: int = ASN, holder: str = "Holder") -> list[Hop]:
    return [Hop(block, holder.casefold(), holder, "holder", "lessee", "Lessee", "lessee", date(2024, 1, 1), date(2030, 1, 1), asn,
                None, "LOA-1")]


def vrp(prefix: str, max_length: int, asn: int = ASN, expires: datetime | None = LATER, uri: str | None = None) -> VrpRecord:
    return VrpRecord(prefix, max_length, asn, "ripe", expires, BUILT, uri)


def clean_facts() -> Portfolio:
    """A block with every proof in order: an exact VRP valid for a week, its own route in BGP and a
    route object in the RIPE IRR for RIPE space."""
    return Portfolio(hops=hops(CLEAN), vrps=[vrp(CLEAN, 24)], origins={CLEAN: (ASN,)},
                     route_objects=[RouteObjectRecord(CLEAN, ASN, "ripe")],
                     registrations=[RegistryRecord("203.0.112.0/22", "ripe", "203.0.112.0 - 203.0.115.255", "ALLOCATED PA", "holder",
                                                   "holder", "Holder", abuse_c="AB1-RIPE")])


def analyse(extra: Portfolio, horizon: timedelta = timedelta(hours=24)) -> tuple[BlockResult, BlockResult]:
    """(the block under test, the clean block) analysed together."""
    base = clean_facts()
    portfolio = Portfolio(hops=base.hops + extra.hops, vrps=base.vrps + extra.vrps, origins={**base.origins, **extra.origins},
                          as_sets=extra.as_sets, route_objects=base.route_objects + extra.route_objects,
                          registrations=base.registrations + extra.registrations, delegations=extra.delegations,
                          nonfunctional_cas=extra.nonfunctional_cas)
    analysis = analyse_portfolio(portfolio.canonical(), AS_OF, horizon)
    tested, clean = analysis.block(BLOCK), analysis.block(CLEAN)
    assert tested is not None and clean is not None
    assert routing_proof_findings(clean) == [] and clean.risk_flags == [], "the clean block must carry no flag"
    return tested, clean


def codes(result: BlockResult) -> list[str]:
    return [code for code, _, _ in routing_proof_findings(result)]


def flag(result: BlockResult, code: str) -> str:
    (text,) = [f for f in result.risk_flags if f.startswith(code + ":")]
    return text


def test_an_as_set_route_has_origin_none_and_is_not_the_lessee_seen_in_bgp():
    result, _ = analyse(Portfolio(hops=hops(BLOCK), vrps=[vrp(BLOCK, 24)], as_sets={BLOCK: ("64500,64501",)}, origins={BLOCK: ()}))
    assert result.bgp_seen is False and result.bgp_origins == ()
    assert result.bgp_as_sets == ("198.51.100.0/24 {64500,64501}",)
    assert codes(result) == ["as-set-origin"] and "not-in-bgp: AS64500 not seen originating the block" in result.risk_flags
    assert flag(result, "as-set-origin") == ("as-set-origin: announced with an AS_SET origin, which is origin NONE (RFC 6811): "
                                             "198.51.100.0/24 {64500,64501}")


def test_a_moas_route_from_the_lessee_is_seen_and_no_as_set():
    result, _ = analyse(Portfolio(hops=hops(BLOCK), vrps=[vrp(BLOCK, 24)], origins={BLOCK: (64999, ASN)}))
    assert result.bgp_seen is True and result.bgp_as_sets == () and "as-set-origin" not in codes(result)


def test_roa_lapsing_when_every_valid_vrp_expires_within_the_horizon_of_the_build_time():
    soon = BUILT + timedelta(hours=20)
    lapsing = Portfolio(hops=hops(BLOCK), vrps=[vrp(BLOCK, 24, expires=soon), vrp("198.51.0.0/16", 24, expires=BUILT + timedelta(hours=3))])
    result, _ = analyse(lapsing)
    assert result.rov_state == "Valid" and result.roa_lapsing is True and result.roa_expires == soon
    assert codes(result) == ["roa-lapsing"]
    assert flag(result, "roa-lapsing") == ("roa-lapsing: every VRP making AS64500 Valid expires by 2026-11-01T08:00:00+00:00, soon after "
                                           "its export was built: 198.51.0.0/16-24 AS64500 (ripe); 198.51.100.0/24-24 AS64500 (ripe)")
    # a horizon shorter than 20 hours: not lapsing; one VRP that holds for a week: not lapsing
    assert analyse(lapsing, timedelta(hours=12))[0].roa_lapsing is False
    held = Portfolio(hops=hops(BLOCK), vrps=[vrp(BLOCK, 24, expires=soon), vrp("198.51.0.0/16", 24)])
    assert analyse(held)[0].roa_lapsing is False and "roa-lapsing" not in codes(analyse(held)[0])
    # an expiry the export does not give is unknown, not lapsing
    assert analyse(Portfolio(hops=hops(BLOCK), vrps=[vrp(BLOCK, 24, expires=None)]))[0].roa_lapsing is None


def test_ca_nonfunctional_when_a_covering_vrp_was_published_by_a_nonfunctional_ca():
    repo = "rsync://rpki.example.net/repo/holder/0/"
    ca = CaRecord("ripe", "rpki.example.net/repo/parent/holder.cer", repo)
    covered = Portfolio(hops=hops(BLOCK), vrps=[vrp("198.51.100.0/22", 24, uri=repo + "A1B2.roa")], nonfunctional_cas=[ca])
    result, _ = analyse(covered)
    assert result.nonfunctional_cas == (f"{ca.location} ({repo})",) and codes(result) == ["ca-nonfunctional"]
    # the same CA publishing elsewhere (a sibling directory) covers nothing here
    other = Portfolio(hops=hops(BLOCK), vrps=[vrp("198.51.100.0/22", 24, uri="rsync://rpki.example.net/repo/holder/1/A1B2.roa")],
                      nonfunctional_cas=[ca])
    assert analyse(other)[0].nonfunctional_cas == () and codes(analyse(other)[0]) == []


def test_roa_loose_maxlength_names_the_vrp_the_lessee_is_valid_through():
    result, _ = analyse(Portfolio(hops=hops(BLOCK), vrps=[vrp("198.51.100.0/22", 26), vrp(BLOCK, 28, asn=ASN)]))
    assert result.rov_state == "Valid" and codes(result) == ["roa-loose-maxlength"]
    assert flag(result, "roa-loose-maxlength") == (
        "roa-loose-maxlength: AS64500 is Valid only through 198.51.100.0/22-26 AS64500 (ripe); 198.51.100.0/24-28 AS64500 (ripe), "
        "whose maxLength is longer than /24 (RFC 9319: a forged-origin sub-prefix hijack validates too)")
    # one exact VRP besides the loose one: not only through a loose one
    tight = analyse(Portfolio(hops=hops(BLOCK), vrps=[vrp(BLOCK, 24), vrp(BLOCK, 28)]))[0]
    assert tight.loose_maxlength_vrps == () and codes(tight) == []


def test_as0_covered_when_an_as0_vrp_covers_the_leased_block():
    result, _ = analyse(Portfolio(hops=hops(BLOCK), vrps=[vrp(BLOCK, 24), vrp("198.51.0.0/16", 32, asn=0)]))
    assert result.rov_state == "Valid" and result.as0_vrps == ("198.51.0.0/16-32 AS0 (ripe)",) and codes(result) == ["as0-covered"]
    # an AS0 VRP for a more specific prefix does not cover the block
    inside = analyse(Portfolio(hops=hops(BLOCK), vrps=[vrp(BLOCK, 24), vrp("198.51.100.128/25", 25, asn=0)]))[0]
    assert inside.as0_vrps == () and codes(inside) == []


@pytest.mark.parametrize(("registries", "rir_record", "weak"), [
    (("radb",), "ripe", True),
    (("ripe-nonauth",), "ripe", True),
    (("apnic",), "ripencc", True),  # another RIR's IRR; the RIR known from delegated stats
    (("radb", "ripe"), "ripe", False),
    (("radb",), None, None),  # the space's RIR unknown: no judgement
])
def test_irr_nonauthoritative_when_the_route_object_is_not_in_the_rirs_own_irr(registries, rir_record, weak):
    extra = Portfolio(hops=hops(BLOCK), vrps=[vrp(BLOCK, 24)], origins={BLOCK: (ASN,)},
                      route_objects=[RouteObjectRecord(BLOCK, ASN, r) for r in registries])
    if rir_record == "ripe":
        extra.registrations = [RegistryRecord("198.51.100.0/24", "ripe", "198.51.100.0 - 198.51.100.255", "ASSIGNED PA", "lessee",
                                              "lessee", "Lessee", abuse_c="AB1-RIPE")]
    elif rir_record:
        extra.delegations = [DelegationRecord("198.51.0.0/16", rir_record, "allocated", "X1")]
    result, _ = analyse(extra)
    assert result.irr_route is True and result.irr_registries == tuple(sorted(registries))
    assert result.irr_nonauthoritative is weak
    assert codes(result) == (["irr-nonauthoritative"] if weak else [])
    if weak:
        assert flag(result, "irr-nonauthoritative").endswith("IRR of the space's registry")


def test_every_routing_proof_code_has_points():
    assert all(RISK_POINTS[code] > 0 for code in (*ROUTING_PROOF, "idle-space-announced"))


def held_portfolio(**extra: object) -> Portfolio:
    """Holder holds 198.51.100.0/22 (RIPE) and leases 198.51.100.0/24 of it."""
    base = Portfolio(hops=hops(BLOCK), vrps=[vrp(BLOCK, 24)], origins={BLOCK: (ASN,)},
                     registrations=[RegistryRecord("198.51.100.0/22", "ripe", "198.51.100.0 - 198.51.103.255", "ALLOCATED PA", "holder",
                                                   "holder", "Holder", abuse_c="AB1-RIPE")])
    for name, value in extra.items():
        setattr(base, name, value)
    return base.canonical()


def test_idle_space_is_held_less_leased_and_flagged_when_announced_or_without_as0():
    portfolio = held_portfolio(origins={BLOCK: (ASN,), "198.51.102.0/24": (64666,)},
                               vrps=[vrp(BLOCK, 24), vrp("198.51.101.0/24", 24, asn=0), vrp("198.51.102.0/23", 24, asn=0)])
    rows = idle_space(portfolio, analyse_portfolio(portfolio, AS_OF))
    assert [(r.block, r.holder, r.held_block) for r in rows] == [
        ("198.51.101.0/24", "Holder", "198.51.100.0/22"), ("198.51.102.0/23", "Holder", "198.51.100.0/22")]
    quiet, announced = rows
    assert quiet.risk_flags == [] and quiet.risk_score == 0 and quiet.as0_vrps == ("198.51.101.0/24-24 AS0 (ripe)",)
    assert announced.bgp_routes == ("198.51.102.0/24 AS64666",)
    assert announced.risk_flags == ["idle-space-announced: Holder holds it unleased; announced in BGP: 198.51.102.0/24 AS64666"]
    assert announced.risk_score == RISK_POINTS["idle-space-announced"]


def test_idle_space_without_an_as0_roa_is_flagged_and_a_fully_leased_holding_has_none():
    portfolio = held_portfolio()
    rows = idle_space(portfolio, analyse_portfolio(portfolio, AS_OF))
    assert [(r.block, r.risk_flags) for r in rows] == [
        ("198.51.101.0/24", ["idle-space-announced: Holder holds it unleased; no AS0 ROA covers it"]),
        ("198.51.102.0/23", ["idle-space-announced: Holder holds it unleased; no AS0 ROA covers it"])]
    # the holder's own aggregate announcement of the holding announces its idle part too
    aggregate = held_portfolio(origins={BLOCK: (ASN,), "198.51.100.0/22": (64501,)}, vrps=[vrp(BLOCK, 24), vrp("198.51.100.0/22", 32, asn=0)])
    assert [r.bgp_routes for r in idle_space(aggregate, analyse_portfolio(aggregate, AS_OF))] == [("198.51.100.0/22 AS64501",)] * 2
    # a route covering more than the holding is someone else's aggregate, not the idle space's
    wider = held_portfolio(origins={BLOCK: (ASN,), "198.51.0.0/16": (64501,)}, vrps=[vrp(BLOCK, 24), vrp("198.51.100.0/22", 32, asn=0)])
    assert [r.risk_flags for r in idle_space(wider, analyse_portfolio(wider, AS_OF))] == [[], []]
    whole = held_portfolio(hops=hops("198.51.100.0/22"))
    assert idle_space(whole, analyse_portfolio(whole, AS_OF)) == []
    # space held by a party that is no holder of the portfolio is nobody's idle space here
    other = held_portfolio(hops=hops(BLOCK, holder="Someone Else"))
    assert idle_space(other, analyse_portfolio(other, AS_OF)) == []
