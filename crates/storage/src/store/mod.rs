//! A whole data directory: one sub-directory per partition, opened and
//! recovered together, plus the background thread that runs interval fsyncs,
//! checkpoints and retention, the writeback thread and the cleaner thread
//! (compaction).
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::config::LogConfig;
use crate::error::{IoContext, IoOp, StorageError};
use crate::format::names::{DELETE_DIR_SUFFIX, LOCK_FILE, deleting_dir_name};
use crate::id::PartitionId;
use crate::io::{FileSystem, StdFileSystem};
use crate::partition::Partition;
use crate::sync_util::{lock, read, write};

mod background;
mod cleaner;
pub(crate) mod writeback;

/// How a store is opened.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Config of partitions found on disk at open (the broker sets the real
    /// per-topic config afterwards with `Partition::set_config`).
    pub default_config: LogConfig,
    pub fs: Arc<dyn FileSystem>,
    /// How often the background thread wakes to check interval fsyncs.
    pub flush_check_interval_ms: u64,
    /// How often recovery points are written to partition checkpoints.
    pub checkpoint_interval_ms: u64,
    /// How often retention runs; None = only when `apply_retention` is called.
    pub retention_check_interval_ms: Option<u64>,
    /// How often the cleaner thread looks for partitions to compact
    /// (Kafka's `log.cleaner.backoff.ms`); None = only when `compact` is called.
    pub cleaner_check_interval_ms: Option<u64>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            default_config: LogConfig::default(),
            fs: Arc::new(StdFileSystem),
            flush_check_interval_ms: 50,
            checkpoint_interval_ms: 5_000,
            retention_check_interval_ms: Some(300_000),
            cleaner_check_interval_ms: Some(15_000),
        }
    }
}

/// A partition slot: open, or failed to open with the reason.
#[derive(Debug, Clone)]
enum Slot {
    Open(Arc<Partition>),
    Failed(String),
}

#[derive(Debug)]
struct Shared {
    dir: PathBuf,
    options: StoreOptions,
    /// Read on every lookup, written only by create/delete: a RwLock so
    /// lookups of different partitions never wait on each other. Nothing
    /// does I/O while holding either side: a creation's or deletion's
    /// directory fsyncs would stall every produce and fetch behind them.
    partitions: RwLock<BTreeMap<PartitionId, Slot>>,
    /// Partitions being created, outside the map until their directory is
    /// made: taken after `partitions` when both are, never the other way.
    creating: Mutex<BTreeSet<PartitionId>>,
    stop: Mutex<bool>,
    stop_signal: Condvar,
    closed: AtomicBool,
    /// To the writeback thread: handed to every open partition.
    writeback: Sender<writeback::Request>,
}

/// An open data directory. `Send + Sync`; share it as `Arc<Store>`.
/// Dropping it without `close` is a crash: no clean-shutdown markers.
#[derive(Debug)]
pub struct Store {
    shared: Arc<Shared>,
    background: Mutex<Option<JoinHandle<()>>>,
    writeback: Mutex<Option<JoinHandle<()>>>,
    /// None when `cleaner_check_interval_ms` is None.
    cleaner: Mutex<Option<JoinHandle<()>>>,
    /// Held until the store is closed or dropped.
    dir_lock: Mutex<Option<crate::io::LockGuard>>,
}

/// A partition id held in `Shared::creating` until dropped, so a creation
/// that fails part way frees its name.
struct Reservation<'a> {
    creating: &'a Mutex<BTreeSet<PartitionId>>,
    id: PartitionId,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        lock(self.creating).remove(&self.id);
    }
}

