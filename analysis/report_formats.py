"""Results as JSON and CSV text (the ``--format json|csv`` of ``chainrisk report``).

JSON field names are fixed by issue #5 (``BLOCK_FIELDS``, ``EXPOSURE_FIELDS``); CSV has the same
columns, with list values flattened by :func:`csv_cell` and missing values empty.
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from typing import Any


def to_json(objects: Iterable[dict[str, Any]] | dict[str, Any]) -> str:
    """Pretty JSON (a list of objects, or one object), with a trailing newline."""
    data = objects if isinstance(objects, dict) else list(objects)
    return json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"


def csv_cell(value: Any) -> str:
    """One CSV cell: lists joined with ``"; "`` (a list of paths: each path's names joined with
    ``" -> "``, paths with ``" | "``), None empty, booleans as true/false."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        if value and all(isinstance(v, (list, tuple)) for v in value):
            return " | ".join(" -> ".join(csv_cell(x) for x in v) for v in value)
        return "; ".join(csv_cell(v) for v in value)
    return str(value)


def to_csv(objects: Iterable[dict[str, Any]], fields: Sequence[str]) -> str:
    """CSV text with a header row of ``fields``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(fields)
    for obj in objects:
        writer.writerow([csv_cell(obj.get(f)) for f in fields])
    return out.getvalue()
