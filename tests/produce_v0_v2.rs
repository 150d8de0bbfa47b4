//! Produce v0–2, advertised so that librdkafka before 2.11.1 compresses
//! (it enables gzip, snappy and lz4 only when the broker lists Produce v0):
//! answered partition by partition in each version's own layout, old message
//! sets (magic 0 and 1) refused with UNSUPPORTED_FOR_MESSAGE_FORMAT and never
//! stored, v2 batches stored as from v3, and the connection usable after.
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;

use common::{TestBroker, connect, frame};

const UNSUPPORTED_FOR_MESSAGE_FORMAT: i16 = 43;
const INVALID_RECORD: i16 = 87;

/// Sends one request and reads its response body (after the correlation
/// id, which is checked); `None` if the broker closed the connection.
fn call(stream: &mut TcpStream, api_key: i16, version: i16, body: &[u8]) -> Option<Vec<u8>> {
    const CORRELATION_ID: i32 = 41;
    stream
        .write_all(&frame(api_key, version, CORRELATION_ID, body))
        .ok()?;
    let mut size = [0u8; 4];
    stream.read_exact(&mut size).ok()?;
    let mut response = vec![0u8; usize::try_from(i32::from_be_bytes(size)).unwrap()];
    stream.read_exact(&mut response).ok()?;
    assert_eq!(&response[..4], &CORRELATION_ID.to_be_bytes());
    Some(response.split_off(4))
}

/// The (key, min, max) ranges of an ApiVersions v0 response body.
fn api_versions(stream: &mut TcpStream) -> Vec<(i16, i16, i16)> {
    let body = call(stream, 18, 0, &[]).expect("ApiVersions answered");
    assert_eq!(&body[..2], &[0, 0], "no error");
    let word = |at: usize| i16::from_be_bytes([body[at], body[at + 1]]);
    let count = usize::try_from(i32::from_be_bytes(body[2..6].try_into().unwrap())).unwrap();
    (0..count)
        .map(|i| (word(6 + i * 6), word(8 + i * 6), word(10 + i * 6)))
        .collect()
}

/// CRC-32 (IEEE), which magic 0 and 1 messages carry.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A message set of one magic 0 or 1 message, as a client of Kafka 0.8 to
/// 0.10 sends it: `offset size crc magic attributes [timestamp] key value`.
fn legacy_message_set(magic: i8, value: &[u8]) -> Vec<u8> {
    let mut message = vec![magic.to_be_bytes()[0], 0];
    if magic == 1 {
        message.extend_from_slice(&1_700_000_000_000i64.to_be_bytes());
    }
    message.extend_from_slice(&(-1i32).to_be_bytes());
    message.extend_from_slice(&i32::try_from(value.len()).unwrap().to_be_bytes());
    message.extend_from_slice(value);
    let mut set = 0i64.to_be_bytes().to_vec();
    set.extend_from_slice(&i32::try_from(message.len() + 4).unwrap().to_be_bytes());
    set.extend_from_slice(&crc32(&message).to_be_bytes());
    set.extend_from_slice(&message);
    set
}

/// A v2 record batch of one record.
fn v2_batch(value: &'static [u8]) -> Vec<u8> {
    use ferrolog_client::batch::{ProducerRecord, ProducerStamp, encode_batch};
    let record = ProducerRecord {
        value: Some(bytes::Bytes::from_static(value)),
        ..ProducerRecord::default()
    };
    encode_batch(
        &[record],
        ferrolog_client::Compression::None,
        ProducerStamp::NONE,
    )
    .unwrap()
    .to_vec()
}

/// A Produce v0–2 body: `acks timeout [topic [partition records]]`.
fn produce_body(acks: i16, topic: &str, partitions: &[(i32, &[u8])]) -> Vec<u8> {
    let mut body = acks.to_be_bytes().to_vec();
    body.extend_from_slice(&5000i32.to_be_bytes());
    body.extend_from_slice(&1i32.to_be_bytes());
    body.extend_from_slice(&i16::try_from(topic.len()).unwrap().to_be_bytes());
    body.extend_from_slice(topic.as_bytes());
    body.extend_from_slice(&i32::try_from(partitions.len()).unwrap().to_be_bytes());
    for (index, records) in partitions {
        body.extend_from_slice(&index.to_be_bytes());
        body.extend_from_slice(&i32::try_from(records.len()).unwrap().to_be_bytes());
        body.extend_from_slice(records);
    }
    body
}

