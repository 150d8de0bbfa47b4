//! Creating and opening a partition, including crash recovery.
//!
//! Open, in order: list the directory (dropping temp files and orphan
//! indexes), read the checkpoint, drop segments wholly below the log start,
//! then load segments. Segments before the recovery point are trusted: their
//! indexes are checked, in themselves and at their last entries against the
//! log (rebuilt if bad), and only the batches after the offset index's last
//! entry are walked by header. With no clean-shutdown marker, the
//! segment holding the recovery point and all later ones are scanned batch
//! by batch with CRCs; the log is cut at the first damage, later segments
//! are deleted, and indexes are rebuilt. Damage below the recovery point is
//! never cut: the open fails with `Corruption`.
//!
//! Once loaded, a sealed segment keeps no index bytes, only plain values
//! (next offset, max timestamp): its index files were checked (or rebuilt
//! and written) and are mapped again only by a lookup. So an open maps at
//! most two segments' indexes at a time, and a partition opens holding no
//! mapping, whatever its number of segments (`vm.max_map_count`).
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64};
use std::sync::{Arc, Condvar, Mutex, OnceLock, RwLock};

use bytes::Bytes;

use super::{Partition, State, SyncState};
use crate::config::LogConfig;
use crate::error::{IoContext, IoOp, StorageError};
use crate::format::Checkpoint;
use crate::format::names::{self, CHECKPOINT_FILE, FileKind, TMP_SUFFIX};
use crate::id::PartitionId;
use crate::io::FileSystem;
use crate::scan::{ScanItem, ScanMode, Scanner};
use crate::segment::{Segment, check_indexes};
use crate::sync_util::now_ms;

/// What recovery did when a partition was opened without a clean-shutdown marker.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Segments scanned batch by batch with CRC checks.
    pub scanned_segments: usize,
    pub scanned_bytes: u64,
    /// The torn or damaged tail that was cut, if any.
    pub truncated: Option<TruncatedTail>,
    /// Whole segments deleted because they followed the damage.
    pub deleted_segments: Vec<PathBuf>,
    /// Index files found inconsistent with their log and rebuilt.
    pub rebuilt_indexes: usize,
}

/// A cut tail: `bytes_dropped` bytes from `position` of `segment`, which held
/// offsets from `first_offset_dropped` on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TruncatedTail {
    pub segment: PathBuf,
    pub position: u64,
    pub bytes_dropped: u64,
    pub first_offset_dropped: i64,
    pub reason: String,
}

/// Segment base offsets among the files `listed` in a partition directory, after clean-up.
/// A listing taken before interrupted swaps were finished serves: finishing
/// one renames a `.swap` over a `.log` that is listed already, and removes
/// index files whose log stays.
fn list_segments(fs: &dyn FileSystem, listed: &[PathBuf]) -> Result<Vec<i64>, StorageError> {
    let mut logs = BTreeSet::new();
    let mut indexes = Vec::new();
    for path in listed {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if name.ends_with(&format!(".{TMP_SUFFIX}")) {
            // An atomic write that never finished: the old file is still in place.
            fs.remove_file(path).ctx(path, IoOp::Remove)?;
            continue;
        }
        match names::parse_segment_file_name(name) {
            Some((base, FileKind::Log)) => {
                logs.insert(base);
            }
            Some((base, _)) => indexes.push((base, path)),
            None => {}
        }
    }
    for (base, path) in indexes {
        if !logs.contains(&base) {
            fs.remove_file(path).ctx(path, IoOp::Remove)?;
        }
    }
    Ok(logs.into_iter().collect())
}

fn read_checkpoint(fs: &dyn FileSystem, dir: &Path) -> Result<Option<Checkpoint>, StorageError> {
    let path = dir.join(CHECKPOINT_FILE);
    if !fs.exists(&path) {
        return Ok(None);
    }
    let bytes = crate::io::read_all(fs, &path)?;
    Checkpoint::decode(&bytes)
        .map(Some)
        .map_err(|e| StorageError::Corruption {
            path,
            position: 0,
            detail: e.to_string(),
        })
}

fn corruption(path: &Path, position: u64, detail: String) -> StorageError {
    StorageError::Corruption {
        path: path.to_owned(),
        position,
        detail,
    }
}

