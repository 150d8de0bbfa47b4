#!/usr/bin/env python3
"""confluent-kafka (Python over librdkafka) admin calls at the edges a
walkthrough found: CreateTopics naming a topic twice (librdkafka refuses a
response that names a topic twice, and then reports every topic of the
request as failed), and `include_authorized_operations` on describe_cluster,
describe_topics and describe_consumer_groups (None when the broker leaves the
field at "not provided"). Exits non-zero on failure; every wait is bounded.

    python3 tools/confluent_kafka_admin_edges.py 127.0.0.1:9092
"""
import sys
import time

from confluent_kafka import Consumer, KafkaError, TopicCollection, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

bootstrap = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:9092"
stamp = int(time.time() * 1000)
dup, ok = f"dupA-{stamp}", f"okB-{stamp}"

admin = AdminClient({"bootstrap.servers": bootstrap})
futures = admin.create_topics([NewTopic(dup, 1, 1), NewTopic(ok, 1, 1), NewTopic(dup, 1, 1)])
outcome = {}
for name, future in futures.items():
    try:
        future.result(timeout=10)
        outcome[name] = "created"
    except Exception as e:  # the client's KafkaException, carrying a KafkaError
        outcome[name] = e.args[0].code() if e.args and isinstance(e.args[0], KafkaError) else repr(e)
print(f"create_topics: {outcome}")
assert outcome[ok] == "created", outcome
assert outcome[dup] == KafkaError.INVALID_REQUEST, outcome
listed = admin.list_topics(timeout=10).topics
assert ok in listed and dup not in listed, sorted(listed)
print("duplicate name refused, the other topic created")


def names(operations):
    return sorted(op.name for op in operations) if operations is not None else None


cluster = admin.describe_cluster(include_authorized_operations=True).result(timeout=10)
topic = admin.describe_topics(TopicCollection([ok]),
                              include_authorized_operations=True)[ok].result(timeout=10)

group = f"edges-{stamp}"
consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                     "enable.auto.commit": False})
consumer.commit(offsets=[TopicPartition(ok, 0, 0)], asynchronous=False)
consumer.close()
described = admin.describe_consumer_groups([group],
                                           include_authorized_operations=True)[group].result(timeout=10)

print(f"cluster operations: {names(cluster.authorized_operations)}")
print(f"topic operations: {names(topic.authorized_operations)}")
print(f"group operations: {names(described.authorized_operations)}")
assert names(cluster.authorized_operations) == [
    "ALTER", "ALTER_CONFIGS", "CLUSTER_ACTION", "CREATE", "DESCRIBE", "DESCRIBE_CONFIGS",
    "IDEMPOTENT_WRITE"], cluster.authorized_operations
assert names(topic.authorized_operations) == [
    "ALTER", "ALTER_CONFIGS", "CREATE", "DELETE", "DESCRIBE", "DESCRIBE_CONFIGS", "READ",
    "WRITE"], topic.authorized_operations
assert names(described.authorized_operations) == [
    "ALTER_CONFIGS", "DELETE", "DESCRIBE", "DESCRIBE_CONFIGS", "READ"], \
    described.authorized_operations
print("admin edges OK")
