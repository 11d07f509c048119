"""Risk flags and the risk score: the score is the sum of the points of the flags, whatever the shape
of the chain, and ``BlockResult`` takes no score of its own."""
from __future__ import annotations

import dataclasses
from datetime import date

import pytest

from chainrisk.analysis.blocks import RISK_POINTS, BlockResult, analyse_portfolio, risk_findings, risk_flags
from chainrisk.analysis.model import Hop, Listing, Portfolio

BLOCK = "198.51.100.0/24"
AS_OF = date(2026, 11, 1)


def hop(provider: str, recipient: str, end: str, prole: str, rrole: str, asn: int | None = None) -> Hop:
    return Hop(BLOCK, provider.casefold(), provider, prole, recipient.casefold(), recipient, rrole, date(2024, 1, 1),
               date.fromisoformat(end), asn, None, "LOA-1")


def points_of(flags: list[str]) -> int:
    return sum(RISK_POINTS[flag.split(":")[0]] for flag in flags)


def test_an_intermediary_spof_below_two_holders_is_flagged_and_scored():
    # two holders supply U: neither holder is a SPOF, U is, so the chain has fewer SPOFs than holders
    hops = [hop("H1", "U", "2030-01-01", "holder", "upstream"), hop("H2", "U", "2030-01-01", "holder", "upstream"),
            hop("U", "L", "2030-01-01", "upstream", "lessee", asn=64500)]
    result = analyse_portfolio(Portfolio(hops=hops), AS_OF).blocks[0]
    assert (result.holders, result.spofs) == (("H1", "H2"), ("U",))
    assert "intermediary-spof: U" in result.risk_flags
    assert [flag.split(":")[0] for flag in result.risk_flags] == ["rov-notfound", "intermediary-spof", "not-in-bgp", "no-irr-route"]
    assert result.risk_score == points_of(result.risk_flags) == 15 + 10 + 10 + 5


def test_every_flag_code_has_points_and_the_score_follows_the_flags():
    hops = [hop("H", "U", "2026-12-01", "holder", "upstream"), hop("U", "B", "2027-06-01", "upstream", "broker"),
            hop("B", "L", "2026-10-01", "broker", "lessee", asn=64501)]
    portfolio = Portfolio(hops=hops, listings=[Listing("198.51.0.0/16", "spamhaus-drop", "SBL1")],
                          origins={"198.51.100.0/24": (64999,)})
    result = analyse_portfolio(portfolio, AS_OF).blocks[0]
    codes = [code for code, _, _ in risk_findings(result)]
    assert codes == ["blocklisted", "rov-notfound", "expired", "renewal-gap", "intermediary-spof", "intermediary-spof", "not-in-bgp",
                     "no-irr-route"]
    assert risk_flags(result)[:3] == ["blocklisted: spamhaus-drop SBL1 198.51.0.0/16", "rov-notfound: no ROA covers the block for AS64501",
                                      "expired: secured until 2026-10-01"]
    assert result.risk_score == points_of(result.risk_flags) == sum(RISK_POINTS[c] for c in codes)
    # the score follows the flags of a changed result too
    later = dataclasses.replace(result, as_of=date(2026, 9, 1))
    assert "expiring: secured until 2026-10-01" in later.risk_flags
    assert later.risk_score == result.risk_score - RISK_POINTS["expired"] + RISK_POINTS["expiring"]


def test_a_block_result_is_built_with_keywords_and_takes_no_score():
    result = analyse_portfolio(Portfolio(hops=[hop("H", "L", "2030-01-01", "holder", "lessee", asn=64500)]), AS_OF).blocks[0]
    fields = {f.name: getattr(result, f.name) for f in dataclasses.fields(BlockResult)}
    assert "risk_score" not in fields and "risk_flags" not in fields
    with pytest.raises(TypeError):
        BlockResult(*fields.values())  # type: ignore[misc]
    with pytest.raises(TypeError):
        BlockResult(**fields, risk_score=0)  # type: ignore[call-arg]
    assert BlockResult(**fields) == result
