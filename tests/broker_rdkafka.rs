//! librdkafka (through the `rdkafka` crate) against a real in-process broker.
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

mod common;

use std::collections::BTreeMap;

use common::{TIMEOUT, TestBroker, consume, create_topic};
use rdkafka::Offset;
use rdkafka::TopicPartitionList;
use rdkafka::consumer::Consumer;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord};

/// Sends every record without waiting, then waits for all deliveries;
/// returns (partition, offset) per record in send order.
async fn produce_all(
    producer: &FutureProducer,
    topic: &str,
    records: &[(Option<String>, String)],
) -> Vec<(i32, i64)> {
    let mut pending = Vec::with_capacity(records.len());
    for (key, value) in records {
        let mut record = FutureRecord::to(topic).payload(value.as_bytes());
        if let Some(key) = key {
            record = record.key(key.as_bytes());
        }
        pending.push(
            producer
                .send_result(record)
                .map_err(|(e, _)| e)
                .expect("enqueue"),
        );
    }
    let mut delivered = Vec::with_capacity(pending.len());
    for future in pending {
        let delivery = tokio::time::timeout(TIMEOUT, future)
            .await
            .expect("delivery in time")
            .expect("not cancelled");
        let delivery = delivery.map_err(|(e, _)| e).expect("delivered");
        delivered.push((delivery.partition, delivery.offset));
    }
    delivered
}

