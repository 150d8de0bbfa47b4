//! `ferrolog produce`: one record per input line, batched per partition,
//! partitioned by murmur2 of the key (round-robin without a key), summary at
//! the end (after a failure too). A line waits at most 50 ms for others to
//! join its batch, so interactive use and a trickling pipe both work.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use ferrolog_client::batch::encode_batch;
use ferrolog_client::partitioner::partition_for_key;
use ferrolog_client::produce::{Acks, ProduceAck, ProducerIdentity};
use ferrolog_client::{Client, ClientError, Compression, ProducerRecord, ProducerStamp};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

use crate::args::{Global, ProduceArgs};
use crate::output;

/// A batch is sent once it holds this many bytes, well under Kafka's default
/// 1 MiB `max.message.bytes`.
const BATCH_BYTES_MAX: usize = 512 * 1024;
/// How long input may pause before pending records are sent anyway.
const LINGER: Duration = Duration::from_millis(50);
/// The pause before the first retry of a batch; it doubles up to the most.
const RETRY_BACKOFF: Duration = Duration::from_millis(100);
const RETRY_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Per-partition state: pending records, the next sequence, what was acknowledged.
#[derive(Debug, Default)]
struct PartitionState {
    pending: Vec<ProducerRecord>,
    /// What the pending records take in a batch, overhead included.
    pending_bytes: usize,
    next_sequence: i32,
    records: u64,
    bytes: u64,
    first_offset: Option<i64>,
    last_offset: Option<i64>,
}

struct Producer<'a> {
    client: &'a Client,
    topic: String,
    acks: Acks,
    compression: Compression,
    identity: Option<ProducerIdentity>,
    partitions: BTreeMap<i32, PartitionState>,
    batch_records: usize,
    /// When the oldest pending record has waited `LINGER`.
    linger_until: Option<tokio::time::Instant>,
    /// Records read from the input so far.
    read: u64,
    /// How long a batch may be retried (`--delivery-timeout-ms`).
    delivery_timeout: Duration,
}

pub async fn run(global: &Global, args: ProduceArgs) -> anyhow::Result<ExitCode> {
    // The input first: a file that cannot be read must not leave a new topic behind.
    let (input, progress): (Box<dyn AsyncRead + Unpin + Send>, ProgressBar) = match &args.file {
        Some(path) => {
            let file = tokio::fs::File::open(path)
                .await
                .with_context(|| format!("cannot open {}", path.display()))?;
            let metadata = file
                .metadata()
                .await
                .with_context(|| format!("cannot read {}", path.display()))?;
            if metadata.is_dir() {
                anyhow::bail!("cannot read {}: it is a directory", path.display());
            }
            (Box::new(file), progress_bar(metadata.len()))
        }
        None => (Box::new(tokio::io::stdin()), ProgressBar::hidden()),
    };
    // A broker still starting (or restarting) is waited for, as for a batch; an
    // error the broker answers, such as an unknown topic, is not.
    let delivery_timeout = Duration::from_millis(args.delivery_timeout_ms);
    let config = super::client_config(global)?;
    let client = &with_retry(
        "connecting",
        delivery_timeout,
        ClientError::is_connection_error,
        || Client::connect(config.clone()),
    )
    .await?;
    let meta = with_retry(
        &format!("looking up {}", args.topic),
        delivery_timeout,
        ClientError::is_connection_error,
        || client.topic_or_create(&args.topic),
    )
    .await?;
    let partition_count = meta.partitions.len() as u32;
    if let Some(p) = args.partition
        && !(0..partition_count as i32).contains(&p)
    {
        anyhow::bail!(
            "topic {:?} has {partition_count} partitions; --partition {p} does not exist",
            args.topic
        );
    }
    let identity = if args.no_idempotent {
        None
    } else {
        with_retry(
            "asking for a producer id",
            delivery_timeout,
            ClientError::is_retriable,
            || client.init_producer_id(),
        )
        .await?
    };
    if identity.is_none() && !args.no_idempotent {
        tracing::info!("the broker does not serve InitProducerId; producing without idempotence");
    }
    let mut producer = Producer {
        client,
        topic: args.topic.clone(),
        acks: super::acks(args.acks),
        compression: super::compression(args.compression),
        identity,
        partitions: BTreeMap::new(),
        batch_records: args.batch_size as usize,
        linger_until: None,
        read: 0,
        delivery_timeout,
    };
    let sent = read_and_send(&args, &mut producer, input, &progress, partition_count).await;
    progress.finish_and_clear();
    // What was acknowledged is reported either way: after a failure, the
    // user learns where to resume.
    summary(global, &producer)?;
    let unacknowledged = producer.read - producer.acknowledged();
    if unacknowledged == 0 {
        // Nothing read was lost (the input itself failed, say): the error alone says it.
        sent?;
    } else {
        let read = producer.read;
        sent.with_context(|| {
            format!(
                "{unacknowledged} of the {} read {} not acknowledged",
                output::count(read, "record"),
                if unacknowledged == 1 { "was" } else { "were" }
            )
        })?;
    }
    Ok(ExitCode::SUCCESS)
}

