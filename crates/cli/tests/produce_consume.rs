//! Produce → consume round trips through a real broker: keys, headers,
//! partitioning, replay from an offset and from a timestamp, compression.

mod common;

use common::{RawRecord, TestBroker, consume, fails, foreign_batch, ok, produce, produce_raw};

#[test]
fn round_trip_with_keys_and_headers() {
    let broker = TestBroker::start();
    ok(broker
        .ferrolog()
        .args(["topic", "create", "orders", "--partitions", "3"]));
    let summary = produce(
        &broker,
        "orders",
        &[
            "--key-separator",
            ":",
            "--header",
            "source=test",
            "--header",
            "v=2",
        ],
        &["k1:apple", "k2:banana", "k1:cherry", "k3:date"],
    );
    assert!(summary.contains("produced 4 records"), "{summary}");

    let lines = consume(
        &broker,
        "orders",
        &["--format", "{partition}|{offset}|{key}|{value}|{headers}"],
    );
    assert_eq!(lines.len(), 4, "{lines:?}");
    let mut seen: Vec<(String, String, String)> = lines
        .iter()
        .map(|l| {
            let f: Vec<&str> = l.split('|').collect();
            assert_eq!(f[4], "source=test,v=2", "{l}");
            (f[0].to_owned(), f[2].to_owned(), f[3].to_owned())
        })
        .collect();
    // Same key, same partition, in produce order.
    let k1: Vec<_> = seen.iter().filter(|(_, k, _)| k == "k1").collect();
    assert_eq!(k1.len(), 2);
    assert_eq!(k1[0].0, k1[1].0);
    seen.sort_by(|a, b| a.2.cmp(&b.2));
    let values: Vec<&str> = seen.iter().map(|(_, _, v)| v.as_str()).collect();
    assert_eq!(values, ["apple", "banana", "cherry", "date"]);
}

#[test]
fn keys_land_where_kafka_would_put_them() {
    let broker = TestBroker::start();
    ok(broker
        .ferrolog()
        .args(["topic", "create", "keyed", "--partitions", "4"]));
    // toPositive(murmur2("21")) % 4 == 0, as the Java client computes it.
    produce(&broker, "keyed", &["--key", "21"], &["x"]);
    let lines = consume(&broker, "keyed", &["--format", "{partition}"]);
    assert_eq!(lines, ["0"]);
}

/// `topic`'s one record, as `consume --output json` prints it.
fn only_json_record(broker: &TestBroker, topic: &str) -> serde_json::Value {
    let json = ok(broker
        .ferrolog()
        .args(["consume", topic, "--output", "json"]));
    serde_json::from_str(json.trim()).expect("one JSON line")
}

#[test]
fn json_output_carries_every_field() {
    let broker = TestBroker::start();
    produce(&broker, "j", &["--key", "k", "-H", "h=1"], &["hello"]);
    let lines = consume(&broker, "j", &[]);
    assert_eq!(lines, ["hello"]);
    let v = only_json_record(&broker, "j");
    assert_eq!(v["topic"], "j");
    assert_eq!(v["offset"], 0);
    assert_eq!(v["key"], "k");
    assert_eq!(v["value"], "hello");
    assert_eq!(
        v["headers"],
        serde_json::json!([{"key": "h", "value": "1"}])
    );
    assert!(v["timestamp"].as_i64().is_some_and(|t| t > 0));
}

/// Kafka allows a header key to repeat and keeps the order: every header
/// reaches the log, and both outputs show all of them.
#[test]
fn repeated_header_keys_are_kept_in_order() {
    let broker = TestBroker::start();
    produce(
        &broker,
        "dup",
        &["-H", "a=1", "-H", "b=x", "-H", "a=2"],
        &["v1"],
    );
    shows_headers(
        &broker,
        "dup",
        "a=1,b=x,a=2",
        serde_json::json!([
            {"key": "a", "value": "1"},
            {"key": "b", "value": "x"},
            {"key": "a", "value": "2"}
        ]),
    );
}

/// The only record of `topic` shows `text` under `--format {headers}` and
/// `json` as its JSON `headers`.
fn shows_headers(broker: &TestBroker, topic: &str, text: &str, json: serde_json::Value) {
    assert_eq!(consume(broker, topic, &["--format", "{headers}"]), [text]);
    assert_eq!(only_json_record(broker, topic)["headers"], json);
}

