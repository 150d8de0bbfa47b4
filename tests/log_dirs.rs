//! DescribeLogDirs against a real broker: each partition's size is the bytes
//! produced to it, as its segment `.log` files hold them on disk, growing
//! with appends and shrinking when DeleteRecords removes whole segments; the
//! v0 that kafka-python sends is v1's bytes; a failed partition is left out
//! while the directory answers for the others (Kafka, which takes a whole log
//! dir offline at an I/O error, answers KAFKA_STORAGE_ERROR for it instead).
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

mod common;
mod groups_support;

use std::collections::BTreeMap;
use std::path::Path;

use bytes::{Buf, Bytes};
use ferrolog_client::batch::encode_batch;
use ferrolog_client::produce::Acks;
use ferrolog_client::{Client, ClientConfig, Compression, ProducerRecord, ProducerStamp};
use groups_support::{RawClient, TestBroker, get_str};
use kafka_protocol::messages::describe_log_dirs_request::DescribableLogDirTopic;
use kafka_protocol::messages::{
    ApiKey, DescribeLogDirsRequest, DescribeLogDirsResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

/// `(topic, partition)` → bytes, from every result of a response.
type Sizes = BTreeMap<(String, i32), i64>;

fn sizes(response: &DescribeLogDirsResponse) -> Sizes {
    response
        .results
        .iter()
        .flat_map(|r| r.topics.iter())
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(move |p| ((t.name.0.to_string(), p.partition_index), p.partition_size))
        })
        .collect()
}

/// The bytes of a partition's segment `.log` files on disk.
fn log_bytes_on_disk(data_dir: &Path, topic: &str, partition: i32) -> i64 {
    let dir = data_dir.join(format!("{topic}-{partition}"));
    std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "log"))
        .map(|path| i64::try_from(std::fs::metadata(path).unwrap().len()).unwrap())
        .sum()
}

fn segment_count(data_dir: &Path, topic: &str, partition: i32) -> usize {
    let dir = data_dir.join(format!("{topic}-{partition}"));
    std::fs::read_dir(&dir)
        .unwrap()
        .filter(|entry| {
            let path = entry.as_ref().unwrap().path();
            path.extension().is_some_and(|e| e == "log")
        })
        .count()
}

/// Produces one batch of `records` values of `value_bytes` each to
/// `topic`-`partition`; returns the batch's size, the bytes the log gains.
async fn produce(
    client: &Client,
    topic: &str,
    partition: i32,
    records: usize,
    value_bytes: usize,
) -> i64 {
    let record = ProducerRecord {
        key: None,
        value: Some(Bytes::from(vec![b'v'; value_bytes])),
        headers: Vec::new(),
        timestamp_ms: 1_700_000_000_000,
    };
    let batch = encode_batch(
        &vec![record; records],
        Compression::None,
        ProducerStamp::NONE,
    )
    .unwrap();
    let size = i64::try_from(batch.len()).unwrap();
    client
        .produce(topic, partition, batch, Acks::All, 30_000)
        .await
        .unwrap();
    size
}

