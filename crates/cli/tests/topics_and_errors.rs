//! Topic administration and the error paths: every failure is one line on
//! stderr and a non-zero exit, never a panic.

mod common;

use common::{TestBroker, fails, ferrolog_offline, ok, produce};

#[test]
fn topic_lifecycle() {
    let broker = TestBroker::start();
    let out = ok(broker.ferrolog().args([
        "topic",
        "create",
        "t1",
        "-p",
        "2",
        "--config",
        "retention.ms=3600000",
    ]));
    assert!(
        out.contains("created topic t1 with 2 partition(s)"),
        "{out}"
    );
    produce(&broker, "t1", &["--partition", "1"], &["a", "b", "c"]);

    let list = ok(broker.ferrolog().args(["topic", "list"]));
    assert!(
        list.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["t1", "2"]),
        "{list}"
    );

    let json = ok(broker
        .ferrolog()
        .args(["topic", "describe", "t1", "--output", "json"]));
    let v: serde_json::Value = serde_json::from_str(json.trim()).expect("json");
    assert_eq!(v["partitions"][1]["start_offset"], 0);
    assert_eq!(v["partitions"][1]["end_offset"], 3);
    assert_eq!(v["partitions"][0]["end_offset"], 0);
    assert_eq!(v["configs"]["retention.ms"], "3600000");

    ok(broker
        .ferrolog()
        .args(["topic", "alter-config", "t1", "--set", "retention.ms=60000"]));
    let json = ok(broker
        .ferrolog()
        .args(["topic", "describe", "t1", "--output", "json"]));
    let v: serde_json::Value = serde_json::from_str(json.trim()).expect("json");
    assert_eq!(v["configs"]["retention.ms"], "60000");

    let text = ok(broker.ferrolog().args(["topic", "describe", "t1"]));
    assert!(
        text.contains("PARTITION") && text.contains("retention.ms"),
        "{text}"
    );

    ok(broker.ferrolog().args(["topic", "delete", "t1"]));
    let err = fails(broker.ferrolog().args(["topic", "describe", "t1"]));
    assert!(err.contains("unknown topic \"t1\""), "{err}");
}

#[test]
fn creating_an_existing_topic_names_the_kafka_error() {
    let broker = TestBroker::start();
    ok(broker.ferrolog().args(["topic", "create", "dup"]));
    let err = fails(broker.ferrolog().args(["topic", "create", "dup"]));
    assert!(err.contains("TOPIC_ALREADY_EXISTS"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn broker_down_names_the_address_and_cause() {
    // Bind then drop a listener so the port is very likely closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let addr = format!("127.0.0.1:{port}");
    for args in [
        vec!["topic", "list"],
        vec!["consume", "x"],
        vec!["group", "list"],
    ] {
        let out = ferrolog_offline()
            .args(["-b", &addr])
            .args(&args)
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.starts_with(&format!("error: cannot connect to {addr}: ")),
            "{err}"
        );
        assert!(err.to_lowercase().contains("refused"), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}

#[test]
fn unknown_topic_says_so() {
    let broker = TestBroker::start();
    let err = fails(broker.ferrolog().args(["consume", "nope"]));
    assert_eq!(err.trim(), "error: unknown topic \"nope\"");
    let err = fails(broker.ferrolog().args(["topic", "delete", "nope"]));
    assert!(err.contains("unknown topic"), "{err}");
}

#[test]
fn bad_flag_values_show_what_is_accepted() {
    let cases: [(&[&str], &str); 5] = [
        (
            &["produce", "t", "--acks", "2"],
            "[possible values: 0, 1, all]",
        ),
        (
            &["produce", "t", "--compression", "brotli"],
            "[possible values: none, gzip, snappy, lz4, zstd]",
        ),
        (
            &["consume", "t", "--from", "yesterday"],
            "expected beginning, end, an offset",
        ),
        (
            &["--output", "xml", "topic", "list"],
            "[possible values: text, json]",
        ),
        (
            &["topic", "create", "t", "--config", "novalue"],
            "expected KEY=VALUE",
        ),
    ];
    for (args, expected) in cases {
        let out = ferrolog_offline().args(args).output().expect("runs");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expected), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn bad_format_template_is_reported_before_reading() {
    let broker = TestBroker::start();
    produce(&broker, "fmt", &[], &["x"]);
    let err = fails(
        broker
            .ferrolog()
            .args(["consume", "fmt", "--format", "{nope}"]),
    );
    assert!(err.contains("unknown placeholder {nope}"), "{err}");
}

#[test]
fn out_of_range_partition_is_refused() {
    let broker = TestBroker::start();
    ok(broker.ferrolog().args(["topic", "create", "one"]));
    let err = fails(
        broker
            .ferrolog()
            .args(["produce", "one", "--partition", "5"])
            .write_stdin("x\n"),
    );
    assert!(err.contains("--partition 5 does not exist"), "{err}");
    let err = fails(
        broker
            .ferrolog()
            .args(["consume", "one", "--partition", "5"]),
    );
    assert!(err.contains("--partition 5 does not exist"), "{err}");
}

#[test]
fn every_command_has_help_with_an_example() {
    let commands: [&[&str]; 14] = [
        &[],
        &["produce"],
        &["consume"],
        &["topic", "create"],
        &["topic", "list"],
        &["topic", "describe"],
        &["topic", "delete"],
        &["topic", "alter-config"],
        &["group", "list"],
        &["group", "describe"],
        &["group", "reset-offsets"],
        &["group", "delete"],
        &["inspect"],
        &["perf", "produce"],
    ];
    for args in commands {
        let help = ok(ferrolog_offline().args(args).arg("--help"));
        assert!(
            help.contains("Example"),
            "{args:?} help has no example:\n{help}"
        );
    }
}
