//! The sparse time index (`.timeindex`): a flat array of 12-byte entries.
//!
//! ```text
//! { timestamp_ms i64 | relative_offset u32 }   (big-endian)
//! ```
//! An entry `(T, R)` means: `T` is the largest timestamp among the segment's
//! batches up to the one whose last offset is `base + R`, and that batch is
//! where `T` was first reached. So every record at or before `base + R` has
//! a timestamp <= `T`. Entries are added at offset-index points and when the
//! segment is sealed or flushed, only when `T` grew: both fields strictly
//! increase. The last entry therefore holds the segment's max timestamp.
use super::bytes_be::{i64_at, u32_at};

pub const ENTRY_LEN: usize = 12;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeIndexEntry {
    pub timestamp_ms: i64,
    pub relative_offset: u32,
}

impl TimeIndexEntry {
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.timestamp_ms.to_be_bytes());
        out.extend_from_slice(&self.relative_offset.to_be_bytes());
    }

    pub fn decode_at(buf: &[u8], i: usize) -> Option<TimeIndexEntry> {
        let at = i.checked_mul(ENTRY_LEN)?;
        Some(TimeIndexEntry {
            timestamp_ms: i64_at(buf, at)?,
            relative_offset: u32_at(buf, at + 8)?,
        })
    }
}

pub fn entry_count(buf: &[u8]) -> usize {
    buf.len() / ENTRY_LEN
}

/// The last whole entry.
pub fn last(buf: &[u8]) -> Option<TimeIndexEntry> {
    TimeIndexEntry::decode_at(buf, entry_count(buf).checked_sub(1)?)
}

pub fn entries(buf: &[u8]) -> impl Iterator<Item = TimeIndexEntry> + '_ {
    (0..entry_count(buf)).filter_map(|i| TimeIndexEntry::decode_at(buf, i))
}

/// The last entry with `timestamp_ms < target_ms`: a search for the first
/// record at or after the target may start at its relative offset, since
/// everything up to there is older than the target.
pub fn last_before(buf: &[u8], target_ms: i64) -> Option<TimeIndexEntry> {
    let (mut lo, mut hi) = (0usize, entry_count(buf));
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let entry = TimeIndexEntry::decode_at(buf, mid)?;
        if entry.timestamp_ms < target_ms {
            lo = mid + 1
        } else {
            hi = mid
        }
    }
    lo.checked_sub(1)
        .and_then(|i| TimeIndexEntry::decode_at(buf, i))
}

/// Why a time index cannot be trusted (it is then rebuilt from the log).
pub fn check(buf: &[u8]) -> Result<(), String> {
    if !buf.len().is_multiple_of(ENTRY_LEN) {
        return Err(format!(
            "length {} is not a multiple of {ENTRY_LEN}",
            buf.len()
        ));
    }
    let mut previous: Option<TimeIndexEntry> = None;
    for (i, entry) in entries(buf).enumerate() {
        if let Some(p) = previous
            && (entry.timestamp_ms <= p.timestamp_ms || entry.relative_offset <= p.relative_offset)
        {
            return Err(format!("entry {i} {entry:?} goes backwards from {p:?}"));
        }
        previous = Some(entry);
    }
    Ok(())
}

/// A time index file of `(timestamp, relative offset)` entries, for tests.
#[cfg(test)]
pub(crate) fn encode_entries(entries: &[(i64, u32)]) -> Vec<u8> {
    let mut out = Vec::new();
    for &(timestamp_ms, relative_offset) in entries {
        TimeIndexEntry {
            timestamp_ms,
            relative_offset,
        }
        .encode(&mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_before_is_strict() {
        let buf = encode_entries(&[(100, 10), (200, 20), (300, 40)]);
        assert_eq!(last_before(&buf, 100), None);
        assert_eq!(last_before(&buf, 101).unwrap().relative_offset, 10);
        assert_eq!(last_before(&buf, 200).unwrap().relative_offset, 10);
        assert_eq!(last_before(&buf, 201).unwrap().relative_offset, 20);
        assert_eq!(last_before(&buf, i64::MAX).unwrap().relative_offset, 40);
    }

    #[test]
    fn last_is_the_last_whole_entry() {
        let mut buf = encode_entries(&[(100, 10), (300, 40)]);
        assert_eq!(last(&buf), entries(&buf).last());
        buf.extend_from_slice(&[7; 5]);
        assert_eq!(
            last(&buf).map(|e| e.relative_offset),
            Some(40),
            "a torn tail is no entry"
        );
        assert_eq!(last(&[]), None);
    }

    #[test]
    fn check_rejects_backwards_entries() {
        assert!(check(&encode_entries(&[(100, 10), (200, 20)])).is_ok());
        assert!(check(&encode_entries(&[(200, 10), (100, 20)])).is_err());
        assert!(check(&encode_entries(&[(100, 10), (200, 10)])).is_err());
        assert!(check(&encode_entries(&[(100, 10), (100, 20)])).is_err());
        assert!(check(&[0u8; 13]).is_err());
    }
}
