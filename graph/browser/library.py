"""The versioned Cypher query library (``graph/browser/queries.yaml``): load, validate, bind, run.

The library is what risk teams paste into Neo4j Browser and what ``chainrisk queries`` runs. Every
query is parameterised (``$name``): parameter values travel to Neo4j as parameters, never spliced into
executed Cypher. Only the Browser deep link (``deeplinks.py``) shows values inline, as Cypher literals,
so the analyst sees (and can edit) them before running. Rows are written out as JSON or CSV by
``chainrisk.common.formats``, the formatter of the reports too.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from enum import Enum
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

if TYPE_CHECKING:  # the query library loads without the driver; only run_query needs it
    from neo4j import Driver, ManagedTransaction

LIBRARY_RESOURCE = "queries.yaml"
CATEGORIES = ("chains", "exposure", "renewals", "routing", "reputation", "holders", "alerts")

_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
_PARAM_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
# $name in Cypher, outside string literals and comments (the library never puts `$` in those)
CYPHER_PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
# clauses that write: the library is read-only, and `run` also executes in a read transaction
_STRING_LITERAL = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
_WRITE_CLAUSE = re.compile(r"\b(CREATE|MERGE|DELETE|DETACH|SET|REMOVE|DROP|LOAD\s+CSV|FOREACH)\b|\bIN\s+TRANSACTIONS\b", re.IGNORECASE)


class QueryLibraryError(Exception):
    """The library file is unreadable or invalid; the message names the file and the query."""


class ParameterError(ValueError):
    """A parameter value given on the command line is unknown, missing or not of the declared type."""


class ParamType(str, Enum):
    STRING = "string"
    INTEGER = "integer"
    FLOAT = "float"
    BOOLEAN = "boolean"
    DATE = "date"


TODAY = "today"  # a date parameter's default meaning the day the query runs
_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}


def parse_typed(kind: ParamType, raw: str) -> Any:
    """The value of command-line text ``raw`` as a parameter of type ``kind``; ValueError when it is not one."""
    text = raw.strip()
    if kind is ParamType.STRING:
        return raw
    if kind is ParamType.INTEGER:
        return int(text)
    if kind is ParamType.FLOAT:
        return float(text)
    if kind is ParamType.BOOLEAN:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise ValueError(f"{raw!r} is not a boolean (use true or false)")
    return date.fromisoformat(text)


def _check_declared_value(kind: ParamType, value: Any) -> Any:
    """A YAML default/example as a value of ``kind`` (YAML already types dates, numbers, booleans)."""
    if value is None:
        return None
    if kind is ParamType.DATE and value == TODAY:
        return TODAY
    if isinstance(value, str) and kind is not ParamType.STRING:
        return parse_typed(kind, value)
    expected: dict[ParamType, tuple[type[Any], ...]] = {
        ParamType.STRING: (str,),
        ParamType.INTEGER: (int,),
        ParamType.FLOAT: (int, float),
        ParamType.BOOLEAN: (bool,),
        ParamType.DATE: (date,),
    }
    if isinstance(value, bool) and kind is not ParamType.BOOLEAN or not isinstance(value, expected[kind]):
        raise ValueError(f"{value!r} is not a {kind.value}")
    return float(value) if kind is ParamType.FLOAT else value


class QueryParameter(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    type: ParamType
    description: str
    example: Any  # shown in docs and used to fill the Browser deep link
    default: Any = None  # None: the parameter is required; `today` for a date: the run day

    @field_validator("name")
    @classmethod
    def _name_is_identifier(cls, value: str) -> str:
        if not _PARAM_NAME.match(value):
            raise ValueError(f"parameter name {value!r} must be lower_snake_case")
        return value

    @model_validator(mode="after")
    def _values_have_the_declared_type(self) -> QueryParameter:
        object.__setattr__(self, "example", _check_declared_value(self.type, self.example))
        object.__setattr__(self, "default", _check_declared_value(self.type, self.default))
        if self.example is None:
            raise ValueError(f"parameter {self.name!r} needs an example")
        return self

    @property
    def required(self) -> bool:
        return self.default is None

    def default_value(self) -> Any:
        """The default to run with (``today`` resolved to the current date)."""
        return date.today() if self.default == TODAY else self.default


class LibraryQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    title: str  # one line, for lists
    category: str
    description: str
    cypher: str
    parameters: tuple[QueryParameter, ...] = ()
    columns: tuple[str, ...] = Field(default=(), description="the columns the query returns, in order")

    @field_validator("name")
    @classmethod
    def _name_is_kebab_case(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"query name {value!r} must be kebab-case (e.g. block-chain)")
        return value

    @field_validator("category")
    @classmethod
    def _known_category(cls, value: str) -> str:
        if value not in CATEGORIES:
            raise ValueError(f"category {value!r} is not one of {', '.join(CATEGORIES)}")
        return value

    @model_validator(mode="after")
    def _cypher_is_read_only_and_parameters_match(self) -> LibraryQuery:
        for ch in ("&", "#"):
            if ch in self.cypher:
                raise ValueError(f"cypher may not contain {ch!r}: Browser deep links cut the text there")
        if any("$" in literal for literal in _STRING_LITERAL.findall(self.cypher)):
            raise ValueError("cypher may not contain '$' inside a string literal (it would be taken for a parameter)")
        write = _WRITE_CLAUSE.search(self.cypher)
        if write:
            raise ValueError(f"cypher must be read-only, found {write.group(0)!r}")
        used = set(CYPHER_PARAM.findall(self.cypher))
        declared = [p.name for p in self.parameters]
        if len(set(declared)) != len(declared):
            raise ValueError(f"parameter declared twice in {declared}")
        if used - set(declared):
            raise ValueError(f"cypher uses undeclared parameter(s) {sorted(used - set(declared))}")
        if set(declared) - used:
            raise ValueError(f"declared parameter(s) {sorted(set(declared) - used)} are not used in the cypher")
        return self

    def parameter(self, name: str) -> QueryParameter:
        for param in self.parameters:
            if param.name == name:
                return param
        raise ParameterError(f"query {self.name!r} has no parameter {name!r} (it takes: {self.parameter_names() or 'none'})")

    def parameter_names(self) -> str:
        return ", ".join(p.name for p in self.parameters)

    def example_values(self) -> dict[str, Any]:
        return {p.name: p.example for p in self.parameters}


class QueryLibrary(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str
    queries: tuple[LibraryQuery, ...]

    @field_validator("version")
    @classmethod
    def _version_is_semver(cls, value: str) -> str:
        if not re.match(r"^\d+\.\d+\.\d+$", value):
            raise ValueError(f"version {value!r} must be MAJOR.MINOR.PATCH")
        return value

    @model_validator(mode="after")
    def _names_are_unique(self) -> QueryLibrary:
        seen: set[str] = set()
        for query in self.queries:
            if query.name in seen:
                raise ValueError(f"query name {query.name!r} is used twice")
            seen.add(query.name)
        return self

    def get(self, name: str) -> LibraryQuery:
        """The query called ``name``; QueryLibraryError naming close matches when there is none."""
        for query in self.queries:
            if query.name == name:
                return query
        close = [q.name for q in self.queries if name in q.name or q.name in name]
        hint = f"; did you mean {', '.join(close)}?" if close else "; `chainrisk queries list` shows them all"
        raise QueryLibraryError(f"no query named {name!r} in the library{hint}")


# --- loading ------------------------------------------------------------------------------------


def library_text(path: Path | None = None) -> tuple[str, str]:
    """(where, text) of the library: ``path`` when given, else the packaged ``queries.yaml``."""
    if path is not None:
        try:
            return str(path), path.read_text(encoding="utf-8")
        except OSError as exc:
            raise QueryLibraryError(f"{path}: cannot read: {exc.strerror or exc}") from None
    resource = resources.files("chainrisk.graph.browser").joinpath(LIBRARY_RESOURCE)
    return f"chainrisk/graph/browser/{LIBRARY_RESOURCE}", resource.read_text(encoding="utf-8")


def parse_library(text: str, where: str = LIBRARY_RESOURCE) -> QueryLibrary:
    """Validate YAML text as a query library; QueryLibraryError names the file, line and query."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise QueryLibraryError(f"{where}{line}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise QueryLibraryError(f"{where}: expected a mapping with `version` and `queries`")
    try:
        return QueryLibrary.model_validate(data)
    except ValidationError as exc:
        raise QueryLibraryError(f"{where}: {_describe_validation_error(exc, data)}") from None


