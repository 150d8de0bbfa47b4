//! kill -9 under load (issue 6): a real `ferrologd` process is SIGKILLed at
//! random moments while producers write and a group commits offsets; after
//! each restart and at the end, nothing acknowledged may be missing,
//! duplicated, reordered or behind. Bounded: 13 cycles in all here; run
//! `cargo run -p ferrolog-broker --example kill_soak -- --cycles 200` to soak.

mod soak;

use std::path::PathBuf;

use soak::{SoakConfig, SoakReport};

fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ferrologd"))
}

async fn run(config: SoakConfig) -> SoakReport {
    let dir = tempfile::tempdir().expect("temp dir");
    let report = soak::run(&config, dir.path())
        .await
        .expect("the soak harness runs");
    eprintln!(
        "kill9 {} acks={} durability={}: {report}",
        config.cycles, config.acks, config.durability
    );
    report
}

fn assert_clean(report: &SoakReport) {
    assert!(
        report.violations.is_empty(),
        "invariants broken (seed {}):\n{report}",
        report.seed
    );
    assert!(report.acknowledged > 0, "the load made progress: {report}");
    assert!(
        report.commits_acknowledged > 0,
        "the committer made progress: {report}"
    );
}

/// Idempotent acks=all producers with fsync per request: every acknowledged
/// record exactly once, in order, at dense offsets; commits never go back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill9_under_idempotent_acks_all_load_loses_and_duplicates_nothing() {
    let report = run(SoakConfig::bounded(binary(), 6)).await;
    assert_clean(&report);
    assert_eq!(report.cycles, 6);
}

/// `durability = never` with acks=1: a process crash (not a power loss) still
/// loses nothing acknowledged, because an acknowledged record is already in
/// the page cache, never only in the broker's memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill9_with_durability_never_loses_nothing_acknowledged() {
    let config = SoakConfig {
        durability: "never".into(),
        acks: "1".into(),
        ..SoakConfig::bounded(binary(), 4)
    };
    let report = run(config).await;
    assert_clean(&report);
}

/// `durability = interval:200` with acks=1: as with `never`, a process crash
/// loses nothing acknowledged, whether or not the interval fsync ran.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill9_with_durability_interval_loses_nothing_acknowledged() {
    let config = SoakConfig {
        durability: "interval:200".into(),
        acks: "1".into(),
        ..SoakConfig::bounded(binary(), 3)
    };
    let report = run(config).await;
    assert_clean(&report);
}

/// The checker itself must be able to fail.
#[test]
fn the_checker_catches_gaps_duplicates_and_reordering() {
    use soak::check::partition_violations;
    assert!(partition_violations(0, &[(0, 1), (1, 2), (2, 5)]).is_empty());
    assert_eq!(partition_violations(0, &[(0, 1), (2, 2)]).len(), 1, "gap");
    assert_eq!(
        partition_violations(0, &[(0, 1), (1, 1)]).len(),
        1,
        "duplicate"
    );
    assert_eq!(
        partition_violations(0, &[(0, 2), (1, 1)]).len(),
        1,
        "reordered"
    );
    assert_eq!(
        partition_violations(0, &[(3, 1)]).len(),
        1,
        "does not start at 0"
    );
}
