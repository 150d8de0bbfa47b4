use std::collections::BTreeMap;
use std::sync::Arc;

use ferrolog_storage::{Durability, Store, StoreOptions};

use super::*;

fn open(dir: &std::path::Path) -> (Arc<Store>, TopicRegistry) {
    let config = BrokerConfig {
        data_dir: dir.to_path_buf(),
        ..BrokerConfig::default()
    };
    let store = Arc::new(Store::open(dir, StoreOptions::default()).expect("store opens"));
    let registry = TopicRegistry::open(store.clone(), &config).expect("registry opens");
    (store, registry)
}

fn config(pairs: &[(&str, &str)]) -> TopicConfig {
    let map: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    TopicConfig::from_map(map).expect("valid config")
}

#[test]
fn topic_names_are_checked_as_kafka_does() {
    for good in ["a", "orders.v1", "my_topic-2", &"x".repeat(249)] {
        assert!(validate_topic_name(good).is_ok(), "{good}");
    }
    for bad in [
        "",
        ".",
        "..",
        "has space",
        "slash/name",
        "ünïcode",
        &"x".repeat(250),
        "__consumer_offsets",
    ] {
        assert!(
            matches!(
                validate_topic_name(bad),
                Err(TopicError::InvalidName { .. })
            ),
            "{bad:?}"
        );
    }
}

#[test]
fn topic_configs_are_validated_and_translated() {
    let broker = BrokerConfig::default();
    let log = config(&[
        ("retention.ms", "-1"),
        ("ferrolog.durability", "always"),
        ("max.message.bytes", "2048"),
    ])
    .to_log_config(&broker)
    .expect("translates");
    assert_eq!(log.retention_ms, None);
    assert_eq!(log.durability, Durability::Always);
    assert_eq!(log.max_batch_bytes, 2048);
    let interval = config(&[("ferrolog.durability", "interval:250")])
        .to_log_config(&broker)
        .expect("translates");
    assert_eq!(
        interval.durability,
        Durability::Interval { interval_ms: 250 }
    );

    let rejected =
        |k: &str, v: &str| TopicConfig::from_map([(k.to_string(), v.to_string())].into());
    assert!(matches!(
        rejected("retention.ms", "-2"),
        Err(TopicConfigError::InvalidValue { .. })
    ));
    assert!(matches!(
        rejected("segment.bytes", "lots"),
        Err(TopicConfigError::InvalidValue { .. })
    ));
    // Kafka 4.0's floor (KIP-1030): one segment per tiny batch would let a
    // producer decide how many files the broker holds.
    assert!(matches!(
        rejected("segment.bytes", "1048575"),
        Err(TopicConfigError::InvalidValue { .. })
    ));
    assert!(rejected("segment.bytes", "1048576").is_ok());
    assert!(matches!(
        rejected("ferrolog.durability", "sometimes"),
        Err(TopicConfigError::InvalidValue { .. })
    ));
    for bad in [
        "",
        "compacted",
        "compact;delete",
        "Compact",
        "compact,,delete",
    ] {
        assert!(
            matches!(
                rejected("cleanup.policy", bad),
                Err(TopicConfigError::InvalidValue { .. })
            ),
            "{bad:?}"
        );
    }
    assert!(matches!(
        rejected("no.such.key", "1"),
        Err(TopicConfigError::UnknownKey(_))
    ));
}

