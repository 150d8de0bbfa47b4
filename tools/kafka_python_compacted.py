#!/usr/bin/env python3
"""kafka-python reads a compacted partition (tests/compaction.rs): partition 0
of `compacted-kcat` from its start to its end offset, through the batches log
compaction emptied or thinned. Prints each record as `record OFFSET KEY LEN`
(LEN -1 for a tombstone), then `end reached at N` once its position reaches
the end offset. Exits non-zero if it stops short of the end.

    python3 tools/kafka_python_compacted.py 127.0.0.1:9092
"""
import sys
import time

from kafka import KafkaConsumer, TopicPartition

bootstrap = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:9092"
topic = "compacted-kcat"
part = TopicPartition(topic, 0)

# Starts at the log start through auto_offset_reset, not seek_to_beginning:
# kafka-python 2.2.15's position() spins without network I/O while a
# requested reset is pending, so position() right after a seek never returns.
consumer = KafkaConsumer(
    bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
)
consumer.assign([part])
end = consumer.end_offsets([part])[part]


def position():
    return consumer.position(part, timeout_ms=1000)


deadline = time.time() + 30
while True:
    for records in consumer.poll(timeout_ms=500).values():
        for r in records:
            length = -1 if r.value is None else len(r.value)
            print(f"record {r.offset} {r.key.decode()} {length}")
    at = position()
    if at is not None and at >= end:
        break
    if time.time() > deadline:
        print(f"stuck at {at} of {end}", file=sys.stderr)
        sys.exit(1)
print(f"end reached at {position()}")
consumer.close()
