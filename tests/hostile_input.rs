//! Hostile and malformed input against a live broker (issue 6).
//!
//! Every case opens its own connection, sends bytes no well-behaved client
//! sends, and must get either a Kafka error response or a closed connection
//! within a few seconds. Afterwards the broker must still serve a fresh client,
//! a client that stayed connected throughout must be unaffected, the log must
//! hold nothing from a rejected batch, and the process's memory must stay bounded.

mod common;

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, ProduceRequest,
    ProduceResponse, RequestHeader, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use rand::{Rng, SeedableRng};
use rdkafka::consumer::Consumer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const PROMPT: Duration = Duration::from_secs(5);
const TOPIC: &str = "hostile";

/// What a case may get back.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// An error response or a closed connection: both are acceptable.
    ErrorOrClose,
    /// The connection must be closed (nothing parseable was sent).
    Close,
    /// A Produce response whose only partition carries this error code.
    ProduceError(i16),
    /// An ApiVersions v0 body with this error code.
    ApiVersionsError(i16),
}

#[derive(Debug)]
struct Case {
    name: String,
    bytes: Vec<u8>,
    expect: Expect,
}

const CORRUPT_MESSAGE: i16 = 2;
const UNSUPPORTED_VERSION: i16 = 35;
const UNSUPPORTED_COMPRESSION_TYPE: i16 = 76;
const INVALID_RECORD: i16 = 87;

fn case(name: impl Into<String>, bytes: Vec<u8>, expect: Expect) -> Case {
    Case {
        name: name.into(),
        bytes,
        expect,
    }
}

/// A frame: 4-byte big-endian size, then the body.
fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 4);
    out.extend_from_slice(&(body.len() as i32).to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// A non-flexible (v1) request header: key, version, correlation id, client id.
fn header_v1(api_key: i16, version: i16, correlation_id: i32) -> BytesMut {
    let mut b = BytesMut::new();
    b.put_i16(api_key);
    b.put_i16(version);
    b.put_i32(correlation_id);
    b.put_i16(4);
    b.put_slice(b"evil");
    b
}

fn encode_request<R: Encodable + HeaderVersion>(key: ApiKey, version: i16, req: &R) -> Vec<u8> {
    let header = RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(7)
        .with_client_id(Some(StrBytes::from_static_str("hostile-test")));
    let mut body = BytesMut::new();
    header
        .encode(&mut body, R::header_version(version))
        .expect("encode header");
    req.encode(&mut body, version).expect("encode body");
    body.to_vec()
}

fn record_batch(count: usize, compression: Compression) -> BytesMut {
    let records: Vec<Record> = (0..count)
        .map(|i| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: -1,
            timestamp: 1_700_000_000_000 + i as i64,
            key: Some(Bytes::from(format!("k{i}"))),
            value: Some(Bytes::from(vec![b'v'; 64])),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
    )
    .expect("encode batch");
    buf
}

fn produce_body(topic: &'static str, records: Bytes) -> Vec<u8> {
    produce_body_v(topic, records, 8)
}

fn produce_body_v(topic: &'static str, records: Bytes, version: i16) -> Vec<u8> {
    let req = ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(5_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_static_str(topic)))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(records)),
                ]),
        ]);
    encode_request(ApiKey::Produce, version, &req)
}

// Byte positions inside a v2 record batch header (docs/FORMAT.md).
const BATCH_LENGTH: usize = 8;
const BATCH_MAGIC: usize = 16;
const BATCH_CRC: usize = 17;
const BATCH_ATTRIBUTES: usize = 21;
const BATCH_LAST_OFFSET_DELTA: usize = 23;
const BATCH_RECORD_COUNT: usize = 57;

fn bad_frame_sizes() -> Vec<Case> {
    let sizes: [(i32, &str); 8] = [
        (-1, "negative size"),
        (i32::MIN, "i32::MIN size"),
        (0, "zero size"),
        (1, "one-byte body"),
        (3, "three-byte body"),
        (i32::MAX, "i32::MAX size, no body"),
        (200 * 1024 * 1024, "200 MiB declared, no body"),
        (1 << 30, "1 GiB declared, no body"),
    ];
    sizes
        .iter()
        .map(|(size, name)| {
            let mut bytes = size.to_be_bytes().to_vec();
            // Give the small ones the body they claim, so only the size is wrong.
            if (0..8).contains(size) {
                bytes.extend(std::iter::repeat_n(0u8, *size as usize));
            }
            case(format!("frame size: {name}"), bytes, Expect::Close)
        })
        .collect()
}

