//! One partition: a directory of segments with one writer lock.
//!
//! Locks, in the order they may be taken:
//! - `state` (std Mutex): the writer lock — segment list, append buffer.
//!   Held for the bookkeeping and the single `write` of an append, never for
//!   an fsync or a read's I/O.
//! - `sync` (std Mutex + Condvar): group commit; whoever finds no fsync in
//!   progress becomes the leader, the others wait for its result.
//! - `checkpoint` (std Mutex): serialises checkpoint rewrites (they share a temp file name).
//!
//! `compacting` (std Mutex) is taken before all of them and held for a whole
//! compaction pass, which takes the others only briefly (never `state` while
//! it reads or writes a segment, except for a segment's swap).
//!
//! No lock is shared with another partition.
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Condvar, Mutex, OnceLock, RwLock, Weak};

use crate::config::LogConfig;
use crate::error::StorageError;
use crate::id::PartitionId;
use crate::io::FileSystem;
use crate::segment::{NamedFile, Segment};
use crate::store::writeback;
use crate::sync_util::{lock, read, write};

mod append;
mod compaction;
mod open;
mod read;
mod retention;
mod sync;
mod timestamp;

pub use compaction::{CompactionReport, KEY_MAP_BYTES_MAX, PassDue};
pub(crate) use open::first_scanned;
pub use open::{RecoveryReport, TruncatedTail};
pub use retention::RetentionReport;

/// Where `append` put the batches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppendInfo {
    pub base_offset: i64,
    pub last_offset: i64,
    /// Largest `max_timestamp` among the appended batches.
    pub max_timestamp: i64,
    pub log_start_offset: i64,
}

/// Whole batches handed out by `read`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadResult {
    pub records: bytes::Bytes,
    pub high_watermark: i64,
    pub log_start_offset: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimestampOffset {
    pub timestamp_ms: i64,
    pub offset: i64,
}

/// What the writer lock protects.
#[derive(Debug)]
struct State {
    /// Ordered by base offset; the last one is the active segment. Never empty.
    segments: Vec<Segment>,
    /// Reused: the patched base offset of each batch of the append in progress
    /// (written in front of the batch's other bytes, which are not copied).
    base_offset_fields: Vec<[u8; 8]>,
    /// Sealed segments written since the last fsync: (path, file).
    unsynced: Vec<NamedFile>,
    /// A segment file was created since the last directory fsync.
    dir_dirty: bool,
    closed: bool,
}

impl State {
    fn active(&self) -> Option<&Segment> {
        self.segments.last()
    }

    /// Every segment but the active one, oldest first.
    fn sealed(&self) -> impl Iterator<Item = &Segment> {
        let sealed = self.segments.len().saturating_sub(1);
        self.segments.iter().take(sealed)
    }
}

#[derive(Debug)]
struct SyncState {
    /// Every offset below this is fsynced.
    synced_offset: i64,
    in_progress: bool,
}

pub struct Partition {
    id: PartitionId,
    dir: PathBuf,
    fs: Arc<dyn FileSystem>,
    /// Read on every append, written rarely: a RwLock so appends never contend on it.
    config: RwLock<LogConfig>,
    state: Mutex<State>,
    sync: Mutex<SyncState>,
    sync_done: Condvar,
    /// Serialises checkpoint rewrites; holds the last one written.
    checkpoint: Mutex<crate::format::Checkpoint>,
    high_watermark: AtomicI64,
    log_start_offset: AtomicI64,
    /// Wall-clock ms of the last successful fsync (for `Durability::Interval`).
    last_sync_ms: AtomicI64,
    failed: AtomicBool,
    failure: Mutex<Option<String>>,
    recovery: Option<RecoveryReport>,
    /// Segments whose index files the open found inconsistent with their
    /// log and rebuilt, among those it trusted (`rebuilt_index_count`).
    indexes_rebuilt_at_open: usize,
    /// The store's writeback thread and this partition (weakly, to queue
    /// itself there), set once by the store; without it no hint is given.
    writeback: OnceLock<(Sender<writeback::Request>, Weak<Partition>)>,
    /// Queued for the writeback thread and not yet taken: queue at most once.
    writeback_queued: AtomicBool,
    /// Set by `Store::delete_partition`: this object is no longer any topic's.
    deleted: AtomicBool,
    /// Held for a whole compaction pass, so passes (the cleaner thread's and
    /// a caller's) never overlap. A std Mutex: nothing async waits on it.
    compacting: Mutex<()>,
    /// Segments ending at or below this offset were cleaned by this process
    /// (in memory only: after a restart every segment counts as dirty once,
    /// and a pass over a clean log rewrites nothing).
    cleaned_up_to: AtomicI64,
    /// The earliest delete horizon among the tombstones the last pass kept
    /// (i64::MAX: none): from then on a pass has work even if nothing is
    /// dirty.
    tombstones_due_ms: AtomicI64,
}

