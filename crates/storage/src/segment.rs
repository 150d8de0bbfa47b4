//! One segment: a `.log` file plus its sparse offset and time indexes, and
//! the bookkeeping the writer keeps about it.
//!
//! Index entries are kept in memory (`IndexBuf`) and written to their files
//! when the segment is sealed, flushed or closed; after a crash they are
//! rebuilt from the log, which is the only authority.
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use crate::error::{IoContext, IoOp, StorageError};
use crate::format::batch::BatchHeader;
use crate::format::names::{FileKind, segment_path};
use crate::format::{OffsetIndexEntry, TimeIndexEntry, offset_index, time_index};
use crate::io::{File, FileSystem, OpenMode};
use crate::partition::TimestampOffset;

/// Index bytes: owned while the segment can still grow, or a shared (mapped)
/// view of a sealed index file.
#[derive(Debug, Clone)]
pub(crate) enum IndexBuf {
    Owned(Vec<u8>),
    Shared(Bytes),
}

impl IndexBuf {
    pub(crate) fn as_slice(&self) -> &[u8] {
        match self {
            IndexBuf::Owned(v) => v,
            IndexBuf::Shared(b) => b,
        }
    }

    fn owned(&mut self) -> &mut Vec<u8> {
        if let IndexBuf::Shared(b) = self {
            *self = IndexBuf::Owned(b.to_vec());
        }
        match self {
            IndexBuf::Owned(v) => v,
            IndexBuf::Shared(_) => unreachable!("converted to owned above"),
        }
    }
}

/// An open file with its path (for error reports when it is synced later).
pub(crate) type NamedFile = (PathBuf, Arc<dyn File>);

/// A read-only view of a segment taken under the partition lock and used
/// after it is released.
#[derive(Debug, Clone)]
pub(crate) struct SegmentView {
    pub(crate) log: Arc<dyn File>,
    /// The log's published bytes, mapped, if they are; reads then slice it.
    pub(crate) mapped: Option<Bytes>,
    pub(crate) log_path: PathBuf,
    /// Published length: only whole batches lie below it.
    pub(crate) size_bytes: u64,
}

#[derive(Debug)]
pub(crate) struct Segment {
    pub(crate) base_offset: i64,
    pub(crate) log: Arc<dyn File>,
    pub(crate) log_path: PathBuf,
    pub(crate) size_bytes: u64,
    /// Position below which writeback was already started (`File::start_writeback`).
    pub(crate) writeback_started_bytes: u64,
    /// Offset after the last batch (= base offset while empty).
    pub(crate) next_offset: i64,
    pub(crate) offset_index: IndexBuf,
    pub(crate) time_index: IndexBuf,
    /// How many index bytes are already in the index files.
    offset_index_written: usize,
    time_index_written: usize,
    bytes_since_index: u64,
    pub(crate) max_timestamp: Option<TimestampOffset>,
    /// Wall-clock time the segment was created, for roll by age: for the
    /// active segment at open, its file's birth time (`date_from_file`);
    /// otherwise when this process created or opened it.
    pub(crate) created_ms: i64,
    /// The log mapped read-only, once first read.
    mapped: Option<LogMap>,
    /// Mapping the sealed log failed (or came back short): use reads.
    map_failed: bool,
    /// The file system cannot map a growing log: read the active segment.
    map_growing_failed: bool,
    /// When a read last planned on this segment (a process-wide sequence).
    last_read: u64,
}

impl SegmentView {
    /// The batches of the mapped published bytes from `start`, in order:
    /// `(position, header, whole batch)`. `None` if the segment is not mapped.
    pub(crate) fn mapped_batches(&self, start: u64) -> Option<MappedBatches<'_>> {
        let map = self.mapped.as_ref()?;
        Some(MappedBatches {
            view: self,
            map,
            at: usize::try_from(start).unwrap_or(usize::MAX),
        })
    }

    /// Damage found in published bytes. They were validated on append or
    /// recovery, so it means the file changed under us.
    pub(crate) fn corruption(&self, position: u64, detail: String) -> StorageError {
        StorageError::Corruption {
            path: self.log_path.clone(),
            position,
            detail,
        }
    }
}

