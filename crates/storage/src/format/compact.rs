//! Compaction's view of one batch: its records as (offset, key, tombstone,
//! timestamp), and the batch rewritten with only the records a caller keeps.
//! Codecs only: no I/O, no policy (which records go is the caller's rule).
//!
//! A rewritten batch keeps every header field but `batch_length`, `crc` and
//! `records_count`: base offset, `last_offset_delta`, both timestamps,
//! attributes (codec, timestamp type), producer fields and leader epoch stay,
//! so offsets stay dense at the batch level and each kept record's bytes
//! (offset and timestamp are deltas from the unchanged bases) are copied
//! verbatim. A compressed batch's kept records are compressed again with its
//! codec; a batch that keeps every record is not rewritten at all, and one
//! that keeps none is the bare 61-byte header with `records_count` 0 and no
//! codec in its attributes (Kafka's empty batch: clients cannot inflate zero
//! bytes).
//!
//! The one exception is the delete horizon (KIP-534): a batch that keeps a
//! tombstone and has none yet is given the caller's, as Kafka gives it. Its
//! `base_timestamp` becomes the horizon, attribute bit 6 says so, and each
//! kept record's timestamp delta is rewritten against the new base (so
//! every record's timestamp, base + delta, is what it was). A tombstone's
//! retention then runs from the pass that first kept it, not from its own
//! timestamp, which a producer chose and may have set in the past.
//!
//! ```text
//! rewritten = { header[0..61) with batch_length, crc, records_count replaced
//!               (and base_timestamp, attributes bit 6 when a horizon is set)
//!             | codec(kept record bytes…) }
//! ```
use std::borrow::Cow;

use ferrolog_wire::compression::{self, Codec, CompressError};
use ferrolog_wire::records::{DECOMPRESSED_BYTES_MAX, Record, Records};

use super::batch::{
    ATTRIBUTES_AT, BASE_TIMESTAMP_AT, BatchHeader, COMPRESSION_MASK, DELETE_HORIZON_FLAG,
    HEADER_LEN, LENGTH_AT, LOG_OVERHEAD, RECORDS_COUNT_AT, put, records_section, reseal,
};

/// One record of a batch, as compaction decides on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordInfo<'a> {
    pub offset: i64,
    /// None for a record without a key (always kept).
    pub key: Option<&'a [u8]>,
    /// The value is null: the record deletes its key.
    pub is_tombstone: bool,
    /// The record's timestamp: base timestamp + delta, or the batch's max
    /// timestamp in a log-append-time batch.
    pub timestamp_ms: i64,
    /// The batch's delete horizon, if a pass gave it one: its tombstones
    /// may go from then on.
    pub delete_horizon_ms: Option<i64>,
}

/// What [`filter_batch`] made of a batch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filtered {
    /// The whole new batch; None when the batch stays as it is (every record
    /// kept and no horizon to set, or a control batch).
    pub rewritten: Option<Vec<u8>>,
    pub records_removed: u32,
    /// Of the records removed, the tombstones.
    pub tombstones_removed: u32,
    /// Tombstones (keyed records with a null value) the batch still holds.
    pub tombstones_kept: u32,
    /// The batch's delete horizon after filtering (its own or the one set).
    pub delete_horizon_ms: Option<i64>,
    /// The horizon was set by this filter.
    pub horizon_set: bool,
}

/// Why a stored batch could not be filtered. Stored batches were walked
/// on append, so either means the file changed or a codec misbehaves.
#[derive(Debug, thiserror::Error)]
pub enum CompactError {
    #[error("cannot read the records of the batch at offset {base_offset}: {detail}")]
    Records { base_offset: i64, detail: String },
    #[error("cannot compress the kept records of the batch at offset {base_offset}: {source}")]
    Compress {
        base_offset: i64,
        #[source]
        source: CompressError,
    },
}

/// The records section of a whole batch, decompressed if it needs to be.
fn plain_records<'a>(
    header: &BatchHeader,
    batch: &'a [u8],
) -> Result<(Codec, Cow<'a, [u8]>), CompactError> {
    let failed = |detail: String| CompactError::Records {
        base_offset: header.base_offset,
        detail,
    };
    let codec = Codec::from_attributes(header.attributes)
        .ok_or_else(|| failed(format!("unknown codec id {}", header.compression())))?;
    let section = records_section(batch);
    let plain = match codec {
        Codec::None => Cow::Borrowed(section),
        _ if header.records_count == 0 => Cow::Borrowed(&[][..]),
        _ => Cow::Owned(
            compression::decompress(codec, section, DECOMPRESSED_BYTES_MAX)
                .map_err(|e| failed(e.to_string()))?,
        ),
    };
    Ok((codec, plain))
}

