//! `ferrolog inspect` on files the engine wrote: every batch listed, records
//! decoded (compressed too), indexes checked, and a flipped byte reported as
//! a damaged batch with a non-zero exit.

mod common;

use std::path::{Path, PathBuf};

use common::{RawRecord, TestBroker, fails, ferrolog_offline, foreign_batch, ok, produce};

/// Has a running broker write three batches (none, gzip, zstd; 3 keyed records
/// each) to `orders-0`, stops it cleanly and returns (data dir guard, partition dir).
fn broker_written_partition() -> (TestBroker, PathBuf) {
    let mut broker = TestBroker::start();
    ok(broker.ferrolog().args(["topic", "create", "orders"]));
    for (i, codec) in ["none", "gzip", "zstd"].into_iter().enumerate() {
        let lines: Vec<String> = (0..3).map(|j| format!("k{i}{j}:value-{i}-{j}")).collect();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        produce(
            &broker,
            "orders",
            &["--key-separator", ":", "--compression", codec, "-H", "h=x"],
            &refs,
        );
    }
    broker.stop();
    let part = find_partition_dir(broker.data_dir(), "orders-0");
    (broker, part)
}

/// The broker may keep partitions below a subdirectory of its data dir.
fn find_partition_dir(root: &Path, name: &str) -> PathBuf {
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("list").flatten() {
            let path = entry.path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n == name) {
                    return path;
                }
                stack.push(path);
            }
        }
    }
    panic!("no {name} under {}", root.display());
}

/// `inspect --records --output json` of a segment: its output, and the
/// lines that are batches.
fn json_batches(log: &Path) -> (String, Vec<serde_json::Value>) {
    let json = ok(ferrolog_offline()
        .args(["inspect", "--records", "--output", "json"])
        .arg(log));
    let batches = json
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .filter(|v: &serde_json::Value| v.get("base_offset").is_some())
        .collect();
    (json, batches)
}

#[test]
fn segment_dump_lists_every_batch_and_decodes_records() {
    let (_broker, part) = broker_written_partition();
    let log = part.join("00000000000000000000.log");
    let text = ok(ferrolog_offline().arg("inspect").arg(&log));
    assert!(text.contains("3 batches, 9 records, all CRCs ok"), "{text}");
    for codec in ["none", "gzip", "zstd"] {
        assert!(text.contains(codec), "{codec}: {text}");
    }
    let text = ok(ferrolog_offline().arg("inspect").arg(&log).arg("--records"));
    for i in 0..3 {
        assert!(text.contains(&format!("value \"value-{i}-2\"")), "{text}");
    }
    let (_, batches) = json_batches(&log);
    assert_eq!(batches.len(), 3);
    assert_eq!(batches[1]["base_offset"], 3);
    assert_eq!(batches[1]["compression"], "gzip");
    assert_eq!(batches[2]["records"][2]["offset"], 8);
    assert_eq!(batches[2]["records"][2]["key"], "k22");
    assert_eq!(
        batches[2]["records"][0]["headers"],
        serde_json::json!([{"key": "h", "value": "x"}])
    );
}

