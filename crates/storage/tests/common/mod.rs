//! Helpers shared by the storage integration tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ferrolog_storage::format::builder::{SimpleRecord, encode_batch};
use ferrolog_storage::io::{FileSystem, MemFileSystem};
use ferrolog_storage::{Durability, LogConfig, PartitionId, Store, StoreOptions};

pub fn id(topic: &str, partition: i32) -> PartitionId {
    PartitionId::new(topic, partition)
}

/// A batch of `n` records with values `"<tag>-<i>"` and timestamps `ts, ts+1, ...`.
pub fn batch(tag: &str, n: usize, ts: i64) -> Vec<u8> {
    let values: Vec<String> = (0..n).map(|i| format!("{tag}-{i}")).collect();
    let records: Vec<SimpleRecord<'_>> = values
        .iter()
        .enumerate()
        .map(|(i, v)| SimpleRecord {
            timestamp_ms: ts + i as i64,
            key: None,
            value: Some(v.as_bytes()),
        })
        .collect();
    encode_batch(&records)
}

pub fn config(durability: Durability) -> LogConfig {
    LogConfig {
        durability,
        retention_ms: None,
        ..LogConfig::default()
    }
}

pub fn small_segments(segment_bytes_max: u64) -> LogConfig {
    LogConfig {
        segment_bytes_max,
        index_interval_bytes: 64,
        ..config(Durability::Never)
    }
}

pub fn mem_options(fs: &MemFileSystem) -> StoreOptions {
    StoreOptions {
        fs: Arc::new(fs.clone()) as Arc<dyn FileSystem>,
        ..StoreOptions::default()
    }
}

pub fn mem_store(fs: &MemFileSystem) -> Store {
    Store::open(Path::new("/data"), mem_options(fs)).unwrap()
}

pub fn log_path(topic_dir: &str, base: i64) -> PathBuf {
    PathBuf::from(format!("/data/{topic_dir}/{base:020}.log"))
}

/// Base offsets of every batch in `bytes`, walking the v2 framing.
pub fn batch_offsets(bytes: &[u8]) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let (header, size) = ferrolog_storage::format::batch::whole_batch(rest).unwrap();
        out.push((header.base_offset, header.last_offset()));
        rest = &rest[size..];
    }
    out
}

/// Property-test case count: `PROPTEST_CASES` if set (for long soak runs), else `default`.
pub fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
