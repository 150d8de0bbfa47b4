use super::*;
use ferrolog_wire::batch::LOG_APPEND_TIME_FLAG;

fn rec(key: &str, value: &str, headers: &[(&str, &str)], ts: i64) -> ProducerRecord {
    ProducerRecord {
        key: Some(Bytes::copy_from_slice(key.as_bytes())),
        value: Some(Bytes::copy_from_slice(value.as_bytes())),
        headers: headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Some(Bytes::copy_from_slice(v.as_bytes()))))
            .collect(),
        timestamp_ms: ts,
    }
}

fn sample() -> Vec<ProducerRecord> {
    vec![
        rec("k1", "hello", &[("h", "1")], 1_000),
        rec("k2", "world", &[], 1_005),
        ProducerRecord {
            key: None,
            value: None,
            headers: vec![],
            timestamp_ms: 1_010,
        },
    ]
}

#[test]
fn round_trip_every_compression() {
    for compression in [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let bytes = encode_batch(&sample(), compression, ProducerStamp::NONE).expect("encode");
        assert_eq!(
            complete_batch_len(&bytes),
            Some(bytes.len()),
            "{compression:?} is one batch"
        );
        let out = decode_batches(bytes, 0).expect("decode");
        assert_eq!(out.len(), 3, "{compression:?}");
        assert_eq!(out[0].key.as_deref(), Some(&b"k1"[..]));
        assert_eq!(out[0].value.as_deref(), Some(&b"hello"[..]));
        assert_eq!(
            out[0].headers,
            vec![("h".to_owned(), Some(Bytes::from_static(b"1")))]
        );
        assert_eq!(out[1].offset, 1);
        assert_eq!(out[1].timestamp_ms, 1_005);
        assert_eq!(out[2].key, None);
        assert_eq!(out[2].value, None);
    }
}

#[test]
fn producer_stamp_lands_in_the_header() {
    let stamp = ProducerStamp {
        producer_id: 42,
        producer_epoch: 3,
        base_sequence: 7,
    };
    let bytes = encode_batch(&sample(), Compression::None, stamp).expect("encode");
    assert_eq!(i64::from_be_bytes(bytes[43..51].try_into().expect("8")), 42);
    assert_eq!(i16::from_be_bytes(bytes[51..53].try_into().expect("2")), 3);
    assert_eq!(i32::from_be_bytes(bytes[53..57].try_into().expect("4")), 7);
    assert_eq!(i32::from_be_bytes(bytes[57..61].try_into().expect("4")), 3);
}

#[test]
fn no_producer_means_minus_one_sequence_and_one_batch() {
    let bytes = encode_batch(&sample(), Compression::None, ProducerStamp::NONE).expect("encode");
    assert_eq!(complete_batch_len(&bytes), Some(bytes.len()));
    assert_eq!(i32::from_be_bytes(bytes[53..57].try_into().expect("4")), -1);
}

#[test]
fn trailing_partial_batch_is_left_for_later() {
    let one = encode_batch(&sample(), Compression::None, ProducerStamp::NONE).expect("encode");
    let mut two = BytesMut::new();
    two.extend_from_slice(&one);
    two.extend_from_slice(&one[..one.len() - 5]);
    let out = decode_batches(two.freeze(), 0).expect("decode");
    assert_eq!(out.len(), 3);
}

#[test]
fn records_before_the_requested_offset_are_skipped() {
    let bytes = encode_batch(&sample(), Compression::None, ProducerStamp::NONE).expect("encode");
    let out = decode_batches(bytes, 2).expect("decode");
    assert_eq!(out.iter().map(|r| r.offset).collect::<Vec<_>>(), vec![2]);
}

#[test]
fn flipped_byte_is_an_invalid_batch_not_a_panic() {
    let bytes = encode_batch(&sample(), Compression::None, ProducerStamp::NONE).expect("encode");
    // Bytes 12..16 (partition leader epoch) are outside the CRC, as in Kafka.
    for i in 16..bytes.len() {
        let mut bad = bytes.to_vec();
        bad[i] ^= 0x40;
        let result = decode_batches(Bytes::from(bad), 0);
        assert!(
            matches!(result, Err(ClientError::InvalidBatch { position: 0, .. })),
            "byte {i}: {result:?}"
        );
    }
}

#[test]
fn absurd_record_count_is_rejected_before_decoding() {
    let bytes = encode_batch(&sample(), Compression::None, ProducerStamp::NONE).expect("encode");
    let mut bad = bytes.to_vec();
    bad[57..61].copy_from_slice(&i32::MAX.to_be_bytes());
    let result = decode_batches(Bytes::from(bad), 0);
    assert!(
        matches!(result, Err(ClientError::InvalidBatch { ref reason, .. }) if reason.contains("cannot fit"))
    );
}

