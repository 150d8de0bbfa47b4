//! Kafka v2 RecordBatch: the header view, validation and framing.
//!
//! The field positions and attribute bits are `ferrolog_wire::batch`'s (the
//! layout is the same on the wire and on disk, and the client reads fetched
//! batches through it too); they are re-exported here so the engine names
//! one module for the format. The base offset lies outside the CRC, which is
//! why the engine can assign offsets by patching it in place.
use super::bytes_be::{i16_at, i32_at, i64_at, u32_at};
use crate::error::BatchError;
pub use ferrolog_wire::batch::{
    ATTRIBUTES_AT, BASE_OFFSET_AT, BASE_SEQUENCE_AT, BASE_TIMESTAMP_AT, COMPRESSION_MASK,
    CONTROL_FLAG, CRC_AT, DELETE_HORIZON_FLAG, HEADER_LEN, LAST_OFFSET_DELTA_AT, LEADER_EPOCH_AT,
    LENGTH_AT, LOG_APPEND_TIME_FLAG, LOG_OVERHEAD, MAGIC_AT, MAGIC_V2, MAX_TIMESTAMP_AT,
    MIN_LENGTH, PRODUCER_EPOCH_AT, PRODUCER_ID_AT, RECORDS_COUNT_AT, TRANSACTIONAL_FLAG,
};
use ferrolog_wire::compression::Codec;
use ferrolog_wire::records;

/// The decoded fixed header of a v2 batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub records_count: i32,
}

/// What the next bytes of a segment hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BatchStep {
    /// A complete, valid batch of `size` bytes.
    Batch { header: BatchHeader, size: usize },
    /// The bytes end inside a batch: at least `needed` bytes are required.
    NeedMore { needed: usize },
}

impl BatchHeader {
    /// Decodes the 61-byte header at the start of `buf` without checking it.
    pub fn parse(buf: &[u8]) -> Result<BatchHeader, BatchError> {
        let truncated = || BatchError::Truncated {
            needed: HEADER_LEN,
            available: buf.len(),
        };
        let i64f = |at| i64_at(buf, at).ok_or_else(truncated);
        let i32f = |at| i32_at(buf, at).ok_or_else(truncated);
        let i16f = |at| i16_at(buf, at).ok_or_else(truncated);
        Ok(BatchHeader {
            base_offset: i64f(BASE_OFFSET_AT)?,
            batch_length: i32f(LENGTH_AT)?,
            partition_leader_epoch: i32f(LEADER_EPOCH_AT)?,
            magic: buf
                .get(MAGIC_AT)
                .map(|b| i8::from_be_bytes([*b]))
                .ok_or_else(truncated)?,
            crc: u32_at(buf, CRC_AT).ok_or_else(truncated)?,
            attributes: i16f(ATTRIBUTES_AT)?,
            last_offset_delta: i32f(LAST_OFFSET_DELTA_AT)?,
            base_timestamp: i64f(BASE_TIMESTAMP_AT)?,
            max_timestamp: i64f(MAX_TIMESTAMP_AT)?,
            producer_id: i64f(PRODUCER_ID_AT)?,
            producer_epoch: i16f(PRODUCER_EPOCH_AT)?,
            base_sequence: i32f(BASE_SEQUENCE_AT)?,
            records_count: i32f(RECORDS_COUNT_AT)?,
        })
    }

    /// Whole batch size in bytes, prefix included.
    pub fn size(&self) -> usize {
        usize::try_from(self.batch_length).unwrap_or(0) + LOG_OVERHEAD
    }

    /// Saturating: the CRC does not cover `base_offset`, so a damaged file can hold any value.
    pub fn last_offset(&self) -> i64 {
        self.base_offset
            .saturating_add(i64::from(self.last_offset_delta))
    }

    /// Compression codec: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd.
    pub fn compression(&self) -> u8 {
        (self.attributes & COMPRESSION_MASK) as u8
    }

    /// True if the timestamps are broker append time (every record's timestamp is `max_timestamp`).
    pub fn is_log_append_time(&self) -> bool {
        self.attributes & LOG_APPEND_TIME_FLAG != 0
    }