/// `inspect --records --output json` of `records` written as one batch to a
/// segment file of its own.
fn inspect_records(records: &[RawRecord<'_>]) -> serde_json::Value {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("00000000000000000000.log");
    std::fs::write(&log, foreign_batch(records, 1_000)).expect("write");
    let json = ok(ferrolog_offline()
        .args(["inspect", "--records", "--output", "json"])
        .arg(&log));
    let batch = json
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json line"))
        .find(|v| v.get("base_offset").is_some())
        .expect("a batch");
    batch["records"][0].clone()
}

#[test]
fn bytes_that_are_not_utf8_come_back_whole() {
    let headers: &[(&str, Option<&[u8]>)] = &[("h", Some(b"\xc0"))];
    let record = inspect_records(&[RawRecord {
        key: Some(b"plain"),
        value: Some(b"\xff\xfe\x00bin"),
        headers,
    }]);
    assert_eq!(record["value_base64"], "//4AYmlu", "{record}");
    assert!(record.get("value").is_none(), "{record}");
    assert_eq!(record["key"], "plain");
    assert_eq!(
        record["headers"],
        serde_json::json!([{"key": "h", "value_base64": "wA=="}])
    );
}

#[test]
fn repeated_header_keys_are_all_shown_in_order() {
    let headers: &[(&str, Option<&[u8]>)] =
        &[("a", Some(b"1")), ("b", Some(b"x")), ("a", Some(b"2"))];
    let record = inspect_records(&[RawRecord {
        key: None,
        value: Some(b"v"),
        headers,
    }]);
    assert_eq!(
        record["headers"],
        serde_json::json!([
            {"key": "a", "value": "1"},
            {"key": "b", "value": "x"},
            {"key": "a", "value": "2"}
        ])
    );
}

#[test]
fn flipped_byte_is_reported_and_exits_non_zero() {
    let (_broker, part) = broker_written_partition();
    let log = part.join("00000000000000000000.log");
    let mut bytes = std::fs::read(&log).expect("read");
    // Three bytes into the second batch's records section (header is 61 bytes): its CRC no longer matches.
    let first_len = 12 + i32::from_be_bytes(bytes[8..12].try_into().expect("4")) as usize;
    let at = first_len + 64;
    bytes[at] ^= 0xff;
    std::fs::write(&log, &bytes).expect("write");

    let out = ferrolog_offline()
        .arg("inspect")
        .arg(&log)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    let bad: Vec<&str> = text.lines().filter(|l| l.ends_with("BAD")).collect();
    assert_eq!(bad.len(), 1, "{text}");
    assert!(
        bad[0].trim_start().starts_with(&first_len.to_string()),
        "{text}"
    );
    assert!(text.contains("1 DAMAGED"), "{text}");

    let data_dir = part.parent().expect("data dir");
    let out = ferrolog_offline()
        .arg("inspect")
        .arg(data_dir)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("orders-0") && text.contains("DAMAGED"),
        "{text}"
    );
    assert!(text.contains(&format!("at byte {first_len}")), "{text}");
    // The way back, naming this partition's checkpoint.
    let checkpoint = part.join("partition.checkpoint");
    assert!(
        text.contains(&format!("remove {} to cut", checkpoint.display())),
        "{text}"
    );
}

#[test]
fn clean_directories_and_indexes_verify() {
    let (_broker, part) = broker_written_partition();
    let data_dir = part.parent().expect("data dir");
    let text = ok(ferrolog_offline().arg("inspect").arg(data_dir));
    assert!(
        text.contains("orders-0: 1 segment, 3 batches, 9 records, offsets 0..9: ok"),
        "{text}"
    );
    assert!(text.contains("0 damaged"), "{text}");
    ok(ferrolog_offline().arg("inspect").arg(&part));
    let index = ok(ferrolog_offline()
        .arg("inspect")
        .arg(part.join("00000000000000000000.index")));
    assert!(index.contains("consistent with the segment"), "{index}");
    let time = ok(ferrolog_offline()
        .arg("inspect")
        .arg(part.join("00000000000000000000.timeindex")));
    assert!(time.contains("consistent with the segment"), "{time}");
}

#[test]
fn inspect_rejects_what_it_cannot_read() {
    let dir = tempfile::tempdir().expect("dir");
    let err = fails(
        ferrolog_offline()
            .arg("inspect")
            .arg(dir.path().join("missing.log")),
    );
    assert!(err.starts_with("error: cannot inspect"), "{err}");
    let other = dir.path().join("notes.txt");
    std::fs::write(&other, "hi").expect("write");
    let err = fails(ferrolog_offline().arg("inspect").arg(&other));
    assert!(err.contains("is not a segment"), "{err}");
    let err = fails(ferrolog_offline().arg("inspect").arg(dir.path()));
    assert!(err.contains("holds no partition directories"), "{err}");
}

