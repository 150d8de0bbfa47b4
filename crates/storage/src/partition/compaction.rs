//! Log compaction (`cleanup.policy=compact`): one cleaning pass rewrites the
//! sealed segments that lose records, keeping the last record of each key.
//!
//! A pass, under the partition's `compacting` lock (one pass at a time):
//! 1. The cleanable range: the sealed segments from the first on, while each
//!    ends at or below the checkpoint's recovery point (so crash recovery,
//!    which scans from the segment holding that point, never meets a
//!    rewritten segment) and, with `min_lag_ms`, is old enough (its
//!    records' max timestamp at least that long ago).
//! 2. A map from each key to the offset of its last record, over the dirty
//!    part of the range: the records from `cleaned_up_to` (where the last
//!    pass ended) on (exact keys: a hash collision would delete a live
//!    record). It is bounded by [`KEY_MAP_BYTES_MAX`]: the map, and this
//!    pass, end after the batch that filled it (at least one batch), and the
//!    next pass goes on from there, so a log of any number of keys is
//!    cleaned in as many passes as it takes.
//! 3. Each segment from the first to the one where the map ends is filtered
//!    batch by batch (`format::compact`): a record the map covers (below its
//!    end) goes if its key has a later record, or if it is the last of its
//!    key and a tombstone whose batch's delete horizon has passed. Records
//!    the map does not cover, records without a key and control batches
//!    stay. Below `cleaned_up_to` each key has one record at most (earlier
//!    passes saw to that), so a key the map lacks has its last record there.
//!    Only a segment that changes is written, to `<base>.log.cleaned`, then
//!    swapped in (`swap`).
//!
//! Tombstones go as in Kafka since KIP-534: a covered batch that keeps a
//! tombstone and has no delete horizon is given one, the pass's time plus
//! `delete_retention_ms`, and its tombstones go at the first pass after it.
//! Their own timestamps do not count: a producer stamps those, possibly
//! far in the past, and a reader replaying the topic needs the tombstone
//! for `delete_retention_ms` from when the cleaner first kept it. The
//! earliest horizon left is kept (`tombstones_due_ms`); once it has passed,
//! a pass runs even when nothing is dirty, with an empty key map over the
//! clean part of the log.
//!
//! Reading and writing run without the writer lock: sealed segments never
//! change, and are read through the same views fetches use. Only the swap
//! takes it.
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::read::Target;
use super::{Partition, State};
use crate::config::Compaction;
use crate::error::{IoContext, IoOp, StorageError};
use crate::format::batch::BatchHeader;
use crate::format::compact::{self, Filtered, RecordInfo};
use crate::format::names::{CleanerFile, cleaner_path};
use crate::io::{File, FileSystem, OpenMode};
use crate::scan::{ScanItem, ScanMode, Scanner};
use crate::segment::{LogBytes, Segment, SegmentView};
use crate::sync_util::lock;

mod swap;

pub(super) use swap::finish_interrupted_swaps;

/// The most memory the key map of one pass may take, counting each key's
/// bytes plus [`KEY_ENTRY_OVERHEAD_BYTES`]: about 60,000 1 KiB keys, or
/// 800,000 keys of 20 bytes. A pass whose dirty records hold more keys ends
/// where the map filled; the next pass goes on from there.
pub const KEY_MAP_BYTES_MAX: usize = 64 << 20;
/// What one entry of the key map costs besides its key: the `Vec` header,
/// the offset and the hash table's slot and spare capacity.
const KEY_ENTRY_OVERHEAD_BYTES: usize = 64;
/// Unchanged batches are gathered up to this many bytes per `append`.
const WRITE_CHUNK_BYTES: usize = 1 << 20;

/// What one compaction pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CompactionReport {
    /// Segments in the cleaned range (rewritten or found clean).
    pub segments_cleaned: usize,
    /// Segments that lost records and were replaced.
    pub segments_rewritten: usize,
    /// Bytes of the rewritten segments before and after.
    pub bytes_before: u64,
    pub bytes_after: u64,
    /// Records removed, tombstones among them counted again in `tombstones_removed`.
    pub records_removed: u64,
    pub tombstones_removed: u64,
    /// Batches given a delete horizon for the tombstones they keep.
    pub horizons_set: u64,
    /// The earliest delete horizon of the tombstones the cleaned range keeps.
    pub tombstones_due_ms: Option<i64>,
    /// The log below this offset is clean (the end of the cleaned range).
    pub cleaned_up_to: i64,
}

