//! `ferrolog perf produce|consume`: load generators printing records/s, MB/s
//! and latency percentiles (HdrHistogram) of each request, with a progress
//! line on a terminal. Bounded by a record count or a duration.
//!
//! The producer encodes one batch per run (two when the last batch of
//! `--records` is shorter) and sends it again and again (the broker assigns
//! offsets), so it measures the broker and the network, not this client's
//! encoder — as Kafka's own producer-perf-test reuses payloads.
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
use ferrolog_client::fetch::{FetchSpec, FetchedPartition};
use ferrolog_client::produce::Acks;
use ferrolog_client::{Client, OffsetSpec, ProducerRecord, ProducerStamp};
use hdrhistogram::Histogram;
use serde_json::json;

use crate::args::{Global, PerfCommand, PerfConsumeArgs, PerfProduceArgs};
use crate::output::{count, emit};

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
    fn due(&self, n: u64) -> Instant {
        self.started + self.batch_interval.mul_f64(n as f64)
    }

    /// Waits until batch `n` is due; returns when its latency starts. A
    /// worker behind schedule counts from the due time, so a request held up
    /// behind a slow one still reports the wait (no coordinated omission). A
    /// worker that had to sleep counts from when it woke: tokio's timer fires
    /// up to a millisecond late, and that is this tool's delay, not the broker's.
    async fn wait_for(&self, n: u64) -> Instant {
        let due = self.due(n);
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

/// With `--rate`, at least this many batches a second: a batch holds at most
/// a tenth of a second of the rate (at least one record). A batch of
/// `--batch-size` at a low rate would be due seconds after the one before,
/// so a run would overshoot its `--duration` by that much and send each few
/// seconds' records in one burst. At the rates tools/bench asks for (10,000
/// records/s and up) the batch keeps its full `--batch-size`.
const RATE_BATCHES_PER_SEC_MIN: u64 = 10;

/// Records per batch: `--batch-size`, cut down at a low `--rate`.
fn records_per_batch(batch_size: u32, rate: Option<u64>) -> u64 {
    let size = u64::from(batch_size);
    match rate {
        Some(rate) => size.min((rate / RATE_BATCHES_PER_SEC_MIN).max(1)),
        None => size,
    }
}

/// `records` cut into batches of `per_batch`: how many batches, and how many
/// records the last one holds (`per_batch` when it divides, fewer otherwise).
fn split_records(records: u64, per_batch: u64) -> (u64, u64) {
    let batches = records.div_ceil(per_batch);
    let before_last = batches.saturating_sub(1) * per_batch;
    (batches, records - before_last)
}

/// One encoded batch, sent again and again.
#[derive(Debug, Clone)]
struct Payload {
    batch: Bytes,
    records: u64,
    /// Value bytes in the batch: what the report counts as bytes.
    value_bytes: u64,
}

impl Payload {
    fn encode(records: u64, args: &PerfProduceArgs) -> anyhow::Result<Self> {
        let value = Bytes::from(vec![b'x'; args.record_size]);
        let timestamp_ms = super::now_ms();
        let batch: Vec<ProducerRecord> = (0..records)
            .map(|i| ProducerRecord {
                key: args
                    .keys
                    .map(|keys| Bytes::from(format!("key-{}", i % keys))),
                value: Some(value.clone()),
                headers: vec![],
                timestamp_ms,
            })
            .collect();
        Ok(Self {
            batch: encode_batch(
                &batch,
                super::compression(args.compression),
                ProducerStamp::NONE,
            )?,
            records,
            value_bytes: records * args.record_size as u64,
        })
    }
}

/// The batches of a run: `count` of them (unbounded with `--duration`), each
/// `full` but the last, which holds the rest of `--records`.
#[derive(Debug)]
struct Plan {
    full: Payload,
    last: Payload,
    count: u64,
}

impl Plan {
    fn new(args: &PerfProduceArgs) -> anyhow::Result<Self> {
        let per_batch = records_per_batch(args.batch_size, args.rate);
        let full = Payload::encode(per_batch, args)?;
        let (count, last_records) = match args.duration {
            Some(_) => (u64::MAX, per_batch),
            None => split_records(args.records, per_batch),
        };
        let last = if last_records == per_batch || last_records == 0 {
            full.clone()
        } else {
            Payload::encode(last_records, args)?
        };
        Ok(Self { full, last, count })
    }

    /// Batch `n`, or `None` past the end of a `--records` run.
    fn batch(&self, n: u64) -> Option<&Payload> {
        match (n + 1).cmp(&self.count) {
            std::cmp::Ordering::Less => Some(&self.full),
            std::cmp::Ordering::Equal => Some(&self.last),
            std::cmp::Ordering::Greater => None,
        }
    }
}

/// What the producer workers share.
#[derive(Debug)]
struct Load {
    plan: Plan,
    /// The next batch number to claim: each worker takes one at a time.
    next_batch: AtomicU64,
    progress: Arc<Progress>,
    topic: String,
    partitions: i32,
    acks: Acks,
    schedule: Option<Schedule>,
    deadline: Option<Instant>,
}

impl Load {
    /// Claims the next batch; `None` when the run is over. With `--rate` and
    /// `--duration`, a batch due at or after the deadline is not sent, so no
    /// worker sleeps past the end of the run.
    fn claim(&self) -> Option<(u64, &Payload)> {
        let n = self.next_batch.fetch_add(1, Ordering::Relaxed);
        let payload = self.plan.batch(n)?;
        let starts = self.schedule.map_or_else(Instant::now, |s| s.due(n));
        match self.deadline {
            Some(deadline) if starts >= deadline => None,
            _ => Some((n, payload)),
        }
    }
}

async fn produce(global: &Global, args: PerfProduceArgs) -> anyhow::Result<()> {
    let first = super::connect(global).await?;
    let partitions = first.topic_or_create(&args.topic).await?.partitions.len() as i32;
    let plan = Plan::new(&args)?;
    let started = Instant::now();
    let load = Arc::new(Load {
        schedule: args.rate.map(|rate| Schedule {
            started,
            batch_interval: Duration::from_secs_f64(plan.full.records as f64 / rate as f64),
        }),
        plan,
        next_batch: AtomicU64::new(0),
        progress: Arc::new(Progress::default()),
        topic: args.topic.clone(),
        partitions,
        acks: super::acks(args.acks),
        deadline: args.duration.map(|d| started + d),
    });
    let ticker = spawn_progress_line(Arc::clone(&load.progress), started);
    let mut workers = Vec::new();
    for worker in 0..args.concurrency {
        // One client (so one connection) per worker: requests on a connection go one at a time.
        let client = super::connect(global).await?;
        workers.push(tokio::spawn(produce_worker(
            client,
            worker,
            Arc::clone(&load),
        )));
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
        &load.progress,
        started.elapsed(),
        &latencies.scheduled,
        round_trip,
    )
}

/// Sends the batches it claims, one request at a time, until the run is over.
async fn produce_worker(client: Client, worker: u32, load: Arc<Load>) -> anyhow::Result<Latencies> {
    let mut latencies = Latencies::new()?;
    while let Some((n, payload)) = load.claim() {
        let partition = ((n + u64::from(worker)) % load.partitions as u64) as i32;
        let due = match &load.schedule {
            Some(s) => s.wait_for(n).await,
            None => Instant::now(),
        };
        let sent = Instant::now();
        client
            .produce(
                &load.topic,
                partition,
                payload.batch.clone(),
                load.acks,
                30_000,
            )
            .await?;
        let done = Instant::now();
        let micros = |from: Instant| (done - from).as_micros() as u64;
        latencies.scheduled.saturating_record(micros(due));
        latencies.round_trip.saturating_record(micros(sent));
        let progress = &load.progress;
        progress
            .records
            .fetch_add(payload.records, Ordering::Relaxed);
        progress
            .bytes
            .fetch_add(payload.value_bytes, Ordering::Relaxed);
    }
    Ok(latencies)
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
        let left = target.saturating_sub(progress.records.load(Ordering::Relaxed));
        let fetched = fetch_once(&client, &args, pending, &mut hist).await?;
        count_partitions(&args.topic, fetched, &mut cursors, &progress, left)?;
    }
    ticker.abort();
    report(global, "consume", &progress, started.elapsed(), &hist, None)
}