fn truncated_headers() -> Vec<Case> {
    let full = encode_request(
        ApiKey::Metadata,
        1,
        &MetadataRequest::default().with_topics(None),
    );
    // A v1 header is 2+2+4+2+len(client id) bytes; cut inside it.
    (1..18)
        .map(|cut| {
            case(
                format!("header truncated at {cut}"),
                frame(&full[..cut]),
                Expect::ErrorOrClose,
            )
        })
        .collect()
}

fn unknown_keys_and_versions() -> Vec<Case> {
    let mut cases: Vec<Case> = [-1i16, 99, 1000, 9999, i16::MAX, i16::MIN]
        .iter()
        .map(|key| {
            let body = header_v1(*key, 0, 1);
            case(
                format!("unknown api key {key}"),
                frame(&body),
                Expect::ErrorOrClose,
            )
        })
        .collect();
    for version in [-1i16, 5, 99, i16::MAX] {
        let body = header_v1(ApiKey::ApiVersions as i16, version, 1);
        cases.push(case(
            format!("ApiVersions v{version}"),
            frame(&body),
            Expect::ApiVersionsError(UNSUPPORTED_VERSION),
        ));
    }
    for (key, version) in [
        (ApiKey::Produce, 99i16),
        (ApiKey::Fetch, 99),
        (ApiKey::Metadata, 99),
        (ApiKey::ListOffsets, 99),
        (ApiKey::Produce, -1),
        (ApiKey::Fetch, 0),
        (ApiKey::Produce, 0),
        (ApiKey::CreateTopics, 99),
    ] {
        let body = header_v1(key as i16, version, 1);
        cases.push(case(
            format!("{key:?} v{version}"),
            frame(&body),
            Expect::ErrorOrClose,
        ));
    }
    cases
}

/// Flexible-version headers whose tagged-field varint never terminates or overflows.
fn invalid_varints() -> Vec<Case> {
    let tails: [(&[u8], &str); 5] = [
        (&[0xff, 0xff, 0xff, 0xff, 0xff, 0x0f], "5+ byte varint"),
        (
            &[
                0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
            ],
            "10-byte varint",
        ),
        (&[0x80], "unterminated varint"),
        (&[0x01, 0xff, 0xff, 0xff, 0xff, 0x0f], "tag with huge size"),
        (&[0x05, 0x00, 0x7f], "5 tags, one given"),
    ];
    tails
        .iter()
        .map(|(tail, name)| {
            // Metadata v9+ uses request header v2 (flexible).
            let mut body = header_v1(ApiKey::Metadata as i16, 12, 3);
            body.put_slice(tail);
            case(
                format!("flexible header: {name}"),
                frame(&body),
                Expect::ErrorOrClose,
            )
        })
        .collect()
}

fn negative_lengths() -> Vec<Case> {
    let mut cases = Vec::new();
    for len in [-2i16, -100, i16::MIN] {
        let mut body = BytesMut::new();
        body.put_i16(ApiKey::Metadata as i16);
        body.put_i16(1);
        body.put_i32(1);
        body.put_i16(len); // client id length
        body.put_slice(b"abc");
        cases.push(case(
            format!("client id length {len}"),
            frame(&body),
            Expect::ErrorOrClose,
        ));
    }
    for len in [-2i32, -100, i32::MIN] {
        let mut body = header_v1(ApiKey::Metadata as i16, 1, 1);
        body.put_i32(len); // topics array length
        cases.push(case(
            format!("array length {len}"),
            frame(&body),
            Expect::ErrorOrClose,
        ));
    }
    let mut body = header_v1(ApiKey::Metadata as i16, 1, 1);
    body.put_i32(1);
    body.put_i16(-7); // topic name length
    cases.push(case(
        "topic name length -7",
        frame(&body),
        Expect::ErrorOrClose,
    ));
    cases
}