#[test]
fn kafka_topic_configs_are_accepted_described_or_refused_with_a_reason() {
    let broker = BrokerConfig::default();
    let entries = TopicConfig::default().entries(&broker);
    let value = |key: &str| {
        entries
            .iter()
            .find(|e| e.key == key)
            .map(|e| e.value.clone())
    };
    // Tools read these back (kafka-topics --at-min-isr-partitions needs min.insync.replicas).
    assert_eq!(value("min.insync.replicas").as_deref(), Some("1"));
    assert_eq!(value("compression.type").as_deref(), Some("producer"));
    assert_eq!(
        value("message.timestamp.type").as_deref(),
        Some("CreateTime")
    );
    assert_eq!(value("index.interval.bytes").as_deref(), Some("4096"));
    let mut keys: Vec<_> = entries.iter().map(|e| e.key).collect();
    keys.dedup();
    assert_eq!(keys.len(), entries.len(), "each key once, in order");

    // Accepted, with nothing to act on in one node.
    let inert = config(&[
        ("min.insync.replicas", "1"),
        ("unclean.leader.election.enable", "true"),
        ("leader.replication.throttled.replicas", "0:1,1:1"),
        ("min.cleanable.dirty.ratio", "0.1"),
        ("compression.zstd.level", "-5"),
        ("preallocate", "true"),
    ]);
    assert_eq!(inert.min_insync_replicas(), 1);
    assert_eq!(
        config(&[("min.insync.replicas", "2")]).min_insync_replicas(),
        2
    );

    // Acted on.
    let log = config(&[("index.interval.bytes", "8192"), ("flush.ms", "50")])
        .to_log_config(&broker)
        .expect("translates");
    assert_eq!(log.index_interval_bytes, 8192);
    assert_eq!(log.durability, Durability::Interval { interval_ms: 50 });
    let log = config(&[("flush.ms", "5000")])
        .to_log_config(&broker)
        .expect("translates");
    assert_eq!(
        log.durability,
        Durability::Interval { interval_ms: 1000 },
        "flush.ms never makes a topic less durable than ferrolog.durability"
    );
    let log = config(&[("flush.messages", "10"), ("ferrolog.durability", "never")])
        .to_log_config(&broker)
        .expect("translates");
    assert_eq!(log.durability, Durability::Always);

    let rejected =
        |k: &str, v: &str| TopicConfig::from_map([(k.to_string(), v.to_string())].into());
    for (key, bad) in [
        ("min.insync.replicas", "0"),
        ("compression.type", "brotli"),
        ("unclean.leader.election.enable", "maybe"),
        ("leader.replication.throttled.replicas", "x"),
        ("min.cleanable.dirty.ratio", "1.5"),
        ("compression.gzip.level", "10"),
        ("message.timestamp.type", "createtime"),
    ] {
        assert!(
            matches!(
                rejected(key, bad),
                Err(TopicConfigError::InvalidValue { .. })
            ),
            "{key}={bad}"
        );
    }
    for (key, unserved) in [
        ("compression.type", "zstd"),
        ("message.timestamp.after.max.ms", "3600000"),
        ("remote.storage.enable", "true"),
    ] {
        let error = rejected(key, unserved).expect_err(key);
        assert!(
            matches!(error, TopicConfigError::Unsupported { .. }),
            "{key}={unserved}: {error}"
        );
        assert!(error.to_string().contains(": "), "says why: {error}");
    }
}

/// Kafka's LogConfig: `compact` turns the cleaner on with the three
/// compaction keys, and retention deletes only where the policy lists `delete`.
#[test]
fn cleanup_policy_maps_to_compaction_and_retention() {
    let broker = BrokerConfig::default();
    let plain = TopicConfig::default();
    let log = plain.to_log_config(&broker).expect("translates");
    assert_eq!(log.compaction, None);
    assert_eq!(log.retention_ms, Some(604_800_000));
    assert_eq!(
        plain.cleanup_policy(),
        CleanupPolicy {
            compact: false,
            delete: true
        }
    );

    let compact = config(&[("cleanup.policy", "compact"), ("retention.bytes", "5000")]);
    let log = compact.to_log_config(&broker).expect("translates");
    assert_eq!(
        log.compaction,
        Some(ferrolog_storage::Compaction::default())
    );
    assert_eq!(
        ferrolog_storage::Compaction::default(),
        ferrolog_storage::Compaction {
            delete_retention_ms: 86_400_000,
            min_dirty_per_mille: 500,
            min_lag_ms: 0,
            max_lag_ms: i64::MAX,
        },
        "Kafka's defaults"
    );
    assert_eq!(
        (log.retention_ms, log.retention_bytes),
        (None, None),
        "compact alone: no retention"
    );
    assert!(!compact.cleanup_policy().delete);

    for both in ["compact,delete", "delete,compact", " delete , compact "] {
        let c = config(&[
            ("cleanup.policy", both),
            ("retention.ms", "1000"),
            ("delete.retention.ms", "10"),
            ("min.cleanable.dirty.ratio", "0.0105"),
            ("min.compaction.lag.ms", "20"),
            ("max.compaction.lag.ms", "30000"),
        ]);
        let log = c.to_log_config(&broker).expect("translates");
        assert_eq!(
            log.compaction,
            Some(ferrolog_storage::Compaction {
                delete_retention_ms: 10,
                min_dirty_per_mille: 11,
                min_lag_ms: 20,
                max_lag_ms: 30_000,
            }),
            "{both}"
        );
        assert_eq!(
            log.segment_ms_max, 30_000,
            "{both}: the active segment rolls by the max lag (Kafka's maxSegmentMs)"
        );
        assert_eq!(
            log.retention_ms,
            Some(1000),
            "{both}: retention still applies"
        );
        assert_eq!(
            c.cleanup_policy(),
            CleanupPolicy {
                compact: true,
                delete: true
            }
        );
    }
    // The compaction keys alone change nothing on a delete-only topic.
    let log = config(&[("delete.retention.ms", "10")])
        .to_log_config(&broker)
        .expect("translates");
    assert_eq!(log.compaction, None);

    // Set, then deleted: the cached policy follows.
    let mut c = TopicConfig::default();
    c.set("cleanup.policy", "compact").expect("valid");
    assert!(c.cleanup_policy().compact);
    c.remove("cleanup.policy").expect("known");
    assert!(!c.cleanup_policy().compact);
}

