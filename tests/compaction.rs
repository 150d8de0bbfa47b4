//! Compacted topics (`cleanup.policy=compact`) end to end: keyed records
//! with updates and tombstones produced by librdkafka (each codec) and kcat,
//! the store's cleaner (run every 200 ms, from the broker's TOML) compacting
//! the sealed segments, then every reader — librdkafka, kcat, kafka-python
//! and ferrolog-client — seeing exactly the last record of each key at its
//! original offset and reaching the end of the partition. Also the broker's
//! side of the policy: keyless records refused, DeleteRecords refused on a
//! compact-only topic, the policy changed at runtime and kept over restarts.
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{TIMEOUT, TestBroker, kcat};
use ferrolog_broker::BrokerConfig;
use ferrolog_client::admin::ConfigChange;
use ferrolog_client::{Client, ClientConfig};
use kafka_protocol::ResponseError;
use rand::{RngCore, SeedableRng};
use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

/// How long compaction may take to show; the cleaner looks every 200 ms.
const COMPACTION_WAIT: Duration = Duration::from_secs(60);
/// Keys updated over and over, then given a last value or a tombstone.
const KEYS: usize = 50;
const ROUNDS: usize = 40;
/// Distinct keys produced after the last updates, enough (about 1.2 MiB of
/// incompressible values) to roll the 1 MiB segment that holds the updates,
/// since the cleaner never touches the active segment.
const FILLER: usize = 1200;
const VALUE_PAD: usize = 1000;

/// A record as the tests compare them: offset, key, value (None: tombstone).
type Kept = (i64, Vec<u8>, Option<Vec<u8>>);

/// A broker whose cleaner looks every 200 ms, set through the TOML file as
/// an operator would set it.
async fn start() -> TestBroker {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ferrologd.toml");
    std::fs::write(&path, "[log]\ncleaner_check_interval_ms = 200\n").unwrap();
    let parsed = BrokerConfig::from_file(&path).unwrap();
    parsed.validate().unwrap();
    assert_eq!(parsed.log.cleaner_check_interval_ms, 200);
    TestBroker::start_with(|c| c.log = parsed.log).await
}

async fn client(broker: &TestBroker) -> Client {
    Client::connect(ClientConfig::new(broker.bootstrap()))
        .await
        .unwrap()
}

/// The configs of a compacted test topic: the smallest segments Kafka
/// allows (so a few MiB roll several), cleaned as soon as anything is dirty.
fn compacted(policy: &str) -> Vec<(&str, &str)> {
    vec![
        ("cleanup.policy", policy),
        ("segment.bytes", "1048576"),
        ("min.cleanable.dirty.ratio", "0.01"),
    ]
}

/// The records to produce, in order: `ROUNDS` updates of each key, then its
/// last value (every fifth key: a tombstone), then `FILLER` distinct keys.
/// Values carry random bytes so that no codec shrinks them below a segment.
fn workload(seed: u64) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut value = |label: String| {
        let mut v = label.into_bytes();
        let mut pad = vec![0u8; VALUE_PAD];
        rng.fill_bytes(&mut pad);
        v.extend_from_slice(&pad);
        v
    };
    let mut out = Vec::new();
    for round in 0..ROUNDS {
        for k in 0..KEYS {
            out.push((
                format!("key-{k}").into_bytes(),
                Some(value(format!("r{round}:"))),
            ));
        }
    }
    for k in 0..KEYS {
        let last = (k % 5 != 0).then(|| value("last:".into()));
        out.push((format!("key-{k}").into_bytes(), last));
    }
    for f in 0..FILLER {
        out.push((
            format!("filler-{f}").into_bytes(),
            Some(value("fill:".into())),
        ));
    }
    out
}

/// What a reader of the compacted log must see: the last record of each key
/// at the offset it was given, tombstones included (delete.retention.ms is
/// a day, so none is old enough to go), in offset order.
fn last_of_each_key(produced: &[Kept]) -> Vec<Kept> {
    let mut last: BTreeMap<&[u8], &Kept> = BTreeMap::new();
    for record in produced {
        last.insert(&record.1, record);
    }
    let mut kept: Vec<Kept> = last.into_values().cloned().collect();
    kept.sort_by_key(|r| r.0);
    kept
}