/// Tiny frames that declare enormous arrays: decoding must not allocate from the
/// declared count (the 8-byte frame claiming 2^31 elements among them).
fn huge_declared_counts() -> Vec<Case> {
    let mut cases = Vec::new();
    let v0_metadata = [
        0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff,
    ];
    cases.push(case(
        "metadata v0: 2^31-1 topics in 14 bytes",
        frame(&v0_metadata),
        Expect::ErrorOrClose,
    ));
    let keys: [(ApiKey, i16); 12] = [
        (ApiKey::Metadata, 1),
        (ApiKey::Metadata, 4),
        (ApiKey::Produce, 3),
        (ApiKey::Produce, 8),
        (ApiKey::Fetch, 4),
        (ApiKey::ListOffsets, 1),
        (ApiKey::CreateTopics, 2),
        (ApiKey::DeleteTopics, 1),
        (ApiKey::DescribeConfigs, 0),
        (ApiKey::DescribeConfigs, 1),
        // v0 is decoded as v1 by the broker, not by the crate (api/describe_log_dirs.rs).
        (ApiKey::DescribeLogDirs, 0),
        (ApiKey::DescribeLogDirs, 1),
    ];
    for (key, version) in keys {
        for count in [i32::MAX, 0x033c_0c00, 1 << 24] {
            let mut body = header_v1(key as i16, version, 1);
            // Produce and Fetch have fixed fields before their first array; fill them
            // with the declared count itself, so every i32 read is hostile.
            for _ in 0..4 {
                body.put_i32(count);
            }
            cases.push(case(
                format!("{key:?} v{version}: count {count:#x}"),
                frame(&body),
                Expect::ErrorOrClose,
            ));
        }
    }
    // Flexible versions: compact arrays whose varint count is ~2^32.
    for (key, version) in [
        (ApiKey::Metadata, 12i16),
        (ApiKey::Produce, 9),
        (ApiKey::Fetch, 12),
        (ApiKey::CreateTopics, 5),
        (ApiKey::ApiVersions, 3),
        (ApiKey::DescribeLogDirs, 2),
    ] {
        let mut body = header_v1(key as i16, version, 1);
        body.put_u8(0); // no tagged fields in the header
        for _ in 0..3 {
            body.put_slice(&[0xfe, 0xff, 0xff, 0xff, 0x0f]);
        }
        cases.push(case(
            format!("{key:?} v{version}: compact count ~2^32"),
            frame(&body),
            Expect::ErrorOrClose,
        ));
    }
    cases
}

fn truncated_bodies() -> Vec<Case> {
    let produce = produce_body(TOPIC, record_batch(5, Compression::None).freeze());
    let metadata = encode_request(
        ApiKey::Metadata,
        12,
        &MetadataRequest::default().with_topics(None),
    );
    let mut cases = Vec::new();
    for cut in [20usize, 30, 40, 60, 80, 100, 150, 200] {
        if cut < produce.len() {
            cases.push(case(
                format!("produce v8 truncated at {cut}"),
                frame(&produce[..cut]),
                Expect::ErrorOrClose,
            ));
        }
    }
    for cut in [metadata.len() - 1, metadata.len() - 2] {
        cases.push(case(
            format!("metadata v12 truncated at {cut}"),
            frame(&metadata[..cut]),
            Expect::ErrorOrClose,
        ));
    }
    cases
}

/// Record batches that lie about themselves: each must be refused with CORRUPT_MESSAGE.
fn corrupt_batches() -> Vec<Case> {
    let good = record_batch(5, Compression::None);
    let mutate = |name: &str, f: &dyn Fn(&mut BytesMut)| {
        let mut batch = good.clone();
        f(&mut batch);
        case(
            format!("batch: {name}"),
            frame(&produce_body(TOPIC, batch.freeze())),
            Expect::ProduceError(CORRUPT_MESSAGE),
        )
    };
    let set_i32 =
        |b: &mut BytesMut, at: usize, v: i32| b[at..at + 4].copy_from_slice(&v.to_be_bytes());
    let len = good.len() as i32;
    vec![
        mutate("crc flipped", &|b| b[BATCH_CRC] ^= 0xff),
        mutate("record byte flipped", &|b| {
            let n = b.len();
            b[n - 3] ^= 0x01
        }),
        mutate("attributes flipped", &|b| b[BATCH_ATTRIBUTES + 1] ^= 0x02),
        mutate("magic 3", &|b| b[BATCH_MAGIC] = 3),
        mutate("length too large", &|b| set_i32(b, BATCH_LENGTH, len + 100)),
        mutate("length too small", &|b| set_i32(b, BATCH_LENGTH, len - 30)),
        mutate("length negative", &|b| set_i32(b, BATCH_LENGTH, -5)),
        mutate("length below header", &|b| set_i32(b, BATCH_LENGTH, 10)),
        mutate("truncated batch", &|b| b.truncate(b.len() - 7)),
        mutate("trailing garbage", &|b| {
            b.put_slice(&[0xde, 0xad, 0xbe, 0xef, 1, 2, 3])
        }),
        mutate("good batch then corrupt one", &|b| {
            let mut second = good.clone();
            second[BATCH_CRC] ^= 0x55;
            b.put_slice(&second);
        }),
    ]
}

