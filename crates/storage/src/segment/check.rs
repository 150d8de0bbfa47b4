//! A trusted segment's index files checked against its log before an open
//! adopts them (FORMAT.md §7); an open rebuilds indexes that fail.
//!
//! An open after a clean shutdown must not read the logs (the storage
//! engine opens 10 GB in 100 segments in a few milliseconds), so beyond the
//! files' own shape and order (`offset_index::check`, `time_index::check`)
//! only the two entries an open acts on are compared with the batches they
//! name, a few batch headers each:
//!
//! - the offset index's last entry, where the open's walk of the log's tail
//!   starts: a batch must start at its position with its offset;
//! - the time index's last entry `(T, R)`, which becomes the segment's max
//!   timestamp (retention, ListOffsets -3, timestamp lookups): the batch
//!   holding `base + R`, reached through the offset index and a walk of the
//!   headers between two of its entries (about one index interval; from the
//!   log's start if no entry is at or below `R`), must end at `base + R`
//!   and carry max timestamp `T` (in a log-append-time batch the broker's
//!   stamp, which is what the index was built from), and the batches walked
//!   before it must all be below `T` (it is the first batch to reach `T`).
//!
//! The order of the entries bounds every other entry by the last one: all
//! lie inside the segment, at or below its max timestamp. They are not
//! compared with the log one by one (a read each: the whole log in all);
//! `inspect` does that, and tells which problems an open does not repair.
use std::sync::Arc;

use crate::format::{OffsetIndexEntry, TimeIndexEntry, offset_index, time_index};
use crate::io::File;
use crate::scan::{ScanItem, ScanMode, Scanner};

/// Why a segment's index files (their bytes; empty for a missing file)
/// cannot be adopted as they are, or `Ok(())`. Errors are the log's reads.
pub(crate) fn check_indexes(
    log: &Arc<dyn File>,
    log_len: u64,
    base_offset: i64,
    offsets: &[u8],
    times: &[u8],
) -> std::io::Result<Result<(), String>> {
    let shape = offset_index::check(offsets, log_len)
        .map_err(|e| format!("offset index: {e}"))
        .and_then(|()| time_index::check(times).map_err(|e| format!("time index: {e}")));
    if shape.is_err() {
        return Ok(shape);
    }
    if times.is_empty() && !offsets.is_empty() {
        // Every write of offset entries also writes the time index's final
        // entry, so entries without a time index mean a lost file.
        return Ok(Err("time index empty but offset index is not".to_owned()));
    }
    let log = SegmentLog {
        file: log,
        len: log_len,
        base_offset,
    };
    if let Some(last) = offset_index::last(offsets) {
        let verdict = log.check_offset_entry(last)?;
        if verdict.is_err() {
            return Ok(verdict);
        }
    }
    match time_index::last(times) {
        Some(last) => log.check_time_entry(offsets, last),
        None => Ok(Ok(())),
    }
}

struct SegmentLog<'a> {
    file: &'a Arc<dyn File>,
    len: u64,
    base_offset: i64,
}