#[test]
fn next_offset_follows_the_last_batch() {
    let bytes = encode_batch(&sample(), Compression::Zstd, ProducerStamp::NONE).expect("encode");
    let decoded = decode_fetched(bytes, 5).expect("decode");
    assert!(decoded.records.is_empty());
    assert_eq!(decoded.next_offset, Some(3));
    assert_eq!(
        decode_fetched(Bytes::new(), 0).expect("empty").next_offset,
        None
    );
}

/// Two batches back to back, the second at base offset 3 (as a log holds them).
fn two_batches() -> Vec<u8> {
    let first = encode_batch(&sample(), Compression::None, ProducerStamp::NONE).expect("encode");
    let mut second = encode_batch(&sample(), Compression::None, ProducerStamp::NONE)
        .expect("encode")
        .to_vec();
    second[..8].copy_from_slice(&3i64.to_be_bytes()); // the base offset is outside the CRC
    [first.to_vec(), second].concat()
}

#[test]
fn count_fetched_counts_offsets_from_the_requested_one() {
    let bytes = two_batches();
    let all = count_fetched(&bytes, 0).expect("count");
    assert_eq!(all.records, 6);
    assert_eq!(all.bytes, bytes.len() as u64);
    assert_eq!(all.next_offset, Some(6));
    assert_eq!(count_fetched(&bytes, 4).expect("count").records, 2);
    // A cut-off second batch is not counted (a fetch may end mid-batch).
    let cut = count_fetched(&bytes[..bytes.len() - 1], 0).expect("count");
    assert_eq!((cut.records, cut.next_offset), (3, Some(3)));
}

#[test]
fn count_fetched_rejects_a_flipped_byte() {
    let mut bytes = two_batches();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    let err = count_fetched(&bytes, 0).expect_err("flipped byte");
    assert!(matches!(err, ClientError::InvalidBatch { .. }));
}

#[test]
fn log_append_time_records_carry_the_batch_max_timestamp() {
    // A batch as a LogAppendTime topic stores it: the producer's record
    // timestamps (1000, 1005, 1010) stay in the records, the header says
    // log append time and holds the broker's clock as its max timestamp.
    for compression in [Compression::None, Compression::Gzip] {
        let mut batch = encode_batch(&sample(), compression, ProducerStamp::NONE)
            .expect("encode")
            .to_vec();
        let attributes = i16::from_be_bytes([batch[ATTRIBUTES_AT], batch[ATTRIBUTES_AT + 1]]);
        batch[ATTRIBUTES_AT..ATTRIBUTES_AT + 2]
            .copy_from_slice(&(attributes | LOG_APPEND_TIME_FLAG).to_be_bytes());
        batch[MAX_TIMESTAMP_AT..MAX_TIMESTAMP_AT + 8].copy_from_slice(&77_000i64.to_be_bytes());
        let crc = crc32c::crc32c(&batch[ATTRIBUTES_AT..]);
        batch[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());

        let records = decode_batches(Bytes::from(batch), 0).expect("decode");
        assert_eq!(records.len(), 3);
        for r in &records {
            assert!(r.log_append_time, "{compression:?}");
            assert_eq!(
                r.timestamp_ms, 77_000,
                "{compression:?} offset {}",
                r.offset
            );
        }
    }
}

#[test]
fn repeated_header_keys_round_trip_in_order() {
    let record = rec("k", "v", &[("a", "1"), ("b", "x"), ("a", "2")], 1_000);
    for compression in [Compression::None, Compression::Zstd] {
        let bytes = encode_batch(
            std::slice::from_ref(&record),
            compression,
            ProducerStamp::NONE,
        )
        .expect("encode");
        let out = decode_batches(bytes, 0).expect("decode");
        assert_eq!(out[0].headers, record.headers, "{compression:?}");
    }
}