/// Why a pass is due (`Partition::pass_due`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PassDue {
    /// The cleanable dirty bytes reached `min_dirty_per_mille` of the
    /// cleanable bytes (Kafka's cleanable ratio); the share is held.
    DirtyShare(u32),
    /// The oldest cleanable dirty segment has waited `max_lag_ms`.
    MaxLag,
    /// A kept tombstone has reached its delete horizon.
    Tombstones,
}

/// A sealed segment of the cleanable range, as the pass planned it.
#[derive(Clone, Copy, Debug)]
struct Planned {
    base_offset: i64,
    next_offset: i64,
}

/// Key → offset of the key's last record among the records the map covers:
/// those from the pass's start (`cleaned_up_to`) up to `end`.
#[derive(Debug)]
struct KeyMap {
    last: HashMap<Vec<u8>, i64>,
    bytes: usize,
    /// Records at and after this offset are not covered: they stay.
    end: i64,
}

impl Default for KeyMap {
    fn default() -> Self {
        KeyMap {
            last: HashMap::new(),
            bytes: 0,
            end: i64::MAX,
        }
    }
}

impl KeyMap {
    fn insert(&mut self, key: &[u8], offset: i64) {
        if let Some(last) = self.last.get_mut(key) {
            *last = (*last).max(offset);
            return;
        }
        self.bytes = self
            .bytes
            .saturating_add(key.len() + KEY_ENTRY_OVERHEAD_BYTES);
        self.last.insert(key.to_vec(), offset);
    }

    /// Rule 3 of the design: a keyed record goes if a later record has its
    /// key, or if it is the key's last and a tombstone whose batch's delete
    /// horizon is at or before `now_ms` (Kafka keeps it while `now < horizon`).
    fn keeps(&self, record: &RecordInfo<'_>, now_ms: i64) -> bool {
        let Some(key) = record.key else {
            return true;
        };
        // A tombstone past the map's end may delete a key the map saw
        // earlier: removing it would bring the earlier value back.
        if record.offset >= self.end {
            return true;
        }
        let superseded = self.last.get(key).is_some_and(|&last| last > record.offset);
        let expired = record.is_tombstone && record.delete_horizon_ms.is_some_and(|h| h <= now_ms);
        !superseded && !expired
    }
}

/// What a pass applies to each batch it filters.
struct Pass<'a> {
    keys: &'a KeyMap,
    now_ms: i64,
    /// The delete horizon given to covered batches that keep a tombstone.
    horizon_ms: i64,
}

/// What the batches of one segment lost and kept.
#[derive(Debug, Default)]
struct Tally {
    records_removed: u64,
    tombstones_removed: u64,
    horizons_set: u64,
    /// The earliest delete horizon of a batch still holding a tombstone.
    due_ms: Option<i64>,
}

impl Tally {
    fn add(&mut self, filtered: &Filtered) {
        self.records_removed += u64::from(filtered.records_removed);
        self.tombstones_removed += u64::from(filtered.tombstones_removed);
        self.horizons_set += u64::from(filtered.horizon_set);
        if filtered.tombstones_kept > 0 {
            self.due_ms = earliest(self.due_ms, filtered.delete_horizon_ms);
        }
    }
}

fn earliest(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// One segment's cleaned log, written to `<base>.log.cleaned` from the first
/// batch that changes on (the bytes before it are copied from the old log).
struct CleanedLog<'a> {
    fs: &'a dyn FileSystem,
    view: &'a SegmentView,
    path: std::path::PathBuf,
    file: Option<Arc<dyn File>>,
    pending: Vec<u8>,
    /// The new segment's bookkeeping (indexes, max timestamp, next offset).
    segment: Segment,
    /// Bytes of the cleaned log so far.
    position: u64,
    index_interval_bytes: u32,
}

