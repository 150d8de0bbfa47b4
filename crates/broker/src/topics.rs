//! The topic registry: names, topic ids, partitions and per-topic configs.
//!
//! The registry file (`topics.json` in the data directory) is the source of
//! truth for which topics exist; the storage engine owns the partition data.
//! Creation writes the file first and then the partitions (a crash in between
//! leaves a topic whose missing partitions are created at the next start).
//! Deletion writes the file first, with the topic moved to a list of pending
//! deletions, then removes the partitions and the topic's committed offsets,
//! and only then drops the pending entry: a crash anywhere in between is
//! finished at the next start instead of bringing the topic back. Partition
//! directories that no topic claims are adopted as topics with default
//! configs at start-up rather than deleted: data is only ever removed on an
//! explicit request.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use ferrolog_storage::{LogConfig, Partition, PartitionId, StorageError, Store};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::config::BrokerConfig;

mod topic_config;
pub use topic_config::{
    CleanupPolicy, ConfigEntry, TopicConfig, TopicConfigError, check_broker_defaults,
};

/// File name of the registry inside the data directory.
pub const REGISTRY_FILE: &str = "topics.json";
/// Upper bound on partitions per topic: a limit on everything, and far above
/// what one node serves well.
pub const PARTITIONS_PER_TOPIC_MAX: i32 = 10_000;

/// One partition of a topic as the request path sees it.
#[derive(Debug)]
pub struct PartitionHandle {
    pub id: PartitionId,
    /// The open partition, or why the engine could not open it (reported to
    /// clients as KAFKA_STORAGE_ERROR; other partitions are unaffected).
    pub state: Result<Arc<Partition>, String>,
    /// Signalled after every append, so long-polling fetches wake up.
    pub appended: Notify,
}

/// A topic: immutable once built; changes build a new `Topic` and swap it in.
#[derive(Debug)]
pub struct Topic {
    pub name: String,
    pub id: Uuid,
    pub config: TopicConfig,
    pub partitions: Vec<Arc<PartitionHandle>>,
}

impl Topic {
    /// The partition with index `index`, if the topic has it.
    pub fn partition(&self, index: i32) -> Option<&Arc<PartitionHandle>> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.partitions.get(i))
    }
}