/// Produces `records` to partition 0 with librdkafka compressing with `codec`;
/// returns each with the offset it was given.
async fn produce_rdkafka(
    broker: &TestBroker,
    topic: &str,
    codec: &str,
    records: &[(Vec<u8>, Option<Vec<u8>>)],
) -> Vec<Kept> {
    produce_rdkafka_at(broker, topic, codec, records, None).await
}

/// `produce_rdkafka`, record i stamped `first_ms + i` if `first_ms` is given
/// (an event time the producer chose), else with the time it was sent.
async fn produce_rdkafka_at(
    broker: &TestBroker,
    topic: &str,
    codec: &str,
    records: &[(Vec<u8>, Option<Vec<u8>>)],
    first_ms: Option<i64>,
) -> Vec<Kept> {
    let producer = broker.producer(&[
        ("compression.codec", codec),
        ("linger.ms", "20"),
        ("enable.idempotence", "true"),
    ]);
    let mut pending = Vec::with_capacity(records.len());
    for ((key, value), i) in records.iter().zip(0i64..) {
        let mut record = FutureRecord::<Vec<u8>, Vec<u8>>::to(topic)
            .partition(0)
            .key(key);
        if let Some(first_ms) = first_ms {
            record = record.timestamp(first_ms + i);
        }
        if let Some(value) = value {
            record = record.payload(value);
        }
        let delivery = producer
            .send_result(record)
            .map_err(|(e, _)| e)
            .expect("queued");
        pending.push(delivery);
    }
    let mut out = Vec::with_capacity(records.len());
    for ((key, value), delivery) in records.iter().zip(pending) {
        let delivered = tokio::time::timeout(TIMEOUT, delivery)
            .await
            .expect("delivered in time")
            .expect("not cancelled")
            .map_err(|(e, _)| e)
            .expect("acknowledged");
        out.push((delivered.offset, key.clone(), value.clone()));
    }
    out
}

/// Partition 0 of `topic` read from its start to its end with ferrolog-client.
async fn read_all(client: &Client, topic: &str) -> Vec<Kept> {
    client
        .read_records(topic, 0, 0, 1_000_000)
        .await
        .unwrap()
        .into_iter()
        .map(|r| {
            (
                r.offset,
                r.key.unwrap().to_vec(),
                r.value.map(|v| v.to_vec()),
            )
        })
        .collect()
}

/// Waits until partition 0 of `topic`, read from the start, holds exactly
/// `want`: the cleaner has compacted everything sealed. Never a fixed sleep.
async fn wait_for_compaction(client: &Client, topic: &str, want: &[Kept]) {
    let deadline = Instant::now() + COMPACTION_WAIT;
    loop {
        let got = read_all(client, topic).await;
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{topic}: not compacted after {COMPACTION_WAIT:?}: read {} records, want {}",
            got.len(),
            want.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Partition 0 of `topic` from the beginning with a librdkafka consumer,
/// until it reports the partition's end (`enable.partition.eof`), or why
/// not. The consumer lives on a thread of its own: a librdkafka that stalls
/// (it stalled on emptied gzip batches that kept their codec) also hangs in its destructor, and
/// the test must end with a failure rather than hang with it.
async fn consume_rdkafka(broker: &TestBroker, topic: &str) -> Result<Vec<Kept>, String> {
    let timed = consume_rdkafka_timed(broker, topic).await?;
    Ok(timed.into_iter().map(|(kept, _)| kept).collect())
}

/// `consume_rdkafka`, each record with the timestamp librdkafka gives it.
async fn consume_rdkafka_timed(
    broker: &TestBroker,
    topic: &str,
) -> Result<Vec<(Kept, Option<i64>)>, String> {
    let consumer: BaseConsumer = broker
        .client_config()
        .set("group.id", "compaction-tests")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .create()
        .unwrap();
    let topic = topic.to_owned();
    let (done, result) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut list = TopicPartitionList::new();
        list.add_partition_offset(&topic, 0, Offset::Beginning)
            .unwrap();
        consumer.assign(&list).unwrap();
        let deadline = Instant::now() + TIMEOUT;
        let mut got = Vec::new();
        let outcome = loop {
            if Instant::now() > deadline {
                break Err(format!("no end of partition after {} records", got.len()));
            }
            match consumer.poll(Duration::from_millis(200)) {
                None => {}
                Some(Ok(m)) => got.push((
                    (
                        m.offset(),
                        m.key().unwrap().to_vec(),
                        m.payload().map(<[u8]>::to_vec),
                    ),
                    m.timestamp().to_millis(),
                )),
                Some(Err(KafkaError::PartitionEOF(0))) => break Ok(std::mem::take(&mut got)),
                Some(Err(e)) => break Err(format!("after {} records: {e}", got.len())),
            }
        };
        let stalled = outcome.is_err();
        done.send(outcome).ok();
        if stalled {
            // Its destructor would wait for what stalled it.
            std::mem::forget(consumer);
        }
    });
    result.await.unwrap()
}

