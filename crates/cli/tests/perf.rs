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
