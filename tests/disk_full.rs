//! The free-space floor (issue 6), through the broker's free-space seam:
//! below the floor produce gets a retriable KAFKA_STORAGE_ERROR while
//! fetches and group commits keep working; once space is freed, writes
//! resume without a restart — and a librdkafka producer that was refused
//! meanwhile delivers by retrying.

#![allow(clippy::unwrap_used)]

mod faults;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use faults::FaultyBroker;
use ferrolog_broker::disk::FreeSpaceProbe;
use ferrolog_client::batch::{ProducerRecord, ProducerStamp, encode_batch};
use ferrolog_client::client::{Client, ClientConfig};
use ferrolog_client::error::ClientError;
use ferrolog_client::fetch::FetchSpec;
use ferrolog_client::produce::Acks;
use kafka_protocol::records::Compression;
use rdkafka::producer::{FutureProducer, FutureRecord};

const KAFKA_STORAGE_ERROR: i16 = 56;
const FLOOR_BYTES: u64 = 1 << 30;

/// Free space the test sets by hand.
#[derive(Debug)]
struct Dial(AtomicU64);

impl FreeSpaceProbe for Dial {
    fn free_bytes(&self, _: &Path) -> std::io::Result<u64> {
        Ok(self.0.load(Ordering::SeqCst))
    }
}

fn batch(value: &str) -> Bytes {
    let record = ProducerRecord {
        value: Some(Bytes::from(value.to_string())),
        ..ProducerRecord::default()
    };
    encode_batch(&[record], Compression::None, ProducerStamp::NONE).unwrap()
}

async fn produce(client: &Client, value: &str) -> Result<i64, i16> {
    match client
        .produce("full", 0, batch(value), Acks::All, 5_000)
        .await
    {
        Ok(ack) => Ok(ack.base_offset),
        Err(ClientError::Kafka { code, .. }) => Err(code.code()),
        Err(other) => panic!("produce failed outside Kafka: {other}"),
    }
}

async fn high_watermark(client: &Client) -> i64 {
    let spec = FetchSpec {
        topic: "full".into(),
        partitions: vec![(0, 0)],
        max_wait_ms: 0,
        min_bytes: 0,
        max_bytes: 1 << 20,
        partition_max_bytes: 1 << 20,
    };
    let leader = client.leader("full", 0).await.unwrap();
    let got = client
        .fetch(leader, &spec)
        .await
        .expect("fetch works below the floor");
    assert!(
        got.iter()
            .all(|p| p.error.is_none() && !p.records.is_empty())
    );
    got.first().map_or(-1, |p| p.high_watermark)
}

/// Waits (bounded) for the sampler to see the dial move.
async fn until(what: &str, mut ok: impl AsyncFnMut() -> bool) {
    for _ in 0..100 {
        if ok().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{what} did not happen in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn below_the_floor_produce_is_refused_retriably_and_resumes_when_space_is_freed() {
    let dir = tempfile::tempdir().unwrap();
    let dial = Arc::new(Dial(AtomicU64::new(FLOOR_BYTES * 2)));
    let broker = FaultyBroker::start_with_probe(
        dir.path(),
        |c| {
            c.free_space_floor_bytes = FLOOR_BYTES;
            c.free_space_check_ms = 10;
        },
        dial.clone(),
    )
    .await;
    let client = Client::connect(ClientConfig::new(broker.addr.to_string()))
        .await
        .unwrap();
    client.create_topic("full", 1, 1, &[]).await.unwrap();
    assert_eq!(produce(&client, "room").await, Ok(0));

    dial.0.store(FLOOR_BYTES - 1, Ordering::SeqCst);
    let space = broker.server.free_space.clone();
    until("the sampler sees the floor", async || space.below_floor()).await;
    assert_eq!(produce(&client, "no room").await, Err(KAFKA_STORAGE_ERROR));
    assert_eq!(
        high_watermark(&client).await,
        1,
        "fetch still works and nothing refused was stored"
    );
    let coordinator = client.coordinator_connection("floor-group").await.unwrap();
    client
        .commit_offsets(&coordinator, "floor-group", -1, "", "full", &[(0, 1)])
        .await
        .expect("group commits keep working below the floor");
    let committed = client
        .committed_offsets(&coordinator, "floor-group", Some(("full", &[0])))
        .await
        .unwrap();
    assert_eq!(committed.get(&("full".to_string(), 0)), Some(&1));

    // A librdkafka producer refused now retries until space comes back.
    let producer: FutureProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", broker.addr.to_string())
        .set("enable.idempotence", "true")
        .set("retry.backoff.ms", "50")
        .set("message.timeout.ms", "15000")
        .create()
        .unwrap();
    let delivery = tokio::spawn(async move {
        let record = FutureRecord::<(), _>::to("full")
            .payload("retried")
            .partition(0);
        producer
            .send(record, Duration::from_secs(15))
            .await
            .map(|d| d.offset)
            .map_err(|(e, _)| e.to_string())
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !delivery.is_finished(),
        "the refused record is still being retried, not failed"
    );

    dial.0.store(FLOOR_BYTES, Ordering::SeqCst);
    let offset = tokio::time::timeout(Duration::from_secs(15), delivery)
        .await
        .expect("delivered in time")
        .unwrap();
    assert_eq!(
        offset,
        Ok(1),
        "the retried record landed once, after the refused ones left nothing behind"
    );
    assert_eq!(
        produce(&client, "room again").await,
        Ok(2),
        "writes resumed without a restart"
    );
    broker.stop().await.expect("clean shutdown");
}
