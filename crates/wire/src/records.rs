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
//! does not grow with what the batch claims to hold.

use std::io::{BufRead, BufReader};

use crate::compression::{self, Codec, DecompressError};

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
    check_within(codec, section, count, DECOMPRESSED_BYTES_MAX)
}

/// [`check`] with the decompressed size capped at `limit` bytes.
fn check_within(codec: Codec, section: &[u8], count: i32, limit: usize) -> Result<(), RecordError> {
    let count = i64::from(count);
    match codec {
        Codec::None => walk(&mut Slice::new(section), Some(count)),
        Codec::Gzip => walk_stream(flate2::bufread::GzDecoder::new(section), count, limit),
        Codec::Zstd => walk_stream(
            zstd::stream::read::Decoder::with_buffer(section).map_err(corrupt(codec))?,
            count,
            limit,
        ),
        Codec::Lz4 => walk_stream(
            lz4::Decoder::new(section).map_err(corrupt(codec))?,
            count,
            limit,
        ),
        Codec::Snappy => {
            // Snappy's blocks are decompressed whole, but a block cannot
            // expand more than 64/3 times (its longest copy is 64 bytes for a
            // 3-byte tag), so this bound costs a legitimate batch nothing.
            let limit = section.len().saturating_mul(22).min(limit);
            let records = compression::decompress(codec, section, limit)?;
            walk(&mut Slice::new(&records), Some(count))
        }
    }
}

/// Checks that `section` (decompressed) is a sequence of well-formed records,
/// however many: for a reader that has only the records, not their header.
/// Offset deltas may have gaps, as in a batch a Kafka broker compacted.
pub fn check_all(section: &[u8]) -> Result<(), RecordError> {
    walk(&mut Slice::new(section), None)
}

fn corrupt(codec: Codec) -> impl Fn(std::io::Error) -> RecordError {
    move |e| {
        RecordError::from(DecompressError::Corrupt {
            codec,
            detail: e.to_string(),
        })
    }
}

fn walk_stream(decoder: impl std::io::Read, count: i64, limit: usize) -> Result<(), RecordError> {
    let limited = std::io::Read::take(decoder, limit as u64 + 1);
    let mut source = Stream {
        reader: BufReader::new(limited),
        position: 0,
        error: None,
    };
    let result = walk(&mut source, Some(count));
    // A decompressor's own failure explains a cut-short record better than the cut does.
    if let Some(e) = source.error {
        return Err(RecordError::Decompress(e));
    }
    if source.position > limit as u64 {
        return Err(DecompressError::TooLarge { limit }.into());
    }
    result
}

/// Bytes read front to back, counting the position.
trait Source {
    fn byte(&mut self) -> Option<u8>;
    /// Skips `n` bytes; false if fewer remain.
    fn skip(&mut self, n: u64) -> bool;
    fn position(&self) -> u64;
    fn at_end(&mut self) -> bool;
}

struct Slice<'a> {
    rest: &'a [u8],
    len: usize,
}

impl<'a> Slice<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Slice {
            rest: bytes,
            len: bytes.len(),
        }
    }
}

impl Source for Slice<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (first, rest) = self.rest.split_first()?;
        self.rest = rest;
        Some(*first)
    }

    fn skip(&mut self, n: u64) -> bool {
        match usize::try_from(n).ok().and_then(|n| self.rest.get(n..)) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }

    fn position(&self) -> u64 {
        (self.len - self.rest.len()) as u64
    }

    fn at_end(&mut self) -> bool {
        self.rest.is_empty()
    }
}

struct Stream<R> {
    reader: R,
    position: u64,
    /// The decompressor's error, if it stopped on one.
    error: Option<String>,
}

impl<R: BufRead> Stream<R> {
    fn buffered(&mut self) -> &[u8] {
        if self.error.is_some() {
            return &[];
        }
        match self.reader.fill_buf() {
            Ok(buf) => buf,
            Err(e) => {
                self.error = Some(e.to_string());
                &[]
            }
        }
    }
}

impl<R: BufRead> Source for Stream<R> {
    fn byte(&mut self) -> Option<u8> {
        let byte = *self.buffered().first()?;
        self.reader.consume(1);
        self.position += 1;
        Some(byte)
    }

