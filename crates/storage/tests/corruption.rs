//! Corruption of the active segment: recovery keeps exactly the complete
//! valid prefix, and refuses to cut anything below the recovery point.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::ops::Range;

use common::*;
use ferrolog_storage::format::batch::{LEADER_EPOCH_AT, MAGIC_AT};
use ferrolog_storage::io::MemFileSystem;
use ferrolog_storage::{LogConfig, StorageError};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Damage {
    Truncate { at: f64 },
    Flip { at: f64, mask: u8 },
    ZeroFill { at: f64, len: usize },
    Garbage(Vec<u8>),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        (0.0..1.0f64).prop_map(|at| Damage::Truncate { at }),
        (0.0..1.0f64, 1u8..=255).prop_map(|(at, mask)| Damage::Flip { at, mask }),
        (0.0..1.0f64, 1usize..300).prop_map(|(at, len)| Damage::ZeroFill { at, len }),
        prop::collection::vec(any::<u8>(), 1..200).prop_map(Damage::Garbage),
    ]
}

fn apply(bytes: &[u8], damage: &Damage) -> Vec<u8> {
    let pos = |at: f64| ((bytes.len() as f64) * at) as usize;
    let mut out = bytes.to_vec();
    match damage {
        Damage::Truncate { at } => out.truncate(pos(*at)),
        Damage::Flip { at, mask } => {
            let p = pos(*at).min(out.len() - 1);
            out[p] ^= mask;
        }
        Damage::ZeroFill { at, len } => {
            let p = pos(*at);
            let end = (p + len).min(out.len());
            out[p..end].fill(0);
        }
        Damage::Garbage(garbage) => out.extend_from_slice(garbage),
    }
    out
}

/// A batch survives if every byte it depends on is unchanged: all but the
/// partition leader epoch, which lies outside the CRC by design.
fn intact(original: &[u8], damaged: &[u8], batch: &Range<usize>) -> bool {
    let Some(now) = damaged.get(batch.clone()) else {
        return false;
    };
    let was = &original[batch.clone()];
    now[..LEADER_EPOCH_AT] == was[..LEADER_EPOCH_AT] && now[MAGIC_AT..] == was[MAGIC_AT..]
}

struct Setup {
    fs: MemFileSystem,
    active: std::path::PathBuf,
    /// Byte ranges of the batches in the active segment.
    batches: Vec<Range<usize>>,
    /// Offset of the first batch in the active segment, records per batch.
    first_offset: i64,
    per_batch: i64,
    recovery_point: i64,
}

/// Sealed segments fsynced, then an active segment: the first `synced`
/// batches fsynced, the rest only written.
fn setup(synced: usize, unsynced: usize) -> Setup {
    let fs = MemFileSystem::new();
    let store = mem_store(&fs);
    let config = small_segments(200);
    let p = store.create_partition(id("c", 0), config).unwrap();
    for i in 0..6 {
        p.append(&batch("sealed", 2, i)).unwrap();
    }
    // Force a fresh active segment, so the damaged file holds only the
    // batches below: stamped no earlier than the active segment's first.
    p.set_config(LogConfig {
        segment_ms_max: 0,
        ..small_segments(1 << 20)
    });
    p.append(&batch("first", 2, 100)).unwrap();
    p.set_config(small_segments(1 << 20));
    for i in 1..synced + unsynced {
        if i == synced {
            p.sync_to(p.high_watermark() - 1).unwrap();
            p.checkpoint_if_advanced().unwrap();
        }
        p.append(&batch("active", 2, i as i64)).unwrap();
    }
    if synced >= synced + unsynced {
        p.sync_to(p.high_watermark() - 1).unwrap();
        p.checkpoint_if_advanced().unwrap();
    }
    let recovery_point = p.recovery_point();
    let first_offset = 12;
    let active = log_path("c-0", first_offset);
    drop(store);
    let bytes = fs.contents(&active).unwrap();
    let mut batches = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let (_, size) = ferrolog_storage::format::batch::whole_batch(&bytes[at..]).unwrap();
        batches.push(at..at + size);
        at += size;
    }
    assert_eq!(batches.len(), synced + unsynced);
    Setup {
        fs,
        active,
        batches,
        first_offset,
        per_batch: 2,
        recovery_point,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(200), ..ProptestConfig::default() })]

    #[test]
    fn recovery_keeps_exactly_the_complete_valid_prefix(synced in 0usize..3, unsynced in 1usize..8, damage in damage()) {
        let s = setup(synced.max(1), unsynced);
        let original = s.fs.contents(&s.active).unwrap();
        let damaged = apply(&original, &damage);
        s.fs.set_contents(&s.active, damaged.clone());
        let kept = s.batches.iter().take_while(|b| intact(&original, &damaged, b)).count();
        let kept_bytes = s.batches.get(kept).map_or(original.len(), |b| b.start);
        let expected_hw = s.first_offset + kept as i64 * s.per_batch;

        let store = mem_store(&s.fs);
        if expected_hw < s.recovery_point {
            // Damage below the recovery point: failed partition, file untouched.
            let failed = store.failed_partitions();
            prop_assert_eq!(failed.len(), 1, "expected failure for {:?}", damage);
            let failed_lookup = matches!(store.partition(&id("c", 0)), Err(StorageError::PartitionFailed { .. }));
            prop_assert!(failed_lookup, "lookup of a failed partition must say so");
            prop_assert_eq!(s.fs.contents(&s.active).unwrap(), damaged);
            return Ok(());
        }
        let p = store.partition(&id("c", 0)).unwrap();
        prop_assert_eq!(p.high_watermark(), expected_hw, "{:?}", damage);
        let now = s.fs.contents(&s.active).unwrap();
        prop_assert_eq!(now.len(), kept_bytes);
        prop_assert_eq!(&now[..], &damaged[..kept_bytes]);
        // Everything before the damage reads back; the partition takes writes again.
        let all = p.read(0, usize::MAX).unwrap();
        prop_assert_eq!(batch_offsets(&all.records).len(), 6 + kept);
        prop_assert_eq!(p.append(&batch("after", 1, 0)).unwrap().base_offset, expected_hw);
    }
}