/// The same, for a record another client wrote (not the CLI's own encoder).
#[test]
fn repeated_header_keys_from_another_client_are_all_shown() {
    let broker = TestBroker::start();
    let headers: &[(&str, Option<&[u8]>)] = &[("a", Some(b"1")), ("a", None), ("a", Some(b"2"))];
    let batch = foreign_batch(
        &[RawRecord {
            key: None,
            value: Some(b"v"),
            headers,
        }],
        1_000,
    );
    produce_raw(&broker, "foreign", batch);
    shows_headers(
        &broker,
        "foreign",
        "a=1,a=,a=2",
        serde_json::json!([
            {"key": "a", "value": "1"},
            {"key": "a", "value": null},
            {"key": "a", "value": "2"}
        ]),
    );
}

/// `{headers}` in a `--format` can be split back apart and never writes
/// control or stray bytes to a terminal: `\`, `=` and `,` inside a header
/// key or value are escaped with a `\`, and a byte that is not printable
/// (a control character, or not part of valid UTF-8) as `\xNN`. Printable
/// text outside ASCII stays as it is.
#[test]
fn text_headers_escape_separators_and_unprintable_bytes() {
    let broker = TestBroker::start();
    let headers: &[(&str, Option<&[u8]>)] = &[
        ("k=1,x", Some(b"a=b,c")),
        ("back\\slash", Some(b"\xff\x00\n\x1b[31m")),
        ("caf\u{e9}", Some("\u{fc}ber".as_bytes())),
    ];
    let batch = foreign_batch(
        &[RawRecord {
            key: None,
            value: Some(b"v"),
            headers,
        }],
        1_000,
    );
    produce_raw(&broker, "escaped", batch);
    shows_headers(
        &broker,
        "escaped",
        "k\\=1\\,x=a\\=b\\,c,back\\\\slash=\\xff\\x00\\x0a\\x1b[31m,caf\u{e9}=\u{fc}ber",
        serde_json::json!([
            {"key": "k=1,x", "value": "a=b,c"},
            {"key": "back\\slash", "value_base64": "/wAKG1szMW0="},
            {"key": "caf\u{e9}", "value": "\u{fc}ber"}
        ]),
    );
}

/// Keys, values and header values that are not UTF-8 come back byte for
/// byte from the JSON output (base64 in a `_base64` field); text stays text.
#[test]
fn json_output_keeps_bytes_that_are_not_utf8() {
    let broker = TestBroker::start();
    let headers: &[(&str, Option<&[u8]>)] = &[("bin", Some(b"\x80\x00")), ("txt", Some(b"ok"))];
    let batch = foreign_batch(
        &[RawRecord {
            key: Some(b"k\xc3"),
            value: Some(b"\xff\xfe\x00bin"),
            headers,
        }],
        1_000,
    );
    produce_raw(&broker, "binary", batch);
    let v = only_json_record(&broker, "binary");
    assert_eq!(v["value_base64"], "//4AYmlu", "{v}");
    assert_eq!(v["key_base64"], "a8M=", "{v}");
    assert!(v.get("value").is_none() && v.get("key").is_none(), "{v}");
    assert_eq!(
        v["headers"],
        serde_json::json!([
            {"key": "bin", "value_base64": "gAA="},
            {"key": "txt", "value": "ok"}
        ])
    );
}

#[test]
fn every_compression_round_trips() {
    let broker = TestBroker::start();
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let topic = format!("c-{codec}");
        let lines: Vec<String> = (0..50).map(|i| format!("{codec}-{i}")).collect();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        produce(
            &broker,
            &topic,
            &["--compression", codec, "--acks", "1"],
            &refs,
        );
        assert_eq!(consume(&broker, &topic, &[]), lines, "{codec}");
    }
}

#[test]
fn replay_from_an_offset_and_max_messages() {
    let broker = TestBroker::start();
    let lines: Vec<String> = (0..20).map(|i| format!("r{i}")).collect();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    // Small batches so the replay starts in the middle of a batch too.
    produce(&broker, "replay", &["--batch-size", "3"], &refs);
    assert_eq!(consume(&broker, "replay", &["--from", "7"]), lines[7..]);
    assert_eq!(
        consume(&broker, "replay", &["--from", "7", "--max-messages", "2"]),
        lines[7..9]
    );
    assert!(consume(&broker, "replay", &["--from", "end"]).is_empty());
    assert_eq!(
        consume(&broker, "replay", &["--from", "beginning", "-n", "1"]),
        ["r0"]
    );
}

