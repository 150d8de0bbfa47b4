//! Group-committed fsync, flush and the partition checkpoint.
use std::sync::atomic::Ordering;

use super::Partition;
use crate::error::{IoContext, IoOp, StorageError};
use crate::format::Checkpoint;
use crate::format::names::CHECKPOINT_FILE;
use crate::sync_util::{lock, now_ms, wait};

impl Partition {
    /// Blocks until every offset up to and including `offset` (capped at the
    /// high watermark) is fsynced. Concurrent callers share one fsync: the
    /// first becomes the leader and syncs everything written so far, the
    /// others wait for it and return if it covered them.
    pub fn sync_to(&self, offset: i64) -> Result<(), StorageError> {
        let mut sync = lock(&self.sync);
        loop {
            if self.is_failed() {
                return Err(self.failed_error());
            }
            if sync.synced_offset > offset || sync.synced_offset >= self.high_watermark() {
                return Ok(());
            }
            if !sync.in_progress {
                break;
            }
            sync = wait(&self.sync_done, sync);
        }
        sync.in_progress = true;
        drop(sync);
        // A failure is published before this thread steps down as leader, so no waiter can
        // take over and fsync again: after a failed fsync the kernel may have dropped the dirty
        // pages and marked them clean, and a second fsync would report success for lost data.
        let result = self.sync_now().map_err(|e| self.fail_with(e));
        let mut sync = lock(&self.sync);
        sync.in_progress = false;
        if let Ok(target) = result {
            sync.synced_offset = sync.synced_offset.max(target);
        }
        self.sync_done.notify_all();
        drop(sync);
        result.map(drop)
    }

    /// fsyncs everything written so far; returns the offset it covers up to (exclusive).
    fn sync_now(&self) -> Result<i64, StorageError> {
        // Never fsync again after a failed one (see `sync_to`).
        if self.is_failed() {
            return Err(self.failed_error());
        }
        let (target, mut files, dir_dirty) = {
            let mut state = lock(&self.state);
            let target = self.high_watermark();
            let mut files = std::mem::take(&mut state.unsynced);
            if let Some(active) = state.segments.last_mut() {
                files.push((active.log_path.clone(), active.log_file(self.fs.as_ref())?));
            }
            (target, files, std::mem::take(&mut state.dir_dirty))
        };
        for (path, file) in files.drain(..) {
            file.sync_data().ctx(&path, IoOp::Sync)?;
        }
        if dir_dirty {
            // New segment files must survive a power loss as directory entries too.
            self.fs.sync_dir(&self.dir).ctx(&self.dir, IoOp::SyncDir)?;
        }
        self.last_sync_ms.store(now_ms(), Ordering::Release);
        Ok(target)
    }

    /// True if something was appended since the last fsync.
    pub fn has_unsynced(&self) -> bool {
        lock(&self.sync).synced_offset < self.high_watermark()
    }

    /// True if a segment was rolled since the last fsync: its files are
    /// held open until a sync.
    pub(crate) fn has_unsynced_rolls(&self) -> bool {
        !lock(&self.state).unsynced.is_empty()
    }

    /// Wall-clock ms of the last fsync (0 if none yet).
    pub(crate) fn last_sync_ms(&self) -> i64 {
        self.last_sync_ms.load(Ordering::Acquire)
    }

    /// Offset below which everything is fsynced.
    pub fn recovery_point(&self) -> i64 {
        lock(&self.sync).synced_offset
    }

    /// fsyncs all appended data and writes the active segment's pending index entries.
    pub fn flush(&self) -> Result<(), StorageError> {
        let index_files = {
            let mut state = lock(&self.state);
            match state.segments.last_mut() {
                Some(active) => active
                    .write_indexes(self.fs.as_ref(), false)
                    .map_err(|e| self.fail_with(e))?,
                None => Vec::new(),
            }
        };
        // The index fsyncs run without the writer lock, like the log's.
        for (path, file) in index_files {
            file.sync_data()
                .ctx(&path, IoOp::Sync)
                .map_err(|e| self.fail_with(e))?;
        }
        self.sync_to(self.high_watermark() - 1)
    }

    /// Rewrites the checkpoint if the recovery point moved since the last one.
    pub fn checkpoint_if_advanced(&self) -> Result<(), StorageError> {
        if lock(&self.checkpoint).recovery_point < self.recovery_point() {
            self.write_checkpoint(false)?;
        }
        Ok(())
    }

    /// Writes the checkpoint atomically with the current log start offset and
    /// recovery point.
    pub(crate) fn write_checkpoint(&self, clean_shutdown: bool) -> Result<(), StorageError> {
        let mut written = lock(&self.checkpoint);
        let checkpoint = Checkpoint {
            log_start_offset: self.log_start_offset(),
            recovery_point: self.recovery_point(),
            clean_shutdown,
        };
        let path = self.dir.join(CHECKPOINT_FILE);
        // A failed checkpoint write fails the partition like any other write:
        // after a failed fsync we cannot know what the disk holds.
        crate::io::write_atomic(self.fs.as_ref(), &path, &checkpoint.encode())
            .map_err(|e| self.fail_with(e))?;
        *written = checkpoint;
        Ok(())
    }
}