impl Store {
    /// Opens (creating if needed) a data directory and recovers every
    /// partition in it. A partition that cannot be opened is kept as failed;
    /// the others are unaffected.
    pub fn open(data_dir: &Path, options: StoreOptions) -> Result<Store, StorageError> {
        let fs = Arc::clone(&options.fs);
        fs.create_dir_all(data_dir).map_err(|e| {
            // "File exists" would not say that the path names a file.
            let e = match e.kind() {
                std::io::ErrorKind::AlreadyExists if !fs.is_dir(data_dir) => {
                    std::io::Error::from(std::io::ErrorKind::NotADirectory)
                }
                _ => e,
            };
            StorageError::io(data_dir, IoOp::CreateDir, e)
        })?;
        // Two stores on one directory would both append and recover: refuse.
        let lock_file = data_dir.join(LOCK_FILE);
        let dir_lock = lock_data_dir(fs.as_ref(), &lock_file).map_err(|e| {
            // Only a lock another process holds is worth that hint; a file
            // that cannot be created (permissions, a read-only mount) is not.
            let op = match e.kind() {
                std::io::ErrorKind::WouldBlock => IoOp::LockHeld,
                _ => IoOp::Lock,
            };
            StorageError::io(&lock_file, op, e)
        })?;
        let (writeback_sender, writeback_requests) = channel();
        let mut partitions = BTreeMap::new();
        let mut entries = fs.read_dir(data_dir).ctx(data_dir, IoOp::ReadDir)?;
        entries.sort();
        for path in entries {
            if !fs.is_dir(&path) {
                continue;
            }
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if name.ends_with(DELETE_DIR_SUFFIX) {
                // A deletion that was interrupted: finish it.
                fs.remove_dir_all(&path).ctx(&path, IoOp::Remove)?;
                continue;
            }
            let Some(id) = PartitionId::from_dir_name(name) else {
                continue;
            };
            let slot = match Partition::open(
                Arc::clone(&fs),
                path.clone(),
                id.clone(),
                options.default_config.clone(),
            ) {
                Ok(p) => {
                    let p = Arc::new(p);
                    p.attach_writeback(writeback_sender.clone());
                    Slot::Open(p)
                }
                Err(e) => {
                    tracing::error!(partition = %id, error = %e, "partition failed to open; kept as failed");
                    Slot::Failed(e.to_string())
                }
            };
            partitions.insert(id, slot);
        }
        let shared = Arc::new(Shared {
            dir: data_dir.to_owned(),
            options,
            partitions: RwLock::new(partitions),
            creating: Mutex::new(BTreeSet::new()),
            stop: Mutex::new(false),
            stop_signal: Condvar::new(),
            closed: AtomicBool::new(false),
            writeback: writeback_sender,
        });
        let writeback_handle = std::thread::Builder::new()
            .name("ferrolog-writeback".to_owned())
            .spawn(move || writeback::run(&writeback_requests))
            .map_err(|e| StorageError::io(data_dir, IoOp::Open, e))?;
        let thread_shared = Arc::clone(&shared);
        let handle = std::thread::Builder::new()
            .name("ferrolog-storage-bg".to_owned())
            .spawn(move || background::run(&thread_shared))
            .map_err(|e| StorageError::io(data_dir, IoOp::Open, e))?;
        let cleaner = match shared.options.cleaner_check_interval_ms {
            Some(interval_ms) => {
                let thread_shared = Arc::clone(&shared);
                let handle = std::thread::Builder::new()
                    .name("ferrolog-cleaner".to_owned())
                    .spawn(move || cleaner::run(&thread_shared, interval_ms))
                    .map_err(|e| StorageError::io(data_dir, IoOp::Open, e))?;
                Some(handle)
            }
            None => None,
        };
        Ok(Store {
            shared,
            background: Mutex::new(Some(handle)),
            writeback: Mutex::new(Some(writeback_handle)),
            cleaner: Mutex::new(cleaner),
            dir_lock: Mutex::new(Some(dir_lock)),
        })
    }

    pub fn data_dir(&self) -> &Path {
        &self.shared.dir
    }

