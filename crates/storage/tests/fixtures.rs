//! A checked-in version-1 data directory: today's code must still open it
//! byte for byte. Regenerate only for a deliberate format change (then bump
//! the version in docs/FORMAT.md): `cargo test -p ferrolog-storage --test
//! fixtures -- --ignored regenerate`.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::path::{Path, PathBuf};

use common::*;
use ferrolog_storage::format::Checkpoint;
use ferrolog_storage::{Store, StoreOptions};

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1")
}

/// The batches the fixture holds: 10 batches of 2 records, fixed timestamps.
fn fixture_batches() -> Vec<Vec<u8>> {
    (0..10)
        .map(|i| batch(&format!("fixture{i}"), 2, 1_700_000_000_000 + i * 1000))
        .collect()
}

#[test]
#[ignore = "rewrites the checked-in fixture"]
fn regenerate() {
    let dir = fixture_dir();
    std::fs::remove_dir_all(&dir).ok();
    let store = Store::open(&dir, StoreOptions::default()).unwrap();
    let p = store
        .create_partition(id("fixture", 0), small_segments(300))
        .unwrap();
    for b in fixture_batches() {
        p.append(&b).unwrap();
    }
    store.close().unwrap();
    drop(store);
    std::fs::remove_file(dir.join(".lock")).unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn version_1_data_directory_opens_and_reads_back_byte_for_byte() {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&fixture_dir(), tmp.path());
    let checkpoint = std::fs::read(tmp.path().join("fixture-0/partition.checkpoint")).unwrap();
    let checkpoint = Checkpoint::decode(&checkpoint).unwrap();
    assert_eq!(
        checkpoint,
        Checkpoint {
            log_start_offset: 0,
            recovery_point: 20,
            clean_shutdown: true
        }
    );
    let report = ferrolog_storage::inspect::verify_data_dir(
        &ferrolog_storage::io::StdFileSystem,
        tmp.path(),
    )
    .unwrap();
    assert!(report.is_ok(), "{report:#?}");
    assert!(report.partitions[0].segments.len() >= 3);

    let store = Store::open(tmp.path(), StoreOptions::default()).unwrap();
    let p = store.partition(&id("fixture", 0)).unwrap();
    assert!(
        p.recovery_report().is_none(),
        "a clean fixture needs no recovery"
    );
    assert_eq!(p.high_watermark(), 20);
    let records = p.read(0, usize::MAX).unwrap().records;
    let mut rest = &records[..];
    for (i, expected) in fixture_batches().iter().enumerate() {
        let (header, size) = ferrolog_storage::format::batch::whole_batch(rest).unwrap();
        assert_eq!(header.base_offset, 2 * i as i64);
        assert_eq!(&rest[8..size], &expected[8..]);
        rest = &rest[size..];
    }
    assert!(rest.is_empty());
    let found = p.offset_for_timestamp(1_700_000_004_500).unwrap().unwrap();
    assert_eq!((found.offset, found.timestamp_ms), (10, 1_700_000_005_000));
}
