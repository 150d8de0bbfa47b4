//! Record batches: building v2 batches to produce and decoding fetched ones.
//! The batch header is laid out through `ferrolog_wire::batch`, the records
//! through [`record`] (which keeps repeated header keys, as Kafka does), and
//! compression is kafka-protocol's. Fetched bytes are untrusted: counts are
//! checked against lengths before anything is allocated from them, and a
//! trailing partial batch (a broker may cut a fetch at `max_bytes`) is left
//! for the next fetch, not treated as damage.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::compression::{Compressor, Gzip, Lz4, Snappy, Zstd};
use kafka_protocol::records::Compression;

use ferrolog_wire::batch::{
    ATTRIBUTES_AT, BASE_OFFSET_AT, BASE_SEQUENCE_AT, BASE_TIMESTAMP_AT, COMPRESSION_MASK,
    CONTROL_FLAG, CRC_AT, HEADER_LEN, LAST_OFFSET_DELTA_AT, LEADER_EPOCH_AT, LENGTH_AT,
    LOG_APPEND_TIME_FLAG, LOG_OVERHEAD, MAGIC_AT, MAGIC_V2, MAX_TIMESTAMP_AT, PRODUCER_EPOCH_AT,
    PRODUCER_ID_AT, RECORDS_COUNT_AT,
};
use ferrolog_wire::compression::Codec;
use ferrolog_wire::records::RecordError;

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

/// Encodes `records` as ONE v2 batch (offsets 0..n, to be assigned by the
/// broker); no records give no bytes.
pub fn encode_batch(
    records: &[ProducerRecord],
    compression: Compression,
    stamp: ProducerStamp,
) -> Result<Bytes, ClientError> {
    let encode_error = |reason: String| ClientError::BatchEncode {
        source: boxed(anyhow::anyhow!(reason)),
    };
    let (Some(base_timestamp), Some(max_timestamp)) = (
        records.iter().map(|r| r.timestamp_ms).min(),
        records.iter().map(|r| r.timestamp_ms).max(),
    ) else {
        return Ok(Bytes::new());
    };
    let count = i32::try_from(records.len())
        .map_err(|_| encode_error(format!("{} records in one batch", records.len())))?;
    let mut section = BytesMut::with_capacity(records.iter().map(record_size_hint).sum());
    for (delta, r) in (0i64..).zip(records) {
        record::encode(&mut section, r, delta, base_timestamp).map_err(encode_error)?;
    }
    let mut batch = BytesMut::with_capacity(HEADER_LEN + section.len());
    batch.resize(HEADER_LEN, 0);
    compress(&section, compression, &mut batch)
        .map_err(|e| ClientError::BatchEncode { source: boxed(e) })?;
    let length = i32::try_from(batch.len() - LOG_OVERHEAD)
        .map_err(|_| encode_error(format!("a batch of {} bytes", batch.len())))?;
    let header = BatchHeader {
        length,
        attributes: compression as i16,
        last_offset_delta: count - 1,
        base_timestamp,
        max_timestamp,
        stamp,
        count,
    };
    header.write(&mut batch);
    Ok(batch.freeze())
}

/// The header fields a producer sets; the base offset is left 0 for the
/// broker to assign, the leader epoch -1 as clients send it.
struct BatchHeader {
    length: i32,
    attributes: i16,
    last_offset_delta: i32,
    base_timestamp: i64,
    max_timestamp: i64,
    stamp: ProducerStamp,
    count: i32,
}

impl BatchHeader {
    /// Fills the first `HEADER_LEN` bytes of `batch`, the CRC last: it covers
    /// the attributes and everything after them.
    fn write(&self, batch: &mut [u8]) {
        let mut put = |at: usize, bytes: &[u8]| batch[at..at + bytes.len()].copy_from_slice(bytes);
        put(BASE_OFFSET_AT, &0i64.to_be_bytes());
        put(LENGTH_AT, &self.length.to_be_bytes());
        put(LEADER_EPOCH_AT, &(-1i32).to_be_bytes());
        put(MAGIC_AT, &MAGIC_V2.to_be_bytes());
        put(ATTRIBUTES_AT, &self.attributes.to_be_bytes());
        put(LAST_OFFSET_DELTA_AT, &self.last_offset_delta.to_be_bytes());
        put(BASE_TIMESTAMP_AT, &self.base_timestamp.to_be_bytes());
        put(MAX_TIMESTAMP_AT, &self.max_timestamp.to_be_bytes());
        put(PRODUCER_ID_AT, &self.stamp.producer_id.to_be_bytes());
        put(PRODUCER_EPOCH_AT, &self.stamp.producer_epoch.to_be_bytes());
        put(BASE_SEQUENCE_AT, &self.stamp.base_sequence.to_be_bytes());
        put(RECORDS_COUNT_AT, &self.count.to_be_bytes());
        let crc = crc32c::crc32c(&batch[ATTRIBUTES_AT..]);
        batch[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
    }
}

fn record_size_hint(r: &ProducerRecord) -> usize {
    16 + r.key.as_ref().map_or(0, Bytes::len) + r.value.as_ref().map_or(0, Bytes::len)
}

/// Appends the records `section` to `out`, compressed with kafka-protocol's codecs.
fn compress(section: &[u8], compression: Compression, out: &mut BytesMut) -> anyhow::Result<()> {
    let copy = |buf: &mut BytesMut| {
        buf.put_slice(section);
        Ok(())
    };
    match compression {
        Compression::None => out.put_slice(section),
        Compression::Gzip => <Gzip as Compressor<BytesMut>>::compress(out, copy)?,
        Compression::Snappy => <Snappy as Compressor<BytesMut>>::compress(out, copy)?,
        Compression::Lz4 => <Lz4 as Compressor<BytesMut>>::compress(out, copy)?,
        Compression::Zstd => <Zstd as Compressor<BytesMut>>::compress(out, copy)?,
    }
    Ok(())
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
        let batch = bytes.split_to(batch_len);
        check_counts(&batch, position)?;
        check_crc(&batch, position)?;
        next_offset = Some(batch_end_offset(&batch));
        decode_batch(batch, from_offset, &mut out)
            .map_err(|reason| ClientError::InvalidBatch { position, reason })?;
        position += batch_len;
    }
    Ok(DecodedRecords {
        records: out,
        next_offset,
    })
}

