//! Throughput of a librdkafka client against a running broker: produce N
//! records of B bytes (batching on), then consume them all back. Exits
//! non-zero unless every record was delivered and read back.
//!
//! While producing, librdkafka's statistics are printed to stdout, one JSON
//! object a line every `--stats-interval-ms`, as librdkafka's own
//! `rdkafka_performance -T` prints them: tools/bench takes the produce round
//! trip (`rtt`) from them (tools/bench_rdkafka_stats.py).
//!
//! cargo run --release --example rdkafka_perf -- \
//!     [--bootstrap 127.0.0.1:9092] [--topic perf] [--partitions 1] [--records 1000000] \
//!     [--record-bytes 100] [--acks 1] [--compression none] [--linger-ms 5] \
//!     [--stats-interval-ms 250] [--producer-set key=value]...

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::{Offset, TopicPartitionList};

/// Sends between two non-blocking polls for delivery reports.
const POLL_EVERY: usize = 1000;

/// Counts delivery reports (a failed record must fail the run, not just slow
/// it) and prints librdkafka's statistics as they come.
#[derive(Debug, Default)]
struct Delivery {
    delivered: AtomicUsize,
    failed: AtomicUsize,
    first_error: Mutex<Option<String>>,
    stats_printed: AtomicUsize,
}

impl ClientContext for Delivery {
    fn stats_raw(&self, statistics: &[u8]) {
        println!("{}", String::from_utf8_lossy(statistics));
        self.stats_printed.fetch_add(1, Ordering::Relaxed);
    }
}

impl ProducerContext for Delivery {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err((error, _)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut first) = self.first_error.lock() {
                    first.get_or_insert_with(|| error.to_string());
                }
            }
        }
    }
}

#[derive(Debug)]
struct Args {
    bootstrap: String,
    topic: String,
    partitions: i32,
    records: usize,
    record_bytes: usize,
    acks: String,
    compression: String,
    linger_ms: String,
    stats_interval_ms: u64,
    /// Extra librdkafka producer properties, applied last.
    producer_set: Vec<(String, String)>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        bootstrap: "127.0.0.1:9092".into(),
        topic: format!("perf-{}", std::process::id()),
        partitions: 1,
        records: 1_000_000,
        record_bytes: 100,
        acks: "1".into(),
        compression: "none".into(),
        linger_ms: "5".into(),
        stats_interval_ms: 250,
        producer_set: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = |v: &str| v.parse::<usize>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--bootstrap" => args.bootstrap = value,
            "--topic" => args.topic = value,
            "--partitions" => {
                args.partitions = i32::try_from(number(&value)?).map_err(|e| e.to_string())?
            }
            "--records" => args.records = number(&value)?,
            "--record-bytes" => args.record_bytes = number(&value)?,
            "--acks" => args.acks = value,
            "--compression" => args.compression = value,
            "--linger-ms" => args.linger_ms = value,
            "--stats-interval-ms" => args.stats_interval_ms = number(&value)? as u64,
            "--producer-set" => {
                let (k, v) = value
                    .split_once('=')
                    .ok_or_else(|| format!("{flag}: expected key=value, got {value}"))?;
                args.producer_set.push((k.to_owned(), v.to_owned()));
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(args)
}

fn rate(what: &str, records: usize, bytes: usize, elapsed: Duration, cpu: Duration) {
    let secs = elapsed.as_secs_f64();
    println!(
        "{what}: {records} records, {:.1} MB in {secs:.3} s = {:.0} records/s, {:.1} MB/s; client cpu {:.2} s ({:.2} cores)",
        bytes as f64 / 1e6,
        records as f64 / secs,
        bytes as f64 / 1e6 / secs,
        cpu.as_secs_f64(),
        cpu.as_secs_f64() / secs
    );
}

/// CPU time (user + system) this process has used so far: with the broker on
/// the same cores, it tells a run limited by the client from one limited by
/// the broker.
fn cpu_time() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(
        t.tv_sec.max(0) as u64,
        t.tv_nsec.clamp(0, 999_999_999) as u32,
    )
}

