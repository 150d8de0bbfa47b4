//! The produce path's idempotence check: per partition, check + append + record happen under
//! that partition's producer lock, so a retried batch can never be appended twice.
//!
//! Batches without a producer id skip all of this (one header read, no lock). A partition's
//! producer table is loaded on the first idempotent produce after start-up: from the snapshot
//! a clean shutdown wrote (then only the log after it is read), or else from the batch headers
//! of the log's last `REBUILD_WINDOW_RECORDS` records (producer id, epoch, sequences live in the
//! v2 header). A producer whose batches all lie before that window is treated as new — as
//! Kafka treats a producer whose state expired — which only relaxes the sequence check for it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};

use ferrolog_storage::{AppendInfo, Durability, Partition, PartitionId, StorageError};
use kafka_protocol::ResponseError;

use super::batch::{BatchIdentity, batch_identities};
use super::ids::{ProducerIdAllocator, ProducerIdError};
use super::snapshot::{self, PartitionSnapshot, SNAPSHOT_FILE_NAME};
use super::state::{Decision, ProducerTable};

/// Read size while rebuilding a producer table from the log.
const REBUILD_READ_BYTES: usize = 1 << 20;
/// Without a snapshot (after a crash), how far back from the log end a rebuild reads.
pub const REBUILD_WINDOW_RECORDS: i64 = 500_000;

/// Why a produce to one partition was not appended.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Refused by the idempotence rules (sequence gap, fenced epoch, several batches, …).
    #[error("refused by the idempotent-producer check: {0:?}")]
    Rejected(ResponseError),
}

impl AppendError {
    /// The Kafka error for a refusal; `None` for storage errors (mapped in `errors.rs`).
    pub fn rejection(&self) -> Option<ResponseError> {
        match self {
            AppendError::Rejected(code) => Some(*code),
            AppendError::Storage(_) => None,
        }
    }
}

#[derive(Debug)]
struct PartitionProducers {
    /// The partition this table describes; a deleted and recreated topic gets a new
    /// `Partition`, and a table for the old one must not be reused. Holding a `Weak` keeps
    /// the old allocation's address from being reused while we compare.
    partition: Weak<Partition>,
    /// `None` until rebuilt from the log. A std Mutex held across check + `Partition::append`
    /// + record — the one critical section that makes idempotence atomic; per partition only.
    table: Mutex<Option<ProducerTable>>,
}

#[derive(Debug)]
pub struct ProducerStates {
    ids: ProducerIdAllocator,
    /// Read-mostly: an entry is inserted once per partition; the read guard is held only to
    /// clone an `Arc`, so an RwLock keeps concurrent produces to different partitions apart.
    tables: RwLock<HashMap<PartitionId, Arc<PartitionProducers>>>,
    /// Retried batches answered with their original offsets (for tests and metrics).
    duplicates: AtomicU64,
    /// Tables from the last clean shutdown's snapshot, not yet claimed by their partition.
    pending: Mutex<HashMap<PartitionId, PartitionSnapshot>>,
    snapshot_path: PathBuf,
}

