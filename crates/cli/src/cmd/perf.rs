//! `ferrolog perf produce|consume`: load generators printing records/s, MB/s
//! and latency percentiles (HdrHistogram) of each request, with a progress
//! line on a terminal. Bounded by a record count or a duration.
//!
//! The producer encodes one batch per run and sends it again and again (the
//! broker assigns offsets), so it measures the broker and the network, not
//! this client's encoder — as Kafka's own producer-perf-test reuses payloads.
//! The consumer likewise checks each batch's CRC-32C and counts records from
//! the batch headers instead of decoding every record.
//!
//! With `--rate` the producer runs open loop and reports two histograms: the
//! latency from each request's scheduled send time (what a producer feeding a
//! steady stream sees, queueing included) and the round trip from when it was
//! actually sent. Where the first's tail far exceeds the second's, requests
//! queued behind a stretch of slow round trips.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferrolog_client::batch::{count_fetched, encode_batch};
use ferrolog_client::fetch::FetchSpec;
use ferrolog_client::{Client, ClientConfig, OffsetSpec, ProducerRecord, ProducerStamp};
use hdrhistogram::Histogram;
use serde_json::json;

use crate::args::{Global, PerfCommand, PerfConsumeArgs, PerfProduceArgs};
use crate::output::emit;