/// Appends the records of one CRC-checked `batch` at or after `from_offset`
/// to `out`; a control batch (transaction markers) holds none to show.
fn decode_batch(
    batch: Bytes,
    from_offset: i64,
    out: &mut Vec<ConsumedRecord>,
) -> Result<(), String> {
    let magic = batch.get(MAGIC_AT).map_or(-1, |&m| m as i8);
    if magic != MAGIC_V2 {
        return Err(format!("magic {magic} is not a v2 batch"));
    }
    let attributes = field(&batch, ATTRIBUTES_AT).map_or(0, i16::from_be_bytes);
    if attributes & CONTROL_FLAG != 0 {
        return Ok(());
    }
    let codec = Codec::from_attributes(attributes).ok_or_else(|| {
        format!(
            "unknown compression codec {}",
            attributes & COMPRESSION_MASK
        )
    })?;
    let count = field(&batch, RECORDS_COUNT_AT).map_or(0, i32::from_be_bytes);
    if count == 0 && batch.len() == HEADER_LEN {
        // A batch log compaction emptied: its header stays to keep its
        // offsets, its codec bits may too, but there is nothing to inflate.
        return Ok(());
    }
    let base_offset = batch_base_offset(&batch);
    let base_timestamp = field(&batch, BASE_TIMESTAMP_AT).map_or(-1, i64::from_be_bytes);
    // A log-append-time batch's records all carry the broker's time, its max timestamp.
    let log_append_time = attributes & LOG_APPEND_TIME_FLAG != 0;
    let append_time = batch_max_timestamp(&batch);
    let section = crate::decompress::decompress(&mut batch.slice(HEADER_LEN..), codec)
        .map_err(|e| e.to_string())?;
    // The header's count says how many records the batch holds: any past it
    // are checked (a malformed one fails the batch) but not returned.
    let announced = u32::try_from(count).unwrap_or(0);
    let mut found: u32 = 0;
    for r in record::decode(&section) {
        let r = r.map_err(|e| e.to_string())?;
        found = found.saturating_add(1);
        let offset = base_offset.wrapping_add(r.offset_delta);
        if found > announced || offset < from_offset {
            continue;
        }
        out.push(ConsumedRecord {
            offset,
            timestamp_ms: if log_append_time {
                append_time
            } else {
                base_timestamp.wrapping_add(r.timestamp_delta)
            },
            log_append_time,
            key: r.key,
            value: r.value,
            headers: r.headers,
        });
    }
    if found < announced {
        let announced = i64::from(count);
        return Err(RecordError::TooFew { announced, found }.to_string());
    }
    Ok(())
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
        check_crc(batch, position)?;
        let base = batch_base_offset(batch);
        let end = batch_end_offset(batch);
        count.records += u64::try_from(end - base.max(from_offset)).unwrap_or(0);
        count.bytes += batch_len as u64;
        count.next_offset = Some(end);
        position += batch_len;
    }
    Ok(count)
}

/// The batch's CRC-32C (of its attributes onwards) against the stored one,
/// for a batch already length-checked by [`check_counts`].
fn check_crc(batch: &[u8], position: usize) -> Result<(), ClientError> {
    let stored = field(batch, CRC_AT).map_or(0, u32::from_be_bytes);
    let computed = crc32c::crc32c(batch.get(ATTRIBUTES_AT..).unwrap_or_default());
    if stored != computed {
        return Err(ClientError::InvalidBatch {
            position,
            reason: format!("CRC-32C {computed:#010x} does not match the stored {stored:#010x}"),
        });
    }
    Ok(())
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

mod record;

#[cfg(test)]
mod tests;
