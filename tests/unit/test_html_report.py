"""The HTML risk report: self-contained, escaped, SPOFs highlighted in each chain diagram; and it
renders in headless Chromium (laid-out SVG, no request leaves the page)."""
from __future__ import annotations

import os
import re
from datetime import date
from pathlib import Path

import pytest

from chainrisk.analysis.blocks import analyse_portfolio
from chainrisk.analysis.exposure import exposure
from chainrisk.analysis.html_report import COLOURS, chain_columns, render_html
from chainrisk.analysis.model import Hop, Listing, Portfolio

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"


def hop(block: str, p: str, pr: str, r: str, rr: str, end: str = "2027-01-01") -> Hop:
    return Hop(block, p.casefold(), p, pr, r.casefold(), r, rr, date(2024, 1, 1), date.fromisoformat(end),
               64500 if rr == "lessee" else None, None, "LOA")


PORTFOLIO = Portfolio(
    hops=[
        hop("192.0.2.0/24", "Holder <&> Co", "holder", "Up One", "upstream"),
        hop("192.0.2.0/24", "Holder <&> Co", "holder", "Up Two", "upstream"),
        hop("192.0.2.0/24", "Up One", "upstream", "Broker", "broker"),
        hop("192.0.2.0/24", "Up Two", "upstream", "Broker", "broker"),
        hop("192.0.2.0/24", "Broker", "broker", "Lessee", "lessee", end="2027-06-01"),
        hop("198.51.100.0/24", "Holder <&> Co", "holder", "Lessee", "lessee"),
        hop("203.0.113.0/24", "Up One", "upstream", "Other", "lessee"),  # no holder: a data error
    ],
    listings=[Listing("198.51.100.0/24", "spamhaus-drop", "SBL9")],
)


@pytest.fixture
def html() -> str:
    analysis = analyse_portfolio(PORTFOLIO, date(2026, 11, 1))
    return render_html(analysis, exposure(analysis))


def test_report_is_self_contained_and_escaped(html):
    assert "<script" not in html and not re.search(r"(src|href)=['\"]https?:", html)
    assert "Holder &lt;&amp;&gt; Co" in html and "Holder <&> Co" not in html
    assert html.count("class='block'") == 3  # every block is among the riskiest of three


def test_spofs_are_highlighted_per_chain(html):
    first = html.index("id='b-203-0-113-0_24'")  # the data error ranks first
    assert first < html.index("id='b-192-0-2-0_24'")
    section = html[html.index("id='b-192-0-2-0_24'"):]
    section = section[: section.index("</div>")]
    # Holder and Broker are SPOFs (red), the two upstreams are not, the lessee is green
    assert section.count(f"stroke='{COLOURS['spof']}'") == 2
    assert section.count(f"stroke='{COLOURS['lessee']}'") == 1
    assert section.count(f"stroke='{COLOURS['node']}'") == 2


def test_chain_columns_follow_the_longest_distance_from_a_holder():
    hops = [h for h in PORTFOLIO.hops if h.block == "192.0.2.0/24"]
    assert chain_columns(hops) == {"holder <&> co": 0, "up one": 1, "up two": 1, "broker": 2, "lessee": 3}


@pytest.mark.browser
def test_report_renders_in_headless_chromium(html, tmp_path):
    if not Path(CHROMIUM).exists():
        reason = f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)"
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    path = tmp_path / "report.html"
    path.write_text(html)
    requests: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("request", lambda r: requests.append(r.url))
            page.goto(path.as_uri())
            chart = page.locator("svg[aria-label^='share of leased addresses']")
            assert chart.locator("rect").count() == len(exposure(analyse_portfolio(PORTFOLIO, date(2026, 11, 1))))
            diagrams = page.locator("div.block svg")
            assert diagrams.count() == 3
            for i in range(3):
                box = diagrams.nth(i).bounding_box()
                assert box and box["width"] > 200 and box["height"] > 40
            out = REPO / "test-artifacts"
            out.mkdir(exist_ok=True)
            page.screenshot(path=str(out / "html-report.png"), full_page=True)
        finally:
            browser.close()
    assert requests == [path.as_uri()]  # nothing but the file itself was loaded