pub async fn run(global: &Global, command: PerfCommand) -> anyhow::Result<ExitCode> {
    match command {
        PerfCommand::Produce(args) => produce(global, args).await?,
        PerfCommand::Consume(args) => consume(global, args).await?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Per-worker latency histograms, merged at the end.
struct Latencies {
    /// From the scheduled send time (or the send, without `--rate`).
    scheduled: Histogram<u64>,
    /// From the send.
    round_trip: Histogram<u64>,
}

impl Latencies {
    fn new() -> anyhow::Result<Self> {
        Ok(Self {
            scheduled: histogram()?,
            round_trip: histogram()?,
        })
    }

    fn add(&mut self, other: &Latencies) -> anyhow::Result<()> {
        self.scheduled.add(&other.scheduled)?;
        self.round_trip.add(&other.round_trip)?;
        Ok(())
    }
}

/// Counters shared by the workers and the progress line.
#[derive(Debug, Default)]
struct Progress {
    records: AtomicU64,
    bytes: AtomicU64,
}

/// `--rate`: batch `n` is due at `started + n * batch_interval`.
#[derive(Debug, Clone, Copy)]
struct Schedule {
    started: Instant,
    batch_interval: Duration,
}

impl Schedule {
    /// Waits until batch `n` is due; returns when its latency starts. A
    /// worker behind schedule counts from the due time, so a request held up
    /// behind a slow one still reports the wait (no coordinated omission). A
    /// worker that had to sleep counts from when it woke: tokio's timer fires
    /// up to a millisecond late, and that is this tool's delay, not the broker's.
    async fn wait_for(&self, n: u64) -> Instant {
        let due = self.started + self.batch_interval.mul_f64(n as f64);
        if Instant::now() >= due {
            return due;
        }
        tokio::time::sleep_until(due.into()).await;
        Instant::now()
    }
}

fn histogram() -> anyhow::Result<Histogram<u64>> {
    // 1 µs .. 60 s at 3 significant digits.
    Ok(Histogram::new_with_bounds(1, 60_000_000, 3)?)
}

async fn produce(global: &Global, args: PerfProduceArgs) -> anyhow::Result<()> {
    let first = super::connect(global).await?;
    let partitions = first.topic_or_create(&args.topic).await?.partitions.len() as i32;
    let batch_records = args.batch_size as u64;
    let value = Bytes::from(vec![b'x'; args.record_size]);
    let records: Vec<ProducerRecord> = (0..batch_records)
        .map(|_| ProducerRecord {
            key: None,
            value: Some(value.clone()),
            headers: vec![],
            timestamp_ms: super::now_ms(),
        })
        .collect();
    let batch = encode_batch(
        &records,
        super::compression(args.compression),
        ProducerStamp::NONE,
    )?;
    let batches_total = match args.duration {
        Some(_) => u64::MAX,
        None => args.records.div_ceil(batch_records),
    };
    let deadline = args.duration.map(|d| Instant::now() + d);
    let next_batch = Arc::new(AtomicU64::new(0));
    let progress = Arc::new(Progress::default());
    let started = Instant::now();
    let ticker = spawn_progress_line(Arc::clone(&progress), started);
    let mut workers = Vec::new();
    for worker in 0..args.concurrency {
        // One client (so one connection) per worker: requests on a connection go one at a time.
        let client = Client::connect(ClientConfig::new(global.bootstrap.clone())).await?;
        let (batch, next_batch, progress, topic) = (
            batch.clone(),
            Arc::clone(&next_batch),
            Arc::clone(&progress),
            args.topic.clone(),
        );
        let acks = super::acks(args.acks);
        let value_bytes = batch_records * args.record_size as u64;
        let schedule = args.rate.map(|rate| Schedule {
            started,
            batch_interval: Duration::from_secs_f64(batch_records as f64 / rate as f64),
        });
        workers.push(tokio::spawn(async move {
            let mut latencies = Latencies::new()?;
            loop {
                let n = next_batch.fetch_add(1, Ordering::Relaxed);
                if n >= batches_total || deadline.is_some_and(|d| Instant::now() >= d) {
                    return anyhow::Ok(latencies);
                }
                let partition = ((n + u64::from(worker)) % partitions as u64) as i32;
                let due = match &schedule {
                    Some(s) => s.wait_for(n).await,
                    None => Instant::now(),
                };
                let sent = Instant::now();
                client
                    .produce(&topic, partition, batch.clone(), acks, 30_000)
                    .await?;
                let done = Instant::now();
                let micros = |from: Instant| (done - from).as_micros() as u64;
                latencies.scheduled.saturating_record(micros(due));
                latencies.round_trip.saturating_record(micros(sent));
                progress.records.fetch_add(batch_records, Ordering::Relaxed);
                progress.bytes.fetch_add(value_bytes, Ordering::Relaxed);
            }
        }));
    }
    let mut latencies = Latencies::new()?;
    for w in workers {
        latencies.add(&w.await??)?;
    }
    ticker.abort();
    let round_trip = args.rate.is_some().then_some(&latencies.round_trip);
    report(
        global,
        "produce",
        &progress,
        started.elapsed(),
        &latencies.scheduled,
        round_trip,
    )
}

async fn consume(global: &Global, args: PerfConsumeArgs) -> anyhow::Result<()> {
    let client = super::connect(global).await?;
    let meta = client.topic(&args.topic).await?;
    let ids: Vec<i32> = meta.partitions.iter().map(|p| p.partition).collect();
    let lookup = |spec: OffsetSpec| ids.iter().map(|&p| (p, spec)).collect::<Vec<_>>();
    let starts = client
        .list_offsets(&args.topic, &lookup(OffsetSpec::Earliest))
        .await?;
    let ends = client
        .list_offsets(&args.topic, &lookup(OffsetSpec::Latest))
        .await?;
    let mut cursors: Vec<(i32, i64, i64)> = starts
        .iter()
        .zip(&ends)
        .map(|(s, e)| (s.partition, s.offset, e.offset))
        .collect();
    let target = args
        .records
        .unwrap_or_else(|| cursors.iter().map(|c| (c.2 - c.1).max(0) as u64).sum());
    let progress = Arc::new(Progress::default());
    let started = Instant::now();
    let ticker = spawn_progress_line(Arc::clone(&progress), started);
    let mut hist = histogram()?;
    while progress.records.load(Ordering::Relaxed) < target {
        let pending: Vec<(i32, i64)> = cursors
            .iter()
            .filter(|c| c.1 < c.2)
            .map(|c| (c.0, c.1))
            .collect();
        if pending.is_empty() {
            break;
        }
        fetch_once(&client, &args, pending, &mut cursors, &progress, &mut hist).await?;
    }
    ticker.abort();
    report(global, "consume", &progress, started.elapsed(), &hist, None)
}

/// One fetch to the leader of the first unfinished partition, with every
/// unfinished partition it leads; counts what came back and advances cursors.
async fn fetch_once(
    client: &Client,
    args: &PerfConsumeArgs,
    pending: Vec<(i32, i64)>,
    cursors: &mut [(i32, i64, i64)],
    progress: &Progress,
    hist: &mut Histogram<u64>,
) -> anyhow::Result<()> {
    let Some(&(first, _)) = pending.first() else {
        return Ok(());
    };
    let leader = client.leader(&args.topic, first).await?;
    let mut led = Vec::with_capacity(pending.len());
    for (p, offset) in pending {
        if client.leader(&args.topic, p).await? == leader {
            led.push((p, offset));
        }
    }
    let spec = FetchSpec {
        topic: args.topic.clone(),
        partitions: led,
        max_wait_ms: 100,
        min_bytes: 1,
        max_bytes: args.fetch_bytes,
        partition_max_bytes: args.partition_fetch_bytes,
    };
    let sent = Instant::now();
    let fetched = client.fetch(leader, &spec).await?;
    hist.saturating_record(sent.elapsed().as_micros() as u64);
    for f in fetched {
        if let Some(code) = f.error {
            anyhow::bail!("fetch from {}-{} failed: {code}", args.topic, f.partition);
        }
        let Some(cursor) = cursors.iter_mut().find(|c| c.0 == f.partition) else {
            continue;
        };
        progress
            .bytes
            .fetch_add(f.records.len() as u64, Ordering::Relaxed);
        // CRC-checked and counted from the batch headers: this measures
        // the broker, not this client's record decoder.
        let counted = count_fetched(&f.records, cursor.1)?;
        progress
            .records
            .fetch_add(counted.records, Ordering::Relaxed);
        if let Some(next) = counted.next_offset {
            cursor.1 = cursor.1.max(next);
        }
    }
    Ok(())
}

/// A once-a-second progress line on stderr, only on a terminal.
fn spawn_progress_line(progress: Arc<Progress>, started: Instant) -> tokio::task::JoinHandle<()> {
    let tty = std::io::stderr().is_terminal();
    tokio::spawn(async move {
        if !tty {
            return;
        }
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let secs = started.elapsed().as_secs_f64().max(1e-9);
            let records = progress.records.load(Ordering::Relaxed);
            let mb = progress.bytes.load(Ordering::Relaxed) as f64 / 1e6;
            eprint!(
                "\r{records} records, {:.0} records/s, {:.1} MB/s   ",
                records as f64 / secs,
                mb / secs
            );
        }
    })
}

fn report(
    global: &Global,
    what: &str,
    progress: &Progress,
    elapsed: Duration,
    hist: &Histogram<u64>,
    round_trip: Option<&Histogram<u64>>,
) -> anyhow::Result<()> {
    if std::io::stderr().is_terminal() {
        eprintln!();
    }
    let records = progress.records.load(Ordering::Relaxed);
    let bytes = progress.bytes.load(Ordering::Relaxed);
    let secs = elapsed.as_secs_f64().max(1e-9);
    let mut json = json!({
        "mode": what, "records": records, "bytes": bytes, "seconds": secs,
        "records_per_sec": records as f64 / secs, "mb_per_sec": bytes as f64 / 1e6 / secs,
        "requests": hist.len(),
        "latency_ms": percentiles_ms(hist),
    });
    if let Some(rt) = round_trip {
        json["round_trip_ms"] = percentiles_ms(rt);
    }
    emit(global.output, &json, || {
        let mut text = format!(
            "{what}: {records} records, {:.1} MB in {secs:.2} s: {:.0} records/s, {:.1} MB/s\n\
             request latency ms ({} requests): {}",
            bytes as f64 / 1e6,
            records as f64 / secs,
            bytes as f64 / 1e6 / secs,
            hist.len(),
            percentiles_line(hist),
        );
        if let Some(rt) = round_trip {
            text.push_str(&format!(
                "\n  from the scheduled send time; round trip alone: {}",
                percentiles_line(rt)
            ));
        }
        text
    })
}

fn quantile_ms(hist: &Histogram<u64>, q: f64) -> f64 {
    hist.value_at_quantile(q) as f64 / 1000.0
}

fn percentiles_ms(hist: &Histogram<u64>) -> serde_json::Value {
    json!({
        "p50": quantile_ms(hist, 0.5), "p99": quantile_ms(hist, 0.99),
        "p99_9": quantile_ms(hist, 0.999), "max": hist.max() as f64 / 1000.0,
    })
}

fn percentiles_line(hist: &Histogram<u64>) -> String {
    format!(
        "p50 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}",
        quantile_ms(hist, 0.5),
        quantile_ms(hist, 0.99),
        quantile_ms(hist, 0.999),
        hist.max() as f64 / 1000.0
    )
}
