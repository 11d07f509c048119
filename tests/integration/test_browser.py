"""End to end in a real Neo4j Browser (headless Debian Chromium driven by Playwright): log in,
apply the chainrisk style, open library queries by their deep links, run them and check the result.

Screenshots go to ``test-artifacts/`` (gitignored). With ``CHAINRISK_DOC_IMAGES=1`` the same run
also refreshes the pictures of docs/browser-guide.md in docs/img/.
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from risk_graph import BLOCK_A, load_risk_graph

from chainrisk.graph.browser.deeplinks import browser_deep_link, query_deep_link
from chainrisk.graph.browser.grass import browser_style, grass_for_deep_link
from chainrisk.graph.browser.library import load_library
from chainrisk.graph.config import Settings

pytestmark = [pytest.mark.services, pytest.mark.browser]

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
DOC_IMAGES = REPO / "docs" / "img"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]
MAX_DOC_IMAGE_BYTES = 300_000
TIMEOUT_MS = 60_000


def _chromium() -> str:
    if not Path(CHROMIUM).exists():
        reason = f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)"
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture(scope="module")
def browser_settings(services_settings: Settings) -> Settings:
    settings = services_settings.model_copy(update={"backend": "services"})
    load_risk_graph(settings)
    return settings


@pytest.fixture(scope="module")
def page(browser_settings: Settings) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    executable = _chromium()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 800})
            page = context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            yield page
        finally:
            browser.close()


def _open(page: Any, settings: Settings, url: str) -> None:
    """Load a deep link and wait until the Browser is connected with the text in its editor (the
    Browser reconnects with the credentials it kept; when it shows the login form instead, log in)."""
    page.wait_for_timeout(2_000)  # the Browser saves its settings and style to localStorage shortly after a change
    page.goto(url)
    page.wait_for_selector("[data-testid=activeEditor]")
    try:
        page.wait_for_selector("[data-testid=disconnectedBanner]", state="detached", timeout=15_000)
    except Exception:  # playwright TimeoutError: not reconnected by itself
        _fill_login(page, settings)


def _fill_login(page: Any, settings: Settings) -> None:
    page.wait_for_selector("[data-testid=boltaddress]")
    assert page.locator("[data-testid=bolt-scheme-select]").input_value() == "bolt://"
    assert page.locator("[data-testid=boltaddress]").input_value() == settings.neo4j_uri.split("://", 1)[1]
    page.fill("[data-testid=username]", settings.neo4j_user)
    page.fill("[data-testid=password]", settings.resolve_neo4j_password())
    page.click("[data-testid=connect]")
    page.wait_for_selector("text=You are connected as user")
    page.wait_for_selector("[data-testid=disconnectedBanner]", state="detached")


def _log_in(page: Any, settings: Settings, url: str) -> None:
    page.goto(url)
    _fill_login(page, settings)


def _run_editor(page: Any) -> Any:
    """Run what the editor holds; return the newest result frame once it has finished."""
    frames_before = page.locator("[data-testid=frame]").count()
    page.click("[data-testid=editor-Run]")
    page.wait_for_function(
        "n => document.querySelectorAll('[data-testid=frame]').length > n", arg=frames_before)
    frame = page.locator("[data-testid=frame]").first
    frame.locator("[data-testid=frameStatusbar], svg, table").first.wait_for()
    return frame


def _save(frame: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    frame.screenshot(path=str(path))
    if os.environ.get("CHAINRISK_DOC_IMAGES") == "1":
        DOC_IMAGES.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOC_IMAGES / path.name)
    return path


def test_browser_runs_library_queries_from_deep_links(page: Any, browser_settings: Settings) -> None:
    library = load_library()
    base, bolt = browser_settings.browser_url, browser_settings.neo4j_uri
    grass = browser_style()

    # 1. log in from the style link, then apply the style
    _log_in(page, browser_settings, browser_deep_link(base, ":style " + grass_for_deep_link(grass), bolt))
    style_frame = _run_editor(page)
    assert "Holder" in style_frame.inner_text()
    # show only what a query returns (Browser otherwise adds every relationship between result nodes)
    _open(page, browser_settings, browser_deep_link(base, ":config autoComplete: false", bolt))
    _run_editor(page)

    # 2. find a block (table result)
    _open(page, browser_settings, query_deep_link(base, library.get("find-block"), {"text": "198.18"}, bolt))
    frame = _run_editor(page)
    frame.get_by_text("Beta Cloud").first.wait_for()
    text = frame.inner_text()
    assert "198.18.2.0/24" in text and "198.18.1.0/24" in text and "Acme Hosting" in text
    _save(frame, "browser-1-find-block")

    # 3. its chain (graph result, captions from the style)
    _open(page, browser_settings, query_deep_link(base, library.get("block-chain"), {"prefix": BLOCK_A}, bolt))
    frame = _run_editor(page)
    graph = frame.locator("svg")
    graph.get_by_text("Acme Hosting").first.wait_for()
    captions = graph.locator("text").all_text_contents()
    assert {"Northwind", "LeaseCo", "Acme"} <= {word for caption in captions for word in caption.split()}
    # parties coloured by their role labels: holder red, upstream orange, lessee green (node.Holder, ...)
    fills = {c.get_attribute("fill") for c in graph.locator("circle").all()}
    assert {"rgb(192, 57, 43)", "rgb(230, 126, 34)", "rgb(39, 174, 96)"} <= fills, f"parties not coloured by role: {fills}"
    shot = _save(frame, "browser-2-block-chain")

    # 4. who can cut it off
    _open(page, browser_settings, query_deep_link(base, library.get("block-spofs"), {"prefix": BLOCK_A}, bolt))
    frame = _run_editor(page)
    frame.locator("svg").get_by_text("SPOF_FOR").first.wait_for()
    fills = {c.get_attribute("fill") for c in frame.locator("svg circle").all()}
    assert "rgb(46, 134, 193)" in fills, f"the chainrisk style did not colour the Block node: {fills}"  # node.Block
    _save(frame, "browser-3-block-spofs")

    # 5. the covering allocation's holders, and what else depends on the upstream
    _open(page, browser_settings, query_deep_link(base, library.get("holdings-history"), {"prefix": BLOCK_A, "on_date": _date("2025-06-30")}, bolt))
    frame = _run_editor(page)
    frame.get_by_text("RIPENCC holder nw-0001").first.wait_for()
    _save(frame, "browser-4-holdings-history")
    _open(page, browser_settings, query_deep_link(base, library.get("party-dependents"), {"party": "LeaseCo"}, bolt))
    frame = _run_editor(page)
    frame.get_by_text("198.18.2.0/24").first.wait_for()
    _save(frame, "browser-5-party-dependents")

    assert shot.stat().st_size > 10_000  # a real rendering, not a blank frame
    if os.environ.get("CHAINRISK_DOC_IMAGES") == "1":
        for image in DOC_IMAGES.glob("browser-*.png"):
            assert image.stat().st_size < MAX_DOC_IMAGE_BYTES, f"{image} is too large for the docs"


def _date(text: str) -> Any:
    from datetime import date

    return date.fromisoformat(text)