impl CleanedLog<'_> {
    /// Books a batch at the current position and writes it (or, while
    /// nothing changed yet, notes that the old log's bytes serve).
    fn push(
        &mut self,
        header: &BatchHeader,
        old_position: u64,
        bytes: &[u8],
        changed: bool,
    ) -> Result<(), StorageError> {
        if changed && self.file.is_none() {
            self.start(old_position)?;
        }
        if self.file.is_some() {
            self.pending.extend_from_slice(bytes);
            if self.pending.len() >= WRITE_CHUNK_BYTES {
                self.flush()?;
            }
        }
        let size = bytes.len() as u64;
        self.segment
            .record_batch(header, self.position, size, self.index_interval_bytes);
        self.position += size;
        Ok(())
    }

    /// Creates the file and copies the old log's first `len` bytes, which
    /// no filter changed.
    fn start(&mut self, len: u64) -> Result<(), StorageError> {
        if self.fs.exists(&self.path) {
            self.fs
                .remove_file(&self.path)
                .ctx(&self.path, IoOp::Remove)?;
        }
        let file = self
            .fs
            .open(&self.path, OpenMode::ReadAppend)
            .ctx(&self.path, IoOp::Open)?;
        let file = self.file.insert(file);
        let mut at = 0u64;
        let mut buf = Vec::new();
        while at < len {
            let chunk = (len - at).min(WRITE_CHUNK_BYTES as u64);
            let (from, to) = (usize_of(at), usize_of(at + chunk));
            match &self.view.bytes {
                LogBytes::Mapped(map) => {
                    let bytes = map.get(from..to).ok_or_else(|| {
                        self.view
                            .corruption(at, "log shorter than its batches".to_owned())
                    })?;
                    file.append(bytes).ctx(&self.path, IoOp::Write)?;
                }
                LogBytes::File(log) => {
                    buf.resize(to - from, 0);
                    crate::io::read_exact_at(log.as_ref(), &mut buf, at)
                        .ctx(&self.view.log_path, IoOp::Read)?;
                    file.append(&buf).ctx(&self.path, IoOp::Write)?;
                }
            }
            at += chunk;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StorageError> {
        if let Some(file) = &self.file
            && !self.pending.is_empty()
        {
            file.append(&self.pending).ctx(&self.path, IoOp::Write)?;
            self.pending.clear();
        }
        Ok(())
    }

    /// Writes what is pending and fsyncs: the new segment, or None if no
    /// batch changed (nothing was written).
    fn finish(mut self) -> Result<Option<Segment>, StorageError> {
        self.flush()?;
        let Some(file) = self.file.take() else {
            return Ok(None);
        };
        file.sync_data().ctx(&self.path, IoOp::Sync)?;
        self.segment.size_bytes = self.position;
        self.segment.writeback_started_bytes = self.position;
        Ok(Some(self.segment))
    }
}

fn usize_of(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// Calls `each` with every batch of a sealed segment's view: (position,
/// header, whole batch bytes). Damage is corruption: the bytes were checked
/// when they were appended or recovered.
fn for_each_batch(
    view: &SegmentView,
    mut each: impl FnMut(u64, &BatchHeader, &[u8]) -> Result<(), StorageError>,
) -> Result<(), StorageError> {
    match &view.bytes {
        LogBytes::Mapped(_) => {
            for batch in view.mapped_batches(0).into_iter().flatten() {
                let (position, header, bytes) = batch?;
                each(position, &header, bytes)?;
            }
        }
        LogBytes::File(log) => {
            let mut scan = Scanner::new(Arc::clone(log), ScanMode::Frame, 0, view.size_bytes);
            loop {
                match scan.next_item().ctx(&view.log_path, IoOp::Read)? {
                    ScanItem::Batch {
                        header,
                        position,
                        size,
                    } => {
                        let bytes = scan
                            .batch_bytes(position, size)
                            .ctx(&view.log_path, IoOp::Read)?;
                        each(position, &header, bytes)?;
                    }
                    ScanItem::End => break,
                    ScanItem::Damage { position, damage } => {
                        return Err(view.corruption(position, damage.to_string()));
                    }
                }
            }
        }
    }
    Ok(())
}

fn compaction_error(
    view: &SegmentView,
    position: u64,
) -> impl Fn(compact::CompactError) -> StorageError + '_ {
    move |source| StorageError::Compaction {
        path: view.log_path.clone(),
        position,
        source,
    }
}

/// Removes a file if it exists, logging (not returning) a failure: for
/// clean-up after an error that is already being returned.
fn remove_quietly(fs: &dyn FileSystem, path: &Path) {
    if fs.exists(path)
        && let Err(e) = fs.remove_file(path)
    {
        tracing::warn!(path = %path.display(), error = %e, "cannot remove compaction's leftover file; the next open does");
    }
}

/// The cleanable range (rule 1 of the module docs) of a partition within
/// `bounds`.
fn cleanable<'a>(
    state: &'a State,
    bounds: Bounds,
    now_ms: i64,
    compaction: &Compaction,
) -> impl Iterator<Item = &'a Segment> {
    // Crash recovery trusts segments below the checkpoint's recovery point,
    // not the in-memory one: a segment above it is scanned with every
    // check, and must be as appended.
    let lag_cutoff_ms = now_ms.saturating_sub(compaction.min_lag_ms.max(0));
    let held_by_lag = compaction.min_lag_ms > 0;
    state
        .sealed()
        .take_while(move |s| s.next_offset <= bounds.recovery_point)
        .take_while(move |s| {
            !held_by_lag
                || s.max_timestamp
                    .is_none_or(|m| m.timestamp_ms <= lag_cutoff_ms)
        })
}

