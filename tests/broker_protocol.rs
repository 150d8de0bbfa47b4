//! Raw protocol edge cases: malformed frames close only their own connection
//! and never take the broker down; ApiVersions answers any version; a long
//! poll ends in order, at once on a partition error, and at shutdown.
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{TestBroker, assert_closed, connect, frame};

/// A Fetch v4 body for partition 0 of `topic` from offset 0 (min_bytes 1).
fn fetch_v4(topic: &str, max_wait_ms: i32, max_bytes: i32, partition_max_bytes: i32) -> Vec<u8> {
    let mut fetch = Vec::new();
    fetch.extend_from_slice(&(-1i32).to_be_bytes()); // replica id
    fetch.extend_from_slice(&max_wait_ms.to_be_bytes());
    fetch.extend_from_slice(&1i32.to_be_bytes()); // min bytes
    fetch.extend_from_slice(&max_bytes.to_be_bytes());
    fetch.push(0); // isolation level
    fetch.extend_from_slice(&1i32.to_be_bytes()); // one topic
    fetch.extend_from_slice(&i16::try_from(topic.len()).unwrap().to_be_bytes());
    fetch.extend_from_slice(topic.as_bytes());
    fetch.extend_from_slice(&1i32.to_be_bytes()); // one partition
    fetch.extend_from_slice(&0i32.to_be_bytes()); // partition
    fetch.extend_from_slice(&0i64.to_be_bytes()); // offset
    fetch.extend_from_slice(&partition_max_bytes.to_be_bytes());
    fetch
}

/// Stops the broker and asserts it took under 5 s (the default grace period
/// is 10 s): nothing held the stop.
async fn stop_promptly(broker: &mut TestBroker) {
    let started = std::time::Instant::now();
    broker.stop().await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "shutdown took {:?}",
        started.elapsed()
    );
}

/// Reads one response frame; `None` if the broker closed the connection.
fn read_response(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut size = [0u8; 4];
    stream.read_exact(&mut size).ok()?;
    let mut body = vec![0u8; i32::from_be_bytes(size) as usize];
    stream.read_exact(&mut body).ok()?;
    Some(body)
}

