//! Produce to a compacted topic: every record must have a key, as Kafka's
//! `LogValidator.validateKey` demands ("Compacted topic cannot accept message
//! without key"). Run only for topics whose `cleanup.policy` lists
//! `compact`; other topics never walk their records here.

use ferrolog_storage::format;
use ferrolog_wire::batch::HEADER_LEN;
use ferrolog_wire::compression::{self, Codec};
use ferrolog_wire::records::{DECOMPRESSED_BYTES_MAX, Records};

/// The records without a key in the first batch that has any: each one's
/// index in its batch (Kafka's `RecordError.batchIndex`).
#[derive(Debug, PartialEq, Eq)]
pub struct Keyless {
    pub indexes: Vec<i32>,
}

/// The first batch of `records` holding a record without a key, as Kafka
/// fails the request at the first batch with record errors. Bytes that do
/// not frame, decompress or walk are left to the engine's append, which
/// refuses them with its own error: this check judges keys only.
pub fn first_keyless(records: &[u8]) -> Option<Keyless> {
    let mut rest = records;
    while let Ok((header, size)) = format::batch::frame(rest) {
        let batch = rest.get(..size).unwrap_or_default();
        rest = rest.get(size..).unwrap_or_default();
        let section = batch.get(HEADER_LEN..).unwrap_or_default();
        let codec = Codec::from_attributes(header.attributes)?;
        let indexes = match codec {
            Codec::None => keyless_in(section),
            _ => {
                // The same ceiling the engine's own check of the batch has.
                let section =
                    compression::decompress(codec, section, DECOMPRESSED_BYTES_MAX).ok()?;
                keyless_in(&section)
            }
        }?;
        if !indexes.is_empty() {
            return Some(Keyless { indexes });
        }
    }
    None
}

/// The indexes of the records of a decompressed `section` that have no key;
/// `None` if the section does not walk (the engine refuses it).
fn keyless_in(section: &[u8]) -> Option<Vec<i32>> {
    let mut indexes = Vec::new();
    for (index, record) in (0i32..).zip(Records::new(section)) {
        if record.ok()?.key.is_none() {
            indexes.push(index);
        }
    }
    Some(indexes)
}

/// Kafka's message for one keyless record (`LogValidator.validateKey`).
pub fn record_message(topic: &str, partition: i32) -> String {
    format!(
        "Compacted topic cannot accept message without key in topic partition {topic}-{partition}."
    )
}

