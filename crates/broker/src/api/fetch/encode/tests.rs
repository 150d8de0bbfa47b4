use kafka_protocol::messages::TopicName;
use kafka_protocol::messages::fetch_response::{EpochEndOffset, FetchableTopicResponse};
use kafka_protocol::protocol::StrBytes;

use super::*;

fn partition(index: i32, records: Option<Bytes>) -> PartitionData {
    PartitionData::default()
        .with_partition_index(index)
        .with_high_watermark(1_000 + i64::from(index))
        .with_last_stable_offset(900)
        .with_log_start_offset(3)
        .with_records(records)
}

/// Two topics; partitions with large (shared), small (copied), empty, null
/// records and an error code.
fn response() -> FetchResponse {
    let large = Bytes::from((0..20_000u32).map(|i| i as u8).collect::<Vec<_>>());
    let topic = |name: &str, partitions| {
        FetchableTopicResponse::default()
            .with_topic(TopicName(StrBytes::from_string(name.to_owned())))
            .with_partitions(partitions)
    };
    FetchResponse::default()
        .with_throttle_time_ms(7)
        .with_session_id(0)
        .with_responses(vec![
            topic(
                "orders",
                vec![
                    partition(0, Some(large.clone())),
                    partition(1, Some(Bytes::from_static(b"tiny batch bytes"))),
                    partition(2, Some(Bytes::new())),
                ],
            ),
            topic(
                "events",
                vec![
                    partition(0, None).with_error_code(1),
                    partition(5, Some(large.slice(100..9_000))),
                ],
            ),
        ])
}

async fn written(out: &mut Outbound) -> Vec<u8> {
    let mut sink = Vec::new();
    out.write_to(&mut sink).await.expect("write");
    sink
}

#[tokio::test]
async fn identical_to_the_crate_encoding_in_every_served_version() {
    for version in 4..=12 {
        let header_version =
            kafka_protocol::messages::ApiKey::Fetch.response_header_version(version);
        let mut expected = BytesMut::new();
        frame::encode_response(&mut expected, 42, header_version, &response(), version)
            .expect("encode");
        let mut out = Outbound::default();
        encode_frame(&mut out, 42, header_version, response(), version).expect("encode");
        assert_eq!(
            written(&mut out).await,
            expected.to_vec(),
            "Fetch v{version}"
        );
    }
}

#[tokio::test]
async fn large_records_are_shared_not_copied() {
    let mut out = Outbound::default();
    encode_frame(&mut out, 1, 0, response(), 11).expect("encode");
    // Everything but the two large record sets went through the buffer.
    assert!(out.buf().len() < 1_000, "{} bytes copied", out.buf().len());
    assert!(out.len() > 28_000);
}

#[tokio::test]
async fn tagged_fields_fall_back_to_the_copying_encoder() {
    let mut with_tag = response();
    with_tag.responses[0].partitions[0].diverging_epoch =
        EpochEndOffset::default().with_epoch(3).with_end_offset(9);
    assert!(!splittable(&with_tag, 12));
    let mut expected = BytesMut::new();
    frame::encode_response(&mut expected, 5, 1, &with_tag, 12).expect("encode");
    let mut out = Outbound::default();
    encode_frame(&mut out, 5, 1, with_tag, 12).expect("encode");
    assert_eq!(written(&mut out).await, expected.to_vec());
}

#[test]
fn uvarint_is_kafkas_encoding() {
    let cases: [(u32, &[u8]); 6] = [
        (0, &[0]),
        (1, &[1]),
        (127, &[0x7f]),
        (128, &[0x80, 0x01]),
        (300, &[0xac, 0x02]),
        (u32::MAX, &[0xff, 0xff, 0xff, 0xff, 0x0f]),
    ];
    for (value, expected) in cases {
        let mut out = BytesMut::new();
        put_uvarint(&mut out, value);
        assert_eq!(&out[..], expected, "{value}");
    }
}
