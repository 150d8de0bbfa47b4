//! The kill -9 soak: a real `ferrologd` under idempotent acks=all load is
//! SIGKILLed at random moments and restarted, then every acknowledged record
//! and committed group offset is checked against what the broker holds.
//!
//! Shared by the bounded test (`tests/kill9.rs`) and the soak tool
//! (`examples/kill_soak.rs`), which takes a cycle count.
#![allow(dead_code, clippy::unwrap_used)]

pub mod check;
pub mod load;
pub mod process;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use process::BrokerProcess;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;

/// The topic every soak writes.
pub const TOPIC: &str = "soak";
/// The group whose committed offsets are checked.
pub const GROUP: &str = "soak-committer";

/// What one soak run does.
#[derive(Clone, Debug)]
pub struct SoakConfig {
    /// The `ferrologd` binary.
    pub binary: PathBuf,
    /// SIGKILL + restart cycles.
    pub cycles: u32,
    pub partitions: i32,
    /// Load runs this long (uniformly at random) before each kill.
    pub load_ms_min: u64,
    pub load_ms_max: u64,
    /// `ferrolog.durability` of the topic: `always`, `interval:<ms>`, `never`.
    pub durability: String,
    /// `all`: idempotent acks=all producer (records must be exactly once).
    /// `1`: acks=1 without retries (process crash must still lose nothing acked).
    pub acks: String,
    /// Seeds the kill moments, so a failing run can be repeated.
    pub seed: u64,
}

impl SoakConfig {
    /// A bounded run for the test suite.
    pub fn bounded(binary: PathBuf, cycles: u32) -> SoakConfig {
        SoakConfig {
            binary,
            cycles,
            partitions: 4,
            load_ms_min: 200,
            load_ms_max: 1200,
            durability: "always".into(),
            acks: "all".into(),
            seed: seed_from_clock(),
        }
    }
}

/// What a soak run saw; `violations` empty means every invariant held.
#[derive(Debug, Default)]
pub struct SoakReport {
    pub cycles: u32,
    pub seed: u64,
    pub acknowledged: u64,
    pub failed_deliveries: u64,
    pub producer_recreations: u64,
    pub stored: u64,
    pub commits_acknowledged: u64,
    pub violations: Vec<String>,
    pub broker_errors: Vec<String>,
}

impl std::fmt::Display for SoakReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cycles={} seed={} acked={} failed_deliveries={} producer_recreations={} stored={} \
             commits_acked={} violations={} broker_error_lines={}",
            self.cycles,
            self.seed,
            self.acknowledged,
            self.failed_deliveries,
            self.producer_recreations,
            self.stored,
            self.commits_acknowledged,
            self.violations.len(),
            self.broker_errors.len()
        )?;
        for v in self.violations.iter().take(20) {
            write!(f, "\n  violation: {v}")?;
        }
        Ok(())
    }
}

/// Runs the soak in `work_dir`; `Err` means the harness itself could not run.
pub async fn run(config: &SoakConfig, work_dir: &std::path::Path) -> Result<SoakReport, String> {
    let extra = format!("[log]\ndurability = {:?}\n", config.durability);
    let mut broker = BrokerProcess::start(&config.binary, work_dir, &extra)?;
    create_topic(&broker.bootstrap(), config.partitions).await?;
    let load = load::Load::start(broker.bootstrap(), config);
    let mut report = SoakReport {
        seed: config.seed,
        ..SoakReport::default()
    };
    let mut rng = XorShift(config.seed | 1);
    for cycle in 0..config.cycles {
        let span = config.load_ms_max.saturating_sub(config.load_ms_min).max(1);
        let pause = config.load_ms_min + rng.next() % span;
        tokio::time::sleep(Duration::from_millis(pause)).await;
        let committed_before = load.committed_snapshot();
        broker.kill9()?;
        // Let clients notice the dead broker and queue retries.
        tokio::time::sleep(Duration::from_millis(rng.next() % 200)).await;
        let started = Instant::now();
        broker = respawn(broker).await?;
        let restart_ms = started.elapsed().as_millis();
        if cycle == 0 || cycle + 1 == config.cycles {
            eprintln!("soak: cycle {} restarted in {restart_ms} ms", cycle + 1);
        }
        report
            .violations
            .extend(check::committed_not_behind(&broker.bootstrap(), &committed_before).await);
        report.cycles += 1;
    }
    let totals = load.finish().await;
    report.acknowledged = totals.acknowledged.len() as u64;
    report.failed_deliveries = totals.failed;
    report.producer_recreations = totals.recreations;
    report.commits_acknowledged = totals.commits;
    // One last crash with nothing in flight, then read everything back.
    broker.kill9()?;
    broker = respawn(broker).await?;
    report
        .violations
        .extend(check::committed_not_behind(&broker.bootstrap(), &totals.committed).await);
    let (stored, violations) =
        check::log_matches(&broker.bootstrap(), config.partitions, &totals.acknowledged).await?;
    report.stored = stored;
    report.violations.extend(violations);
    broker.stop()?;
    report.broker_errors = broker.logged_errors();
    Ok(report)
}

/// Starts the killed broker again (waiting for its port off the async workers).
async fn respawn(mut broker: BrokerProcess) -> Result<BrokerProcess, String> {
    tokio::task::spawn_blocking(move || broker.spawn().map(|()| broker))
        .await
        .map_err(|e| format!("restart task failed: {e}"))?
}

async fn create_topic(bootstrap: &str, partitions: i32) -> Result<(), String> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .map_err(|e| format!("admin client: {e}"))?;
    let topic = NewTopic::new(TOPIC, partitions, TopicReplication::Fixed(1));
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let results = admin
        .create_topics(&[topic], &options)
        .await
        .map_err(|e| format!("create topic: {e}"))?;
    for result in results {
        result.map_err(|(name, code)| format!("create topic {name}: {code}"))?;
    }
    Ok(())
}

/// A seed that differs from run to run; printed in the report.
pub fn seed_from_clock() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
}

/// xorshift64: enough randomness for kill moments, and repeatable from a seed.
#[derive(Debug)]
pub struct XorShift(pub u64);

impl XorShift {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}