/// Loads a segment whose data is trusted (before the recovery point or
/// after a clean shutdown): adopt its indexes if they pass the check against
/// the log (`segment::check_indexes`), else rebuild them; then walk the
/// headers after the last index entry. Any damage to the log is corruption.
/// Returns whether the indexes were rebuilt.
fn load_trusted(
    fs: &dyn FileSystem,
    segment: &mut Segment,
    config: &LogConfig,
) -> Result<bool, StorageError> {
    let index = map_or_empty(fs, &segment.path(FileKind::OffsetIndex))?;
    let times = map_or_empty(fs, &segment.path(FileKind::TimeIndex))?;
    let log = segment.log_file(fs)?;
    let verdict = check_indexes(
        &log,
        segment.size_bytes,
        segment.base_offset,
        &index,
        &times,
    )
    .ctx(&segment.log_path, IoOp::Read)?;
    let (start, rebuilt) = match verdict {
        Ok(()) => (segment.adopt_indexes(index, times).0, false),
        Err(reason) => {
            tracing::warn!(segment = %segment.log_path.display(), %reason, "index inconsistent with the log; rebuilding from the log");
            // Unmap before the rebuild rewrites the files.
            drop((index, times));
            segment.reset_indexes();
            (0, true)
        }
    };
    if let Some((position, reason)) = walk_batches(fs, segment, config, ScanMode::Frame, start)? {
        let detail = format!("{reason}, below the recovery point");
        return Err(corruption(&segment.log_path, position, detail));
    }
    if start > 0 {
        segment.read_first_batch_timestamp(fs)?;
    }
    // A missing or short index file is sane but incomplete: the walk above
    // rebuilt the rest in memory; keep it, or every later open walks again.
    // The final time entry too: once the segment is sealed the file is
    // where its max timestamp is read from at the next open.
    segment.push_time_entry();
    if rebuilt || segment.has_unwritten_index_entries() {
        segment.write_indexes(fs, true)?;
    }
    Ok(rebuilt)
}

fn map_or_empty(fs: &dyn FileSystem, path: &Path) -> Result<Bytes, StorageError> {
    if fs.exists(path) {
        fs.map(path).ctx(path, IoOp::Map)
    } else {
        Ok(Bytes::new())
    }
}

/// Scans a segment batch by batch with CRC checks, rebuilding its indexes.
/// Returns the first damage: (position, reason).
fn scan_untrusted(
    fs: &dyn FileSystem,
    segment: &mut Segment,
    config: &LogConfig,
) -> Result<Option<(u64, String)>, StorageError> {
    segment.reset_indexes();
    walk_batches(fs, segment, config, ScanMode::Verify, 0)
}

/// Walks a segment's batches from byte `start` to its end, checking that
/// each batch's base offset follows the one before and recording each in the
/// indexes. Returns the first damage, (position, reason), or `None` if the
/// walk reached the end. The two loaders differ only in the mode (headers
/// framed, or every CRC checked), where the walk starts, and what damage
/// means to them.
fn walk_batches(
    fs: &dyn FileSystem,
    segment: &mut Segment,
    config: &LogConfig,
    mode: ScanMode,
    start: u64,
) -> Result<Option<(u64, String)>, StorageError> {
    let log = segment.log_file(fs)?;
    let mut scanner = Scanner::new(log, mode, start, segment.size_bytes);
    loop {
        match scanner.next_item().ctx(&segment.log_path, IoOp::Read)? {
            ScanItem::Batch {
                header,
                position,
                size,
            } => {
                if header.base_offset != segment.next_offset {
                    let reason = format!(
                        "batch base offset {} where {} was expected",
                        header.base_offset, segment.next_offset
                    );
                    return Ok(Some((position, reason)));
                }
                segment.record_batch(&header, position, size, config.index_interval_bytes);
            }
            ScanItem::End => return Ok(None),
            ScanItem::Damage { position, damage } => {
                return Ok(Some((position, damage.to_string())));
            }
        }
    }
}

/// Where an open without a clean-shutdown marker starts scanning: the
/// segment holding the recovery point (given the segments' base offsets, in
/// order). The segments before it are trusted.
pub(crate) fn first_scanned(bases: &[i64], recovery_point: i64) -> usize {
    bases
        .partition_point(|&b| b <= recovery_point)
        .saturating_sub(1)
}

/// The progress of loading one directory.
struct Loader<'a> {
    fs: &'a dyn FileSystem,
    dir: &'a Path,
    config: &'a LogConfig,
    recovery_point: i64,
    clean: bool,
    report: RecoveryReport,
    segments: Vec<Segment>,
    /// The last segment pushed was scanned (its indexes rebuilt in memory).
    last_scanned: bool,
}

