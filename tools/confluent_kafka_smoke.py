#!/usr/bin/env python3
"""confluent-kafka (Python over librdkafka) against a running ferrologd: admin
create and describe configs, an idempotent lz4 producer with keys and headers
(request-reply style correlation ids) whose batches are checked to be stored
lz4-compressed, a consumer group that commits, a second consumer that resumes,
a consumer that replays from a timestamp, and watermarks and committed offsets
for lag. Exits non-zero on failure; every wait is bounded.

    python3 tools/confluent_kafka_smoke.py 127.0.0.1:9092
"""
import socket
import struct
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

bootstrap = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:9092"
topic = f"confluent-{int(time.time() * 1000)}"
group = f"{topic}-g"

admin = AdminClient({"bootstrap.servers": bootstrap})
for f in admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1,
                                       config={"retention.ms": "86400000"})]).values():
    f.result(timeout=10)
described = admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, topic)])
configs = list(described.values())[0].result(timeout=10)
assert configs["retention.ms"].value == "86400000", configs["retention.ms"]

errors = []
producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                     "linger.ms": 5, "compression.type": "lz4"})
for i in range(1000):
    producer.produce(topic, key=f"k{i % 9}", value=f"v{i}",
                     headers=[("correlation-id", f"c{i}".encode())],
                     on_delivery=lambda err, msg: errors.append(err) if err else None)
    producer.poll(0)
assert producer.flush(30) == 0, "undelivered records"
assert not errors, errors


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        assert chunk, "the broker closed the connection"
        data += chunk
    return data


def stored_batches(partition):
    """(codec, records) of every batch the partition's leader serves, from a
    raw Fetch v4: the client API shows records, never how their batch was
    compressed. librdkafka before 2.11.1 (confluent-kafka 2.6 bundles 2.6.0)
    silently sends uncompressed batches to a broker whose ApiVersions lacks
    Produce v0, so delivery alone proves nothing. Codecs: 0 none, 3 lz4."""
    metadata = admin.list_topics(topic, timeout=10)
    leader = metadata.brokers[metadata.topics[topic].partitions[partition].leader]
    name, max_bytes = topic.encode(), 64 << 20
    body = struct.pack(">iiiib", -1, 0, 1, max_bytes, 0)  # replica, wait, min, max, isolation
    body += struct.pack(">ih", 1, len(name)) + name
    body += struct.pack(">iiqi", 1, partition, 0, max_bytes)  # partition, offset 0, max
    request = struct.pack(">hhih", 1, 4, 1, len(b"smoke")) + b"smoke" + body
    with socket.create_connection((leader.host, leader.port), timeout=10) as sock:
        sock.sendall(struct.pack(">i", len(request)) + request)
        response = recv_exact(sock, struct.unpack(">i", recv_exact(sock, 4))[0])
    # correlation id, throttle, one topic (name, one partition: index, error,
    # high watermark, last stable offset, aborted transactions, records)
    at = 8 + 4
    at += 2 + struct.unpack_from(">h", response, at)[0] + 4
    _, error, _, _, aborted = struct.unpack_from(">ihqqi", response, at)
    assert error == 0, f"fetch of partition {partition}: error {error}"
    at += 26 + 16 * max(aborted, 0)
    size = struct.unpack_from(">i", response, at)[0]
    records, batches, at = response[at + 4:at + 4 + max(size, 0)], [], 0
    # A v2 batch: base offset, length, leader epoch, magic, crc, attributes ...
    # record count at byte 57; a partial batch at the end is left out.
    while at + 61 <= len(records):
        length = struct.unpack_from(">i", records, at + 8)[0]
        if at + 12 + length > len(records):
            break
        attributes = struct.unpack_from(">h", records, at + 21)[0]
        batches.append((attributes & 0x7, struct.unpack_from(">i", records, at + 57)[0]))
        at += 12 + length
    return batches


# librdkafka sends a batch uncompressed when compressing does not shrink it
# (one short record), so most records must be in lz4 batches, not all.
stored = [b for p in (0, 1) for b in stored_batches(p)]
in_lz4 = sum(n for codec, n in stored if codec == 3)
assert in_lz4 > 500 and all(codec in (0, 3) for codec, _ in stored), \
    f"compression.type lz4, but stored (codec, records) per batch: {stored}"


def drain(consumer, want, limit_s=30):
    got, deadline = [], time.time() + limit_s
    while len(got) < want and time.time() < deadline:
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        assert msg.error() is None, msg.error()
        got.append(msg)
    return got


first = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                  "enable.auto.commit": False})
first.subscribe([topic])
got = drain(first, 1000)
assert len(got) == 1000, f"group read {len(got)} of 1000"
by_key = {}
for m in got:
    by_key.setdefault(m.key(), set()).add(m.partition())
    assert dict(m.headers())["correlation-id"] == b"c" + m.value()[1:], m.headers()
assert all(len(p) == 1 for p in by_key.values()), "a key spread over partitions"
first.commit(asynchronous=False)
first.close()

# Produced after the group's commit: what the next consumer resumes with, and
# what a replay from `middle_ms` finds.
middle_ms = int(time.time() * 1000)
time.sleep(0.05)
for i in range(10):
    producer.produce(topic, key="late", value=f"late-{i}")
assert producer.flush(30) == 0

second = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                   "enable.auto.commit": False})
second.subscribe([topic])
resumed = drain(second, 10)
assert sorted(m.value() for m in resumed) == sorted(f"late-{i}".encode() for i in range(10)), \
    [m.value() for m in resumed]
second.commit(asynchronous=False)
parts = [TopicPartition(topic, p) for p in (0, 1)]
committed = second.committed(parts, timeout=10)
lag = sum(second.get_watermark_offsets(tp, timeout=10)[1] - tp.offset for tp in committed)
second.close()
assert lag == 0, f"lag {lag}"

replay = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{group}-replay", "enable.auto.commit": False})
at = replay.offsets_for_times([TopicPartition(topic, p, middle_ms) for p in (0, 1)], timeout=10)
replay.assign(at)
replayed = drain(replay, 10)
replay.close()
assert sorted(m.value() for m in replayed) == sorted(f"late-{i}".encode() for i in range(10)), \
    [m.value() for m in replayed]

print(f"confluent-kafka OK: {in_lz4} of 1000 records stored as lz4, {len(got)} records in a group, "
      f"resumed with {len(resumed)}, replayed {len(replayed)} from a timestamp, lag {lag}")