/// Partition 0 of `topic` from the beginning with kcat (`-e`: exit at the
/// end), as `offset key value-length` lines (-1 for a tombstone).
async fn consume_kcat(broker: &TestBroker, topic: &str) -> Result<Vec<String>, String> {
    consume_kcat_as(broker, topic, "%o %k %S\n").await
}

/// `consume_kcat` with the line format `format` (kcat's `-f`).
async fn consume_kcat_as(
    broker: &TestBroker,
    topic: &str,
    format: &str,
) -> Result<Vec<String>, String> {
    let args = [
        "-C",
        "-t",
        topic,
        "-p",
        "0",
        "-o",
        "beginning",
        "-e",
        "-q",
        "-f",
        format,
    ];
    let out = kcat(broker, &args, Vec::new()).await;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect())
}

/// `tools/kafka_python_compacted.py` reading `compacted-kcat` to its end:
/// its `record` lines (as `consume_kcat` prints them), or why not.
async fn consume_kafka_python(broker: &TestBroker, end: i64) -> Result<Vec<String>, String> {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tools/kafka_python_compacted.py"
    );
    let bootstrap = broker.bootstrap();
    let out = tokio::task::spawn_blocking(move || {
        // The script bounds itself (30 s); `timeout` is the backstop.
        Command::new("timeout")
            .args(["60", "python3", "-u", script, &bootstrap])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("No module named 'kafka'"),
        "kafka-python is not installed: run tools/test, or pip install kafka-python==2.2.15"
    );
    if !out.status.success() || !stdout.contains(&format!("end reached at {end}")) {
        let records = stdout.lines().filter(|l| l.starts_with("record ")).count();
        let last = stdout.lines().last().unwrap_or("");
        return Err(format!(
            "exit {:?} after {records} records (last line {last:?}) {stderr}",
            out.status.code()
        ));
    }
    Ok(stdout
        .lines()
        .filter_map(|l| l.strip_prefix("record "))
        .map(str::to_owned)
        .collect())
}

/// What a reader got against what it should have, as a line for the
/// failures a test collects (so one run tells every reader's story).
fn judge<T: PartialEq + std::fmt::Debug>(
    what: &str,
    got: Result<T, String>,
    want: &T,
    failures: &mut Vec<String>,
) {
    match got {
        Ok(got) if &got == want => eprintln!("{what}: read exactly the compacted log"),
        Ok(got) => {
            let text = format!("{got:?}");
            let shown = text.get(..300).unwrap_or(&text);
            failures.push(format!("{what}: read something else: {shown}…"));
        }
        Err(e) => failures.push(format!("{what}: {}", e.trim())),
    }
}

/// The lines `consume_kcat` must print for `records`.
fn kcat_lines(records: &[Kept]) -> Vec<String> {
    records
        .iter()
        .map(|(offset, key, value)| {
            let len = value
                .as_ref()
                .map_or(-1, |v| i64::try_from(v.len()).unwrap());
            format!("{offset} {} {len}", String::from_utf8_lossy(key))
        })
        .collect()
}

