"""The embedded transport end to end: the on-disk event log, `chainrisk consume` over it, dead
letters for poison lines, and replays."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from graph_events import mixed_events

import chainrisk.graph.eventlog.embedded as eventlog
from chainrisk.graph.backend import open_sink
from chainrisk.graph.config import load_settings
from chainrisk.graph.consumer import ConsumerOptions, consume
from chainrisk.graph.eventlog.embedded import EventLog, EventLogSink
from chainrisk.graph.stores.nx_store import NxStore


def test_log_segments_offsets_and_a_torn_last_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(eventlog, "SEGMENT_RECORDS", 4)
    log = EventLog(tmp_path)
    assert log.append("t", [b'{"i":%d}' % i for i in range(6)]) == 0
    assert log.append("t", [b'{"i":%d}' % i for i in range(6, 9)]) == 6
    assert sorted(p.name for p in (tmp_path / "t").glob("*.jsonl")) == [
        "00000000000000000000.jsonl", "00000000000000000004.jsonl", "00000000000000000008.jsonl"]
    with open(tmp_path / "t" / "00000000000000000008.jsonl", "ab") as fh:
        fh.write(b'{"i":9')  # a writer killed mid-line
    assert log.end_offset("t") == 9
    assert [r.offset for r in log.read("t", 3, 4)] == [3, 4, 5, 6]
    assert [json.loads(r.value)["i"] for r in EventLog(tmp_path).read("t", 7, 10)] == [7, 8]
    assert log.append("t", [b'{"i":9}']) == 9  # the torn line is cut off, not counted
    assert [json.loads(r.value)["i"] for r in log.iter_all("t")] == list(range(10))


def test_sink_puts_each_type_on_its_topic(tmp_path: Path) -> None:
    events = mixed_events(2)
    with EventLogSink(EventLog(tmp_path), buffer_records=7) as sink:
        for event in events:
            sink.publish(event)
    log = EventLog(tmp_path)
    counts = {t: log.end_offset(t) for t in log.topics()}
    assert sum(counts.values()) == len(events)
    assert counts["routing"] == sum(1 for e in events if e.type in ("vrp", "route_origin", "route_object"))


def publish(state: Path, events: list) -> None:
    sink = open_sink(load_settings(state_dir=state))
    for event in events:
        sink.publish(event)
    sink.close()


POISON = [
    (b"not json at all", "not JSON"),
    (b'{"schema_version": 2, "type": "lease_hop"}', "unknown schema_version 2"),
    (b'{"schema_version": 1, "type": "lease_hop", "block": "198.51.100.7/24"}', "invalid event: lease_hop.block"),
]


def test_poison_lines_go_to_the_dead_letter_topic_and_the_rest_is_applied(tmp_path: Path, run_cli) -> None:
    state = tmp_path / "state"
    events = mixed_events(5)
    publish(state, events[:30])
    first_poison = EventLog(state / "log").append("relationships", [raw for raw, _ in POISON])
    publish(state, events[30:])

    # compared with the bare store below; alerts and the continuous analysis are tested on their own
    no_alerts = {"CHAINRISK_ALERTS": "false", "CHAINRISK_CONTINUOUS_ANALYSIS": "false"}
    done = run_cli("consume", "--until-idle", "--state-dir", str(state), "--batch-size", "16", env=no_alerts)
    assert done.returncode == 0, done.stderr
    assert "dead-lettered 3" in done.stdout
    assert f"dead-letter relationships[0]@{first_poison}: not JSON" in done.stderr

    dead = [json.loads(r.value) for r in EventLog(state / "log").iter_all("dlq")]
    assert [(d["topic"], d["partition"], d["offset"]) for d in dead] == [("relationships", 0, first_poison + i) for i in range(3)]
    for record, (raw, reason) in zip(dead, POISON):
        assert record["reason"].startswith(reason)
        assert record["value"].encode() == raw
    expected = NxStore(tmp_path / "direct")
    expected.apply_batch(events, {}, "g")
    assert NxStore(state).canonical_dump() == expected.canonical_dump()

    again = run_cli("consume", "--until-idle", "--state-dir", str(state), env=no_alerts)
    assert again.returncode == 0 and "consumed 0 records" in again.stdout


def test_replay_from_offset_zero_rebuilds_the_identical_graph(tmp_path: Path) -> None:
    state = tmp_path / "state"
    publish(state, mixed_events(6) + mixed_events(7))
    settings = load_settings(state_dir=state, alerts=False)
    first = consume(settings, options=ConsumerOptions(group="g", batch_size=9, until_idle=True))
    dump = NxStore(state).canonical_dump()
    shutil.rmtree(state / "graph")
    replay = consume(settings, options=ConsumerOptions(group="g", batch_size=50, until_idle=True))
    assert replay.records == first.records
    assert NxStore(state).canonical_dump() == dump
    # and a second group over the same graph only finds duplicates and stale versions
    other = consume(settings, options=ConsumerOptions(group="other", batch_size=50, until_idle=True))
    assert other.applied == other.retracted == 0 and other.records == first.records
    assert NxStore(state).canonical_dump() == dump


def test_every_kind_of_poison_is_a_dead_letter_with_its_place(tmp_path: Path) -> None:
    from chainrisk.graph.consumer import decode_batch
    from chainrisk.graph.eventlog.sources import RawRecord, dead_letter_json

    good = mixed_events(8)[0]
    records = [
        RawRecord("relationships", 2, 40, b"k", None),
        RawRecord("relationships", 2, 41, None, b"[" * 100_000),  # json recursion limit
        RawRecord("relationships", 2, 42, None, b'"a string"'),
        RawRecord("relationships", 2, 43, None, b"\xff\xfe\x00"),
        RawRecord("routing", 0, 7, None, good.to_json()),
    ]
    batch = decode_batch(records)
    assert batch.events == [good]
    assert [r.offset for r, _ in batch.dead] == [40, 41, 42, 43]
    assert [reason.split(":")[0] for _, reason in batch.dead] == ["empty message", "undecodable", "not a JSON object", "not JSON"]
    assert batch.start_offsets == {("relationships", 2): 40, ("routing", 0): 7}
    assert batch.next_offsets == {("relationships", 2): 44, ("routing", 0): 8}
    binary = json.loads(dead_letter_json(records[3], "not JSON", "g"))
    assert (binary["value_encoding"], binary["value"], binary["partition"], binary["offset"]) == ("base64", "//4A", 2, 43)


def test_several_consumer_processes_need_the_services_backend(tmp_path: Path, run_cli) -> None:
    done = run_cli("consume", "--processes", "2", "--backend", "embedded", "--state-dir", str(tmp_path / "s"))
    assert done.returncode == 1
    assert "--processes needs the services backend" in done.stderr and "Traceback" not in done.stderr
