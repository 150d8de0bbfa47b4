//! `ferrolog produce`: one record per input line, batched per partition,
//! partitioned by murmur2 of the key (round-robin without a key), summary at
//! the end. Lines are sent as soon as input pauses, so interactive use works.

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
/// Tries per batch, and the pause between them (about 2 s in all).
const SEND_ATTEMPTS: u32 = 8;
const RETRY_BACKOFF: Duration = Duration::from_millis(250);

/// Per-partition state: pending records, the next sequence, what was acknowledged.
#[derive(Debug, Default)]
struct PartitionState {
    pending: Vec<ProducerRecord>,
    pending_bytes: usize,
    next_sequence: i32,
    records: u64,
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
}

pub async fn run(global: &Global, client: &Client, args: ProduceArgs) -> anyhow::Result<ExitCode> {
    let meta = client.topic_or_create(&args.topic).await?;
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
        client.init_producer_id().await?
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
    };
    let (input, progress): (Box<dyn AsyncRead + Unpin + Send>, ProgressBar) = match &args.file {
        Some(path) => {
            let file = tokio::fs::File::open(path)
                .await
                .with_context(|| format!("cannot open {}", path.display()))?;
            let len = file.metadata().await.map(|m| m.len()).unwrap_or(0);
            (Box::new(file), progress_bar(len))
        }
        None => (Box::new(tokio::io::stdin()), ProgressBar::hidden()),
    };
    let (records, bytes) =
        read_and_send(&args, &mut producer, input, &progress, partition_count).await?;
    progress.finish_and_clear();
    summary(global, &producer, records, bytes)?;
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

async fn read_and_send(
    args: &ProduceArgs,
    producer: &mut Producer<'_>,
    input: Box<dyn AsyncRead + Unpin + Send>,
    progress: &ProgressBar,
    partition_count: u32,
) -> anyhow::Result<(u64, u64)> {
    let mut reader = BufReader::with_capacity(256 * 1024, input);
    let mut line = Vec::new();
    let (mut records, mut bytes, mut round_robin) = (0u64, 0u64, 0u32);
    loop {
        // read_until keeps partial input in `line` if the timeout cancels it, so retrying resumes.
        let n = match tokio::time::timeout(LINGER, reader.read_until(b'\n', &mut line)).await {
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
        bytes += record.value.as_ref().map_or(0, |v| v.len() as u64)
            + record.key.as_ref().map_or(0, |k| k.len() as u64);
        records += 1;
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
    producer.flush_all().await?;
    Ok((records, bytes))
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
    ProducerRecord {
        key,
        value: Some(Bytes::copy_from_slice(value)),
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
    async fn add(&mut self, partition: i32, record: ProducerRecord) -> anyhow::Result<()> {
        let state = self.partitions.entry(partition).or_default();
        state.pending_bytes +=
            record.value.as_ref().map_or(0, Bytes::len) + record.key.as_ref().map_or(0, Bytes::len);
        state.pending.push(record);
        if state.pending.len() >= self.batch_records || state.pending_bytes >= BATCH_BYTES_MAX {
            self.flush(partition).await?;
        }
        Ok(())
    }

    async fn flush_all(&mut self) -> anyhow::Result<()> {
        let partitions: Vec<i32> = self.partitions.keys().copied().collect();
        for p in partitions {
            self.flush(p).await?;
        }
        Ok(())
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
        let ack = send_with_retry(self.client, &self.topic, partition, batch, self.acks).await?;
        state.next_sequence = state.next_sequence.wrapping_add(count as i32);
        state.records += count as u64;
        if ack.base_offset >= 0 {
            state.first_offset.get_or_insert(ack.base_offset);
            state.last_offset = Some(ack.base_offset + count as i64 - 1);
        }
        state.pending.clear();
        state.pending_bytes = 0;
        Ok(())
    }
}

/// Sends one batch, retrying (bounded) when the broker was unreachable or
/// answered with a retriable code. With the idempotent producer the broker
/// drops a retried batch it already has; without it a retry may duplicate,
/// as with any Kafka producer that retries.
async fn send_with_retry(
    client: &Client,
    topic: &str,
    partition: i32,
    batch: Bytes,
    acks: Acks,
) -> anyhow::Result<ProduceAck> {
    let mut attempt = 1;
    loop {
        match client
            .produce(topic, partition, batch.clone(), acks, 30_000)
            .await
        {
            Ok(ack) => return Ok(ack),
            Err(e) if attempt < SEND_ATTEMPTS && retriable(&e) => {
                tracing::warn!("produce to {topic}-{partition} failed ({e}); retrying");
                attempt += 1;
                tokio::time::sleep(RETRY_BACKOFF).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn retriable(e: &ClientError) -> bool {
    e.is_connection_error() || e.kafka_code().is_some_and(|c| c.is_retriable())
}

fn summary(
    global: &Global,
    producer: &Producer<'_>,
    records: u64,
    bytes: u64,
) -> anyhow::Result<()> {
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
            "produced {records} records ({bytes} bytes) to {}",
            producer.topic
        );
        for (p, s) in producer.partitions.iter().filter(|(_, s)| s.records > 0) {
            match (s.first_offset, s.last_offset) {
                (Some(first), Some(last)) => text.push_str(&format!(
                    "\n  partition {p}: {} records, offsets {first}..={last}",
                    s.records
                )),
                _ => text.push_str(&format!(
                    "\n  partition {p}: {} records (acks=0: offsets unknown)",
                    s.records
                )),
            }
        }
        text
    })
}