def _describe_validation_error(exc: ValidationError, data: dict[str, Any]) -> str:
    first = exc.errors()[0]
    loc = first.get("loc", ())
    where = ".".join(str(p) for p in loc)
    if len(loc) >= 2 and loc[0] == "queries" and isinstance(loc[1], int):
        queries = data.get("queries") or []
        if loc[1] < len(queries) and isinstance(queries[loc[1]], dict):
            rest = ".".join(str(p) for p in loc[2:])
            where = f"query {queries[loc[1]].get('name', str(loc[1]))!r}" + (f" {rest}" if rest else "")
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where}: {first.get('msg')}{more}"


def load_library(path: Path | None = None) -> QueryLibrary:
    """The query library (the packaged one unless ``path`` names another file)."""
    where, text = library_text(path)
    return parse_library(text, where)


# --- parameters ---------------------------------------------------------------------------------


def bind_parameters(query: LibraryQuery, given: dict[str, str]) -> dict[str, Any]:
    """Typed parameter values for ``query`` from command-line text: defaults filled, unknown or
    missing names and mistyped values raise ParameterError saying which and why."""
    values: dict[str, Any] = {}
    for name, raw in given.items():
        param = query.parameter(name)
        try:
            values[name] = parse_typed(param.type, raw)
        except ValueError as exc:
            raise ParameterError(f"--param {name}={raw}: expected {param.type.value} ({exc})") from None
    for param in query.parameters:
        if param.name not in values:
            if param.required:
                raise ParameterError(
                    f"query {query.name!r} needs --param {param.name}=<{param.type.value}> (e.g. {param.name}={_plain(param.example)})"
                )
            values[param.name] = param.default_value()
    return values