impl std::fmt::Debug for Partition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Partition")
            .field("id", &self.id)
            .field("high_watermark", &self.high_watermark())
            .field("log_start_offset", &self.log_start_offset())
            .field("failed", &self.is_failed())
            .finish()
    }
}

impl Partition {
    pub fn id(&self) -> &PartitionId {
        &self.id
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn config(&self) -> LogConfig {
        read(&self.config).clone()
    }

    /// How long a mapping of the active segment is made: the segment rolls
    /// before outgrowing this (unless one batch alone is larger).
    fn mapped_segment_len(&self) -> u64 {
        read(&self.config).segment_bytes_effective()
    }

    /// Takes effect from the next append (roll, index interval, durability)
    /// and the next retention pass.
    pub fn set_config(&self, config: LogConfig) {
        *write(&self.config) = config;
    }

    /// Next offset to assign (= log end offset).
    pub fn high_watermark(&self) -> i64 {
        self.high_watermark.load(Ordering::Acquire)
    }

    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset.load(Ordering::Acquire)
    }

    /// Deleted by `Store::delete_partition`; a topic created again under the
    /// same name has a new `Partition`.
    pub fn is_deleted(&self) -> bool {
        self.deleted.load(Ordering::Acquire)
    }

    pub fn is_failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }

    /// Why the partition refuses writes, if it does.
    pub fn failure_reason(&self) -> Option<String> {
        lock(&self.failure).clone()
    }

    /// What recovery found when this partition was opened (None for a clean open or a new partition).
    pub fn recovery_report(&self) -> Option<&RecoveryReport> {
        self.recovery.as_ref()
    }

    /// How many segments' index files the open that made this partition
    /// found inconsistent with their log and rebuilt, after a clean shutdown
    /// as after a crash (`recovery_report` covers crash recovery only).
    /// Segments that recovery scans are rebuilt whole and not counted here.
    pub fn rebuilt_index_count(&self) -> usize {
        self.indexes_rebuilt_at_open
    }

    /// Number of segments (for tests and metrics).
    pub fn segment_count(&self) -> usize {
        lock(&self.state).segments.len()
    }

    /// Total bytes of all segment logs.
    pub fn size_bytes(&self) -> u64 {
        lock(&self.state)
            .segments
            .iter()
            .map(|s| s.size_bytes)
            .sum()
    }

    /// Marks the partition failed: every later write is refused until it is
    /// reopened. The first reason wins.
    fn fail(&self, reason: String) {
        self.refuse_writes(reason, true);
    }

    fn refuse_writes(&self, reason: String, is_error: bool) {
        let mut failure = lock(&self.failure);
        let first = failure.is_none();
        if first {
            *failure = Some(reason.clone());
        }
        // Refuse first, log after: a slow log sink must not hold the door open.
        self.failed.store(true, Ordering::Release);
        drop(failure);
        if first && is_error {
            tracing::error!(partition = %self.id, %reason, "partition failed; refusing writes until reopened");
        }
        // Wake group-commit waiters so they see the failure.
        let _guard = lock(&self.sync);
        self.sync_done.notify_all();
    }

    /// Marks the partition failed because of `error` and returns it.
    fn fail_with(&self, error: StorageError) -> StorageError {
        self.fail(error.to_string());
        error
    }

    fn failed_error(&self) -> StorageError {
        let reason = self
            .failure_reason()
            .unwrap_or_else(|| "unknown failure".to_owned());
        StorageError::PartitionFailed {
            id: self.id.clone(),
            reason,
        }
    }

    /// Refuses the write if the partition failed or was closed.
    fn check_writable(&self, state: &State) -> Result<(), StorageError> {
        if self.is_failed() {
            return Err(self.failed_error());
        }
        if state.closed {
            return Err(StorageError::Closed);
        }
        Ok(())
    }

    /// Flushes, writes indexes and a clean-shutdown checkpoint; later writes
    /// fail with `Closed`. Idempotent. A failed partition gets no clean marker,
    /// so its next open runs recovery.
    pub fn close(&self) -> Result<(), StorageError> {
        // Refuse appends before flushing, so none lands after the flush and leaves the clean
        // marker claiming a recovery point short of the log's end (which fails the next open).
        {
            let mut state = lock(&self.state);
            if state.closed {
                return Ok(());
            }
            state.closed = true;
        }
        if self.is_failed() {
            return Err(self.failed_error());
        }
        self.flush()?;
        let clean = self.recovery_point() >= self.high_watermark();
        self.write_checkpoint(clean)
    }

    /// Marks the partition deleted: later writes fail.
    pub(crate) fn mark_deleted(&self) {
        self.deleted.store(true, Ordering::Release);
        lock(&self.state).closed = true;
        // Asked for, not a failure: nothing to alarm an operator about.
        self.refuse_writes("partition deleted".to_owned(), false);
    }
}