fn produce(args: &Args) -> Result<Duration, Box<dyn std::error::Error>> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &args.bootstrap)
        .set("acks", &args.acks)
        .set("compression.type", &args.compression)
        .set("linger.ms", &args.linger_ms)
        .set("batch.size", "1000000")
        .set("batch.num.messages", "100000")
        .set("queue.buffering.max.messages", "1000000")
        .set("queue.buffering.max.kbytes", "1048576")
        .set("statistics.interval.ms", args.stats_interval_ms.to_string());
    for (key, value) in &args.producer_set {
        config.set(key, value);
    }
    // BaseProducer, polled from the sending thread, as librdkafka's own
    // rdkafka_performance does: delivery reports are served in batches between
    // sends. With ThreadedProducer's extra polling thread, 5 M records of 100 B
    // took 6.9–7.1 s of client CPU against 5.7–6.2 s (docs/PERFORMANCE.md,
    // sixth session).
    let producer: BaseProducer<Delivery> = config.create_with_context(Delivery::default())?;
    let payload = vec![b'x'; args.record_bytes];
    let partitions = args.partitions.max(1);
    let started = Instant::now();
    for i in 0..args.records {
        let partition = i32::try_from(i % partitions as usize).unwrap_or(0);
        let mut record = BaseRecord::<(), [u8]>::to(&args.topic)
            .payload(&payload)
            .partition(partition);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    producer.poll(Duration::from_millis(1));
                }
                Err((e, _)) => return Err(e.into()),
            }
        }
        if i % POLL_EVERY == 0 {
            producer.poll(Duration::ZERO);
        }
    }
    producer.flush(Duration::from_secs(120))?;
    let elapsed = started.elapsed();
    let context = producer.context();
    // The requests since the last statistics are in the next one: wait for it
    // (outside the timed part), so the run's last window is not lost.
    let printed = context.stats_printed.load(Ordering::Relaxed);
    let give_up = Instant::now() + Duration::from_millis(4 * args.stats_interval_ms);
    while context.stats_printed.load(Ordering::Relaxed) == printed && Instant::now() < give_up {
        producer.poll(Duration::from_millis(10));
    }
    let (delivered, failed) = (
        context.delivered.load(Ordering::Relaxed),
        context.failed.load(Ordering::Relaxed),
    );
    if delivered != args.records {
        let first = context.first_error.lock().ok().and_then(|e| e.clone());
        return Err(format!(
            "{delivered} of {} records delivered, {failed} failed (first: {})",
            args.records,
            first.as_deref().unwrap_or("none")
        )
        .into());
    }
    Ok(elapsed)
}

fn consume(args: &Args) -> Result<(Duration, usize), Box<dyn std::error::Error>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &args.bootstrap)
        .set(
            "group.id",
            std::env::var("PERF_GROUP").unwrap_or_else(|_| "rdkafka-perf".into()),
        )
        .set("enable.auto.commit", "false")
        .set("fetch.max.bytes", "52428800")
        .set("max.partition.fetch.bytes", "10485760")
        .set("queued.max.messages.kbytes", "1048576")
        // librdkafka 2.x postpones a partition's next fetch by
        // fetch.queue.backoff.ms (1 s) once queued.min.messages are queued,
        // which turns a backlog read into 1 s stalls; keep fetching instead.
        .set("queued.min.messages", "1000000")
        .set("fetch.queue.backoff.ms", "10")
        .create()?;
    let mut list = TopicPartitionList::new();
    for p in 0..args.partitions.max(1) {
        list.add_partition_offset(&args.topic, p, Offset::Beginning)?;
    }
    consumer.assign(&list)?;
    let started = Instant::now();
    let mut first_at = None;
    let mut count = 0;
    let mut bytes = 0;
    while count < args.records {
        match consumer.poll(Duration::from_secs(10)) {
            Some(Ok(m)) => {
                if count == 0 {
                    first_at = Some((Instant::now(), cpu_time()));
                    println!(
                        "consume: first record after {:?} (connect, metadata, offsets)",
                        started.elapsed()
                    );
                }
                count += 1;
                bytes += m.payload_len();
                if std::env::var_os("PERF_TRACE").is_some() && count % 50_000 == 0 {
                    eprintln!("{count} at {:?}", started.elapsed());
                }
            }
            Some(Err(e)) => return Err(e.into()),
            None => {
                eprintln!("no record for 10 s after {count}");
                break;
            }
        }
    }
    if let Some((first_at, first_cpu)) = first_at {
        rate(
            "consume (from the first record)",
            count,
            bytes,
            first_at.elapsed(),
            cpu_time().saturating_sub(first_cpu),
        );
    }
    if count < args.records {
        return Err(format!("consumed only {count} of {} records", args.records).into());
    }
    Ok((started.elapsed(), bytes))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &args.bootstrap)
        .create()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let topic = NewTopic::new(&args.topic, args.partitions, TopicReplication::Fixed(1));
    for result in runtime.block_on(admin.create_topics([&topic], &AdminOptions::new()))? {
        if let Err((name, code)) = result {
            eprintln!("create {name}: {code:?} (continuing)");
        }
    }
    println!("{args:?}");
    let payload_bytes = args.records * args.record_bytes;
    let cpu = cpu_time();
    let elapsed = produce(&args)?;
    let cpu = cpu_time().saturating_sub(cpu);
    rate("produce", args.records, payload_bytes, elapsed, cpu);
    let cpu = cpu_time();
    let (elapsed, bytes) = consume(&args)?;
    let cpu = cpu_time().saturating_sub(cpu);
    rate("consume (total)", args.records, bytes, elapsed, cpu);
    Ok(())
}