fn progress_bar(len: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    if let Ok(style) =
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
    {
        bar.set_style(style);
    }
    bar
}

/// Reads records and sends them. A record waits at most `LINGER` for others
/// to join its batch, however the input flows.
async fn read_and_send(
    args: &ProduceArgs,
    producer: &mut Producer<'_>,
    input: Box<dyn AsyncRead + Unpin + Send>,
    progress: &ProgressBar,
    partition_count: u32,
) -> anyhow::Result<()> {
    let mut reader = BufReader::with_capacity(256 * 1024, input);
    let mut line = Vec::new();
    let mut round_robin = 0u32;
    loop {
        // read_until keeps partial input in `line` if the timeout cancels it, so retrying resumes.
        let read = reader.read_until(b'\n', &mut line);
        let read = match producer.linger_until {
            Some(deadline) => tokio::time::timeout_at(deadline, read).await,
            None => Ok(read.await),
        };
        let n = match read {
            Err(_) => {
                producer.flush_all().await?;
                continue;
            }
            Ok(read) => read.context("cannot read input")?,
        };
        if n == 0 && line.is_empty() {
            break;
        }
        progress.inc(line.len() as u64);
        let record = to_record(args, &line);
        line.clear();
        producer.read += 1;
        let partition = match (args.partition, &record.key) {
            (Some(p), _) => p,
            (None, Some(key)) => partition_for_key(key, partition_count),
            (None, None) => {
                round_robin = round_robin.wrapping_add(1);
                ((round_robin - 1) % partition_count) as i32
            }
        };
        producer.add(partition, record).await?;
    }
    producer.flush_all().await
}

fn to_record(args: &ProduceArgs, raw: &[u8]) -> ProducerRecord {
    let line = raw.strip_suffix(b"\n").unwrap_or(raw);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let (key, value) = match (&args.key, &args.key_separator) {
        (Some(k), _) => (Some(Bytes::copy_from_slice(k.as_bytes())), line),
        (None, Some(sep)) => match find(line, sep.as_bytes()) {
            Some(at) => (
                Some(Bytes::copy_from_slice(&line[..at])),
                &line[at + sep.len()..],
            ),
            None => (None, line),
        },
        (None, None) => (None, line),
    };
    let headers = args
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), Some(Bytes::copy_from_slice(v.as_bytes()))))
        .collect();
    let tombstone = args
        .null_marker
        .as_ref()
        .is_some_and(|marker| marker.as_bytes() == value);
    ProducerRecord {
        key,
        value: (!tombstone).then(|| Bytes::copy_from_slice(value)),
        headers,
        timestamp_ms: super::now_ms(),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

impl Producer<'_> {
    /// Queues `record`; a batch it would push past `BATCH_BYTES_MAX` is sent
    /// first, so a batch outgrows that only by holding a single large record.
    async fn add(&mut self, partition: i32, record: ProducerRecord) -> anyhow::Result<()> {
        let size = batched_size(&record);
        let state = self.partitions.entry(partition).or_default();
        if !state.pending.is_empty() && state.pending_bytes + size > BATCH_BYTES_MAX {
            self.flush(partition).await?;
        }
        let state = self.partitions.entry(partition).or_default();
        state.pending_bytes += size;
        state.pending.push(record);
        if state.pending.len() >= self.batch_records || state.pending_bytes >= BATCH_BYTES_MAX {
            self.flush(partition).await?;
        }
        if self.linger_until.is_none() && self.partitions.values().any(|s| !s.pending.is_empty()) {
            self.linger_until = Some(tokio::time::Instant::now() + LINGER);
        }
        Ok(())
    }

    async fn flush_all(&mut self) -> anyhow::Result<()> {
        let partitions: Vec<i32> = self.partitions.keys().copied().collect();
        for p in partitions {
            self.flush(p).await?;
        }
        self.linger_until = None;
        Ok(())
    }

    /// Records the broker acknowledged (or, with acks=0, that were sent).
    fn acknowledged(&self) -> u64 {
        self.partitions.values().map(|s| s.records).sum()
    }

    async fn flush(&mut self, partition: i32) -> anyhow::Result<()> {
        let Some(state) = self.partitions.get_mut(&partition) else {
            return Ok(());
        };
        if state.pending.is_empty() {
            return Ok(());
        }
        let stamp = self
            .identity
            .map_or(ProducerStamp::NONE, |id| ProducerStamp {
                producer_id: id.producer_id,
                producer_epoch: id.producer_epoch,
                base_sequence: state.next_sequence,
            });
        let batch = encode_batch(&state.pending, self.compression, stamp)?;
        let count = state.pending.len();
        let (topic, acks, timeout) = (&self.topic, self.acks, self.delivery_timeout);
        let ack = send_with_retry(self.client, topic, partition, batch, acks, timeout).await?;
        state.next_sequence = state.next_sequence.wrapping_add(count as i32);
        state.records += count as u64;
        if ack.base_offset >= 0 {
            state.first_offset.get_or_insert(ack.base_offset);
            state.last_offset = Some(ack.base_offset + count as i64 - 1);
        }
        state.bytes += state.pending.iter().map(payload_bytes).sum::<u64>();
        state.pending.clear();
        state.pending_bytes = 0;
        Ok(())
    }
}

