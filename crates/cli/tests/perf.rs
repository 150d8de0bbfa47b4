//! `ferrolog perf` runs bounded loads and reports throughput and latency
//! percentiles (figures are printed, never asserted).

mod common;

use common::{TestBroker, ok};

#[test]
fn perf_produce_then_consume_report_counts_and_percentiles() {
    let broker = TestBroker::start();
    ok(broker
        .ferrolog()
        .args(["topic", "create", "load", "--partitions", "2"]));
    let out = ok(broker.ferrolog().args([
        "perf",
        "produce",
        "load",
        "--records",
        "5000",
        "--record-size",
        "50",
        "--batch-size",
        "500",
        "--concurrency",
        "2",
        "--output",
        "json",
    ]));
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("json");
    assert_eq!(v["records"], 5000);
    assert_eq!(v["bytes"], 250_000);
    assert_eq!(v["requests"], 10);
    for q in ["p50", "p99", "p99_9", "max"] {
        assert!(
            v["latency_ms"][q].as_f64().is_some_and(|ms| ms > 0.0),
            "{q}: {v}"
        );
    }

    let out = ok(broker
        .ferrolog()
        .args(["perf", "consume", "load", "--output", "json"]));
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("json");
    assert_eq!(v["records"], 5000);

    let text = ok(broker.ferrolog().args([
        "perf",
        "produce",
        "load",
        "--duration",
        "300ms",
        "--batch-size",
        "10",
    ]));
    assert!(
        text.contains("records/s") && text.contains("p99.9"),
        "{text}"
    );
}

#[test]
fn perf_produce_at_a_rate_reports_the_round_trip_beside_the_scheduled_latency() {
    let broker = TestBroker::start();
    ok(broker
        .ferrolog()
        .args(["topic", "create", "paced", "--partitions", "1"]));
    let out = ok(broker.ferrolog().args([
        "perf",
        "produce",
        "paced",
        "--records",
        "2000",
        "--record-size",
        "50",
        "--batch-size",
        "100",
        "--concurrency",
        "2",
        "--rate",
        "20000",
        "--output",
        "json",
    ]));
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("json");
    assert_eq!(v["records"], 2000);
    for q in ["p50", "p99", "p99_9", "max"] {
        let scheduled = v["latency_ms"][q].as_f64().expect("scheduled latency");
        let round_trip = v["round_trip_ms"][q].as_f64().expect("round trip");
        // Each request's latency from its scheduled time contains its round trip.
        assert!(round_trip > 0.0 && round_trip <= scheduled, "{q}: {v}");
    }

    let out = ok(broker.ferrolog().args([
        "perf",
        "produce",
        "paced",
        "--records",
        "100",
        "--output",
        "json",
    ]));
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("json");
    assert!(
        v.get("round_trip_ms").is_none(),
        "closed loop: one histogram: {v}"
    );
}

/// The records in every partition of `topic`, from `topic describe`'s end offsets.
fn end_offsets_sum(broker: &TestBroker, topic: &str) -> i64 {
    let out = ok(broker
        .ferrolog()
        .args(["topic", "describe", topic, "--output", "json"]));
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("json");
    v["partitions"]
        .as_array()
        .expect("partitions")
        .iter()
        .map(|p| p["end_offset"].as_i64().expect("end offset"))
        .sum()
}

/// `perf produce --output json` with `args` after the topic.
fn perf_produce_json(broker: &TestBroker, topic: &str, args: &[&str]) -> serde_json::Value {
    let out = ok(broker
        .ferrolog()
        .args(["perf", "produce", topic, "--output", "json"])
        .args(args));
    serde_json::from_str(out.trim()).expect("json")
}

#[test]
fn perf_produce_writes_exactly_the_records_asked_with_a_shorter_last_batch() {
    let broker = TestBroker::start();
    // (records, batch size, produce requests)
    for (topic, records, batch, requests) in [
        ("ten", "10", "1000", 1),
        ("ten-by-three", "10", "3", 4),
        ("fifteen-hundred", "1500", "1000", 2),
    ] {
        ok(broker
            .ferrolog()
            .args(["topic", "create", topic, "--partitions", "2"]));
        let v = perf_produce_json(
            &broker,
            topic,
            &[
                "--records",
                records,
                "--batch-size",
                batch,
                "--record-size",
                "10",
            ],
        );
        let asked: i64 = records.parse().expect("number");
        assert_eq!(v["records"], asked, "{topic}: {v}");
        assert_eq!(v["bytes"], asked * 10, "{topic}: {v}");
        assert_eq!(v["requests"], requests, "{topic}: {v}");
        assert_eq!(end_offsets_sum(&broker, topic), asked, "{topic}");
    }
}