/// One partition of a Produce v0–2 response.
#[derive(Debug, PartialEq, Eq)]
struct Answer {
    index: i32,
    error_code: i16,
    base_offset: i64,
    /// From v2 on.
    log_append_time_ms: Option<i64>,
}

/// Reads a v0–2 response body exactly, as Kafka's schema lays it out:
/// `[topic [partition error_code base_offset (v2: log_append_time_ms)]]`,
/// then from v1 `throttle_time_ms`. Any byte short or left over fails.
fn parse_answers(version: i16, body: &[u8]) -> Vec<(String, Answer)> {
    let mut at = 0;
    let mut take = |n: usize| {
        let bytes = &body[at..at + n];
        at += n;
        bytes
    };
    let mut answers = Vec::new();
    let topics = i32::from_be_bytes(take(4).try_into().unwrap());
    for _ in 0..topics {
        let len = i16::from_be_bytes(take(2).try_into().unwrap());
        let name = String::from_utf8(take(usize::try_from(len).unwrap()).to_vec()).unwrap();
        let partitions = i32::from_be_bytes(take(4).try_into().unwrap());
        for _ in 0..partitions {
            let answer = Answer {
                index: i32::from_be_bytes(take(4).try_into().unwrap()),
                error_code: i16::from_be_bytes(take(2).try_into().unwrap()),
                base_offset: i64::from_be_bytes(take(8).try_into().unwrap()),
                log_append_time_ms: (version >= 2)
                    .then(|| i64::from_be_bytes(take(8).try_into().unwrap())),
            };
            answers.push((name.clone(), answer));
        }
    }
    if version >= 1 {
        assert_eq!(take(4), &0i32.to_be_bytes(), "throttle time");
    }
    assert_eq!(at, body.len(), "v{version} response: bytes left over");
    answers
}

