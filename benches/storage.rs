//! Storage hot paths: the append's batch checks, append under each durability policy, sequential read,
//! offset and timestamp lookup latency, a compaction pass — plus, in a real `cargo bench` run,
//! the append-vs-`dd` bandwidth comparison the storage issue sets as target.
//!
//! `cargo bench --bench storage` runs everything (set FERROLOG_BENCH_DD_MB to
//! change the 4096 MiB dd/append volume, 0 to skip it). Under `cargo test`
//! criterion runs each benchmark once and the sizes shrink, so it stays quick.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    missing_debug_implementations
)]

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput};
use ferrolog_storage::format::builder::{SimpleRecord, encode_batch};
use ferrolog_storage::{
    Compaction, Durability, LogConfig, Partition, PartitionId, Store, StoreOptions,
};

const MIB: u64 = 1 << 20;

/// True for `cargo bench` (criterion gets `--bench`), false under `cargo test`.
fn benchmarking() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--test")
}

/// One batch of `count` records with `record_bytes`-byte values and rising timestamps.
fn batch(count: usize, record_bytes: usize, first_ts: i64) -> Vec<u8> {
    let value = vec![0x5a_u8; record_bytes];
    let records: Vec<SimpleRecord<'_>> = (0..count)
        .map(|i| SimpleRecord {
            timestamp_ms: first_ts + i as i64,
            key: None,
            value: Some(&value),
        })
        .collect();
    encode_batch(&records)
}

fn open_partition(
    dir: &Path,
    durability: Durability,
    segment_bytes_max: u64,
) -> (Store, Arc<Partition>) {
    let options = StoreOptions {
        retention_check_interval_ms: None,
        ..StoreOptions::default()
    };
    let store = Store::open(dir, options).unwrap();
    let config = LogConfig {
        durability,
        segment_bytes_max,
        retention_ms: None,
        retention_bytes: Some(4 * segment_bytes_max),
        ..LogConfig::default()
    };
    let partition = store
        .create_partition(PartitionId::new("bench", 0), config)
        .unwrap();
    (store, partition)
}

/// Appends `input` repeatedly, dropping old segments so the disk use stays bounded.
fn append_bounded(partition: &Partition, input: &[u8], segment_bytes_max: u64) {
    partition.append(input).unwrap();
    if partition.size_bytes() > 6 * segment_bytes_max {
        partition.apply_retention(i64::MAX).unwrap();
    }
}

fn bench_append(c: &mut Criterion) {
    let mut group = c.benchmark_group("append");
    group
        .measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(20);
    let policies = [
        ("never", Durability::Never),
        ("interval", Durability::Interval { interval_ms: 1000 }),
        ("always", Durability::Always),
    ];
    for (policy_name, durability) in policies {
        for record_bytes in [100usize, 1024] {
            for records in [1usize, 1000] {
                let dir = tempfile::tempdir().unwrap();
                let segment_bytes_max = 256 * MIB;
                let (store, partition) = open_partition(dir.path(), durability, segment_bytes_max);
                let input = batch(records, record_bytes, 0);
                group.throughput(Throughput::Bytes(input.len() as u64));
                let id = BenchmarkId::new(policy_name, format!("{record_bytes}B_x{records}"));
                group.bench_function(id, |b| {
                    b.iter(|| append_bounded(&partition, black_box(&input), segment_bytes_max))
                });
                drop(store);
            }
        }
    }
    group.finish();
}

/// A closed-and-reopened partition holding `total_bytes` of `records`-record batches.
fn filled(
    dir: &Path,
    total_bytes: u64,
    records: usize,
    record_bytes: usize,
) -> (Store, Arc<Partition>, i64) {
    let (store, partition) = open_partition(dir, Durability::Never, 256 * MIB);
    partition.set_config(LogConfig {
        retention_bytes: None,
        ..partition.config()
    });
    let mut written = 0u64;
    let mut ts = 1_000_000i64;
    while written < total_bytes {
        let input = batch(records, record_bytes, ts);
        ts += records as i64;
        written += input.len() as u64;
        partition.append(&input).unwrap();
    }
    (store, partition, ts)
}

