"""Nested leases: a /24 sub-leased inside a leased /22. Each address counts once, for its most
specific lease, and the sub-lease's chain runs through the lessee of the block it is cut from."""
from __future__ import annotations

import csv
import io
import json
from datetime import date
from pathlib import Path

from click.testing import CliRunner

from chainrisk.analysis.blocks import analyse_portfolio
from chainrisk.analysis.exposure import exposure, remove_party
from chainrisk.analysis.model import Hop, Portfolio
from chainrisk.cli.main import cli

AS_OF = date(2026, 1, 1)


def hop(block: str, provider: str, prole: str, recipient: str, rrole: str, end: str = "2027-01-01") -> Hop:
    return Hop(block, provider.casefold(), provider, prole, recipient.casefold(), recipient, rrole, date(2024, 1, 1),
               date.fromisoformat(end), 64500 if rrole == "lessee" else None, None, "LOA")


# Holder H leases 192.0.0.0/22 to Lessee C through Upstream U; C sub-leases 192.0.1.0/24 to Lessee D.
NESTED = Portfolio(hops=[
    hop("192.0.0.0/22", "Holder H", "holder", "Upstream U", "upstream", "2028-01-01"),
    hop("192.0.0.0/22", "Upstream U", "upstream", "Lessee C", "lessee", "2027-01-01"),
    hop("192.0.1.0/24", "Lessee C", "upstream", "Lessee D", "lessee", "2027-06-01"),
])


def test_each_address_counts_once_for_its_most_specific_lease() -> None:
    analysis = analyse_portfolio(NESTED, AS_OF)
    by_block = {r.block: r for r in analysis.blocks}
    assert analysis.total_addresses == 1024
    assert (by_block["192.0.0.0/22"].addresses, by_block["192.0.0.0/22"].leased_addresses, by_block["192.0.0.0/22"].sublease_of) == (1024, 768, None)
    assert (by_block["192.0.1.0/24"].addresses, by_block["192.0.1.0/24"].leased_addresses,
            by_block["192.0.1.0/24"].sublease_of) == (256, 256, "192.0.0.0/22")
    rows = {r.party: (r.spof_blocks, r.spof_addresses, r.share) for r in exposure(analysis)}
    assert rows == {"Holder H": (2, 1024, 1.0), "Upstream U": (2, 1024, 1.0), "Lessee C": (1, 256, 0.25)}


def test_a_sub_lease_is_the_chain_through_the_covering_lessee() -> None:
    sub = analyse_portfolio(NESTED, AS_OF).block("192.0.1.0/24")
    assert sub is not None and sub.data_errors == ()
    assert (sub.holders, sub.spofs, sub.lessee, sub.depth_min, sub.depth_max) == (("Holder H",), ("Holder H", "Upstream U", "Lessee C"), "Lessee D", 3, 3)
    assert sub.secured_until == date(2027, 1, 1)  # C's own lease ends before D's sub-lease
    assert sub.renewal_gaps == ("Lessee C->Lessee D",)


def test_removing_the_covering_lessee_cuts_the_sub_lessee_off() -> None:
    impact = remove_party(analyse_portfolio(NESTED, AS_OF), "lessee c")
    assert [(x.lessee, x.blocks, x.addresses) for x in impact.lost] == [("Lessee D", ["192.0.1.0/24"], 256)]
    assert impact.own_blocks == ["192.0.0.0/22"]


def test_three_levels_and_a_restated_chain() -> None:
    portfolio = Portfolio(hops=[
        *NESTED.hops,
        hop("192.0.1.128/25", "Lessee D", "broker", "Lessee E", "lessee"),
        # the register may restate a nested block's whole chain from a holder: then it stands alone
        hop("192.0.2.0/24", "Holder H", "holder", "Lessee F", "lessee"),
    ])
    analysis = analyse_portfolio(portfolio, AS_OF)
    by_block = {r.block: r for r in analysis.blocks}
    assert analysis.total_addresses == 1024
    assert {b: r.leased_addresses for b, r in by_block.items()} == {
        "192.0.0.0/22": 512, "192.0.1.0/24": 128, "192.0.1.128/25": 128, "192.0.2.0/24": 256}
    assert by_block["192.0.1.128/25"].spofs == ("Holder H", "Upstream U", "Lessee C", "Lessee D")
    assert by_block["192.0.2.0/24"].spofs == ("Holder H",) and by_block["192.0.2.0/24"].sublease_of == "192.0.0.0/22"
    assert max(r.share for r in exposure(analysis)) == 1.0


REGISTER = (
    "block,provider,provider_role,recipient,recipient_role,start_date,end_date,lessee_asn\n"
    "192.0.0.0/22,Holder H,holder,Lessee C,lessee,2024-01-01,2028-01-01,64500\n"
    "192.0.1.0/24,Lessee C,upstream,Lessee D,lessee,2024-01-01,2027-01-01,64501\n"
)


def test_cli_reports_count_distinct_addresses(tmp_path: Path) -> None:
    register = tmp_path / "register.csv"
    register.write_text(REGISTER)
    state = ["--state-dir", str(tmp_path / "state"), "--backend", "embedded"]
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(cli, [*args, *state], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    run("ingest", "leases", str(register), "--quiet")
    run("consume", "--until-idle")
    assert "analysed 2 leased blocks (1,024 addresses)" in run("analyze", "--as-of", "2026-01-01")
    rows = json.loads(run("report", "exposure", "--format", "json", "--as-of", "2026-01-01"))
    assert [(r["party"], r["spof_blocks"], r["spof_addresses"], r["share"]) for r in rows] == [("Holder H", 2, 1024, 1.0), ("Lessee C", 1, 256, 0.25)]
    table = list(csv.DictReader(io.StringIO(run("report", "exposure", "--format", "csv", "--as-of", "2026-01-01"))))
    assert [(r["party"], r["spof_addresses"]) for r in table] == [("Holder H", "1024"), ("Lessee C", "256")]
    blocks = {b["block"]: b for b in json.loads(run("report", "blocks", "--format", "json", "--as-of", "2026-01-01"))}
    assert (blocks["192.0.1.0/24"]["sublease_of"], blocks["192.0.1.0/24"]["chains"]) == ("192.0.0.0/22", [["Holder H", "Lessee C", "Lessee D"]])
    assert blocks["192.0.0.0/22"]["leased_addresses"] == 768
    table_text = run("report", "exposure", "--as-of", "2026-01-01")
    assert "1,024" in table_text and "100.00%" in table_text and "125.00%" not in table_text
    html = run("report", "blocks", "--format", "html", "--as-of", "2026-01-01")
    assert "1,024" in html and "sub-lease of" in html
