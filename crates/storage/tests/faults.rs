//! Fault injection: a failed or torn write or a failed fsync at a random
//! point, then a process crash or a power loss. Recovery must give back a
//! prefix of what was attempted that holds every acknowledged append, and
//! the partition must take writes again.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use common::*;
use ferrolog_storage::Durability;
use ferrolog_storage::format::batch::whole_batch;
use ferrolog_storage::io::{Fault, MemFileSystem};
use proptest::prelude::*;

fn fault() -> impl Strategy<Value = Fault> {
    let path_contains = prop_oneof![
        Just(".log".to_owned()),
        Just(".index".to_owned()),
        Just("checkpoint".to_owned())
    ];
    prop_oneof![
        path_contains
            .clone()
            .prop_map(|path_contains| Fault::FailWrite { path_contains }),
        (path_contains.clone(), 0usize..200).prop_map(|(path_contains, keep_bytes)| {
            Fault::TornWrite {
                path_contains,
                keep_bytes,
            }
        }),
        path_contains.prop_map(|path_contains| Fault::FailSync { path_contains }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(150), ..ProptestConfig::default() })]

    #[test]
    fn recovery_after_a_fault_keeps_a_prefix_with_every_acknowledged_append(
        sizes in prop::collection::vec(1usize..5, 2..25),
        fault_at in 0usize..25,
        fault in fault(),
        power_loss in any::<bool>(),
        always in any::<bool>(),
    ) {
        let fs = MemFileSystem::new();
        let store = mem_store(&fs);
        let durability = if always { Durability::Always } else { Durability::Never };
        let p = store.create_partition(id("f", 0), ferrolog_storage::LogConfig { durability, ..small_segments(400) }).unwrap();
        let mut attempted = Vec::new();
        let mut acknowledged = 0;
        for (i, &records) in sizes.iter().enumerate() {
            if i == fault_at {
                fs.inject(fault.clone());
            }
            let input = batch(&format!("b{i}"), records, i as i64);
            let ok = p.append(&input).is_ok();
            attempted.push(input);
            if ok && !p.is_failed() {
                acknowledged = attempted.len();
            } else {
                continue;
            }
        }
        let synced_batches = if always { acknowledged } else { 0 };
        fs.clear_faults();
        let fs = if power_loss { fs.crash() } else { fs.clone() };
        drop(store);
        let store = mem_store(&fs);
        prop_assert!(store.failed_partitions().is_empty(), "{:?}", store.failed_partitions());
        let p = store.partition(&id("f", 0)).unwrap();
        let all = p.read(0, usize::MAX).unwrap().records;
        let mut rest = &all[..];
        let mut recovered = 0;
        while !rest.is_empty() {
            let (_, size) = whole_batch(rest).unwrap();
            prop_assert!(recovered < attempted.len(), "more batches than were attempted");
            prop_assert_eq!(&rest[8..size], &attempted[recovered][8..], "batch {} differs", recovered);
            recovered += 1;
            rest = &rest[size..];
        }
        if !power_loss {
            prop_assert!(recovered >= acknowledged, "lost an acknowledged append: {} < {}", recovered, acknowledged);
        }
        prop_assert!(recovered >= synced_batches, "lost an fsynced append: {} < {}", recovered, synced_batches);
        prop_assert!(p.append(&batch("again", 1, 0)).is_ok());
    }
}