/// What the cleanable range is measured against.
#[derive(Clone, Copy, Debug)]
struct Bounds {
    /// The checkpoint's recovery point: the range ends at or below it.
    recovery_point: i64,
    /// `cleaned_up_to`: the log below it is clean.
    clean_below: i64,
}

impl Partition {
    /// One cleaning pass (see the module's documentation); a no-op report
    /// when the config has no compaction or the partition is failed. Only a
    /// failure while a rewritten segment replaces its old files fails the
    /// partition; any earlier one leaves the log as it was.
    pub fn compact(&self, now_ms: i64) -> Result<CompactionReport, StorageError> {
        self.compact_with_key_map_limit(now_ms, KEY_MAP_BYTES_MAX)
    }

    /// `compact` with the key map bounded by `key_map_bytes_max` instead of
    /// [`KEY_MAP_BYTES_MAX`] (tests use a small one to make passes end early).
    pub fn compact_with_key_map_limit(
        &self,
        now_ms: i64,
        key_map_bytes_max: usize,
    ) -> Result<CompactionReport, StorageError> {
        let Some(compaction) = self.config().compaction else {
            return Ok(CompactionReport::default());
        };
        if self.is_failed() || self.is_deleted() {
            return Ok(CompactionReport::default());
        }
        let _pass = lock(&self.compacting);
        let planned = self.cleanable_range(now_ms, &compaction);
        let from = self.cleaned_up_to.load(Ordering::Acquire);
        let mut report = CompactionReport::default();
        let keys = match self.key_map(&planned, from, key_map_bytes_max)? {
            Some(keys) => Some(keys),
            // Nothing dirty, but tombstones are due: the clean part alone,
            // where each key's one record is its last.
            None if from > i64::MIN && self.tombstones_due_ms() <= now_ms => Some(KeyMap {
                end: from,
                ..KeyMap::default()
            }),
            None => None,
        };
        if let Some(keys) = keys {
            let pass = Pass {
                keys: &keys,
                now_ms,
                horizon_ms: now_ms.saturating_add(compaction.delete_retention_ms.max(0)),
            };
            for segment in planned.iter().filter(|s| s.base_offset < keys.end) {
                report.segments_cleaned += 1;
                self.clean_segment(segment, &pass, &mut report)?;
            }
            self.cleaned_up_to.fetch_max(keys.end, Ordering::AcqRel);
            // The pass saw every segment of the cleaned range.
            self.tombstones_due_ms.store(
                report.tombstones_due_ms.unwrap_or(i64::MAX),
                Ordering::Release,
            );
        }
        report.cleaned_up_to = self.cleaned_up_to.load(Ordering::Acquire);
        Ok(report)
    }

    /// When the earliest tombstone the last pass kept may go (i64::MAX if
    /// none): a pass is due then even if nothing is dirty.
    pub fn tombstones_due_ms(&self) -> i64 {
        self.tombstones_due_ms.load(Ordering::Acquire)
    }