fn payload_bytes(record: &ProducerRecord) -> u64 {
    (record.value.as_ref().map_or(0, Bytes::len) + record.key.as_ref().map_or(0, Bytes::len)) as u64
}

/// The most `record` takes in a v2 batch: key, value and headers, plus the
/// record's own varints and attributes at their widest.
fn batched_size(record: &ProducerRecord) -> usize {
    const RECORD_OVERHEAD_MAX: usize = 1 + 5 + 10 + 5 + 5 + 5 + 5;
    const HEADER_OVERHEAD_MAX: usize = 5 + 5;
    let headers: usize = record
        .headers
        .iter()
        .map(|(k, v)| k.len() + v.as_ref().map_or(0, Bytes::len) + HEADER_OVERHEAD_MAX)
        .sum();
    RECORD_OVERHEAD_MAX + payload_bytes(record) as usize + headers
}

/// Sends one batch, retrying for up to `timeout` (with a growing pause)
/// while the broker is unreachable or answers with a retriable code, so a
/// broker restart does not fail a long-running pipe. With the idempotent
/// producer the broker drops a retried batch it already has; without it a
/// retry may duplicate, as with any Kafka producer that retries.
async fn send_with_retry(
    client: &Client,
    topic: &str,
    partition: i32,
    batch: Bytes,
    acks: Acks,
    timeout: Duration,
) -> anyhow::Result<ProduceAck> {
    let what = format!("produce to {topic}-{partition}");
    let send = || client.produce(topic, partition, batch.clone(), acks, 30_000);
    Ok(with_retry(&what, timeout, ClientError::is_retriable, send).await?)
}

/// Runs `op` until it succeeds, fails in a way `retry` does not accept, or
/// `timeout` would pass during the next pause, which grows from
/// `RETRY_BACKOFF` to `RETRY_BACKOFF_MAX`. A failure is logged once, and
/// again only if it changes: a line a second for half a minute says nothing
/// the first did not.
async fn with_retry<T, Op, Fut>(
    what: &str,
    timeout: Duration,
    retry: fn(&ClientError) -> bool,
    mut op: Op,
) -> Result<T, ClientError>
where
    Op: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ClientError>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    let mut backoff = RETRY_BACKOFF;
    let mut last_logged = None;
    loop {
        match op().await {
            Ok(value) => return Ok(value),
            Err(e) if retry(&e) && tokio::time::Instant::now() + backoff < deadline => {
                let said = e.to_string();
                if last_logged.as_ref() == Some(&said) {
                    tracing::debug!("{what} failed ({said}); retrying");
                } else {
                    tracing::warn!(
                        "{what} failed ({said}); retrying for up to {} (--delivery-timeout-ms)",
                        humantime::format_duration(timeout)
                    );
                    last_logged = Some(said);
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(RETRY_BACKOFF_MAX);
            }
            Err(e) => return Err(e),
        }
    }
}

/// What the broker acknowledged, per partition and in all.
fn summary(global: &Global, producer: &Producer<'_>) -> anyhow::Result<()> {
    let records = producer.acknowledged();
    let bytes: u64 = producer.partitions.values().map(|s| s.bytes).sum();
    let parts: Vec<_> = producer
        .partitions
        .iter()
        .filter(|(_, s)| s.records > 0)
        .map(|(p, s)| json!({"partition": p, "records": s.records, "first_offset": s.first_offset, "last_offset": s.last_offset}))
        .collect();
    let json =
        json!({"topic": producer.topic, "records": records, "bytes": bytes, "partitions": parts});
    output::emit(global.output, &json, || {
        let mut text = format!(
            "produced {} ({}) to {}",
            output::count(records, "record"),
            output::count(bytes, "byte"),
            producer.topic
        );
        for (p, s) in producer.partitions.iter().filter(|(_, s)| s.records > 0) {
            match (s.first_offset, s.last_offset) {
                (Some(first), Some(last)) => text.push_str(&format!(
                    "\n  partition {p}: {}, offsets {first}..={last}",
                    output::count(s.records, "record")
                )),
                _ => text.push_str(&format!(
                    "\n  partition {p}: {} (acks=0: offsets unknown)",
                    output::count(s.records, "record")
                )),
            }
        }
        text
    })
}
