//! Replacing a segment's log with its cleaned copy so that a crash at any
//! step leaves the old or the new content (FORMAT.md §6):
//!
//! 1. `<base>.log.cleaned`, fsynced, is renamed to `<base>.log.swap`; the
//!    directory is fsynced. This is the commit point: from here the open
//!    finishes the swap. A failure up to here leaves the old log in place
//!    and fails nothing.
//! 2. Under the writer lock, if the segment is still in the partition:
//!    `<base>.index` and `<base>.timeindex` are removed, the directory
//!    fsynced (no old index can outlive the old log), `<base>.log.swap` is
//!    renamed over `<base>.log`, the directory fsynced, and the new
//!    indexes, built while the log was written, are written and fsynced.
//!    A failure here fails the partition (the files are half swapped; the
//!    next open finishes the swap and rebuilds the indexes).
//!
//! At open, [`finish_interrupted_swaps`] deletes every `*.log.cleaned` and
//! finishes every `*.log.swap` before the segments are listed; the swapped
//! segment then has no index files, so the open rebuilds them from its log.
use std::path::{Path, PathBuf};

use super::remove_quietly;
use crate::error::{IoContext, IoOp, StorageError};
use crate::format::names::{
    CleanerFile, FileKind, cleaner_path, parse_cleaner_file_name, segment_path,
};
use crate::io::FileSystem;
use crate::partition::Partition;
use crate::segment::Segment;
use crate::sync_util::lock;

impl Partition {
    /// Swaps `segment` (the cleaned log's bookkeeping, its file at
    /// `<base>.log.cleaned`, fsynced) in for the segment of the same base
    /// offset. Returns false, discarding the cleaned log, if that segment
    /// is gone (retention, DeleteRecords) or the partition was closed.
    pub(super) fn swap(&self, mut segment: Segment) -> Result<bool, StorageError> {
        let (fs, dir, base) = (self.fs.as_ref(), self.dir.as_path(), segment.base_offset);
        let cleaned = cleaner_path(dir, base, CleanerFile::Cleaned);
        let swap = cleaner_path(dir, base, CleanerFile::Swap);
        let committed = fs
            .rename(&cleaned, &swap)
            .ctx(&cleaned, IoOp::Rename)
            .and_then(|()| fs.sync_dir(dir).ctx(dir, IoOp::SyncDir));
        if let Err(e) = committed {
            // Whichever of the two names survives, the old log is intact and
            // the cleaned one complete: an open deletes the first and finishes
            // the second, both right.
            remove_quietly(fs, &cleaned);
            remove_quietly(fs, &swap);
            return Err(e);
        }
        let mut state = lock(&self.state);
        let found = state
            .segments
            .binary_search_by_key(&base, |s| s.base_offset)
            .ok()
            .filter(|&at| at + 1 < state.segments.len() && !state.closed);
        let Some(at) = found else {
            drop(state);
            // Gone, so its .log is (or is about to be) too: an open deletes
            // a .swap without its .log, or drops the segment below the log start.
            remove_quietly(fs, &swap);
            return Ok(false);
        };
        if let Err(e) = remove_indexes(fs, dir, base) {
            drop(state);
            return Err(self.fail_with(e));
        }
        if let Err(e) = fs
            .rename(&swap, &segment.log_path)
            .ctx(&swap, IoOp::Rename)
            .and_then(|()| fs.sync_dir(dir).ctx(dir, IoOp::SyncDir))
        {
            drop(state);
            return Err(self.fail_with(e));
        }
        // The log is the new one now: so is the segment readers look up,
        // even if its index files fail to be written (it keeps the entries).
        let written = segment.write_indexes(fs, true).map(drop);
        segment.release_indexes();
        let old = state
            .segments
            .get_mut(at)
            .map(|slot| std::mem::replace(slot, segment));
        drop(state);
        // Its mappings are unmapped here, outside the lock; readers holding
        // slices of the old log keep it (unlinked) until they let go.
        drop(old);
        written.map_err(|e| self.fail_with(e))?;
        Ok(true)
    }
}

/// Removes a segment's two index files and fsyncs the directory.
fn remove_indexes(fs: &dyn FileSystem, dir: &Path, base: i64) -> Result<(), StorageError> {
    for kind in [FileKind::OffsetIndex, FileKind::TimeIndex] {
        let path = segment_path(dir, base, kind);
        if fs.exists(&path) {
            fs.remove_file(&path).ctx(&path, IoOp::Remove)?;
        }
    }
    fs.sync_dir(dir).ctx(dir, IoOp::SyncDir)
}

/// Before an open lists a partition's segments: deletes every
/// `<base>.log.cleaned` (a cleaned log not yet committed) and finishes the
/// swap of every `<base>.log.swap` (committed): its base's index files are
/// removed and it is renamed over `<base>.log`, so the open rebuilds the
/// indexes from the new log. A `.swap` whose `.log` is gone belonged to a
/// segment that retention removed meanwhile, and is deleted.
pub(in crate::partition) fn finish_interrupted_swaps(
    fs: &dyn FileSystem,
    dir: &Path,
    listed: &[PathBuf],
) -> Result<(), StorageError> {
    let mut changed = false;
    for path in listed {
        let Some((base, kind)) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(parse_cleaner_file_name)
        else {
            continue;
        };
        changed = true;
        let log = segment_path(dir, base, FileKind::Log);
        if kind == CleanerFile::Cleaned || !fs.exists(&log) {
            fs.remove_file(path).ctx(path, IoOp::Remove)?;
            continue;
        }
        remove_indexes(fs, dir, base)?;
        fs.rename(path, &log).ctx(path, IoOp::Rename)?;
        tracing::info!(segment = %log.display(),
            "finished a compaction's interrupted swap; the segment's indexes are rebuilt from its log");
    }
    if changed {
        fs.sync_dir(dir).ctx(dir, IoOp::SyncDir)?;
    }
    Ok(())
}