impl Loader<'_> {
    /// Adds the next segment, `scanned` or loaded trusted. The previous one
    /// is sealed: if it was loaded trusted, it lets go of its index mappings
    /// now (its files hold every entry), so the open never holds more than
    /// two segments' mappings at a time. A scanned one keeps its rebuilt
    /// indexes, even empty ones (a segment smaller than the index interval),
    /// until `finish_open` writes them over the files: released while empty,
    /// they left the old files in place, entries and all.
    fn push(&mut self, segment: Segment, scanned: bool) {
        let (clean, recovery_point) = (self.clean, self.recovery_point);
        let previous_scanned = std::mem::replace(&mut self.last_scanned, scanned);
        if let Some(previous) = self.segments.last_mut() {
            if !previous_scanned {
                previous.release_indexes();
            }
            // Sealed: read through its mapping from now on. One past the
            // recovery point keeps its file until `finish_open` syncs it.
            if clean || previous.next_offset < recovery_point {
                previous.close_log();
            }
        }
        self.segments.push(segment);
    }

    /// Loads the segments at `bases`; untrusted from index `recover_from` on.
    fn load(&mut self, bases: &[i64], recover_from: usize) -> Result<(), StorageError> {
        let now = now_ms();
        for (i, &base) in bases.iter().enumerate() {
            let mut segment = Segment::open(self.fs, self.dir, base, now)?;
            let expected = self.segments.last().map_or(base, |s| s.next_offset);
            if expected != base {
                let reason = format!(
                    "segment starts at offset {base} but the previous one ends at {expected}"
                );
                if self.clean || expected < self.recovery_point {
                    return Err(corruption(&segment.log_path, 0, reason));
                }
                self.drop_from(bases.get(i..).unwrap_or_default())?;
                return Ok(());
            }
            if self.clean || i < recover_from {
                if load_trusted(self.fs, &mut segment, self.config)? {
                    self.report.rebuilt_indexes += 1;
                }
                self.push(segment, false);
                continue;
            }
            self.report.scanned_segments += 1;
            self.report.scanned_bytes += segment.size_bytes;
            if let Some((position, reason)) = scan_untrusted(self.fs, &mut segment, self.config)? {
                if segment.next_offset < self.recovery_point {
                    let detail = format!(
                        "{reason}; offsets from {} were fsynced (recovery point {})",
                        segment.next_offset, self.recovery_point
                    );
                    return Err(corruption(&segment.log_path, position, detail));
                }
                self.truncate(&mut segment, position, reason)?;
                self.push(segment, true);
                self.drop_from(bases.get(i + 1..).unwrap_or_default())?;
                return Ok(());
            }
            self.push(segment, true);
        }
        Ok(())
    }

    fn truncate(
        &mut self,
        segment: &mut Segment,
        position: u64,
        reason: String,
    ) -> Result<(), StorageError> {
        let bytes_dropped = segment.size_bytes - position;
        tracing::warn!(
            segment = %segment.log_path.display(), position, bytes_dropped,
            first_offset_dropped = segment.next_offset, %reason,
            "recovery truncated the log to its last complete valid batch"
        );
        segment
            .log_file(self.fs)?
            .set_len(position)
            .ctx(&segment.log_path, IoOp::SetLen)?;
        segment.size_bytes = position;
        self.report.truncated = Some(TruncatedTail {
            segment: segment.log_path.clone(),
            position,
            bytes_dropped,
            first_offset_dropped: segment.next_offset,
            reason,
        });
        Ok(())
    }

    /// Deletes the segments at `bases`, which follow damage.
    fn drop_from(&mut self, bases: &[i64]) -> Result<(), StorageError> {
        for &base in bases {
            let segment = Segment::open(self.fs, self.dir, base, 0)?;
            tracing::warn!(segment = %segment.log_path.display(), bytes = segment.size_bytes,
                "recovery deleted a segment that follows damage");
            segment.remove_files(self.fs)?;
            self.report.deleted_segments.push(segment.log_path.clone());
        }
        Ok(())
    }
}