fn bench_read(c: &mut Criterion) {
    let total = if benchmarking() { 512 * MIB } else { 4 * MIB };
    let dir = tempfile::tempdir().unwrap();
    let (_store, partition, _) = filled(dir.path(), total, 1000, 1024);
    let mut group = c.benchmark_group("read");
    group
        .measurement_time(Duration::from_secs(5))
        .sample_size(10);
    group.throughput(Throughput::Bytes(partition.size_bytes()));
    // A consumer fetching the whole log in 1 MiB responses, page cache warm.
    // Each response is copied once, as a socket write would, so zero-copy
    // slices of mapped segments are charged for touching their pages.
    let mut sink = vec![0u8; 2 * MIB as usize];
    group.bench_function("sequential_1MiB_fetches", |b| {
        b.iter(|| {
            let mut offset = partition.log_start_offset();
            let end = partition.high_watermark();
            while offset < end {
                let result = partition.read(offset, MIB as usize).unwrap();
                let n = result.records.len().min(sink.len());
                sink[..n].copy_from_slice(&result.records[..n]);
                offset = last_offset_after(&result.records);
            }
            black_box(&sink);
        });
    });
    group.finish();
}

/// The offset after the last batch in `records` (headers only, no CRC).
fn last_offset_after(records: &[u8]) -> i64 {
    let mut rest = records;
    let mut next = 0;
    while !rest.is_empty() {
        let (header, size) = ferrolog_storage::format::batch::frame(rest).unwrap();
        next = header.last_offset() + 1;
        rest = &rest[size..];
    }
    next
}

fn bench_lookup(c: &mut Criterion) {
    let total = if benchmarking() { 256 * MIB } else { 2 * MIB };
    let dir = tempfile::tempdir().unwrap();
    // Small batches make the sparse index work: ~1.4M batches of one 100-byte record.
    let (_store, partition, last_ts) = filled(dir.path(), total, 1, 100);
    let end = partition.high_watermark();
    let mut group = c.benchmark_group("lookup");
    group
        .measurement_time(Duration::from_secs(4))
        .sample_size(50);
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move |bound: i64| {
        // xorshift: cheap, deterministic spread of lookup targets.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % bound as u64) as i64
    };
    group.bench_function("offset_random", |b| {
        b.iter(|| partition.read(black_box(next(end)), 1).unwrap())
    });
    let span = last_ts - 1_000_000;
    group.bench_function("timestamp_random", |b| {
        b.iter(|| {
            partition
                .offset_for_timestamp(black_box(1_000_000 + next(span)))
                .unwrap()
        })
    });
    group.finish();
}

/// Runs `dd ... conv=fdatasync` and returns its bandwidth in MB/s (10^6 bytes).
fn dd_mb_per_s(dir: &Path, mib: u64) -> Option<f64> {
    let file = dir.join("dd.bin");
    let started = Instant::now();
    let status = std::process::Command::new("dd")
        .arg("if=/dev/zero")
        .arg(format!("of={}", file.display()))
        .arg("bs=1M")
        .arg(format!("count={mib}"))
        .arg("conv=fdatasync")
        .stderr(std::process::Stdio::null())
        .status()
        .ok()?;
    let elapsed = started.elapsed();
    std::fs::remove_file(&file).ok();
    status
        .success()
        .then(|| (mib * MIB) as f64 / elapsed.as_secs_f64() / 1e6)
}

/// The same volume as dd, appended with policy `never` in 1,000-record
/// batches of 1 KiB records, ending with one fsync (as dd's fdatasync).
fn append_mb_per_s(dir: &Path, mib: u64) -> f64 {
    let (store, partition) = open_partition(dir, Durability::Never, 1 << 30);
    partition.set_config(LogConfig {
        retention_bytes: None,
        ..partition.config()
    });
    let input = batch(1000, 1024, 0);
    let appends = (mib * MIB).div_ceil(input.len() as u64);
    let started = Instant::now();
    for _ in 0..appends {
        partition.append(&input).unwrap();
    }
    partition.flush().unwrap();
    let elapsed = started.elapsed();
    drop(store);
    (appends * input.len() as u64) as f64 / elapsed.as_secs_f64() / 1e6
}