    pub fn is_transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL_FLAG != 0
    }

    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL_FLAG != 0
    }

    /// The time from which compaction may remove the batch's tombstones, if
    /// a pass set it (KIP-534: `base_timestamp` holds it then).
    pub fn delete_horizon_ms(&self) -> Option<i64> {
        (self.attributes & DELETE_HORIZON_FLAG != 0).then_some(self.base_timestamp)
    }
}

/// Checks the framing fields (length, magic) of a header.
fn check_frame(header: &BatchHeader) -> Result<(), BatchError> {
    if header.batch_length < MIN_LENGTH {
        return Err(BatchError::LengthMismatch {
            length: header.batch_length,
        });
    }
    if header.magic != MAGIC_V2 {
        return Err(BatchError::BadMagic {
            magic: header.magic,
        });
    }
    Ok(())
}

/// CRC-32C of a whole batch as stored in its header (attributes to the end).
pub fn compute_crc(batch: &[u8]) -> u32 {
    crc32c::crc32c(batch.get(ATTRIBUTES_AT..).unwrap_or_default())
}

/// Looks at the batch starting at `buf[0]`: a complete valid batch, a request
/// for more bytes, or the reason it is invalid. Checks length, magic, CRC and
/// that `last_offset_delta == records_count - 1`.
pub fn next_batch(buf: &[u8]) -> Result<BatchStep, BatchError> {
    next_checked(buf, |header| {
        header.records_count >= 1
            && i64::from(header.last_offset_delta) == i64::from(header.records_count) - 1
    })
}

/// The frame and CRC checks both readers share, then `count_ok` on the
/// header's record count.
fn next_checked(
    buf: &[u8],
    count_ok: impl Fn(&BatchHeader) -> bool,
) -> Result<BatchStep, BatchError> {
    if buf.len() < HEADER_LEN {
        return Ok(BatchStep::NeedMore { needed: HEADER_LEN });
    }
    let header = BatchHeader::parse(buf)?;
    check_frame(&header)?;
    let size = header.size();
    let Some(batch) = buf.get(..size) else {
        return Ok(BatchStep::NeedMore { needed: size });
    };
    let actual = compute_crc(batch);
    if actual != header.crc {
        return Err(BatchError::CrcMismatch {
            expected: header.crc,
            actual,
        });
    }
    if !count_ok(&header) {
        return Err(count_mismatch(&header));
    }
    Ok(BatchStep::Batch { header, size })
}

fn count_mismatch(header: &BatchHeader) -> BatchError {
    BatchError::RecordCountMismatch {
        records_count: header.records_count,
        last_offset_delta: header.last_offset_delta,
    }
}

/// Whether a stored batch's record count fits its offsets: compaction
/// (`format::compact`) removes records but keeps `last_offset_delta`, so a
/// stored batch holds from 0 up to `last_offset_delta + 1` records. Only a
/// produced batch must hold exactly that many ([`next_batch`]).
pub fn stored_count_ok(header: &BatchHeader) -> bool {
    header.records_count >= 0
        && header.last_offset_delta >= 0
        && i64::from(header.records_count) <= i64::from(header.last_offset_delta) + 1
}

/// [`next_batch`] for a batch read back from a segment (recovery's scan,
/// `inspect`): the same checks, except that the record count may be below
/// `last_offset_delta + 1` (a compacted batch, [`stored_count_ok`]).
pub fn next_stored_batch(buf: &[u8]) -> Result<BatchStep, BatchError> {
    next_checked(buf, stored_count_ok)
}

/// Checks that the records section of `batch` (whole, its header already
/// checked by [`next_batch`]) holds the records the header announces, each
/// well formed: what a reader relies on and the CRC cannot promise, since a
/// client computes it over whatever it sends.
pub fn check_records(header: &BatchHeader, batch: &[u8]) -> Result<(), BatchError> {
    records::check(
        codec_of(header)?,
        records_section(batch),
        header.records_count,
    )?;
    Ok(())
}

/// [`check_records`], also returning the index of each record without a
/// key (empty if every record has one), from the same walk.
pub fn check_keyed_records(header: &BatchHeader, batch: &[u8]) -> Result<Vec<i32>, BatchError> {
    let keyless = records::check_keyed(
        codec_of(header)?,
        records_section(batch),
        header.records_count,
    )?;
    Ok(keyless)
}

