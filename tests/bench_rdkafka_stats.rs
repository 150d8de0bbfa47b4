//! tools/bench_rdkafka_stats.py: the librdkafka rows' round trip, read from
//! librdkafka's statistics lines. It must count only the broker proper's
//! non-empty windows, and merge windows so that one slow window's requests
//! show in the run's p99 in proportion to their number.
#![allow(clippy::unwrap_used)]
use serde_json::{Value, json};

mod tools_support;
use tools_support::python;

/// A window whose requests all took `us` microseconds.
fn window(cnt: u64, us: u64) -> Value {
    json!({
        "min": us, "max": us, "avg": us, "sum": cnt * us, "cnt": cnt, "stddev": 0, "hdrsize": 0,
        "p50": us, "p75": us, "p90": us, "p95": us, "p99": us, "p99_99": us, "outofrange": 0,
    })
}

/// One statistics line: the bootstrap connection (node id -1) and broker 1.
fn stats_line(bootstrap: Value, broker: Value) -> String {
    json!({
        "name": "rdkafka#producer-1", "type": "producer",
        "brokers": {
            "127.0.0.1:9092/bootstrap": {"nodeid": -1, "rtt": bootstrap},
            "127.0.0.1:9092/1": {"nodeid": 1, "rtt": broker},
        },
    })
    .to_string()
}

/// `bench_rdkafka_stats.round_trip(stdout, seconds)` as JSON (`null` for None).
fn round_trip(stdout: &str, seconds: f64) -> Value {
    let script = "import json, bench_rdkafka_stats\n\
                  print(json.dumps(bench_rdkafka_stats.round_trip(sys.stdin.read(), float(sys.argv[1]))))";
    serde_json::from_str(&python(script, &[&seconds.to_string()], stdout)).unwrap()
}

fn close(got: &Value, want: f64) -> bool {
    (got.as_f64().unwrap() - want).abs() < 1e-3
}

#[test]
fn only_the_brokers_windows_with_requests_are_counted() {
    let stdout = [
        "Args { ... }".to_owned(),
        // The bootstrap connection's metadata round trips are not produce requests.
        stats_line(window(5, 90_000), window(0, 0)),
        stats_line(window(0, 0), window(100, 2_000)),
        "produce: 100 records ...".to_owned(),
        stats_line(window(0, 0), window(300, 2_000)),
    ]
    .join("\n");
    let got = round_trip(&stdout, 2.0);
    assert_eq!(got["rtt_requests"], 400, "{got}");
    assert_eq!(got["rtt_windows"], 2, "{got}");
    assert!(close(&got["p50_ms"], 2.0), "{got}");
    assert!(close(&got["p99_ms"], 2.0), "{got}");
    // 400 round trips of 2 ms over 2 s: 0.4 requests in flight on average.
    assert!(close(&got["in_flight_mean"], 0.4), "{got}");
}

#[test]
fn a_slow_window_weighs_by_its_requests() {
    // `fast` requests at 1 ms in one window, `slow` at 10 ms in the next.
    let merged = |fast: u64, slow: u64| {
        let stdout = [
            stats_line(window(0, 0), window(fast, 1_000)),
            stats_line(window(0, 0), window(slow, 10_000)),
        ]
        .join("\n");
        round_trip(&stdout, 1.0)
    };
    // 2% of the requests at 10 ms: the run's p99 is 10 ms and its p50 1 ms.
    // (Averaging the windows' p99 would give 1.18 ms; taking the worst
    // window's p50 would give 10.)
    let got = merged(980, 20);
    assert!(close(&got["p50_ms"], 1.0), "{got}");
    assert!(close(&got["p99_ms"], 10.0), "{got}");

    // 0.5% of them: the run's p99 stays with the fast window.
    let got = merged(995, 5);
    assert!(close(&got["p99_ms"], 1.0), "{got}");
}

#[test]
fn a_window_is_linear_between_its_published_points() {
    let mut spread = window(1000, 0);
    for (field, us) in [
        ("min", 0),
        ("p50", 1_000),
        ("p75", 2_000),
        ("p90", 3_000),
        ("p95", 4_000),
        ("p99", 5_000),
        ("p99_99", 6_000),
        ("max", 7_000),
    ] {
        spread[field] = json!(us);
    }
    let got = round_trip(&stats_line(window(0, 0), spread), 1.0);
    assert!(close(&got["p50_ms"], 1.0), "{got}");
    assert!(close(&got["p99_ms"], 5.0), "{got}");
}

#[test]
fn no_statistics_is_no_figure() {
    assert_eq!(
        round_trip("produce: 10 records\nnot json {\n{\"brokers\": {}}", 1.0),
        Value::Null
    );
}
