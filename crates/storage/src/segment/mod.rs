//! One segment: a `.log` file plus its sparse offset and time indexes, and
//! the bookkeeping the writer keeps about it.
//!
//! The active segment's index entries are kept in memory and written to
//! their files when it is sealed, flushed or closed; a sealed segment keeps
//! none and maps its index files only while lookups need them (`index`).
//! After a crash indexes are rebuilt from the log, which is the only authority.
//!
//! - `check`: a trusted segment's index files checked against its log at open.
//! - `index`: one index file as the segment holds it (in memory, mapped, or only in the file).
//! - `maps`: the mappings segments hold and the retirement of idle ones.
//! - `view`: a read-only view of a segment's log used outside the partition lock.
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;

use crate::error::{IoContext, IoOp, StorageError};
use crate::format::batch::{BatchHeader, HEADER_LEN};
use crate::format::names::{FileKind, segment_path};
use crate::format::{OffsetIndexEntry, TimeIndexEntry, offset_index, time_index};
use crate::io::{File, FileSystem, OpenMode, read_exact_at};
use crate::partition::TimestampOffset;

mod check;
mod index;
mod maps;
mod view;

pub(crate) use check::check_indexes;
use index::IndexFile;
use maps::LogMap;
pub(crate) use maps::{IdleMaps, retire_idle_maps};
pub(crate) use view::{LogBytes, SegmentView};

/// An open file with its path (for error reports when it is synced later).
pub(crate) type NamedFile = (PathBuf, Arc<dyn File>);

/// Where a walk of the log for a lookup starts: a batch's position and the
/// base offset the offset index says the batch there has. Position 0 is the
/// segment's start and comes from no index entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct WalkStart {
    pub(crate) position: u64,
    pub(crate) base_offset: i64,
}

#[derive(Debug)]
pub(crate) struct Segment {
    pub(crate) base_offset: i64,
    /// The log's open file. The active segment always holds it; a sealed
    /// one gives it up when sealed or loaded (`close_log`), is read through
    /// its mapping, and opens the file again only when it cannot map
    /// (`log_file`), until it goes idle. One descriptor per sealed segment
    /// would let a topic with a tiny `segment.bytes` use up the process's
    /// open-file limit.
    log: Option<Arc<dyn File>>,
    pub(crate) log_path: PathBuf,
    pub(crate) size_bytes: u64,
    /// Position below which writeback was already started (`File::start_writeback`).
    pub(crate) writeback_started_bytes: u64,
    /// Offset after the last batch (= base offset while empty).
    pub(crate) next_offset: i64,
    offset_index: IndexFile,
    time_index: IndexFile,
    bytes_since_index: u64,
    /// Kept as a plain value (retention, ListOffsets latest, metadata), so
    /// nothing but a lookup ever needs the index files of a sealed segment.
    pub(crate) max_timestamp: Option<TimestampOffset>,
    /// The first batch's max timestamp (Kafka's "rolling-based timestamp"),
    /// if it has one (not -1): the segment's age, for roll by `segment.ms`
    /// and for `max.compaction.lag.ms`, counts from here, as in Kafka
    /// (KIP-33), so a segment created long before its first record is not
    /// old. Booked with the batch at position 0, or read at open
    /// (`read_first_batch_timestamp`).
    pub(crate) first_batch_timestamp: Option<i64>,
    /// Wall-clock time the segment was created, its age where it has no
    /// `first_batch_timestamp`: for the active segment at open, its file's
    /// birth time (`date_from_file`); otherwise when this process created or
    /// opened it.
    pub(crate) created_ms: i64,
    /// The log mapped read-only, once first read.
    mapped: Option<LogMap>,
    /// Mapping the sealed log failed (or came back short): use reads.
    map_failed: bool,
    /// The file system cannot map a growing log: read the active segment.
    map_growing_failed: bool,
    /// When a read last planned on this segment (a process-wide sequence).
    last_read: u64,
    /// A lookup found the offset index naming a batch the log does not hold
    /// where it says (damage a clean open does not look for: it checks the
    /// last entry only). Lookups then walk from the segment's start.
    index_disagrees: Arc<AtomicBool>,
}