/// The log's bytes on disk, from DescribeLogDirs.
async fn size_of(client: &Client, topic: &str) -> u64 {
    let meta = client.refresh_topic(topic).await.unwrap();
    let sizes = client.partition_sizes(&[meta]).await.unwrap();
    sizes.bytes.get(&(topic.to_owned(), 0)).copied().unwrap()
}

/// librdkafka produces updates and tombstones with each codec; after the
/// cleaner ran, librdkafka, kcat and ferrolog-client read exactly the last
/// record of each key at its original offset and reach the partition's end,
/// and a restart serves the same records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compacted_topics_keep_the_last_record_of_each_key_for_every_reader() {
    let broker = start().await;
    let client = client(&broker).await;
    let mut expected = BTreeMap::new();
    let mut failures = Vec::new();
    for (seed, codec) in ["none", "gzip", "snappy", "lz4", "zstd"]
        .into_iter()
        .enumerate()
    {
        let topic = format!("compacted-{codec}");
        common::create_topic(&broker, &topic, 1, &compacted("compact")).await;
        let produced = produce_rdkafka(&broker, &topic, codec, &workload(seed as u64)).await;
        eprintln!("{topic}: produced {}", produced.len());
        let before = size_of(&client, &topic).await;
        let want = last_of_each_key(&produced);
        assert_eq!(want.len(), KEYS + FILLER);
        wait_for_compaction(&client, &topic, &want).await;
        let after = size_of(&client, &topic).await;
        assert!(
            after < before,
            "{topic}: {before} bytes before compaction, {after} after"
        );
        let stored = common::stored_batches(&broker, &topic);
        let emptied = stored.iter().filter(|&&(_, records)| records == 0).count();
        eprintln!(
            "{topic}: {} batches stored, {emptied} emptied by compaction",
            stored.len()
        );
        // Emptied batches are the case readers trip on (a codec over no bytes).
        assert!(emptied > 0, "{topic}: no batch emptied, {stored:?}");
        let reader = |name: &str| format!("{topic}: {name}");
        let rdkafka = consume_rdkafka(&broker, &topic).await;
        judge(&reader("librdkafka"), rdkafka, &want, &mut failures);
        let kcat = consume_kcat(&broker, &topic).await;
        judge(&reader("kcat"), kcat, &kcat_lines(&want), &mut failures);
        expected.insert(topic, want);
    }
    let broker = broker.restart().await;
    let client = self::client(&broker).await;
    for (topic, want) in &expected {
        assert_eq!(
            &read_all(&client, topic).await,
            want,
            "{topic} after a restart"
        );
        let rdkafka = consume_rdkafka(&broker, topic).await;
        judge(
            &format!("{topic} after a restart: librdkafka"),
            rdkafka,
            want,
            &mut failures,
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// kcat produces keyed lines and tombstones (`-Z`: an empty value is sent as
/// null), lz4-compressed; kcat, librdkafka and kafka-python
/// (`tools/kafka_python_compacted.py`) read the compacted log to its end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kcat_produced_updates_and_tombstones_are_compacted_for_every_reader() {
    let broker = start().await;
    let client = client(&broker).await;
    let topic = "compacted-kcat";
    common::create_topic(&broker, topic, 1, &compacted("compact,delete")).await;
    // Printable values (kcat reads lines): the label, then the random bytes
    // as letters, which lz4 hardly shrinks, so the filler still rolls.
    let mut lines = Vec::new();
    let mut produced = Vec::new();
    for (key, value) in workload(9) {
        let value = value.map(|v| {
            let colon = v.iter().position(|&b| b == b':').unwrap();
            let text: String = v[colon + 1..]
                .iter()
                .map(|b| char::from(b'a' + b % 26))
                .collect();
            format!("{}_{text}", String::from_utf8_lossy(&v[..colon])).into_bytes()
        });
        lines.extend_from_slice(&key);
        lines.push(b'\t');
        lines.extend_from_slice(value.as_deref().unwrap_or_default());
        lines.push(b'\n');
        produced.push((key, value));
    }
    let out = kcat(
        &broker,
        &["-P", "-t", topic, "-p", "0", "-K", "\t", "-Z", "-z", "lz4"],
        lines,
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // kcat sends in order to one partition: offsets are the line numbers.
    let produced: Vec<Kept> = (0..)
        .zip(produced)
        .map(|(offset, (k, v))| (offset, k, v))
        .collect();
    let stored = read_all(&client, topic).await;
    assert_eq!(
        stored.len(),
        produced.len(),
        "every line stored before the cleaner ran"
    );
    let want = last_of_each_key(&produced);
    wait_for_compaction(&client, topic, &want).await;
    let mut failures = Vec::new();
    judge(
        "kcat",
        consume_kcat(&broker, topic).await,
        &kcat_lines(&want),
        &mut failures,
    );
    judge(
        "librdkafka",
        consume_rdkafka(&broker, topic).await,
        &want,
        &mut failures,
    );
    let end = want.last().unwrap().0 + 1;
    let python = consume_kafka_python(&broker, end).await;
    judge("kafka-python", python, &kcat_lines(&want), &mut failures);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Tombstones stamped with an old event time (2001, as a producer replaying
/// history would send them) outlive the pass that removes the values they
/// delete: `delete.retention.ms` (a day here) runs from that pass, whose
/// time the batch now holds as its delete horizon (KIP-534), not from the
/// tombstone's timestamp. Every reader still sees each record at the time
/// it was produced with, though its batch's base timestamp changed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_event_time_tombstones_outlive_the_first_pass_and_keep_their_timestamps() {
    const EVENT_TIME_MS: i64 = 1_000_000_000_000;
    let broker = start().await;
    let client = client(&broker).await;
    let topic = "event-time";
    common::create_topic(&broker, topic, 1, &compacted("compact")).await;
    let records = workload(31);
    let produced = produce_rdkafka_at(&broker, topic, "lz4", &records, Some(EVENT_TIME_MS)).await;
    let stamped_at = |offset: i64| EVENT_TIME_MS + offset;
    assert!(
        produced.iter().zip(0..).all(|(r, i)| r.0 == i),
        "offsets 0, 1, 2, …"
    );
    let want = last_of_each_key(&produced);
    assert_eq!(
        want.iter().filter(|r| r.2.is_none()).count(),
        KEYS / 5,
        "tombstones"
    );
    // With the tombstones: before KIP-534's horizon, the first pass took them.
    wait_for_compaction(&client, topic, &want).await;
    let mut failures = Vec::new();
    let read = client.read_records(topic, 0, 0, 1_000_000).await.unwrap();
    let times: Vec<(i64, i64)> = read.iter().map(|r| (r.offset, r.timestamp_ms)).collect();
    let want_times: Vec<(i64, i64)> = want.iter().map(|r| (r.0, stamped_at(r.0))).collect();
    if times != want_times {
        failures.push(format!(
            "ferrolog-client timestamps: {:?}…",
            &times[..5.min(times.len())]
        ));
    }
    match consume_rdkafka_timed(&broker, topic).await {
        Ok(timed) => {
            let (kept, times): (Vec<Kept>, Vec<Option<i64>>) = timed.into_iter().unzip();
            let want_times: Vec<Option<i64>> = want.iter().map(|r| Some(stamped_at(r.0))).collect();
            judge("librdkafka", Ok(kept), &want, &mut failures);
            judge(
                "librdkafka timestamps",
                Ok(times),
                &want_times,
                &mut failures,
            );
        }
        Err(e) => failures.push(format!("librdkafka: {e}")),
    }
    let kcat_want: Vec<String> = want
        .iter()
        .map(|(offset, _, value)| {
            let len = value
                .as_ref()
                .map_or(-1, |v| i64::try_from(v.len()).unwrap());
            format!("{offset} {} {len}", stamped_at(*offset))
        })
        .collect();
    let kcat_got = consume_kcat_as(&broker, topic, "%o %T %S\n").await;
    judge("kcat", kcat_got, &kcat_want, &mut failures);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Tombstones go once `delete.retention.ms` has passed since the pass that
/// first kept them (their delete horizon), at the next pass, which runs
/// then even with nothing new to clean; the keys they deleted stay
/// deleted, after a restart too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tombstones_go_after_delete_retention_and_their_keys_stay_deleted() {
    let broker = start().await;
    let client = client(&broker).await;
    let topic = "tombstones";
    let mut configs = compacted("compact");
    configs.push(("delete.retention.ms", "1000"));
    common::create_topic(&broker, topic, 1, &configs).await;
    let mut produced = produce_rdkafka(&broker, topic, "none", &workload(21)).await;
    // A retention period past the tombstones' timestamps, then more writes,
    // enough to roll a segment, so that a pass runs after it.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let later: Vec<(Vec<u8>, Option<Vec<u8>>)> = (0..FILLER)
        .map(|f| {
            (
                format!("later-{f}").into_bytes(),
                Some(vec![b'x'; VALUE_PAD]),
            )
        })
        .collect();
    produced.extend(produce_rdkafka(&broker, topic, "none", &later).await);
    let with_tombstones = last_of_each_key(&produced);
    let want: Vec<Kept> = with_tombstones
        .iter()
        .filter(|r| r.2.is_some())
        .cloned()
        .collect();
    assert_eq!(
        with_tombstones.len() - want.len(),
        KEYS / 5,
        "tombstones produced"
    );
    wait_for_compaction(&client, topic, &want).await;
    let broker = broker.restart().await;
    let client = self::client(&broker).await;
    assert_eq!(read_all(&client, topic).await, want, "after a restart");
}

/// `min.compaction.lag.ms` holds back segments younger than it: a topic with
/// an hour's lag is left whole while a topic without one, written at the
/// same time, is compacted by the same passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn min_compaction_lag_holds_young_segments_back() {
    let broker = start().await;
    let client = client(&broker).await;
    let mut lagged_configs = compacted("compact");
    lagged_configs.push(("min.compaction.lag.ms", "3600000"));
    common::create_topic(&broker, "lagged", 1, &lagged_configs).await;
    common::create_topic(&broker, "unlagged", 1, &compacted("compact")).await;
    let records = workload(22);
    let lagged = produce_rdkafka(&broker, "lagged", "none", &records).await;
    let unlagged = produce_rdkafka(&broker, "unlagged", "none", &records).await;
    wait_for_compaction(&client, "unlagged", &last_of_each_key(&unlagged)).await;
    // A few more passes (every 200 ms) over both.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let whole: Vec<Kept> = lagged;
    assert_eq!(read_all(&client, "lagged").await, whole);
}

/// A record without a key is refused on a compacted topic as Kafka refuses
/// it (INVALID_RECORD, "Compacted topic cannot accept message without key"),
/// compressed or not, and nothing of its batch is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyless_records_are_refused_on_a_compacted_topic() {
    let broker = start().await;
    common::create_topic(&broker, "keyed-only", 1, &compacted("compact")).await;
    common::create_topic(&broker, "anything", 1, &[]).await;
    for codec in ["none", "zstd"] {
        let producer: FutureProducer = broker.producer(&[
            ("compression.codec", codec),
            ("message.timeout.ms", "10000"),
        ]);
        let keyless = producer
            .send(
                FutureRecord::<(), _>::to("keyed-only")
                    .partition(0)
                    .payload("no key"),
                TIMEOUT,
            )
            .await;
        match keyless {
            Err((KafkaError::MessageProduction(code), _)) => {
                assert_eq!(code, RDKafkaErrorCode::InvalidRecord, "{codec}")
            }
            other => panic!("{codec}: a keyless record was not refused: {other:?}"),
        }
        let keyed = producer
            .send(
                FutureRecord::to("keyed-only")
                    .partition(0)
                    .key("k")
                    .payload("v"),
                TIMEOUT,
            )
            .await;
        assert!(keyed.is_ok(), "{codec}: {keyed:?}");
        let elsewhere = producer
            .send(
                FutureRecord::<(), _>::to("anything")
                    .partition(0)
                    .payload("no key"),
                TIMEOUT,
            )
            .await;
        assert!(
            elsewhere.is_ok(),
            "{codec}: a plain topic takes keyless records"
        );
    }
    let client = client(&broker).await;
    let stored = read_all(&client, "keyed-only").await;
    assert_eq!(stored.len(), 2, "only the keyed records: {stored:?}");
}

/// DeleteRecords is refused (POLICY_VIOLATION) where the policy is compact
/// alone, as Kafka's Partition.deleteRecordsOnLeader refuses it, and allowed
/// with `compact,delete`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_records_needs_the_delete_policy() {
    let broker = start().await;
    let client = client(&broker).await;
    for (topic, policy) in [("only-compact", "compact"), ("both", "compact,delete")] {
        common::create_topic(&broker, topic, 1, &compacted(policy)).await;
        let records = workload(3)
            .into_iter()
            .take(10)
            .map(|(k, v)| ferrolog_client::batch::ProducerRecord {
                key: Some(k.into()),
                value: v.map(Into::into),
                ..Default::default()
            })
            .collect::<Vec<_>>();
        client
            .send_records(
                topic,
                0,
                &records,
                kafka_protocol::records::Compression::None,
                ferrolog_client::produce::Acks::All,
            )
            .await
            .unwrap();
    }
    let refused = client
        .delete_records("only-compact", &[(0, 5)])
        .await
        .unwrap();
    assert!(
        matches!(&refused[..], [(0, Err(code))] if code.0 == ResponseError::PolicyViolation),
        "{refused:?}"
    );
    let ranges = client.offset_range("only-compact").await.unwrap();
    assert_eq!(ranges, [(0, 0, 10)], "nothing deleted");
    let allowed = client.delete_records("both", &[(0, 5)]).await.unwrap();
    assert!(matches!(&allowed[..], [(0, Ok(5))]), "{allowed:?}");
}