/// ApiVersions v0 on a fresh connection still works.
fn assert_serving(broker: &TestBroker) {
    let mut stream = connect(broker);
    stream.write_all(&frame(18, 0, 77, &[])).unwrap();
    let response = read_response(&mut stream).expect("broker still answers");
    assert_eq!(&response[..4], &77i32.to_be_bytes(), "correlation id");
    assert_eq!(&response[4..6], &[0, 0], "no error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_frames_close_their_connection_and_nothing_else() {
    let broker = TestBroker::start().await;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "frame over the size limit",
            0x7fff_fff0i32.to_be_bytes().to_vec(),
        ),
        ("negative length", (-7i32).to_be_bytes().to_vec()),
        ("frame shorter than a header", vec![0, 0, 0, 2, 0, 3]),
        ("unknown api key", frame(0x1234, 0, 1, &[])),
        ("unsupported produce version", frame(0, 13, 1, &[])),
        (
            "metadata claiming 2^31 topics",
            frame(3, 1, 1, &i32::MAX.to_be_bytes()),
        ),
        ("produce with records past the end", {
            let mut body = Vec::new();
            body.extend_from_slice(&(-1i16).to_be_bytes());
            body.extend_from_slice(&1i16.to_be_bytes());
            body.extend_from_slice(&1000i32.to_be_bytes());
            body.extend_from_slice(&1i32.to_be_bytes());
            body.extend_from_slice(&1i16.to_be_bytes());
            body.push(b'x');
            body.extend_from_slice(&1i32.to_be_bytes());
            body.extend_from_slice(&0i32.to_be_bytes());
            body.extend_from_slice(&i32::MAX.to_be_bytes());
            frame(0, 3, 1, &body)
        }),
        ("fetch body of garbage", frame(1, 4, 1, &[0xff; 40])),
        ("join group claiming 2^31 protocols", {
            let mut body = Vec::new();
            for field in [&b"g"[..], &b""[..]] {
                body.extend_from_slice(&(field.len() as i16).to_be_bytes());
                body.extend_from_slice(field);
                body.extend_from_slice(&10_000i32.to_be_bytes());
            }
            body.truncate(body.len() - 4);
            body.extend_from_slice(&8i16.to_be_bytes());
            body.extend_from_slice(b"consumer");
            body.extend_from_slice(&i32::MAX.to_be_bytes());
            frame(11, 0, 1, &body)
        }),
    ];
    let mut bystander = connect(&broker);
    for (what, bytes) in cases {
        let mut stream = connect(&broker);
        stream.write_all(&bytes).unwrap();
        assert_closed(&mut stream, what);
        assert_serving(&broker);
    }
    // A connection opened before all of that is unaffected.
    bystander.write_all(&frame(18, 0, 5, &[])).unwrap();
    assert!(read_response(&mut bystander).is_some());
    // Nothing was created by the garbage.
    assert!(!broker.data_dir().join("x-0").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_versions_with_an_unknown_version_answers_v0_with_unsupported_version() {
    let broker = TestBroker::start().await;
    let mut stream = connect(&broker);
    // Versions >= 3 use the flexible v2 header: one more byte, the empty tag
    // section, which `frame` leaves to the body.
    stream.write_all(&frame(18, 99, 9, &[0])).unwrap();
    let response = read_response(&mut stream).expect("an answer");
    assert_eq!(&response[..4], &9i32.to_be_bytes());
    assert_eq!(
        i16::from_be_bytes([response[4], response[5]]),
        35,
        "UNSUPPORTED_VERSION"
    );
    // v0 body: array of (key, min, max); ApiVersions (18) is 0..=4.
    let count = i32::from_be_bytes(response[6..10].try_into().unwrap()) as usize;
    let entries: Vec<(i16, i16, i16)> = (0..count)
        .map(|i| {
            let at = 10 + i * 6;
            let word = |o: usize| i16::from_be_bytes([response[at + o], response[at + o + 1]]);
            (word(0), word(2), word(4))
        })
        .collect();
    assert!(entries.contains(&(18, 0, 4)), "{entries:?}");
    assert!(entries.contains(&(0, 0, 12)), "{entries:?}");
    assert!(entries.contains(&(1, 4, 12)), "{entries:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_are_answered_in_order_even_behind_a_long_poll() {
    let broker = TestBroker::start().await;
    common::create_topic(&broker, "poll", 1, &[]).await;
    let mut stream = connect(&broker);
    // Fetch v4 of an empty partition: max_wait 1500 ms, min_bytes 1.
    let fetch = fetch_v4("poll", 1500, 1_000_000, 1_000_000);
    let started = std::time::Instant::now();
    let mut both = frame(1, 4, 1, &fetch);
    both.extend_from_slice(&frame(18, 0, 2, &[]));
    stream.write_all(&both).unwrap();
    let first = read_response(&mut stream).unwrap();
    let second = read_response(&mut stream).unwrap();
    assert_eq!(&first[..4], &1i32.to_be_bytes(), "the fetch answers first");
    assert_eq!(&second[..4], &2i32.to_be_bytes());
    assert!(
        started.elapsed() >= Duration::from_millis(1400),
        "the fetch long-polled"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_limit_are_closed_on_accept() {
    let broker = TestBroker::start_with(|c| c.connections_max = 1).await;
    let mut first = connect(&broker);
    first.write_all(&frame(18, 0, 1, &[])).unwrap();
    assert!(read_response(&mut first).is_some());
    let mut second = connect(&broker);
    // Written bytes may be accepted by the kernel; the answer is a close.
    second.write_all(&frame(18, 0, 2, &[])).ok();
    assert_closed(&mut second, "second connection over a limit of one");
    first.write_all(&frame(18, 0, 3, &[])).unwrap();
    assert!(
        read_response(&mut first).is_some(),
        "the first connection is unaffected"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_does_not_hold_up_shutdown() {
    let mut broker = TestBroker::start_with(|c| c.shutdown_grace_ms = 500).await;
    let producer = broker.producer(&[("linger.ms", "20")]);
    let value = "v".repeat(10_000);
    let mut pending = Vec::new();
    for _ in 0..1000 {
        let record = rdkafka::producer::FutureRecord::<(), _>::to("big").payload(&value);
        pending.push(producer.send_result(record).map_err(|(e, _)| e).unwrap());
    }
    for delivery in pending {
        delivery.await.unwrap().map_err(|(e, _)| e).unwrap();
    }
    // Fetch v4 of 10 MB, sent 30 times without reading a byte of the answers.
    let fetch = fetch_v4("big", 0, 50_000_000, 20_000_000);
    let mut stuck = connect(&broker);
    for i in 0..30 {
        stuck.write_all(&frame(1, 4, i, &fetch)).unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop_promptly(&mut broker).await;
    drop(stuck);
}

/// A partition error ends a long poll at once, as on Kafka: a consumer whose
/// offset is out of range resets now, not after `max_wait_ms` (franz-go waits
/// 5 s by default). Partitions waiting for data beside it do not hold it up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_error_is_answered_without_waiting_out_the_long_poll() {
    use ferrolog_client::client::{Client, ClientConfig};
    use ferrolog_client::fetch::FetchSpec;
    use kafka_protocol::ResponseError;

    let broker = TestBroker::start().await;
    let client = Client::connect(ClientConfig::new(broker.bootstrap()))
        .await
        .unwrap();
    client.create_topic("errs", 2, 1, &[]).await.unwrap();
    let leader = client.leader("errs", 0).await.unwrap();
    // Partition 1 is empty and waits; the other asks for what cannot be served.
    for (wrong, expected) in [
        ((0, 1000), ResponseError::OffsetOutOfRange),
        ((7, 0), ResponseError::UnknownTopicOrPartition),
    ] {
        let spec = FetchSpec {
            topic: "errs".into(),
            partitions: vec![(1, 0), wrong],
            // Far longer than the wait below: a response in time did not long-poll.
            max_wait_ms: 60_000,
            min_bytes: 1,
            max_bytes: 1 << 20,
            partition_max_bytes: 1 << 20,
        };
        let fetched = tokio::time::timeout(Duration::from_secs(20), client.fetch(leader, &spec))
            .await
            .expect("answered before the long poll's 60 s")
            .unwrap();
        let error = |partition| {
            fetched
                .iter()
                .find(|p| p.partition == partition)
                .and_then(|p| p.error.map(|code| code.0))
        };
        assert_eq!(error(wrong.0), Some(expected), "{fetched:?}");
        assert_eq!(error(1), None, "{fetched:?}");
        if expected == ResponseError::UnknownTopicOrPartition {
            // No log, no offsets: Kafka's INVALID_HIGH_WATERMARK, not 0.
            let unknown = fetched.iter().find(|p| p.partition == wrong.0).unwrap();
            assert_eq!(unknown.high_watermark, -1, "{fetched:?}");
        }
    }
}

/// A fetch long-polling an empty partition is answered when the broker stops,
/// rather than holding the shutdown until its deadline or the grace period.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_poll_is_answered_at_shutdown() {
    let mut broker = TestBroker::start().await;
    common::create_topic(&broker, "quiet", 1, &[]).await;
    // Fetch v4 of the empty partition: max_wait 60 s, min_bytes 1.
    let fetch = fetch_v4("quiet", 60_000, 1_000_000, 1_000_000);
    let mut stream = connect(&broker);
    stream.write_all(&frame(1, 4, 9, &fetch)).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The default grace period is 10 s: well under it, the poll was ended.
    stop_promptly(&mut broker).await;
    let response = read_response(&mut stream).expect("the fetch is answered");
    assert_eq!(&response[..4], &9i32.to_be_bytes(), "correlation id");
}

/// A client that disconnects while its fetch long-polls frees its connection
/// at once, as on Kafka: the broker does not hold the slot (counted against
/// the connection limits) until the poll's deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_gone_during_a_long_poll_frees_its_connection() {
    let broker = TestBroker::start().await;
    common::create_topic(&broker, "idle", 1, &[]).await;
    let open = || broker.server.limits.open_connections();
    common::eventually_within(
        common::TIMEOUT,
        "the admin client's connections close",
        || (open() == 0).then_some(()),
    )
    .await;
    let mut client = connect(&broker);
    client
        .write_all(&frame(
            1,
            4,
            1,
            &fetch_v4("idle", 60_000, 1_000_000, 1_000_000),
        ))
        .unwrap();
    common::eventually_within(common::TIMEOUT, "the connection is open", || {
        (open() == 1).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(open(), 1, "still long-polling");
    drop(client);
    // Well before the poll's 60 s deadline.
    common::eventually_within(common::TIMEOUT, "the connection is freed", || {
        (open() == 0).then_some(())
    })
    .await;
}

/// A Produce v7 body with acks=0: one record for `partition` of `topic`.
fn produce_acks_0(topic: &str, partition: i32) -> Vec<u8> {
    use ferrolog_client::batch::{ProducerRecord, ProducerStamp, encode_batch};
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::{ProduceRequest, TopicName};
    use kafka_protocol::protocol::{Encodable, StrBytes};
    use kafka_protocol::records::Compression;

    let record = ProducerRecord {
        value: Some(bytes::Bytes::from_static(b"fire and forget")),
        ..ProducerRecord::default()
    };
    let batch = encode_batch(&[record], Compression::None, ProducerStamp::NONE).unwrap();
    let request = ProduceRequest::default()
        .with_acks(0)
        .with_timeout_ms(1000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(partition)
                        .with_records(Some(batch)),
                ]),
        ]);
    let mut body = bytes::BytesMut::new();
    request.encode(&mut body, 7).unwrap();
    body.to_vec()
}

/// acks=0 gets no response, so a produce that fails closes its connection,
/// as on Kafka: the client notices the disconnect and refreshes its
/// metadata instead of writing on into a partition that refuses it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_acks_0_produce_closes_its_connection() {
    let broker = TestBroker::start().await;
    common::create_topic(&broker, "zero", 1, &[]).await;
    let mut stream = connect(&broker);
    // Appended: nothing is sent back, and the connection stays open.
    stream
        .write_all(&frame(0, 7, 1, &produce_acks_0("zero", 0)))
        .unwrap();
    stream.write_all(&frame(18, 0, 2, &[])).unwrap();
    let answer = read_response(&mut stream).expect("still open after a good acks=0");
    assert_eq!(
        &answer[..4],
        &2i32.to_be_bytes(),
        "the ApiVersions answer, nothing before it"
    );
    // Partition 5 does not exist: the connection is closed, and the request behind it unanswered.
    stream
        .write_all(&frame(0, 7, 3, &produce_acks_0("zero", 5)))
        .unwrap();
    stream.write_all(&frame(18, 0, 4, &[])).ok();
    assert_closed(&mut stream, "after a failed acks=0 produce");
    assert_serving(&broker);
}