impl Segment {
    /// Opens (creating if needed) the log file of the segment at `base_offset`
    /// with empty in-memory indexes. The caller fills them by `record_batch`.
    pub(crate) fn open(
        fs: &dyn FileSystem,
        dir: &Path,
        base_offset: i64,
        now_ms: i64,
    ) -> Result<Self, StorageError> {
        let log_path = segment_path(dir, base_offset, FileKind::Log);
        let log = fs
            .open(&log_path, OpenMode::ReadAppend)
            .ctx(&log_path, IoOp::Open)?;
        let size_bytes = log.len().ctx(&log_path, IoOp::Read)?;
        if size_bytes == 0 {
            // A segment is always the triple: its indexes exist (empty) from
            // the start, so tools and people see every segment whole.
            for kind in [FileKind::OffsetIndex, FileKind::TimeIndex] {
                let path = segment_path(dir, base_offset, kind);
                if !fs.exists(&path) {
                    fs.open(&path, OpenMode::ReadAppend)
                        .ctx(&path, IoOp::Open)?;
                }
            }
        }
        Ok(Segment {
            log: Some(log),
            log_path,
            size_bytes,
            writeback_started_bytes: size_bytes,
            created_ms: now_ms,
            // The rest is a new segment's bookkeeping, as for a rewrite.
            ..Segment::rewritten(dir, base_offset)
        })
    }

    /// The bookkeeping of a segment whose log compaction writes under
    /// another name (`<base>.log.cleaned`): no file is opened or created.
    /// The caller books each batch written with `record_batch`, sets
    /// `size_bytes`, and writes the indexes (`write_indexes`, which replaces
    /// whatever the files held) once the log is in place.
    pub(crate) fn rewritten(dir: &Path, base_offset: i64) -> Segment {
        Segment {
            base_offset,
            log: None,
            log_path: segment_path(dir, base_offset, FileKind::Log),
            size_bytes: 0,
            writeback_started_bytes: 0,
            next_offset: base_offset,
            offset_index: IndexFile::new(),
            time_index: IndexFile::new(),
            bytes_since_index: 0,
            max_timestamp: None,
            first_batch_timestamp: None,
            created_ms: 0,
            mapped: None,
            map_failed: false,
            map_growing_failed: false,
            last_read: 0,
            index_disagrees: Arc::default(),
        }
    }

    /// Dates the segment from its file's birth time where the file system
    /// keeps one: an existing active segment is as old as its file, not as
    /// this process, so roll by age survives a restart.
    pub(crate) fn date_from_file(&mut self, fs: &dyn FileSystem, now_ms: i64) {
        if let Some(created) = fs.created_ms(&self.log_path).filter(|&c| c <= now_ms) {
            self.created_ms = created;
        }
    }

    /// Reads the first batch's max timestamp from the log (a segment loaded
    /// without a walk from its start books none); stays None for a log
    /// shorter than a batch header.
    pub(crate) fn read_first_batch_timestamp(
        &mut self,
        fs: &dyn FileSystem,
    ) -> Result<(), StorageError> {
        if self.size_bytes < HEADER_LEN as u64 {
            return Ok(());
        }
        let mut header = [0u8; HEADER_LEN];
        let log = self.log_file(fs)?;
        read_exact_at(log.as_ref(), &mut header, 0).ctx(&self.log_path, IoOp::Read)?;
        self.first_batch_timestamp = BatchHeader::parse(&header)
            .ok()
            .and_then(|h| timestamp_if_any(h.max_timestamp));
        Ok(())
    }