    fn skip(&mut self, mut n: u64) -> bool {
        while n > 0 {
            let available = self.buffered().len();
            if available == 0 {
                return false;
            }
            let step = usize::try_from(n).unwrap_or(usize::MAX).min(available);
            self.reader.consume(step);
            self.position += step as u64;
            n -= step as u64;
        }
        true
    }

    fn position(&self) -> u64 {
        self.position
    }

    fn at_end(&mut self) -> bool {
        self.buffered().is_empty()
    }
}

/// Walks records until `count` are read (then the section must end) or,
/// without a count, until the section ends.
fn walk(source: &mut impl Source, count: Option<i64>) -> Result<(), RecordError> {
    let mut index: u32 = 0;
    loop {
        let done = match count {
            Some(count) => i64::from(index) >= count,
            None => source.at_end(),
        };
        if done {
            break;
        }
        if source.at_end() {
            return Err(RecordError::TooFew {
                announced: count.unwrap_or_default(),
                found: index,
            });
        }
        record(source, index, count.is_some())?;
        index = index.saturating_add(1);
    }
    if !source.at_end() {
        return Err(RecordError::TooMany {
            announced: count.unwrap_or_default(),
        });
    }
    Ok(())
}

/// Reads record `index`; with `dense`, its offset delta must be `index`.
fn record(source: &mut impl Source, index: u32, dense: bool) -> Result<(), RecordError> {
    let mut fields = Fields {
        source,
        index,
        start: 0,
    };
    let declared = fields.length("length", 0)?;
    fields.start = fields.source.position();
    fields
        .source
        .byte()
        .ok_or_else(|| fields.truncated("attributes"))?;
    fields.varint("timestamp delta")?;
    let offset_delta = fields.varint("offset delta")?;
    if dense && offset_delta != i64::from(index) || offset_delta < 0 {
        return Err(fields.bad("offset delta", offset_delta));
    }
    fields.bytes("key", -1)?;
    fields.bytes("value", -1)?;
    let headers = fields.length("header count", 0)?;
    for _ in 0..headers {
        fields.bytes("header key", 0)?;
        fields.bytes("header value", -1)?;
        // A header takes at least two bytes, so a lying count ends here
        // rather than after billions of turns.
        if fields.used() > declared {
            break;
        }
    }
    let used = fields.used();
    if used != declared {
        return Err(RecordError::LengthMismatch {
            index,
            declared,
            used,
        });
    }
    Ok(())
}

/// One record's fields, read from `source`.
struct Fields<'a, S> {
    source: &'a mut S,
    index: u32,
    /// Where the record's bytes start, after its length.
    start: u64,
}

impl<S: Source> Fields<'_, S> {
    /// The bytes of the record read so far.
    fn used(&self) -> u64 {
        self.source.position() - self.start
    }

    fn truncated(&self, field: &'static str) -> RecordError {
        RecordError::Truncated {
            index: self.index,
            field,
        }
    }

    fn bad(&self, field: &'static str, value: i64) -> RecordError {
        RecordError::BadField {
            index: self.index,
            field,
            value,
        }
    }

    /// A zig-zag varint of up to 10 bytes (a varlong; varints are its 5-byte subset).
    fn varint(&mut self, field: &'static str) -> Result<i64, RecordError> {
        let mut raw = 0u64;
        for shift in (0..70).step_by(7) {
            let byte = self.source.byte().ok_or_else(|| self.truncated(field))?;
            raw |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok((raw >> 1) as i64 ^ -((raw & 1) as i64));
            }
        }
        Err(self.bad(field, i64::MIN))
    }

    /// A length or count: an i32 no smaller than `min`, as u64 (-1 reads as 0).
    fn length(&mut self, field: &'static str, min: i64) -> Result<u64, RecordError> {
        let value = self.varint(field)?;
        if value < min || value > i64::from(i32::MAX) {
            return Err(self.bad(field, value));
        }
        Ok(u64::try_from(value).unwrap_or(0))
    }

    /// A length-prefixed byte string (null when the length is -1 and `min` allows it).
    fn bytes(&mut self, field: &'static str, min: i64) -> Result<(), RecordError> {
        let len = self.length(field, min)?;
        if self.source.skip(len) {
            Ok(())
        } else {
            Err(self.truncated(field))
        }
    }
}

#[cfg(test)]
mod tests;
