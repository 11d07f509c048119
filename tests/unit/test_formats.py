"""The one formatter of report and query results (``chainrisk.common.formats``): JSON keeps
non-ASCII as is, CSV/table cells join lists and paths the same way for reports and query rows."""
from __future__ import annotations

import csv
import io
import json
from datetime import date

from chainrisk.common.formats import cell_text, rows_as_objects, to_csv, to_json

NODE = {"_labels": ["Holder", "Party"], "name": "Acme, Inc.", "key": "acme"}
BLOCK = {"_labels": ["Block"], "prefix": "192.0.2.0/24"}
REL = {"_type": "LEASES", "block": "192.0.2.0/24"}
PATH = {"_path": [NODE, REL, BLOCK]}


def test_json_is_pretty_utf8_with_a_trailing_newline() -> None:
    text = to_json([{"lessee": "Müller Netz GmbH", "until": date(2027, 1, 31), "chains": [["A", "B"]]}])
    assert text.endswith("}\n]\n")
    assert "Müller" in text and "\\u00fc" not in text
    assert '"until": "2027-01-31"' in text
    assert json.loads(text) == [{"lessee": "Müller Netz GmbH", "until": "2027-01-31", "chains": [["A", "B"]]}]
    assert to_json({"a": 1}) == '{\n  "a": 1\n}\n'


def test_scalar_cells() -> None:
    assert cell_text(None) == ""
    assert (cell_text(True), cell_text(False)) == ("true", "false")
    assert (cell_text(3), cell_text(2.5), cell_text(date(2026, 11, 1))) == ("3", "2.5", "2026-11-01")
    assert cell_text("Zürich") == "Zürich"


def test_lists_are_joined_with_semicolons_and_paths_with_arrows() -> None:
    assert cell_text(["a", "b"]) == "a; b"
    assert cell_text(("a",)) == "a"
    assert cell_text([]) == ""
    assert cell_text([1, None, True]) == "1; ; true"
    # a report's chains: paths as lists of names
    assert cell_text([["H", "U", "L"], ["H", "L"]]) == "H -> U -> L | H -> L"
    # a query result's path: node captions joined by arrows, several paths like the report's
    assert cell_text(PATH) == "Acme, Inc. -> 192.0.2.0/24"
    assert cell_text([PATH, {"_path": [BLOCK]}]) == "Acme, Inc. -> 192.0.2.0/24 | 192.0.2.0/24"
    # a list of names and a list of nodes read the same
    assert cell_text([NODE, BLOCK]) == cell_text(["Acme, Inc.", "192.0.2.0/24"]) == "Acme, Inc.; 192.0.2.0/24"


def test_query_result_nodes_relationships_and_maps() -> None:
    assert cell_text(NODE) == "Acme, Inc."
    assert cell_text({"_labels": ["Party"], "name": "", "key": "k"}) == "k"
    assert cell_text({"_labels": ["Meta", "X"]}) == ":Meta:X"
    assert cell_text(REL) == ":LEASES"
    assert cell_text({"b": "Ærø", "a": 1}) == '{"a": 1, "b": "Ærø"}'


def test_csv_quotes_cells_and_leaves_missing_fields_empty() -> None:
    text = to_csv([{"block": "192.0.2.0/24", "spofs": ["A, Inc.", "B"]}, {"block": "198.51.100.0/24"}], ("block", "spofs"))
    assert text == 'block,spofs\n192.0.2.0/24,"A, Inc.; B"\n198.51.100.0/24,\n'
    assert list(csv.reader(io.StringIO(text)))[1] == ["192.0.2.0/24", "A, Inc.; B"]


def test_query_rows_go_through_the_same_writers() -> None:
    objects = rows_as_objects(["holder", "path", "blocks"], [[NODE, PATH, ["x", "y"]]])
    assert objects == [{"holder": NODE, "path": PATH, "blocks": ["x", "y"]}]
    assert to_csv(objects, ["holder", "path", "blocks"]) == 'holder,path,blocks\n"Acme, Inc.","Acme, Inc. -> 192.0.2.0/24",x; y\n'