/// IncrementalAlterConfigs' APPEND and SUBTRACT, as Kafka's
/// ConfigAdminManager applies them: list-typed keys only, from the default
/// when the topic sets nothing.
#[test]
fn list_keys_take_append_and_subtract() {
    let mut c = TopicConfig::default();
    c.change_list("cleanup.policy", "compact", false)
        .expect("appends");
    assert_eq!(
        c.overrides().get("cleanup.policy").map(String::as_str),
        Some("delete,compact")
    );
    c.change_list("cleanup.policy", "compact", false)
        .expect("no duplicate");
    assert_eq!(
        c.overrides().get("cleanup.policy").map(String::as_str),
        Some("delete,compact")
    );
    c.change_list("cleanup.policy", "delete", true)
        .expect("subtracts");
    assert_eq!(
        c.cleanup_policy(),
        CleanupPolicy {
            compact: true,
            delete: false
        }
    );
    assert!(
        matches!(
            c.change_list("cleanup.policy", "compact", true),
            Err(TopicConfigError::InvalidValue { .. })
        ),
        "an empty policy is refused"
    );
    assert!(
        matches!(
            c.change_list("cleanup.policy", "shred", false),
            Err(TopicConfigError::InvalidValue { .. })
        ),
        "appended words are validated"
    );
    assert!(
        c.cleanup_policy().compact,
        "a refused change changes nothing"
    );
    c.change_list("leader.replication.throttled.replicas", "0:1", false)
        .expect("a list key");
    let error = c
        .change_list("retention.ms", "5", false)
        .expect_err("not a list");
    assert_eq!(
        error.to_string(),
        "Config value append is not allowed for config key: retention.ms"
    );
}

#[test]
fn topics_and_configs_are_restored_at_start_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (id, cluster_id) = {
        let (store, registry) = open(dir.path());
        let topic = registry
            .create("orders", 3, config(&[("retention.ms", "1000")]), false)
            .expect("created");
        registry
            .create("gone", 1, TopicConfig::default(), false)
            .expect("created");
        registry.delete("gone").expect("deleted");
        registry.add_partitions("orders", 4, false).expect("grown");
        store.close().expect("clean close");
        (topic.id, registry.cluster_id().to_string())
    };
    let (_store, registry) = open(dir.path());
    assert_eq!(registry.cluster_id(), cluster_id, "cluster id is stable");
    let topic = registry.get("orders").expect("restored");
    assert_eq!(topic.id, id, "topic id is stable");
    assert_eq!(topic.partitions.len(), 4);
    assert_eq!(topic.config, config(&[("retention.ms", "1000")]));
    assert!(registry.get("gone").is_none());
    assert!(topic.partitions.iter().all(|p| p.state.is_ok()));
    assert_eq!(
        registry.get_by_id(id).map(|t| t.name.clone()).as_deref(),
        Some("orders")
    );
}