/// Kafka's message for the whole refusal (`LogValidator.processRecordErrors`),
/// which quotes at most three of the record errors.
pub fn refusal_message(keyless: &Keyless, topic: &str, partition: i32) -> String {
    let record = record_message(topic, partition);
    let shown: Vec<String> = keyless
        .indexes
        .iter()
        .take(3)
        .map(|i| format!("RecordError(batchIndex={i}, message='{record}')"))
        .collect();
    format!(
        "One or more records have been rejected due to {} record errors in total, and only showing the first three errors at most: [{}]",
        keyless.indexes.len(),
        shown.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{BufMut, BytesMut};
    use ferrolog_wire::batch::{
        ATTRIBUTES_AT, CRC_AT, LAST_OFFSET_DELTA_AT, LENGTH_AT, LOG_OVERHEAD, MAGIC_AT,
        RECORDS_COUNT_AT,
    };
    use kafka_protocol::compression::{Compressor, Gzip, Lz4, Snappy, Zstd};
    use kafka_protocol::records::Compression;

    fn varint(out: &mut Vec<u8>, value: i64) {
        let mut v = ((value << 1) ^ (value >> 63)) as u64;
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    fn bytes_field(out: &mut Vec<u8>, field: Option<&str>) {
        match field {
            Some(s) => {
                varint(out, s.len() as i64);
                out.extend_from_slice(s.as_bytes());
            }
            None => varint(out, -1),
        }
    }

    /// One v2 batch of (key, value) records, built by hand (the broker's
    /// tests do not depend on the client crate that encodes batches).
    fn batch(records: &[(Option<&str>, Option<&str>)], compression: Compression) -> Vec<u8> {
        let mut section = Vec::new();
        for (delta, (key, value)) in (0i64..).zip(records) {
            let mut body = vec![0u8]; // attributes
            varint(&mut body, 0); // timestamp delta
            varint(&mut body, delta);
            bytes_field(&mut body, *key);
            bytes_field(&mut body, *value);
            varint(&mut body, 0); // headers
            varint(&mut section, body.len() as i64);
            section.extend_from_slice(&body);
        }
        let mut out = BytesMut::new();
        out.resize(HEADER_LEN, 0);
        let copy = |buf: &mut BytesMut| {
            buf.put_slice(&section);
            Ok(())
        };
        let compressed = match compression {
            Compression::None => copy(&mut out),
            Compression::Gzip => <Gzip as Compressor<BytesMut>>::compress(&mut out, copy),
            Compression::Snappy => <Snappy as Compressor<BytesMut>>::compress(&mut out, copy),
            Compression::Lz4 => <Lz4 as Compressor<BytesMut>>::compress(&mut out, copy),
            Compression::Zstd => <Zstd as Compressor<BytesMut>>::compress(&mut out, copy),
        };
        compressed.expect("compresses");
        let count = records.len() as i32;
        let length = (out.len() - LOG_OVERHEAD) as i32;
        out[LENGTH_AT..LENGTH_AT + 4].copy_from_slice(&length.to_be_bytes());
        out[MAGIC_AT] = 2;
        let attributes = compression as i16;
        out[ATTRIBUTES_AT..ATTRIBUTES_AT + 2].copy_from_slice(&attributes.to_be_bytes());
        out[LAST_OFFSET_DELTA_AT..LAST_OFFSET_DELTA_AT + 4]
            .copy_from_slice(&(count - 1).to_be_bytes());
        out[RECORDS_COUNT_AT..RECORDS_COUNT_AT + 4].copy_from_slice(&count.to_be_bytes());
        let crc = crc32c::crc32c(&out[ATTRIBUTES_AT..]);
        out[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
        out.to_vec()
    }

    #[test]
    fn keyless_records_are_found_in_every_codec() {
        for compression in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let keyed = batch(&[(Some("a"), Some("1")), (Some("b"), None)], compression);
            assert_eq!(first_keyless(&keyed), None, "{compression:?}");
            let mixed = batch(
                &[
                    (Some("a"), Some("1")),
                    (None, Some("2")),
                    (Some("c"), Some("3")),
                    (None, None),
                ],
                compression,
            );
            let mut two = keyed.clone();
            two.extend_from_slice(&mixed);
            assert_eq!(
                first_keyless(&two),
                Some(Keyless {
                    indexes: vec![1, 3]
                }),
                "{compression:?}: indexes within the batch that holds them"
            );
        }
    }

    #[test]
    fn bytes_that_do_not_frame_are_left_to_the_engine() {
        assert_eq!(first_keyless(b"not a batch"), None);
        let mut cut = batch(&[(None, Some("1"))], Compression::None);
        assert!(first_keyless(&cut).is_some());
        cut.truncate(cut.len() - 1);
        assert_eq!(first_keyless(&cut), None);
    }

    #[test]
    fn the_message_is_kafkas() {
        let keyless = Keyless {
            indexes: vec![0, 1, 2, 5],
        };
        assert_eq!(
            refusal_message(&keyless, "t", 0),
            "One or more records have been rejected due to 4 record errors in total, and only \
             showing the first three errors at most: [RecordError(batchIndex=0, message='Compacted \
             topic cannot accept message without key in topic partition t-0.'), \
             RecordError(batchIndex=1, message='Compacted topic cannot accept message without key \
             in topic partition t-0.'), RecordError(batchIndex=2, message='Compacted topic cannot \
             accept message without key in topic partition t-0.')]"
        );
    }
}