#[test]
fn replay_from_a_timestamp() {
    let broker = TestBroker::start();
    produce(&broker, "ts", &[], &["old1", "old2"]);
    std::thread::sleep(std::time::Duration::from_millis(1200));
    let cut = std::time::SystemTime::now();
    std::thread::sleep(std::time::Duration::from_millis(50));
    produce(&broker, "ts", &[], &["new1", "new2"]);
    let since = cut
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970");
    let rfc3339 = humantime_like(since.as_millis() as i64);
    assert_eq!(
        consume(&broker, "ts", &["--from", &rfc3339]),
        ["new1", "new2"]
    );
    // Relative: everything from the last hour, and nothing from the future.
    assert_eq!(consume(&broker, "ts", &["--from", "-1h"]).len(), 4);
    assert_eq!(
        consume(&broker, "ts", &["--from", "-1s", "--format", "{value}"]),
        ["new1", "new2"]
    );
}

/// Milliseconds since the epoch → RFC 3339 (UTC), without pulling a time crate into the tests.
fn humantime_like(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}.{millis:03}Z")
}

#[test]
fn partition_flag_and_file_input() {
    let broker = TestBroker::start();
    ok(broker
        .ferrolog()
        .args(["topic", "create", "pf", "--partitions", "2"]));
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("in.txt");
    std::fs::write(&file, "a\nb\nc\n").expect("write");
    let out = ok(broker
        .ferrolog()
        .args(["produce", "pf", "--partition", "1", "--file"])
        .arg(&file));
    assert!(
        out.contains("partition 1: 3 records, offsets 0..=2"),
        "{out}"
    );
    assert_eq!(
        consume(&broker, "pf", &["--partition", "1"]),
        ["a", "b", "c"]
    );
    assert!(consume(&broker, "pf", &["--partition", "0"]).is_empty());
}

#[test]
fn followers_outlive_a_broker_restart() {
    use common::Background;

    let broker = TestBroker::start();
    produce(&broker, "live", &[], &["before"]);
    let plain = Background::start(&broker, &["consume", "live", "--follow"]);
    let grouped = Background::start(
        &broker,
        &["consume", "live", "--follow", "--group", "watchers"],
    );
    assert_eq!(plain.next_line(), "before");
    assert_eq!(grouped.next_line(), "before");
    // The group commits after it prints (at-least-once); wait for that commit so
    // the restart does not legitimately replay "before".
    let deadline = std::time::Instant::now() + common::TIMEOUT;
    loop {
        let out = ok(broker
            .ferrolog()
            .args(["group", "describe", "watchers", "--output", "json"]));
        let v: serde_json::Value = serde_json::from_str(out.trim()).expect("json");
        if v["offsets"][0]["committed"] == 1 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no commit: {v}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }

    let broker = broker.restart_same_port();
    produce(&broker, "live", &[], &["after"]);
    assert_eq!(plain.next_line(), "after");
    assert_eq!(grouped.next_line(), "after");
}

#[test]
fn an_interactive_producer_outlives_a_broker_restart_without_duplicates() {
    use std::io::Write;

    let broker = TestBroker::start();
    let (child, mut stdin) = producer_with_one_line_in(&broker, "typed", &[]);
    let broker = broker.restart_same_port();
    writeln!(stdin, "two").expect("write");
    drop(stdin);
    let out = child.wait_with_output().expect("producer exits");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(consume(&broker, "typed", &[]), ["one", "two"]);
}

/// `ferrolog produce TOPIC ARGS` against `broker`, reading lines from a
/// pipe the test writes, with its stdout and stderr kept for the asserts.
fn spawn_producer(broker: &TestBroker, topic: &str, args: &[&str]) -> std::process::Child {
    std::process::Command::new(assert_cmd::cargo::cargo_bin("ferrolog"))
        .args(["-b", &broker.bootstrap(), "produce", topic])
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn producer")
}

