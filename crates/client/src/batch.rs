//! Record batches: building v2 batches to produce (compression is done by
//! kafka-protocol's encoder, CRC-32C included) and decoding fetched ones.
//! Fetched bytes are untrusted: counts are checked against lengths before the
//! decoder allocates from them, and a trailing partial batch (a broker may cut
//! a fetch at `max_bytes`) is left for the next fetch, not treated as damage.

use bytes::{Bytes, BytesMut};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use ferrolog_wire::batch::{
    ATTRIBUTES_AT, BASE_OFFSET_AT, COMPRESSION_MASK, CRC_AT, HEADER_LEN, LAST_OFFSET_DELTA_AT,
    LENGTH_AT, LOG_OVERHEAD, MAX_TIMESTAMP_AT, RECORDS_COUNT_AT,
};

use crate::error::{ClientError, boxed};

/// The smallest encoded record: length, attributes, timestamp delta, offset
/// delta, key length, value length, header count — one byte each.
const RECORD_BYTES_MIN: usize = 7;
/// Upper bound on records in one compressed batch. The decoder reserves room
/// for the announced count before decompressing, so an absurd count in a
/// corrupt batch must not reach it.
pub const COMPRESSED_RECORDS_MAX: usize = 4 * 1024 * 1024;

/// A record to produce.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProducerRecord {
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    /// Header keys may repeat; order is kept.
    pub headers: Vec<(String, Option<Bytes>)>,
    pub timestamp_ms: i64,
}

/// The idempotent-producer fields stamped into a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerStamp {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
}

impl ProducerStamp {
    /// A batch from a producer without an id.
    pub const NONE: Self = Self {
        producer_id: -1,
        producer_epoch: -1,
        base_sequence: -1,
    };
}

/// A record read back from a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumedRecord {
    pub offset: i64,
    pub timestamp_ms: i64,
    pub log_append_time: bool,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<(String, Option<Bytes>)>,
}

/// Encodes `records` as ONE v2 batch (offsets 0..n, to be assigned by the broker).
pub fn encode_batch(
    records: &[ProducerRecord],
    compression: Compression,
    stamp: ProducerStamp,
) -> Result<Bytes, ClientError> {
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, r)| to_record(i as i64, r, stamp))
        .collect();
    let mut buf =
        BytesMut::with_capacity(records.iter().map(record_size_hint).sum::<usize>() + HEADER_LEN);
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
    )
    .map_err(|e| ClientError::BatchEncode { source: boxed(e) })?;
    Ok(buf.freeze())
}

fn record_size_hint(r: &Record) -> usize {
    16 + r.key.as_ref().map_or(0, Bytes::len) + r.value.as_ref().map_or(0, Bytes::len)
}

fn to_record(offset: i64, r: &ProducerRecord, stamp: ProducerStamp) -> Record {
    let headers: IndexMap<StrBytes, Option<Bytes>> = r
        .headers
        .iter()
        .map(|(k, v)| (StrBytes::from_string(k.clone()), v.clone()))
        .collect();
    Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: -1,
        producer_id: stamp.producer_id,
        producer_epoch: stamp.producer_epoch,
        timestamp_type: TimestampType::Creation,
        offset,
        // The encoder keeps records in one batch while `offset - sequence` is
        // constant and derives the batch's base sequence from the first record.
        sequence: stamp.base_sequence.wrapping_add(offset as i32),
        timestamp: r.timestamp_ms,
        key: r.key.clone(),
        value: r.value.clone(),
        headers,
    }
}

/// Decodes every complete batch in `bytes` (a Fetch response's records),
/// skipping control batches and records before `from_offset` (a fetch starts
/// at the batch holding the requested offset, which may begin earlier).
pub fn decode_batches(bytes: Bytes, from_offset: i64) -> Result<Vec<ConsumedRecord>, ClientError> {
    decode_fetched(bytes, from_offset).map(|d| d.records)
}

/// The records of a fetch and where the next fetch starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DecodedRecords {
    pub records: Vec<ConsumedRecord>,
    /// One past the last offset of the last complete batch; `None` if there was none.
    /// Control batches and compacted gaps advance it even when they yield no record.
    pub next_offset: Option<i64>,
}

/// Like [`decode_batches`], also reporting the next offset to fetch.
pub fn decode_fetched(mut bytes: Bytes, from_offset: i64) -> Result<DecodedRecords, ClientError> {
    let mut out = Vec::new();
    let mut next_offset = None;
    let mut position = 0usize;
    while let Some(batch_len) = complete_batch_len(&bytes) {
        let mut batch = bytes.split_to(batch_len);
        check_counts(&batch, position)?;
        next_offset = Some(batch_end_offset(&batch));
        // kafka-protocol gives every record base + delta, but a log-append-time
        // batch's records all carry the broker's time, its max timestamp.
        let append_time = batch_max_timestamp(&batch);
        let set = RecordBatchDecoder::decode_with_custom_compression(
            &mut batch,
            Some(crate::decompress::decompress),
        )
        .map_err(|e| ClientError::InvalidBatch {
            position,
            reason: e.to_string(),
        })?;
        for r in set.records {
            if r.control || r.offset < from_offset {
                continue;
            }
            let log_append_time = r.timestamp_type == TimestampType::LogAppend;
            out.push(ConsumedRecord {
                offset: r.offset,
                timestamp_ms: if log_append_time {
                    append_time
                } else {
                    r.timestamp
                },
                log_append_time,
                key: r.key,
                value: r.value,
                headers: r
                    .headers
                    .into_iter()
                    .map(|(k, v)| (k.as_str().to_owned(), v))
                    .collect(),
            });
        }
        position += batch_len;
    }
    Ok(DecodedRecords {
        records: out,
        next_offset,
    })
}

