//! The invariants a soak checks against the restarted broker.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use super::load::Ack;
use super::{GROUP, TOPIC};

/// Bounds reading the whole log back.
const READ_BACK_TIMEOUT: Duration = Duration::from_secs(60);
/// Bounds asking for committed offsets right after a restart.
const OFFSETS_TIMEOUT: Duration = Duration::from_secs(15);

/// Committed offsets must be at least what was acknowledged before the crash.
pub async fn committed_not_behind(
    bootstrap: &str,
    acknowledged: &HashMap<i32, i64>,
) -> Vec<String> {
    if acknowledged.is_empty() {
        return Vec::new();
    }
    let (bootstrap, acknowledged) = (bootstrap.to_string(), acknowledged.clone());
    tokio::task::spawn_blocking(move || committed_check(&bootstrap, &acknowledged))
        .await
        .unwrap_or_else(|e| vec![format!("committed offsets check failed: {e}")])
}

fn committed_check(bootstrap: &str, acknowledged: &HashMap<i32, i64>) -> Vec<String> {
    let consumer: BaseConsumer = match ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", GROUP)
        .create()
    {
        Ok(c) => c,
        Err(e) => return vec![format!("cannot create the offsets reader: {e}")],
    };
    let mut list = TopicPartitionList::new();
    for &p in acknowledged.keys() {
        list.add_partition(TOPIC, p);
    }
    let deadline = Instant::now() + OFFSETS_TIMEOUT;
    let committed = loop {
        match consumer.committed_offsets(list.clone(), Duration::from_secs(5)) {
            Ok(c) => break c,
            Err(e) if Instant::now() > deadline => {
                return vec![format!("cannot read committed offsets: {e}")];
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    let mut violations = Vec::new();
    for element in committed.elements() {
        let expected = acknowledged.get(&element.partition()).copied().unwrap_or(0);
        let got = match element.offset() {
            Offset::Offset(o) => o,
            _ => -1,
        };
        if got < expected {
            violations.push(format!(
                "committed offset of partition {} went back: {got} < acknowledged {expected}",
                element.partition()
            ));
        }
    }
    violations
}

/// Reads every partition back and checks it against the acknowledgements:
/// each acknowledged record at its offset exactly once, offsets dense from 0,
/// sequence numbers increasing (order kept, nothing duplicated). Returns the
/// number of records stored and the violations.
pub async fn log_matches(
    bootstrap: &str,
    partitions: i32,
    acked: &[Ack],
) -> Result<(u64, Vec<String>), String> {
    let bootstrap = bootstrap.to_string();
    let logs = tokio::task::spawn_blocking(move || read_back(&bootstrap, partitions))
        .await
        .map_err(|e| format!("read-back task failed: {e}"))??;
    let mut violations = Vec::new();
    let mut stored = 0;
    for (partition, log) in &logs {
        stored += log.len() as u64;
        violations.extend(partition_violations(*partition, log));
    }
    for ack in acked {
        let found = logs
            .get(&ack.partition)
            .and_then(|log| usize::try_from(ack.offset).ok().and_then(|i| log.get(i)));
        match found {
            Some(&(offset, seq)) if offset == ack.offset && seq == ack.seq => {}
            Some(&(offset, seq)) => violations.push(format!(
                "acknowledged {}:{} at offset {} but the log holds {}:{seq} at offset {offset}",
                ack.partition, ack.seq, ack.offset, ack.partition
            )),
            None => violations.push(format!(
                "acknowledged {}:{} at offset {} is missing",
                ack.partition, ack.seq, ack.offset
            )),
        }
    }
    Ok((stored, violations))
}

/// Dense offsets from 0 and strictly increasing sequence numbers.
pub fn partition_violations(partition: i32, log: &[(i64, u64)]) -> Vec<String> {
    let mut violations = Vec::new();
    let mut previous: Option<u64> = None;
    for (index, &(offset, seq)) in log.iter().enumerate() {
        if offset != index as i64 {
            violations.push(format!(
                "partition {partition}: offset {offset} where {index} was due (not dense)"
            ));
            break;
        }
        if let Some(previous) = previous
            && seq <= previous
        {
            violations.push(format!(
                "partition {partition}: seq {seq} at offset {offset} after seq {previous} (duplicate or reordered)"
            ));
        }
        previous = Some(seq);
    }
    violations
}

/// Every partition from its start to its high watermark as (offset, seq).
fn read_back(bootstrap: &str, partitions: i32) -> Result<HashMap<i32, Vec<(i64, u64)>>, String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "soak-verify")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .create()
        .map_err(|e| format!("verify consumer: {e}"))?;
    let mut list = TopicPartitionList::new();
    let mut high = HashMap::new();
    for p in 0..partitions {
        let (low, hw) = consumer
            .fetch_watermarks(TOPIC, p, Duration::from_secs(10))
            .map_err(|e| format!("watermarks of partition {p}: {e}"))?;
        if low != 0 {
            return Err(format!(
                "partition {p} starts at {low}, not 0: nothing should have been deleted"
            ));
        }
        high.insert(p, hw);
        list.add_partition_offset(TOPIC, p, Offset::Beginning)
            .map_err(|e| e.to_string())?;
    }
    consumer.assign(&list).map_err(|e| format!("assign: {e}"))?;
    let mut logs: HashMap<i32, Vec<(i64, u64)>> =
        (0..partitions).map(|p| (p, Vec::new())).collect();
    let deadline = Instant::now() + READ_BACK_TIMEOUT;
    let done = |logs: &HashMap<i32, Vec<(i64, u64)>>| {
        high.iter()
            .all(|(p, hw)| logs.get(p).map_or(0, |l| l.len() as i64) >= *hw)
    };
    while !done(&logs) {
        if Instant::now() > deadline {
            return Err(format!(
                "read-back did not reach the high watermarks {high:?} in time"
            ));
        }
        let Some(message) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let message = message.map_err(|e| format!("fetch: {e}"))?;
        let value = std::str::from_utf8(message.payload().unwrap_or_default()).unwrap_or("");
        let seq = parse_value(message.partition(), value)?;
        logs.entry(message.partition())
            .or_default()
            .push((message.offset(), seq));
    }
    Ok(logs)
}

fn parse_value(partition: i32, value: &str) -> Result<u64, String> {
    let (p, seq) = value
        .split_once(':')
        .ok_or_else(|| format!("unexpected value {value:?}"))?;
    if p != partition.to_string() {
        return Err(format!("value {value:?} found in partition {partition}"));
    }
    seq.parse()
        .map_err(|_| format!("unexpected value {value:?}"))
}
