//! TEMP: in-memory stub of the storage API so the broker can run end to end
//! before the real engine lands on branch `storage`. Replaced wholesale on merge.
#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

pub use config::{Durability, LogConfig};
pub use error::StorageError;

pub mod config {
    #[derive(Clone, Debug)]
    pub struct LogConfig {
        pub segment_bytes_max: u64,
        pub segment_ms_max: i64,
        pub index_interval_bytes: u32,
        pub retention_ms: Option<i64>,
        pub retention_bytes: Option<u64>,
        pub max_batch_bytes: u32,
        pub durability: Durability,
    }
    impl Default for LogConfig {
        fn default() -> Self {
            LogConfig {
                segment_bytes_max: 1 << 30,
                segment_ms_max: 7 * 24 * 3600 * 1000,
                index_interval_bytes: 4096,
                retention_ms: Some(7 * 24 * 3600 * 1000),
                retention_bytes: None,
                max_batch_bytes: 1_048_588,
                durability: Durability::Interval { interval_ms: 1000 },
            }
        }
    }
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Durability {
        Always,
        Interval { interval_ms: u64 },
        Never,
    }
    impl std::str::FromStr for Durability {
        type Err = String;
        fn from_str(s: &str) -> Result<Self, String> {
            match s {
                "always" => Ok(Durability::Always),
                "never" => Ok(Durability::Never),
                _ => s
                    .strip_prefix("interval:")
                    .and_then(|v| v.parse().ok())
                    .map(|interval_ms| Durability::Interval { interval_ms })
                    .ok_or_else(|| format!("bad durability {s}")),
            }
        }
    }
    impl std::fmt::Display for Durability {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            match self {
                Durability::Always => write!(f, "always"),
                Durability::Never => write!(f, "never"),
                Durability::Interval { interval_ms } => write!(f, "interval:{interval_ms}"),
            }
        }
    }
}

pub mod error {
    use super::PartitionId;
    #[derive(Debug, thiserror::Error)]
    pub enum BatchError {
        #[error("truncated")]
        Truncated,
        #[error("bad magic")]
        BadMagic,
    }
    #[derive(Debug, thiserror::Error)]
    pub enum StorageError {
        #[error("io {op} {path}: {source}")]
        Io { path: std::path::PathBuf, op: &'static str, source: std::io::Error },
        #[error("invalid batch: {0}")]
        InvalidBatch(BatchError),
        #[error("batch too large {size} > {max}")]
        BatchTooLarge { size: u64, max: u64 },
        #[error("offset {offset} out of range")]
        OffsetOutOfRange { offset: i64, log_start: i64, high_watermark: i64 },
        #[error("partition {id:?} failed: {reason}")]
        PartitionFailed { id: PartitionId, reason: String },
        #[error("unknown partition {0:?}")]
        UnknownPartition(PartitionId),
        #[error("partition exists {0:?}")]
        PartitionExists(PartitionId),
        #[error("corruption")]
        Corruption { path: std::path::PathBuf, position: u64, detail: String },
    }
}

pub mod io {
    use std::path::Path;
    use std::sync::Arc;
    pub trait FileSystem: Send + Sync + std::fmt::Debug {}
    #[derive(Debug)]
    pub struct StdFileSystem;
    impl FileSystem for StdFileSystem {}
    pub fn write_atomic(_fs: &dyn FileSystem, path: &Path, bytes: &[u8]) -> Result<(), super::StorageError> {
        let tmp = path.with_extension("tmp");
        let io = |op, source| super::StorageError::Io { path: path.to_path_buf(), op, source };
        std::fs::write(&tmp, bytes).map_err(|e| io("write", e))?;
        std::fs::rename(&tmp, path).map_err(|e| io("rename", e))?;
        Ok(())
    }
    pub fn std_fs() -> Arc<dyn FileSystem> {
        Arc::new(StdFileSystem)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartitionId {
    pub topic: String,
    pub partition: i32,
}

#[derive(Debug)]
pub struct StoreOptions {
    pub default_config: LogConfig,
    pub fs: Arc<dyn io::FileSystem>,
}
impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions { default_config: LogConfig::default(), fs: io::std_fs() }
    }
}

#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    parts: Mutex<BTreeMap<PartitionId, Arc<Partition>>>,
}

impl Store {
    pub fn open(data_dir: &Path, _options: StoreOptions) -> Result<Store, StorageError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StorageError::Io {
            path: data_dir.to_path_buf(),
            op: "create_dir",
            source,
        })?;
        Ok(Store { dir: data_dir.to_path_buf(), parts: Mutex::new(BTreeMap::new()) })
    }
    pub fn create_partition(&self, id: PartitionId, config: LogConfig) -> Result<Arc<Partition>, StorageError> {
        let mut parts = self.parts.lock().unwrap();
        if parts.contains_key(&id) {
            return Err(StorageError::PartitionExists(id));
        }
        let _ = &self.dir;
        let p = Arc::new(Partition { id: id.clone(), inner: Mutex::new(Inner { config, batches: Vec::new(), hw: 0, start: 0 }) });
        parts.insert(id, p.clone());
        Ok(p)
    }
    pub fn partition(&self, id: &PartitionId) -> Result<Arc<Partition>, StorageError> {
        self.parts.lock().unwrap().get(id).cloned().ok_or_else(|| StorageError::UnknownPartition(id.clone()))
    }
    pub fn delete_partition(&self, id: &PartitionId) -> Result<(), StorageError> {
        self.parts.lock().unwrap().remove(id).map(|_| ()).ok_or_else(|| StorageError::UnknownPartition(id.clone()))
    }
    pub fn partition_ids(&self) -> Vec<PartitionId> {
        self.parts.lock().unwrap().keys().cloned().collect()
    }
    pub fn failed_partitions(&self) -> Vec<(PartitionId, String)> {
        Vec::new()
    }
    pub fn flush_all(&self) -> Result<(), StorageError> {
        Ok(())
    }
    pub fn close(&self) -> Result<(), StorageError> {
        Ok(())
    }
}