/// Without repeated header keys, a batch is byte for byte what
/// kafka-protocol's encoder (this crate's encoder before) writes.
#[test]
fn batches_match_kafka_protocols_encoder() {
    use kafka_protocol::indexmap::IndexMap;
    use kafka_protocol::protocol::StrBytes;
    use kafka_protocol::records::{Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType};
    let stamp = ProducerStamp {
        producer_id: 9,
        producer_epoch: 2,
        base_sequence: 40,
    };
    for compression in [Compression::None, Compression::Gzip, Compression::Lz4] {
        let theirs: Vec<Record> = (0i64..)
            .zip(sample())
            .map(|(offset, r)| Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: -1,
                producer_id: stamp.producer_id,
                producer_epoch: stamp.producer_epoch,
                timestamp_type: TimestampType::Creation,
                offset,
                sequence: stamp.base_sequence + offset as i32,
                timestamp: r.timestamp_ms,
                key: r.key,
                value: r.value,
                headers: r
                    .headers
                    .into_iter()
                    .map(|(k, v)| (StrBytes::from_string(k), v))
                    .collect::<IndexMap<_, _>>(),
            })
            .collect();
        let mut expected = BytesMut::new();
        let options = RecordEncodeOptions {
            version: 2,
            compression,
        };
        RecordBatchEncoder::encode(&mut expected, &theirs, &options).expect("encode");
        let ours = encode_batch(&sample(), compression, stamp).expect("encode");
        assert_eq!(ours, expected.freeze(), "{compression:?}");
    }
}

#[test]
fn kafka_protocols_decoder_reads_our_batches() {
    use kafka_protocol::records::RecordBatchDecoder;
    let mut bytes =
        encode_batch(&sample(), Compression::Snappy, ProducerStamp::NONE).expect("encode");
    let set = RecordBatchDecoder::decode(&mut bytes).expect("decode");
    assert_eq!(set.records.len(), 3);
    assert_eq!(set.records[1].value.as_deref(), Some(&b"world"[..]));
    assert_eq!(set.records[2].timestamp, 1_010);
}

#[test]
fn a_header_count_past_the_record_is_invalid() {
    let mut section = BytesMut::new();
    record::encode(&mut section, &rec("k", "v", &[], 0), 0, 0).expect("encode");
    // The last byte is the header count (0): claim 50 headers instead.
    let last = section.len() - 1;
    section[last] = 100; // zig-zag 50
    let section = section.freeze();
    let result = record::decode(&section).next();
    // The walk reads header after header until the bytes run out.
    assert!(
        matches!(
            result,
            Some(Err(RecordError::Truncated {
                index: 0,
                field: "header key"
            }))
        ),
        "{result:?}"
    );
}

#[test]
fn a_lying_header_count_is_refused() {
    // length 8: attributes 0, ts delta 0, offset delta 0, key null, value len 1 "v", 2^30 headers
    let record = [
        0x00, 0x00, 0x00, 0x01, 0x02, b'v', 0x80, 0x80, 0x80, 0x80, 0x08,
    ];
    let mut bytes = vec![(record.len() as u8) << 1];
    bytes.extend_from_slice(&record);
    let section = Bytes::from(bytes);
    let result = record::decode(&section).collect::<Result<Vec<_>, _>>();
    assert!(
        matches!(result, Err(ref e) if e.to_string().contains("header key")),
        "{result:?}"
    );
    // The same record with one real header passes.
    let honest = [0x00, 0x00, 0x00, 0x01, 0x02, b'v', 0x02, 0x02, b'h', 0x01];
    let mut bytes = vec![(honest.len() as u8) << 1];
    bytes.extend_from_slice(&honest);
    let section = Bytes::from(bytes);
    let records = record::decode(&section).collect::<Result<Vec<_>, _>>();
    let records = records.expect("honest record");
    assert_eq!(records[0].headers, vec![("h".to_owned(), None)]);
}

mod round_trip {
    use proptest::prelude::*;

    use super::*;