/// Writes `work-0/<name>` in a new temporary directory: one single-record
/// batch for each of `base_offsets`, stamped with that base offset.
fn segment_with_offsets(name: &str, base_offsets: &[i64]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let part = dir.path().join("work-0");
    std::fs::create_dir(&part).expect("mkdir");
    let mut bytes = Vec::new();
    for &base in base_offsets {
        let record = RawRecord {
            key: None,
            value: Some(b"v"),
            headers: &[],
        };
        let mut batch = foreign_batch(&[record], 1_000);
        ferrolog_storage::format::batch::set_base_offset(&mut batch, base);
        bytes.extend_from_slice(&batch);
    }
    let log = part.join(name);
    std::fs::write(&log, bytes).expect("write");
    (dir, log)
}

/// `inspect PATH` run to its end: (exit code, stdout).
fn inspect_exit(path: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = ferrolog_offline()
        .arg("inspect")
        .args(args)
        .arg(path)
        .output()
        .expect("runs");
    let text = String::from_utf8(out.stdout).expect("utf-8 stdout");
    (out.status.code(), text)
}

/// A batch's base offset is outside its CRC, so every CRC can be fine in a
/// segment whose offsets go backwards or do not start at its file name's
/// offset. The dump of the one file reports it as the partition's
/// verification does, and exits 1 like it.
#[test]
fn a_segment_whose_offsets_do_not_follow_on_is_damaged() {
    let (_dir, log) = segment_with_offsets("00000000000000000000.log", &[0, 1, 2, 3]);
    let (code, text) = inspect_exit(&log, &[]);
    assert_eq!(code, Some(0), "{text}");

    let (_dir, log) = segment_with_offsets("00000000000000000000.log", &[0, 1, 0, 3]);
    let (code, text) = inspect_exit(&log, &[]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("batch base offset 0 where 2 was expected"),
        "{text}"
    );
    assert!(text.contains("DAMAGED"), "{text}");
    let (code, json) = inspect_exit(&log, &["--output", "json"]);
    assert_eq!(code, Some(1), "{json}");
    let third: serde_json::Value = json
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json line"))
        .filter(|v| v.get("base_offset").is_some())
        .nth(2)
        .expect("a third batch");
    assert_eq!(third["offset_ok"], false, "{json}");
    assert_eq!(third["expected_base_offset"], 2, "{json}");
    let partition = log.parent().expect("partition dir");
    let (code, text) = inspect_exit(partition, &[]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("batch base offset 0 where 2 was expected"),
        "{text}"
    );

    // The file name says the segment starts at offset 5.
    let (_dir, log) = segment_with_offsets("00000000000000000005.log", &[0, 1, 2, 3]);
    let (code, text) = inspect_exit(&log, &[]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("batch base offset 0 where 5 was expected"),
        "{text}"
    );
}

/// `inspect` reads files and never contacts a broker: its help does not
/// offer `--bootstrap-server`, and an address given on the command line (on
/// either side of `inspect`) is refused rather than silently unused. One
/// exported in FERROLOG_BOOTSTRAP, as for every other command, is no error.
#[test]
fn inspect_offers_and_takes_no_broker_address() {
    let help = ok(ferrolog_offline().args(["inspect", "--help"]));
    assert!(!help.contains("bootstrap"), "{help}");
    assert!(help.contains("--output"), "{help}");

    let (_dir, log) = segment_with_offsets("00000000000000000000.log", &[0, 1]);
    for args in [
        ["inspect", "-b", "127.0.0.1:1"],
        ["-b", "127.0.0.1:1", "inspect"],
        ["inspect", "--bootstrap-server", "127.0.0.1:1"],
    ] {
        let err = fails(ferrolog_offline().args(args).arg(&log));
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.starts_with("error: ") && err.contains("inspect") && err.contains("bootstrap"),
            "{args:?}: {err}"
        );
    }
    ok(ferrolog_offline()
        .env("FERROLOG_BOOTSTRAP", "127.0.0.1:1")
        .arg("inspect")
        .arg(&log));
}

