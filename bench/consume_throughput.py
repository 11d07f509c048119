"""End-to-end consumer throughput into Neo4j: lease-hop events from a seeded synthetic register are
published to fresh Kafka topics, Neo4j is emptied, and ``chainrisk consume --until-idle`` (the same
loop, in process) reads, decodes and applies them. Prints events/s and batch latency.

    python bench/consume_throughput.py --blocks 40000 --batch-size 2000   # ~96k events
    python bench/consume_throughput.py --blocks 40000 --batch-size 5000

Needs `chainrisk services up`. EVERY RUN DELETES EVERYTHING IN THE NEO4J DATABASE.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from graph_events import synthetic_lease_events  # noqa: E402

from chainrisk.graph.config import load_settings  # noqa: E402
from chainrisk.graph.consumer import ConsumerOptions, consume  # noqa: E402
from chainrisk.graph.eventlog.kafka_io import KafkaSink, topic_names  # noqa: E402
from chainrisk.graph.stores.neo4j_store import NeoStore  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--blocks", type=int, default=40_000, help="synthetic blocks (~2.4 lease hops each)")
    parser.add_argument("--batch-size", type=int, default=2000)
    parser.add_argument("--state-dir", default=".chainrisk")
    args = parser.parse_args()

    prefix = f"bench-consume-{uuid.uuid4().hex[:8]}"
    settings = load_settings(state_dir=args.state_dir, backend="services", topic_prefix=prefix, consumer_group=prefix,
                             alerts=False)
    events = synthetic_lease_events(args.blocks)
    started = time.monotonic()
    sink = KafkaSink(settings, quiet=True)
    for event in events:
        sink.publish(event)
    sink.close()
    print(f"published {len(events)} events in {time.monotonic() - started:.1f} s")

    store = NeoStore(settings)
    store.ensure_schema()
    store.wipe()
    store.close()
    stats = consume(settings, options=ConsumerOptions(group=prefix, batch_size=args.batch_size, until_idle=True,
                                                      metrics_interval_s=10))
    lat = sorted(stats.batch_seconds)
    busy = sum(lat)
    print(f"consumed {stats.records} events in {stats.seconds:.1f} s: {stats.records / stats.seconds:.0f} events/s end to end "
          f"(incl. Kafka group join and the idle check); {stats.records / busy:.0f} events/s inside apply_batch; "
          f"batch {args.batch_size}: latency median {1000 * statistics.median(lat):.0f} ms, "
          f"p95 {1000 * lat[int(0.95 * (len(lat) - 1))]:.0f} ms, max {1000 * lat[-1]:.0f} ms")

    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(**settings.kafka_client_config())
    existing = set(admin.list_topics())
    admin.delete_topics([t for t in topic_names(settings) if t in existing])
    admin.close()


if __name__ == "__main__":
    main()
