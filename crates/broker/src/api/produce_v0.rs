//! Produce v0–2: read into the v3 request the handler takes, answered in
//! their own layouts.
//!
//! Kafka 4.0 dropped these versions (KIP-896), and `kafka-protocol`,
//! generated from its schemas, reads and writes v3 and later only. They are
//! served because librdkafka before 2.11.1 (confluent-kafka 2.6, Debian's
//! kcat) turns gzip, snappy and lz4 on only if the broker's Produce range
//! reaches v0, and otherwise sends every batch uncompressed without a word
//! (librdkafka #4956); Kafka 4.0 lists v0 again for the same reason
//! (KAFKA-18659). A client picks the highest version both sides know, so
//! nothing that speaks v3 is moved down by this.
//!
//! ```text
//! request  v0–2: acks timeout_ms [topic [partition records]]
//!          v3:   transactional_id, then the same
//! response v0:   [topic [partition error_code base_offset]]
//!          v1:   the same, then throttle_time_ms
//!          v2:   log_append_time_ms after base_offset (v3 is the same bytes)
//! ```
//!
//! What is stored is decided by the records, not the version. v0–2 were made
//! for message sets of magic 0 and 1, which this broker neither stores nor
//! converts: each such partition is refused (UNSUPPORTED_FOR_MESSAGE_FORMAT,
//! see `produce::accepted_records` and [`legacy_magic`]), where Kafka 4.0
//! closes the connection on any v0–2 request and so tells the client
//! nothing. A v2 batch is stored as from v3, as Kafka 0.11 to 3.9 stored it:
//! their `ProduceRequest.validateRecords` checks the magic from v3 only, "to
//! ensure compatibility with clients which send the wrong magic version in
//! the wrong version of the produce request".

use bytes::{BufMut, Bytes, BytesMut};
use ferrolog_wire::batch::{LENGTH_AT, LOG_OVERHEAD, MAGIC_AT, MAGIC_V2};
use kafka_protocol::messages::ProduceResponse;

use crate::api::primitives::{put_array_len, put_string};

/// The oldest version `kafka-protocol` reads and writes itself.
pub const FIRST_DECODED_VERSION: i16 = 3;

/// A v0–2 body as the v3 body it is short of: a null transactional id first.
/// It copies the whole body, records included: a cost only clients too old
/// for v3 pay.
pub fn widen(body: &[u8]) -> Bytes {
    let mut v3 = BytesMut::with_capacity(body.len() + 2);
    v3.put_i16(-1);
    v3.extend_from_slice(body);
    v3.freeze()
}

/// The magic of the first entry of `records` older than v2, if any.
///
/// Every log entry of every magic starts `offset: i64 | size: i32`, and the
/// magic sits at byte 16 in all three (after a v0/v1 message's CRC, a v2
/// batch's leader epoch), so entries are walked by that framing alone. The
/// walk stops at bytes that do not frame: those are the engine's to refuse.
pub fn legacy_magic(records: &[u8]) -> Option<i8> {
    let mut rest = records;
    while let Some(&magic) = rest.get(MAGIC_AT) {
        let magic = i8::from_be_bytes([magic]);
        if (0..MAGIC_V2).contains(&magic) {
            return Some(magic);
        }
        let size = rest.get(LENGTH_AT..LENGTH_AT + 4)?;
        let size = i32::from_be_bytes(size.try_into().ok()?);
        let next = usize::try_from(size).ok()?.checked_add(LOG_OVERHEAD)?;
        rest = rest.get(next..)?;
    }
    None
}