impl Partition {
    /// Creates the directory and first segment of a new partition. The caller
    /// makes sure it does not exist yet.
    pub(crate) fn create(
        fs: Arc<dyn FileSystem>,
        dir: PathBuf,
        id: PartitionId,
        config: LogConfig,
    ) -> Result<Partition, StorageError> {
        fs.create_dir_all(&dir).ctx(&dir, IoOp::CreateDir)?;
        let segment = Segment::open(fs.as_ref(), &dir, 0, now_ms())?;
        let partition = Partition::assemble(fs, dir, id, config, vec![segment], 0, 0, None);
        partition.write_checkpoint(false)?;
        let parent = crate::io::parent_dir(&partition.dir);
        partition.fs.sync_dir(parent).ctx(parent, IoOp::SyncDir)?;
        Ok(partition)
    }

    /// Opens an existing partition directory, recovering it if it was not
    /// shut down cleanly.
    pub(crate) fn open(
        fs: Arc<dyn FileSystem>,
        dir: PathBuf,
        id: PartitionId,
        config: LogConfig,
    ) -> Result<Partition, StorageError> {
        // Before anything reads the segments: a compaction's swap in
        // progress is finished (or its uncommitted file deleted).
        // One listing serves both.
        let listed = fs.read_dir(&dir).ctx(&dir, IoOp::ReadDir)?;
        super::compaction::finish_interrupted_swaps(fs.as_ref(), &dir, &listed)?;
        let mut bases = list_segments(fs.as_ref(), &listed)?;
        let checkpoint = read_checkpoint(fs.as_ref(), &dir)?;
        let first_base = bases.first().copied().unwrap_or(0);
        let log_start = checkpoint.map_or(first_base, |c| c.log_start_offset.max(first_base));
        let recovery_point = checkpoint.map_or(0, |c| c.recovery_point);
        let clean = checkpoint.is_some_and(|c| c.clean_shutdown);
        drop_below_log_start(fs.as_ref(), &dir, &mut bases, log_start)?;
        if bases.is_empty() {
            if recovery_point > log_start {
                let detail =
                    format!("no segment files, but offsets up to {recovery_point} were fsynced");
                return Err(corruption(&dir, 0, detail));
            }
            bases.push(log_start);
        }
        let recover_from = first_scanned(&bases, recovery_point);
        let mut loader = Loader {
            fs: fs.as_ref(),
            dir: &dir,
            config: &config,
            recovery_point,
            clean,
            report: RecoveryReport::default(),
            segments: Vec::new(),
            last_scanned: false,
        };
        loader.load(&bases, recover_from)?;
        let Loader {
            mut segments,
            report,
            ..
        } = loader;
        let high_watermark = segments.last().map_or(log_start, |s| s.next_offset);
        if clean && high_watermark != recovery_point {
            let detail = format!(
                "clean shutdown recorded at offset {recovery_point} but the log ends at {high_watermark}"
            );
            return Err(corruption(&dir, 0, detail));
        }
        if high_watermark < recovery_point {
            // A file lost its fsynced tail at a batch boundary: no damage to
            // see, but offsets that were durable are gone.
            let detail = format!(
                "the log ends at offset {high_watermark} but offsets up to {recovery_point} were fsynced"
            );
            return Err(corruption(&dir, 0, detail));
        }
        if high_watermark < log_start {
            segments = restart_at_log_start(fs.as_ref(), &dir, segments, log_start)?;
        }
        if let Some(active) = segments.last_mut() {
            // The active segment's indexes grow with it: in memory, not mapped.
            active.own_indexes(fs.as_ref())?;
            // Only the active segment rolls by age; the sealed ones need no date.
            active.date_from_file(fs.as_ref(), now_ms());
        }
        let rebuilt = report.rebuilt_indexes;
        let recovery = (!clean).then_some(report);
        let mut partition = Partition::assemble(
            fs,
            dir,
            id,
            config,
            segments,
            log_start,
            recovery_point,
            recovery,
        );
        partition.indexes_rebuilt_at_open = rebuilt;
        partition.finish_open(clean, recovery_point)?;
        Ok(partition)
    }

