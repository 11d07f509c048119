"""The CSV files ``neo4j-admin database import`` reads, made from a graph folded by the embedded store.

The bulk load (graph/bulk.py) applies the whole log to an in-memory :class:`NxStore` - the same
decisions, containment, role labels, holder history and snapshot sweeps as streaming - and this
module writes that graph as Neo4j would hold it after streaming the same records: one node file
per label (``:ID`` a number of one global space, ``:LABEL`` the node's labels, a typed column per
property), one relationship file per type, plus the consumer's machinery a streamed graph holds
(``ConsumerOffset`` per partition, ``SnapshotProgress`` per snapshot, the ``Meta`` block-lock nodes
listing each /8's prefix lengths) so streaming continues on the imported graph as on a streamed one.

Property types follow the Python values, as the Neo4j store sends them: ``str`` string, ``int``
long, ``float`` double, ``bool`` boolean, ``datetime`` datetime, ``date`` date, lists as arrays of
their elements' type. Absent values (None, empty lists) are empty cells: Neo4j stores no property.
A property with values of two types in one label is refused (Neo4j's CSV header types a column).
"""
from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import islice
from pathlib import Path
from typing import Any

from chainrisk.graph.stores.preparation import octets
from chainrisk.graph.stores.protocol import TopicPartition

# between array elements: a character no property value holds (passed to neo4j-admin as U+001F)
ARRAY_DELIMITER = "\x1f"
ARRAY_DELIMITER_ARG = "U+001F"
BLOCK_LOCK_PREFIX = "blocks/"  # the Meta nodes the Neo4j store locks per /8 (cypher.LOCK_BLOCK_OCTETS)


class ImportDataError(ValueError):
    """The folded graph has a value the CSV import cannot type the way Neo4j streaming stores it."""


_KINDS: dict[type, str] = {bool: "boolean", int: "long", float: "double", str: "string", datetime: "datetime", date: "date"}


def _scalar_kind(value: Any) -> str:
    kind = _KINDS.get(type(value))
    if kind is not None:
        return kind
    # a subclass (a str enum, whose str() is not its value) is never stored: fact_props makes plain values
    raise ImportDataError(f"no Neo4j property type for {type(value).__name__} value {value!r}")


