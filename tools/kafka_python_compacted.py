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

consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
consumer.assign([part])
consumer.seek_to_beginning(part)
end = consumer.end_offsets([part])[part]

deadline = time.time() + 30
while consumer.position(part) < end:
    if time.time() > deadline:
        print(f"stuck at {consumer.position(part)} of {end}", file=sys.stderr)
        sys.exit(1)
    for records in consumer.poll(timeout_ms=500).values():
        for r in records:
            length = -1 if r.value is None else len(r.value)
            print(f"record {r.offset} {r.key.decode()} {length}")
print(f"end reached at {consumer.position(part)}")
consumer.close()
