"""The query library file, its validation, parameter binding and Browser deep links (no server)."""
from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from urllib.parse import unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chainrisk.graph.browser.deeplinks import (
    browser_deep_link,
    browser_editor_text,
    browser_param_commands,
    cypher_literal,
    inline_parameters,
    query_deep_link,
)
from chainrisk.graph.browser.grass import browser_style, grass_for_deep_link
from chainrisk.graph.browser.library import (
    CATEGORIES,
    ParameterError,
    QueryLibraryError,
    bind_parameters,
    load_library,
    parse_library,
    parse_param_options,
)
from chainrisk.graph.config import Settings

GRASS = Path(__file__).resolve().parents[2] / "graph" / "browser" / "browser-style.grass"

MINIMAL = """
version: 1.2.3
queries:
  - name: one-query
    title: One
    category: chains
    description: d
    parameters:
      - name: prefix
        type: string
        description: p
        example: 192.0.2.0/24
    columns: [p]
    cypher: |
      MATCH (b:Block {prefix: $prefix}) RETURN b.prefix AS p
"""


def browser_editor_content(url: str) -> str:
    """What Neo4j Browser 5.24 puts in its editor for ``?cmd=edit&arg=...``: it percent-decodes the
    whole URL first, then takes each ``arg=`` value up to the next ``&`` or ``#``."""
    decoded = unquote(url)
    return "\n".join(re.findall(r"[?&]arg=([^&#]*)", decoded))


def test_packaged_library_loads_with_required_queries() -> None:
    library = load_library()
    assert re.fullmatch(r"\d+\.\d+\.\d+", library.version)
    names = {q.name for q in library.queries}
    assert {
        "block-chain", "lessee-blocks", "block-spofs", "top-exposure", "party-dependents", "renewal-gaps",
        "not-routing-ready", "reputation-issues", "source-clarity", "holder-changes", "holdings-history",
        "changes-since", "alerts-by-type", "block-freshness",
    } <= names
    for query in library.queries:
        assert query.category in CATEGORIES
        assert query.columns, f"{query.name} declares no columns"


def test_minimal_library_parses() -> None:
    library = parse_library(MINIMAL, "x.yaml")
    query = library.get("one-query")
    assert query.parameters[0].example == "192.0.2.0/24"
    assert query.parameters[0].required


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("RETURN b.prefix AS p", "RETURN b.prefix AS p, $other AS o"), "query 'one-query': Value error, cypher uses undeclared parameter(s) ['other']"),
        (("MATCH (b:Block {prefix: $prefix})", "MATCH (b:Block {prefix: 'x'})"), "declared parameter(s) ['prefix'] are not used"),
        (("MATCH (b:Block", "MATCH (b:Block) SET b.x = 1 WITH b MATCH (b:Block"), "cypher must be read-only, found 'SET'"),
        (("RETURN b.prefix AS p", "RETURN b.prefix + '#' AS p"), "cypher may not contain '#'"),
        (("RETURN b.prefix AS p", "RETURN '$prefix' AS p, $prefix AS q"), "'$' inside a string literal"),
        (("category: chains", "category: misc"), "query 'one-query' category: Value error, category 'misc' is not one of"),
        (("name: one-query", "name: One_Query"), "must be kebab-case"),
        (("version: 1.2.3", "version: one"), "version: Value error, version 'one' must be MAJOR.MINOR.PATCH"),
        (("type: string", "type: text"), "query 'one-query' parameters.0.type: Input should be"),
    ],
)
def test_invalid_library_is_rejected_with_the_query_and_reason(change: tuple[str, str], message: str) -> None:
    with pytest.raises(QueryLibraryError) as err:
        parse_library(MINIMAL.replace(*change), "lib.yaml")
    assert str(err.value).startswith("lib.yaml: ")
    assert message in str(err.value)


def test_duplicate_names_and_bad_yaml() -> None:
    body = MINIMAL.split("queries:\n")[1]
    with pytest.raises(QueryLibraryError, match="query name 'one-query' is used twice"):
        parse_library(MINIMAL + body, "lib.yaml")
    with pytest.raises(QueryLibraryError, match=r"^lib.yaml:4: not valid YAML"):
        parse_library("version: 1.0.0\nqueries:\n  - name: x\n   bad: [", "lib.yaml")
    with pytest.raises(QueryLibraryError, match="expected a mapping"):
        parse_library("- just a list", "lib.yaml")


def test_unknown_query_suggests_close_names() -> None:
    with pytest.raises(QueryLibraryError, match="no query named 'chain'.*did you mean block-chain"):
        load_library().get("chain")


def test_bind_parameters_types_defaults_and_errors() -> None:
    library = load_library()
    gaps = library.get("renewal-gaps")
    assert bind_parameters(gaps, {"days": "30", "as_of": "2026-01-31"}) == {"days": 30, "as_of": date(2026, 1, 31)}
    assert bind_parameters(gaps, {}) == {"days": 90, "as_of": date.today()}
    with pytest.raises(ParameterError, match=r"--param days=soon: expected integer"):
        bind_parameters(gaps, {"days": "soon"})
    with pytest.raises(ParameterError, match=r"has no parameter 'day' \(it takes: days, as_of\)"):
        bind_parameters(gaps, {"day": "3"})
    with pytest.raises(ParameterError, match=r"needs --param prefix=<string> \(e.g. prefix=198.51.100.0/24\)"):
        bind_parameters(library.get("block-chain"), {})
    with pytest.raises(ParameterError, match="write it as name=value"):
        parse_param_options(["prefix"])
    assert parse_param_options(["a=b=c", " x =1"]) == {"a": "b=c", "x": "1"}


