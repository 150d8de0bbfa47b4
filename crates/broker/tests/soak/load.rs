//! The load a soak puts on the broker: one producer writing numbered records
//! round-robin over the partitions, and one group member committing ever
//! larger offsets. Both keep going across broker kills and record only what
//! the broker acknowledged.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use super::{GROUP, SoakConfig, TOPIC};

/// Deliveries the producer may have outstanding; bounds client memory.
const IN_FLIGHT_MAX: u32 = 256;
/// How long a record may wait in the client for a broker that is restarting.
const MESSAGE_TIMEOUT_MS: &str = "30000";
/// Pause between two commits of the committer.
const COMMIT_EVERY: Duration = Duration::from_millis(100);

/// One acknowledged record: value `"{partition}:{seq}"` at `offset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ack {
    pub partition: i32,
    pub seq: u64,
    pub offset: i64,
}

/// Everything the load saw acknowledged once it has been stopped.
#[derive(Debug, Default)]
pub struct Totals {
    pub acknowledged: Vec<Ack>,
    pub failed: u64,
    pub recreations: u64,
    pub commits: u64,
    /// Last acknowledged committed offset per partition.
    pub committed: HashMap<i32, i64>,
}

/// The running load; `finish` stops it and waits for every outstanding delivery.
#[derive(Debug)]
pub struct Load {
    stop: Arc<AtomicBool>,
    producer: JoinHandle<(u64, u64)>,
    committer: JoinHandle<u64>,
    acked: Arc<Mutex<Vec<Ack>>>,
    committed: Arc<Mutex<HashMap<i32, i64>>>,
}

impl Load {
    pub fn start(bootstrap: String, config: &SoakConfig) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(Vec::new()));
        let committed = Arc::new(Mutex::new(HashMap::new()));
        let producer = tokio::spawn(produce(
            bootstrap.clone(),
            config.acks.clone(),
            config.partitions,
            stop.clone(),
            acked.clone(),
        ));
        let committer = tokio::task::spawn_blocking({
            let (stop, committed, partitions) =
                (stop.clone(), committed.clone(), config.partitions);
            move || commit_loop(&bootstrap, partitions, &stop, &committed)
        });
        Load {
            stop,
            producer,
            committer,
            acked,
            committed,
        }
    }

    /// Committed offsets acknowledged so far.
    pub fn committed_snapshot(&self) -> HashMap<i32, i64> {
        self.committed.lock().unwrap().clone()
    }

    pub async fn finish(self) -> Totals {
        self.stop.store(true, Ordering::SeqCst);
        let (failed, recreations) = self.producer.await.unwrap_or((u64::MAX, 0));
        let commits = self.committer.await.unwrap_or(0);
        let acknowledged = std::mem::take(&mut *self.acked.lock().unwrap());
        let committed = self.committed.lock().unwrap().clone();
        Totals {
            acknowledged,
            failed,
            recreations,
            commits,
            committed,
        }
    }
}

fn producer_config(bootstrap: &str, acks: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("acks", acks)
        .set("linger.ms", "2")
        .set("message.timeout.ms", MESSAGE_TIMEOUT_MS)
        .set("retry.backoff.ms", "50")
        .set("reconnect.backoff.ms", "20")
        .set("reconnect.backoff.max.ms", "200");
    if acks == "all" {
        config.set("enable.idempotence", "true");
    } else {
        // Without idempotence a retry could duplicate; with no retries every
        // acknowledged record must be there exactly once.
        config
            .set("enable.idempotence", "false")
            .set("message.send.max.retries", "0");
    }
    config
}

/// Sends numbered records until stopped; returns (failed deliveries, producer recreations).
async fn produce(
    bootstrap: String,
    acks: String,
    partitions: i32,
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<Ack>>>,
) -> (u64, u64) {
    let failed = Arc::new(AtomicU64::new(0));
    let permits = Arc::new(Semaphore::new(IN_FLIGHT_MAX as usize));
    let mut producer: FutureProducer = producer_config(&bootstrap, &acks)
        .create()
        .expect("producer");
    let mut next_seq = vec![0u64; usize::try_from(partitions).unwrap_or(0)];
    let mut recreations = 0;
    while !stop.load(Ordering::SeqCst) {
        for (p, seq) in next_seq.iter_mut().enumerate() {
            let permit = permits
                .clone()
                .acquire_owned()
                .await
                .expect("semaphore open");
            let partition = i32::try_from(p).unwrap_or(0);
            let value = format!("{partition}:{seq}");
            let record = FutureRecord::<(), _>::to(super::TOPIC)
                .payload(&value)
                .partition(partition);
            match producer.send_result(record) {
                Ok(delivery) => {
                    let (acked, failed, seq) = (acked.clone(), failed.clone(), *seq);
                    tokio::spawn(async move {
                        match delivery.await {
                            Ok(Ok(d)) => acked.lock().unwrap().push(Ack {
                                partition: d.partition,
                                seq,
                                offset: d.offset,
                            }),
                            _ => drop(failed.fetch_add(1, Ordering::Relaxed)),
                        }
                        drop(permit);
                    });
                }
                Err(_) => {
                    failed.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            *seq += 1;
        }
        if let Some((code, reason)) = producer.client().fatal_error() {
            // An idempotent producer that hit a fatal error (e.g. the broker
            // forgot its sequence state) refuses everything; note it and go on
            // with a new producer id, so the soak still exercises the broker.
            eprintln!("soak: producer fatal error {code:?}: {reason}; recreating");
            recreations += 1;
            producer = producer_config(&bootstrap, &acks)
                .create()
                .expect("producer");
        }
    }
    // Every outstanding delivery resolves (acknowledged or timed out) before
    // the totals are read.
    let all = permits
        .acquire_many(IN_FLIGHT_MAX)
        .await
        .expect("semaphore open");
    drop(all);
    (failed.load(Ordering::Relaxed), recreations)
}

/// Commits offset `round` for every partition, round after round; records
/// each round the broker acknowledged. Returns the number acknowledged.
fn commit_loop(
    bootstrap: &str,
    partitions: i32,
    stop: &AtomicBool,
    committed: &Mutex<HashMap<i32, i64>>,
) -> u64 {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", GROUP)
        .set("enable.auto.commit", "false")
        .set("reconnect.backoff.ms", "20")
        .set("reconnect.backoff.max.ms", "200")
        .create()
        .expect("committer");
    let mut acknowledged = 0;
    let mut round = 0i64;
    while !stop.load(Ordering::SeqCst) {
        round += 1;
        let mut list = TopicPartitionList::new();
        for p in 0..partitions {
            list.add_partition_offset(TOPIC, p, Offset::Offset(round))
                .expect("partition list");
        }
        if consumer.commit(&list, CommitMode::Sync).is_ok() {
            acknowledged += 1;
            let mut committed = committed.lock().unwrap();
            for p in 0..partitions {
                committed.insert(p, round);
            }
        }
        std::thread::sleep(COMMIT_EVERY);
    }
    acknowledged
}