/// A `ferrolog produce` on `topic` with `args`, fed "one" and left running
/// once that line is in the log: the child and its open stdin.
fn producer_with_one_line_in(
    broker: &TestBroker,
    topic: &str,
    args: &[&str],
) -> (std::process::Child, std::process::ChildStdin) {
    use std::io::Write;

    ok(broker.ferrolog().args(["topic", "create", topic]));
    let mut child = spawn_producer(broker, topic, args);
    let mut stdin = child.stdin.take().expect("stdin");
    writeln!(stdin, "one").expect("write");
    stdin.flush().expect("flush");
    let deadline = std::time::Instant::now() + common::TIMEOUT;
    while consume(broker, topic, &[]).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "first line never arrived"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    (child, stdin)
}

#[test]
fn a_producer_waits_out_a_broker_that_is_down_for_seconds() {
    use std::io::Write;

    let mut broker = TestBroker::start();
    let (child, mut stdin) = producer_with_one_line_in(&broker, "patient", &[]);
    // Down for longer than a quick restart: the line typed meanwhile is
    // retried until the broker is back (within --delivery-timeout-ms).
    broker.stop();
    writeln!(stdin, "two").expect("write");
    stdin.flush().expect("flush");
    std::thread::sleep(std::time::Duration::from_secs(4));
    let broker = broker.restart_same_port();
    drop(stdin);
    let out = child.wait_with_output().expect("producer exits");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("retrying"), "it did wait: {stderr}");
    assert!(
        !stderr.contains('\x1b'),
        "no colour codes when redirected: {stderr}"
    );
    assert_eq!(consume(&broker, "patient", &[]), ["one", "two"]);
}

#[test]
fn a_producer_started_before_its_broker_waits_for_it() {
    use std::io::Write;

    // The help promises retries while the broker is unreachable; the first
    // contact failed at once with "cannot connect".
    let mut broker = TestBroker::start();
    broker.stop();
    let mut child = spawn_producer(&broker, "early", &[]);
    let mut stdin = child.stdin.take().expect("stdin");
    writeln!(stdin, "first").expect("write");
    drop(stdin);
    std::thread::sleep(std::time::Duration::from_secs(2));
    let broker = broker.restart_same_port();
    let out = child.wait_with_output().expect("producer exits");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("retrying"), "it did wait: {stderr}");
    assert_eq!(consume(&broker, "early", &[]), ["first"]);
}

#[test]
fn a_producer_gives_up_after_its_delivery_timeout() {
    use std::io::Write;

    let mut broker = TestBroker::start();
    let (child, mut stdin) =
        producer_with_one_line_in(&broker, "hopeless", &["--delivery-timeout-ms", "500"]);
    broker.stop();
    writeln!(stdin, "two").expect("write");
    drop(stdin);
    let out = child.wait_with_output().expect("producer exits");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(!out.status.success(), "{stdout}");
    assert!(stdout.contains("produced 1 record ("), "{stdout}");
    assert!(
        stderr.contains("1 of the 2 records read was not acknowledged"),
        "{stderr}"
    );
}

#[test]
fn follow_stops_at_max_messages_and_acks_zero_still_lands() {
    let broker = TestBroker::start();
    let out = produce(
        &broker,
        "fire",
        &["--acks", "0", "--no-idempotent"],
        &["x", "y"],
    );
    assert!(out.contains("acks=0: offsets unknown"), "{out}");
    // acks=0 has no answer to wait for; the records arrive shortly after.
    let lines = consume(&broker, "fire", &["--follow", "--max-messages", "2"]);
    assert_eq!(lines, ["x", "y"]);
    assert_eq!(
        consume(&broker, "fire", &["--exit-at-end", "--from", "1"]),
        ["y"]
    );
}