fn answer(version: i16, index: i32, error_code: i16, base_offset: i64) -> Answer {
    Answer {
        index,
        error_code,
        base_offset,
        log_append_time_ms: (version >= 2).then_some(-1),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_versions_lists_produce_from_v0() {
    let broker = TestBroker::start().await;
    let ranges = api_versions(&mut connect(&broker));
    assert!(ranges.contains(&(0, 0, 12)), "{ranges:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_message_sets_are_refused_per_partition_and_never_stored() {
    let broker = TestBroker::start().await;
    common::create_topic(&broker, "legacy", 2, &[]).await;
    let mut stream = connect(&broker);
    for version in 0..=2 {
        for magic in [0, 1] {
            let set = legacy_message_set(magic, b"old");
            let body = produce_body(1, "legacy", &[(0, &set)]);
            let response = call(&mut stream, 0, version, &body)
                .unwrap_or_else(|| panic!("v{version} magic {magic}: connection closed"));
            assert_eq!(
                parse_answers(version, &response),
                [(
                    "legacy".to_string(),
                    answer(version, 0, UNSUPPORTED_FOR_MESSAGE_FORMAT, -1)
                )],
                "v{version} magic {magic}"
            );
            // The same connection goes on serving.
            assert!(!api_versions(&mut stream).is_empty());
        }
    }
    // Per partition: beside a refused message set, a v2 batch is stored.
    let old = legacy_message_set(1, b"old");
    let new = v2_batch(b"new");
    let body = produce_body(-1, "legacy", &[(0, &old), (1, &new)]);
    let response = call(&mut stream, 0, 2, &body).expect("answered");
    let refused = answer(2, 0, UNSUPPORTED_FOR_MESSAGE_FORMAT, -1);
    assert_eq!(
        parse_answers(2, &response),
        [
            ("legacy".to_string(), refused),
            ("legacy".to_string(), answer(2, 1, 0, 0))
        ]
    );
    assert_eq!(common::stored_batches(&broker, "legacy"), [(0, 1)]);
    let partition0 = broker.server.topics.get("legacy").unwrap().partitions[0].clone();
    assert_eq!(partition0.state.as_ref().unwrap().high_watermark(), 0);
}

/// Records no retry can fix do not create the topic they name, as Kafka
/// checks them before it looks the topic up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_message_set_does_not_create_its_topic() {
    let broker = TestBroker::start().await;
    let mut stream = connect(&broker);
    let set = legacy_message_set(0, b"old");
    let body = produce_body(1, "never-made", &[(0, &set)]);
    let response = call(&mut stream, 0, 0, &body).expect("answered");
    assert_eq!(
        parse_answers(0, &response),
        [(
            "never-made".to_string(),
            answer(0, 0, UNSUPPORTED_FOR_MESSAGE_FORMAT, -1)
        )]
    );
    assert!(broker.server.topics.get("never-made").is_none());
}

/// From v3 a client has promised magic 2 batches: an older message set is
/// INVALID_RECORD (as Kafka's `ProduceRequest.validateRecords`), which
/// clients do not retry, rather than the retriable CORRUPT_MESSAGE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_message_set_in_a_v3_request_is_an_invalid_record() {
    let broker = TestBroker::start().await;
    common::create_topic(&broker, "legacy3", 1, &[]).await;
    let mut stream = connect(&broker);
    for magic in [0, 1] {
        let set = legacy_message_set(magic, b"old");
        // v3 is v2's body after a null transactional id, and answers in v2's layout.
        let mut body = (-1i16).to_be_bytes().to_vec();
        body.extend_from_slice(&produce_body(1, "legacy3", &[(0, &set)]));
        let response = call(&mut stream, 0, 3, &body).expect("answered");
        assert_eq!(
            parse_answers(2, &response),
            [("legacy3".to_string(), answer(2, 0, INVALID_RECORD, -1))],
            "magic {magic}"
        );
    }
    assert_eq!(common::stored_batches(&broker, "legacy3"), []);
}

/// Kafka 0.11 to 3.9 stored v2 batches that came in v0–2 requests (they check
/// the magic from v3 only); so does this broker, at acks 1 and -1 (the reply
/// that waits for the fsync is encoded at the request's version too).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_batches_in_v0_to_v2_are_stored_as_from_v3() {
    let broker = TestBroker::start().await;
    common::create_topic(&broker, "v2-in-v0", 1, &[]).await;
    let mut stream = connect(&broker);
    let mut offset = 0;
    for version in 0..=2 {
        for acks in [1, -1] {
            let body = produce_body(acks, "v2-in-v0", &[(0, &v2_batch(b"new"))]);
            let response = call(&mut stream, 0, version, &body).expect("answered");
            assert_eq!(
                parse_answers(version, &response),
                [("v2-in-v0".to_string(), answer(version, 0, 0, offset))],
                "v{version} acks {acks}"
            );
            offset += 1;
        }
    }
    assert_eq!(common::stored_batches(&broker, "v2-in-v0"), [(0, 1); 6]);
}

/// acks=0 has no response to carry a refusal, so an old message set closes
/// the connection, as any failed acks=0 produce does; a v2 batch is stored
/// unanswered and the connection stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_acks_0_old_message_set_closes_its_connection() {
    let broker = TestBroker::start().await;
    common::create_topic(&broker, "legacy0", 1, &[]).await;
    let mut stream = connect(&broker);
    // A v2 batch at acks=0 is stored unanswered, and the connection stays.
    let body = produce_body(0, "legacy0", &[(0, &v2_batch(b"new"))]);
    stream.write_all(&frame(0, 0, 1, &body)).unwrap();
    assert!(api_versions(&mut stream).contains(&(0, 0, 12)));
    let set = legacy_message_set(0, b"old");
    let body = produce_body(0, "legacy0", &[(0, &set)]);
    stream.write_all(&frame(0, 0, 2, &body)).unwrap();
    common::assert_closed(&mut stream, "after a refused acks=0 old message set");
    assert!(!api_versions(&mut connect(&broker)).is_empty());
    assert_eq!(common::stored_batches(&broker, "legacy0"), [(0, 1)]);
}