/// Batches whose header and CRC are sound but whose records are not what
/// the header says, or that a client may not write: kept out of the log, or
/// every consumer of the partition would fail on them one after another.
fn malformed_records() -> Vec<Case> {
    let good = record_batch(5, Compression::None);
    let mutate = |name: &str, expect: i16, f: &dyn Fn(&mut BytesMut)| {
        let mut batch = good.clone();
        f(&mut batch);
        fix_crc(&mut batch);
        case(
            format!("records: {name}"),
            frame(&produce_body(TOPIC, batch.freeze())),
            Expect::ProduceError(expect),
        )
    };
    let set_i32 =
        |b: &mut BytesMut, at: usize, v: i32| b[at..at + 4].copy_from_slice(&v.to_be_bytes());
    let set_attributes = |b: &mut BytesMut, bits: u8| b[BATCH_ATTRIBUTES + 1] |= bits;
    let mut cases = vec![
        // Kafka's answer to a magic 0 or 1 entry in a v3+ request (the CRC
        // does not cover the magic).
        mutate("magic 1", INVALID_RECORD, &|b| b[BATCH_MAGIC] = 1),
        // Header consistency: the count must match the offsets, as Kafka's
        // LogValidator requires.
        mutate("record count lies", INVALID_RECORD, &|b| {
            set_i32(b, BATCH_RECORD_COUNT, 5000)
        }),
        mutate("last offset delta lies", INVALID_RECORD, &|b| {
            set_i32(b, BATCH_LAST_OFFSET_DELTA, 99)
        }),
        mutate("negative record count", INVALID_RECORD, &|b| {
            set_i32(b, BATCH_RECORD_COUNT, -1)
        }),
        // kafka-protocol writes these five records as five batches of one.
        mutate("count says 2 of 1", INVALID_RECORD, &|b| {
            set_i32(b, BATCH_RECORD_COUNT, 2);
            set_i32(b, BATCH_LAST_OFFSET_DELTA, 1);
        }),
        mutate("records are text", INVALID_RECORD, &|b| {
            let n = b.len();
            b[61..n].fill(b'x');
        }),
        mutate("first record length + 1", INVALID_RECORD, &|b| b[61] += 2),
        mutate(
            "offset delta 7 in a one-record batch",
            INVALID_RECORD,
            &|b| {
                // A record is `length | attributes | timestamp delta | offset delta | ...`,
                // and these deltas are one byte each.
                let (_, n) = zigzag_at(b, 61);
                assert_eq!(b[61 + n + 2], 0, "the first record's offset delta");
                b[61 + n + 2] = 14;
            },
        ),
        mutate("control bit set by a client", INVALID_RECORD, &|b| {
            set_attributes(b, 0x20)
        }),
        mutate(
            "transactional bit without a transaction",
            INVALID_RECORD,
            &|b| set_attributes(b, 0x10),
        ),
    ];
    for codec in 5..=7 {
        cases.push(mutate(
            &format!("compression id {codec}"),
            UNSUPPORTED_COMPRESSION_TYPE,
            &|b| set_attributes(b, codec),
        ));
    }
    // zstd is refused below Produce v7 (the client could not read it back).
    cases.push(case(
        "records: zstd over Produce v6",
        frame(&produce_body_v(
            TOPIC,
            record_batch(3, Compression::Zstd).freeze(),
            6,
        )),
        Expect::ProduceError(UNSUPPORTED_COMPRESSION_TYPE),
    ));
    cases
}