/// Writes `response` as a body of `version` (0, 1 or 2).
pub fn write_body(
    out: &mut BytesMut,
    response: &ProduceResponse,
    version: i16,
) -> anyhow::Result<()> {
    put_array_len(out, response.responses.len(), false)?;
    for topic in &response.responses {
        put_string(out, topic.name.as_bytes(), false)?;
        put_array_len(out, topic.partition_responses.len(), false)?;
        for partition in &topic.partition_responses {
            out.put_i32(partition.index);
            out.put_i16(partition.error_code);
            out.put_i64(partition.base_offset);
            if version >= 2 {
                out.put_i64(partition.log_append_time_ms);
            }
        }
    }
    if version >= 1 {
        out.put_i32(response.throttle_time_ms);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::produce_response::{
        PartitionProduceResponse, TopicProduceResponse,
    };
    use kafka_protocol::messages::{ProduceRequest, TopicName};
    use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

    use super::*;

    /// A v0 (`timestamp` None) or v1 message: offset, size, crc, magic,
    /// attributes, [timestamp], null key, value. The CRC is not computed:
    /// nothing here reads it.
    fn message(magic: i8, timestamp: Option<i64>, value: &[u8]) -> Vec<u8> {
        let mut body = vec![0u8; 4];
        body.push(magic.to_be_bytes()[0]);
        body.push(0);
        if let Some(t) = timestamp {
            body.extend_from_slice(&t.to_be_bytes());
        }
        body.extend_from_slice(&(-1i32).to_be_bytes());
        body.extend_from_slice(&i32::try_from(value.len()).unwrap().to_be_bytes());
        body.extend_from_slice(value);
        let mut entry = 7i64.to_be_bytes().to_vec();
        entry.extend_from_slice(&i32::try_from(body.len()).unwrap().to_be_bytes());
        entry.extend_from_slice(&body);
        entry
    }

    /// The framing of a v2 batch of `len` bytes after its length field.
    fn v2_batch(len: usize) -> Vec<u8> {
        let mut batch = vec![0u8; LOG_OVERHEAD + len];
        batch[LENGTH_AT..LENGTH_AT + 4].copy_from_slice(&i32::try_from(len).unwrap().to_be_bytes());
        batch[MAGIC_AT] = 2;
        batch
    }

    #[test]
    fn old_message_sets_are_told_from_v2_batches() {
        let v0 = message(0, None, b"a");
        let v1 = message(1, Some(1_700_000_000_000), b"b");
        assert_eq!(legacy_magic(&v0), Some(0));
        assert_eq!(legacy_magic(&[v1.clone(), v0.clone()].concat()), Some(1));
        assert_eq!(legacy_magic(&v2_batch(60)), None);
        assert_eq!(legacy_magic(&[v2_batch(60), v2_batch(49)].concat()), None);
        // An old message behind v2 batches is found too.
        assert_eq!(legacy_magic(&[v2_batch(60), v1].concat()), Some(1));
    }

    #[test]
    fn bytes_that_do_not_frame_are_left_to_the_engine() {
        assert_eq!(legacy_magic(&[]), None);
        assert_eq!(
            legacy_magic(&[0u8; MAGIC_AT]),
            None,
            "too short for a magic"
        );
        let mut torn = v2_batch(60);
        torn[LENGTH_AT..LENGTH_AT + 4].copy_from_slice(&(-5i32).to_be_bytes());
        assert_eq!(legacy_magic(&[torn, message(0, None, b"x")].concat()), None);
        let mut huge = v2_batch(60);
        huge[LENGTH_AT..LENGTH_AT + 4].copy_from_slice(&i32::MAX.to_be_bytes());
        assert_eq!(legacy_magic(&huge), None);
    }

    #[test]
    fn a_v0_body_decodes_as_the_v3_body_without_its_transactional_id() {
        let partition = PartitionProduceData::default()
            .with_index(2)
            .with_records(Some(Bytes::from(message(1, Some(5), b"v"))));
        let topic = TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_static_str("t")))
            .with_partition_data(vec![partition]);
        let request = ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(1500)
            .with_topic_data(vec![topic]);
        let mut v3 = BytesMut::new();
        request.encode(&mut v3, 3).unwrap();
        // A null transactional id is the two bytes a v0 body lacks.
        assert_eq!(&v3[..2], &[0xff, 0xff]);
        let v0 = &v3[2..];
        assert_eq!(widen(v0), &v3[..]);
        let decoded = ProduceRequest::decode(&mut widen(v0), 3).unwrap();
        assert_eq!(decoded, request);
    }

    fn response() -> ProduceResponse {
        let partition = |index, error_code, base_offset| {
            PartitionProduceResponse::default()
                .with_index(index)
                .with_error_code(error_code)
                .with_base_offset(base_offset)
                .with_log_append_time_ms(-1)
                .with_log_start_offset(-1)
        };
        let topic = TopicProduceResponse::default()
            .with_name(TopicName(StrBytes::from_static_str("t")))
            .with_partition_responses(vec![partition(0, 43, -1), partition(1, 0, 9)]);
        ProduceResponse::default()
            .with_responses(vec![topic])
            .with_throttle_time_ms(0)
    }

    fn written(version: i16) -> Vec<u8> {
        let mut out = BytesMut::new();
        write_body(&mut out, &response(), version).unwrap();
        out.to_vec()
    }

    #[test]
    fn v2_is_written_as_the_crate_writes_v3() {
        let mut v3 = BytesMut::new();
        response().encode(&mut v3, 3).unwrap();
        assert_eq!(written(2), v3.to_vec());
    }

    #[test]
    fn v0_and_v1_lack_the_append_time_and_v0_the_throttle_time() {
        let mut v0 = Vec::new();
        v0.extend_from_slice(&1i32.to_be_bytes());
        v0.extend_from_slice(&[0, 1, b't']);
        v0.extend_from_slice(&2i32.to_be_bytes());
        for (index, error_code, base_offset) in [(0i32, 43i16, -1i64), (1, 0, 9)] {
            v0.extend_from_slice(&index.to_be_bytes());
            v0.extend_from_slice(&error_code.to_be_bytes());
            v0.extend_from_slice(&base_offset.to_be_bytes());
        }
        assert_eq!(written(0), v0);
        let v1 = [v0, 0i32.to_be_bytes().to_vec()].concat();
        assert_eq!(written(1), v1);
    }
}
