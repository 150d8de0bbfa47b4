//! The records section of a v2 batch, checked record by record: what a batch
//! header's CRC cannot tell (it covers garbage as happily as records), and
//! what every reader of the batch later relies on. A Produce request is
//! checked here before its batches are stored, so a client can never leave
//! a batch in the log that consumers then fail to read, one after another.
//!
//! ```text
//! record: { length varint | attributes i8 | timestamp_delta varlong | offset_delta varint |
//!           key_length varint | key | value_length varint | value |
//!           header_count varint | headers: { key_length varint | key | value_length varint | value } }
//! ```
//! Varints are zig-zag, as in protobuf. `length` counts the bytes after
//! itself; a key or value length of -1 is null; a header key is never null.
//!
//! The walk copies nothing: an uncompressed section is read in place, a
//! compressed one is streamed through its decompressor, so the memory used
//! does not grow with what the batch claims to hold. A reader that has the
//! section in memory takes its records from [`Records`], which checks each
//! as it hands it out: the same walk, so one pass both checks and decodes.
//!
//! # Layout
//! - `grammar` — one record's fields read from a `Source`, and the walk over a section.
//! - `source` — a section in memory (`Slice`) or coming out of a decompressor (`Stream`).
//! - `view` — [`Records`]: the walk over a section in memory, yielding each [`Record`] in place.

use std::io::BufReader;

use crate::compression::{self, Codec, DecompressError};

mod grammar;
mod source;
mod view;

pub use grammar::put_varint;
use grammar::{Spans, Walk};
use source::{Source, Stream};
pub use view::{Headers, Record, Records};

/// The most a batch's records may decompress to: also where the client
/// stops reading a fetched batch, so nothing is stored that it could not read.
pub const DECOMPRESSED_BYTES_MAX: usize = 256 * 1024 * 1024;

/// Why a records section does not hold the records its header announces.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum RecordError {
    #[error("record {index} is cut short: its {field} runs past the records section")]
    Truncated { index: u32, field: &'static str },
    #[error("record {index} has an invalid {field}: {value}")]
    BadField {
        index: u32,
        field: &'static str,
        value: i64,
    },
    #[error("record {index} declares {declared} bytes but its fields take {used}")]
    LengthMismatch {
        index: u32,
        declared: u64,
        used: u64,
    },
    #[error("the batch announces {announced} records but only {found} follow its header")]
    TooFew { announced: i64, found: u32 },
    #[error("the batch announces {announced} records but more follow its header")]
    TooMany { announced: i64 },
    #[error("{0}")]
    Decompress(String),
}

impl From<DecompressError> for RecordError {
    fn from(e: DecompressError) -> Self {
        RecordError::Decompress(e.to_string())
    }
}

/// Checks that `section` (a batch's bytes after its 61-byte header, still
/// compressed with `codec`) holds exactly `count` well-formed records whose
/// offset deltas run 0, 1, 2, …
pub fn check(codec: Codec, section: &[u8], count: i32) -> Result<(), RecordError> {
    check_within(codec, section, count, DECOMPRESSED_BYTES_MAX, |_, _| {})
}

/// [`check`], also listing the records without a key by their index in the
/// batch: a compacted log refuses them (Kafka's `LogValidator.validateKey`),
/// and one walk serves both checks, so a compressed batch is decompressed
/// once. Empty when every record has a key.
pub fn check_keyed(codec: Codec, section: &[u8], count: i32) -> Result<Vec<i32>, RecordError> {
    let mut keyless = Vec::new();
    check_within(
        codec,
        section,
        count,
        DECOMPRESSED_BYTES_MAX,
        |index, spans| {
            if spans.key.is_none() {
                keyless.push(i32::try_from(index).unwrap_or(i32::MAX));
            }
        },
    )?;
    Ok(keyless)
}

/// [`check`] with the decompressed size capped at `limit` bytes, calling
/// `each` with every well-formed record and its index.
fn check_within(
    codec: Codec,
    section: &[u8],
    count: i32,
    limit: usize,
    each: impl FnMut(u32, &Spans),
) -> Result<(), RecordError> {
    match codec {
        Codec::None => first_error(Walk::in_memory(section, Some(count)), each),
        Codec::Gzip => walk_stream(flate2::bufread::GzDecoder::new(section), count, limit, each),
        Codec::Zstd => walk_stream(
            zstd::stream::read::Decoder::with_buffer(section).map_err(corrupt(codec))?,
            count,
            limit,
            each,
        ),
        Codec::Lz4 => walk_stream(
            lz4::Decoder::new(section).map_err(corrupt(codec))?,
            count,
            limit,
            each,
        ),
        Codec::Snappy => {
            // Snappy's blocks are decompressed whole, but a block cannot
            // expand more than 64/3 times (its longest copy is 64 bytes for a
            // 3-byte tag), so this bound costs a legitimate batch nothing.
            let limit = section.len().saturating_mul(22).min(limit);
            let records = compression::decompress(codec, section, limit)?;
            first_error(Walk::in_memory(&records, Some(count)), each)
        }
    }
}

/// Checks that `section` (decompressed) is a sequence of well-formed records,
/// however many: for a reader that has only the records, not their header.
/// Offset deltas may have gaps, as in a batch a Kafka broker compacted.
pub fn check_all(section: &[u8]) -> Result<(), RecordError> {
    first_error(Walk::in_memory(section, None), |_, _| {})
}

/// Runs a walk to its end, calling `each` with every record and its index:
/// Ok if every record was well formed. The checks walk as [`Records`] does,
/// without making views nobody reads.
fn first_error(
    walk: impl Iterator<Item = Result<Spans, RecordError>>,
    mut each: impl FnMut(u32, &Spans),
) -> Result<(), RecordError> {
    for (record, index) in walk.zip(0u32..) {
        each(index, &record?);
    }
    Ok(())
}

fn corrupt(codec: Codec) -> impl Fn(std::io::Error) -> RecordError {
    move |e| {
        RecordError::from(DecompressError::Corrupt {
            codec,
            detail: e.to_string(),
        })
    }
}

fn walk_stream(
    decoder: impl std::io::Read,
    count: i32,
    limit: usize,
    each: impl FnMut(u32, &Spans),
) -> Result<(), RecordError> {
    let limited = std::io::Read::take(decoder, limit as u64 + 1);
    let mut walk = Walk::new(Stream::new(BufReader::new(limited)), Some(count));
    let result = first_error(walk.by_ref(), each);
    // A decompressor's own failure explains a cut-short record better than the cut does.
    if let Some(e) = walk.source.error() {
        return Err(RecordError::Decompress(e));
    }
    if walk.source.position() > limit as u64 {
        return Err(DecompressError::TooLarge { limit }.into());
    }
    result
}

#[cfg(test)]
mod tests;
