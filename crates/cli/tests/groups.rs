//! Consumer groups through the CLI: resume from committed offsets (also across
//! a broker restart), describe with lag, two CLIs splitting partitions, list
//! and delete. `reset-offsets` has its own file, `group_reset.rs`.

mod common;

use std::time::{Duration, Instant};

use common::groups::{
    commit, describe_json, follower, numbered, produce_numbered, topic_with, wait_for,
    with_coordinator,
};
use common::{TestBroker, consume, fails, ok, produce};

#[test]
fn group_resumes_from_committed_offsets_and_shows_lag() {
    let broker = TestBroker::start();
    let lines = numbered(10);
    produce_numbered(&broker, "g-topic", &lines);

    assert_eq!(
        consume(
            &broker,
            "g-topic",
            &["--group", "g1", "--max-messages", "4"]
        ),
        lines[..4]
    );
    let v = describe_json(&broker, "g1");
    assert_eq!(v["offsets"][0]["committed"], 4);
    assert_eq!(v["offsets"][0]["end"], 10);
    assert_eq!(v["offsets"][0]["lag"], 6);
    assert_eq!(v["total_lag"], 6);
    let text = ok(broker.ferrolog().args(["group", "describe", "g1"]));
    assert!(text.contains("total lag: 6"), "{text}");

    // The next run picks up where the first stopped, and so does one after a broker restart.
    assert_eq!(consume(&broker, "g-topic", &["--group", "g1"]), lines[4..]);
    assert!(consume(&broker, "g-topic", &["--group", "g1"]).is_empty());
    let broker = broker.restart();
    produce_numbered(&broker, "g-topic", &["after".to_owned()]);
    assert_eq!(consume(&broker, "g-topic", &["--group", "g1"]), ["after"]);
    assert_eq!(describe_json(&broker, "g1")["total_lag"], 0);

    let list = ok(broker.ferrolog().args(["group", "list"]));
    assert!(list.lines().any(|l| l.starts_with("g1 ")), "{list}");
    ok(broker.ferrolog().args(["group", "delete", "g1"]));
    let list = ok(broker.ferrolog().args(["group", "list"]));
    assert!(!list.lines().any(|l| l.starts_with("g1 ")), "{list}");
}

#[test]
fn two_clis_in_one_group_split_the_partitions() {
    let broker = TestBroker::start();
    ok(broker
        .ferrolog()
        .args(["topic", "create", "split", "--partitions", "2"]));
    let _a = follower(&broker, "split", "pair");
    let _b = follower(&broker, "split", "pair");
    let v = wait_for(
        &broker,
        "pair",
        "two members with one partition each",
        |v| {
            let members = v["members"].as_array().cloned().unwrap_or_default();
            members.len() == 2
                && members.iter().all(|m| {
                    m["assignment"]["split"]
                        .as_array()
                        .is_some_and(|a| a.len() == 1)
                })
        },
    );
    let mut assigned: Vec<i64> = v["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| m["assignment"]["split"][0].as_i64().expect("p"))
        .collect();
    assigned.sort_unstable();
    assert_eq!(assigned, [0, 1]);
}

#[test]
fn unknown_group_says_so() {
    let broker = TestBroker::start();
    let err = fails(broker.ferrolog().args(["group", "describe", "nobody"]));
    assert_eq!(err.trim(), "error: unknown group \"nobody\"");
}

#[test]
fn sigterm_stops_a_follower_and_it_leaves_its_group() {
    // `kill`, `timeout` and service managers send SIGTERM. Killed outright, the member
    // held its partitions until its session timed out, and the group could be neither
    // reset nor deleted meanwhile.
    let broker = TestBroker::start();
    produce_numbered(&broker, "term", &numbered(3));
    let mut follower = follower(&broker, "term", "term-group");
    assert_eq!(follower.next_line(), "m0");
    wait_for(&broker, "term-group", "a member", |v| {
        v["members"].as_array().is_some_and(|m| m.len() == 1)
    });
    let status = follower.stop_with("TERM");
    assert!(
        status.is_some_and(|s| s.success()),
        "SIGTERM stops the follower cleanly: {status:?}"
    );
    let out = broker
        .ferrolog()
        .args(["group", "describe", "term-group", "--output", "json"])
        .output()
        .expect("runs");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        (v["state"].as_str(), v["members"].as_array().map(Vec::len)),
        (Some("Empty"), Some(0)),
        "the member left at once: {v}"
    );
}

#[test]
fn ctrl_c_stops_a_group_follower_while_the_broker_is_down() {
    use std::io::BufRead;

    let mut broker = TestBroker::start();
    produce(&broker, "down", &[], &["x"]);
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("ferrolog"))
        .args(["-b", &broker.bootstrap(), "consume", "down", "--group", "g"])
        .arg("--follow")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn follower");
    let mut lines = std::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    assert_eq!(lines.next().and_then(Result::ok).as_deref(), Some("x"));
    broker.stop();
    // Let it fail and start waiting the broker out, then press Ctrl-C.
    std::thread::sleep(Duration::from_millis(2500));
    let pid = child.id().to_string();
    let sent = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill");
    assert!(sent.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break Some(status);
        }
        if Instant::now() > deadline {
            child.kill().ok();
            child.wait().ok();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        status.is_some_and(|s| s.success()),
        "Ctrl-C did not stop the follower: {status:?}"
    );
}