#[test]
fn registry_changes_are_refused_with_their_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_store, registry) = open(dir.path());
    registry
        .create("t", 2, TopicConfig::default(), false)
        .expect("created");
    assert!(matches!(
        registry.create("t", 1, TopicConfig::default(), false),
        Err(TopicError::AlreadyExists(_))
    ));
    assert!(matches!(
        registry.create("u", 0, TopicConfig::default(), false),
        Err(TopicError::InvalidPartitions { .. })
    ));
    assert!(matches!(
        registry.add_partitions("t", 1, false),
        Err(TopicError::InvalidPartitions { .. })
    ));
    assert!(matches!(
        registry.delete("nope"),
        Err(TopicError::Unknown(_))
    ));
    // validate_only changes nothing.
    registry
        .create("v", 1, TopicConfig::default(), true)
        .expect("valid");
    assert!(registry.get("v").is_none());
    // A min lag above the max lag, at creation or by a change, as Kafka
    // refuses it (INVALID_CONFIG, its message).
    let conflicting = config(&[
        ("cleanup.policy", "compact"),
        ("min.compaction.lag.ms", "5000"),
        ("max.compaction.lag.ms", "4000"),
    ]);
    let refused = registry.create("w", 1, conflicting.clone(), false);
    match refused {
        Err(TopicError::Config(e)) => assert_eq!(
            e.to_string(),
            "conflict topic config setting min.compaction.lag.ms (5000) > max.compaction.lag.ms (4000)"
        ),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        registry.set_config("t", conflicting, false),
        Err(TopicError::Config(TopicConfigError::Conflict(_)))
    ));
    registry
        .set_config("t", config(&[("max.compaction.lag.ms", "5000")]), false)
        .expect("a max lag alone");
}

#[test]
fn partition_directories_without_a_topic_are_adopted_not_deleted() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = Store::open(dir.path(), StoreOptions::default()).expect("store");
        let id = ferrolog_storage::PartitionId {
            topic: "orphan".into(),
            partition: 1,
        };
        store
            .create_partition(id, ferrolog_storage::LogConfig::default())
            .expect("created");
        store.close().expect("closed");
    }
    let (_store, registry) = open(dir.path());
    let topic = registry.get("orphan").expect("adopted");
    assert_eq!(
        topic.partitions.len(),
        2,
        "partition 1 implies partitions 0..=1"
    );
}

#[test]
fn a_deletion_the_registry_file_could_not_record_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_store, registry) = open(dir.path());
    registry
        .create("t", 1, TopicConfig::default(), false)
        .expect("created");
    // The atomic rename onto the registry's path fails while a directory is there.
    let path = dir.path().join(REGISTRY_FILE);
    std::fs::remove_file(&path).expect("remove");
    std::fs::create_dir(&path).expect("block the path");
    assert!(matches!(
        registry.delete("t"),
        Err(TopicError::Persist { .. })
    ));
    assert!(registry.get("t").is_some(), "still there");
    assert!(registry.pending_deletions().is_empty());
    assert!(dir.path().join("t-0").exists());
    std::fs::remove_dir(&path).expect("unblock");
    registry.delete("t").expect("deleted");
    assert!(registry.get("t").is_none());
    assert_eq!(
        registry.pending_deletions(),
        ["t"],
        "until its offsets are gone"
    );
    registry.finish_deletion("t").expect("finished");
    assert!(registry.pending_deletions().is_empty());
}

#[test]
fn names_differing_only_by_dot_and_underscore_collide() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_store, registry) = open(dir.path());
    registry
        .create("orders.v1", 1, TopicConfig::default(), false)
        .expect("created");
    registry
        .create("x_y", 1, TopicConfig::default(), false)
        .expect("created");
    for (clash, existing_name) in [("orders_v1", "orders.v1"), ("x.y", "x_y")] {
        let refused = registry.create(clash, 1, TopicConfig::default(), true);
        assert!(
            matches!(&refused, Err(TopicError::Collides { existing, .. }) if existing == existing_name),
            "{refused:?}"
        );
        assert!(registry.get(clash).is_none());
    }
    let auto = registry.get_or_auto_create("orders_v1", true);
    assert!(matches!(auto, Err(TopicError::Collides { .. })), "{auto:?}");
    assert_eq!(
        crate::errors::topic_error(&TopicError::Collides {
            name: "a_b".into(),
            existing: "a.b".into()
        }),
        kafka_protocol::ResponseError::InvalidTopicException
    );
    // A name that folds to itself is the same topic, not a collision.
    assert!(matches!(
        registry.create("orders.v1", 1, TopicConfig::default(), false),
        Err(TopicError::AlreadyExists(_))
    ));
    registry
        .create("orders-v1", 1, TopicConfig::default(), false)
        .expect("'-' does not fold");
}
