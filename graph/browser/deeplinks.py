r"""Neo4j Browser deep links: a URL that opens the Browser with a library query (its parameter values
inlined as Cypher literals) in the editor, not run.

Checked against Neo4j Browser 5.24 in headless Chromium:
* ``?cmd=edit&arg=<text>`` puts <text> in the editor without running it;
* the Browser percent-decodes the whole URL *before* splitting it at ``&`` and ``#``, so the text
  itself must contain neither (even percent-encoded): Cypher string literals write them as
  ``\u0026`` / ``\u0023``, and library Cypher may not contain them at all;
* ``:param`` lines in front of a query do set the parameters, but the multi-statement frame then
  shows only "SUCCESS" per statement, not the query's rows or graph. So the deep link inlines the
  values as escaped literals (the executed library Cypher keeps its $parameters), and
  ``browser_param_commands`` gives the ``:param`` form for analysts who want to re-use parameters.
"""
from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import quote

from chainrisk.graph.browser.library import CYPHER_PARAM, LibraryQuery

_URL_BREAKERS = ("&", "#")


def cypher_literal(value: Any) -> str:
    """``value`` written as a Cypher literal that evaluates back to exactly it (strings quoted and
    escaped, so no value can end the literal and add Cypher of its own; ``&`` and ``#`` escaped so
    the literal survives a Browser deep link)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{value} has no Cypher literal")
        return repr(value)
    if isinstance(value, date):
        return f"date('{value.isoformat()}')"
    if isinstance(value, str):
        escaped = "".join(_escape_char(ch) for ch in value)
        return f"'{escaped}'"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(cypher_literal(v) for v in value) + "]"
    raise TypeError(f"no Cypher literal for {type(value).__name__}")


def _escape_char(ch: str) -> str:
    if ch in ("\\", "'", '"'):
        return "\\" + ch
    if ch == "\n":
        return "\\n"
    if ch == "\r":
        return "\\r"
    if ch == "\t":
        return "\\t"
    if ord(ch) < 0x20 or ch in ("\u2028", "\u2029", "&", "#"):
        return f"\\u{ord(ch):04x}"
    return ch


def inline_parameters(query: LibraryQuery, values: dict[str, Any] | None = None) -> str:
    """The query's Cypher with every ``$name`` replaced by the literal of its value (``values``
    first, then the declared examples). For Browser deep links only: never executed by chainrisk."""
    chosen = {**query.example_values(), **(values or {})}
    return CYPHER_PARAM.sub(lambda m: cypher_literal(chosen[m.group(1)]), query.cypher.strip())


def browser_param_commands(query: LibraryQuery, values: dict[str, Any] | None = None) -> str:
    """Browser ``:param name => literal`` lines for the query's parameters (one per line)."""
    chosen = {**query.example_values(), **(values or {})}
    return "\n".join(f":param {p.name} => {cypher_literal(chosen[p.name])}" for p in query.parameters)


def browser_editor_text(query: LibraryQuery, values: dict[str, Any] | None = None, version: str | None = None) -> str:
    """What a deep link puts in the Browser editor: a comment naming the query, then its Cypher
    with the parameter values inlined."""
    label = f"chainrisk query {query.name}" + (f" (library v{version})" if version else "")
    return f"// {label}\n{inline_parameters(query, values)}"


def browser_deep_link(browser_url: str, editor_text: str, connect_url: str | None = None) -> str:
    """A Neo4j Browser URL that opens the Browser with ``editor_text`` in the editor (not run);
    ``connect_url`` (e.g. bolt://127.0.0.1:7687) pre-fills the login form."""
    broken = [ch for ch in _URL_BREAKERS if ch in editor_text]
    if broken:
        raise ValueError(f"Browser deep links cannot carry {' or '.join(broken)} (the Browser cuts the text there)")
    base = browser_url if browser_url.endswith("/") else browser_url + "/"
    dbms = f"dbms={quote(connect_url, safe='')}&" if connect_url else ""
    return f"{base}?{dbms}cmd=edit&arg={quote(editor_text, safe='')}"


def query_deep_link(
    browser_url: str, query: LibraryQuery, values: dict[str, Any] | None = None, connect_url: str | None = None,
    version: str | None = None,
) -> str:
    """The Browser deep link of a library query with ``values`` (or its examples) inlined; the
    editor's first line names the query (and the library ``version`` when given)."""
    return browser_deep_link(browser_url, browser_editor_text(query, values, version), connect_url)