    /// After recovery, makes what was scanned durable and records that the
    /// partition is open (no clean-shutdown marker) before any write.
    ///
    /// Only the tail needs it: a segment that ends before the recovery point
    /// was fsynced, log and index files, before the recovery point moved past
    /// it (`sync_now` syncs a rolled segment's files first). So the work is
    /// proportional to the unflushed tail plus any index the open rebuilt,
    /// not to the number of segments.
    fn finish_open(&self, clean: bool, recovery_point: i64) -> Result<(), StorageError> {
        if !clean {
            let mut state = crate::sync_util::lock(&self.state);
            let sealed = state.segments.len().saturating_sub(1);
            let mut files = Vec::new();
            for (i, segment) in state.segments.iter_mut().enumerate() {
                // Ending exactly at the recovery point counts as tail: the
                // point may have been reached while it was still active,
                // before its roll wrote its index files.
                let tail = i == sealed || segment.next_offset >= recovery_point;
                if tail || segment.has_unwritten_index_entries() {
                    segment.write_indexes(self.fs.as_ref(), true)?;
                }
                if tail {
                    files.push((
                        segment.log_path.clone(),
                        segment.log_file(self.fs.as_ref())?,
                    ));
                }
                if i < sealed {
                    // Rebuilt by the scan and now in the files: let go of
                    // them, and of the log's file (`files` holds it until synced).
                    segment.release_indexes();
                    segment.close_log();
                }
            }
            drop(state);
            for (path, file) in files {
                file.sync_data().ctx(&path, IoOp::Sync)?;
            }
            self.fs.sync_dir(&self.dir).ctx(&self.dir, IoOp::SyncDir)?;
            crate::sync_util::lock(&self.sync).synced_offset = self.high_watermark();
        }
        self.write_checkpoint(false)
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "private constructor shared by create and open"
    )]
    fn assemble(
        fs: Arc<dyn FileSystem>,
        dir: PathBuf,
        id: PartitionId,
        config: LogConfig,
        segments: Vec<Segment>,
        log_start_offset: i64,
        recovery_point: i64,
        recovery: Option<RecoveryReport>,
    ) -> Partition {
        let high_watermark = segments.last().map_or(log_start_offset, |s| s.next_offset);
        Partition {
            id,
            dir,
            fs,
            config: RwLock::new(config),
            state: Mutex::new(State {
                segments,
                base_offset_fields: Vec::new(),
                unsynced: Vec::new(),
                dir_dirty: false,
                closed: false,
            }),
            sync: Mutex::new(SyncState {
                synced_offset: recovery_point.min(high_watermark),
                in_progress: false,
            }),
            sync_done: Condvar::new(),
            checkpoint: Mutex::new(Checkpoint {
                log_start_offset,
                recovery_point,
                clean_shutdown: false,
            }),
            high_watermark: AtomicI64::new(high_watermark),
            log_start_offset: AtomicI64::new(log_start_offset),
            last_sync_ms: AtomicI64::new(now_ms()),
            failed: AtomicBool::new(false),
            failure: Mutex::new(None),
            recovery,
            indexes_rebuilt_at_open: 0,
            writeback: OnceLock::new(),
            writeback_queued: AtomicBool::new(false),
            deleted: AtomicBool::new(false),
            compacting: Mutex::new(()),
            cleaned_up_to: AtomicI64::new(i64::MIN),
            tombstones_due_ms: AtomicI64::new(i64::MAX),
        }
    }
}

/// The log start offset was persisted but the data below it was not (a
/// power loss after DeleteRecords on unsynced data): everything left lies
/// below the log start, so the log restarts empty at the log start.
fn restart_at_log_start(
    fs: &dyn FileSystem,
    dir: &Path,
    segments: Vec<Segment>,
    log_start: i64,
) -> Result<Vec<Segment>, StorageError> {
    for segment in &segments {
        tracing::warn!(segment = %segment.log_path.display(), log_start,
            "recovered log ends below the log start offset; deleting the segment");
        segment.remove_files(fs)?;
    }
    Ok(vec![Segment::open(fs, dir, log_start, now_ms())?])
}

/// Deletes segments wholly below the log start offset (retention that was
/// interrupted after its checkpoint was written).
fn drop_below_log_start(
    fs: &dyn FileSystem,
    dir: &Path,
    bases: &mut Vec<i64>,
    log_start: i64,
) -> Result<(), StorageError> {
    while bases.len() > 1 && bases.get(1).is_some_and(|&next| next <= log_start) {
        let base = bases.remove(0);
        for kind in [FileKind::Log, FileKind::OffsetIndex, FileKind::TimeIndex] {
            let path = names::segment_path(dir, base, kind);
            if fs.exists(&path) {
                fs.remove_file(&path).ctx(&path, IoOp::Remove)?;
            }
        }
    }
    Ok(())
}