fn codec_of(header: &BatchHeader) -> Result<Codec, BatchError> {
    Codec::from_attributes(header.attributes).ok_or(BatchError::UnknownCompression {
        id: header.attributes & COMPRESSION_MASK,
    })
}

/// Like [`next_batch`] but treats "need more" as a truncation error: for
/// input that must consist of whole batches (a produce request).
pub fn whole_batch(buf: &[u8]) -> Result<(BatchHeader, usize), BatchError> {
    match next_batch(buf)? {
        BatchStep::Batch { header, size } => Ok((header, size)),
        BatchStep::NeedMore { needed } => Err(BatchError::Truncated {
            needed,
            available: buf.len(),
        }),
    }
}

/// Reads only the framing of the batch at `buf[0]` (length and magic, no CRC):
/// its header and total size. For walking trusted, already-validated bytes.
pub fn frame(buf: &[u8]) -> Result<(BatchHeader, usize), BatchError> {
    let header = BatchHeader::parse(buf)?;
    check_frame(&header)?;
    Ok((header, header.size()))
}

/// Overwrites the base offset of the batch at `batch[0]`.
pub fn set_base_offset(batch: &mut [u8], base_offset: i64) {
    put(batch, BASE_OFFSET_AT, &base_offset.to_be_bytes());
}

/// Gives every batch of `batches` (whole v2 batches, back to back) the broker's
/// append time, as Kafka does for a topic with `message.timestamp.type =
/// LogAppendTime`: the timestamp-type bit of the attributes is set and the max
/// timestamp becomes `now_ms`, which readers take as every record's timestamp;
/// the records themselves are untouched. Each batch's CRC is checked before it
/// is rewritten and recomputed after, so a damaged batch is refused rather
/// than given a valid CRC. Nothing is changed unless every batch is valid.
pub fn stamp_log_append_time(batches: &mut [u8], now_ms: i64) -> Result<(), BatchError> {
    let mut found = Vec::new();
    let mut position = 0;
    while let Some(rest) = batches.get(position..).filter(|r| !r.is_empty()) {
        let (header, size) = whole_batch(rest)?;
        found.push((header.attributes, size));
        position += size;
    }
    let mut start = 0;
    for (attributes, size) in found {
        let Some(batch) = batches.get_mut(start..start + size) else {
            break;
        };
        put(
            batch,
            ATTRIBUTES_AT,
            &(attributes | LOG_APPEND_TIME_FLAG).to_be_bytes(),
        );
        put(batch, MAX_TIMESTAMP_AT, &now_ms.to_be_bytes());
        reseal(batch);
        start += size;
    }
    Ok(())
}

/// Overwrites `field.len()` bytes of the batch at `batch[0]`, at `at` (nothing
/// where the batch is shorter: callers write fields of batches they framed).
pub(crate) fn put(batch: &mut [u8], at: usize, field: &[u8]) {
    if let Some(target) = batch.get_mut(at..at + field.len()) {
        target.copy_from_slice(field);
    }
}

/// Recomputes the CRC of the batch at `batch[0]` after its covered bytes changed.
pub(crate) fn reseal(batch: &mut [u8]) {
    let crc = compute_crc(batch);
    put(batch, CRC_AT, &crc.to_be_bytes());
}

/// The records section of a whole batch (what kafka-protocol's record decoder
/// or a decompressor consumes).
pub fn records_section(batch: &[u8]) -> &[u8] {
    batch.get(HEADER_LEN..).unwrap_or_default()
}

/// Timestamp deltas of the records of an UNCOMPRESSED batch, in order, as
/// (offset delta, timestamp delta). Stops at the first malformed record.
pub fn record_timestamps(batch: &[u8]) -> impl Iterator<Item = (i64, i64)> + '_ {
    section_timestamps(records_section(batch))
}

/// [`record_timestamps`] over a records section on its own (a compressed
/// batch's, once decompressed). A record is malformed where produce's check
/// and every consumer would find it so (`ferrolog_wire::records`): a reader
/// could not read it, so no answer is taken from it or from what follows.
pub fn section_timestamps(records: &[u8]) -> impl Iterator<Item = (i64, i64)> + '_ {
    records::Records::new(records)
        .map_while(Result::ok)
        .map(|record| (record.offset_delta, record.timestamp_delta))
}

#[cfg(test)]
pub(crate) mod tests;