impl ProducerStates {
    /// Open the producer-id allocator in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<ProducerStates, ProducerIdError> {
        let snapshot_path = data_dir.join(SNAPSHOT_FILE_NAME);
        Ok(ProducerStates {
            ids: ProducerIdAllocator::open(data_dir)?,
            tables: RwLock::new(HashMap::new()),
            duplicates: AtomicU64::new(0),
            pending: Mutex::new(load_snapshot(&snapshot_path)),
            snapshot_path,
        })
    }

    pub fn ids(&self) -> &ProducerIdAllocator {
        &self.ids
    }

    /// How many retried batches were answered as duplicates since start-up.
    pub fn duplicates_answered(&self) -> u64 {
        self.duplicates.load(Ordering::Relaxed)
    }

    /// Append `records` (a Produce request's records for one partition) to `partition`,
    /// applying the idempotence rules to batches that carry a producer id.
    pub fn append(
        &self,
        partition: &Arc<Partition>,
        records: &[u8],
    ) -> Result<AppendInfo, AppendError> {
        let transactional =
            |b: &Result<BatchIdentity, _>| b.as_ref().is_ok_and(|b| b.transactional || b.control);
        if batch_identities(records).any(|b| transactional(&b)) {
            // Transactions are not served: never store batches whose markers
            // cannot come, nor markers a client wrote itself (as Kafka refuses).
            return Err(AppendError::Rejected(ResponseError::InvalidRecord));
        }
        let mut batches = batch_identities(records);
        let first = match batches.next() {
            Some(Ok(first)) if first.is_idempotent() => first,
            // Plain batches, or malformed input that the engine will refuse with a typed error.
            _ => return Ok(partition.append(records)?),
        };
        if batches.next().is_some() {
            // As Kafka (Produce v3+): an idempotent produce carries exactly one batch per partition.
            return Err(AppendError::Rejected(ResponseError::InvalidRecord));
        }
        let entry = self.entry(partition);
        let mut guard = entry
            .table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let table = match guard.as_mut() {
            Some(table) => table,
            None => {
                let snapshot = self.pending_lock().remove(partition.id());
                guard.insert(rebuild(partition, snapshot)?)
            }
        };
        table.advance_clock(crate::group::offsets::wall_clock_ms());
        let info = self.append_checked(partition, table, &first, records)?;
        // The fsync a `Durability::Always` partition owes runs after the table
        // is released, so concurrent producers share one (group commit). A
        // duplicate waits for it too: its original may still be unsynced.
        drop(guard);
        if partition.config().durability == Durability::Always {
            partition.sync_to(info.last_offset)?;
        }
        Ok(info)
    }

    fn append_checked(
        &self,
        partition: &Partition,
        table: &mut ProducerTable,
        batch: &BatchIdentity,
        records: &[u8],
    ) -> Result<AppendInfo, AppendError> {
        match table.check(batch).map_err(AppendError::Rejected)? {
            Decision::Duplicate {
                first_offset,
                last_offset,
            } => {
                self.duplicates.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(partition = ?partition.id(), producer_id = batch.producer_id,
                    sequence = batch.base_sequence, first_offset, "duplicate batch answered with its original offsets");
                Ok(AppendInfo {
                    base_offset: first_offset,
                    last_offset,
                    max_timestamp: -1,
                    log_start_offset: partition.log_start_offset(),
                })
            }
            Decision::Append => {
                let info = partition.append_unsynced(records)?;
                table.record(batch, info.base_offset, info.last_offset);
                Ok(info)
            }
        }
    }

    fn entry(&self, partition: &Arc<Partition>) -> Arc<PartitionProducers> {
        let current = |e: &PartitionProducers| {
            e.partition
                .upgrade()
                .is_some_and(|p| Arc::ptr_eq(&p, partition))
        };
        {
            let tables = self
                .tables
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(entry) = tables.get(partition.id()).filter(|e| current(e)) {
                return entry.clone();
            }
        }
        let mut tables = self
            .tables
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = tables
            .entry(partition.id().clone())
            .or_insert_with(|| new_entry(partition));
        if !current(entry) {
            *entry = new_entry(partition);
        }
        entry.clone()
    }
}

