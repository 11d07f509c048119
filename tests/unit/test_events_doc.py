"""The examples in docs/events.md are real: each decodes, has the id its content implies, and goes
to the topic the heading names."""
from __future__ import annotations

import json
import re
from pathlib import Path

from chainrisk.ingest.events import EVENT_TYPES, TOPIC_OF_TYPE, decode_event

DOC = Path(__file__).resolve().parents[2] / "docs" / "events.md"


def _examples() -> list[tuple[str, str, dict]]:
    text = DOC.read_text()
    pattern = re.compile(r"### `(\w+)`  \(topic `chainrisk\.(\w+)`, key `([^`]+)`\)\n```json\n(.*?)\n```", re.S)
    return [(m.group(1), m.group(2), m.group(3), json.loads(m.group(4))) for m in pattern.finditer(text)]


def test_every_event_type_has_one_valid_example():
    examples = _examples()
    assert sorted(t for t, *_ in examples) == sorted(EVENT_TYPES)
    for type_, topic, key, body in examples:
        event = decode_event(json.dumps(body))
        assert event.type == type_
        assert TOPIC_OF_TYPE[type_] == topic
        assert event.block == key
        assert event.with_id().event_id == body["event_id"], f"{type_}: example id is not the deterministic id"
