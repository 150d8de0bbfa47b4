//! `ferrolog group reset-offsets`: the plan, --execute, the targets (--to,
//! --shift-by, --to-current), the scopes (--topic, --partition, --all-topics),
//! clamping into the partition and the refusal while members are active.

mod common;

use common::groups::{
    commit, describe_json, follower, numbered, produce_numbered, topic_with, wait_for,
};
use common::{TestBroker, consume, fails, ok};

#[test]
fn reset_offsets_plans_then_changes_what_is_read() {
    let broker = TestBroker::start();
    let lines = numbered(10);
    produce_numbered(&broker, "r-topic", &lines);
    assert_eq!(consume(&broker, "r-topic", &["--group", "r1"]).len(), 10);

    // Without --execute nothing changes.
    let plan = ok(broker.ferrolog().args([
        "group",
        "reset-offsets",
        "r1",
        "--topic",
        "r-topic",
        "--to",
        "earliest",
    ]));
    assert!(plan.contains("dry run"), "{plan}");
    assert!(consume(&broker, "r-topic", &["--group", "r1"]).is_empty());

    ok(broker.ferrolog().args([
        "group",
        "reset-offsets",
        "r1",
        "--topic",
        "r-topic",
        "--to",
        "earliest",
        "--execute",
    ]));
    assert_eq!(consume(&broker, "r-topic", &["--group", "r1"]), lines);

    ok(broker.ferrolog().args([
        "group",
        "reset-offsets",
        "r1",
        "-t",
        "r-topic",
        "--to",
        "7",
        "--execute",
    ]));
    assert_eq!(consume(&broker, "r-topic", &["--group", "r1"]), lines[7..]);

    let json = ok(broker.ferrolog().args([
        "group",
        "reset-offsets",
        "r1",
        "-t",
        "r-topic",
        "--to",
        "-1h",
        "--execute",
        "--output",
        "json",
    ]));
    let v: serde_json::Value = serde_json::from_str(json.trim()).expect("json");
    assert_eq!(v["plan"][0]["current"], 10);
    assert_eq!(v["plan"][0]["new"], 0);
    assert_eq!(
        consume(&broker, "r-topic", &["--group", "r1", "-n", "1"]),
        ["m0"]
    );
}

/// As Kafka's tool: an offset past the end is clamped to the end, and a
/// warning on stderr names the partition, the offset asked for and the one applied.
#[test]
fn reset_offsets_past_the_end_warns_and_clamps() {
    let broker = TestBroker::start();
    produce_numbered(&broker, "short", &numbered(3));
    assert_eq!(
        consume(&broker, "short", &["--group", "clamp", "-n", "1"]).len(),
        1
    );
    for execute in [false, true] {
        let mut cmd = broker.ferrolog();
        cmd.args([
            "group",
            "reset-offsets",
            "clamp",
            "-t",
            "short",
            "--to",
            "100",
        ]);
        if execute {
            cmd.arg("--execute");
        }
        let out = cmd.output().expect("runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{err}");
        assert_eq!(
            err.trim(),
            "warning: short-0: offset 100 is past the end of the partition (3); using 3"
        );
    }
    let v = describe_json(&broker, "clamp");
    assert_eq!(v["total_lag"], 0, "{v}");
}

#[test]
fn reset_offsets_refuses_while_members_are_active() {
    let broker = TestBroker::start();
    produce_numbered(&broker, "busy", &numbered(3));
    let _follower = follower(&broker, "busy", "busy-group");
    wait_for(&broker, "busy-group", "a member", |v| {
        v["members"].as_array().is_some_and(|m| m.len() == 1)
    });
    let err = fails(broker.ferrolog().args([
        "group",
        "reset-offsets",
        "busy-group",
        "-t",
        "busy",
        "--to",
        "earliest",
        "--execute",
    ]));
    assert!(err.contains("1 active member ("), "{err}");
}

/// `ferrolog group reset-offsets GROUP ARGS... --output json`, parsed; stderr beside it.
fn reset_json(broker: &TestBroker, group: &str, args: &[&str]) -> (serde_json::Value, String) {
    let out = broker
        .ferrolog()
        .args(["group", "reset-offsets", group])
        .args(args)
        .args(["--output", "json"])
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{args:?}: {err}");
    (serde_json::from_slice(&out.stdout).expect("json"), err)
}

/// The plan's `(topic, partition, current, new)` rows.
fn plan_rows(v: &serde_json::Value) -> Vec<(String, i64, Option<i64>, i64)> {
    v["plan"]
        .as_array()
        .expect("plan")
        .iter()
        .map(|r| {
            (
                r["topic"].as_str().expect("topic").to_owned(),
                r["partition"].as_i64().expect("partition"),
                r["current"].as_i64(),
                r["new"].as_i64().expect("new"),
            )
        })
        .collect()
}