/// The zig-zag varint at `at`, and its length in bytes.
fn zigzag_at(bytes: &[u8], at: usize) -> (i64, usize) {
    let mut raw = 0u64;
    for (i, byte) in bytes[at..].iter().take(10).enumerate() {
        raw |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return ((raw >> 1) as i64 ^ -((raw & 1) as i64), i + 1);
        }
    }
    panic!("no varint at {at}")
}

/// Recomputes the CRC of the first batch in `batch` (which may hold more).
fn fix_crc(batch: &mut BytesMut) {
    let length = i32::from_be_bytes(
        batch[BATCH_LENGTH..BATCH_LENGTH + 4]
            .try_into()
            .expect("a 4-byte length"),
    );
    let end = (12 + length.max(0) as usize).min(batch.len());
    let crc = crc32c_of(&batch[BATCH_ATTRIBUTES..end.max(BATCH_ATTRIBUTES)]);
    batch[BATCH_CRC..BATCH_CRC + 4].copy_from_slice(&crc.to_be_bytes());
}

/// CRC-32C (Castagnoli), bitwise: test-only, slow, obviously right.
fn crc32c_of(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x82f6_3b78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A batch whose attributes name a codec and whose body is a tiny zstd frame
/// that claims a huge decompressed size. The broker walks a compressed
/// batch's records as it decompresses them, holding none, so it refuses
/// each without inflating it.
fn decompression_bombs() -> Vec<Case> {
    let mut cases = Vec::new();
    for (codec, name) in [(4i16, "zstd"), (1, "gzip"), (2, "snappy"), (3, "lz4")] {
        let mut batch = record_batch(3, Compression::None);
        let attrs =
            i16::from_be_bytes([batch[BATCH_ATTRIBUTES], batch[BATCH_ATTRIBUTES + 1]]) | codec;
        batch[BATCH_ATTRIBUTES..BATCH_ATTRIBUTES + 2].copy_from_slice(&attrs.to_be_bytes());
        batch.truncate(61);
        // A zstd frame header declaring a 4 GiB content size, then nothing.
        batch.put_slice(&[
            0x28, 0xb5, 0x2f, 0xfd, 0xa4, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
        ]);
        let total = batch.len() as i32 - 12;
        batch[BATCH_LENGTH..BATCH_LENGTH + 4].copy_from_slice(&total.to_be_bytes());
        fix_crc(&mut batch);
        cases.push(case(
            format!("decompression bomb ({name})"),
            frame(&produce_body(TOPIC, batch.freeze())),
            Expect::ProduceError(INVALID_RECORD),
        ));
    }
    cases
}

fn random_garbage() -> Vec<Case> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x00fe_4401);
    (0..25)
        .map(|i| {
            let len = rng.random_range(1..512);
            let mut body: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            // Half the cases carry a real API key so they get past dispatch.
            if i % 2 == 0 && body.len() >= 4 {
                body[0] = 0;
                body[1] = [0u8, 1, 3, 18, 19][i % 5];
            }
            case(
                format!("random garbage #{i} ({len} bytes)"),
                frame(&body),
                Expect::ErrorOrClose,
            )
        })
        .collect()
}

fn all_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    cases.extend(bad_frame_sizes());
    cases.extend(truncated_headers());
    cases.extend(unknown_keys_and_versions());
    cases.extend(invalid_varints());
    cases.extend(negative_lengths());
    cases.extend(huge_declared_counts());
    cases.extend(truncated_bodies());
    cases.extend(corrupt_batches());
    cases.extend(malformed_records());
    cases.extend(decompression_bombs());
    cases.extend(random_garbage());
    cases
}

/// Sends the case and returns the first response frame's body, or None if the
/// broker closed the connection. Panics (fails the test) if neither happens in time.
async fn exchange(addr: std::net::SocketAddr, case: &Case) -> Option<Bytes> {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    // The broker may close before it has read everything; that is allowed.
    if stream.write_all(&case.bytes).await.is_err() {
        return None;
    }
    let outcome = tokio::time::timeout(PROMPT, read_frame(&mut stream)).await;
    match outcome {
        Ok(frame) => frame,
        Err(_) => panic!(
            "case {:?}: no response and no close within {PROMPT:?}",
            case.name
        ),
    }
}