/// One fetch to the leader of the first unfinished partition, with every
/// unfinished partition it leads.
async fn fetch_once(
    client: &Client,
    args: &PerfConsumeArgs,
    pending: Vec<(i32, i64)>,
    hist: &mut Histogram<u64>,
) -> anyhow::Result<Vec<FetchedPartition>> {
    let Some(&(first, _)) = pending.first() else {
        return Ok(Vec::new());
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
    Ok(fetched)
}

/// Counts what a fetch brought, at most `left` records (`--records` may end
/// the run inside a batch), and advances the cursors past it.
fn count_partitions(
    topic: &str,
    fetched: Vec<FetchedPartition>,
    cursors: &mut [(i32, i64, i64)],
    progress: &Progress,
    mut left: u64,
) -> anyhow::Result<()> {
    for f in fetched {
        if left == 0 {
            break;
        }
        if let Some(code) = f.error {
            anyhow::bail!("fetch from {topic}-{} failed: {code}", f.partition);
        }
        let Some(cursor) = cursors.iter_mut().find(|c| c.0 == f.partition) else {
            continue;
        };
        // CRC-checked and counted from the batch headers: this measures
        // the broker, not this client's record decoder.
        let counted = count_fetched(&f.records, cursor.1)?;
        let taken = counted.records.min(left);
        left -= taken;
        let bytes = bytes_taken(f.records.len() as u64, taken, counted.records);
        progress.records.fetch_add(taken, Ordering::Relaxed);
        progress.bytes.fetch_add(bytes, Ordering::Relaxed);
        if let Some(next) = counted.next_offset {
            cursor.1 = cursor.1.max(next);
        }
    }
    Ok(())
}

/// The share of `len` fetched bytes that carried `taken` of the `counted`
/// records: all of them, unless `--records` ended the run inside this
/// fetch, so MB/s and records/s describe the same records.
fn bytes_taken(len: u64, taken: u64, counted: u64) -> u64 {
    if taken >= counted {
        return len;
    }
    let share = u128::from(len) * u128::from(taken) / u128::from(counted);
    u64::try_from(share).unwrap_or(len)
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
            "{what}: {}, {:.1} MB in {secs:.2} s: {:.0} records/s, {:.1} MB/s\n\
             request latency ms ({}): {}",
            count(records, "record"),
            bytes as f64 / 1e6,
            records as f64 / secs,
            bytes as f64 / 1e6 / secs,
            count(hist.len(), "request"),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_low_rate_cuts_the_batch_to_a_tenth_of_a_second() {
        assert_eq!(records_per_batch(1000, None), 1000);
        assert_eq!(records_per_batch(1000, Some(200)), 20);
        assert_eq!(records_per_batch(1000, Some(5)), 1);
        assert_eq!(records_per_batch(1000, Some(50_000)), 1000);
    }

    #[test]
    fn the_last_batch_holds_the_rest_of_the_records() {
        assert_eq!(split_records(10, 1000), (1, 10));
        assert_eq!(split_records(10, 3), (4, 1));
        assert_eq!(split_records(1500, 1000), (2, 500));
        assert_eq!(split_records(2000, 1000), (2, 1000));
        assert_eq!(split_records(0, 1000), (0, 0));
    }

    #[test]
    fn bytes_are_counted_for_the_records_taken() {
        assert_eq!(bytes_taken(1000, 10, 10), 1000);
        assert_eq!(bytes_taken(1000, 1, 4), 250);
        assert_eq!(bytes_taken(1000, 0, 4), 0);
        // A trailing partial batch: no record counted, its bytes still arrived.
        assert_eq!(bytes_taken(1000, 0, 0), 1000);
    }
}
