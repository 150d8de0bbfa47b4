//! Committed offsets: an in-memory map backed by an internal log partition, `__consumer_offsets-0`,
//! in the storage engine.
//!
//! A commit is appended as ordinary v2 record batches (see `offset_record` for keys and values)
//! and fsynced (`Partition::sync_to`, group-committed with concurrent commits) before the caller
//! answers OffsetCommit — so a crash never moves a committed offset backwards. Start-up replays
//! the log; the latest record per key wins and tombstones delete. When the log holds many
//! superseded records, the live set is appended again and everything before it is dropped with
//! `delete_records_before`; a crash in between only leaves duplicates of the same values.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::{Bytes, BytesMut};
use ferrolog_storage::{Durability, LogConfig, Partition, PartitionId, StorageError, Store};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use super::offset_record::{CommittedOffset, OffsetKey};
use crate::producer::batch::batch_identities;

/// The internal topic; user topics of this name are refused by the topic registry.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";
/// Kafka's `offset.metadata.max.bytes`, which Kafka compares with the
/// metadata's length in UTF-16 units despite its name.
pub const METADATA_BYTES_MAX: usize = 4096;
/// Records per batch in the log, so a batch stays far below `max_batch_bytes`.
const RECORDS_PER_BATCH_MAX: usize = 200;
/// Read size while replaying.
const REPLAY_READ_BYTES: usize = 1 << 20;
/// Compact when the log holds this many records more than are live.
const SUPERSEDED_RECORDS_MAX: u64 = 50_000;

#[derive(Debug, thiserror::Error)]
pub enum OffsetStoreError {
    #[error("offsets log {id:?} unavailable")]
    Storage {
        id: PartitionId,
        #[source]
        source: StorageError,
    },
    #[error("cannot encode offset records")]
    Encode(#[source] anyhow::Error),
}

/// One group's offsets: (topic, partition) → committed offset.
pub type GroupOffsets = BTreeMap<(String, i32), CommittedOffset>;

#[derive(Debug, Default)]
struct OffsetState {
    groups: BTreeMap<String, GroupOffsets>,
    /// Records (including superseded ones and tombstones) from the log start to its end.
    records_in_log: u64,
}

impl OffsetState {
    fn live(&self) -> u64 {
        self.groups.values().map(|g| g.len() as u64).sum()
    }

    fn apply(&mut self, key: OffsetKey, value: Option<CommittedOffset>) {
        self.records_in_log += 1;
        match value {
            Some(value) => {
                self.groups
                    .entry(key.group)
                    .or_default()
                    .insert((key.topic, key.partition), value);
            }
            None => {
                if let Some(group) = self.groups.get_mut(&key.group) {
                    group.remove(&(key.topic, key.partition));
                    if group.is_empty() {
                        self.groups.remove(&key.group);
                    }
                }
            }
        }
    }
}

#[derive(Debug)]
pub struct OffsetStore {
    partition: Arc<Partition>,
    /// One std Mutex for all groups, because all offsets share one log partition and the log's
    /// order must equal the order of map updates. It is held across a page-cache append and a
    /// map update — never across an await; the per-commit fsync happens after it is released.
    state: Mutex<OffsetState>,
    /// Compact once this many superseded records (or 3× the live ones, if more) accumulate.
    superseded_records_max: u64,
}

impl OffsetStore {
    /// Open (or create) the offsets log in `store` and replay it. Blocking: call at start-up.
    pub fn open(store: &Store) -> Result<OffsetStore, OffsetStoreError> {
        let id = PartitionId {
            topic: OFFSETS_TOPIC.to_owned(),
            partition: 0,
        };
        let storage_err = |source| OffsetStoreError::Storage {
            id: id.clone(),
            source,
        };
        let partition = match store.partition(&id) {
            Ok(partition) => partition,
            Err(StorageError::UnknownPartition { .. }) => store
                .create_partition(id.clone(), log_config())
                .map_err(storage_err)?,
            Err(source) => return Err(storage_err(source)),
        };
        partition.set_config(log_config());
        let mut state = OffsetState::default();
        replay(&partition, &mut state).map_err(storage_err)?;
        tracing::info!(
            groups = state.groups.len(),
            offsets = state.live(),
            records = state.records_in_log,
            "committed offsets loaded"
        );
        Ok(OffsetStore {
            partition,
            state: Mutex::new(state),
            superseded_records_max: SUPERSEDED_RECORDS_MAX,
        })
    }

    fn lock(&self) -> MutexGuard<'_, OffsetState> {
        // The map is updated only after a successful append, entry by entry; a panic cannot
        // leave an entry half-written, so the data behind a poisoned lock is still whole.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Commit offsets of one group and return once they are fsynced. Blocking (append + fsync):
    /// call from `spawn_blocking`. A `None` value deletes the offset.
    pub fn commit(
        &self,
        group: &str,
        entries: Vec<(String, i32, Option<CommittedOffset>)>,
    ) -> Result<(), OffsetStoreError> {
        self.commit_live(group, entries, |_| true).map(drop)
    }