def value_kind(value: Any) -> str | None:
    """The neo4j-admin header type of a property value (None: absent, no property)."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        if not value:
            return None
        kinds = {_scalar_kind(v) for v in value}
        if len(kinds) != 1:
            raise ImportDataError(f"an array property of mixed types {sorted(kinds)}: {value!r}")
        return f"{kinds.pop()}[]"
    return _scalar_kind(value)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value)


def cell(value: Any) -> str:
    """A property value as its CSV cell (arrays joined by :data:`ARRAY_DELIMITER`)."""
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ARRAY_DELIMITER.join(_text(v) for v in value)
    return _text(value)


def _iso(value: Any) -> Any:
    return None if value is None else value.isoformat()


# header type -> what turns a value of that type into its cell; None: the csv module's own str()
# (None becomes an empty cell)
_CONVERTERS: dict[str, Any] = {"string": None, "long": None, "double": None, "datetime": _iso, "date": _iso}


def _converter(kind: str) -> Any:
    return _CONVERTERS.get(kind, cell)


@dataclass
class ImportFiles:
    """What was written: ``nodes`` / ``relationships`` as (label or type, file), with the counts."""

    folder: Path
    nodes: list[tuple[str, Path]] = field(default_factory=list)
    relationships: list[tuple[str, Path]] = field(default_factory=list)
    node_count: int = 0
    relationship_count: int = 0
    counts: dict[str, int] = field(default_factory=dict)  # label or type -> rows written


def _columns(name: str, rows: Iterable[dict[str, Any]], skip: str = "") -> dict[str, str]:
    """Property -> header type over ``rows`` (properties of one label or type; ``skip``: a key that
    is no property), in name order."""
    kinds: dict[str, str] = {}
    for props in rows:
        for prop, value in props.items():
            if prop == skip:
                continue
            kind = value_kind(value)
            if kind is None:
                continue
            seen = kinds.setdefault(prop, kind)
            if seen != kind:
                raise ImportDataError(f"{name}.{prop} holds values of two types ({seen} and {kind}): cannot be one CSV column")
    return dict(sorted(kinds.items()))


def _write(path: Path, header: list[str], rows: Iterator[list[Any]]) -> int:
    count = 0
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        for chunk in iter(lambda: list(islice(rows, 10_000)), []):
            writer.writerows(chunk)
            count += len(chunk)
    return count


def machinery_nodes(group: str, offsets: dict[TopicPartition, int], progress: dict[str, dict[str, Any]],
                    block_prefixes: Iterable[tuple[int, int, int]]) -> dict[str, list[dict[str, Any]]]:
    """Label -> properties of the consumer's bookkeeping nodes a streamed Neo4j graph holds for
    ``group``: its offsets, its snapshot progress, and the block-lock node of every /8 a block
    overlaps with the prefix lengths overlapping it (``block_prefixes``: (first, last, length))."""
    lengths: dict[int, set[int]] = {}
    for first, last, length in block_prefixes:
        for octet in octets(first, last):
            lengths.setdefault(octet, set()).add(length)
    return {
        "ConsumerOffset": [{"group": group, "topic": topic, "partition": partition, "next_offset": n}
                           for (topic, partition), n in sorted(offsets.items())],
        "SnapshotProgress": [{"group": group, "snapshot_id": sid, **{k: v for k, v in counts.items() if k != "done"},
                              "done": bool(counts.get("done", False))} for sid, counts in sorted(progress.items())],
        "Meta": [{"name": f"{BLOCK_LOCK_PREFIX}{octet}", "prefix_lengths": sorted(found)} for octet, found in sorted(lengths.items())],
    }


def write_import_files(graph: Any, folder: Path, extra_nodes: dict[str, list[dict[str, Any]]]) -> ImportFiles:
    """Write ``graph`` (an :class:`NxStore`, read through its ``node_items``, ``node_data`` and
    ``edge_items``: nodes ``(label, identity)`` with their properties and ``labels``, edges with
    ``type`` and properties) and the ``extra_nodes`` (label -> properties; nodes nothing links to) as
    neo4j-admin CSV files in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    out = ImportFiles(folder)
    by_label: dict[str, list[Any]] = {}
    for node, _ in graph.node_items():
        by_label.setdefault(node[0], []).append(node)
    ids: dict[Any, int] = {}
    for label in sorted(by_label):
        nodes = by_label[label]
        for node in nodes:
            ids[node] = len(ids)
        columns = _columns(label, (graph.node_data(n) for n in nodes), skip="labels")
        header = [":ID", ":LABEL", *(f"{name}:{kind}" for name, kind in columns.items())]

        def node_rows(nodes: list[Any] = nodes, columns: dict[str, str] = columns) -> Iterator[list[Any]]:
            convert = [(name, _converter(kind)) for name, kind in columns.items()]
            for node in nodes:
                data = graph.node_data(node)
                get = data.get
                yield [ids[node], ARRAY_DELIMITER.join(data["labels"]),
                       *[get(name) if conv is None else conv(get(name)) for name, conv in convert]]

        path = folder / f"nodes-{label}.csv"
        out.counts[label] = _write(path, header, node_rows())
        out.nodes.append((label, path))
    for label, rows in sorted(extra_nodes.items()):
        if not rows:
            continue
        if label in by_label:
            raise ImportDataError(f"{label} nodes both in the graph and among the bookkeeping nodes")
        columns = _columns(label, rows)
        header = [":ID", ":LABEL", *(f"{name}:{kind}" for name, kind in columns.items())]
        start = len(ids) + out.node_count

        def extra_rows(rows: list[dict[str, Any]] = rows, columns: dict[str, str] = columns, start: int = start,
                       label: str = label) -> Iterator[list[Any]]:
            for i, props in enumerate(rows):
                yield [start + i, label, *(cell(props.get(name)) for name in columns)]

        path = folder / f"nodes-{label}.csv"
        out.counts[label] = _write(path, header, extra_rows())
        out.node_count += out.counts[label]
        out.nodes.append((label, path))
    out.node_count += len(ids)
    by_type: dict[str, list[tuple[Any, Any, dict[str, Any]]]] = {}
    for u, v, data in graph.edge_items():
        by_type.setdefault(data["type"], []).append((u, v, data))
    for rel_type in sorted(by_type):
        edges = by_type[rel_type]
        columns = _columns(rel_type, (data for _, _, data in edges), skip="type")
        header = [":START_ID", ":END_ID", ":TYPE", *(f"{name}:{kind}" for name, kind in columns.items())]

        def rel_rows(edges: list[tuple[Any, Any, dict[str, Any]]] = edges, columns: dict[str, str] = columns,
                     rel_type: str = rel_type) -> Iterator[list[Any]]:
            convert = [(name, _converter(kind)) for name, kind in columns.items()]
            for u, v, data in edges:
                get = data.get
                yield [ids[u], ids[v], rel_type, *[get(name) if conv is None else conv(get(name)) for name, conv in convert]]

        path = folder / f"relationships-{rel_type}.csv"
        out.counts[rel_type] = _write(path, header, rel_rows())
        out.relationship_count += out.counts[rel_type]
        out.relationships.append((rel_type, path))
    return out