def parse_param_options(options: Iterable[str]) -> dict[str, str]:
    """``["k=v", ...]`` as a dict; ParameterError for an item without ``=``."""
    parsed: dict[str, str] = {}
    for item in options:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ParameterError(f"--param {item!r}: write it as name=value")
        parsed[name.strip()] = value
    return parsed


def _plain(value: Any) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


# --- running ------------------------------------------------------------------------------------


def run_query(driver: Driver, database: str, query: LibraryQuery, values: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """(column names, rows as plain values) of ``query`` run with parameters ``values`` in a
    read transaction (so even a doctored library file cannot write)."""

    def work(tx: ManagedTransaction) -> tuple[list[str], list[list[Any]]]:
        result = tx.run(query.cypher, values)
        keys = list(result.keys())
        return keys, [[plain_value(v) for v in record.values()] for record in result]

    # notifications (e.g. "property key does not exist" before analysis ran) would flood stderr
    with driver.session(database=database, notifications_min_severity="OFF") as session:
        return session.execute_read(work)


def plain_value(value: Any) -> Any:
    """A JSON-ready form of a Neo4j result value: nodes become ``{"_labels": [...], props...}``,
    relationships ``{"_type": T, props...}``, paths ``{"_path": [node, rel, node, ...]}``,
    temporal values ISO strings; lists and maps recursively."""
    from neo4j.graph import Node, Relationship
    from neo4j.graph import Path as GraphPath

    if isinstance(value, Node):
        return {"_labels": sorted(value.labels), **{k: plain_value(v) for k, v in sorted(value.items())}}
    if isinstance(value, Relationship):
        return {"_type": value.type, **{k: plain_value(v) for k, v in sorted(value.items())}}
    if isinstance(value, GraphPath):
        items: list[Any] = [plain_value(value.start_node)]
        for rel in value.relationships:
            items.append(plain_value(rel))
            items.append(plain_value(rel.end_node))
        return {"_path": items}
    if isinstance(value, (list, tuple)):
        return [plain_value(v) for v in value]
    if isinstance(value, dict):
        return {k: plain_value(v) for k, v in value.items()}
    if hasattr(value, "to_native") and not isinstance(value, date):  # neo4j.time Date/DateTime/Time
        return value.to_native().isoformat()
    if hasattr(value, "iso_format"):  # neo4j.time Duration
        return value.iso_format()
    if isinstance(value, date):
        return value.isoformat()
    return value