    fn check_open(&self) -> Result<(), StorageError> {
        if self.shared.closed.load(Ordering::Acquire) {
            Err(StorageError::Closed)
        } else {
            Ok(())
        }
    }

    /// Creates a partition directory with an empty first segment.
    pub fn create_partition(
        &self,
        id: PartitionId,
        config: LogConfig,
    ) -> Result<Arc<Partition>, StorageError> {
        self.check_open()?;
        if !PartitionId::is_valid_topic(&id.topic) || id.partition < 0 {
            return Err(StorageError::InvalidPartitionId(id));
        }
        {
            let partitions = read(&self.shared.partitions);
            if partitions.contains_key(&id) || !lock(&self.shared.creating).insert(id.clone()) {
                return Err(StorageError::PartitionExists(id));
            }
        }
        let reserved = Reservation {
            creating: &self.shared.creating,
            id: id.clone(),
        };
        let partition = self.create_reserved(id.clone(), config)?;
        write(&self.shared.partitions).insert(id, Slot::Open(Arc::clone(&partition)));
        drop(reserved);
        Ok(partition)
    }

    /// Makes the directory of a partition reserved in `creating`.
    fn create_reserved(
        &self,
        id: PartitionId,
        config: LogConfig,
    ) -> Result<Arc<Partition>, StorageError> {
        let dir = self.shared.dir.join(id.dir_name());
        let fs = &self.shared.options.fs;
        if fs.exists(&dir) {
            return Err(StorageError::PartitionExists(id));
        }
        let partition = match Partition::create(Arc::clone(fs), dir.clone(), id.clone(), config) {
            Ok(partition) => Arc::new(partition),
            Err(e) => {
                // A half-made directory would be opened as a partition at the next start.
                if let Err(cleanup) = fs.remove_dir_all(&dir)
                    && fs.exists(&dir)
                {
                    tracing::warn!(dir = %dir.display(), error = %cleanup, "cannot remove a partition directory that failed to be created");
                }
                return Err(e);
            }
        };
        partition.attach_writeback(self.shared.writeback.clone());
        Ok(partition)
    }

    pub fn partition(&self, id: &PartitionId) -> Result<Arc<Partition>, StorageError> {
        match read(&self.shared.partitions).get(id) {
            Some(Slot::Open(p)) => Ok(Arc::clone(p)),
            Some(Slot::Failed(reason)) => Err(StorageError::PartitionFailed {
                id: id.clone(),
                reason: reason.clone(),
            }),
            None => Err(StorageError::UnknownPartition(id.clone())),
        }
    }

    /// Removes a partition and its directory (renamed to `<dir>.delete`
    /// first, so a crash midway never leaves a half-deleted partition;
    /// `deleting_dir_name` keeps that name within `NAME_MAX`).
    pub fn delete_partition(&self, id: &PartitionId) -> Result<(), StorageError> {
        self.check_open()?;
        let slot = write(&self.shared.partitions)
            .remove(id)
            .ok_or_else(|| StorageError::UnknownPartition(id.clone()))?;
        if let Slot::Open(p) = &slot {
            p.mark_deleted();
        }
        // Out of the map, the partition can be created afresh while its
        // directory is renamed away; `create_partition` refuses while the
        // old directory is still there.
        let fs = self.shared.options.fs.as_ref();
        let dir = self.shared.dir.join(id.dir_name());
        let doomed = self.shared.dir.join(deleting_dir_name(&id.dir_name()));
        fs.rename(&dir, &doomed).ctx(&dir, IoOp::Rename)?;
        fs.sync_dir(&self.shared.dir)
            .ctx(&self.shared.dir, IoOp::SyncDir)?;
        fs.remove_dir_all(&doomed).ctx(&doomed, IoOp::Remove)
    }

    pub fn partition_ids(&self) -> Vec<PartitionId> {
        read(&self.shared.partitions).keys().cloned().collect()
    }