    /// Of the sealed segments' bytes, the share (in thousandths) not cleaned
    /// since this partition was opened, whether or not a pass may clean it
    /// yet (the cleaner's trigger is `pass_due`). 0 when there is no sealed
    /// segment.
    pub fn dirty_per_mille(&self) -> u32 {
        let clean_below = self.cleaned_up_to.load(Ordering::Acquire);
        let state = lock(&self.state);
        let (mut total, mut dirty) = (0u64, 0u64);
        for segment in state.sealed() {
            total += segment.size_bytes;
            if segment.next_offset > clean_below {
                dirty += segment.size_bytes;
            }
        }
        if total == 0 {
            return 0;
        }
        u32::try_from(u128::from(dirty) * 1000 / u128::from(total)).unwrap_or(1000)
    }

    /// Why the cleaner should run a pass at `now_ms`, if it should; None
    /// without compaction. As in Kafka, the dirty share and the max lag
    /// count only what a pass may clean now: dirty segments that
    /// `min_lag_ms` or the recovery point hold back would only make passes
    /// that change nothing, on every check until they are released.
    pub fn pass_due(&self, now_ms: i64) -> Option<PassDue> {
        let compaction = self.config().compaction?;
        if self.tombstones_due_ms() <= now_ms {
            return Some(PassDue::Tombstones);
        }
        let bounds = self.cleanable_bounds();
        let state = lock(&self.state);
        let (mut clean, mut dirty, mut dirty_since_ms) = (0u64, 0u64, None);
        for segment in cleanable(&state, bounds, now_ms, &compaction) {
            if segment.next_offset <= bounds.clean_below {
                clean += segment.size_bytes;
            } else {
                dirty += segment.size_bytes;
                // Not the first's: timestamps need not grow with offsets.
                let since = segment.waiting_since_ms();
                dirty_since_ms = Some(dirty_since_ms.map_or(since, |t: i64| t.min(since)));
            }
        }
        if dirty == 0 {
            return None;
        }
        let per_mille =
            u32::try_from(u128::from(dirty) * 1000 / u128::from(clean + dirty)).unwrap_or(1000);
        if per_mille >= compaction.min_dirty_per_mille {
            return Some(PassDue::DirtyShare(per_mille));
        }
        let overdue_before = now_ms.saturating_sub(compaction.max_lag_ms);
        (compaction.max_lag_ms < i64::MAX && dirty_since_ms.is_some_and(|t| t <= overdue_before))
            .then_some(PassDue::MaxLag)
    }

    fn cleanable_bounds(&self) -> Bounds {
        Bounds {
            recovery_point: lock(&self.checkpoint).recovery_point,
            clean_below: self.cleaned_up_to.load(Ordering::Acquire),
        }
    }

    /// The sealed segments a pass may clean (rule 1 of the module docs).
    fn cleanable_range(&self, now_ms: i64, compaction: &Compaction) -> Vec<Planned> {
        let bounds = self.cleanable_bounds();
        let state = lock(&self.state);
        cleanable(&state, bounds, now_ms, compaction)
            .map(|s| Planned {
                base_offset: s.base_offset,
                next_offset: s.next_offset,
            })
            .collect()
    }

    /// A view of the sealed segment at `base_offset`, taken as a fetch
    /// takes one (mapped, idle mappings retired); None if it is gone
    /// (retention or DeleteRecords removed it).
    fn sealed_view(&self, base_offset: i64) -> Result<Option<SegmentView>, StorageError> {
        let mut state = lock(&self.state);
        let Ok(at) = state
            .segments
            .binary_search_by_key(&base_offset, |s| s.base_offset)
        else {
            return Ok(None);
        };
        if at + 1 >= state.segments.len() {
            return Ok(None);
        }
        let plan = self.plan_in(&mut state, at, Target::Offset(base_offset))?;
        Ok(plan.map(|p| p.view.clone()))
    }

