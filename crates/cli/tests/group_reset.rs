//! `ferrolog group reset-offsets`: the plan, --execute, the targets (--to,
//! --shift-by, --to-current), the scopes (--topic, --partition, --all-topics),
//! clamping into the partition and the refusal while members are active.

mod common;

use common::groups::{describe_json, follower, numbered, produce_numbered, wait_for};
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
