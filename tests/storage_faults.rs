//! I/O errors under a live broker (issue 6): an injected EIO on a partition's
//! write or fsync fails exactly the produce requests it touches with
//! KAFKA_STORAGE_ERROR, is never reported as success, leaves that partition
//! refusing writes until the broker reopens it, and leaves every other
//! partition working. A stalled disk under admin work holds up nothing else.

#![allow(clippy::unwrap_used)]

mod faults;

use std::sync::Arc;

use bytes::Bytes;
use faults::{FaultyBroker, Op};
use ferrolog_client::batch::{ProducerRecord, ProducerStamp, encode_batch};
use ferrolog_client::client::{Client, ClientConfig};
use ferrolog_client::error::ClientError;
use ferrolog_client::fetch::FetchSpec;
use ferrolog_client::produce::Acks;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{MetadataRequest, ProduceRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;

const KAFKA_STORAGE_ERROR: i16 = 56;

fn batch(value: &str) -> Bytes {
    let record = ProducerRecord {
        value: Some(Bytes::from(value.to_string())),
        ..ProducerRecord::default()
    };
    encode_batch(&[record], Compression::None, ProducerStamp::NONE).expect("batch encodes")
}

/// The produce result as `Ok(base offset)` or `Err(Kafka error code)`.
async fn produce(
    client: &Client,
    topic: &str,
    partition: i32,
    value: &str,
    acks: Acks,
) -> Result<i64, i16> {
    match client
        .produce(topic, partition, batch(value), acks, 10_000)
        .await
    {
        Ok(ack) => Ok(ack.base_offset),
        Err(ClientError::Kafka { code, .. }) => Err(code.code()),
        Err(other) => panic!("produce to {topic}-{partition} failed outside Kafka: {other}"),
    }
}

/// High watermark and error code of one partition, by a Fetch from offset 0.
async fn fetch(client: &Client, topic: &str, partition: i32) -> (i64, i16, usize) {
    let spec = FetchSpec {
        topic: topic.into(),
        partitions: vec![(partition, 0)],
        max_wait_ms: 0,
        min_bytes: 0,
        max_bytes: 1 << 20,
        partition_max_bytes: 1 << 20,
    };
    let leader = client.leader(topic, partition).await.expect("leader");
    let got = client.fetch(leader, &spec).await.expect("fetch answered");
    let p = got
        .into_iter()
        .find(|p| p.partition == partition)
        .expect("partition in response");
    (
        p.high_watermark,
        p.error.map_or(0, |e| e.code()),
        p.records.len(),
    )
}

async fn connect(broker: &FaultyBroker) -> Client {
    Client::connect(ClientConfig::new(broker.addr.to_string()))
        .await
        .expect("client connects")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eio_on_write_fails_that_partition_only_until_reopened() {
    let dir = tempfile::tempdir().unwrap();
    let broker = FaultyBroker::start(dir.path(), |_| {}).await;
    let client = connect(&broker).await;
    client
        .create_topic("eio", 2, 1, &[])
        .await
        .expect("topic created");
    assert_eq!(produce(&client, "eio", 0, "before", Acks::All).await, Ok(0));
    assert_eq!(produce(&client, "eio", 1, "before", Acks::All).await, Ok(0));

    broker.fs.fail_next(Op::Write, "/eio-0/", 1);
    assert_eq!(
        produce(&client, "eio", 0, "hit", Acks::Leader).await,
        Err(KAFKA_STORAGE_ERROR)
    );
    assert_eq!(
        broker.fs.injected().len(),
        1,
        "the fault fired once, on partition 0"
    );
    // The disk is fine again, but the partition cannot know what it holds.
    assert_eq!(
        produce(&client, "eio", 0, "after", Acks::Leader).await,
        Err(KAFKA_STORAGE_ERROR)
    );
    assert_eq!(
        produce(&client, "eio", 0, "after", Acks::All).await,
        Err(KAFKA_STORAGE_ERROR)
    );
    // The other partition is untouched, for writes and reads.
    assert_eq!(produce(&client, "eio", 1, "after", Acks::All).await, Ok(1));
    assert_eq!(fetch(&client, "eio", 1).await.0, 2);
    // What was acknowledged before the fault is still readable.
    let (high_watermark, _, bytes) = fetch(&client, "eio", 0).await;
    assert_eq!(high_watermark, 1);
    assert!(bytes > 0, "the acknowledged record is still served");

    drop(client);
    broker.stop().await.ok();
    let broker = FaultyBroker::start(dir.path(), |_| {}).await;
    let client = connect(&broker).await;
    assert_eq!(
        produce(&client, "eio", 0, "reopened", Acks::All).await,
        Ok(1),
        "reopened: writable, nothing from the failed write"
    );
    assert_eq!(
        produce(&client, "eio", 1, "reopened", Acks::All).await,
        Ok(2)
    );
    broker.stop().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eio_on_fsync_fails_acks_all_and_refuses_later_writes() {
    let dir = tempfile::tempdir().unwrap();
    let broker = FaultyBroker::start(dir.path(), |_| {}).await;
    let client = connect(&broker).await;
    client
        .create_topic("fsync", 2, 1, &[])
        .await
        .expect("topic created");
    assert_eq!(
        produce(&client, "fsync", 1, "before", Acks::All).await,
        Ok(0)
    );
    assert_eq!(
        produce(&client, "fsync", 0, "before", Acks::All).await,
        Ok(0)
    );

    broker.fs.fail_next(Op::Sync, "/fsync-1/", 1);
    assert_eq!(
        produce(&client, "fsync", 1, "hit", Acks::All).await,
        Err(KAFKA_STORAGE_ERROR),
        "never reported as success"
    );
    assert!(
        broker.fs.injected().iter().all(|(op, _)| *op == Op::Sync)
            && !broker.fs.injected().is_empty()
    );
    assert_eq!(
        produce(&client, "fsync", 1, "after", Acks::Leader).await,
        Err(KAFKA_STORAGE_ERROR)
    );
    assert_eq!(
        produce(&client, "fsync", 1, "after", Acks::All).await,
        Err(KAFKA_STORAGE_ERROR)
    );
    assert_eq!(
        produce(&client, "fsync", 0, "after", Acks::All).await,
        Ok(1),
        "the other partition keeps working"
    );

    drop(client);
    broker.stop().await.ok();
    let broker = FaultyBroker::start(dir.path(), |_| {}).await;
    let client = connect(&broker).await;
    let next = produce(&client, "fsync", 1, "reopened", Acks::All).await;
    // The append whose fsync failed reached the page cache, so recovery may
    // keep it (offset 1) or not (after a power loss it could be gone): either
    // way the partition takes writes again and the acknowledged record stays.
    assert!(
        matches!(next, Ok(1 | 2)),
        "reopened partition writable, got {next:?}"
    );
    assert!(fetch(&client, "fsync", 1).await.2 > 0);
    broker.stop().await.expect("clean shutdown");
}

/// An admin call's Kafka error code, 0 for success.
fn kafka_code(result: Result<(), ClientError>) -> i16 {
    match result {
        Ok(()) => 0,
        Err(ClientError::Kafka { code, .. }) => code.code(),
        Err(other) => panic!("admin request failed outside Kafka: {other}"),
    }
}

/// Admin requests that create partitions, and so write and fsync.
#[derive(Clone, Copy, Debug)]
enum Creating {
    CreateTopics,
    CreatePartitions,
    ProduceAutoCreate,
    MetadataAutoCreate,
}

impl Creating {
    /// Sends the request for `topic`; its error code.
    async fn send(self, client: &Client, topic: &str) -> i16 {
        let name = TopicName(StrBytes::from_string(topic.to_string()));
        match self {
            Creating::CreateTopics => kafka_code(client.create_topic(topic, 1, 1, &[]).await),
            Creating::CreatePartitions => kafka_code(client.create_partitions(topic, 2).await),
            Creating::ProduceAutoCreate => {
                let partition = PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(batch("auto-created")));
                let request = ProduceRequest::default()
                    .with_acks(1)
                    .with_timeout_ms(10_000)
                    .with_topic_data(vec![
                        TopicProduceData::default()
                            .with_name(name)
                            .with_partition_data(vec![partition]),
                    ]);
                let response = client.send_any(&request).await.unwrap();
                response.responses[0].partition_responses[0].error_code
            }
            Creating::MetadataAutoCreate => {
                let request = MetadataRequest::default()
                    .with_allow_auto_topic_creation(true)
                    .with_topics(Some(vec![
                        MetadataRequestTopic::default().with_name(Some(name)),
                    ]));
                client.send_any(&request).await.unwrap().topics[0].error_code
            }
        }
    }
}

/// Admin work runs off the runtime's workers: with a broker of one worker
/// thread, a topic creation stalled on its fsync must not hold up a produce
/// to another topic. (Before, it held the worker until the disk answered.)
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn admin_work_stalled_on_the_disk_holds_up_no_other_request() {
    let dir = tempfile::tempdir().unwrap();
    let broker = FaultyBroker::start(dir.path(), |_| {}).await;
    let other = connect(&broker).await;
    other.create_topic("other", 1, 1, &[]).await.unwrap();
    other.create_topic("gated-grow", 1, 1, &[]).await.unwrap();
    let cases = [
        Creating::CreateTopics,
        Creating::CreatePartitions,
        Creating::ProduceAutoCreate,
        Creating::MetadataAutoCreate,
    ];
    for (offset, creating) in (0..).zip(cases) {
        let topic = match creating {
            Creating::CreatePartitions => "gated-grow".to_string(),
            _ => format!("gated-{offset}"),
        };
        let gate = broker.fs.hold(Op::Sync, &topic);
        let client = connect(&broker).await;
        let held = tokio::spawn(async move { creating.send(&client, &topic).await });
        while gate.arrived() == 0 && !held.is_finished() {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let meanwhile = produce(&other, "other", 0, "meanwhile", Acks::All).await;
        let answered_while_held = !gate.is_open();
        gate.open();
        assert!(
            answered_while_held,
            "{creating:?} stalled on an fsync held up a produce to another topic"
        );
        assert_eq!(meanwhile, Ok(offset));
        assert_eq!(held.await.unwrap(), 0, "{creating:?} once the disk answers");
    }
    broker.stop().await.unwrap();
}

/// Partition directories in the data directory, by name.
fn partition_dirs(dir: &std::path::Path, topic: &str) -> Vec<String> {
    let prefix = format!("{topic}-");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(&prefix))
        .collect();
    names.sort();
    names
}

/// How many partitions the broker reports for `topic`, if it knows it.
async fn partition_count(client: &Client, topic: &str) -> Option<usize> {
    client
        .refresh_topic(topic)
        .await
        .ok()
        .map(|t| t.partitions.len())
}

/// A topic creation or growth that fails part way is undone: the client is
/// told it failed, and neither the data directory nor the next start brings
/// back what was made before the failure. Before, the registry kept the
/// topic, so it reappeared after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_topic_creation_or_growth_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let broker = FaultyBroker::start(dir.path(), |_| {}).await;
    let client = connect(&broker).await;
    client.create_topic("grown", 1, 1, &[]).await.unwrap();
    // The third partition of each fails its first fsync.
    broker.fs.fail_next(Op::Sync, "doomed-2", 1);
    broker.fs.fail_next(Op::Sync, "grown-2", 1);
    let created = kafka_code(client.create_topic("doomed", 4, 1, &[]).await);
    let grown = kafka_code(client.create_partitions("grown", 4).await);
    assert_eq!((created, grown), (KAFKA_STORAGE_ERROR, KAFKA_STORAGE_ERROR));
    assert_eq!(broker.fs.injected().len(), 2);
    assert_eq!(partition_dirs(dir.path(), "doomed"), Vec::<String>::new());
    assert_eq!(partition_dirs(dir.path(), "grown"), vec!["grown-0"]);
    assert_eq!(partition_count(&client, "doomed").await, None);
    assert_eq!(partition_count(&client, "grown").await, Some(1));
    broker.stop().await.unwrap();

    let broker = FaultyBroker::start(dir.path(), |_| {}).await;
    let client = connect(&broker).await;
    assert_eq!(
        partition_count(&client, "doomed").await,
        None,
        "after a restart"
    );
    assert_eq!(
        partition_count(&client, "grown").await,
        Some(1),
        "after a restart"
    );
    assert_eq!(partition_dirs(dir.path(), "doomed"), Vec::<String>::new());
    client.create_topic("doomed", 4, 1, &[]).await.unwrap();
    client.create_partitions("grown", 4).await.unwrap();
    assert_eq!(partition_count(&client, "doomed").await, Some(4));
    assert_eq!(partition_count(&client, "grown").await, Some(4));
    assert_eq!(
        produce(&client, "doomed", 3, "works", Acks::All).await,
        Ok(0)
    );
    broker.stop().await.unwrap();
}

/// Commits `offset` for partition 0 of `topic` as group `group` (no member:
/// a manually assigned consumer), on a connection of its own.
async fn commit_alone(broker: &FaultyBroker, group: &str, topic: &str, offset: i64) -> i16 {
    let client = connect(broker).await;
    let coordinator = client.coordinator_connection(group).await.unwrap();
    let committed = client
        .commit_offsets(&coordinator, group, -1, "", topic, &[(0, offset)])
        .await;
    kafka_code(committed)
}

/// An OffsetCommit checked while its topic exists but written after a
/// DeleteTopics of it must not outlive the topic: it would apply to a topic
/// created again under the name, and its consumers would skip records.
/// Another group's commit holds the offsets log (its write is held on the
/// disk) while the commit and the deletion queue behind it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_racing_the_deletion_of_its_topic_does_not_outlive_it() {
    const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
    let dir = tempfile::tempdir().unwrap();
    let broker = Arc::new(FaultyBroker::start(dir.path(), |_| {}).await);
    let admin = connect(&broker).await;
    admin.create_topic("doomed", 1, 1, &[]).await.unwrap();
    admin.create_topic("other", 1, 1, &[]).await.unwrap();
    let gate = broker.fs.hold(Op::Write, "__consumer_offsets");
    let holder = {
        let broker = broker.clone();
        tokio::spawn(async move { commit_alone(&broker, "holder", "other", 1).await })
    };
    while gate.arrived() == 0 && !holder.is_finished() {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let racer = {
        let broker = broker.clone();
        tokio::spawn(async move { commit_alone(&broker, "racer", "doomed", 42).await })
    };
    // Time for the racer's topic check to pass and its write to queue.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let deleting = {
        let broker = broker.clone();
        tokio::spawn(async move { connect(&broker).await.delete_topic("doomed").await })
    };
    while partition_count(&admin, "doomed").await.is_some() {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert!(!gate.is_open(), "the racer's write still waits");
    gate.open();
    assert_eq!(holder.await.unwrap(), 0);
    assert_eq!(racer.await.unwrap(), UNKNOWN_TOPIC_OR_PARTITION);
    deleting.await.unwrap().unwrap();

    admin.create_topic("doomed", 1, 1, &[]).await.unwrap();
    let coordinator = admin.coordinator_connection("racer").await.unwrap();
    let committed = admin
        .committed_offsets(&coordinator, "racer", Some(("doomed", &[0])))
        .await
        .unwrap();
    assert_eq!(
        committed
            .get(&("doomed".to_string(), 0))
            .copied()
            .unwrap_or(-1),
        -1,
        "no offset of the deleted topic applies to the new one"
    );
    Arc::into_inner(broker).unwrap().stop().await.unwrap();
}