/// What a fetch held, counted from the batch headers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FetchedCount {
    /// Offsets at or above `from_offset` covered by the complete batches.
    pub records: u64,
    /// Bytes of the complete batches.
    pub bytes: u64,
    /// One past the last offset of the last complete batch; `None` if there was none.
    pub next_offset: Option<i64>,
}

/// Checks each complete batch's CRC-32C and counts its offsets from the
/// header, without decoding a record: what a load generator needs to measure
/// the broker rather than this client's record decoder.
pub fn count_fetched(bytes: &[u8], from_offset: i64) -> Result<FetchedCount, ClientError> {
    let mut count = FetchedCount::default();
    let mut position = 0usize;
    while let Some(batch_len) = bytes.get(position..).and_then(complete_batch_len) {
        let batch = bytes
            .get(position..position + batch_len)
            .unwrap_or_default();
        check_counts(batch, position)?;
        let stored = field(batch, CRC_AT).map_or(0, u32::from_be_bytes);
        let computed = crc32c::crc32c(&batch[ATTRIBUTES_AT..]);
        if stored != computed {
            return Err(ClientError::InvalidBatch {
                position,
                reason: format!(
                    "CRC-32C {computed:#010x} does not match the stored {stored:#010x}"
                ),
            });
        }
        let base = batch_base_offset(batch);
        let end = batch_end_offset(batch);
        count.records += u64::try_from(end - base.max(from_offset)).unwrap_or(0);
        count.bytes += batch_len as u64;
        count.next_offset = Some(end);
        position += batch_len;
    }
    Ok(count)
}

/// The `N` bytes of a header field at `at`, if `bytes` reaches that far.
fn field<const N: usize>(bytes: &[u8], at: usize) -> Option<[u8; N]> {
    bytes.get(at..at.checked_add(N)?)?.try_into().ok()
}

/// The base offset of a batch already length-checked by [`check_counts`].
fn batch_base_offset(batch: &[u8]) -> i64 {
    field(batch, BASE_OFFSET_AT).map_or(0, i64::from_be_bytes)
}

/// `base offset + last offset delta + 1` of a batch already length-checked by [`check_counts`].
fn batch_end_offset(batch: &[u8]) -> i64 {
    let delta = field(batch, LAST_OFFSET_DELTA_AT).map_or(0, i32::from_be_bytes);
    batch_base_offset(batch)
        .saturating_add(i64::from(delta))
        .saturating_add(1)
}

/// The max timestamp of a batch's header (checked long enough by `check_counts`).
fn batch_max_timestamp(batch: &[u8]) -> i64 {
    field(batch, MAX_TIMESTAMP_AT).map_or(-1, i64::from_be_bytes)
}

/// The length of the first batch if `bytes` holds all of it, else `None`.
fn complete_batch_len(bytes: &[u8]) -> Option<usize> {
    let len = usize::try_from(i32::from_be_bytes(field(bytes, LENGTH_AT)?)).ok()?;
    let total = LOG_OVERHEAD.checked_add(len)?;
    (bytes.len() >= total).then_some(total)
}

/// Rejects a batch whose record count cannot be true for its size, before the
/// decoder reserves memory for that many records.
fn check_counts(batch: &[u8], position: usize) -> Result<(), ClientError> {
    let invalid = |reason: String| ClientError::InvalidBatch { position, reason };
    if batch.len() < HEADER_LEN {
        return Err(invalid(format!(
            "{} bytes is shorter than a batch header",
            batch.len()
        )));
    }
    let attributes = field(batch, ATTRIBUTES_AT).map_or(0, i16::from_be_bytes);
    let count = field(batch, RECORDS_COUNT_AT).map_or(-1, i32::from_be_bytes);
    let count =
        usize::try_from(count).map_err(|_| invalid(format!("negative record count {count}")))?;
    let records_len = batch.len() - HEADER_LEN;
    let compressed = attributes & COMPRESSION_MASK != 0;
    let plausible = if compressed {
        count <= COMPRESSED_RECORDS_MAX
    } else {
        count * RECORD_BYTES_MIN <= records_len
    };
    if !plausible {
        return Err(invalid(format!(
            "{count} records cannot fit in {records_len} bytes"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