async fn read_frame(stream: &mut TcpStream) -> Option<Bytes> {
    let mut size = [0u8; 4];
    stream.read_exact(&mut size).await.ok()?;
    let size = i32::from_be_bytes(size);
    assert!(
        (0..64 << 20).contains(&size),
        "broker sent a frame of size {size}"
    );
    let mut body = vec![0u8; size as usize];
    stream.read_exact(&mut body).await.ok()?;
    Some(Bytes::from(body))
}

fn check(case: &Case, response: Option<Bytes>) {
    match (case.expect, response) {
        (Expect::ErrorOrClose, _) => {}
        (Expect::Close, None) => {}
        (Expect::Close, Some(body)) => panic!(
            "case {:?}: expected a close, got {} bytes",
            case.name,
            body.len()
        ),
        (Expect::ApiVersionsError(code), Some(mut body)) => {
            ResponseHeader::decode(&mut body, 0).expect("response header v0");
            let resp = ApiVersionsResponse::decode(&mut body, 0).expect("ApiVersions v0 body");
            assert_eq!(resp.error_code, code, "case {:?}", case.name);
            assert!(
                resp.api_keys
                    .iter()
                    .any(|k| k.api_key == ApiKey::ApiVersions as i16),
                "case {:?}: the UNSUPPORTED_VERSION answer must carry the ApiVersions range",
                case.name
            );
        }
        (Expect::ProduceError(code), Some(mut body)) => {
            // The request's version, from its header after the frame size and API key.
            let version = i16::from_be_bytes([case.bytes[6], case.bytes[7]]);
            ResponseHeader::decode(&mut body, ProduceResponse::header_version(version))
                .expect("header");
            let resp = ProduceResponse::decode(&mut body, version).expect("produce response");
            let partition = &resp.responses[0].partition_responses[0];
            assert_eq!(partition.error_code, code, "case {:?}", case.name);
        }
        (expect, None) => panic!(
            "case {:?}: expected {expect:?}, but the connection was closed",
            case.name
        ),
    }
}

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

async fn api_versions_roundtrip(stream: &mut TcpStream) {
    let body = encode_request(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
    stream.write_all(&frame(&body)).await.expect("write");
    let mut resp = tokio::time::timeout(PROMPT, read_frame(stream))
        .await
        .expect("in time")
        .expect("a response");
    ResponseHeader::decode(&mut resp, 0).expect("header");
    let decoded = ApiVersionsResponse::decode(&mut resp, 3).expect("body");
    assert_eq!(decoded.error_code, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_errors_or_closes_and_harm_nobody() {
    let mut broker = common::TestBroker::start().await;
    let addr = broker.addr;
    common::create_topic(&broker, TOPIC, 1, &[]).await;

    // A client that stays connected through the whole barrage.
    let mut bystander = TcpStream::connect(addr).await.expect("connect");
    api_versions_roundtrip(&mut bystander).await;

    let cases = all_cases();
    assert!(cases.len() >= 100, "corpus has only {} cases", cases.len());
    eprintln!("hostile input: {} malformed cases", cases.len());
    let rss_before = rss_bytes();
    for case in &cases {
        let response = exchange(addr, case).await;
        check(case, response);
    }
    let rss_growth = rss_bytes().saturating_sub(rss_before);

    // Still up for new clients and for the one that stayed.
    let mut fresh = TcpStream::connect(addr)
        .await
        .expect("broker still accepts");
    api_versions_roundtrip(&mut fresh).await;
    api_versions_roundtrip(&mut bystander).await;

    // Nothing from a refused batch reached the log.
    let consumer = broker.consumer(&[]);
    let (low, high) =
        tokio::task::block_in_place(|| consumer.fetch_watermarks(TOPIC, 0, common::TIMEOUT))
            .expect("watermarks");
    assert_eq!((low, high), (0, 0), "a corrupt batch was appended");
    assert!(
        rss_growth < 256 << 20,
        "memory grew by {rss_growth} bytes over {} cases",
        cases.len()
    );
    broker.stop().await;
}