fn dd_comparison() {
    let mib: u64 = std::env::var("FERROLOG_BENCH_DD_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4096);
    if mib == 0 || !benchmarking() {
        return;
    }
    let dir = tempfile::tempdir_in(
        std::env::var("FERROLOG_BENCH_DIR").unwrap_or_else(|_| "target".to_owned()),
    )
    .unwrap();
    let Some(dd) = dd_mb_per_s(dir.path(), mib) else {
        eprintln!("dd comparison skipped: dd failed");
        return;
    };
    let ours = append_mb_per_s(dir.path(), mib);
    let dd_after = dd_mb_per_s(dir.path(), mib).unwrap_or(dd);
    println!(
        "dd-comparison: {mib} MiB  dd conv=fdatasync {dd:.0} MB/s (again after: {dd_after:.0} MB/s)  \
         ferrolog append never 1KiB x1000 + final fsync {ours:.0} MB/s  = {:.0}% of dd (mean of both dd runs)",
        100.0 * ours / ((dd + dd_after) / 2.0)
    );
}

/// What the append's checks cost per batch: the CRC-32C, and the walk of
/// every record that the CRC cannot vouch for (`records::check`).
fn bench_validate(c: &mut Criterion) {
    let mut group = c.benchmark_group("validate");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(20);
    for record_bytes in [100usize, 1024] {
        let input = batch(1000, record_bytes, 0);
        let (header, _) = ferrolog_storage::format::batch::whole_batch(&input).unwrap();
        group.throughput(Throughput::Bytes(input.len() as u64));
        let crc = BenchmarkId::new("crc32c", format!("{record_bytes}B_x1000"));
        group.bench_function(crc, |b| {
            b.iter(|| ferrolog_storage::format::batch::compute_crc(black_box(&input)))
        });
        let walk = BenchmarkId::new("records", format!("{record_bytes}B_x1000"));
        group.bench_function(walk, |b| {
            b.iter(|| ferrolog_storage::format::batch::check_records(&header, black_box(&input)))
        });
    }
    group.finish();
}

/// A compacted partition of `total_bytes` in 8 MiB segments: 1 KiB records
/// in batches of 100, keyed over `distinct_keys` keys in turn, fsynced and
/// checkpointed so that every sealed segment is cleanable.
fn compactable(dir: &Path, total_bytes: u64, distinct_keys: usize) -> (Store, Arc<Partition>) {
    let (store, partition) = open_partition(dir, Durability::Never, 8 * MIB);
    partition.set_config(LogConfig {
        retention_bytes: None,
        compaction: Some(Compaction {
            min_dirty_per_mille: 0,
            ..Compaction::default()
        }),
        ..partition.config()
    });
    let value = vec![0x5a_u8; 1024];
    let mut written = 0u64;
    let mut n = 0usize;
    while written < total_bytes {
        let keys: Vec<String> = (n..n + 100)
            .map(|i| format!("key-{}", i % distinct_keys))
            .collect();
        n += 100;
        let records: Vec<SimpleRecord<'_>> = keys
            .iter()
            .map(|k| SimpleRecord {
                timestamp_ms: 1_000_000,
                key: Some(k.as_bytes()),
                value: Some(&value),
            })
            .collect();
        let input = encode_batch(&records);
        written += input.len() as u64;
        partition.append(&input).unwrap();
    }
    partition.flush().unwrap();
    partition.checkpoint_if_advanced().unwrap();
    (store, partition)
}

/// One compaction pass over every sealed segment: where 90% of the records
/// are superseded (most segments rewritten), and where every key is
/// distinct (the pass reads and maps everything and rewrites nothing, as the
/// first pass after a restart does over an already clean log).
fn bench_compact(c: &mut Criterion) {
    let total = if benchmarking() { 128 * MIB } else { 2 * MIB };
    let records = (total / 1100) as usize;
    let mut group = c.benchmark_group("compact");
    group
        .measurement_time(Duration::from_secs(10))
        .sample_size(10);
    group.throughput(Throughput::Bytes(total));
    for (name, distinct) in [
        ("90pct_superseded", records / 10),
        ("all_live", records * 2),
    ] {
        group.bench_function(name, |b| {
            b.iter_batched(
                || {
                    let dir = tempfile::tempdir().unwrap();
                    let (store, partition) = compactable(dir.path(), total, distinct.max(1));
                    (dir, store, partition)
                },
                |(dir, store, partition)| {
                    black_box(partition.compact(i64::MAX / 2).unwrap());
                    (dir, store, partition)
                },
                BatchSize::PerIteration,
            );
        });
    }
    group.finish();
}

fn main() {
    dd_comparison();
    let mut c = Criterion::default().configure_from_args();
    bench_validate(&mut c);
    bench_append(&mut c);
    bench_read(&mut c);
    bench_lookup(&mut c);
    bench_compact(&mut c);
    c.final_summary();
}
