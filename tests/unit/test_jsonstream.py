"""The streaming JSON reader: same elements and line numbers whatever the chunking and layout."""
from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainrisk.ingest.jsonstream import BadElement, JsonLayoutError, JsonObjectStream


def _chunks(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _read(text: str, size: int) -> dict[str, Any]:
    """Every top-level member: arrays as lists of (line, element) / BadElement, other values as is."""
    stream = JsonObjectStream(_chunks(text, size))
    out: dict[str, Any] = {}
    for key in stream.members():
        out[key] = list(stream.elements()) if stream.peek() == "[" else stream.value()
    return out


ROAS = [{"asn": 13335, "prefix": "1.0.0.0/24", "maxLength": 24, "ta": "apnic", "expires": 1753453058},
        {"asn": 38803, "prefix": "1.0.4.0/22", "maxLength": 22, "ta": "apnic", "expires": 1753460726}]
PRETTY = '{\n\t"metadata": {\n\t\t"buildtime": "2025-07-20T09:31:33Z"\n\t},\n\t"roas": [\n' + \
         ",\n".join("\t\t" + json.dumps(r) for r in ROAS) + '\n\t],\n\t"aspas": [\n\t]\n}\n'


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 1 << 16])
def test_elements_and_lines_do_not_depend_on_chunking(size: int) -> None:
    assert _read(PRETTY, size) == {"metadata": {"buildtime": "2025-07-20T09:31:33Z"}, "roas": [(6, ROAS[0]), (7, ROAS[1])], "aspas": []}


def test_bad_element_costs_its_line_only() -> None:
    text = '{"roas": [\n{"asn": 1},\n{"asn": 2 oops},\n{"asn": 3}\n]}'
    (roas,) = _read(text, 5).values()
    assert roas == [(2, {"asn": 1}), BadElement(3, "invalid JSON: Expecting ',' delimiter", '{"asn": 2 oops},'), (4, {"asn": 3})]


def test_missing_comma_between_elements() -> None:
    (roas,) = _read('{"roas": [\n{"asn": 1}\n{"asn": 2}\n]}', 4).values()
    assert roas[0] == (2, {"asn": 1})
    assert roas[1] == BadElement(3, "invalid JSON: expected ',' or ']' after an element, found '{'", '{"asn": 2}')


def test_truncated_array_is_a_layout_error() -> None:
    with pytest.raises(JsonLayoutError, match="line 3: the file ends inside an array"):
        _read('{"roas": [\n{"asn": 1},\n', 3)


def test_number_split_across_chunks_is_read_whole() -> None:
    assert _read('{"n": 1234567890123}', 4) == {"n": 1234567890123}


@settings(max_examples=100, deadline=None)
@given(
    elements=st.lists(st.dictionaries(st.text(max_size=5), st.one_of(st.integers(), st.text(max_size=10), st.none()), max_size=4), max_size=6),
    indent=st.sampled_from([None, 0, 1, "\t"]),
    size=st.integers(1, 40),
)
def test_any_layout_and_chunking_reads_the_same_elements(elements: list[dict[str, Any]], indent: Any, size: int) -> None:
    text = json.dumps({"meta": {"x": 1}, "roas": elements, "tail": [1, 2]}, indent=indent)
    read = _read(text, size)
    assert [e for _, e in read["roas"]] == elements
    assert read["meta"] == {"x": 1}
    # each element's line is the line its opening brace is on
    lines = text.split("\n")
    for line, _element in read["roas"]:
        assert lines[line - 1].lstrip().startswith("{")


def _outcome(text: str, size: int) -> Any:
    """What reading ``text`` in chunks of ``size`` gives: the members, or the ValueError's text."""
    try:
        return _read(text, size)
    except ValueError as exc:  # JsonLayoutError, or value() on a broken non-array value: both documented
        return f"{type(exc).__name__}: {exc}"


@settings(max_examples=150, deadline=None)
@given(text=st.text(alphabet='{}[]",:\n 0123456789aeflnrstu\\', max_size=120), size=st.integers(1, 20))
def test_any_text_ends_in_values_bad_elements_or_a_value_error_whatever_the_chunking(text: str, size: int) -> None:
    outcome = _outcome(text, size)
    assert outcome == _outcome(text, len(text) + 1)  # the same as reading the text in one piece
    last_line = text.count("\n") + 1
    if isinstance(outcome, str):
        if outcome.startswith("JsonLayoutError"):
            assert 1 <= int(outcome.split("line ", 1)[1].split(":", 1)[0]) <= last_line
        return
    for value in outcome.values():
        for element in value if isinstance(value, list) else []:
            line = element.line if isinstance(element, BadElement) else element[0]
            assert 1 <= line <= last_line, (element, text)
    try:
        whole = json.loads(text)
    except ValueError:
        return
    if isinstance(whole, dict):  # valid JSON: what the standard library reads, element by element
        assert {k: [e for _, e in v] if isinstance(v, list) else v for k, v in outcome.items()} == whole