/// See [`SegmentView::mapped_batches`]. A header that does not frame a whole
/// batch is reported once, as corruption, and ends the walk.
pub(crate) struct MappedBatches<'a> {
    view: &'a SegmentView,
    map: &'a Bytes,
    at: usize,
}

impl<'a> Iterator for MappedBatches<'a> {
    type Item = Result<(u64, BatchHeader, &'a [u8]), StorageError>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.map.get(self.at..).filter(|r| !r.is_empty())?;
        let position = self.at as u64;
        let framed = crate::format::batch::frame(rest)
            .ok()
            .and_then(|(header, size)| Some((header, rest.get(..size)?)));
        let Some((header, batch)) = framed else {
            self.at = self.map.len();
            let detail = "published bytes hold a damaged batch header".to_owned();
            return Some(Err(self.view.corruption(position, detail)));
        };
        self.at += batch.len();
        Some(Ok((position, header, batch)))
    }
}

/// Sealed segments of one partition that keep their mapping: the segments
/// consumers are reading now. Older mappings are dropped (their pages stay in
/// the page cache), so a consumer reading a long log from the start leaves
/// behind a bounded number of mapped segments, not the whole log in the
/// broker's RSS.
pub(crate) const MAPPED_SEALED_MAX: usize = 4;

/// Orders reads across all partitions; only comparisons within one matter.
static READ_SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Notes a read of `segments[reading]` and takes away the mappings of the
/// sealed segments (not `reading`, not the active one) beyond the
/// [`MAPPED_SEALED_MAX`] most recently read. The caller drops what is
/// returned after releasing the partition lock: unmapping a large segment
/// takes a while, and readers holding slices of it keep it alive anyway.
#[must_use]
pub(crate) fn retire_idle_maps(segments: &mut [Segment], reading: usize) -> Vec<LogMap> {
    if let Some(segment) = segments.get_mut(reading) {
        segment.last_read = READ_SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
    }
    let sealed = segments.len().saturating_sub(1);
    let sealed_mapped = || {
        segments
            .iter()
            .take(sealed)
            .enumerate()
            .filter(|(_, s)| s.mapped.is_some())
    };
    // Every fetch comes through here: count before collecting anything.
    if sealed_mapped().count() <= MAPPED_SEALED_MAX {
        return Vec::new();
    }
    let mut mapped: Vec<(u64, usize)> = sealed_mapped().map(|(i, s)| (s.last_read, i)).collect();
    mapped.sort_unstable();
    let excess = mapped.len() - MAPPED_SEALED_MAX;
    mapped
        .into_iter()
        .filter(|&(_, i)| i != reading)
        .take(excess)
        .filter_map(|(_, i)| segments.get_mut(i).and_then(|s| s.mapped.take()))
        .collect()
}

/// A read-only mapping of a segment's log. While the segment is active it
/// reaches past the end of the file, so it is never handed out whole (nor
/// printed): only its published prefix, through [`LogMap::published`].
pub(crate) struct LogMap(Bytes);

impl LogMap {
    /// The first `size` bytes, if the mapping covers them.
    fn published(&self, size: u64) -> Option<Bytes> {
        let size = usize::try_from(size).ok()?;
        (size <= self.0.len()).then(|| self.0.slice(..size))
    }
}