impl ProducerStates {
    fn pending_lock(&self) -> std::sync::MutexGuard<'_, HashMap<PartitionId, PartitionSnapshot>> {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Write every partition's table (and the unclaimed ones from the last snapshot) to the
    /// snapshot file. Call at clean shutdown, after the last produce; blocking.
    pub fn write_snapshot(&self) -> Result<(), super::atomic_file::AtomicWriteError> {
        let entries: Vec<Arc<PartitionProducers>> = self
            .tables
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        let mut taken: Vec<(PartitionId, i64, ProducerTable)> = Vec::new();
        for entry in entries {
            let Some(partition) = entry.partition.upgrade() else {
                continue;
            };
            let mut guard = entry
                .table
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(table) = guard.take() {
                // Under the lock no idempotent append can slip between the table and this offset.
                taken.push((partition.id().clone(), partition.high_watermark(), table));
            }
        }
        let pending = std::mem::take(&mut *self.pending_lock());
        let bytes = snapshot::encode(
            taken
                .iter()
                .map(|(id, covered, table)| (id, *covered, table))
                .chain(
                    pending
                        .values()
                        .map(|p| (&p.id, p.covered_offset, &p.table)),
                ),
        );
        super::atomic_file::write_atomic(&self.snapshot_path, &bytes)?;
        tracing::info!(
            partitions = taken.len() + pending.len(),
            "producer state snapshot written"
        );
        Ok(())
    }
}

/// Read the last clean shutdown's snapshot and remove it: it describes the logs only as they
/// were at that shutdown. A missing or damaged snapshot is not an error — the logs are the truth.
fn load_snapshot(path: &Path) -> HashMap<PartitionId, PartitionSnapshot> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return HashMap::new(),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot read producer snapshot; rebuilding from the logs");
            return HashMap::new();
        }
    };
    if let Err(e) = std::fs::remove_file(path) {
        tracing::warn!(path = %path.display(), error = %e, "cannot remove the used producer snapshot");
    }
    match snapshot::decode(&bytes) {
        Ok(partitions) => partitions.into_iter().map(|p| (p.id.clone(), p)).collect(),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "ignoring damaged producer snapshot; rebuilding from the logs");
            HashMap::new()
        }
    }
}

fn new_entry(partition: &Arc<Partition>) -> Arc<PartitionProducers> {
    Arc::new(PartitionProducers {
        partition: Arc::downgrade(partition),
        table: Mutex::new(None),
    })
}

/// Load a partition's producer table: the snapshot's (if it still matches the log) plus the
/// batch headers after it; without one, the headers of the log's last records.
fn rebuild(
    partition: &Partition,
    snapshot: Option<PartitionSnapshot>,
) -> Result<ProducerTable, StorageError> {
    let start = partition.log_start_offset();
    let end = partition.high_watermark();
    let (mut table, from) = match snapshot {
        Some(s) if (start..=end).contains(&s.covered_offset) => (s.table, s.covered_offset),
        stale => {
            if let Some(s) = stale {
                tracing::warn!(partition = ?partition.id(), covered = s.covered_offset, start, end,
                    "producer snapshot does not match the log; rebuilding from the log");
            }
            (
                ProducerTable::new(),
                start.max(end.saturating_sub(REBUILD_WINDOW_RECORDS)),
            )
        }
    };
    table.truncate_before(start);
    table.truncate_from(end);
    let batches = scan(partition, &mut table, from, end)?;
    tracing::debug!(partition = ?partition.id(), from, batches, producers = table.producer_count(),
        "producer state loaded");
    Ok(table)
}

/// Record every batch header from `from` to `end`; returns how many batches were read.
fn scan(
    partition: &Partition,
    table: &mut ProducerTable,
    from: i64,
    end: i64,
) -> Result<u64, StorageError> {
    let mut offset = from;
    let mut batches = 0u64;
    while offset < end {
        let read = partition.read(offset, REBUILD_READ_BYTES)?;
        let mut next = offset;
        for batch in batch_identities(&read.records) {
            let Ok(batch) = batch else { break };
            let last_offset = batch.base_offset + i64::from(batch.last_offset_delta);
            if last_offset >= from {
                table.record(&batch, batch.base_offset, last_offset);
            }
            next = last_offset + 1;
            batches += 1;
        }
        if next <= offset {
            break;
        }
        offset = next;
    }
    Ok(batches)
}

#[cfg(test)]
mod tests;