#[test]
fn a_trickling_input_is_sent_while_it_still_flows() {
    use std::io::Write;
    use std::sync::atomic::{AtomicBool, Ordering};

    let broker = TestBroker::start();
    ok(broker.ferrolog().args(["topic", "create", "trickle"]));
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("ferrolog"))
        .args(["-b", &broker.bootstrap(), "produce", "trickle"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn producer");
    let mut stdin = child.stdin.take().expect("stdin");
    // A line every 10 ms, never pausing as long as the 50 ms linger: the
    // first lines must still reach the log while the input flows.
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut written = 0usize;
            let end = std::time::Instant::now() + common::TIMEOUT;
            while !stop.load(Ordering::Relaxed) && std::time::Instant::now() < end {
                writeln!(stdin, "line {written}").expect("write");
                stdin.flush().expect("flush");
                written += 1;
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            written
        })
    };
    // Five seconds: a hundred times the linger, and half the time the input
    // takes to fill a default batch of 1,000 records (which would send it).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut arrived = false;
    while !arrived && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
        arrived = !consume(&broker, "trickle", &[]).is_empty();
    }
    stop.store(true, Ordering::Relaxed);
    let written = writer.join().expect("writer");
    assert!(child.wait().expect("producer exits").success());
    assert!(arrived, "nothing arrived while {written} lines flowed in");
    assert_eq!(consume(&broker, "trickle", &[]).len(), written);
}

#[test]
fn large_lines_are_batched_within_the_message_size_limit() {
    let broker = TestBroker::start();
    // 500 KiB then 600 KiB: together past the topic's 1 MiB max.message.bytes.
    let first = "a".repeat(500 * 1024);
    let second = "b".repeat(600 * 1024);
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("large.txt");
    std::fs::write(&file, format!("{first}\n{second}\n")).expect("write");
    let out = ok(broker
        .ferrolog()
        .args(["produce", "large", "--partition", "0", "--file"])
        .arg(&file));
    assert!(out.contains("produced 2 records"), "{out}");
    let got = consume(&broker, "large", &[]);
    assert_eq!(got.len(), 2);
    assert!(got[0] == first && got[1] == second);
}

#[test]
fn a_failure_midway_reports_what_was_acknowledged() {
    let broker = TestBroker::start();
    let huge = "h".repeat(2 * 1024 * 1024);
    let out = broker
        .ferrolog()
        .args(["produce", "midway", "--partition", "0"])
        .write_stdin(format!("first\nsecond\n{huge}\nnever\n"))
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stdout}");
    assert!(stdout.contains("produced 2 records"), "{stdout}");
    assert!(
        stderr.contains("1 of the 3 records read was not acknowledged"),
        "{stderr}"
    );
    assert_eq!(consume(&broker, "midway", &[]), ["first", "second"]);
}

#[test]
fn an_unreadable_file_creates_no_topic() {
    let broker = TestBroker::start();
    let err = fails(broker.ferrolog().args([
        "produce",
        "never-made",
        "--file",
        "/nonexistent/input.txt",
    ]));
    assert!(err.contains("cannot open /nonexistent/input.txt"), "{err}");
    // A directory opens but cannot be read: it said "0 of the 0 records read were not
    // acknowledged: cannot read input: Is a directory", after creating the topic.
    let dir = tempfile::tempdir().expect("temp dir");
    let err = fails(
        broker
            .ferrolog()
            .args(["produce", "never-made", "--file"])
            .arg(dir.path()),
    );
    assert_eq!(
        err.trim(),
        format!(
            "error: cannot read {}: it is a directory",
            dir.path().display()
        )
    );
    let list = ok(broker.ferrolog().args(["topic", "list"]));
    assert!(!list.contains("never-made"), "{list}");
}

#[test]
fn a_refusal_retried_until_the_deadline_is_logged_once() {
    // NOT_ENOUGH_REPLICAS is retriable, as in Kafka; it used to print one
    // WARN line per retry, a line a second for the whole delivery timeout.
    let broker = TestBroker::start();
    ok(broker.ferrolog().args([
        "topic",
        "create",
        "needs-two",
        "--config",
        "min.insync.replicas=2",
    ]));
    let out = broker
        .ferrolog()
        .args(["produce", "needs-two", "--acks", "all"])
        .args(["--delivery-timeout-ms", "2500"])
        .write_stdin("x\n")
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    let retries: Vec<&str> = stderr.lines().filter(|l| l.contains("retrying")).collect();
    assert_eq!(retries.len(), 1, "{stderr}");
    assert!(retries[0].contains("NOT_ENOUGH_REPLICAS"), "{stderr}");
    assert!(
        retries[0].contains("retrying for up to 2s 500ms"),
        "{stderr}"
    );
    assert!(
        stderr.trim_end().ends_with(
            "min.insync.replicas is 2, but this broker is the partition's only replica)"
        ),
        "{stderr}"
    );
}
