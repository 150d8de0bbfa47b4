//! Connection and memory limits of `BrokerConfig` (issue 6), against a live
//! broker: connections over the total or per-IP limit are closed at accept
//! and their places come back when connections close; idle connections are
//! closed; a tight in-flight byte budget slows a client down but never stalls
//! it; a Fetch's `max_bytes` is capped, and only its first partition with
//! data may pass its limits.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::TestBroker;
use ferrolog_client::batch::{ProducerRecord, ProducerStamp, encode_batch};
use ferrolog_client::client::{Client, ClientConfig};
use ferrolog_client::fetch::FetchSpec;
use ferrolog_client::produce::Acks;
use kafka_protocol::records::Compression;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const PROMPT: Duration = Duration::from_secs(5);

/// An ApiVersions v0 request frame (header v1, null client id, empty body).
fn api_versions(correlation_id: i32) -> Vec<u8> {
    let mut frame = Vec::new();
    frame.extend_from_slice(&10i32.to_be_bytes());
    frame.extend_from_slice(&18i16.to_be_bytes());
    frame.extend_from_slice(&0i16.to_be_bytes());
    frame.extend_from_slice(&correlation_id.to_be_bytes());
    frame.extend_from_slice(&(-1i16).to_be_bytes());
    frame
}

/// Sends an ApiVersions and reads the answer's correlation id; `None` if the
/// broker closed the connection instead.
async fn ask(stream: &mut TcpStream, correlation_id: i32) -> Option<i32> {
    stream.write_all(&api_versions(correlation_id)).await.ok()?;
    read_response(stream).await
}

async fn read_response(stream: &mut TcpStream) -> Option<i32> {
    let mut size = [0u8; 4];
    tokio::time::timeout(PROMPT, stream.read_exact(&mut size))
        .await
        .expect("answer or close in time")
        .ok()?;
    let mut body = vec![0u8; usize::try_from(i32::from_be_bytes(size)).ok()?];
    stream.read_exact(&mut body).await.ok()?;
    Some(i32::from_be_bytes(body.get(..4)?.try_into().ok()?))
}

async fn connect(broker: &TestBroker) -> TcpStream {
    TcpStream::connect(broker.addr).await.expect("tcp connect")
}

/// Waits (bounded) until a new connection is served again.
async fn served_again(broker: &TestBroker) -> bool {
    for _ in 0..50 {
        let mut stream = connect(broker).await;
        if ask(&mut stream, 99).await == Some(99) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test]
async fn connections_over_the_per_ip_limit_are_closed_and_places_come_back() {
    let broker = TestBroker::start_with(|c| c.connections_per_ip_max = 2).await;
    let mut first = connect(&broker).await;
    let mut second = connect(&broker).await;
    assert_eq!(ask(&mut first, 1).await, Some(1));
    assert_eq!(ask(&mut second, 2).await, Some(2));
    let mut third = connect(&broker).await;
    assert_eq!(
        ask(&mut third, 3).await,
        None,
        "the third connection from one IP is closed"
    );
    assert_eq!(
        ask(&mut first, 4).await,
        Some(4),
        "admitted connections are unaffected"
    );
    drop(second);
    assert!(
        served_again(&broker).await,
        "a closed connection frees its place"
    );
}

#[tokio::test]
async fn connections_over_the_total_limit_are_closed() {
    let broker = TestBroker::start_with(|c| c.connections_max = 1).await;
    let mut first = connect(&broker).await;
    assert_eq!(ask(&mut first, 1).await, Some(1));
    let mut second = connect(&broker).await;
    assert_eq!(ask(&mut second, 2).await, None);
    drop(first);
    assert!(served_again(&broker).await);
}

#[tokio::test]
async fn an_idle_connection_is_closed_and_a_busy_one_is_not() {
    let broker = TestBroker::start_with(|c| c.connection_idle_ms_max = 300).await;
    let mut idle = connect(&broker).await;
    let mut busy = connect(&broker).await;
    assert_eq!(ask(&mut idle, 1).await, Some(1));
    for i in 0..8 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            ask(&mut busy, i).await,
            Some(i),
            "a connection in use stays open"
        );
    }
    assert_eq!(
        ask(&mut idle, 2).await,
        None,
        "800 ms of silence closes the connection"
    );
}

