"""Round trips against the real Kafka and Neo4j started by `chainrisk services up` (no fakes)."""
from __future__ import annotations

import time
import urllib.request
import uuid

import pytest

from chainrisk.graph.config import Settings

pytestmark = pytest.mark.services


def test_kafka_round_trip_commits_the_group_offset(kafka_config: dict[str, object]) -> None:
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import NewTopic

    topic = f"chainrisk.test.{uuid.uuid4().hex[:12]}"
    group = f"chainrisk-test-{uuid.uuid4().hex[:12]}"
    partition = TopicPartition(topic, 0)
    admin = KafkaAdminClient(**kafka_config)
    try:
        admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
        producer = KafkaProducer(**kafka_config, acks="all")
        for i in range(3):
            producer.send(topic, key=b"block-1", value=f"event-{i}".encode())
        producer.flush(timeout=30)
        producer.close()

        consumer = KafkaConsumer(
            topic, **kafka_config, group_id=group, auto_offset_reset="earliest", enable_auto_commit=False
        )
        try:
            received: list[bytes] = []
            deadline = time.monotonic() + 60
            while len(received) < 3 and time.monotonic() < deadline:
                for records in consumer.poll(timeout_ms=1000).values():
                    received.extend(r.value for r in records)
            assert received == [b"event-0", b"event-1", b"event-2"]
            consumer.commit()
            assert consumer.committed(partition) == 3
        finally:
            consumer.close()

        # the broker, not just the client, holds the group's offset
        assert admin.list_group_offsets({group: None})[group][partition].offset == 3
    finally:
        admin.delete_topics([topic])
        admin.close()


def test_neo4j_round_trip_with_auth_and_constraint(neo4j_driver, services_settings: Settings) -> None:
    from neo4j.exceptions import ConstraintError

    db = services_settings.neo4j_database
    create = (
        "CREATE CONSTRAINT chainrisk_test_probe_id IF NOT EXISTS "
        "FOR (n:ChainriskTestProbe) REQUIRE n.id IS UNIQUE"
    )
    for _ in range(2):  # IF NOT EXISTS: running it again is a no-op, not an error
        neo4j_driver.execute_query(create, database_=db)
    names = [r["name"] for r in neo4j_driver.execute_query("SHOW CONSTRAINTS YIELD name", database_=db).records]
    assert "chainrisk_test_probe_id" in names

    probe_id = uuid.uuid4().hex
    try:
        neo4j_driver.execute_query(
            "CREATE (:ChainriskTestProbe {id: $id, asn: 64500})", id=probe_id, database_=db
        )
        records = neo4j_driver.execute_query(
            "MATCH (n:ChainriskTestProbe {id: $id}) RETURN n.asn AS asn", id=probe_id, database_=db
        ).records
        assert [r["asn"] for r in records] == [64500]
        with pytest.raises(ConstraintError):
            neo4j_driver.execute_query("CREATE (:ChainriskTestProbe {id: $id})", id=probe_id, database_=db)
    finally:
        neo4j_driver.execute_query("MATCH (n:ChainriskTestProbe {id: $id}) DELETE n", id=probe_id, database_=db)


def test_neo4j_rejects_a_wrong_password(services_settings: Settings) -> None:
    from neo4j import GraphDatabase
    from neo4j.exceptions import AuthError

    wrong = f"not-the-password-{uuid.uuid4().hex}"
    with GraphDatabase.driver(services_settings.neo4j_uri, auth=(services_settings.neo4j_user, wrong)) as driver:
        with pytest.raises(AuthError) as failure:
            driver.verify_connectivity()
    assert "authentication failure" in str(failure.value.message)
    assert failure.value.code == "Neo.ClientError.Security.Unauthorized"


def test_neo4j_browser_is_served(services_settings: Settings) -> None:
    with urllib.request.urlopen(services_settings.browser_url, timeout=30) as response:
        body = response.read().decode("utf-8", "replace")
        assert response.status == 200
        assert response.headers.get_content_type() == "text/html"
    assert "<title>Neo4j Browser</title>" in body