/// As Kafka's `--shift-by`: each committed offset moves by N (either way), the
/// dry run changes nothing, and a result outside the partition is clamped with
/// the same warning as `--to OFFSET`.
#[test]
fn reset_offsets_shift_by_moves_each_committed_offset() {
    let broker = TestBroker::start();
    topic_with(&broker, "shift", &[10, 10]);
    commit(&broker, "sh", "shift", &[(0, 4), (1, 8)]);

    let (plan, err) = reset_json(&broker, "sh", &["-t", "shift", "--shift-by", "-3"]);
    assert_eq!(
        plan_rows(&plan),
        [
            ("shift".into(), 0, Some(4), 1),
            ("shift".into(), 1, Some(8), 5)
        ],
        "{err}"
    );
    assert_eq!(describe_json(&broker, "sh")["total_lag"], 8, "a dry run");

    let (_, err) = reset_json(
        &broker,
        "sh",
        &["-t", "shift", "--shift-by", "3", "--execute"],
    );
    assert_eq!(
        err.trim(),
        "warning: shift-1: offset 11 is past the end of the partition (10); using 10"
    );
    assert_eq!(
        consume(&broker, "shift", &["--group", "sh"]),
        numbered(10)[7..]
    );

    let (plan, err) = reset_json(
        &broker,
        "sh",
        &["-t", "shift", "-p", "0", "--shift-by", "-20"],
    );
    assert_eq!(plan_rows(&plan), [("shift".into(), 0, Some(10), 0)]);
    assert_eq!(
        err.trim(),
        "warning: shift-0: offset -10 is below the log start (0); using 0"
    );
}

/// Kafka refuses to shift a partition the group has no offset for: there is
/// nothing to shift from, and guessing a base would move the group silently.
#[test]
fn reset_offsets_shift_by_refuses_a_partition_without_a_committed_offset() {
    let broker = TestBroker::start();
    topic_with(&broker, "half", &[3, 3]);
    commit(&broker, "hg", "half", &[(0, 1)]);
    let err = fails(broker.ferrolog().args([
        "group",
        "reset-offsets",
        "hg",
        "-t",
        "half",
        "--shift-by",
        "1",
        "--execute",
    ]));
    assert_eq!(
        err.trim(),
        "error: group \"hg\" has no committed offset for half-1 to shift; \
         reset it with --to, or leave it out with --partition"
    );
    assert_eq!(describe_json(&broker, "hg")["offsets"][0]["committed"], 1);
}

/// As Kafka's `--to-current`: a committed offset stays as it is, and a
/// partition without one is set to its end.
#[test]
fn reset_offsets_to_current_keeps_committed_offsets_and_fills_in_the_end() {
    let broker = TestBroker::start();
    topic_with(&broker, "cur", &[3, 5]);
    commit(&broker, "cg", "cur", &[(0, 1)]);
    let (plan, _) = reset_json(&broker, "cg", &["-t", "cur", "--to-current"]);
    assert_eq!(
        plan_rows(&plan),
        [("cur".into(), 0, Some(1), 1), ("cur".into(), 1, None, 5)]
    );
    reset_json(&broker, "cg", &["-t", "cur", "--to-current", "--execute"]);
    let v = describe_json(&broker, "cg");
    assert_eq!(v["offsets"][1]["committed"], 5, "{v}");
    assert_eq!(v["total_lag"], 2, "{v}");
}

/// As Kafka's `--all-topics`: every topic the group has committed offsets
/// for, and no other.
#[test]
fn reset_offsets_all_topics_takes_the_topics_the_group_committed() {
    let broker = TestBroker::start();
    topic_with(&broker, "at-a", &[4]);
    topic_with(&broker, "at-b", &[6, 2]);
    topic_with(&broker, "at-other", &[3]);
    commit(&broker, "ag", "at-a", &[(0, 4)]);
    commit(&broker, "ag", "at-b", &[(0, 6)]);
    let (plan, _) = reset_json(
        &broker,
        "ag",
        &["--all-topics", "--to", "earliest", "--execute"],
    );
    assert_eq!(
        plan_rows(&plan),
        [
            ("at-a".into(), 0, Some(4), 0),
            ("at-b".into(), 0, Some(6), 0)
        ]
    );
    assert_eq!(describe_json(&broker, "ag")["total_lag"], 10);

    let err = fails(broker.ferrolog().args([
        "group",
        "reset-offsets",
        "nothing-committed",
        "--all-topics",
        "--to",
        "earliest",
    ]));
    assert_eq!(
        err.trim(),
        "error: group \"nothing-committed\" has no committed offsets; \
         name the topic to reset with --topic"
    );
}

/// One of --topic / --all-topics and one of --to / --shift-by / --to-current,
/// and --partition only with --topic.
#[test]
fn reset_offsets_needs_one_target_and_one_scope() {
    let broker = TestBroker::start();
    for args in [
        &["--topic", "t"][..],
        &["--topic", "t", "--to", "earliest", "--shift-by", "1"],
        &["--topic", "t", "--to-current", "--to", "latest"],
        &["--to", "earliest"],
        &["--all-topics", "--topic", "t", "--to", "earliest"],
        &["--all-topics", "--partition", "0", "--to", "earliest"],
    ] {
        let out = broker
            .ferrolog()
            .args(["group", "reset-offsets", "g"])
            .args(args)
            .output()
            .expect("runs");
        let err = String::from_utf8_lossy(&out.stderr);
        // Refused as usage (2), before anything is asked of the broker.
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("error: "), "{args:?}: {err}");
    }
}

#[test]
fn reset_offsets_to_an_offset_beyond_i64_says_so() {
    let broker = TestBroker::start();
    let err = fails(broker.ferrolog().args([
        "group",
        "reset-offsets",
        "g",
        "-t",
        "t",
        "--to",
        "99999999999999999999",
    ]));
    assert_eq!(
        err.trim(),
        "error: invalid value '99999999999999999999' for '--to <TO>': \
         offset 99999999999999999999 is too large (the largest is 9223372036854775807)"
    );
}
