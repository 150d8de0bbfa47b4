//! Topic administration and the error paths: every failure is one line on
//! stderr and a non-zero exit, never a panic.

mod common;

use common::{TestBroker, consume, fails, ferrolog_offline, ok, produce};

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
    assert!(out.contains("created topic t1 with 2 partitions"), "{out}");
    produce(&broker, "t1", &["--partition", "1"], &["a", "b", "c"]);

    let list = ok(broker.ferrolog().args(["topic", "list"]));
    assert!(
        list.lines()
            .any(|l| l.split_whitespace().take(2).collect::<Vec<_>>() == ["t1", "2"]),
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

/// A `min.insync.replicas` above the topic's replica count is accepted (as
/// Kafka accepts it) but said at once: every acks=all produce would fail.
#[test]
fn a_min_insync_above_the_replicas_is_warned_about_where_it_is_set() {
    let broker = TestBroker::start();
    let stderr = |args: &[&str]| {
        let out = broker.ferrolog().args(args).output().expect("runs");
        assert!(out.status.success(), "{args:?}: {out:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let warning = "min.insync.replicas=2 is more than isr's 1 replica: every acks=all produce to it will fail with NOT_ENOUGH_REPLICAS";
    let created = stderr(&[
        "topic",
        "create",
        "isr",
        "--config",
        "min.insync.replicas=2",
    ]);
    assert!(created.contains(warning), "{created}");
    let altered = stderr(&[
        "topic",
        "alter-config",
        "isr",
        "--set",
        "min.insync.replicas=2",
    ]);
    assert!(altered.contains(warning), "{altered}");
    // One replica is enough for 1; nothing to say.
    let fine = stderr(&[
        "topic",
        "alter-config",
        "isr",
        "--set",
        "min.insync.replicas=1",
    ]);
    assert!(!fine.contains("NOT_ENOUGH_REPLICAS"), "{fine}");
}

#[test]
fn a_topic_grows_keeps_its_records_and_never_shrinks() {
    let broker = TestBroker::start();
    ok(broker.ferrolog().args(["topic", "create", "g", "-p", "2"]));
    produce(&broker, "g", &["--partition", "1"], &["a", "b"]);
    let out = ok(broker
        .ferrolog()
        .args(["topic", "grow", "g", "--partitions", "5"]));
    assert!(out.contains("grew topic g from 2 to 5 partitions"), "{out}");
    produce(&broker, "g", &["--partition", "4"], &["c"]);
    let json = ok(broker
        .ferrolog()
        .args(["topic", "describe", "g", "--output", "json"]));
    let v: serde_json::Value = serde_json::from_str(json.trim()).expect("json");
    let ends: Vec<i64> = (0..5)
        .map(|p| {
            v["partitions"][p]["end_offset"]
                .as_i64()
                .expect("an offset")
        })
        .collect();
    assert_eq!(ends, [0, 2, 0, 0, 1]);

    for (count, why) in [("5", "the same count"), ("3", "fewer")] {
        let err = fails(broker.ferrolog().args(["topic", "grow", "g", "-p", count]));
        assert_eq!(
            err.trim(),
            "error: g already has 5 partitions: --partitions must be more (a topic never shrinks)",
            "{why}"
        );
    }
    let err = fails(broker.ferrolog().args(["topic", "grow", "nope", "-p", "3"]));
    assert!(err.contains("unknown topic \"nope\""), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn describe_shows_the_healthy_partitions_beside_a_failed_one() {
    // Describe failed whole with "ListOffsets for damaged-0 failed: KAFKA_STORAGE_ERROR".
    let broker = with_a_failed_partition();
    let out = ok(broker
        .ferrolog()
        .args(["topic", "describe", "damaged", "--output", "json"]));
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["partitions"][0]["error"], "KAFKA_STORAGE_ERROR", "{v}");
    assert_eq!(
        (
            &v["partitions"][1]["end_offset"],
            &v["partitions"][1]["records"]
        ),
        (&serde_json::json!(1), &serde_json::json!(1)),
        "{v}"
    );
    let text = ok(broker.ferrolog().args(["topic", "describe", "damaged"]));
    assert!(
        text.lines()
            .any(|l| l.starts_with("0 ") && l.ends_with("KAFKA_STORAGE_ERROR")),
        "{text}"
    );
}

#[test]
fn consume_reads_the_healthy_partitions_and_fails_naming_the_failed_one() {
    // It failed whole, printing nothing: "ListOffsets for damaged-0 failed: KAFKA_STORAGE_ERROR".
    let broker = with_a_failed_partition();
    let out = broker
        .ferrolog()
        .args(["consume", "damaged"])
        .output()
        .expect("runs");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(!out.status.success(), "{stdout}");
    assert_eq!(stdout, "c\n");
    assert!(
        stderr.trim_end().ends_with(
            "error: 1 partition of damaged could not be read: damaged-0: KAFKA_STORAGE_ERROR"
        ),
        "{stderr}"
    );
    // Asked for alone, the failed partition is an error with nothing read.
    let err = fails(
        broker
            .ferrolog()
            .args(["consume", "damaged", "--partition", "0"]),
    );
    assert!(err.contains("damaged-0: KAFKA_STORAGE_ERROR"), "{err}");
}

/// A broker whose topic "damaged" has partition 0 failed (its log was cut
/// short below what was fsynced, which fails it at start-up) and partition 1
/// holding one record, "c".
fn with_a_failed_partition() -> TestBroker {
    let mut broker = TestBroker::start();
    ok(broker
        .ferrolog()
        .args(["topic", "create", "damaged", "--partitions", "2"]));
    produce(&broker, "damaged", &["--partition", "0"], &["a", "b"]);
    produce(&broker, "damaged", &["--partition", "1"], &["c"]);
    broker.stop();
    let log = broker
        .data_dir()
        .join("damaged-0")
        .join("00000000000000000000.log");
    let bytes = std::fs::read(&log).expect("partition 0's log");
    std::fs::write(&log, &bytes[..bytes.len() - 10]).expect("cut it short");
    broker.restart()
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
    let cases: [(&[&str], &str); 6] = [
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
            &[
                "group",
                "reset-offsets",
                "g",
                "--topic",
                "t",
                "--to",
                "bogus",
            ],
            "expected earliest, latest, an offset",
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

/// Flags that contradict each other, or that would be ignored, are refused
/// with one line and exit 2 instead of one of them silently winning.
#[test]
fn conflicting_or_ignored_flags_are_refused() {
    let broker = TestBroker::start();
    produce(&broker, "c", &[], &["x"]);
    let cases: [(&[&str], &str); 3] = [
        (
            &["produce", "c", "--idempotent", "--no-idempotent"],
            "'--idempotent' cannot be used with '--no-idempotent'",
        ),
        (
            &["consume", "c", "--output", "json", "--format", "{value}"],
            "--format cannot be used with --output json",
        ),
        (
            &["produce", "c", "--key-separator", ""],
            "invalid value '' for '--key-separator <SEP>'",
        ),
    ];
    for (args, expected) in cases {
        let out = broker
            .ferrolog()
            .args(args)
            .write_stdin("k:v\n")
            .output()
            .expect("runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    }
    // Each flag alone, and --format with text output, still work.
    assert_eq!(
        consume(&broker, "c", &["--output", "text", "--format", "<{value}>"]),
        ["<x>"]
    );
    produce(
        &broker,
        "c",
        &["--no-idempotent", "--key-separator", ":"],
        &["k:v"],
    );
    assert_eq!(
        consume(&broker, "c", &["--format", "{key}={value}"]),
        ["=x", "k=v"]
    );
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
    let commands: [&[&str]; 20] = [
        &[],
        &["topic"],
        &["group"],
        &["perf"],
        &["perf", "consume"],
        &["produce"],
        &["consume"],
        &["topic", "create"],
        &["topic", "list"],
        &["topic", "describe"],
        &["topic", "delete"],
        &["topic", "alter-config"],
        &["topic", "delete-records"],
        &["topic", "grow"],
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

#[test]
fn reading_from_beyond_the_end_names_the_range() {
    let broker = TestBroker::start();
    produce(&broker, "range", &[], &["a", "b"]);
    // Whether or not it would follow: an offset past the end is a mistake
    // to say, not an empty read to exit 0 from.
    for follow in [&["--follow"][..], &[]] {
        let err = fails(
            broker
                .ferrolog()
                .args(["consume", "range", "--from", "100"])
                .args(follow),
        );
        assert_eq!(
            err.trim(),
            "error: offset 100 is out of range for range-0, which holds offsets 0..2",
            "{follow:?}"
        );
    }
    // The end itself is in range: nothing to read yet.
    let out = ok(broker.ferrolog().args(["consume", "range", "--from", "2"]));
    assert_eq!(out, "");
}

#[test]
fn a_closed_pipe_ends_consume_quietly() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let broker = TestBroker::start();
    produce(&broker, "pipe", &[], &["first"]);
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("ferrolog"))
        .args(["-b", &broker.bootstrap(), "consume", "pipe", "--follow"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("read");
    assert_eq!(line, "first\n");
    // Close our end (like `| head -1` exiting), then give it something to write.
    drop(stdout);
    produce(&broker, "pipe", &[], &["second", "third"]);
    let deadline = std::time::Instant::now() + common::TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            child.kill().ok();
            panic!("consume kept running after its stdout closed");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr)
        .expect("stderr");
    assert!(status.success(), "{status:?}: {stderr}");
    assert!(stderr.is_empty(), "{stderr}");
}

#[test]
fn produce_reports_refused_topics_at_once() {
    let broker = TestBroker::start_with(|c| c.auto_create_topics = false);
    let started = std::time::Instant::now();
    let err = fails(
        broker
            .ferrolog()
            .args(["produce", "absent"])
            .write_stdin("x\n"),
    );
    assert_eq!(err.trim(), "error: unknown topic \"absent\"");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "waited for a topic that cannot appear"
    );
}

/// Every command that names a topic says what is wrong with an invalid name,
/// in the words `topic create` uses, rather than a bare
/// INVALID_TOPIC_EXCEPTION (a Metadata response carries no message) or an
/// "unknown topic" that sends the user looking for a typo.
#[test]
fn commands_naming_an_invalid_topic_say_why() {
    let broker = TestBroker::start();
    let bad = "bad name!";
    let commands: &[&[&str]] = &[
        &["produce", bad],
        &["consume", bad],
        &["topic", "create", bad],
        &["topic", "describe", bad],
        &["topic", "delete", bad],
        &["topic", "grow", bad, "--partitions", "2"],
        &["topic", "alter-config", bad, "--set", "retention.ms=1"],
        &["topic", "delete-records", bad, "--before", "1"],
        &[
            "group",
            "reset-offsets",
            "g",
            "--topic",
            bad,
            "--to",
            "earliest",
        ],
        &["perf", "produce", bad, "--records", "1"],
        &["perf", "consume", bad],
    ];
    for args in commands {
        let err = fails(broker.ferrolog().args(*args).write_stdin("x\n"));
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.contains("invalid topic name \"bad name!\": only ASCII letters, digits, '.', '_' and '-' are allowed"),
            "{args:?}: {err}"
        );
    }
    let long = "x".repeat(250);
    let err = fails(broker.ferrolog().args(["consume", &long]));
    assert!(err.contains("longer than 249 characters"), "{err}");
}

/// A server on 127.0.0.1:0 that answers every request with an ApiVersions
/// body claiming 2^31 api keys in 10 bytes (v0-shaped, so the client's v0
/// fallback gets the same).
fn hostile_server() -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut size = [0u8; 4];
            while stream.read_exact(&mut size).is_ok() {
                let mut request = vec![0u8; usize::try_from(i32::from_be_bytes(size)).unwrap_or(0)];
                if stream.read_exact(&mut request).is_err() || request.len() < 8 {
                    break;
                }
                let correlation = &request[4..8];
                let body = [0, 0, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0];
                let mut frame = 14i32.to_be_bytes().to_vec();
                frame.extend_from_slice(correlation);
                frame.extend_from_slice(&body);
                if stream.write_all(&frame).is_err() {
                    break;
                }
            }
        }
    });
    addr
}

#[test]
fn a_hostile_server_gets_one_line_and_a_non_zero_exit() {
    let addr = hostile_server();
    let out = ferrolog_offline()
        .args(["-b", &addr, "topic", "list"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with(&format!(
            "error: malformed ApiVersions v0 response from {addr}: "
        )),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn delete_records_moves_the_log_start_and_readers_below_it_go_on_from_there() {
    let broker = TestBroker::start();
    produce(&broker, "trim", &[], &["a", "b", "c", "d", "e"]);
    let out = ok(broker
        .ferrolog()
        .args(["topic", "delete-records", "trim", "--before", "3"]));
    assert_eq!(out.trim(), "trim-0: records now start at 3");
    assert_eq!(consume(&broker, "trim", &[]), ["d", "e"]);
    // A reader below the new start (a tail that retention overtook) went
    // on failing: "offset 1 is out of range for trim-0, which holds offsets 3..5".
    let out = broker
        .ferrolog()
        .args(["consume", "trim", "--from", "1"])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "d\ne\n");
    assert!(
        stderr.contains("trim-0: offset 1 is below the log start 3"),
        "{stderr}"
    );
    // Past the end is the broker's refusal, named per partition.
    let err = fails(
        broker
            .ferrolog()
            .args(["topic", "delete-records", "trim", "--before", "9"]),
    );
    assert_eq!(
        err.trim(),
        "error: could not delete records of trim-0: OFFSET_OUT_OF_RANGE"
    );
    let err =
        fails(
            broker
                .ferrolog()
                .args(["topic", "delete-records", "trim", "--before", "soon"]),
        );
    assert!(err.contains("neither an offset"), "{err}");
    let out = ok(broker
        .ferrolog()
        .args(["topic", "delete-records", "trim", "--before", "end"]));
    assert_eq!(out.trim(), "trim-0: records now start at 5");
    assert!(consume(&broker, "trim", &["--from", "beginning"]).is_empty());
}