    /// How old the segment is for roll by `segment.ms` when a batch whose
    /// max timestamp is `batch_max_timestamp` arrives at `now_ms`: as Kafka
    /// counts it, the time between the first batch's timestamp and this
    /// one's; from the file's creation, on the wall clock, without one.
    pub(crate) fn age_for_roll_ms(&self, batch_max_timestamp: i64, now_ms: i64) -> i64 {
        match self.first_batch_timestamp {
            Some(first) => batch_max_timestamp.saturating_sub(first),
            None => now_ms.saturating_sub(self.created_ms),
        }
    }

    /// Since when the segment counts as waiting for `max.compaction.lag.ms`:
    /// its first batch's timestamp (as Kafka counts it), else its creation.
    pub(crate) fn waiting_since_ms(&self) -> i64 {
        self.first_batch_timestamp.unwrap_or(self.created_ms)
    }

    /// The log's file, opened read-only again if the segment had closed it
    /// (only a sealed one does: the active segment's stays open, so writes
    /// never get a read-only file).
    pub(crate) fn log_file(&mut self, fs: &dyn FileSystem) -> Result<Arc<dyn File>, StorageError> {
        if let Some(log) = &self.log {
            return Ok(Arc::clone(log));
        }
        let log = fs
            .open(&self.log_path, OpenMode::Read)
            .ctx(&self.log_path, IoOp::Open)?;
        Ok(Arc::clone(self.log.insert(log)))
    }

    /// Lets go of the log's file, for a segment now sealed: it returns the
    /// handle for a caller that still has to sync it.
    pub(crate) fn close_log(&mut self) -> Option<Arc<dyn File>> {
        self.log.take()
    }

    /// A view of the published log: its mapping if it has one, or else its
    /// file (opened again if the segment had closed it).
    pub(crate) fn view(&mut self, fs: &dyn FileSystem) -> Result<SegmentView, StorageError> {
        let published = self
            .mapped
            .as_ref()
            .and_then(|m| m.published(self.size_bytes));
        let bytes = match published {
            Some(mapped) => LogBytes::Mapped(mapped),
            None => LogBytes::File(self.log_file(fs)?),
        };
        Ok(SegmentView {
            bytes,
            log_path: self.log_path.clone(),
            size_bytes: self.size_bytes,
        })
    }

    /// Maps the log for zero-copy reads, if it is not mapped far enough yet.
    ///
    /// A sealed log never changes again (it is only ever unlinked whole), so
    /// it is mapped as it is. The active log is mapped `growing_len` bytes
    /// long (past its end) so that the one mapping serves it while it grows,
    /// and the segment keeps it once sealed; the view only ever exposes the
    /// published prefix. Reads of the active segment used to `pread` into a
    /// buffer: half of a 1 KiB consumer's broker CPU went to that copy.
    /// On failure reads keep using positioned reads.
    pub(crate) fn map_for_reads(&mut self, fs: &dyn FileSystem, sealed: bool, growing_len: u64) {
        let covered =
            |m: &Option<LogMap>, size| m.as_ref().is_some_and(|m| m.published(size).is_some());
        if covered(&self.mapped, self.size_bytes) {
            return;
        }
        if sealed {
            self.map_sealed(fs);
        } else if !self.map_growing_failed {
            // Twice the size if the segment already outgrew the usual length
            // (a single batch larger than the segment size), so remaps stay rare.
            let len = growing_len.max(self.size_bytes.saturating_mul(2));
            match fs.map_growing(&self.log_path, len) {
                Ok(Some(bytes)) => self.mapped = Some(LogMap(bytes)),
                Ok(None) => self.map_growing_failed = true,
                Err(e) => {
                    tracing::debug!(segment = %self.log_path.display(), error = %e, "cannot map the active segment; using reads");
                    self.map_growing_failed = true;
                }
            }
        }
    }

    fn map_sealed(&mut self, fs: &dyn FileSystem) {
        if self.map_failed {
            return;
        }
        match fs.map(&self.log_path) {
            Ok(bytes) if bytes.len() as u64 >= self.size_bytes => self.mapped = Some(LogMap(bytes)),
            Ok(_) => self.map_failed = true,
            Err(e) => {
                tracing::debug!(segment = %self.log_path.display(), error = %e, "cannot map sealed segment; using reads");
                self.map_failed = true;
            }
        }
    }