    /// [`OffsetStore::commit`] of the entries whose topic `live` still accepts, asked under the
    /// lock that dropping a deleted topic's offsets takes: an OffsetCommit checked before a
    /// DeleteTopics and written after it would otherwise outlive the topic, and apply to one
    /// created again under its name. Returns the topics refused.
    pub fn commit_live(
        &self,
        group: &str,
        entries: Vec<(String, i32, Option<CommittedOffset>)>,
        live: impl Fn(&str) -> bool,
    ) -> Result<Vec<String>, OffsetStoreError> {
        let mut refused = Vec::new();
        self.write(|_| {
            let mut records = Vec::with_capacity(entries.len());
            for (topic, partition, value) in entries {
                if live(&topic) {
                    let group = group.to_owned();
                    records.push((
                        OffsetKey {
                            group,
                            topic,
                            partition,
                        },
                        value,
                    ));
                } else if !refused.contains(&topic) {
                    refused.push(topic);
                }
            }
            records
        })?;
        Ok(refused)
    }

    /// Appends the records `pick` chooses and applies them to memory, both
    /// under the state lock `pick` runs under, so what it chose cannot
    /// change before it is written; then fsyncs. Returns the records written.
    fn write(
        &self,
        pick: impl FnOnce(&OffsetState) -> Vec<(OffsetKey, Option<CommittedOffset>)>,
    ) -> Result<Vec<(OffsetKey, Option<CommittedOffset>)>, OffsetStoreError> {
        let (records, last_offset) = {
            let mut state = self.lock();
            let records = pick(&state);
            if records.is_empty() {
                return Ok(records);
            }
            let last_offset = self.append(&records)?;
            for (key, value) in &records {
                state.apply(key.clone(), value.clone());
            }
            (records, last_offset)
        };
        self.sync(last_offset)?;
        self.maybe_compact();
        Ok(records)
    }

    fn append(
        &self,
        records: &[(OffsetKey, Option<CommittedOffset>)],
    ) -> Result<i64, OffsetStoreError> {
        let now_ms = wall_clock_ms();
        let mut bytes = BytesMut::new();
        for chunk in records.chunks(RECORDS_PER_BATCH_MAX) {
            encode_batch(&mut bytes, chunk, now_ms)?;
        }
        let info = self
            .partition
            .append(&bytes)
            .map_err(|source| self.storage_err(source))?;
        Ok(info.last_offset)
    }

    fn sync(&self, offset: i64) -> Result<(), OffsetStoreError> {
        self.partition
            .sync_to(offset)
            .map_err(|source| self.storage_err(source))
    }

    fn storage_err(&self, source: StorageError) -> OffsetStoreError {
        OffsetStoreError::Storage {
            id: self.partition.id().clone(),
            source,
        }
    }

    pub fn fetch(&self, group: &str, topic: &str, partition: i32) -> Option<CommittedOffset> {
        self.lock()
            .groups
            .get(group)
            .and_then(|g| g.get(&(topic.to_owned(), partition)))
            .cloned()
    }

    pub fn group_offsets(&self, group: &str) -> GroupOffsets {
        self.lock().groups.get(group).cloned().unwrap_or_default()
    }

    pub fn has_group(&self, group: &str) -> bool {
        self.lock().groups.contains_key(group)
    }

    pub fn groups(&self) -> Vec<String> {
        self.lock().groups.keys().cloned().collect()
    }

    /// Delete every offset of `group` (DeleteGroups). Blocking.
    pub fn delete_group(&self, group: &str) -> Result<(), OffsetStoreError> {
        self.delete_where("deleting group offsets", |g, _, _| g == group)
            .map(|_| ())
    }

    /// Drop offsets that `expired` says have outlived their retention. Blocking.
    pub fn expire(
        &self,
        mut expired: impl FnMut(&str, &CommittedOffset) -> bool,
    ) -> Result<usize, OffsetStoreError> {
        self.delete_where("expiring committed offsets", |group, _, value| {
            expired(group, value)
        })
    }

    /// Drop every group's offsets for `topic`, once it is deleted: a topic
    /// created again under the same name starts at offset 0, and old offsets
    /// would make its consumers skip records (Kafka drops them too). Blocking.
    pub fn delete_topic(&self, topic: &str) -> Result<usize, OffsetStoreError> {
        self.delete_where(
            "dropping committed offsets of a deleted topic",
            |_, t, _| t == topic,
        )
    }

    /// Deletes (with tombstones) the offsets `doomed(group, topic, value)` picks. Picked,
    /// appended and applied under one lock, so a commit cannot land between the choice and
    /// the tombstone and be wiped by it.
    fn delete_where(
        &self,
        why: &str,
        mut doomed: impl FnMut(&str, &str, &CommittedOffset) -> bool,
    ) -> Result<usize, OffsetStoreError> {
        let records = self.write(|state| {
            state
                .groups
                .iter()
                .flat_map(|(group, offsets)| {
                    offsets.iter().map(move |(key, value)| (group, key, value))
                })
                .filter(|(group, (topic, _), value)| doomed(group, topic, value))
                .map(|(group, (topic, partition), _)| {
                    let key = OffsetKey {
                        group: group.clone(),
                        topic: topic.clone(),
                        partition: *partition,
                    };
                    (key, None)
                })
                .collect()
        })?;
        let mut by_group: BTreeMap<&str, usize> = BTreeMap::new();
        for (key, _) in &records {
            *by_group.entry(key.group.as_str()).or_default() += 1;
        }
        for (group, offsets) in by_group {
            tracing::info!(%group, offsets, "{why}");
        }
        Ok(records.len())
    }

