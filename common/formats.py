"""Results as text: the one formatter behind ``--format json|csv`` of ``chainrisk report`` and
``chainrisk queries run``, and the cells of the HTML report.

* JSON: pretty (indent 2), non-ASCII written as is (UTF-8, not ``\\uXXXX``), values JSON does not
  know (dates) as their text, a trailing newline.
* CSV and table cells (:func:`cell_text`): None empty, booleans ``true``/``false``, lists joined with
  ``"; "`` (names may contain commas: "Acme, Inc."), a path's names joined with ``" -> "`` and
  several paths with ``" | "``. A path is a list of names (the report's ``chains``) or a query
  result's ``{"_path": [node, rel, node, ...]}``; a query result's node is shown by its caption
  (name, prefix, ...), a relationship by its type, any other map as compact JSON.
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from typing import Any

LIST_SEPARATOR = "; "
PATH_ARROW = " -> "
PATH_SEPARATOR = " | "
# the properties that name a node, in the order a caption is chosen from
CAPTION_KEYS = ("name", "prefix", "asn", "handle", "alert_id", "id", "key", "fact_key")


def to_json(objects: Iterable[dict[str, Any]] | dict[str, Any]) -> str:
    """Pretty JSON (a list of objects, or one object), with a trailing newline."""
    data = objects if isinstance(objects, dict) else list(objects)
    return json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"


def _is_path(value: Any) -> bool:
    return isinstance(value, (list, tuple)) or (isinstance(value, dict) and "_path" in value)


def path_text(path: Sequence[Any] | dict[str, Any]) -> str:
    """A path's names joined by arrows: a list of names, or a query result path (its nodes' captions)."""
    items = path["_path"][::2] if isinstance(path, dict) else path
    return PATH_ARROW.join(cell_text(v) for v in items)


def caption(node: dict[str, Any]) -> str:
    """What names a query result node: its first non-empty :data:`CAPTION_KEYS` property, else its labels."""
    for key in CAPTION_KEYS:
        if node.get(key) not in (None, ""):
            return str(node[key])
    return ":" + ":".join(node["_labels"])


def cell_text(value: Any) -> str:
    """One value as a CSV or table cell (see the module doc)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        if "_path" in value:
            return path_text(value)
        if "_labels" in value:
            return caption(value)
        if "_type" in value:
            return f":{value['_type']}"
        return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    if isinstance(value, (list, tuple)):
        if value and all(_is_path(v) for v in value):
            return PATH_SEPARATOR.join(path_text(v) for v in value)
        return LIST_SEPARATOR.join(cell_text(v) for v in value)
    return str(value)


def to_csv(objects: Iterable[dict[str, Any]], fields: Sequence[str]) -> str:
    """CSV text with a header row of ``fields`` and one row per object (a missing field empty)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(fields)
    for obj in objects:
        writer.writerow([cell_text(obj.get(f)) for f in fields])
    return out.getvalue()


def rows_as_objects(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[dict[str, Any]]:
    """Result rows (values in ``columns`` order) as objects keyed by column name."""
    return [dict(zip(columns, row)) for row in rows]