/// A topic made compacted at runtime by IncrementalAlterConfigs: its running
/// partition refuses keyless records and DeleteRecords at once, the cleaner
/// compacts it, and all of that holds after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_changed_at_runtime_acts_at_once_and_survives_a_restart() {
    let broker = start().await;
    let client = client(&broker).await;
    let topic = "turned";
    let configs = [
        ("segment.bytes", "1048576"),
        ("min.cleanable.dirty.ratio", "0.01"),
    ];
    common::create_topic(&broker, topic, 1, &configs).await;
    let produced = produce_rdkafka(&broker, topic, "none", &workload(11)).await;
    // Delete-only: nothing is compacted however long the cleaner runs.
    assert_eq!(read_all(&client, topic).await.len(), produced.len());
    let set = [ConfigChange::Set {
        name: "cleanup.policy".into(),
        value: "compact".into(),
    }];
    client.alter_topic_configs(topic, &set).await.unwrap();
    let want = last_of_each_key(&produced);
    wait_for_compaction(&client, topic, &want).await;
    let refused = client.delete_records(topic, &[(0, 1)]).await.unwrap();
    assert!(
        matches!(&refused[..], [(0, Err(code))] if code.0 == ResponseError::PolicyViolation),
        "{refused:?}"
    );

    let broker = broker.restart().await;
    let client = self::client(&broker).await;
    let configs = client.describe_topic_configs(topic).await.unwrap();
    let policy = configs.iter().find(|c| c.name == "cleanup.policy").unwrap();
    assert_eq!(policy.value.as_deref(), Some("compact"));
    assert!(!policy.is_default);
    assert_eq!(
        read_all(&client, topic).await,
        want,
        "served the same after a restart"
    );
    let producer = broker.producer(&[]);
    let keyless = producer
        .send(
            FutureRecord::<(), _>::to(topic)
                .partition(0)
                .payload("no key"),
            TIMEOUT,
        )
        .await;
    assert!(
        matches!(
            keyless,
            Err((
                KafkaError::MessageProduction(RDKafkaErrorCode::InvalidRecord),
                _
            ))
        ),
        "{keyless:?}"
    );
    let refused = client.delete_records(topic, &[(0, 1)]).await.unwrap();
    assert!(
        matches!(&refused[..], [(0, Err(code))] if code.0 == ResponseError::PolicyViolation),
        "after a restart: {refused:?}"
    );
}