    fn optional_bytes() -> impl Strategy<Value = Option<Bytes>> {
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40).prop_map(Bytes::from))
    }

    fn producer_record() -> impl Strategy<Value = ProducerRecord> {
        let header = (".{0,8}", optional_bytes());
        (
            optional_bytes(),
            optional_bytes(),
            proptest::collection::vec(header, 0..4),
            any::<i64>(),
        )
            .prop_map(|(key, value, headers, timestamp_ms)| ProducerRecord {
                key,
                value,
                headers,
                timestamp_ms,
            })
    }

    proptest! {
        /// What the encoder writes, the decoder reads back field for field.
        #[test]
        fn records_decode_as_they_were_encoded(
            records in proptest::collection::vec(producer_record(), 0..6),
            base_timestamp_ms in any::<i64>(),
        ) {
            let mut section = BytesMut::new();
            for (delta, r) in (0i64..).zip(&records) {
                record::encode(&mut section, r, delta, base_timestamp_ms).expect("encode");
            }
            let section = section.freeze();
            let decoded = record::decode(&section).collect::<Result<Vec<_>, _>>();
            let decoded = decoded.expect("decode");
            prop_assert_eq!(decoded.len(), records.len());
            for ((delta, r), d) in (0i64..).zip(&records).zip(decoded) {
                prop_assert_eq!(d.offset_delta, delta);
                prop_assert_eq!(d.timestamp_delta, r.timestamp_ms.wrapping_sub(base_timestamp_ms));
                prop_assert_eq!(&d.key, &r.key);
                prop_assert_eq!(&d.value, &r.value);
                prop_assert_eq!(&d.headers, &r.headers);
            }
        }

        /// The same through a whole batch, and a batch whose records section
        /// is cut anywhere is an error, never a panic or fewer records.
        #[test]
        fn batches_decode_as_they_were_encoded(
            records in proptest::collection::vec(producer_record(), 1..6),
        ) {
            let bytes = encode_batch(&records, Compression::None, ProducerStamp::NONE).expect("encode");
            let out = decode_batches(bytes.clone(), 0).expect("decode");
            prop_assert_eq!(out.len(), records.len());
            for (o, r) in out.iter().zip(&records) {
                prop_assert_eq!((&o.key, &o.value, &o.headers), (&r.key, &r.value, &r.headers));
                prop_assert_eq!(o.timestamp_ms, r.timestamp_ms);
            }
            for cut in HEADER_LEN..bytes.len() {
                let result = decode_batch(bytes.slice(..cut), 0, &mut Vec::new());
                prop_assert!(result.is_err(), "cut at {}", cut);
            }
        }
    }
}

/// A batch as log compaction leaves it: the header of the batch that held
/// offsets `base..=base + last_offset_delta`, keeping only `kept` (their
/// offset deltas and records), possibly none, with `attributes` as stored.
fn compacted_batch(
    base: i64,
    last_offset_delta: i32,
    kept: &[(i64, ProducerRecord)],
    attributes: i16,
) -> Vec<u8> {
    let mut section = BytesMut::new();
    for (delta, r) in kept {
        record::encode(&mut section, r, *delta, 1_000).expect("encode");
    }
    let mut batch = BytesMut::with_capacity(HEADER_LEN + section.len());
    batch.resize(HEADER_LEN, 0);
    batch.put_slice(&section);
    let header = BatchHeader {
        length: i32::try_from(batch.len() - LOG_OVERHEAD).expect("small"),
        attributes,
        last_offset_delta,
        base_timestamp: 1_000,
        max_timestamp: 1_000,
        stamp: ProducerStamp::NONE,
        count: i32::try_from(kept.len()).expect("small"),
    };
    header.write(&mut batch);
    let mut batch = batch.to_vec();
    batch[..8].copy_from_slice(&base.to_be_bytes()); // outside the CRC
    batch
}

/// Log compaction keeps every batch header: a batch with no records left,
/// or with fewer than `last_offset_delta + 1`, must move the reader past its
/// last offset, never leave it fetching the same batch again.
#[test]
fn compacted_batches_advance_the_position_past_their_last_offset() {
    // Offsets 0..=4: nothing left, stored uncompressed, and 5..=9 the same
    // with the gzip bit still set and no bytes to inflate.
    let empty = compacted_batch(0, 4, &[], 0);
    let empty_gzip = compacted_batch(5, 4, &[], Compression::Gzip as i16);
    // Offsets 10..=14: only 11 and 14 kept.
    let partial = compacted_batch(
        10,
        4,
        &[
            (1, rec("a", "last a", &[], 1_000)),
            (4, rec("b", "last b", &[], 1_000)),
        ],
        0,
    );
    let bytes = [empty.clone(), empty_gzip.clone(), partial.clone()].concat();
    let decoded = decode_fetched(Bytes::from(bytes.clone()), 0).expect("decode");
    let offsets: Vec<i64> = decoded.records.iter().map(|r| r.offset).collect();
    assert_eq!(offsets, [11, 14]);
    assert_eq!(decoded.next_offset, Some(15));
    assert_eq!(decoded.records[1].value.as_deref(), Some(&b"last b"[..]));
    // A fetch that returns only the empty batches still moves on.
    for (batch, next) in [(&empty, 5), (&empty_gzip, 10)] {
        let decoded = decode_fetched(Bytes::from(batch.clone()), next - 5).expect("decode");
        assert!(decoded.records.is_empty());
        assert_eq!(decoded.next_offset, Some(next));
    }
    // From inside the partial batch: the records at or after the offset.
    let decoded = decode_fetched(Bytes::from(partial), 12).expect("decode");
    assert_eq!(decoded.records.len(), 1);
    assert_eq!(decoded.next_offset, Some(15));
    // The load generator's count covers offsets, from the same headers.
    let counted = count_fetched(&bytes, 0).expect("count");
    assert_eq!(counted.next_offset, Some(15));
}
