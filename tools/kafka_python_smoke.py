#!/usr/bin/env python3
"""kafka-python against a running ferrologd: admin, produce (each codec it has
built in), consume by assignment, offsets by time, a consumer group that
commits and a second member of it that resumes, and the partitions' sizes
(describe_log_dirs). Exits non-zero on failure.

    python3 tools/kafka_python_smoke.py 127.0.0.1:9092
"""
import sys
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

bootstrap = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:9092"
topic = f"kafka-python-{int(time.time())}"

admin = KafkaAdminClient(bootstrap_servers=bootstrap)
admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1, topic_configs={"retention.ms": "86400000"})])
print("topics:", sorted(t for t in admin.list_topics() if t == topic))

for codec in [None, "gzip"]:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", compression_type=codec, linger_ms=5)
    for i in range(1000):
        producer.send(topic, key=f"k{i % 7}".encode(), value=f"{codec}-{i}".encode())
    producer.flush()
    producer.close()

consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=5000)
parts = [TopicPartition(topic, 0), TopicPartition(topic, 1)]
consumer.assign(parts)
consumer.seek_to_beginning(*parts)
got = [m for m in consumer]
assert len(got) == 2000, f"read {len(got)} of 2000"
for p in (0, 1):
    offsets = [m.offset for m in got if m.partition == p]
    assert offsets == list(range(len(offsets))), f"partition {p} offsets not dense"
end = consumer.end_offsets(parts)
assert sum(end.values()) == 2000, end
times = consumer.offsets_for_times({parts[0]: 0})
assert times[parts[0]].offset == 0, times
consumer.close()

# A group: subscribe, read everything, commit; the next consumer of the group
# resumes after the commit and sees only what was produced since.
def group_consumer():
    return KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"{topic}-g",
                         auto_offset_reset="earliest", enable_auto_commit=False,
                         consumer_timeout_ms=8000)

first = group_consumer()
in_group = [m for m in first]
assert len(in_group) == 2000, f"group read {len(in_group)} of 2000"
first.commit()
first.close()
producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
for i in range(10):
    producer.send(topic, value=f"late-{i}".encode())
producer.flush()
producer.close()
second = group_consumer()
resumed = [m.value for m in second]
second.close()
assert sorted(resumed) == sorted(f"late-{i}".encode() for i in range(10)), resumed
# Partition sizes as kafka-log-dirs.sh reads them (DescribeLogDirs v0, the only
# version kafka-python sends): one data directory, both partitions of the topic
# with bytes in them, and not the broker's committed-offsets partition. The
# test compares the total with the segment files on disk.
(error, log_dir, dir_topics), = admin.describe_log_dirs().log_dirs
assert error == 0 and log_dir.startswith("/"), (error, log_dir)
sizes = {(name, p[0]): p[1] for name, parts in dir_topics for p in parts}
mine = {p: size for (name, p), size in sizes.items() if name == topic}
assert sorted(mine) == [0, 1] and all(size > 0 for size in mine.values()), sizes
assert not any(name == "__consumer_offsets" for name, _ in sizes), sizes
print("log dir sizes:", topic, sum(mine.values()))
admin.close()

print("kafka-python OK:", len(got), "records,", end, "; group resumed with", len(resumed))