    /// Rewrite the live offsets at the end of the log and drop everything before them, once
    /// superseded records dominate. Failure is logged, not returned: the log is still correct.
    fn maybe_compact(&self) {
        let mut state = self.lock();
        let live = state.live();
        if state.records_in_log.saturating_sub(live) < self.superseded_records_max.max(live * 3) {
            return;
        }
        let start = self.partition.high_watermark();
        let records: Vec<(OffsetKey, Option<CommittedOffset>)> = state
            .groups
            .iter()
            .flat_map(|(group, offsets)| {
                offsets.iter().map(move |((topic, partition), value)| {
                    (
                        OffsetKey {
                            group: group.clone(),
                            topic: topic.clone(),
                            partition: *partition,
                        },
                        Some(value.clone()),
                    )
                })
            })
            .collect();
        // Holding the lock across this fsync blocks commits briefly; compaction is rare.
        let result = if records.is_empty() {
            Ok(start)
        } else {
            self.append(&records)
                .and_then(|last| self.sync(last).map(|()| last))
        };
        match result.and_then(|_| {
            self.partition
                .delete_records_before(start)
                .map_err(|e| self.storage_err(e))
        }) {
            Ok(log_start) => {
                tracing::info!(
                    live,
                    dropped = state.records_in_log - live,
                    log_start,
                    "offsets log compacted"
                );
                state.records_in_log = live;
            }
            Err(e) => {
                tracing::warn!(error = %crate::errors::message(&e), "offsets log compaction failed")
            }
        }
    }
}

/// The internal log: kept forever (compaction above bounds it), fsynced by `commit` itself.
fn log_config() -> LogConfig {
    LogConfig {
        segment_bytes_max: 16 << 20,
        retention_ms: None,
        retention_bytes: None,
        durability: Durability::Never,
        ..LogConfig::default()
    }
}

pub fn wall_clock_ms() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}

fn encode_batch(
    out: &mut BytesMut,
    records: &[(OffsetKey, Option<CommittedOffset>)],
    now_ms: i64,
) -> Result<(), OffsetStoreError> {
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, (key, value))| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i64::try_from(i).unwrap_or(0),
            sequence: -1,
            timestamp: now_ms,
            key: Some(key.encode()),
            value: value.as_ref().map(CommittedOffset::encode),
            headers: IndexMap::new(),
        })
        .collect();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(out, records.iter(), &options).map_err(OffsetStoreError::Encode)
}

/// Apply every record from the log start to the end.
fn replay(partition: &Partition, state: &mut OffsetState) -> Result<(), StorageError> {
    let mut offset = partition.log_start_offset();
    let end = partition.high_watermark();
    while offset < end {
        let read = partition.read(offset, REPLAY_READ_BYTES)?;
        if read.records.is_empty() {
            break;
        }
        let next = replay_chunk(&read.records, state);
        if next <= offset {
            tracing::warn!(offset, "offsets log replay made no progress; stopping");
            break;
        }
        offset = next;
    }
    Ok(())
}

/// Apply the records of the whole batches in `bytes`; returns the offset after the last one.
fn replay_chunk(bytes: &Bytes, state: &mut OffsetState) -> i64 {
    let mut position = 0usize;
    let mut next = -1;
    for identity in batch_identities(bytes) {
        let Ok(identity) = identity else { break };
        let mut batch = bytes.slice(position..position + identity.size_bytes);
        position += identity.size_bytes;
        next = identity.base_offset + i64::from(identity.last_offset_delta) + 1;
        match RecordBatchDecoder::decode(&mut batch) {
            Ok(set) => {
                for record in set.records {
                    apply_record(record, state);
                }
            }
            Err(e) => {
                tracing::warn!(offset = identity.base_offset, error = %e, "undecodable batch in offsets log skipped")
            }
        }
    }
    next
}

fn apply_record(record: Record, state: &mut OffsetState) {
    let Some(key) = record.key else { return };
    let key = match OffsetKey::decode(&key) {
        Ok(key) => key,
        Err(e) => {
            tracing::warn!(offset = record.offset, error = %e, "bad offset record key skipped");
            return;
        }
    };
    let value = match record
        .value
        .as_deref()
        .map(CommittedOffset::decode)
        .transpose()
    {
        Ok(value) => value,
        Err(e) => {
            tracing::warn!(offset = record.offset, error = %e, "bad offset record value skipped");
            return;
        }
    };
    state.apply(key, value);
}

#[cfg(test)]
mod tests;