#[test]
fn truncating_a_sealed_fsynced_segment_fails_the_partition() {
    let s = setup(2, 1);
    let sealed = log_path("c-0", 0);
    let bytes = s.fs.contents(&sealed).unwrap();
    s.fs.set_contents(&sealed, bytes[..bytes.len() - 10].to_vec());
    let store = mem_store(&s.fs);
    let failed = store.failed_partitions();
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0].1.contains("below the recovery point") || failed[0].1.contains("ends at"),
        "{}",
        failed[0].1
    );
}

#[test]
fn a_missing_middle_segment_fails_the_partition() {
    let s = setup(2, 1);
    let fs = &s.fs;
    let mut logs: Vec<_> =
        ferrolog_storage::io::FileSystem::read_dir(fs, std::path::Path::new("/data/c-0"))
            .unwrap()
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "log"))
            .collect();
    logs.sort();
    assert!(logs.len() >= 3);
    ferrolog_storage::io::FileSystem::remove_file(fs, &logs[1]).unwrap();
    let store = mem_store(fs);
    assert_eq!(
        store.failed_partitions().len(),
        1,
        "{:?}",
        store.partition_ids()
    );
}

/// The operator's way back from a failed partition (DURABILITY.md §3): with
/// the store closed, removing `partition.checkpoint` has the next open treat
/// every segment as unflushed and cut at the first damage, as it cuts a torn
/// tail after a crash; everything before the damage is kept and served.
#[test]
fn removing_the_checkpoint_cuts_a_failed_partition_at_its_first_damage() {
    let s = setup(2, 1);
    let sealed = log_path("c-0", 0);
    let mut bytes = s.fs.contents(&sealed).unwrap();
    let in_first = batch_offsets(&bytes);
    assert!(in_first.len() >= 2, "{in_first:?}");
    let damaged_base = in_first.last().unwrap().0;
    // The last batch cut short, as a lost write of fsynced data leaves it.
    bytes.truncate(bytes.len() - 10);
    s.fs.set_contents(&sealed, bytes);
    let store = mem_store(&s.fs);
    assert_eq!(store.failed_partitions().len(), 1);
    drop(store);

    let checkpoint = std::path::Path::new("/data/c-0/partition.checkpoint");
    ferrolog_storage::io::FileSystem::remove_file(&s.fs, checkpoint).unwrap();
    let store = mem_store(&s.fs);
    assert!(store.failed_partitions().is_empty());
    let p = store.partition(&id("c", 0)).unwrap();
    assert_eq!(p.high_watermark(), damaged_base);
    let kept = p.read(0, usize::MAX).unwrap();
    assert_eq!(batch_offsets(&kept.records), in_first[..in_first.len() - 1]);
    // The later segments are gone, not left behind to fail the next open.
    let logs = ferrolog_storage::io::FileSystem::read_dir(&s.fs, std::path::Path::new("/data/c-0"))
        .unwrap()
        .into_iter()
        .filter(|path| path.extension().is_some_and(|e| e == "log"))
        .count();
    assert_eq!(logs, 1);
    assert_eq!(
        p.append(&batch("after", 1, 0)).unwrap().base_offset,
        damaged_base
    );
    drop(store);
    // Cut for good: the next open is an ordinary one.
    let store = mem_store(&s.fs);
    assert_eq!(
        store.partition(&id("c", 0)).unwrap().high_watermark(),
        damaged_base + 1
    );
}

/// The other way back (DURABILITY.md §3): deleting the damaged segment and
/// every one before it keeps what follows the damage; the log then starts
/// at the next segment, as after retention.
#[test]
fn deleting_the_segments_up_to_the_damage_keeps_what_follows() {
    let s = setup(2, 1);
    let sealed = log_path("c-0", 0);
    let bytes = s.fs.contents(&sealed).unwrap();
    s.fs.set_contents(&sealed, bytes[..bytes.len() - 10].to_vec());
    let store = mem_store(&s.fs);
    assert_eq!(store.failed_partitions().len(), 1);
    drop(store);
    let end = s.first_offset + s.per_batch * s.batches.len() as i64;
    for ext in ["log", "index", "timeindex"] {
        let path = sealed.with_extension(ext);
        ferrolog_storage::io::FileSystem::remove_file(&s.fs, &path).unwrap();
    }
    let store = mem_store(&s.fs);
    assert!(store.failed_partitions().is_empty());
    let p = store.partition(&id("c", 0)).unwrap();
    let first = batch_offsets(&p.read(p.log_start_offset(), usize::MAX).unwrap().records);
    assert_eq!(first.first().unwrap().0, p.log_start_offset());
    assert!(p.log_start_offset() > 0);
    assert_eq!(p.high_watermark(), end);
}
