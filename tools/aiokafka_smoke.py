#!/usr/bin/env python3
"""aiokafka (an asyncio Python client with its own protocol code) against a
running ferrologd: admin, an idempotent producer with each codec (lz4, snappy and
zstd through cramjam), keys and headers, consume by assignment, replay by offset and by
time, a consumer group of two members that splits the
partitions, commits and resumes; and a transactional producer, which
Ferrolog refuses with a clear error. Exits non-zero on failure.

    python3 tools/aiokafka_smoke.py 127.0.0.1:9092
"""
import asyncio
import sys
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TransactionalIdAuthorizationFailed

BOOTSTRAP = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:9092"
TOPIC = f"aiokafka-{int(time.time())}"
GROUP = f"{TOPIC}-g"
PARTS = [TopicPartition(TOPIC, p) for p in range(3)]
# Each wait below is bounded; the Rust test around this is the backstop.
WAIT_S = 20


async def drain(consumer, want, what):
    """Reads until `want` records arrived or WAIT_S passed."""
    got = []
    deadline = time.monotonic() + WAIT_S
    while len(got) < want and time.monotonic() < deadline:
        batches = await consumer.getmany(timeout_ms=500)
        for records in batches.values():
            got.extend(records)
    assert len(got) == want, f"{what}: read {len(got)} of {want}"
    return got


async def admin_checks():
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(TOPIC, num_partitions=3, replication_factor=1,
                                            topic_configs={"retention.ms": "86400000"})])
        assert TOPIC in await admin.list_topics()
        described = await admin.describe_topics([TOPIC])
        assert len(described[0]["partitions"]) == 3, described
        configs = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, TOPIC)])
        entries = {e[0]: e[1] for e in configs[0].resources[0][4]}
        assert entries.get("retention.ms") == "86400000", entries
    finally:
        await admin.close()


async def produce():
    sent = 0
    for codec in [None, "gzip", "lz4", "snappy", "zstd"]:
        producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, enable_idempotence=True,
                                    acks="all", compression_type=codec, linger_ms=5)
        await producer.start()
        try:
            futures = [await producer.send(TOPIC, key=f"k{i % 11}".encode(),
                                           value=f"{codec}-{i}".encode(),
                                           headers=[("trace", f"t{i}".encode())])
                       for i in range(400)]
            metas = await asyncio.gather(*futures)
            sent += len(metas)
        finally:
            await producer.stop()
    return sent


async def replay(sent):
    consumer = AIOKafkaConsumer(bootstrap_servers=BOOTSTRAP, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(PARTS)
        await consumer.seek_to_beginning(*PARTS)
        got = await drain(consumer, sent, "assigned")
        for tp in PARTS:
            offsets = [m.offset for m in got if m.partition == tp.partition]
            assert offsets == list(range(len(offsets))), f"{tp} offsets not dense"
            keys = {m.key for m in got if m.partition == tp.partition}
            # One key, one partition: per-key order needs it.
            others = {m.key for m in got if m.partition != tp.partition}
            assert not keys & others, f"a key in two partitions: {keys & others}"
        assert all(m.headers == (("trace", f"t{int(m.value.split(b'-')[1])}".encode()),)
                   for m in got), "headers lost"
        end = await consumer.end_offsets(PARTS)
        assert sum(end.values()) == sent, end
        begin = await consumer.beginning_offsets(PARTS)
        assert set(begin.values()) == {0}, begin
        by_time = await consumer.offsets_for_times({PARTS[0]: 0})
        assert by_time[PARTS[0]].offset == 0, by_time
        # Replay one partition from the middle.
        middle = end[PARTS[1]] // 2
        consumer.assign([PARTS[1]])
        consumer.seek(PARTS[1], middle)
        tail = await drain(consumer, end[PARTS[1]] - middle, "replay from the middle")
        assert tail[0].offset == middle, tail[0]
        return end
    finally:
        await consumer.stop()


async def group_member(name):
    consumer = AIOKafkaConsumer(TOPIC, bootstrap_servers=BOOTSTRAP, group_id=GROUP,
                                client_id=name, auto_offset_reset="earliest",
                                enable_auto_commit=False)
    await consumer.start()
    return consumer


async def groups(sent):
    # Two members split the three partitions between them and, together,
    # read everything once.
    first = await group_member("first")
    second = await group_member("second")
    try:
        deadline = time.monotonic() + WAIT_S
        seen = {}
        while len(seen) < sent and time.monotonic() < deadline:
            for member in (first, second):
                batches = await member.getmany(timeout_ms=200)
                for records in batches.values():
                    for m in records:
                        seen[(m.partition, m.offset)] = member
        assert len(seen) == sent, f"group read {len(seen)} of {sent}"
        a, b = first.assignment(), second.assignment()
        assert a and b and not a & b and a | b == set(PARTS), (a, b)
        await first.commit()
        await second.commit()
    finally:
        await first.stop()
        await second.stop()

    producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, acks="all")
    await producer.start()
    try:
        for i in range(10):
            await producer.send_and_wait(TOPIC, value=f"late-{i}".encode(), partition=i % 3)
    finally:
        await producer.stop()

    resumed_member = await group_member("third")
    try:
        resumed = await drain(resumed_member, 10, "resumed")
        assert sorted(m.value for m in resumed) == sorted(f"late-{i}".encode() for i in range(10))
        await resumed_member.commit()
        committed = {tp: await resumed_member.committed(tp) for tp in PARTS}
    finally:
        await resumed_member.stop()
    assert sum(committed.values()) == sent + 10, committed
    return len(resumed)


async def group_admin():
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    await admin.start()
    try:
        listed = await admin.list_consumer_groups()
        assert any(g[0] == GROUP for g in listed), listed
        offsets = await admin.list_consumer_group_offsets(GROUP)
        assert set(offsets) == set(PARTS), offsets
        return sum(o.offset for o in offsets.values())
    finally:
        await admin.close()


async def transactions_refused():
    # No transactions yet: InitProducerId with a transactional id gets
    # TRANSACTIONAL_ID_AUTHORIZATION_FAILED, which aiokafka raises from start()
    # instead of retrying.
    producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, transactional_id=f"{TOPIC}-tx")
    try:
        await asyncio.wait_for(producer.start(), WAIT_S)
    except TransactionalIdAuthorizationFailed:
        return "refused"
    finally:
        await producer.stop()
    raise AssertionError("a transactional producer started")


async def main():
    await admin_checks()
    sent = await produce()
    end = await replay(sent)
    resumed = await groups(sent)
    committed = await group_admin()
    transactions = await transactions_refused()
    print(f"aiokafka OK: {sent} records, end offsets {sorted(end.values())}; "
          f"group resumed with {resumed}, committed {committed}; transactions {transactions}")


asyncio.run(main())
