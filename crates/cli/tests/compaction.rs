//! A compacted topic driven by the `ferrolog` CLI alone: created with
//! `--config cleanup.policy=compact`, fed keyed updates, compacted by the
//! broker's cleaner (every 200 ms here), then consumed from the beginning:
//! the last value of each key at its original offset, to the end. The
//! broker's refusals (a line without a key, delete-records on compact alone)
//! reach the user as one-line errors.

mod common;

use std::time::{Duration, Instant};

use common::{TestBroker, consume, fails, ok, produce};

const KEYS: usize = 40;
const ROUNDS: usize = 30;
/// Distinct keys after the updates: about 1.2 MiB, enough to roll the 1 MiB
/// segment holding them (the cleaner never touches the active segment).
const FILLER: usize = 1200;

/// Letters from a fixed-seed xorshift, so the values do not compress.
fn letters(state: &mut u64, n: usize) -> String {
    (0..n)
        .map(|_| {
            *state ^= *state << 13;
            *state ^= *state >> 7;
            *state ^= *state << 17;
            char::from(b'a' + (*state % 26) as u8)
        })
        .collect()
}

#[test]
fn the_cli_creates_feeds_and_reads_a_compacted_topic() {
    let broker = TestBroker::start_with(|c| c.log.cleaner_check_interval_ms = 200);
    let topic = "cli-compacted";
    ok(broker.ferrolog().args([
        "topic",
        "create",
        topic,
        "--config",
        "cleanup.policy=compact",
        "--config",
        "segment.bytes=1048576",
        "--config",
        "min.cleanable.dirty.ratio=0.01",
    ]));
    let described = ok(broker.ferrolog().args(["topic", "describe", topic]));
    for shown in [
        "cleanup.policy",
        "compact",
        "delete.retention.ms",
        "86400000",
        "min.cleanable.dirty.ratio",
        "0.01",
        "min.compaction.lag.ms",
        "max.compaction.lag.ms",
    ] {
        assert!(described.contains(shown), "{shown}: {described}");
    }

    let mut seed = 0x2545_f491_4f6c_dd1d;
    let mut lines = Vec::new();
    for round in 0..ROUNDS {
        for k in 0..KEYS {
            lines.push(format!("key-{k}:r{round}-{}", letters(&mut seed, 1000)));
        }
    }
    // key-0 deleted: a tombstone, kept (delete.retention.ms is a day). The
    // filler after it rolls it into a sealed segment, which the cleaner cleans.
    lines.push("key-0:GONE".to_owned());
    for f in 0..FILLER {
        lines.push(format!("filler-{f}:{}", letters(&mut seed, 1000)));
    }
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    produce(
        &broker,
        topic,
        &[
            "--key-separator",
            ":",
            "--partition",
            "0",
            "--null-marker",
            "GONE",
        ],
        &refs,
    );
    // The last line of each key, at its line number (one partition, in order).
    let mut last = std::collections::BTreeMap::new();
    for (offset, line) in lines.iter().enumerate() {
        let (key, _) = line.split_once(':').expect("every line has a key");
        last.insert(key, (offset, line.as_str()));
    }
    let mut want: Vec<(usize, &str)> = last.into_values().collect();
    want.sort_unstable();
    // A null value prints as nothing.
    let want: Vec<String> = want
        .into_iter()
        .map(|(offset, line)| format!("{offset} {}", line.replace("GONE", "")))
        .collect();
    assert_eq!(want.len(), KEYS + FILLER);

    // Until the cleaner has run; each read ends at the partition's end.
    let read = || consume(&broker, topic, &["--format", "{offset} {key}:{value}"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut got = read();
    while got != want {
        assert!(
            Instant::now() < deadline,
            "not compacted after 60 s: {} records read, {} wanted",
            got.len(),
            want.len()
        );
        std::thread::sleep(Duration::from_millis(200));
        got = read();
    }

    // The offsets span every line produced; compaction left fewer records,
    // so the count is shown as a bound.
    let described = ok(broker.ferrolog().args(["topic", "describe", topic]));
    assert!(
        described.contains(&format!("≤{}", lines.len())),
        "{described}"
    );
    let json = ok(broker
        .ferrolog()
        .args(["topic", "describe", topic, "--output", "json"]));
    let json: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(json["partitions"][0]["records_at_most"], lines.len());
    assert!(json["partitions"][0]["records"].is_null(), "{json}");
    let keyless = fails(produce_cmd(&broker, topic).write_stdin("no key here\n"));
    assert!(
        keyless.contains("Compacted topic cannot accept message without key"),
        "{keyless}"
    );
    let refused =
        fails(
            broker
                .ferrolog()
                .args(["topic", "delete-records", topic, "--before", "5"]),
        );
    assert!(
        refused.contains("POLICY_VIOLATION")
            && refused.contains("cleanup.policy does not list delete"),
        "{refused}"
    );
    assert_eq!(read(), want, "the refusals changed nothing");
    // The tombstone is a null value, not an empty one.
    let json = consume(&broker, topic, &["--output", "json"]);
    let tombstone = json
        .iter()
        .find(|line| line.contains(r#""key":"key-0""#))
        .expect("key-0's tombstone");
    assert!(
        tombstone.contains(r#""key":"key-0""#) && tombstone.contains(r#""value":null"#),
        "{tombstone}"
    );
    // Offline, the tombstone's batch shows the delete horizon the cleaner
    // gave it (a day, delete.retention.ms, after the pass), and the
    // tombstone keeps the time it was produced at.
    let horizon_batch = stamped_batches(&broker, topic)
        .into_iter()
        .find(|b| {
            b["records"]
                .as_array()
                .is_some_and(|r| r.iter().any(|r| r["key"] == "key-0"))
        })
        .expect("key-0's batch has a delete horizon");
    let horizon = horizon_batch["delete_horizon"].as_i64().expect("a horizon");
    assert!(
        horizon_batch["first_timestamp"].is_null(),
        "{horizon_batch}"
    );
    let record = horizon_batch["records"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["key"] == "key-0"))
        .expect("the tombstone");
    let produced_at = record["timestamp"].as_i64().expect("a timestamp");
    let day = 86_400_000;
    assert!(
        produced_at <= horizon - day && produced_at > horizon - day - 600_000,
        "produced at {produced_at}, horizon {horizon}: {record}"
    );
}

/// The batches of the topic's partition 0 that carry a delete horizon, from
/// `ferrolog inspect --records --output json` of each segment.
fn stamped_batches(broker: &TestBroker, topic: &str) -> Vec<serde_json::Value> {
    let dir = broker.data_dir().join(format!("{topic}-0"));
    let mut logs: Vec<_> = std::fs::read_dir(&dir)
        .expect("the partition directory")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort();
    let mut out = Vec::new();
    for log in logs {
        let json = ok(common::ferrolog_offline()
            .args(["inspect", "--records", "--output", "json"])
            .arg(&log));
        out.extend(
            json.lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json line"))
                .filter(|b| b["delete_horizon"].is_i64()),
        );
    }
    out
}

fn produce_cmd(broker: &TestBroker, topic: &str) -> assert_cmd::Command {
    let mut cmd = broker.ferrolog();
    cmd.args(["produce", topic, "--partition", "0"]);
    cmd
}
