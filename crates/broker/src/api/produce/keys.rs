//! Produce to a compacted topic: every record must have a key, as Kafka's
//! `LogValidator.validateKey` demands ("Compacted topic cannot accept message
//! without key"). Run only for topics whose `cleanup.policy` lists
//! `compact`; other topics never walk their records here.

use ferrolog_storage::format;

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
        // The walk compaction reads records with: decompressed (with the
        // engine's ceiling) when the batch is compressed.
        let (mut indexes, mut index) = (Vec::new(), 0i32);
        format::compact::for_each_record(&header, batch, |record| {
            if record.key.is_none() {
                indexes.push(index);
            }
            index += 1;
        })
        .ok()?;
        if !indexes.is_empty() {
            return Some(Keyless { indexes });
        }
    }
    None
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
    use ferrolog_storage::format::builder::{SimpleRecord, compress_batch, encode_batch};
    use ferrolog_wire::compression::Codec;

    const CODECS: [Codec; 5] = [
        Codec::None,
        Codec::Gzip,
        Codec::Snappy,
        Codec::Lz4,
        Codec::Zstd,
    ];

    /// One v2 batch of (key, value) records compressed with `codec`.
    fn batch(records: &[(Option<&str>, Option<&str>)], codec: Codec) -> Vec<u8> {
        let records: Vec<SimpleRecord<'_>> = records
            .iter()
            .map(|(key, value)| SimpleRecord {
                timestamp_ms: 0,
                key: key.map(str::as_bytes),
                value: value.map(str::as_bytes),
            })
            .collect();
        compress_batch(&encode_batch(&records), codec).expect("compresses")
    }

    #[test]
    fn keyless_records_are_found_in_every_codec() {
        for compression in CODECS {
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
        let mut cut = batch(&[(None, Some("1"))], Codec::None);
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