impl std::fmt::Debug for LogMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LogMap({} bytes mapped)", self.0.len())
    }
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
            base_offset,
            log,
            log_path,
            size_bytes,
            writeback_started_bytes: size_bytes,
            next_offset: base_offset,
            offset_index: IndexBuf::Owned(Vec::new()),
            time_index: IndexBuf::Owned(Vec::new()),
            offset_index_written: 0,
            time_index_written: 0,
            bytes_since_index: 0,
            max_timestamp: None,
            created_ms: now_ms,
            mapped: None,
            map_failed: false,
            map_growing_failed: false,
            last_read: 0,
        })
    }

    /// Dates the segment from its file's birth time where the file system
    /// keeps one: an existing active segment is as old as its file, not as
    /// this process, so roll by age survives a restart.
    pub(crate) fn date_from_file(&mut self, fs: &dyn FileSystem, now_ms: i64) {
        if let Some(created) = fs.created_ms(&self.log_path).filter(|&c| c <= now_ms) {
            self.created_ms = created;
        }
    }

    pub(crate) fn view(&self) -> SegmentView {
        SegmentView {
            log: Arc::clone(&self.log),
            mapped: self
                .mapped
                .as_ref()
                .and_then(|m| m.published(self.size_bytes)),
            log_path: self.log_path.clone(),
            size_bytes: self.size_bytes,
        }
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

    pub(crate) fn is_mapped(&self) -> bool {
        self.mapped.is_some()
    }

    /// The index files this segment holds mapped now.
    pub(crate) fn mapped_index_paths(&self) -> Vec<PathBuf> {
        [
            (FileKind::OffsetIndex, &self.offset_index),
            (FileKind::TimeIndex, &self.time_index),
        ]
        .into_iter()
        .filter(|(_, index)| matches!(index, IndexBuf::Shared(_)))
        .map(|(kind, _)| self.path(kind))
        .collect()
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
        if self
            .max_timestamp
            .is_none_or(|m| header.max_timestamp > m.timestamp_ms)
        {
            // Batch granularity: the offset kept is the batch's last offset (see FORMAT.md).
            self.max_timestamp = Some(TimestampOffset {
                timestamp_ms: header.max_timestamp,
                offset: header.last_offset(),
            });
        }
        if self.bytes_since_index >= u64::from(index_interval_bytes)
            && let (Some(relative_offset), Ok(pos)) =
                (self.relative(header.base_offset), u32::try_from(position))
        {
            OffsetIndexEntry {
                relative_offset,
                position: pos,
            }
            .encode(self.offset_index.owned());
            self.push_time_entry();
            self.bytes_since_index = 0;
        }
        self.bytes_since_index += size;
        self.next_offset = header.last_offset() + 1;
    }

    /// Appends `(max timestamp so far, its batch's relative last offset)` to
    /// the time index if the max grew since the last entry.
    fn push_time_entry(&mut self) {
        let Some(max) = self.max_timestamp else {
            return;
        };
        let Some(relative_offset) = self.relative(max.offset) else {
            return;
        };
        let last = time_index::entry_count(self.time_index.as_slice())
            .checked_sub(1)
            .and_then(|i| TimeIndexEntry::decode_at(self.time_index.as_slice(), i));
        if last.is_none_or(|l| {
            max.timestamp_ms > l.timestamp_ms && relative_offset > l.relative_offset
        }) {
            TimeIndexEntry {
                timestamp_ms: max.timestamp_ms,
                relative_offset,
            }
            .encode(self.time_index.owned());
        }
    }

    /// Byte position of the batch to start scanning from to find `offset`.
    pub(crate) fn position_for_offset(&self, offset: i64) -> u64 {
        let relative = match offset.checked_sub(self.base_offset) {
            Some(r) if r > 0 => u32::try_from(r).unwrap_or(u32::MAX),
            _ => return 0,
        };
        offset_index::floor(self.offset_index.as_slice(), relative)
            .map_or(0, |e| u64::from(e.position))
    }

    /// Byte position to start scanning from to find the first batch with max timestamp >= `target_ms`.
    pub(crate) fn position_for_timestamp(&self, target_ms: i64) -> u64 {
        match time_index::last_before(self.time_index.as_slice(), target_ms) {
            Some(entry) => {
                self.position_for_offset(self.base_offset + i64::from(entry.relative_offset))
            }
            None => 0,
        }
    }

    /// Whether index entries exist in memory that the index files lack.
    pub(crate) fn has_unwritten_index_entries(&self) -> bool {
        self.offset_index.as_slice().len() > self.offset_index_written
            || self.time_index.as_slice().len() > self.time_index_written
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
            (
                FileKind::OffsetIndex,
                self.offset_index.as_slice(),
                &mut self.offset_index_written,
            ),
            (
                FileKind::TimeIndex,
                self.time_index.as_slice(),
                &mut self.time_index_written,
            ),
        ];
        let dir = crate::io::parent_dir(&self.log_path).to_owned();
        for (kind, bytes, written) in parts {
            let path = segment_path(&dir, self.base_offset, kind);
            let pending = bytes.get(*written..).unwrap_or_default();
            if pending.is_empty() && !sync {
                continue;
            }
            let file = fs
                .open(&path, OpenMode::ReadAppend)
                .ctx(&path, IoOp::Open)?;
            if *written == 0 {
                // A fresh (or rebuilt) index replaces whatever the file held.
                file.set_len(0).ctx(&path, IoOp::SetLen)?;
            }
            file.append(pending).ctx(&path, IoOp::Write)?;
            *written = bytes.len();
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
        let last_entry = offset_index::entries(&offset_index).last();
        let last_time = time_index::entries(&time_index).last();
        self.max_timestamp = last_time.map(|t| TimestampOffset {
            timestamp_ms: t.timestamp_ms,
            offset: self.base_offset + i64::from(t.relative_offset),
        });
        self.offset_index_written = offset_index.len();
        self.time_index_written = time_index.len();
        self.offset_index = IndexBuf::Shared(offset_index);
        self.time_index = IndexBuf::Shared(time_index);
        self.bytes_since_index = 0;
        let (position, offset) = last_entry.map_or((0, self.base_offset), |e| {
            (
                u64::from(e.position),
                self.base_offset + i64::from(e.relative_offset),
            )
        });
        self.next_offset = offset;
        (position, offset)
    }

    /// Drops the in-memory indexes so `record_batch` can rebuild them; the
    /// files are rewritten from scratch by the next `write_indexes`.
    pub(crate) fn reset_indexes(&mut self) {
        self.offset_index = IndexBuf::Owned(Vec::new());
        self.time_index = IndexBuf::Owned(Vec::new());
        self.offset_index_written = 0;
        self.time_index_written = 0;
        self.bytes_since_index = 0;
        self.max_timestamp = None;
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

    fn segment() -> Segment {
        let fs = MemFileSystem::new();
        fs.create_dir_all(Path::new("/p")).unwrap();
        Segment::open(&fs, Path::new("/p"), 100, 0).unwrap()
    }

    #[test]
    fn index_entries_follow_the_interval_and_lookups_use_them() {
        let mut s = segment();
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
        let entries: Vec<_> = offset_index::entries(s.offset_index.as_slice()).collect();
        assert!(entries.len() >= 3 && entries.len() < 20, "{entries:?}");
        assert!(
            entries
                .windows(2)
                .all(|w| u64::from(w[1].position - w[0].position) >= 200)
        );
        for &(batch_offset, batch_position) in &starts {
            for o in [batch_offset, batch_offset + 1] {
                let found = s.position_for_offset(o);
                assert!(
                    found <= batch_position,
                    "offset {o}: index points past its batch"
                );
                assert!(
                    batch_position - found < 200 + 100,
                    "offset {o}: index not used"
                );
            }
        }
        assert_eq!(s.position_for_offset(0), 0);
        assert_eq!(
            s.max_timestamp,
            Some(TimestampOffset {
                timestamp_ms: 1019,
                offset: 139
            })
        );
    }

    #[test]
    fn time_index_is_strictly_increasing_and_ends_with_the_max() {
        let mut s = segment();
        let fs = MemFileSystem::new();
        fs.create_dir_all(Path::new("/p")).unwrap();
        let (mut position, mut offset) = (0u64, 100i64);
        for ts in [50, 40, 60, 60, 55, 80, 70, 90, 90, 10] {
            let (h, size) = header(offset, 1, ts);
            s.record_batch(&h, position, size, 0);
            position += size;
            offset += 1;
        }
        s.write_indexes(&fs, false).unwrap();
        let times = s.time_index.as_slice();
        assert!(time_index::check(times).is_ok());
        let last = time_index::entries(times).last().unwrap();
        assert_eq!((last.timestamp_ms, last.relative_offset), (90, 7));
        // Lookups start at the batch of the last entry older than the target.
        assert_eq!(s.position_for_timestamp(60), 0);
        assert_eq!(s.position_for_timestamp(61), s.position_for_offset(102));
        assert!(s.position_for_offset(102) > 0);
        assert_eq!(s.position_for_timestamp(91), s.position_for_offset(107));
    }
}