    /// Partitions that failed to open, with the reason.
    pub fn failed_partitions(&self) -> Vec<(PartitionId, String)> {
        read(&self.shared.partitions)
            .iter()
            .filter_map(|(id, slot)| match slot {
                Slot::Failed(reason) => Some((id.clone(), reason.clone())),
                Slot::Open(_) => None,
            })
            .collect()
    }

    fn open_partitions(&self) -> Vec<Arc<Partition>> {
        open_partitions(&self.shared)
    }

    /// fsyncs every partition; returns the first error after trying all.
    pub fn flush_all(&self) -> Result<(), StorageError> {
        let mut first_error = None;
        for partition in self.open_partitions() {
            if partition.is_failed() {
                continue;
            }
            if let Err(e) = partition.flush() {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Stops the background and cleaner threads, flushes every partition and writes their
    /// clean-shutdown markers. Idempotent; returns the first error.
    pub fn close(&self) -> Result<(), StorageError> {
        if self.shared.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.stop_background();
        let mut first_error = None;
        for partition in self.open_partitions() {
            if let Err(e) = partition.close() {
                first_error.get_or_insert(e);
            }
        }
        // Nothing writes any more: another store may take the directory.
        drop(lock(&self.dir_lock).take());
        first_error.map_or(Ok(()), Err)
    }

    fn stop_background(&self) {
        *lock(&self.shared.stop) = true;
        self.shared.stop_signal.notify_all();
        if let Some(handle) = lock(&self.background).take()
            && handle.join().is_err()
        {
            tracing::error!("storage background thread panicked");
        }
        // Woken by the same signal; a pass in progress finishes its partition first.
        if let Some(handle) = lock(&self.cleaner).take()
            && handle.join().is_err()
        {
            tracing::error!("storage cleaner thread panicked");
        }
        // The thread ends at `Stop` (queued hints are dropped: only hints).
        // A failed send means it has already ended.
        if self
            .shared
            .writeback
            .send(writeback::Request::Stop)
            .is_err()
        {
            tracing::debug!("writeback thread already stopped");
        }
        if let Some(handle) = lock(&self.writeback).take()
            && handle.join().is_err()
        {
            tracing::error!("storage writeback thread panicked");
        }
    }
}

/// Waits `tick` for the stop signal: true if the store is stopping (the
/// background and cleaner threads then return).
fn wait_or_stop(shared: &Shared, tick: std::time::Duration) -> bool {
    let stop = lock(&shared.stop);
    if *stop {
        return true;
    }
    *crate::sync_util::wait_timeout(&shared.stop_signal, stop, tick)
}

fn open_partitions(shared: &Shared) -> Vec<Arc<Partition>> {
    read(&shared.partitions)
        .values()
        .filter_map(|slot| match slot {
            Slot::Open(p) => Some(Arc::clone(p)),
            Slot::Failed(_) => None,
        })
        .collect()
}

impl Drop for Store {
    /// Stops the background thread without flushing or marking anything clean:
    /// dropping an unclosed store behaves like a crash.
    fn drop(&mut self) {
        self.stop_background();
    }
}

/// How long opening waits for a data directory lock that is held.
const LOCK_WAIT: Duration = Duration::from_secs(1);
const LOCK_RETRY: Duration = Duration::from_millis(10);

/// Takes the data directory's lock, waiting up to `LOCK_WAIT` while it is
/// held. The lock is held by an open file description, and the last owner's
/// may outlive a clean close for a moment: a process still exiting after
/// its store closed, or a child that another thread of the same process
/// forked and has not yet exec'd (close-on-exec closes the copy only at
/// exec). A second live store holds it for longer and is still refused.
fn lock_data_dir(fs: &dyn FileSystem, lock_file: &Path) -> std::io::Result<crate::io::LockGuard> {
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        match fs.lock_exclusive(lock_file) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(LOCK_RETRY);
            }
            other => return other,
        }
    }
}