#[derive(Debug)]
struct Inner {
    config: LogConfig,
    batches: Vec<(i64, i64, i64, Bytes)>, // base, last, max_ts, bytes
    hw: i64,
    start: i64,
}

#[derive(Debug)]
pub struct Partition {
    id: PartitionId,
    inner: Mutex<Inner>,
}
#[derive(Debug, Clone)]
pub struct AppendInfo {
    pub base_offset: i64,
    pub last_offset: i64,
    pub max_timestamp: i64,
    pub log_start_offset: i64,
}
#[derive(Debug, Clone)]
pub struct ReadResult {
    pub records: Bytes,
    pub high_watermark: i64,
    pub log_start_offset: i64,
}
#[derive(Debug, Clone, Copy)]
pub struct TimestampOffset {
    pub timestamp_ms: i64,
    pub offset: i64,
}
#[derive(Debug, Clone, Default)]
pub struct RetentionReport {}

fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}
fn be_i64(b: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(b[at..at + 8].try_into().unwrap())
}

impl Partition {
    pub fn id(&self) -> &PartitionId {
        &self.id
    }
    pub fn config(&self) -> LogConfig {
        self.inner.lock().unwrap().config.clone()
    }
    pub fn set_config(&self, config: LogConfig) {
        self.inner.lock().unwrap().config = config;
    }
    pub fn append(&self, batches: &[u8]) -> Result<AppendInfo, StorageError> {
        let mut g = self.inner.lock().unwrap();
        let mut pos = 0;
        let mut parsed = Vec::new();
        while pos < batches.len() {
            if batches.len() - pos < 61 {
                return Err(StorageError::InvalidBatch(error::BatchError::Truncated));
            }
            let len = be_i32(batches, pos + 8) as usize + 12;
            if len < 61 || pos + len > batches.len() {
                return Err(StorageError::InvalidBatch(error::BatchError::Truncated));
            }
            if batches[pos + 16] != 2 {
                return Err(StorageError::InvalidBatch(error::BatchError::BadMagic));
            }
            if len as u64 > u64::from(g.config.max_batch_bytes) {
                return Err(StorageError::BatchTooLarge { size: len as u64, max: g.config.max_batch_bytes.into() });
            }
            parsed.push((pos, len));
            pos += len;
        }
        let base = g.hw;
        let mut max_ts = -1;
        for (pos, len) in parsed {
            let mut b = batches[pos..pos + len].to_vec();
            let delta = i64::from(be_i32(&b, 23));
            let ts = be_i64(&b, 35);
            b[0..8].copy_from_slice(&g.hw.to_be_bytes());
            let first = g.hw;
            g.hw += delta + 1;
            max_ts = max_ts.max(ts);
            let last = g.hw - 1;
            g.batches.push((first, last, ts, Bytes::from(b)));
        }
        Ok(AppendInfo { base_offset: base, last_offset: g.hw - 1, max_timestamp: max_ts, log_start_offset: g.start })
    }
    pub fn sync_to(&self, _offset: i64) -> Result<(), StorageError> {
        Ok(())
    }
    pub fn read(&self, offset: i64, max_bytes: usize) -> Result<ReadResult, StorageError> {
        let g = self.inner.lock().unwrap();
        if offset < g.start || offset > g.hw {
            return Err(StorageError::OffsetOutOfRange { offset, log_start: g.start, high_watermark: g.hw });
        }
        let mut out = Vec::new();
        for (_, last, _, b) in g.batches.iter().filter(|b| b.1 >= offset) {
            let _ = last;
            if !out.is_empty() && out.len() + b.len() > max_bytes {
                break;
            }
            out.extend_from_slice(b);
        }
        Ok(ReadResult { records: Bytes::from(out), high_watermark: g.hw, log_start_offset: g.start })
    }
    pub fn high_watermark(&self) -> i64 {
        self.inner.lock().unwrap().hw
    }
    pub fn log_start_offset(&self) -> i64 {
        self.inner.lock().unwrap().start
    }
    pub fn offset_for_timestamp(&self, timestamp_ms: i64) -> Result<Option<TimestampOffset>, StorageError> {
        let g = self.inner.lock().unwrap();
        Ok(g.batches.iter().find(|b| b.2 >= timestamp_ms).map(|b| TimestampOffset { timestamp_ms: b.2, offset: b.0 }))
    }
    pub fn max_timestamp(&self) -> Option<TimestampOffset> {
        let g = self.inner.lock().unwrap();
        g.batches.iter().max_by_key(|b| b.2).map(|b| TimestampOffset { timestamp_ms: b.2, offset: b.1 })
    }
    pub fn delete_records_before(&self, offset: i64) -> Result<i64, StorageError> {
        let mut g = self.inner.lock().unwrap();
        g.start = g.start.max(offset.min(g.hw));
        Ok(g.start)
    }
    pub fn apply_retention(&self, _now_ms: i64) -> Result<RetentionReport, StorageError> {
        Ok(RetentionReport {})
    }
    pub fn flush(&self) -> Result<(), StorageError> {
        Ok(())
    }
    pub fn is_failed(&self) -> bool {
        false
    }
}