fn values(count: usize, prefix: &str) -> Vec<(Option<String>, String)> {
    (0..count)
        .map(|i| (None, format!("{prefix}-{i}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_keyed_records_come_back_in_partition_order() {
    let broker = TestBroker::start().await;
    create_topic(&broker, "keyed", 4, &[]).await;
    let producer = broker.producer(&[("linger.ms", "5")]);
    let records: Vec<_> = (0..10_000)
        .map(|i| (Some(format!("key-{}", i % 37)), format!("value-{i}")))
        .collect();
    let delivered = produce_all(&producer, "keyed", &records).await;

    // What each partition should hold, in offset order.
    let mut expected: BTreeMap<i32, Vec<(i64, String, String)>> = BTreeMap::new();
    for ((key, value), (partition, offset)) in records.iter().zip(&delivered) {
        expected.entry(*partition).or_default().push((
            *offset,
            key.clone().unwrap(),
            value.clone(),
        ));
    }
    assert_eq!(expected.len(), 4, "37 keys spread over all 4 partitions");
    let consumer = broker.consumer(&[]);
    let all: Vec<_> = (0..4).map(|p| (p, Offset::Beginning)).collect();
    let got = consume(&consumer, "keyed", &all, 10_000).await;
    let mut by_partition: BTreeMap<i32, Vec<(i64, String, String)>> = BTreeMap::new();
    for g in got {
        let key = String::from_utf8(g.key.unwrap()).unwrap();
        by_partition.entry(g.partition).or_default().push((
            g.offset,
            key,
            String::from_utf8(g.value.unwrap()).unwrap(),
        ));
    }
    for (partition, mut records) in expected {
        records.sort();
        let read = &by_partition[&partition];
        assert_eq!(
            read, &records,
            "partition {partition} reads back exactly what was produced, in order"
        );
        let offsets: Vec<i64> = read.iter().map(|r| r.0).collect();
        assert_eq!(
            offsets,
            (0..offsets.len() as i64).collect::<Vec<_>>(),
            "offsets are dense from 0"
        );
        // Send order within a partition is offset order.
        let sent: Vec<usize> = read
            .iter()
            .map(|r| r.2["value-".len()..].parse().unwrap())
            .collect();
        assert!(
            sent.windows(2).all(|w| w[0] < w[1]),
            "partition {partition} keeps send order"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acks_setting_stores_the_records() {
    let broker = TestBroker::start().await;
    for acks in ["0", "1", "all"] {
        let topic = format!("acks-{acks}");
        create_topic(&broker, &topic, 1, &[]).await;
        let producer = broker.producer(&[("acks", acks)]);
        let records = values(200, &topic);
        let delivered = produce_all(&producer, &topic, &records).await;
        if acks != "0" {
            let offsets: Vec<i64> = delivered.iter().map(|d| d.1).collect();
            assert_eq!(offsets, (0..200).collect::<Vec<_>>());
        }
        let got = consume(
            &broker.consumer(&[]),
            &topic,
            &[(0, Offset::Beginning)],
            200,
        )
        .await;
        let read: Vec<_> = got
            .into_iter()
            .map(|g| String::from_utf8(g.value.unwrap()).unwrap())
            .collect();
        let sent: Vec<_> = records.into_iter().map(|r| r.1).collect();
        assert_eq!(read, sent, "acks={acks}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_compression_codec_round_trips() {
    let broker = TestBroker::start().await;
    for codec in ["gzip", "snappy", "lz4", "zstd"] {
        let topic = format!("codec-{codec}");
        let producer = broker.producer(&[("compression.type", codec), ("linger.ms", "20")]);
        let records: Vec<_> = (0..500)
            .map(|i| {
                (
                    Some(format!("k{i}")),
                    format!("{codec} value {i} {}", "x".repeat(i % 50)),
                )
            })
            .collect();
        produce_all(&producer, &topic, &records).await;
        let got = consume(
            &broker.consumer(&[]),
            &topic,
            &[(0, Offset::Beginning)],
            500,
        )
        .await;
        let read: Vec<_> = got
            .into_iter()
            .map(|g| String::from_utf8(g.value.unwrap()).unwrap())
            .collect();
        let sent: Vec<_> = records.into_iter().map(|r| r.1).collect();
        assert_eq!(read, sent, "codec {codec}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_from_the_middle_of_a_batch_starts_at_the_asked_offset() {
    let broker = TestBroker::start().await;
    // A long linger puts all ten records into one batch.
    let producer = broker.producer(&[("linger.ms", "200")]);
    let delivered = produce_all(&producer, "middle", &values(10, "m")).await;
    assert_eq!(
        delivered.iter().map(|d| d.1).collect::<Vec<_>>(),
        (0..10).collect::<Vec<_>>()
    );
    let got = consume(
        &broker.consumer(&[]),
        "middle",
        &[(0, Offset::Offset(5))],
        5,
    )
    .await;
    let offsets: Vec<i64> = got.iter().map(|g| g.offset).collect();
    assert_eq!(offsets, vec![5, 6, 7, 8, 9]);
    assert_eq!(got[0].value.as_deref(), Some(&b"m-5"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_from_an_offset_and_from_a_timestamp() {
    let broker = TestBroker::start().await;
    let producer = broker.producer(&[]);
    let base_ms = 1_700_000_000_000i64;
    for i in 0..20i64 {
        let value = format!("t{i}");
        let record = FutureRecord::<(), _>::to("replay")
            .payload(&value)
            .timestamp(base_ms + i * 1000);
        producer
            .send(record, TIMEOUT)
            .await
            .map_err(|(e, _)| e)
            .expect("delivered");
    }
    let consumer = broker.consumer(&[]);
    let got = consume(&consumer, "replay", &[(0, Offset::Offset(7))], 3).await;
    assert_eq!(
        got.iter().map(|g| g.offset).collect::<Vec<_>>(),
        vec![7, 8, 9]
    );

    // First record with timestamp >= base + 10.5 s is number 11.
    let (offset, got) = first_at_time(&broker, "replay", base_ms + 10_500).await;
    assert_eq!(offset, Offset::Offset(11));
    assert_eq!(got.timestamp_ms, Some(base_ms + 11_000));
    assert_eq!(got.value.as_deref(), Some(&b"t11"[..]));

    // Beyond the last timestamp there is no offset: librdkafka reports the end.
    let mut late = TopicPartitionList::new();
    late.add_partition_offset("replay", 0, Offset::Offset(base_ms + 60_000))
        .unwrap();
    let found = consumer
        .offsets_for_times(late, TIMEOUT)
        .expect("offsets_for_times");
    assert_eq!(
        found.find_partition("replay", 0).unwrap().offset(),
        Offset::End
    );
}

/// Replay by timestamp lands on the exact record inside a compressed batch,
/// as on Kafka: the broker decompresses the one batch that holds the answer.
/// (It used to answer with the batch's first record.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_from_a_timestamp_inside_a_compressed_batch() {
    let broker = TestBroker::start().await;
    // One gzip batch of 20 records: sent together, lingering long enough.
    let producer = broker.producer(&[("compression.type", "gzip"), ("linger.ms", "500")]);
    let base_ms = 1_700_000_000_000i64;
    let values: Vec<String> = (0..20).map(|i| format!("z{i}")).collect();
    let sends: Vec<_> = values
        .iter()
        .enumerate()
        .map(|(i, value)| {
            let record = FutureRecord::<(), _>::to("zipped")
                .payload(value)
                .timestamp(base_ms + i as i64 * 1000);
            // Queued at once (`send` would queue only when awaited).
            producer
                .send_result(record)
                .map_err(|(e, _)| e)
                .expect("queued")
        })
        .collect();
    for send in sends {
        send.await
            .expect("not cancelled")
            .map_err(|(e, _)| e)
            .expect("delivered");
    }

    let (offset, got) = first_at_time(&broker, "zipped", base_ms + 10_500).await;
    assert_eq!(offset, Offset::Offset(11));
    assert_eq!(got.timestamp_ms, Some(base_ms + 11_000));
    assert_eq!(got.value.as_deref(), Some(&b"z11"[..]));
}

/// Partition 0 of `topic` looked up by timestamp with librdkafka, and the
/// record read from the offset it answered.
async fn first_at_time(broker: &TestBroker, topic: &str, at_ms: i64) -> (Offset, common::Got) {
    let mut wanted = TopicPartitionList::new();
    wanted
        .add_partition_offset(topic, 0, Offset::Offset(at_ms))
        .unwrap();
    let found = broker
        .consumer(&[])
        .offsets_for_times(wanted, TIMEOUT)
        .expect("offsets_for_times");
    let offset = found.find_partition(topic, 0).unwrap().offset();
    let got = consume(&broker.consumer(&[]), topic, &[(0, offset)], 1).await;
    (offset, got.into_iter().next().expect("a record"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_produce_over_max_message_bytes_gets_message_too_large() {
    let broker = TestBroker::start().await;
    create_topic(&broker, "small", 1, &[("max.message.bytes", "1024")]).await;
    let producer = broker.producer(&[]);
    let big = "x".repeat(4000);
    let result = producer
        .send(FutureRecord::<(), _>::to("small").payload(&big), TIMEOUT)
        .await;
    let error = result.map(|d| d.offset).map_err(|(e, _)| e);
    assert!(
        matches!(
            error,
            Err(KafkaError::MessageProduction(
                RDKafkaErrorCode::MessageSizeTooLarge
            ))
        ),
        "got {error:?}"
    );
    // The partition still takes records that fit.
    let fits = producer
        .send(FutureRecord::<(), _>::to("small").payload("ok"), TIMEOUT)
        .await;
    assert_eq!(fits.map(|d| d.offset).map_err(|(e, _)| e).ok(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_beyond_the_end_gets_offset_out_of_range() {
    let broker = TestBroker::start().await;
    produce_all(&broker.producer(&[]), "short", &values(10, "s")).await;
    let consumer = broker.consumer(&[("auto.offset.reset", "error")]);
    let mut list = TopicPartitionList::new();
    list.add_partition_offset("short", 0, Offset::Offset(1000))
        .unwrap();
    consumer.assign(&list).unwrap();
    // librdkafka turns the broker's OFFSET_OUT_OF_RANGE into this local error
    // when auto.offset.reset=error (tests/kcat_cli.rs checks the broker's code
    // itself in kcat's message).
    let error = tokio::time::timeout(TIMEOUT, consumer.recv())
        .await
        .expect("an answer in time")
        .err();
    assert!(
        matches!(
            error,
            Some(KafkaError::MessageConsumption(
                RDKafkaErrorCode::AutoOffsetReset
            ))
        ),
        "got {error:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_and_topic_configs_survive_a_restart() {
    use rdkafka::admin::{AdminOptions, ResourceSpecifier};
    let broker = TestBroker::start().await;
    create_topic(
        &broker,
        "durable",
        2,
        &[
            ("retention.ms", "123456789"),
            ("ferrolog.durability", "always"),
        ],
    )
    .await;
    let producer = broker.producer(&[("acks", "all")]);
    let records: Vec<_> = (0..100)
        .map(|i| (Some(format!("k{}", i % 5)), format!("d{i}")))
        .collect();
    let delivered = produce_all(&producer, "durable", &records).await;
    drop(producer);
    let broker = broker.restart().await;

    let described = broker
        .admin()
        .describe_configs([&ResourceSpecifier::Topic("durable")], &AdminOptions::new())
        .await;
    let resource = described
        .expect("describe")
        .remove(0)
        .expect("topic described");
    assert_eq!(
        resource
            .get("retention.ms")
            .and_then(|e| e.value.clone())
            .as_deref(),
        Some("123456789")
    );
    assert_eq!(
        resource
            .get("ferrolog.durability")
            .and_then(|e| e.value.clone())
            .as_deref(),
        Some("always")
    );

    let got = consume(
        &broker.consumer(&[]),
        "durable",
        &[(0, Offset::Beginning), (1, Offset::Beginning)],
        100,
    )
    .await;
    let mut read: Vec<_> = got.iter().map(|g| (g.partition, g.offset)).collect();
    let mut want = delivered.clone();
    read.sort();
    want.sort();
    assert_eq!(read, want);
}