def test_cypher_literal_escapes() -> None:
    assert cypher_literal("it's") == "'it\\'s'"
    assert cypher_literal("a\\b") == "'a\\\\b'"
    assert cypher_literal("a&b#c\nd") == "'a\\u0026b\\u0023c\\nd'"
    assert cypher_literal(date(2026, 3, 1)) == "date('2026-03-01')"
    assert cypher_literal([1, True, None]) == "[1, true, null]"
    with pytest.raises(TypeError):
        cypher_literal(object())


@given(st.text())
def test_string_literal_cannot_end_early_or_break_a_deep_link(value: str) -> None:
    literal = cypher_literal(value)
    inner = literal[1:-1]
    # every quote inside is escaped, so the literal ends only at its last character
    assert re.search(r"(?<!\\)(\\\\)*'", inner) is None
    assert "&" not in literal and "#" not in literal and "\n" not in literal


@given(prefix=st.text(min_size=1, max_size=30))
def test_deep_link_puts_exactly_the_editor_text_in_the_browser(prefix: str) -> None:
    query = load_library().get("block-chain")
    text = browser_editor_text(query, {"prefix": prefix}, "1.0.0")
    url = browser_deep_link("http://127.0.0.1:7474/browser/", text, "bolt://127.0.0.1:7687")
    assert browser_editor_content(url) == text
    assert text.startswith("// chainrisk query block-chain (library v1.0.0)\n")
    assert cypher_literal(prefix) in text and "$prefix" not in text


def test_deep_link_refuses_text_the_browser_would_cut() -> None:
    with pytest.raises(ValueError, match="cannot carry &"):
        browser_deep_link("http://h/browser/", "RETURN 1 & 2")


def test_inline_and_param_commands() -> None:
    query = load_library().get("holdings-history")
    values = {"prefix": "198.51.100.0/24", "on_date": date(2025, 6, 30)}
    inlined = inline_parameters(query, values)
    assert "{prefix: '198.51.100.0/24'}" in inlined and "datetime({date: date('2025-06-30')})" in inlined
    assert browser_param_commands(query, values) == ":param prefix => '198.51.100.0/24'\n:param on_date => date('2025-06-30')"


def test_query_deep_link_opens_the_configured_browser_with_its_login() -> None:
    settings = Settings(neo4j_uri="bolt://127.0.0.1:7687", neo4j_http_port=7474)
    library = load_library()
    url = query_deep_link(settings.browser_url, library.get("block-chain"), {"prefix": "198.51.100.0/24"}, settings.neo4j_uri,
                          library.version)
    assert url.startswith("http://127.0.0.1:7474/browser/?dbms=bolt%3A%2F%2F127.0.0.1%3A7687&cmd=edit&arg=")
    assert browser_editor_content(url).startswith(f"// chainrisk query block-chain (library v{library.version})\n")
    assert "MATCH chain = (provider:Party)-[hop:LEASES {block: '198.51.100.0/24'}]->(recipient:Party)" in browser_editor_content(url)


def test_grass_for_deep_link_has_no_hash_and_same_colours() -> None:
    grass = browser_style()
    assert grass == GRASS.read_text()  # the packaged style is the file in the repository
    converted = grass_for_deep_link(grass)
    assert "#" not in converted
    assert "color: rgb(192, 57, 43);" in converted  # node.Holder #C0392B
    assert len(re.findall(r"#[0-9A-Fa-f]{6}", grass)) == converted.count("rgb(")


def test_grass_styles_every_label_of_the_graph_model() -> None:
    styled = set(re.findall(r"^node\.(\w+) \{", GRASS.read_text(), re.M))
    model_labels = {"Party", "Block", "Registration", "Maintainer", "AS", "Vrp", "BgpRoute", "RouteObject", "Listing",
                    "Transfer", "Delegation", "Alert", "Retracted", "ConsumerOffset"}
    roles = {"Holder", "Upstream", "Broker", "Lessee"}
    assert model_labels | roles <= styled
    # role rules come after Party so they override its colour; Holder last so it wins over other roles
    order = [m for m in re.findall(r"^node\.(\w+) \{", GRASS.read_text(), re.M) if m in roles | {"Party"}]
    assert order == ["Party", "Lessee", "Broker", "Upstream", "Holder"]


def test_cli_list_show_and_embedded_run(run_cli) -> None:  # noqa: ANN001
    env = {"CHAINRISK_BACKEND": "embedded", "CHAINRISK_NEO4J_URI": "bolt://127.0.0.1:7687", "CHAINRISK_NEO4J_HTTP_PORT": "7474"}
    listed = run_cli("queries", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    for query in load_library().queries:
        assert query.name in listed.stdout
    shown = run_cli("queries", "show", "block-chain", "--param", "prefix=192.0.2.0/24", env=env)
    assert shown.returncode == 0, shown.stderr
    link = shown.stdout.split("Open in Neo4j Browser: ")[1].strip()
    assert "{block: '192.0.2.0/24'}" in browser_editor_content(link)
    assert ":param prefix => '192.0.2.0/24'" in shown.stdout
    ran = run_cli("queries", "run", "block-chain", "--param", "prefix=192.0.2.0/24", env=env)
    assert ran.returncode == 1
    assert "library queries run on Neo4j, but the configured backend is 'embedded'" in ran.stderr
    assert "Traceback" not in ran.stderr
    unknown = run_cli("queries", "show", "chain", env=env)
    assert unknown.returncode == 1 and "did you mean block-chain" in unknown.stderr
    styled = run_cli("queries", "style", env=env)
    assert styled.returncode == 0 and "node.Holder {" in styled.stdout
    assert ":style node {" in browser_editor_content(styled.stderr.split("(press run): ")[1].strip())