    /// Whether the segment holds any mapping (its log or an index file).
    pub(crate) fn holds_mappings(&self) -> bool {
        self.mapped.is_some() || self.offset_index.is_mapped() || self.time_index.is_mapped()
    }

    /// Whether the segment holds its log's file open.
    pub(crate) fn holds_log_file(&self) -> bool {
        self.log.is_some()
    }

    /// The index files this segment holds mapped now.
    pub(crate) fn mapped_index_paths(&self) -> Vec<PathBuf> {
        [
            (FileKind::OffsetIndex, &self.offset_index),
            (FileKind::TimeIndex, &self.time_index),
        ]
        .into_iter()
        .filter(|(_, index)| index.is_mapped())
        .map(|(kind, _)| self.path(kind))
        .collect()
    }

    /// Takes away every mapping the segment holds, and its log's file, for
    /// the caller to drop. Only for a sealed segment.
    pub(crate) fn take_maps(&mut self) -> IdleMaps {
        IdleMaps {
            _log_file: self.log.take(),
            _log: self.mapped.take(),
            _offset_index: self.offset_index.take_map(),
            _time_index: self.time_index.take_map(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.size_bytes == 0
    }

    pub(crate) fn path(&self, kind: FileKind) -> PathBuf {
        segment_path(
            crate::io::parent_dir(&self.log_path),
            self.base_offset,
            kind,
        )
    }

    /// Relative offset of `offset` in this segment, if it fits an index entry.
    pub(crate) fn relative(&self, offset: i64) -> Option<u32> {
        u32::try_from(offset.checked_sub(self.base_offset)?).ok()
    }

    /// Books a batch that now lies at `position` (already in the file):
    /// max timestamp, next offset, and index entries every
    /// `index_interval_bytes`. The size is published separately by the caller.
    pub(crate) fn record_batch(
        &mut self,
        header: &BatchHeader,
        position: u64,
        size: u64,
        index_interval_bytes: u32,
    ) {
        if position == 0 {
            self.first_batch_timestamp = timestamp_if_any(header.max_timestamp);
        }
        if self
            .max_timestamp
            .is_none_or(|m| header.max_timestamp > m.timestamp_ms)
        {
            // The offset kept is the batch's last (as the time index keeps
            // it); `Partition::max_timestamp` finds the record (FORMAT.md §4).
            self.max_timestamp = Some(TimestampOffset {
                timestamp_ms: header.max_timestamp,
                offset: header.last_offset(),
            });
        }
        // A sealed segment's index only in its file (`owned()` is None)
        // never gets here: only the active segment and one being loaded take batches.
        // The entry must be past the last one: after `adopt_indexes` the batch the last entry
        // names is booked again, and an interval of 0 would otherwise index it twice.
        if self.bytes_since_index >= u64::from(index_interval_bytes)
            && let (Some(relative_offset), Ok(pos)) =
                (self.relative(header.base_offset), u32::try_from(position))
            && let Some(offsets) = self.offset_index.owned()
            && offset_index::last(offsets).is_none_or(|e| e.relative_offset < relative_offset)
        {
            OffsetIndexEntry {
                relative_offset,
                position: pos,
            }
            .encode(offsets);
            self.push_time_entry();
            self.bytes_since_index = 0;
        }
        self.bytes_since_index += size;
        self.next_offset = header.last_offset().saturating_add(1);
    }

    /// Appends `(max timestamp so far, its batch's relative last offset)` to
    /// the time index if the max grew since the last entry: with each offset
    /// index entry, before every index write, and at open, where a walk of
    /// the log may find a larger max than the file recorded.
    pub(crate) fn push_time_entry(&mut self) {
        let Some(max) = self.max_timestamp else {
            return;
        };
        let Some(relative_offset) = self.relative(max.offset) else {
            return;
        };
        // Only in its file: the segment is sealed and the file already ends with its max.
        let Some(times) = self.time_index.held() else {
            return;
        };
        let last = time_index::last(times);
        if last.is_none_or(|l| {
            max.timestamp_ms > l.timestamp_ms && relative_offset > l.relative_offset
        }) && let Some(times) = self.time_index.owned()
        {
            TimeIndexEntry {
                timestamp_ms: max.timestamp_ms,
                relative_offset,
            }
            .encode(times);
        }
    }

    /// The batch to start scanning from to find `offset`. Maps the offset
    /// index of a sealed segment if it is not mapped yet.
    pub(crate) fn position_for_offset(
        &mut self,
        fs: &dyn FileSystem,
        offset: i64,
    ) -> Result<WalkStart, StorageError> {
        let start = WalkStart {
            position: 0,
            base_offset: self.base_offset,
        };
        let relative = match offset.checked_sub(self.base_offset) {
            Some(r) if r > 0 => u32::try_from(r).unwrap_or(u32::MAX),
            _ => return Ok(start),
        };
        if self.index_disagrees.load(Ordering::Acquire) {
            return Ok(start);
        }
        let (dir, base) = (crate::io::parent_dir(&self.log_path), self.base_offset);
        let offsets = self
            .offset_index
            .load(fs, || segment_path(dir, base, FileKind::OffsetIndex))?;
        Ok(
            offset_index::floor(offsets, relative).map_or(start, |e| WalkStart {
                position: u64::from(e.position),
                base_offset: base.saturating_add(i64::from(e.relative_offset)),
            }),
        )
    }

    /// Set by a lookup that found the offset index disagreeing with the log.
    pub(crate) fn index_disagrees(&self) -> Arc<AtomicBool> {
        self.index_disagrees.clone()
    }

    /// Byte position to start scanning from to find the first batch with
    /// max timestamp >= `target_ms`. Maps the time index (and the offset
    /// index, if it has an entry before the target) of a sealed segment.
    pub(crate) fn position_for_timestamp(
        &mut self,
        fs: &dyn FileSystem,
        target_ms: i64,
    ) -> Result<WalkStart, StorageError> {
        let (dir, base) = (crate::io::parent_dir(&self.log_path), self.base_offset);
        let times = self
            .time_index
            .load(fs, || segment_path(dir, base, FileKind::TimeIndex))?;
        match time_index::last_before(times, target_ms) {
            Some(entry) => self.position_for_offset(
                fs,
                self.base_offset
                    .saturating_add(i64::from(entry.relative_offset)),
            ),
            None => Ok(WalkStart {
                position: 0,
                base_offset: self.base_offset,
            }),
        }
    }

    /// Whether index entries exist in memory that the index files lack.
    pub(crate) fn has_unwritten_index_entries(&self) -> bool {
        !self.offset_index.pending().is_empty() || !self.time_index.pending().is_empty()
    }

    /// Lets go of the index bytes (memory or mapping) of a sealed segment
    /// whose index files hold every entry: lookups map the files when they
    /// need them. Indexes with unwritten entries are kept.
    pub(crate) fn release_indexes(&mut self) {
        self.offset_index.release();
        self.time_index.release();
    }

    /// Holds the whole indexes in memory, without mappings: for the active
    /// segment, whose indexes grow with it.
    pub(crate) fn own_indexes(&mut self, fs: &dyn FileSystem) -> Result<(), StorageError> {
        let (dir, base) = (crate::io::parent_dir(&self.log_path), self.base_offset);
        self.offset_index
            .own(fs, || segment_path(dir, base, FileKind::OffsetIndex))?;
        self.time_index
            .own(fs, || segment_path(dir, base, FileKind::TimeIndex))
    }

    /// Appends the not-yet-written index entries to the index files, with a
    /// final time-index entry so the file records the segment's max timestamp.
    /// Returns the files written, for a caller that syncs them later.
    pub(crate) fn write_indexes(
        &mut self,
        fs: &dyn FileSystem,
        sync: bool,
    ) -> Result<Vec<NamedFile>, StorageError> {
        let mut written_files = Vec::new();
        self.push_time_entry();
        let parts = [
            (FileKind::OffsetIndex, &mut self.offset_index),
            (FileKind::TimeIndex, &mut self.time_index),
        ];
        let dir = crate::io::parent_dir(&self.log_path).to_owned();
        for (kind, index) in parts {
            let path = segment_path(&dir, self.base_offset, kind);
            if index.pending().is_empty() && !sync {
                continue;
            }
            let file = fs
                .open(&path, OpenMode::ReadAppend)
                .ctx(&path, IoOp::Open)?;
            if index.replaces_file() {
                // A fresh (or rebuilt) index replaces whatever the file held.
                file.set_len(0).ctx(&path, IoOp::SetLen)?;
            }
            file.append(index.pending()).ctx(&path, IoOp::Write)?;
            index.mark_written();
            if sync {
                file.sync_data().ctx(&path, IoOp::Sync)?;
            }
            written_files.push((path, file));
        }
        Ok(written_files)
    }

    /// Adopts index bytes loaded from files that were checked against the
    /// log; the caller then books the batches after the last offset-index
    /// entry with `record_batch`. Returns where those start: (position, offset).
    pub(crate) fn adopt_indexes(&mut self, offset_index: Bytes, time_index: Bytes) -> (u64, i64) {
        let last_entry = offset_index::last(&offset_index);
        let last_time = time_index::last(&time_index);
        self.max_timestamp = last_time.map(|t| TimestampOffset {
            timestamp_ms: t.timestamp_ms,
            offset: self
                .base_offset
                .saturating_add(i64::from(t.relative_offset)),
        });
        self.offset_index = IndexFile::adopt(offset_index);
        self.time_index = IndexFile::adopt(time_index);
        self.bytes_since_index = 0;
        let (position, offset) = last_entry.map_or((0, self.base_offset), |e| {
            (
                u64::from(e.position),
                self.base_offset
                    .saturating_add(i64::from(e.relative_offset)),
            )
        });
        self.next_offset = offset;
        (position, offset)
    }

    /// Drops the in-memory indexes so `record_batch` can rebuild them; the
    /// files are rewritten from scratch by the next `write_indexes`.
    pub(crate) fn reset_indexes(&mut self) {
        self.offset_index = IndexFile::new();
        self.time_index = IndexFile::new();
        self.bytes_since_index = 0;
        self.max_timestamp = None;
        self.first_batch_timestamp = None;
        self.next_offset = self.base_offset;
    }

    /// Removes the segment's three files (missing index files are fine).
    pub(crate) fn remove_files(&self, fs: &dyn FileSystem) -> Result<(), StorageError> {
        for kind in [FileKind::Log, FileKind::OffsetIndex, FileKind::TimeIndex] {
            let path = self.path(kind);
            if fs.exists(&path) {
                fs.remove_file(&path).ctx(&path, IoOp::Remove)?;
            }
        }
        Ok(())
    }
}

/// A batch's timestamp as a segment's age counts it: -1 (Kafka's
/// NO_TIMESTAMP) and any other negative value are none.
fn timestamp_if_any(timestamp_ms: i64) -> Option<i64> {
    (timestamp_ms >= 0).then_some(timestamp_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::batch::whole_batch;
    use crate::format::builder::{SimpleRecord, encode_batch};
    use crate::io::MemFileSystem;

    fn header(base_offset: i64, records: usize, max_ts: i64) -> (BatchHeader, u64) {
        let recs: Vec<SimpleRecord<'_>> = (0..records)
            .map(|_| SimpleRecord {
                timestamp_ms: max_ts,
                key: None,
                value: Some(b"0123456789"),
            })
            .collect();
        let (h, size) = whole_batch(&encode_batch(&recs)).unwrap();
        (BatchHeader { base_offset, ..h }, size as u64)
    }

    fn segment(fs: &MemFileSystem) -> Segment {
        fs.create_dir_all(Path::new("/p")).unwrap();
        Segment::open(fs, Path::new("/p"), 100, 0).unwrap()
    }

    #[test]
    fn index_entries_follow_the_interval_and_lookups_use_them() {
        let fs = MemFileSystem::new();
        let mut s = segment(&fs);
        let (mut position, mut offset) = (0u64, 100i64);
        let mut starts = Vec::new();
        for i in 0..20 {
            let (h, size) = header(offset, 2, 1000 + i);
            starts.push((offset, position));
            s.record_batch(&h, position, size, 200);
            position += size;
            offset += 2;
        }
        assert_eq!(s.next_offset, 140);
        let entries: Vec<_> = offset_index::entries(s.offset_index.held().unwrap()).collect();
        assert!(entries.len() >= 3 && entries.len() < 20, "{entries:?}");
        assert!(
            entries
                .windows(2)
                .all(|w| u64::from(w[1].position - w[0].position) >= 200)
        );
        let mut found_in_memory = Vec::new();
        for &(batch_offset, batch_position) in &starts {
            for o in [batch_offset, batch_offset + 1] {
                let start = s.position_for_offset(&fs, o).unwrap();
                assert!(
                    starts.contains(&(start.base_offset, start.position)),
                    "offset {o}: the start names the batch at its position: {start:?}"
                );
                let found = start.position;
                assert!(
                    found <= batch_position,
                    "offset {o}: index points past its batch"
                );
                assert!(
                    batch_position - found < 200 + 100,
                    "offset {o}: index not used"
                );
                found_in_memory.push(found);
            }
        }
        assert_eq!(s.position_for_offset(&fs, 0).unwrap().position, 0);
        assert_eq!(
            s.max_timestamp,
            Some(TimestampOffset {
                timestamp_ms: 1019,
                offset: 139
            })
        );
        // Sealed: written, then only in the files until a lookup maps the
        // offset index (and nothing else); the answers stay the same.
        s.write_indexes(&fs, false).unwrap();
        s.release_indexes();
        assert!(!s.holds_mappings());
        let mapped: Vec<u64> = starts
            .iter()
            .flat_map(|&(o, _)| [o, o + 1])
            .map(|o| s.position_for_offset(&fs, o).unwrap().position)
            .collect();
        assert_eq!(mapped, found_in_memory);
        assert_eq!(s.mapped_index_paths(), vec![s.path(FileKind::OffsetIndex)]);
        let idle = s.take_maps();
        assert!(idle._offset_index.is_some() && idle._time_index.is_none());
        assert!(!s.holds_mappings());
    }

    #[test]
    fn time_index_is_strictly_increasing_and_ends_with_the_max() {
        let fs = MemFileSystem::new();
        let mut s = segment(&fs);
        let (mut position, mut offset) = (0u64, 100i64);
        for ts in [50, 40, 60, 60, 55, 80, 70, 90, 90, 10] {
            let (h, size) = header(offset, 1, ts);
            s.record_batch(&h, position, size, 0);
            position += size;
            offset += 1;
        }
        s.write_indexes(&fs, false).unwrap();
        let times = s.time_index.held().unwrap();
        assert!(time_index::check(times).is_ok());
        let last = time_index::entries(times).last().unwrap();
        assert_eq!((last.timestamp_ms, last.relative_offset), (90, 7));
        // Lookups start at the batch of the last entry older than the target,
        // the same whether the indexes are in memory or mapped from the files.
        for sealed in [false, true] {
            if sealed {
                s.release_indexes();
                assert!(!s.holds_mappings());
            }
            let mut at = |ts| s.position_for_timestamp(&fs, ts).unwrap().position;
            let (at_60, at_61, at_91) = (at(60), at(61), at(91));
            let mut of = |o| s.position_for_offset(&fs, o).unwrap().position;
            assert_eq!(at_60, 0);
            assert_eq!(at_61, of(102));
            assert!(of(102) > 0);
            assert_eq!(at_91, of(107));
        }
        assert_eq!(s.mapped_index_paths().len(), 2);
    }
}
