//! The produce path's idempotence check: per partition, check + append + record happen under
//! that partition's producer lock, so a retried batch can never be appended twice.
//!
//! Batches without a producer id skip all of this (one header read, no lock). A partition's
//! producer table is rebuilt from its log on the first idempotent produce after start-up by
//! reading the batch headers (producer id, epoch, sequences live in the v2 header).

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};

use ferrolog_storage::{AppendInfo, Partition, PartitionId, StorageError};
use kafka_protocol::ResponseError;

use super::batch::{BatchIdentity, batch_identities};
use super::ids::{ProducerIdAllocator, ProducerIdError};
use super::state::{Decision, ProducerTable};

/// Read size while rebuilding a producer table from the log.
const REBUILD_READ_BYTES: usize = 1 << 20;

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
}

impl ProducerStates {
    /// Open the producer-id allocator in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<ProducerStates, ProducerIdError> {
        Ok(ProducerStates {
            ids: ProducerIdAllocator::open(data_dir)?,
            tables: RwLock::new(HashMap::new()),
            duplicates: AtomicU64::new(0),
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
        let mut batches = batch_identities(records);
        let first = match batches.next() {
            Some(Ok(first)) if first.is_idempotent() => first,
            // Plain batches, or malformed input that the engine will refuse with a typed error.
            _ => return Ok(partition.append(records)?),
        };
        if first.transactional || first.control {
            // Transactions are not served yet: never store batches whose markers cannot come.
            return Err(AppendError::Rejected(ResponseError::InvalidRecord));
        }
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
            None => guard.insert(rebuild(partition)?),
        };
        self.append_checked(partition, table, &first, records)
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
                let info = partition.append(records)?;
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

fn new_entry(partition: &Arc<Partition>) -> Arc<PartitionProducers> {
    Arc::new(PartitionProducers {
        partition: Arc::downgrade(partition),
        table: Mutex::new(None),
    })
}

/// Rebuild a partition's producer table from the batch headers in its log.
fn rebuild(partition: &Partition) -> Result<ProducerTable, StorageError> {
    let mut table = ProducerTable::new();
    let mut offset = partition.log_start_offset();
    let end = partition.high_watermark();
    let mut batches = 0u64;
    while offset < end {
        let read = partition.read(offset, REBUILD_READ_BYTES)?;
        let mut next = offset;
        for batch in batch_identities(&read.records) {
            let Ok(batch) = batch else { break };
            let last_offset = batch.base_offset + i64::from(batch.last_offset_delta);
            table.record(&batch, batch.base_offset, last_offset);
            next = last_offset + 1;
            batches += 1;
        }
        if next <= offset {
            break;
        }
        offset = next;
    }
    tracing::debug!(partition = ?partition.id(), batches, producers = table.producer_count(), "producer state rebuilt from the log");
    Ok(table)
}

#[cfg(test)]
mod tests;