#[tokio::test]
async fn a_tight_in_flight_budget_still_answers_everything_in_order() {
    // Smaller than one request: such a request takes the whole budget.
    let broker = TestBroker::start_with(|c| {
        c.in_flight_bytes_per_connection_max = 8;
        c.in_flight_bytes_max = 8;
    })
    .await;
    let mut stream = connect(&broker).await;
    let pipelined: Vec<u8> = (0..50).flat_map(api_versions).collect();
    stream.write_all(&pipelined).await.unwrap();
    for i in 0..50 {
        assert_eq!(read_response(&mut stream).await, Some(i));
    }
    let client = Client::connect(ClientConfig::new(broker.bootstrap()))
        .await
        .unwrap();
    client.create_topic("tight", 1, 1, &[]).await.unwrap();
    let value = Bytes::from(vec![7u8; 64 * 1024]);
    let record = ProducerRecord {
        value: Some(value),
        ..ProducerRecord::default()
    };
    let batch = encode_batch(&[record], Compression::None, ProducerStamp::NONE).unwrap();
    let ack = client
        .produce("tight", 0, batch, Acks::All, 5_000)
        .await
        .expect("a 64 KiB produce fits");
    assert_eq!(ack.base_offset, 0);
}

#[tokio::test]
async fn a_fetch_max_bytes_above_the_limit_is_lowered() {
    let broker = TestBroker::start_with(|c| c.fetch_response_bytes_max = 4096).await;
    let client = Client::connect(ClientConfig::new(broker.bootstrap()))
        .await
        .unwrap();
    client.create_topic("capped", 1, 1, &[]).await.unwrap();
    for _ in 0..10 {
        let record = ProducerRecord {
            value: Some(Bytes::from(vec![1u8; 1000])),
            ..ProducerRecord::default()
        };
        let batch = encode_batch(&[record], Compression::None, ProducerStamp::NONE).unwrap();
        client
            .produce("capped", 0, batch, Acks::Leader, 5_000)
            .await
            .unwrap();
    }
    let spec = FetchSpec {
        topic: "capped".into(),
        partitions: vec![(0, 0)],
        max_wait_ms: 0,
        min_bytes: 0,
        max_bytes: 1 << 30,
        partition_max_bytes: 1 << 30,
    };
    let leader = client.leader("capped", 0).await.unwrap();
    let got = client.fetch(leader, &spec).await.unwrap();
    let bytes = got.iter().map(|p| p.records.len()).sum::<usize>();
    assert!(bytes > 0, "at least one batch is served");
    assert!(
        bytes <= 4096,
        "the response stays under the broker's cap, got {bytes} bytes of ~10,700"
    );
}

/// A fetch's `max_bytes` and `partition_max_bytes` bound the response as on
/// Kafka (KIP-74): only the first partition with data may pass them, by one
/// whole batch; a later partition gets only the batches that fit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_limits_let_only_the_first_partition_with_data_pass() {
    let broker = TestBroker::start().await;
    let client = Client::connect(ClientConfig::new(broker.bootstrap()))
        .await
        .unwrap();
    client.create_topic("limits", 2, 1, &[]).await.unwrap();
    let mut batch_len = 0;
    for partition in 0..2 {
        let record = ProducerRecord {
            value: Some(Bytes::from(vec![7u8; 30_000])),
            ..ProducerRecord::default()
        };
        let batch = encode_batch(&[record], Compression::None, ProducerStamp::NONE).unwrap();
        batch_len = batch.len();
        client
            .produce("limits", partition, batch, Acks::Leader, 5_000)
            .await
            .unwrap();
    }
    let leader = client.leader("limits", 0).await.unwrap();
    let fetch = |partitions: Vec<(i32, i64)>, max_bytes: i32, partition_max_bytes: i32| {
        let spec = FetchSpec {
            topic: "limits".into(),
            partitions,
            max_wait_ms: 0,
            min_bytes: 0,
            max_bytes,
            partition_max_bytes,
        };
        let client = &client;
        async move {
            let got = client.fetch(leader, &spec).await.unwrap();
            got.iter()
                .map(|p| (p.partition, p.records.len()))
                .collect::<Vec<_>>()
        }
    };
    // Room for one batch and a bit: the second partition's does not fit.
    let room = i32::try_from(batch_len + 10_000).unwrap();
    assert_eq!(
        fetch(vec![(0, 0), (1, 0)], room, 1 << 20).await,
        [(0, batch_len), (1, 0)]
    );
    // Whichever comes first is served, even past both limits.
    assert_eq!(
        fetch(vec![(1, 0), (0, 0)], 1000, 1000).await,
        [(1, batch_len), (0, 0)]
    );
    // The per-partition limit alone holds back a later partition too.
    assert_eq!(
        fetch(vec![(0, 0), (1, 0)], 1 << 20, 1000).await,
        [(0, batch_len), (1, 0)]
    );
    // Room for both: both are served.
    assert_eq!(
        fetch(vec![(0, 0), (1, 0)], 1 << 20, 1 << 20).await,
        [(0, batch_len), (1, batch_len)]
    );
}