/// `--keys N` gives records the keys key-0 .. key-(N-1) in turn, so perf
/// produce can load a compacted topic (which refuses keyless records).
#[test]
fn perf_produce_with_keys_loads_a_compacted_topic() {
    let broker = TestBroker::start();
    ok(broker.ferrolog().args([
        "topic",
        "create",
        "table",
        "--partitions",
        "1",
        "--config",
        "cleanup.policy=compact",
    ]));
    let v = perf_produce_json(
        &broker,
        "table",
        &["--records", "30", "--batch-size", "10", "--keys", "4"],
    );
    assert_eq!(v["records"], 30, "{v}");
    assert_eq!(end_offsets_sum(&broker, "table"), 30);
    let out = ok(broker.ferrolog().args([
        "consume",
        "table",
        "--from",
        "beginning",
        "--max-messages",
        "10",
        "--format",
        "{key}",
    ]));
    let keys: Vec<&str> = out.lines().collect();
    let want: Vec<String> = (0..10).map(|i| format!("key-{}", i % 4)).collect();
    assert_eq!(keys, want);

    let refused = broker
        .ferrolog()
        .args(["perf", "produce", "table", "--records", "10"])
        .output()
        .expect("runs");
    assert!(!refused.status.success(), "keyless records were taken");
}

#[test]
fn perf_produce_at_a_rate_keeps_to_the_rate_and_stops_at_the_duration() {
    let broker = TestBroker::start();
    ok(broker
        .ferrolog()
        .args(["topic", "create", "slow", "--partitions", "1"]));
    // Default batch size (1000) and 4 connections: a batch of 1000 at 200
    // records/s would be due every 5 s, so the run must send smaller ones.
    let started = std::time::Instant::now();
    let v = perf_produce_json(&broker, "slow", &["--rate", "200", "--duration", "2s"]);
    let wall = started.elapsed();
    let records = v["records"].as_i64().expect("records");
    // 2 s at 200 records/s, plus a generous allowance for one batch.
    assert!(records > 0 && records <= 2 * 200 + 200, "{v}");
    assert!(wall < std::time::Duration::from_secs(15), "{wall:?}: {v}");
    assert_eq!(end_offsets_sum(&broker, "slow"), records);

    // A count is paced too: 5 records at 10/s are due over 0.4 s, not sent at once.
    ok(broker
        .ferrolog()
        .args(["topic", "create", "five", "--partitions", "1"]));
    let v = perf_produce_json(&broker, "five", &["--records", "5", "--rate", "10"]);
    assert_eq!(v["records"], 5, "{v}");
    assert!(v["seconds"].as_f64().is_some_and(|s| s >= 0.35), "{v}");
    assert_eq!(end_offsets_sum(&broker, "five"), 5);
}

#[test]
fn perf_consume_stops_after_the_records_asked() {
    let broker = TestBroker::start();
    ok(broker
        .ferrolog()
        .args(["topic", "create", "prog", "--partitions", "2"]));
    let v = perf_produce_json(
        &broker,
        "prog",
        &["--records", "6000", "--record-size", "10"],
    );
    assert_eq!(v["records"], 6000);
    for (asked, counted) in [(100, 100), (1500, 1500), (10_000, 6000)] {
        let out = ok(broker.ferrolog().args([
            "perf",
            "consume",
            "prog",
            "--records",
            &asked.to_string(),
            "--output",
            "json",
        ]));
        let v: serde_json::Value = serde_json::from_str(out.trim()).expect("json");
        assert_eq!(v["records"], counted, "--records {asked}: {v}");
    }
    let text = ok(broker
        .ferrolog()
        .args(["perf", "consume", "prog", "--records", "100"]));
    assert!(text.starts_with("consume: 100 records,"), "{text}");
}