/// Why a registry change was refused.
#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    #[error("invalid topic name {name:?}: {reason}")]
    InvalidName { name: String, reason: &'static str },
    #[error("Topic '{0}' already exists.")]
    AlreadyExists(String),
    /// Kafka's rule: '.' and '_' name the same metrics, so two names that
    /// differ only there cannot both exist.
    #[error("Topic '{name}' collides with existing topic: {existing}")]
    Collides { name: String, existing: String },
    #[error("unknown topic {0}")]
    Unknown(String),
    #[error("invalid partition count {count}: {reason}")]
    InvalidPartitions { count: i32, reason: &'static str },
    #[error(transparent)]
    Config(#[from] TopicConfigError),
    #[error("storage error on {id:?}")]
    Storage {
        id: PartitionId,
        source: StorageError,
    },
    #[error("cannot persist topic registry {path}")]
    Persist { path: PathBuf, source: StorageError },
    #[error("cannot read topic registry {path}")]
    Load {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("topic registry {path} is not valid")]
    Decode {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// On-disk form of the registry.
#[derive(Debug, Default, Serialize, Deserialize)]
struct RegistryFile {
    cluster_id: String,
    topics: Vec<TopicRecord>,
    /// Topics whose deletion was requested and is not finished yet.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    deleting: Vec<TopicRecord>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct TopicRecord {
    name: String,
    id: Uuid,
    partitions: i32,
    configs: BTreeMap<String, String>,
}

/// Names, ids, partitions and configs of every topic.
#[derive(Debug)]
pub struct TopicRegistry {
    store: Arc<Store>,
    broker_config: BrokerConfig,
    path: PathBuf,
    cluster_id: String,
    /// Read on every request, written only by admin operations: a std RwLock
    /// (never held across an await) whose read side costs one atomic.
    topics: RwLock<HashMap<String, Arc<Topic>>>,
    /// Serialises registry changes so two creations cannot interleave their
    /// file writes; the request path never takes it.
    admin: Mutex<()>,
    /// Deletions written to the file but not finished (`finish_deletion`).
    deleting: Mutex<BTreeMap<String, TopicRecord>>,
}

/// Checks a topic name: Kafka's rule (one function with the client's
/// check, so the two cannot drift), and the name the broker keeps committed
/// offsets under, which no topic may take.
pub fn validate_topic_name(name: &str) -> Result<(), TopicError> {
    let invalid = |reason| TopicError::InvalidName {
        name: name.to_owned(),
        reason,
    };
    ferrolog_wire::topic_name::check(name).map_err(|e| invalid(e.reason))?;
    if name == crate::group::offsets::OFFSETS_TOPIC {
        return Err(invalid("reserved for the broker's committed offsets"));
    }
    Ok(())
}

fn lock_err<T>(e: std::sync::PoisonError<T>) -> T {
    // A panic while holding the lock cannot leave the map half-updated: every
    // change is one insert or remove of an Arc, so the data is still whole.
    e.into_inner()
}

impl TopicRegistry {
    /// Loads the registry and opens (or creates) every partition it lists.
    pub fn open(
        store: Arc<Store>,
        broker_config: &BrokerConfig,
    ) -> Result<TopicRegistry, TopicError> {
        let path = broker_config.data_dir.join(REGISTRY_FILE);
        let file = read_registry_file(&path)?;
        let cluster_id = if file.cluster_id.is_empty() {
            Uuid::new_v4().simple().to_string()
        } else {
            file.cluster_id.clone()
        };
        let registry = TopicRegistry {
            store,
            broker_config: broker_config.clone(),
            path,
            cluster_id,
            topics: RwLock::new(HashMap::new()),
            admin: Mutex::new(()),
            deleting: Mutex::new(BTreeMap::new()),
        };
        let mut topics = HashMap::new();
        let deleting = file.deleting;
        for record in file.topics {
            let config = TopicConfig::from_map(record.configs)?;
            let topic =
                registry.build_topic(&record.name, record.id, config, record.partitions, &[])?;
            topics.insert(record.name, Arc::new(topic));
        }
        registry.resume_deletions(deleting, &topics)?;
        registry.adopt_orphans(&mut topics)?;
        *registry.topics.write().unwrap_or_else(lock_err) = topics;
        registry.persist()?;
        Ok(registry)
    }

    /// Removes what is left of deletions a crash interrupted, before orphans
    /// are adopted: their partitions would otherwise come back as a topic.
    /// The entries stay pending until the broker has also dropped their
    /// committed offsets (`pending_deletions`, `finish_deletion`).
    fn resume_deletions(
        &self,
        records: Vec<TopicRecord>,
        topics: &HashMap<String, Arc<Topic>>,
    ) -> Result<(), TopicError> {
        for record in records {
            // Created again after its deletion had removed the partitions:
            // the directories are the new topic's.
            if topics.contains_key(&record.name) {
                continue;
            }
            let ids = self.store.partition_ids().into_iter();
            let failed = self.store.failed_partitions().into_iter().map(|(id, _)| id);
            for id in ids.chain(failed).filter(|id| id.topic == record.name) {
                match self.store.delete_partition(&id) {
                    Ok(()) | Err(StorageError::UnknownPartition { .. }) => {}
                    Err(source) => return Err(TopicError::Storage { id, source }),
                }
            }
            tracing::info!(topic = %record.name, "finished a deletion interrupted by a crash");
            self.lock_deleting().insert(record.name.clone(), record);
        }
        Ok(())
    }

    /// Topics deleted whose committed offsets may still need dropping.
    pub fn pending_deletions(&self) -> Vec<String> {
        self.lock_deleting().keys().cloned().collect()
    }

    /// Marks a deletion finished (its partitions and committed offsets are gone).
    pub fn finish_deletion(&self, name: &str) -> Result<(), TopicError> {
        let _admin = self.admin.lock().unwrap_or_else(lock_err);
        if self.lock_deleting().remove(name).is_some() {
            self.persist()?;
        }
        Ok(())
    }

    fn lock_deleting(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, TopicRecord>> {
        self.deleting.lock().unwrap_or_else(lock_err)
    }

    /// Partition directories no topic claims become topics with default configs.
    fn adopt_orphans(&self, topics: &mut HashMap<String, Arc<Topic>>) -> Result<(), TopicError> {
        let mut orphans: BTreeMap<String, i32> = BTreeMap::new();
        let ids = self.store.partition_ids().into_iter();
        let failed = self.store.failed_partitions().into_iter().map(|(id, _)| id);
        for id in ids.chain(failed) {
            let claimed = topics
                .get(&id.topic)
                .is_some_and(|t| t.partition(id.partition).is_some());
            if !claimed && validate_topic_name(&id.topic).is_ok() && id.partition >= 0 {
                let count = orphans.entry(id.topic.clone()).or_insert(0);
                *count = (*count).max(id.partition.saturating_add(1));
            }
        }
        for (name, count) in orphans {
            tracing::warn!(topic = %name, partitions = count, "adopting partition directories not in the topic registry");
            let (id, config) = match topics.get(&name) {
                Some(t) => (t.id, t.config.clone()),
                None => (Uuid::new_v4(), TopicConfig::default()),
            };
            let existing = topics
                .get(&name)
                .map(|t| t.partitions.clone())
                .unwrap_or_default();
            let count = count.max(i32::try_from(existing.len()).unwrap_or(i32::MAX));
            let topic = self.build_topic(&name, id, config, count, &existing)?;
            topics.insert(name, Arc::new(topic));
        }
        Ok(())
    }

    /// Builds a topic value, opening existing partitions and creating missing
    /// ones; `keep` are handles to reuse (their notifiers stay valid).
    fn build_topic(
        &self,
        name: &str,
        id: Uuid,
        config: TopicConfig,
        count: i32,
        keep: &[Arc<PartitionHandle>],
    ) -> Result<Topic, TopicError> {
        let log_config = config.to_log_config(&self.broker_config)?;
        let mut partitions = Vec::new();
        for index in 0..count {
            if let Some(handle) = usize::try_from(index).ok().and_then(|i| keep.get(i)) {
                partitions.push(handle.clone());
                continue;
            }
            let pid = PartitionId {
                topic: name.to_string(),
                partition: index,
            };
            let state = self.open_partition(&pid, &log_config)?;
            partitions.push(Arc::new(PartitionHandle {
                id: pid,
                state,
                appended: Notify::new(),
            }));
        }
        Ok(Topic {
            name: name.to_string(),
            id,
            config,
            partitions,
        })
    }

    fn open_partition(
        &self,
        pid: &PartitionId,
        log_config: &LogConfig,
    ) -> Result<Result<Arc<Partition>, String>, TopicError> {
        match self.store.partition(pid) {
            Ok(p) => {
                p.set_config(log_config.clone());
                Ok(Ok(p))
            }
            Err(StorageError::UnknownPartition { .. }) => {
                match self.store.create_partition(pid.clone(), log_config.clone()) {
                    Ok(p) => Ok(Ok(p)),
                    Err(source) => Err(TopicError::Storage {
                        id: pid.clone(),
                        source,
                    }),
                }
            }
            Err(e) => {
                tracing::error!(partition = ?pid, error = %e, "partition unavailable");
                Ok(Err(e.to_string()))
            }
        }
    }

    /// The cluster id reported in Metadata and DescribeCluster.
    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    /// The topic called `name`, if any.
    pub fn get(&self, name: &str) -> Option<Arc<Topic>> {
        self.topics
            .read()
            .unwrap_or_else(lock_err)
            .get(name)
            .cloned()
    }

    /// The topic whose id is `id`, if any.
    pub fn get_by_id(&self, id: Uuid) -> Option<Arc<Topic>> {
        self.topics
            .read()
            .unwrap_or_else(lock_err)
            .values()
            .find(|t| t.id == id)
            .cloned()
    }

    /// Every topic, sorted by name.
    pub fn all(&self) -> Vec<Arc<Topic>> {
        let mut all: Vec<_> = self
            .topics
            .read()
            .unwrap_or_else(lock_err)
            .values()
            .cloned()
            .collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    /// The topic, auto-created with the default partition count when allowed.
    pub fn get_or_auto_create(
        &self,
        name: &str,
        allow: bool,
    ) -> Result<Option<Arc<Topic>>, TopicError> {
        if let Some(topic) = self.get(name) {
            return Ok(Some(topic));
        }
        if !allow || !self.broker_config.auto_create_topics {
            return Ok(None);
        }
        match self.create(
            name,
            self.broker_config.default_partitions,
            TopicConfig::default(),
            false,
        ) {
            Ok(topic) => Ok(Some(topic)),
            // Lost a race with another creator: theirs is as good as ours.
            Err(TopicError::AlreadyExists(_)) => Ok(self.get(name)),
            Err(e) => Err(e),
        }
    }

    /// Creates a topic; with `validate_only` nothing is changed.
    pub fn create(
        &self,
        name: &str,
        partitions: i32,
        config: TopicConfig,
        validate_only: bool,
    ) -> Result<Arc<Topic>, TopicError> {
        validate_topic_name(name)?;
        check_partition_count(partitions)?;
        config.check_combination()?;
        config.to_log_config(&self.broker_config)?;
        let _admin = self.admin.lock().unwrap_or_else(lock_err);
        if self.get(name).is_some() {
            return Err(TopicError::AlreadyExists(name.to_string()));
        }
        self.check_collision(name)?;
        if validate_only {
            return Ok(Arc::new(Topic {
                name: name.to_string(),
                id: Uuid::nil(),
                config,
                partitions: Vec::new(),
            }));
        }
        let id = Uuid::new_v4();
        let placeholder = Arc::new(Topic {
            name: name.to_string(),
            id,
            config: config.clone(),
            partitions: Vec::new(),
        });
        self.persist_with(Some((name, &placeholder, partitions)))?;
        let topic = match self.build_topic(name, id, config, partitions, &[]) {
            Ok(topic) => Arc::new(topic),
            Err(e) => {
                self.roll_back(name, 0..partitions);
                return Err(e);
            }
        };
        self.topics
            .write()
            .unwrap_or_else(lock_err)
            .insert(name.to_string(), topic.clone());
        tracing::info!(topic = name, partitions, "created topic");
        Ok(topic)
    }

    /// Deletes a topic and its partition data. The deletion stays pending in
    /// the registry file until `finish_deletion`, which the caller makes once
    /// it has dropped the topic's committed offsets.
    pub fn delete(&self, name: &str) -> Result<Arc<Topic>, TopicError> {
        let _admin = self.admin.lock().unwrap_or_else(lock_err);
        let topic = self
            .topics
            .write()
            .unwrap_or_else(lock_err)
            .remove(name)
            .ok_or_else(|| TopicError::Unknown(name.to_string()))?;
        self.lock_deleting()
            .insert(name.to_string(), record_of(&topic, topic.partitions.len()));
        if let Err(e) = self.persist() {
            // Nothing changed on disk: neither may anything in memory.
            self.lock_deleting().remove(name);
            self.topics
                .write()
                .unwrap_or_else(lock_err)
                .insert(name.to_string(), topic);
            return Err(e);
        }
        for handle in &topic.partitions {
            match self.store.delete_partition(&handle.id) {
                Ok(()) | Err(StorageError::UnknownPartition { .. }) => {}
                Err(source) => {
                    return Err(TopicError::Storage {
                        id: handle.id.clone(),
                        source,
                    });
                }
            }
            // Wake long-polling fetches so they see the topic is gone.
            handle.appended.notify_waiters();
        }
        tracing::info!(topic = name, "deleted topic");
        Ok(topic)
    }

    /// Grows a topic to `count` partitions.
    pub fn add_partitions(
        &self,
        name: &str,
        count: i32,
        validate_only: bool,
    ) -> Result<(), TopicError> {
        check_partition_count(count)?;
        let _admin = self.admin.lock().unwrap_or_else(lock_err);
        let topic = self
            .get(name)
            .ok_or_else(|| TopicError::Unknown(name.to_string()))?;
        let current = i32::try_from(topic.partitions.len()).unwrap_or(i32::MAX);
        if count <= current {
            return Err(TopicError::InvalidPartitions {
                count,
                reason: "partitions can only be added",
            });
        }
        if validate_only {
            return Ok(());
        }
        self.persist_with(Some((name, &topic, count)))?;
        let grown = match self.build_topic(
            name,
            topic.id,
            topic.config.clone(),
            count,
            &topic.partitions,
        ) {
            Ok(grown) => grown,
            Err(e) => {
                self.roll_back(name, current..count);
                return Err(e);
            }
        };
        self.topics
            .write()
            .unwrap_or_else(lock_err)
            .insert(name.to_string(), Arc::new(grown));
        Ok(())
    }

    /// Refuses `name` if an existing topic differs from it only by '.'
    /// against '_' (`a.b` and `a_b`), as Kafka does.
    fn check_collision(&self, name: &str) -> Result<(), TopicError> {
        let folded = |n: &str| n.replace('.', "_");
        let wanted = folded(name);
        let topics = self.topics.read().unwrap_or_else(lock_err);
        match topics.keys().find(|existing| folded(existing) == wanted) {
            Some(existing) => Err(TopicError::Collides {
                name: name.to_string(),
                existing: existing.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Undoes a creation or growth that failed part way (a full disk, a
    /// failing fsync, no file descriptors left): the partitions `indexes` of
    /// `name` that were created go, and the registry file is written again
    /// from memory, which never held them. Otherwise the client would be told
    /// the topic was not created while the next start brought it back. If
    /// undoing fails too, the next start finds what is left, as after a crash.
    fn roll_back(&self, name: &str, indexes: std::ops::Range<i32>) {
        for partition in indexes {
            let id = PartitionId {
                topic: name.to_string(),
                partition,
            };
            match self.store.delete_partition(&id) {
                Ok(()) | Err(StorageError::UnknownPartition(_)) => {}
                Err(e) => {
                    tracing::error!(partition = ?id, error = %e, "cannot remove a partition of a failed topic change");
                }
            }
        }
        if let Err(e) = self.persist() {
            tracing::error!(topic = name, error = %e, "cannot undo a failed topic change in the registry");
        }
    }

    /// Replaces a topic's configs and applies them to its partitions.
    pub fn set_config(
        &self,
        name: &str,
        config: TopicConfig,
        validate_only: bool,
    ) -> Result<(), TopicError> {
        config.check_combination()?;
        let log_config = config.to_log_config(&self.broker_config)?;
        let _admin = self.admin.lock().unwrap_or_else(lock_err);
        let topic = self
            .get(name)
            .ok_or_else(|| TopicError::Unknown(name.to_string()))?;
        if validate_only {
            return Ok(());
        }
        let updated = Arc::new(Topic {
            name: topic.name.clone(),
            id: topic.id,
            config,
            partitions: topic.partitions.clone(),
        });
        let count = i32::try_from(updated.partitions.len()).unwrap_or(i32::MAX);
        self.persist_with(Some((name, &updated, count)))?;
        for handle in &updated.partitions {
            if let Ok(p) = &handle.state {
                p.set_config(log_config.clone());
            }
        }
        self.topics
            .write()
            .unwrap_or_else(lock_err)
            .insert(name.to_string(), updated);
        Ok(())
    }

    /// The broker configuration the registry derives topic defaults from.
    pub fn broker_config(&self) -> &BrokerConfig {
        &self.broker_config
    }

    fn persist(&self) -> Result<(), TopicError> {
        self.persist_with(None)
    }

    /// Writes the registry file atomically; `change` overrides (or adds) one
    /// topic with a partition count, so the file can be written before the
    /// in-memory map changes.
    fn persist_with(&self, change: Option<(&str, &Arc<Topic>, i32)>) -> Result<(), TopicError> {
        let mut records: BTreeMap<String, TopicRecord> = BTreeMap::new();
        for topic in self.topics.read().unwrap_or_else(lock_err).values() {
            records.insert(topic.name.clone(), record_of(topic, topic.partitions.len()));
        }
        if let Some((name, topic, count)) = change {
            records.insert(
                name.to_string(),
                record_of(topic, usize::try_from(count).unwrap_or(0)),
            );
        }
        let file = RegistryFile {
            cluster_id: self.cluster_id.clone(),
            topics: records.into_values().collect(),
            deleting: self.lock_deleting().values().cloned().collect(),
        };
        let bytes = serde_json::to_vec_pretty(&file).map_err(|source| TopicError::Decode {
            path: self.path.clone(),
            source,
        })?;
        write_atomic(&self.path, &bytes).map_err(|source| TopicError::Persist {
            path: self.path.clone(),
            source,
        })
    }
}

fn record_of(topic: &Topic, partitions: usize) -> TopicRecord {
    TopicRecord {
        name: topic.name.clone(),
        id: topic.id,
        partitions: i32::try_from(partitions).unwrap_or(i32::MAX),
        configs: topic.config.overrides().clone(),
    }
}

fn check_partition_count(count: i32) -> Result<(), TopicError> {
    if count < 1 {
        return Err(TopicError::InvalidPartitions {
            count,
            reason: "must be at least 1",
        });
    }
    if count > PARTITIONS_PER_TOPIC_MAX {
        return Err(TopicError::InvalidPartitions {
            count,
            reason: "more than 10000",
        });
    }
    Ok(())
}

fn read_registry_file(path: &Path) -> Result<RegistryFile, TopicError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| TopicError::Decode {
            path: path.to_path_buf(),
            source,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(RegistryFile::default()),
        Err(source) => Err(TopicError::Load {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// The storage crate's atomic write (temp file, fsync, rename, fsync dir).
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StorageError> {
    ferrolog_storage::io::write_atomic(&ferrolog_storage::io::StdFileSystem, path, bytes)
}

#[cfg(test)]
mod tests;
