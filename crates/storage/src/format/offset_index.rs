//! The sparse offset index (`.index`): a flat array of 8-byte entries.
//!
//! ```text
//! { relative_offset u32 | position u32 }   (big-endian, sorted by both fields)
//! ```
//! `relative_offset` is a batch's base offset minus the segment's base
//! offset; `position` is that batch's byte position in the `.log` file.
use super::bytes_be::u32_at;

pub const ENTRY_LEN: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OffsetIndexEntry {
    pub relative_offset: u32,
    pub position: u32,
}

impl OffsetIndexEntry {
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.relative_offset.to_be_bytes());
        out.extend_from_slice(&self.position.to_be_bytes());
    }

    /// Entry number `i` of an index file's bytes.
    pub fn decode_at(buf: &[u8], i: usize) -> Option<OffsetIndexEntry> {
        let at = i.checked_mul(ENTRY_LEN)?;
        Some(OffsetIndexEntry {
            relative_offset: u32_at(buf, at)?,
            position: u32_at(buf, at + 4)?,
        })
    }
}

/// Number of whole entries in `buf`.
pub fn entry_count(buf: &[u8]) -> usize {
    buf.len() / ENTRY_LEN
}

/// The last whole entry.
pub fn last(buf: &[u8]) -> Option<OffsetIndexEntry> {
    OffsetIndexEntry::decode_at(buf, entry_count(buf).checked_sub(1)?)
}

/// All entries, in file order.
pub fn entries(buf: &[u8]) -> impl Iterator<Item = OffsetIndexEntry> + '_ {
    (0..entry_count(buf)).filter_map(|i| OffsetIndexEntry::decode_at(buf, i))
}

/// The last entry whose relative offset is <= `relative_offset` (binary search).
pub fn floor(buf: &[u8], relative_offset: u32) -> Option<OffsetIndexEntry> {
    around(buf, relative_offset).0
}

/// The last entry whose relative offset is <= `relative_offset` and the
/// entry after it (binary search). The batch holding that offset starts at
/// or after the first's position (0 without one) and ends at or before the
/// second's (the log's end without one).
pub fn around(
    buf: &[u8],
    relative_offset: u32,
) -> (Option<OffsetIndexEntry>, Option<OffsetIndexEntry>) {
    let (mut lo, mut hi) = (0usize, entry_count(buf));
    // Invariant: entries [0, lo) are <= target, entries [hi, n) are > target.
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let Some(entry) = OffsetIndexEntry::decode_at(buf, mid) else {
            break;
        };
        if entry.relative_offset <= relative_offset {
            lo = mid + 1
        } else {
            hi = mid
        }
    }
    let below = lo
        .checked_sub(1)
        .and_then(|i| OffsetIndexEntry::decode_at(buf, i));
    (below, OffsetIndexEntry::decode_at(buf, lo))
}

/// Why an index file cannot be trusted (it is then rebuilt from the log).
pub fn check(buf: &[u8], log_len: u64) -> Result<(), String> {
    if !buf.len().is_multiple_of(ENTRY_LEN) {
        return Err(format!(
            "length {} is not a multiple of {ENTRY_LEN}",
            buf.len()
        ));
    }
    let mut previous: Option<OffsetIndexEntry> = None;
    for (i, entry) in entries(buf).enumerate() {
        if u64::from(entry.position) >= log_len {
            return Err(format!(
                "entry {i} points at byte {} past the log end {log_len}",
                entry.position
            ));
        }
        if let Some(p) = previous
            && (entry.relative_offset <= p.relative_offset || entry.position <= p.position)
        {
            return Err(format!("entry {i} {entry:?} does not increase over {p:?}"));
        }
        previous = Some(entry);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(entries: &[(u32, u32)]) -> Vec<u8> {
        let mut out = Vec::new();
        for &(relative_offset, position) in entries {
            OffsetIndexEntry {
                relative_offset,
                position,
            }
            .encode(&mut out);
        }
        out
    }

    #[test]
    fn floor_finds_the_last_entry_not_after_the_target() {
        let buf = index(&[(0, 0), (10, 100), (20, 250)]);
        assert_eq!(floor(&buf, 0).unwrap().position, 0);
        assert_eq!(floor(&buf, 9).unwrap().position, 0);
        assert_eq!(floor(&buf, 10).unwrap().position, 100);
        assert_eq!(floor(&buf, 1000).unwrap().position, 250);
        assert_eq!(floor(&index(&[(5, 40)]), 4), None);
        assert_eq!(floor(&[], 4), None);
    }

    #[test]
    fn around_brackets_the_target() {
        let buf = index(&[(0, 0), (10, 100), (20, 250)]);
        let at = |r| {
            let (below, above) = around(&buf, r);
            (below.map(|e| e.position), above.map(|e| e.position))
        };
        assert_eq!(at(0), (Some(0), Some(100)));
        assert_eq!(at(15), (Some(100), Some(250)));
        assert_eq!(at(20), (Some(250), None));
        assert_eq!(
            around(&index(&[(5, 40)]), 4),
            (None, OffsetIndexEntry::decode_at(&index(&[(5, 40)]), 0))
        );
        assert_eq!(around(&[], 4), (None, None));
    }

    #[test]
    fn check_rejects_bad_indexes() {
        assert!(check(&index(&[(0, 0), (10, 100)]), 200).is_ok());
        assert!(check(&index(&[(0, 0), (10, 100)]), 100).is_err());
        assert!(check(&index(&[(10, 0), (10, 100)]), 200).is_err());
        assert!(check(&[0u8; 7], 200).is_err());
    }
}
