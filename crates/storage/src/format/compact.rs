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
//! ```text
//! rewritten = { header[0..61) with batch_length, crc, records_count replaced | codec(kept record bytes…) }
//! ```
use std::borrow::Cow;

use ferrolog_wire::compression::{self, Codec, CompressError};
use ferrolog_wire::records::{DECOMPRESSED_BYTES_MAX, Records};

use super::batch::{
    ATTRIBUTES_AT, BatchHeader, COMPRESSION_MASK, HEADER_LEN, LENGTH_AT, LOG_OVERHEAD,
    RECORDS_COUNT_AT, put, records_section, reseal,
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
}

/// What [`filter_batch`] made of a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Filtered {
    /// Every record is kept (or the batch is a control batch): copy it as it is.
    Unchanged,
    Rewritten {
        /// The whole new batch.
        batch: Vec<u8>,
        records_removed: u32,
        tombstones_removed: u32,
    },
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
/// its stored bytes.
fn walk<'a>(
    header: &BatchHeader,
    plain: &'a [u8],
    mut each: impl FnMut(RecordInfo<'a>, &'a [u8]),
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
        };
        each(info, record.raw());
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

/// The whole batch `batch` with only the records `keep` returns true for.
/// Control batches are kept whole without asking `keep`.
pub fn filter_batch(
    header: &BatchHeader,
    batch: &[u8],
    mut keep: impl FnMut(&RecordInfo<'_>) -> bool,
) -> Result<Filtered, CompactError> {
    if header.is_control() {
        return Ok(Filtered::Unchanged);
    }
    let (codec, plain) = plain_records(header, batch)?;
    let (mut kept, mut kept_count, mut removed, mut tombstones) = (Vec::new(), 0i32, 0u32, 0u32);
    walk(header, &plain, |info, raw| {
        if keep(&info) {
            kept.extend_from_slice(raw);
            kept_count += 1;
        } else {
            removed += 1;
            tombstones += u32::from(info.is_tombstone);
        }
    })?;
    if removed == 0 {
        return Ok(Filtered::Unchanged);
    }
    let section = match codec {
        _ if kept_count == 0 => Vec::new(),
        Codec::None => kept,
        _ => compression::compress(codec, &kept).map_err(|source| CompactError::Compress {
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
    if kept_count == 0 {
        // An empty batch is written uncompressed, as Kafka writes it: a codec
        // flag over zero bytes is no valid stream, and librdkafka (stalls on
        // gzip, fails snappy and lz4) and kafka-python (hangs) cannot read it.
        let plain = header.attributes & !COMPRESSION_MASK;
        put(&mut out, ATTRIBUTES_AT, &plain.to_be_bytes());
    }
    reseal(&mut out);
    Ok(Filtered::Rewritten {
        batch: out,
        records_removed: removed,
        tombstones_removed: tombstones,
    })
}

#[cfg(test)]
mod tests;