/// Walks the records of `plain`, calling `each` with the record's info and
/// the record itself.
fn walk<'a>(
    header: &BatchHeader,
    plain: &'a [u8],
    mut each: impl FnMut(RecordInfo<'a>, Record<'a>),
) -> Result<(), CompactError> {
    for record in Records::new(plain) {
        let record = record.map_err(|e| CompactError::Records {
            base_offset: header.base_offset,
            detail: e.to_string(),
        })?;
        let timestamp_ms = if header.is_log_append_time() {
            header.max_timestamp
        } else {
            header.base_timestamp.saturating_add(record.timestamp_delta)
        };
        let info = RecordInfo {
            offset: header.base_offset.saturating_add(record.offset_delta),
            key: record.key,
            is_tombstone: record.value.is_none(),
            timestamp_ms,
            delete_horizon_ms: header.delete_horizon_ms(),
        };
        each(info, record);
    }
    Ok(())
}

/// Calls `each` for every record of the whole batch `batch` in order. A
/// control batch has no records to compact: `each` is not called.
pub fn for_each_record(
    header: &BatchHeader,
    batch: &[u8],
    mut each: impl FnMut(RecordInfo<'_>),
) -> Result<(), CompactError> {
    if header.is_control() {
        return Ok(());
    }
    let (_, plain) = plain_records(header, batch)?;
    walk(header, &plain, |info, _| each(info))
}

/// The whole batch `batch` with only the records `keep` returns true for,
/// and, if it keeps a tombstone and has no delete horizon, `new_horizon_ms`
/// as its horizon (None sets none). Control batches are kept whole without
/// asking `keep`.
pub fn filter_batch(
    header: &BatchHeader,
    batch: &[u8],
    new_horizon_ms: Option<i64>,
    mut keep: impl FnMut(&RecordInfo<'_>) -> bool,
) -> Result<Filtered, CompactError> {
    let mut filtered = Filtered {
        delete_horizon_ms: header.delete_horizon_ms(),
        ..Filtered::default()
    };
    if header.is_control() {
        return Ok(filtered);
    }
    let (codec, plain) = plain_records(header, batch)?;
    let mut kept = Vec::new();
    walk(header, &plain, |info, record| {
        if keep(&info) {
            kept.push(record);
            // A keyless record is kept whatever its value: only a keyed
            // tombstone ever goes, so only one needs a horizon.
            filtered.tombstones_kept += u32::from(info.is_tombstone && info.key.is_some());
        } else {
            filtered.records_removed += 1;
            filtered.tombstones_removed += u32::from(info.is_tombstone);
        }
    })?;
    // The horizon this filter sets, if any.
    let stamp = new_horizon_ms
        .filter(|_| filtered.delete_horizon_ms.is_none() && filtered.tombstones_kept > 0);
    filtered.horizon_set = stamp.is_some();
    filtered.delete_horizon_ms = filtered.delete_horizon_ms.or(stamp);
    if filtered.records_removed == 0 && stamp.is_none() {
        return Ok(filtered);
    }
    let mut records = Vec::new();
    for record in &kept {
        match stamp {
            // base + delta stays the record's timestamp over the new base.
            Some(horizon) => record.write_with_timestamp_delta(
                header
                    .base_timestamp
                    .wrapping_add(record.timestamp_delta)
                    .wrapping_sub(horizon),
                &mut records,
            ),
            None => records.extend_from_slice(record.raw()),
        }
    }
    let kept_count = i32::try_from(kept.len()).unwrap_or(i32::MAX);
    let section = match codec {
        _ if kept_count == 0 => Vec::new(),
        Codec::None => records,
        _ => compression::compress(codec, &records).map_err(|source| CompactError::Compress {
            base_offset: header.base_offset,
            source,
        })?,
    };
    let mut out = Vec::with_capacity(HEADER_LEN + section.len());
    out.extend_from_slice(batch.get(..HEADER_LEN).unwrap_or_default());
    out.extend_from_slice(&section);
    let length = i32::try_from(out.len() - LOG_OVERHEAD).unwrap_or(i32::MAX);
    put(&mut out, LENGTH_AT, &length.to_be_bytes());
    put(&mut out, RECORDS_COUNT_AT, &kept_count.to_be_bytes());
    let mut attributes = header.attributes;
    if kept_count == 0 {
        // An empty batch is written uncompressed, as Kafka writes it: a codec
        // flag over zero bytes is no valid stream, and librdkafka (stalls on
        // gzip, fails snappy and lz4) and kafka-python (hangs) cannot read it.
        attributes &= !COMPRESSION_MASK;
    }
    if let Some(horizon) = stamp {
        attributes |= DELETE_HORIZON_FLAG;
        put(&mut out, BASE_TIMESTAMP_AT, &horizon.to_be_bytes());
    }
    put(&mut out, ATTRIBUTES_AT, &attributes.to_be_bytes());
    reseal(&mut out);
    filtered.rewritten = Some(out);
    Ok(filtered)
}

#[cfg(test)]
mod tests;