/// A one-record batch at `base_offset` keeping a keyed tombstone, given the
/// delete horizon `horizon_ms` by the storage crate's own compaction filter
/// (None: left unstamped), as the cleaner would have written it.
fn tombstone_batch(base_offset: i64, horizon_ms: Option<i64>) -> Vec<u8> {
    use ferrolog_storage::format::batch::{BatchHeader, set_base_offset};
    use ferrolog_storage::format::compact::filter_batch;
    let record = RawRecord {
        key: Some(b"gone"),
        value: None,
        headers: &[],
    };
    let mut batch = foreign_batch(&[record], 1_000);
    set_base_offset(&mut batch, base_offset);
    let header = BatchHeader::parse(&batch).expect("a header");
    let filtered = filter_batch(&header, &batch, horizon_ms, |_| true).expect("filtered");
    filtered.rewritten.unwrap_or(batch)
}

/// The text cell of `row` under the header column that starts with `name`:
/// from where that header starts to the next run of spaces.
fn cell<'a>(header: &str, row: &'a str, name: &str) -> &'a str {
    let at = header
        .find(name)
        .unwrap_or_else(|| panic!("no {name} in {header:?}"));
    let rest = row.get(at..).unwrap_or_default();
    rest.split(' ').next().unwrap_or_default()
}

/// A stamped batch's horizon has a column of its own, aligned under its
/// header: `never` for delete.retention.ms = Long.MAX (the horizon
/// saturates at i64::MAX), RFC 3339 otherwise, `-` for a batch without one;
/// FIRST_TIMESTAMP is `-` where base_timestamp holds the horizon. JSON keeps
/// the numbers, and the help says what the column is.
#[test]
fn delete_horizons_have_their_own_column_and_long_max_is_never() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("00000000000000000000.log");
    let mut bytes = tombstone_batch(0, Some(i64::MAX));
    bytes.extend(tombstone_batch(1, Some(1_700_000_000_000)));
    bytes.extend(tombstone_batch(2, None));
    std::fs::write(&log, bytes).expect("write");

    let text = ok(ferrolog_offline().arg("inspect").arg(&log));
    let lines: Vec<&str> = text.lines().collect();
    let header = lines[1];
    let rows = &lines[2..5];
    assert!(header.trim_end().ends_with("CRC"), "{text}");
    for (row, horizon, first) in [
        (rows[0], "never", "-"),
        (rows[1], "2023-11-14T22:13:20.000Z", "-"),
        (rows[2], "-", "1970-01-01T00:00:01.000Z"),
    ] {
        assert_eq!(cell(header, row, "DELETE_HORIZON"), horizon, "{text}");
        assert_eq!(cell(header, row, "FIRST_TIMESTAMP"), first, "{text}");
        assert_eq!(cell(header, row, "CRC"), "ok", "{text}");
        assert!(!row.contains(&i64::MAX.to_string()), "{text}");
    }
    assert!(text.contains("3 batches, 3 records, all CRCs ok"), "{text}");

    let (json, batches) = json_batches(&log);
    assert_eq!(batches[0]["delete_horizon"], i64::MAX, "{json}");
    assert!(batches[0]["first_timestamp"].is_null(), "{json}");
    // The record's time is the horizon + its rebased delta, as produced.
    assert_eq!(batches[0]["records"][0]["timestamp"], 1_000, "{json}");
    assert_eq!(
        batches[1]["delete_horizon"], 1_700_000_000_000_i64,
        "{json}"
    );
    assert!(batches[2]["delete_horizon"].is_null(), "{json}");
    assert_eq!(batches[2]["first_timestamp"], 1_000, "{json}");

    let help = ok(ferrolog_offline().args(["inspect", "--help"]));
    for words in ["DELETE_HORIZON", "never", "FIRST_TIMESTAMP"] {
        assert!(help.contains(words), "{words}: {help}");
    }
}