impl SegmentLog<'_> {
    fn offset(&self, relative_offset: u32) -> i64 {
        self.base_offset.saturating_add(i64::from(relative_offset))
    }

    fn scan(&self, start: u64, end: u64) -> Scanner {
        Scanner::new(Arc::clone(self.file), ScanMode::Frame, start, end)
    }

    /// A batch starts at the entry's position with the entry's offset.
    fn check_offset_entry(&self, entry: OffsetIndexEntry) -> std::io::Result<Result<(), String>> {
        let (offset, position) = (self.offset(entry.relative_offset), entry.position);
        Ok(
            match self.scan(u64::from(position), self.len).next_item()? {
                ScanItem::Batch { header, .. } if header.base_offset == offset => Ok(()),
                ScanItem::Batch { header, .. } => Err(format!(
                    "offset index: last entry puts offset {offset} at byte {position}, where the batch starts at offset {}",
                    header.base_offset
                )),
                ScanItem::Damage { damage, .. } => Err(format!(
                    "offset index: last entry puts offset {offset} at byte {position}, where no batch starts ({damage})"
                )),
                ScanItem::End => Err(format!(
                    "offset index: last entry puts offset {offset} at byte {position}, the end of the log"
                )),
            },
        )
    }

    /// The batch holding the entry's offset ends there, has the entry's
    /// timestamp as its max, and is the first batch to reach it.
    fn check_time_entry(
        &self,
        offsets: &[u8],
        entry: TimeIndexEntry,
    ) -> std::io::Result<Result<(), String>> {
        let (target, timestamp) = (self.offset(entry.relative_offset), entry.timestamp_ms);
        let (from, to) = offset_index::around(offsets, entry.relative_offset);
        let (start, mut expected) = from.map_or((0, self.base_offset), |e| {
            (u64::from(e.position), self.offset(e.relative_offset))
        });
        let end = to.map_or(self.len, |e| u64::from(e.position));
        let mut scan = self.scan(start, end);
        let says = format!(
            "time index: last entry says offset {target} first reached timestamp {timestamp}"
        );
        loop {
            let (header, position) = match scan.next_item()? {
                ScanItem::Batch {
                    header, position, ..
                } => (header, position),
                ScanItem::End if end == self.len => {
                    let last = expected.saturating_sub(1);
                    return Ok(Err(format!(
                        "{says}, past the segment's last offset {last}"
                    )));
                }
                ScanItem::End => {
                    return Ok(Err(format!(
                        "{says}; no batch before the next offset-index entry (byte {end}) ends there"
                    )));
                }
                ScanItem::Damage { position, damage } => {
                    return Ok(Err(format!(
                        "{says}; on the way, byte {position}: {damage}"
                    )));
                }
            };
            let (first, last, max) = (
                header.base_offset,
                header.last_offset(),
                header.max_timestamp,
            );
            let verdict = if first != expected {
                Err(format!(
                    "{says}; on the way, the batch at byte {position} starts at offset {first} where {expected} was expected"
                ))
            } else if last < target && max < timestamp {
                expected = last.saturating_add(1);
                continue;
            } else if last < target {
                Err(format!(
                    "{says}, but the batch of offsets {first}..={last} has max timestamp {max}"
                ))
            } else if last != target {
                Err(format!(
                    "{says}, inside the batch of offsets {first}..={last}"
                ))
            } else if max != timestamp {
                Err(format!("{says}, but that batch's max timestamp is {max}"))
            } else {
                Ok(())
            };
            return Ok(verdict);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::batch::whole_batch;
    use crate::format::builder::{SimpleRecord, encode_batch};
    use crate::io::{FileSystem, MemFileSystem, OpenMode};
    use std::path::Path;

    const BASE: i64 = 100;

    /// A log of batches with the given max timestamps, two records each from
    /// offset `BASE`, and its offset index with an entry for every batch but
    /// the first.
    fn log(max_timestamps: &[i64]) -> (Arc<dyn File>, u64, Vec<u8>) {
        let fs = MemFileSystem::new();
        fs.create_dir_all(Path::new("/p")).unwrap();
        let file = fs
            .open(Path::new("/p/x.log"), OpenMode::ReadAppend)
            .unwrap();
        let (mut bytes, mut offsets) = (Vec::new(), Vec::new());
        for (i, &ts) in max_timestamps.iter().enumerate() {
            let record = SimpleRecord {
                timestamp_ms: ts,
                key: None,
                value: Some(b"v"),
            };
            let mut batch = encode_batch(&[record, record]);
            crate::format::batch::set_base_offset(&mut batch, BASE + 2 * i as i64);
            if i > 0 {
                OffsetIndexEntry {
                    relative_offset: 2 * i as u32,
                    position: bytes.len() as u32,
                }
                .encode(&mut offsets);
            }
            assert_eq!(whole_batch(&batch).unwrap().1, batch.len());
            bytes.extend_from_slice(&batch);
        }
        file.append(&bytes).unwrap();
        (file, bytes.len() as u64, offsets)
    }

    fn check(
        max_timestamps: &[i64],
        offsets: Option<&[u8]>,
        entries: &[(i64, u32)],
    ) -> Result<(), String> {
        let (file, len, own) = log(max_timestamps);
        check_indexes(
            &file,
            len,
            BASE,
            offsets.unwrap_or(&own),
            &time_index::encode_entries(entries),
        )
        .unwrap()
    }

    #[test]
    fn a_last_entry_that_matches_its_batch_passes() {
        let ts = [10, 30, 20, 40, 40];
        assert_eq!(check(&ts, None, &[(10, 1), (30, 3), (40, 7)]), Ok(()));
        assert_eq!(check(&ts, Some(&[]), &[(40, 7)]), Ok(()));
        assert_eq!(check(&ts, Some(&[]), &[]), Ok(()));
        assert_eq!(check(&[], Some(&[]), &[]), Ok(()));
    }

    #[test]
    fn a_last_entry_that_disagrees_with_the_log_fails() {
        let ts = [10, 30, 20, 40, 40];
        for (entries, why) in [
            (&[(30, 3), (41, 7)][..], "that batch's max timestamp is 40"),
            (&[(30, 3), (39, 7)], "that batch's max timestamp is 40"),
            (&[(41, 10)], "past the segment's last offset 109"),
            (&[(41, 1000)], "past the segment's last offset 109"),
            (&[(30, 3), (40, 6)], "inside the batch of offsets 106..=107"),
            (&[(31, 5)], "that batch's max timestamp is 20"),
        ] {
            for offsets in [None, Some(&[][..])] {
                let verdict = check(&ts, offsets, entries);
                assert!(
                    verdict.as_ref().is_err_and(|e| e.contains(why)),
                    "{entries:?}, offset index {offsets:?}: {verdict:?}"
                );
            }
        }
        // Not the first batch to reach 40: seen only by a walk that passes
        // the batch before, here without offset-index entries.
        assert!(
            check(&ts, Some(&[]), &[(40, 9)]).is_err_and(|e| e.contains("has max timestamp 40"))
        );
        assert_eq!(check(&ts, None, &[(40, 9)]), Ok(()));
    }

    #[test]
    fn an_offset_index_whose_last_entry_names_no_batch_fails() {
        let (file, len, offsets) = log(&[1, 2, 3]);
        let mut moved = offsets.clone();
        let at = moved.len() - 1;
        moved[at] += 1;
        let verdict = check_indexes(
            &file,
            len,
            BASE,
            &moved,
            &time_index::encode_entries(&[(3, 5)]),
        )
        .unwrap();
        assert!(verdict.is_err_and(|e| e.contains("where no batch starts")));
        let mut renumbered = offsets;
        let at = renumbered.len() - 5;
        renumbered[at] += 1;
        let verdict = check_indexes(
            &file,
            len,
            BASE,
            &renumbered,
            &time_index::encode_entries(&[(3, 5)]),
        )
        .unwrap();
        assert!(verdict.is_err_and(|e| e.contains("where the batch starts at offset 104")));
        let verdict = check_indexes(&file, len, BASE, &[0; 8], &[]).unwrap();
        assert!(verdict.is_err_and(|e| e.contains("time index empty")));
    }
}
