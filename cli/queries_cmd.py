"""`chainrisk queries`: the risk-team query library (list, show, run) with Neo4j Browser deep links."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from chainrisk.cli.output import print_table
from chainrisk.common.formats import cell_text, rows_as_objects, to_csv, to_json
from chainrisk.graph.browser.deeplinks import browser_deep_link, browser_param_commands, query_deep_link
from chainrisk.graph.browser.grass import browser_style, grass_for_deep_link
from chainrisk.graph.browser.library import (
    LibraryQuery,
    ParameterError,
    QueryLibrary,
    QueryLibraryError,
    bind_parameters,
    load_library,
    parse_param_options,
    run_query,
)
from chainrisk.graph.config import ConfigError, Settings, load_settings

_library_option = click.option(
    "--library",
    "library_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Read queries from this YAML file instead of the packaged library.",
)
_param_option = click.option(
    "--param", "-p", "params", multiple=True, metavar="NAME=VALUE", help="A query parameter (repeatable)."
)


def _library(path: Path | None) -> QueryLibrary:
    try:
        return load_library(path)
    except QueryLibraryError as exc:
        raise click.ClickException(str(exc)) from None


def _query_and_values(library: QueryLibrary, name: str, params: tuple[str, ...]) -> tuple[LibraryQuery, dict[str, Any]]:
    try:
        query = library.get(name)
        return query, bind_parameters(query, parse_param_options(params))
    except (QueryLibraryError, ParameterError) as exc:
        raise click.ClickException(str(exc)) from None


@click.group()
def queries() -> None:
    """The risk-team query library for Neo4j Browser (see docs/browser-guide.md).

    Every query prints a Browser deep link: open it, check the `:param` lines, press run.
    """


@queries.command("list")
@click.option("--category", default=None, help="Only queries of this category.")
@_library_option
def list_queries(category: str | None, library_path: Path | None) -> None:
    """List the library's queries."""
    from rich.table import Table

    library = _library(library_path)
    table = Table(title=f"chainrisk query library v{library.version}")
    for column in ("name", "category", "parameters", "title"):
        table.add_column(column, overflow="fold")
    for query in library.queries:
        if category and query.category != category:
            continue
        params = ", ".join(f"{p.name}:{p.type.value}" + ("" if p.required else f"={p.default}") for p in query.parameters)
        table.add_row(query.name, query.category, params, query.title)
    print_table(table)


@queries.command("show")
@click.argument("name")
@_param_option
@_library_option
def show_query(name: str, params: tuple[str, ...], library_path: Path | None) -> None:
    """Show a query: description, parameters, Cypher and its Browser deep link."""
    library = _library(library_path)
    query, values = _query_and_values(library, name, params) if params else (_get(library, name), None)
    click.echo(f"{query.name}: {query.title}  [{query.category}]  (library v{library.version})")
    click.echo(query.description.strip())
    if query.parameters:
        click.echo("\nparameters:")
        for p in query.parameters:
            default = "required" if p.required else f"default {cell_text(p.default)}"
            click.echo(f"  {p.name} ({p.type.value}, {default}; e.g. {cell_text(p.example)}): {p.description.strip()}")
    if query.columns:
        click.echo(f"\ncolumns: {', '.join(query.columns)}")
    click.echo("\n" + query.cypher.strip())
    if query.parameters:
        click.echo("\nBrowser parameters (run these first to use the query as written):")
        click.echo(browser_param_commands(query, values))
    settings = load_settings()
    click.echo(f"\nOpen in Neo4j Browser: {query_deep_link(settings.browser_url, query, values, settings.neo4j_uri, library.version)}")


def _get(library: QueryLibrary, name: str) -> LibraryQuery:
    try:
        return library.get(name)
    except QueryLibraryError as exc:
        raise click.ClickException(str(exc)) from None


@queries.command("run")
@click.argument("name")
@_param_option
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@click.option("--backend", type=click.Choice(["embedded", "services"]), default=None,
              help="Must be services (Neo4j); default: configuration.")
@click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The state folder holding the Neo4j password (default: configuration).")
@_library_option
def run_library_query(name: str, params: tuple[str, ...], fmt: str, backend: str | None, state_dir: Path | None,
                      library_path: Path | None) -> None:
    """Run a query against Neo4j (the services backend) and print its rows."""
    library = _library(library_path)
    query, values = _query_and_values(library, name, params)
    settings = load_settings(backend=backend, state_dir=state_dir)
    if settings.backend != "services":
        raise click.ClickException(
            "library queries run on Neo4j, but the configured backend is 'embedded' (networkx). "
            "Start the servers with `chainrisk services up`, load the graph with the services backend "
            "(CHAINRISK_BACKEND=services or `backend = \"services\"` in chainrisk.toml), then run this again. "
            f"`chainrisk queries show {query.name}` prints the Cypher and a Browser link without running it."
        )
    columns, rows = _run(settings, query, values)
    link = query_deep_link(settings.browser_url, query, values, settings.neo4j_uri, library.version)
    if fmt == "json":
        click.echo(to_json(rows_as_objects(columns, rows)), nl=False)
    elif fmt == "csv":
        click.echo(to_csv(rows_as_objects(columns, rows), columns), nl=False)
    else:
        _print_table(query, columns, rows)
    # on stderr for json/csv so their stdout stays machine-readable
    click.echo(f"Open in Neo4j Browser: {link}", err=fmt != "table")


def _run(settings: Settings, query: LibraryQuery, values: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    from neo4j.exceptions import AuthError, ClientError, ServiceUnavailable

    from chainrisk.graph.stores.neo4j_store import NeoStore

    try:
        store = NeoStore(settings)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        store.driver.verify_connectivity()  # fail fast instead of the driver's retries for a server that is down
        return run_query(store.driver, settings.neo4j_database, query, values)
    except ServiceUnavailable:
        raise click.ClickException(
            f"Neo4j is not reachable at {settings.neo4j_uri}: start it with `chainrisk services up`"
        ) from None
    except AuthError:
        raise click.ClickException(
            f"Neo4j refused user {settings.neo4j_user!r}: check CHAINRISK_NEO4J_PASSWORD or {settings.password_file()}"
        ) from None
    except ClientError as exc:
        raise click.ClickException(f"query {query.name!r} failed in Neo4j: {exc.message}") from None
    finally:
        store.close()


def _print_table(query: LibraryQuery, columns: list[str], rows: list[list[Any]]) -> None:
    from rich.table import Table

    table = Table(title=f"{query.name}: {len(rows)} row{'s' if len(rows) != 1 else ''}")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(cell_text(v) for v in row))
    print_table(table)


@queries.command("style")
def style() -> None:
    """Print the Browser style (GraSS) and a deep link that applies it (press run in the Browser)."""
    grass = browser_style()
    click.echo(grass)
    settings = load_settings()
    link = browser_deep_link(settings.browser_url, ":style " + grass_for_deep_link(grass), settings.neo4j_uri)
    click.echo(f"Apply in Neo4j Browser (press run): {link}", err=True)
