//! Offset store tests against the real storage engine in a temporary directory.

use ferrolog_storage::{Store, StoreOptions};

use super::*;

fn committed(offset: i64, metadata: &str) -> Option<CommittedOffset> {
    Some(CommittedOffset {
        offset,
        leader_epoch: -1,
        metadata: Some(metadata.to_owned()),
        commit_timestamp_ms: 1,
    })
}

fn open(dir: &std::path::Path) -> (Store, OffsetStore) {
    let store = Store::open(dir, StoreOptions::default()).expect("store");
    let offsets = OffsetStore::open(&store).expect("offsets");
    (store, offsets)
}

/// What replaying the log from scratch yields.
fn replayed(offsets: &OffsetStore) -> BTreeMap<String, GroupOffsets> {
    let mut state = OffsetState::default();
    replay(&offsets.partition, &mut state).expect("replay");
    state.groups
}

#[test]
fn commits_are_fetched_overwritten_and_deleted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_store, offsets) = open(dir.path());
    offsets
        .commit(
            "g",
            vec![
                ("t".into(), 0, committed(5, "a")),
                ("t".into(), 1, committed(7, "")),
            ],
        )
        .expect("commit");
    offsets
        .commit("g", vec![("t".into(), 0, committed(9, "b"))])
        .expect("commit");
    offsets
        .commit("h", vec![("t".into(), 0, committed(1, "h"))])
        .expect("commit");
    assert_eq!(
        offsets.fetch("g", "t", 0).map(|c| (c.offset, c.metadata)),
        Some((9, Some("b".into())))
    );
    assert_eq!(offsets.fetch("g", "t", 1).map(|c| c.offset), Some(7));
    assert_eq!(offsets.fetch("g", "t", 2), None);
    offsets.delete_group("g").expect("delete");
    assert!(!offsets.has_group("g"));
    assert_eq!(offsets.groups(), vec!["h".to_owned()]);
    assert_eq!(
        replayed(&offsets),
        offsets.lock().groups,
        "the log says what memory says"
    );
}

#[test]
fn expiry_writes_tombstones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_store, offsets) = open(dir.path());
    offsets
        .commit("old", vec![("t".into(), 0, committed(5, ""))])
        .expect("commit");
    offsets
        .commit("new", vec![("t".into(), 0, committed(6, ""))])
        .expect("commit");
    assert_eq!(
        offsets.expire(|group, _| group == "old").expect("expire"),
        1
    );
    assert_eq!(offsets.groups(), vec!["new".to_owned()]);
    assert_eq!(replayed(&offsets).keys().collect::<Vec<_>>(), vec!["new"]);
}

#[test]
fn compaction_keeps_exactly_the_live_offsets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_store, mut offsets) = open(dir.path());
    offsets.superseded_records_max = 10;
    for i in 0..40 {
        offsets
            .commit("g", vec![("t".into(), i % 3, committed(i64::from(i), "m"))])
            .expect("commit");
    }
    offsets
        .commit("gone", vec![("t".into(), 0, committed(1, ""))])
        .expect("commit");
    offsets.delete_group("gone").expect("delete");
    assert!(
        offsets.partition.log_start_offset() > 0,
        "compaction moved the log start"
    );
    let live = offsets.lock().groups.clone();
    assert_eq!(live.get("g").map(BTreeMap::len), Some(3));
    assert_eq!(offsets.fetch("g", "t", 0).map(|c| c.offset), Some(39));
    assert_eq!(replayed(&offsets), live);
}

#[test]
fn committed_offsets_survive_a_crash_and_a_clean_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let (_store, offsets) = open(dir.path());
        offsets
            .commit("g", vec![("t".into(), 3, committed(42, "meta"))])
            .expect("commit");
        // Dropped without close: a crash. The commit was fsynced before `commit` returned.
    }
    {
        let (store, offsets) = open(dir.path());
        assert_eq!(
            offsets.fetch("g", "t", 3).map(|c| (c.offset, c.metadata)),
            Some((42, Some("meta".into())))
        );
        offsets
            .commit("g", vec![("t".into(), 3, committed(43, "meta"))])
            .expect("commit");
        store.close().expect("close");
    }
    let (_store, offsets) = open(dir.path());
    assert_eq!(offsets.fetch("g", "t", 3).map(|c| c.offset), Some(43));
}

/// Expiry picks the offsets to drop under the state lock, releases it, and
/// writes the tombstones later under a second one. An OffsetCommit that is
/// appended and acknowledged in between is wiped by a tombstone meant for the
/// old value, though the new value is not expired at all. The only code in
/// that window is the `tracing::info!` before each group's tombstones, so a
/// tracing layer makes the commit land there deterministically.
#[test]
fn a_commit_acknowledged_during_expiry_is_not_wiped() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

    struct CommitInTheWindow {
        offsets: Arc<OffsetStore>,
        fired: Arc<AtomicBool>,
    }
    struct Message(String);
    impl tracing::field::Visit for Message {
        fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
            if field.name() == "message" {
                self.0 = format!("{value:?}");
            }
        }
    }
    impl<S: tracing::Subscriber> Layer<S> for CommitInTheWindow {
        fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
            let mut message = Message(String::new());
            event.record(&mut message);
            if message.0.contains("expiring committed offsets")
                && !self.fired.swap(true, Ordering::SeqCst)
            {
                // A consumer commits a fresh offset: appended, fsynced, acknowledged.
                let fresh = CommittedOffset {
                    offset: 100,
                    leader_epoch: -1,
                    metadata: Some("fresh".to_owned()),
                    commit_timestamp_ms: wall_clock_ms(),
                };
                self.offsets
                    .commit("g", vec![("t".into(), 0, Some(fresh))])
                    .expect("the fresh commit is acknowledged");
            }
        }
    }

    let dir = tempfile::tempdir().expect("tempdir");
    let (_store, offsets) = open(dir.path());
    let offsets = Arc::new(offsets);
    offsets
        .commit("g", vec![("t".into(), 0, committed(5, "old"))])
        .expect("commit");
    let retention_ms = 60_000;
    let expired =
        |_: &str, c: &CommittedOffset| wall_clock_ms() - c.commit_timestamp_ms >= retention_ms;

    let fired = Arc::new(AtomicBool::new(false));
    let layer = CommitInTheWindow {
        offsets: offsets.clone(),
        fired: fired.clone(),
    };
    let subscriber = tracing_subscriber::registry().with(layer);
    let dropped =
        tracing::subscriber::with_default(subscriber, || offsets.expire(expired)).expect("expire");
    assert_eq!(dropped, 1, "the old offset was expired");
    assert!(
        fired.load(Ordering::SeqCst),
        "offset 100 was committed and acknowledged during expiry"
    );

    let now = offsets.fetch("g", "t", 0).map(|c| c.offset);
    let after_restart = replayed(&offsets)
        .get("g")
        .and_then(|g| g.get(&("t".to_owned(), 0)))
        .map(|c| c.offset);
    assert_eq!(
        (now, after_restart),
        (Some(100), Some(100)),
        "the acknowledged commit of offset 100 (not expired: committed just now) survives, \
         in memory and in the log"
    );
}