async fn describe(
    raw: &mut RawClient,
    version: i16,
    topics: Option<Vec<(&str, Vec<i32>)>>,
) -> DescribeLogDirsResponse {
    let topics = topics.map(|topics| {
        topics
            .into_iter()
            .map(|(name, partitions)| {
                DescribableLogDirTopic::default()
                    .with_topic(TopicName(StrBytes::from_string(name.to_owned())))
                    .with_partitions(partitions)
            })
            .collect()
    });
    let request = DescribeLogDirsRequest::default().with_topics(topics);
    raw.call(ApiKey::DescribeLogDirs, version, &request).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sizes_are_the_bytes_produced_and_follow_appends_and_deletions() {
    let broker = TestBroker::start().await;
    let client = Client::connect(ClientConfig::new(broker.bootstrap()))
        .await
        .unwrap();
    // The smallest segment Kafka allows, so a few MiB roll several segments.
    client
        .create_topic("sized", 2, 1, &[("segment.bytes".into(), "1048576".into())])
        .await
        .unwrap();
    client.create_topic("other", 1, 1, &[]).await.unwrap();
    let mut produced = 0;
    for _ in 0..3 {
        produced += produce(&client, "sized", 0, 10, 100).await;
    }
    let mut raw = RawClient::connect(broker.addr).await;

    let all = describe(&mut raw, 4, None).await;
    assert_eq!(all.error_code, 0);
    let [result] = &all.results[..] else {
        panic!("one data directory: {all:?}")
    };
    assert_eq!(result.error_code, 0);
    let data_dir = std::path::absolute(broker.data_dir()).unwrap();
    assert_eq!(result.log_dir.as_str(), data_dir.to_str().unwrap());
    assert!(
        result.total_bytes > 0 && (0..=result.total_bytes).contains(&result.usable_bytes),
        "v4 carries the file system: {result:?}"
    );
    assert_eq!(
        sizes(&all),
        BTreeMap::from([
            (("other".to_owned(), 0), 0),
            (("sized".to_owned(), 0), produced),
            (("sized".to_owned(), 1), 0),
        ]),
        "every partition of every topic, and not the offsets partition"
    );
    assert_eq!(produced, log_bytes_on_disk(broker.data_dir(), "sized", 0));
    for partition in result.topics.iter().flat_map(|t| t.partitions.iter()) {
        assert_eq!((partition.offset_lag, partition.is_future_key), (0, false));
    }

    // Appends: the size follows, batch for batch, across segment rolls.
    for _ in 0..30 {
        produced += produce(&client, "sized", 0, 1, 100 * 1024).await;
    }
    let other_partition = produce(&client, "sized", 1, 1, 10).await;
    let asked = describe(
        &mut raw,
        4,
        Some(vec![("sized", vec![0, 7]), ("nope", vec![0])]),
    )
    .await;
    let grown = sizes(&asked);
    assert_eq!(
        grown.keys().collect::<Vec<_>>(),
        [&("sized".to_owned(), 0)],
        "only the partitions asked for that exist"
    );
    let before_delete = grown[&("sized".to_owned(), 0)];
    assert_eq!(
        before_delete,
        log_bytes_on_disk(broker.data_dir(), "sized", 0)
    );
    assert_eq!(before_delete, produced);
    assert_eq!(
        log_bytes_on_disk(broker.data_dir(), "sized", 1),
        other_partition
    );
    assert!(
        segment_count(broker.data_dir(), "sized", 0) >= 3,
        "3 MiB in 1 MiB segments"
    );

    // DeleteRecords up to the end removes every sealed segment.
    let start = client.delete_records("sized", &[(0, -1)]).await.unwrap();
    assert!(start[0].1.is_ok(), "{start:?}");
    let after = sizes(&describe(&mut raw, 4, Some(vec![("sized", vec![0])])).await)
        [&("sized".to_owned(), 0)];
    assert_eq!(segment_count(broker.data_dir(), "sized", 0), 1);
    assert_eq!(after, log_bytes_on_disk(broker.data_dir(), "sized", 0));
    assert!(after < 1024 * 1024 && after < before_delete, "{after}");
}

/// kafka-python sends v0, which Kafka 4.0 and `kafka-protocol` dropped: the
/// broker reads and answers it as v1, whose bytes it has. Read by hand here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v0_is_answered_in_its_own_layout() {
    let broker = TestBroker::start().await;
    let client = Client::connect(ClientConfig::new(broker.bootstrap()))
        .await
        .unwrap();
    client.create_topic("zero", 1, 1, &[]).await.unwrap();
    let produced = produce(&client, "zero", 0, 5, 50).await;

    let mut raw = RawClient::connect(broker.addr).await;
    // v0: topics null (i32 -1), every partition.
    let mut v0 = raw
        .call_raw(ApiKey::DescribeLogDirs, 0, &(-1i32).to_be_bytes())
        .await;
    let v1 = raw
        .call_raw(ApiKey::DescribeLogDirs, 1, &(-1i32).to_be_bytes())
        .await;
    assert_eq!(v0, v1, "v0 and v1 are the same bytes");
    assert_eq!(v0.get_i32(), 0, "throttle");
    assert_eq!(v0.get_i32(), 1, "one log dir");
    assert_eq!(v0.get_i16(), 0, "no error");
    let log_dir = get_str(&mut v0).unwrap();
    assert_eq!(
        Path::new(&log_dir),
        std::path::absolute(broker.data_dir()).unwrap()
    );
    assert_eq!(v0.get_i32(), 1, "one topic");
    assert_eq!(get_str(&mut v0).as_deref(), Some("zero"));
    assert_eq!(v0.get_i32(), 1, "one partition");
    assert_eq!(v0.get_i32(), 0, "partition 0");
    assert_eq!(v0.get_i64(), produced, "its size");
    assert_eq!(v0.get_i64(), 0, "offset lag");
    assert_eq!(v0.get_u8(), 0, "not a future log");
    assert!(!v0.has_remaining(), "nothing after the last partition");
}

/// A partition that fails to open is left out, and the directory still
/// answers for the others: one damaged partition must not hide every size.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_partition_is_left_out_and_the_others_are_sized() {
    let broker = TestBroker::start().await;
    let client = Client::connect(ClientConfig::new(broker.bootstrap()))
        .await
        .unwrap();
    client.create_topic("damaged", 2, 1, &[]).await.unwrap();
    produce(&client, "damaged", 0, 5, 50).await;
    produce(&client, "damaged", 1, 5, 50).await;
    drop(client);
    // Cut below what was fsynced (acks=all): partition 0 fails at start-up.
    let broker = broker
        .restart_after(|dir| {
            let log = dir.join("damaged-0").join("00000000000000000000.log");
            let bytes = std::fs::read(&log).unwrap();
            std::fs::write(&log, &bytes[..bytes.len() - 10]).unwrap();
        })
        .await;
    let mut raw = RawClient::connect(broker.addr).await;
    for version in [1, 4] {
        let response = describe(&mut raw, version, None).await;
        let [result] = &response.results[..] else {
            panic!("one data directory: {response:?}")
        };
        assert_eq!(result.error_code, 0, "v{version}");
        let described: Vec<(String, Vec<i32>)> = result
            .topics
            .iter()
            .map(|t| {
                let partitions = t.partitions.iter().map(|p| p.partition_index).collect();
                (t.name.to_string(), partitions)
            })
            .collect();
        assert_eq!(
            described,
            [("damaged".to_owned(), vec![1])],
            "v{version}: {result:?}"
        );
        assert!(
            result.topics[0].partitions[0].partition_size > 0,
            "v{version}"
        );
        assert_eq!(response.error_code, 0, "the request itself is fine");
    }
}