    /// The key map over the records of `planned` from offset `from` on,
    /// ending after the batch that takes it past `limit` bytes (rule 2 of
    /// the module docs). None if there is no such record: nothing is dirty.
    fn key_map(
        &self,
        planned: &[Planned],
        from: i64,
        limit: usize,
    ) -> Result<Option<KeyMap>, StorageError> {
        let mut keys = KeyMap::default();
        let mut end = None;
        for segment in planned.iter().filter(|s| s.next_offset > from) {
            let Some(view) = self.sealed_view(segment.base_offset)? else {
                continue;
            };
            let mut full = false;
            for_each_batch(&view, |position, header, bytes| {
                if full || header.last_offset() < from {
                    return Ok(());
                }
                compact::for_each_record(header, bytes, |record| {
                    if let Some(key) = record.key.filter(|_| record.offset >= from) {
                        keys.insert(key, record.offset);
                    }
                })
                .map_err(compaction_error(&view, position))?;
                end = Some(header.last_offset().saturating_add(1));
                full = keys.bytes > limit;
                Ok(())
            })?;
            if full {
                tracing::info!(partition = %self.id, key_map_bytes = keys.bytes, limit,
                    "compaction's key map is full; this pass ends here and the next goes on");
                break;
            }
        }
        Ok(end.map(|end| KeyMap { end, ..keys }))
    }

    /// Filters one segment and, if it lost records, swaps the cleaned log in.
    fn clean_segment(
        &self,
        planned: &Planned,
        pass: &Pass<'_>,
        report: &mut CompactionReport,
    ) -> Result<(), StorageError> {
        let Some(view) = self.sealed_view(planned.base_offset)? else {
            return Ok(());
        };
        let cleaned_path = cleaner_path(&self.dir, planned.base_offset, CleanerFile::Cleaned);
        let mut tally = Tally::default();
        let written = self
            .write_cleaned(&view, &cleaned_path, pass, |f| tally.add(f))
            .and_then(|segment| match segment {
                Some(s) if s.next_offset != planned.next_offset => Err(view.corruption(
                    s.size_bytes,
                    format!(
                        "the cleaned log ends at offset {} but the segment at {}",
                        s.next_offset, planned.next_offset
                    ),
                )),
                other => Ok(other),
            });
        let segment = match written {
            Ok(Some(segment)) => segment,
            Ok(None) => {
                report.tombstones_due_ms = earliest(report.tombstones_due_ms, tally.due_ms);
                return Ok(());
            }
            Err(e) => {
                // Nothing but the cleaned file changed: the log is as it was.
                remove_quietly(self.fs.as_ref(), &cleaned_path);
                return Err(e);
            }
        };
        let (before, after) = (view.size_bytes, segment.size_bytes);
        drop(view);
        if self.swap(segment)? {
            report.segments_rewritten += 1;
            report.bytes_before += before;
            report.bytes_after += after;
            report.records_removed += tally.records_removed;
            report.tombstones_removed += tally.tombstones_removed;
            report.horizons_set += tally.horizons_set;
            report.tombstones_due_ms = earliest(report.tombstones_due_ms, tally.due_ms);
            tracing::debug!(partition = %self.id, base_offset = planned.base_offset,
                bytes_before = before, bytes_after = after,
                records_removed = tally.records_removed, "compacted segment");
        }
        Ok(())
    }

    /// Writes the cleaned log of `view` to `path` (only if some batch
    /// changes) and fsyncs it; `filtered` is told what became of each batch.
    fn write_cleaned(
        &self,
        view: &SegmentView,
        path: &Path,
        pass: &Pass<'_>,
        mut filtered: impl FnMut(&Filtered),
    ) -> Result<Option<Segment>, StorageError> {
        let base_offset =
            crate::format::names::parse_segment_path(&view.log_path).map_or(0, |(base, _)| base);
        let mut out = CleanedLog {
            fs: self.fs.as_ref(),
            view,
            path: path.to_owned(),
            file: None,
            pending: Vec::new(),
            segment: Segment::rewritten(&self.dir, base_offset),
            position: 0,
            index_interval_bytes: self.config().index_interval_bytes,
        };
        for_each_batch(view, |position, header, bytes| {
            // Only a batch the map covers has had its key's earlier records
            // removed, so only its tombstones may start their retention.
            let covered = header.last_offset() < pass.keys.end;
            let horizon_ms = covered.then_some(pass.horizon_ms);
            let result = compact::filter_batch(header, bytes, horizon_ms, |r| {
                pass.keys.keeps(r, pass.now_ms)
            })
            .map_err(compaction_error(view, position))?;
            filtered(&result);
            match &result.rewritten {
                None => out.push(header, position, bytes, false),
                Some(batch) => out.push(header, position, batch, true),
            }
        })?;
        out.finish()
    }
}

#[cfg(test)]
mod tests;
