"""An alert as an alerts-topic record (graph/alerts/delivery.py topic_message): whole when it fits,
else its affected blocks cut to what fits, with how many there are."""
from __future__ import annotations

import json
from typing import Any

from chainrisk.graph.alerts.delivery import TOPIC_MESSAGE_LIMIT, topic_message


def alert(blocks: int) -> dict[str, Any]:
    affected = [{"block": f"10.{i // 256}.{i % 256}.0/24", "status": "open", "before": "Valid", "after": "NotFound",
                 "lessees": [f"Lessee {i}"], "event_ids": [f"{i:032x}"]} for i in range(blocks)]
    return {"id": "a1", "type": "rov_left_valid", "block": "10.0.0.0/8", "status": "open", "affected": affected}


def test_an_alert_that_fits_is_its_whole_json() -> None:
    small = alert(3)
    assert json.loads(topic_message(small)) == small


def test_a_whole_snapshot_alert_keeps_what_fits_and_says_how_many_blocks_it_has() -> None:
    big = alert(20_000)
    assert len(json.dumps(big)) > 2 * TOPIC_MESSAGE_LIMIT
    record = topic_message(big)
    assert len(record) <= TOPIC_MESSAGE_LIMIT
    sent = json.loads(record)
    assert sent["affected_total"] == 20_000 and sent["affected_truncated"] is True
    assert 0 < len(sent["affected"]) < 20_000 and sent["affected"] == big["affected"][:len(sent["affected"])]
    assert {k: v for k, v in sent.items() if not k.startswith("affected")} == {k: v for k, v in big.items() if k != "affected"}