/// `list` shows the protocol type ("consumer"), which is not what `describe`
/// calls the protocol (the assignor, "range").
#[test]
fn group_list_names_the_protocol_type_column_for_what_it_holds() {
    let broker = TestBroker::start();
    produce_numbered(&broker, "lt", &numbered(1));
    consume(&broker, "lt", &["--group", "lg"]);
    let list = ok(broker.ferrolog().args(["group", "list"]));
    let header: Vec<&str> = list
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(header, ["GROUP", "STATE", "PROTOCOL-TYPE"], "{list}");
    let json = ok(broker
        .ferrolog()
        .args(["group", "list", "--output", "json"]));
    let v: serde_json::Value = serde_json::from_str(json.trim()).expect("json");
    assert_eq!(v[0]["protocol_type"], "consumer", "{v}");
}

/// A group given offsets by a reset, which no member ever joined, has no
/// protocol type: the column shows `-` rather than a blank a script would
/// not see as a field.
#[test]
fn group_list_shows_a_dash_for_a_group_that_only_has_offsets() {
    let broker = TestBroker::start();
    produce_numbered(&broker, "only", &numbered(2));
    ok(broker.ferrolog().args([
        "group",
        "reset-offsets",
        "set-by-tool",
        "--topic",
        "only",
        "--to",
        "earliest",
        "--execute",
    ]));
    let list = ok(broker.ferrolog().args(["group", "list"]));
    let row: Vec<&str> = list
        .lines()
        .find(|l| l.starts_with("set-by-tool"))
        .unwrap_or_else(|| panic!("no row: {list}"))
        .split_whitespace()
        .collect();
    assert_eq!(row, ["set-by-tool", "Empty", "-"], "{list}");
}

/// A committed offset past the end is a mistake to notice: the lag is shown
/// negative, as Kafka's tool shows it, and is left out of the total.
#[test]
fn describe_shows_a_negative_lag_for_an_offset_past_the_end() {
    let broker = TestBroker::start();
    topic_with(&broker, "neg", &[3, 5]);
    commit(&broker, "ng", "neg", &[(0, 99_999), (1, 2)]);
    let v = describe_json(&broker, "ng");
    assert_eq!(v["offsets"][0]["lag"], -99_996, "{v}");
    assert_eq!(v["offsets"][1]["lag"], 3, "{v}");
    assert_eq!(v["total_lag"], 3, "{v}");
    let text = ok(broker.ferrolog().args(["group", "describe", "ng"]));
    let row: Vec<&str> = text
        .lines()
        .find(|l| l.starts_with("neg ") && l.contains("99999"))
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(row, ["neg", "0", "99999", "3", "-99996", "-"], "{text}");
    assert!(
        text.ends_with("total lag: 3 (leaves out 1 partition committed past the end)\n"),
        "{text}"
    );
}

#[test]
fn deleting_an_unknown_group_says_so() {
    let broker = TestBroker::start();
    let err = fails(broker.ferrolog().args(["group", "delete", "nobody"]));
    assert_eq!(err.trim(), "error: unknown group \"nobody\"");
}

#[test]
fn deleting_a_group_with_members_names_them() {
    let broker = TestBroker::start();
    produce_numbered(&broker, "del", &numbered(1));
    let _follower = follower(&broker, "del", "del-group");
    wait_for(&broker, "del-group", "a member", |v| {
        v["members"].as_array().is_some_and(|m| m.len() == 1)
    });
    let err = fails(broker.ferrolog().args(["group", "delete", "del-group"]));
    assert_eq!(
        err.trim(),
        "error: group \"del-group\" has 1 active member; stop it before deleting the group"
    );
}

/// `consume --group` joins with the range assignor only; a group whose
/// members chose another cannot take it, and the error says which.
#[test]
fn consume_into_a_group_of_another_assignor_names_both() {
    use bytes::Bytes;
    use kafka_protocol::messages::JoinGroupRequest;
    use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
    use kafka_protocol::protocol::StrBytes;

    let broker = TestBroker::start();
    produce_numbered(&broker, "mix", &numbered(1));
    let broker = &broker;
    with_coordinator(broker, "mixg", |_client, coordinator| async move {
        let s = |v: &str| StrBytes::from_string(v.to_owned());
        let subscription =
            ferrolog_client::assignment::encode_subscription(&["mix".to_owned()]).expect("meta");
        let join = |member: StrBytes| {
            JoinGroupRequest::default()
                .with_group_id(s("mixg").into())
                .with_session_timeout_ms(60_000)
                .with_rebalance_timeout_ms(10_000)
                .with_member_id(member)
                .with_protocol_type(s("consumer"))
                .with_protocols(vec![
                    JoinGroupRequestProtocol::default()
                        .with_name(s("cooperative-sticky"))
                        .with_metadata(Bytes::clone(&subscription)),
                ])
        };
        let first = coordinator
            .lock()
            .await
            .send(&join(s("")))
            .await
            .expect("join");
        // From JoinGroup v4 the first join only hands out a member id.
        if first.error_code != 0 {
            let joined = coordinator
                .lock()
                .await
                .send(&join(first.member_id))
                .await
                .expect("join");
            assert_eq!(joined.error_code, 0);
        }
        // The member holds the group (60 s session) while the CLI tries to join it.
        let err = fails(
            broker
                .ferrolog()
                .args(["consume", "mix", "--group", "mixg"]),
        );
        assert_eq!(
            err.trim(),
            "error: cannot join group \"mixg\": its members use the cooperative-sticky \
             assignor and this client speaks only range"
        );
    });
}