/// An ApiVersions v0 request frame whose body carries `padding` bytes after
/// its (empty) fields, which the broker tolerates: a request of any size
/// that costs nothing to decode.
fn padded_api_versions(correlation_id: i32, padding: usize) -> Vec<u8> {
    let mut frame = api_versions(correlation_id);
    frame.resize(frame.len() + padding, 0);
    let size = i32::try_from(frame.len() - 4).unwrap();
    frame[..4].copy_from_slice(&size.to_be_bytes());
    frame
}

/// A Metadata v1 request for `topics` topics with empty names: 2 bytes each
/// on the wire, a 72-byte struct each decoded.
fn metadata_of_empty_names(correlation_id: i32, topics: i32) -> Vec<u8> {
    let mut frame = vec![0, 0, 0, 0];
    frame.extend_from_slice(&3i16.to_be_bytes());
    frame.extend_from_slice(&1i16.to_be_bytes());
    frame.extend_from_slice(&correlation_id.to_be_bytes());
    frame.extend_from_slice(&(-1i16).to_be_bytes());
    frame.extend_from_slice(&topics.to_be_bytes());
    for _ in 0..topics {
        frame.extend_from_slice(&0i16.to_be_bytes());
    }
    let size = i32::try_from(frame.len() - 4).unwrap();
    frame[..4].copy_from_slice(&size.to_be_bytes());
    frame
}

#[tokio::test]
async fn a_request_that_would_decode_past_the_limits_closes_its_connection() {
    let broker = TestBroker::start_with(|c| {
        c.max_request_bytes = 1 << 20;
        c.in_flight_bytes_max = 1 << 20;
    })
    .await;
    // 1,000 topics: 2 KB on the wire, about 128 KB decoded: answered.
    let mut stream = connect(&broker).await;
    stream
        .write_all(&metadata_of_empty_names(1, 1000))
        .await
        .unwrap();
    assert_eq!(read_response(&mut stream).await, Some(1));
    // 200,000 topics: 400 KB on the wire, within the frame limit, but about
    // 25 MB decoded.
    stream
        .write_all(&metadata_of_empty_names(2, 200_000))
        .await
        .unwrap();
    assert_eq!(read_response(&mut stream).await, None);
    assert!(served_again(&broker).await);
}

#[tokio::test]
async fn a_frame_still_arriving_holds_its_size_of_the_broker_budget() {
    const MIB: usize = 1 << 20;
    let broker = TestBroker::start_with(|c| {
        c.max_request_bytes = 4 << 20;
        c.in_flight_bytes_max = 4 * MIB;
    })
    .await;
    // A sends all of a 3 MiB frame but its last bytes.
    let mut slow = connect(&broker).await;
    let big = padded_api_versions(1, 3 * MIB);
    let (head, tail) = big.split_at(big.len() - 10);
    slow.write_all(head).await.unwrap();
    // B's 2 MiB request does not fit beside A's 3 MiB while A's arrives...
    let mut other = connect(&broker).await;
    other
        .write_all(&padded_api_versions(2, 2 * MIB))
        .await
        .unwrap();
    let early = tokio::time::timeout(Duration::from_millis(500), read_response(&mut other)).await;
    assert!(early.is_err(), "answered beside an arriving 3 MiB frame");
    // ...and is answered once A's has been.
    slow.write_all(tail).await.unwrap();
    assert_eq!(read_response(&mut slow).await, Some(1));
    assert_eq!(read_response(&mut other).await, Some(2));
    // Everything held has come back.
    assert!(served_again(&broker).await);
}
