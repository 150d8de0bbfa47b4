//! Shared helpers for the integration tests: an in-process `ferrologd` on
//! 127.0.0.1:0 with a temporary data directory, and rdkafka clients for it.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrolog_broker::{BrokerConfig, Server};
use rdkafka::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::producer::FutureProducer;
use rdkafka::{Offset, TopicPartitionList};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Every wait in the tests is bounded by this.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// A running broker; `stop` shuts it down cleanly, `restart` brings it back
/// on the same data directory and port, `crash_and_restart` without any
/// shutdown work.
pub struct TestBroker {
    pub addr: SocketAddr,
    pub dir: Arc<TempDir>,
    /// The broker's shared state, for checks no client API exposes.
    pub server: Arc<ferrolog_broker::Broker>,
    config: BrokerConfig,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), ferrolog_broker::ServerError>>>,
}

impl TestBroker {
    pub async fn start() -> TestBroker {
        Self::start_with(|_| {}).await
    }

    /// Starts with a config adjusted by `adjust` (data dir, listener and a
    /// zero initial rebalance delay are set first).
    pub async fn start_with(adjust: impl FnOnce(&mut BrokerConfig)) -> TestBroker {
        let dir = Arc::new(tempfile::tempdir().unwrap());
        let mut config = BrokerConfig {
            listen: "127.0.0.1:0".into(),
            ..BrokerConfig::default()
        };
        config.data_dir = dir.path().to_path_buf();
        config.groups.initial_rebalance_delay_ms = 0;
        adjust(&mut config);
        let server = Server::bind(config.clone()).await.expect("broker starts");
        Self::run(dir, config, server)
    }

    fn run(dir: Arc<TempDir>, config: BrokerConfig, server: Server) -> TestBroker {
        let addr = server.local_addr();
        let broker = server.broker().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async move {
            // A dropped sender also means stop, so the result does not matter.
            stopped.await.ok();
        }));
        TestBroker {
            addr,
            dir,
            server: broker,
            config,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn bootstrap(&self) -> String {
        self.addr.to_string()
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Clean shutdown; panics if the broker reports an error.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            // Err means the broker is already gone: nothing to stop.
            stop.send(()).ok();
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(TIMEOUT, task)
                .await
                .expect("shutdown in time")
                .unwrap()
                .expect("clean shutdown");
        }
    }

    /// Clean stop, then start again on the same data directory and the same
    /// port (so clients configured with the old address reconnect to it).
    pub async fn restart(self) -> TestBroker {
        self.restart_after(|_| {}).await
    }

    /// `restart` with `change` applied to the data directory while the
    /// broker is down (to stage what a crash at some point would leave).
    pub async fn restart_after(mut self, change: impl FnOnce(&Path)) -> TestBroker {
        self.stop().await;
        let (dir, config, addr) = (self.dir.clone(), self.config.clone(), self.addr);
        drop(self);
        change(dir.path());
        Self::relaunch(dir, config, addr).await
    }

    /// Stop without any shutdown work (no flush, no clean-shutdown marker,
    /// nothing closed: what the data directory sees of a crashed process),
    /// then start again on it.
    pub async fn crash_and_restart(mut self) -> TestBroker {
        let gone = Arc::downgrade(&self.server);
        if let Some(task) = self.task.take() {
            task.abort();
            task.await.ok();
        }
        let (dir, config, addr) = (self.dir.clone(), self.config.clone(), self.addr);
        drop(self);
        eventually_within(TIMEOUT, "the crashed broker's state to be released", || {
            (gone.strong_count() == 0).then_some(())
        })
        .await;
        Self::relaunch(dir, config, addr).await
    }

    async fn relaunch(dir: Arc<TempDir>, mut config: BrokerConfig, addr: SocketAddr) -> TestBroker {
        config.listen = addr.to_string();
        let deadline = Instant::now() + TIMEOUT;
        loop {
            match Server::bind(config.clone()).await {
                Ok(server) => return Self::run(dir, config, server),
                Err(e) if Instant::now() < deadline => {
                    eprintln!("rebind failed ({e}); retrying");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("cannot restart broker: {e}"),
            }
        }
    }

    /// A librdkafka config pointing at this broker.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", self.bootstrap());
        config
    }

    pub fn producer(&self, extra: &[(&str, &str)]) -> FutureProducer {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", self.bootstrap())
            .set("message.timeout.ms", "15000");
        for (k, v) in extra {
            config.set(*k, *v);
        }
        config.create().expect("producer")
    }

    pub fn consumer(&self, extra: &[(&str, &str)]) -> StreamConsumer {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", self.bootstrap())
            .set("group.id", "ferrolog-tests")
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false");
        for (k, v) in extra {
            config.set(*k, *v);
        }
        config.create().expect("consumer")
    }

    pub fn admin(&self) -> rdkafka::admin::AdminClient<rdkafka::client::DefaultClientContext> {
        ClientConfig::new()
            .set("bootstrap.servers", self.bootstrap())
            .create()
            .expect("admin client")
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            // Err means the broker is already gone: nothing to stop.
            stop.send(()).ok();
        }
    }
}

/// A record as read back: partition, offset, key, value, timestamp.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Got {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub timestamp_ms: Option<i64>,
}

impl Got {
    pub fn of(m: &BorrowedMessage<'_>) -> Got {
        Got {
            partition: m.partition(),
            offset: m.offset(),
            key: m.key().map(<[u8]>::to_vec),
            value: m.payload().map(<[u8]>::to_vec),
            timestamp_ms: m.timestamp().to_millis(),
        }
    }
}

/// Assigns `partitions` of `topic` at `offset` and reads `count` records.
pub async fn consume(
    consumer: &StreamConsumer,
    topic: &str,
    partitions: &[(i32, Offset)],
    count: usize,
) -> Vec<Got> {
    let mut list = TopicPartitionList::new();
    for (p, offset) in partitions {
        list.add_partition_offset(topic, *p, *offset).unwrap();
    }
    consumer.assign(&list).unwrap();
    let mut got = Vec::with_capacity(count);
    while got.len() < count {
        let m = tokio::time::timeout(TIMEOUT, consumer.recv())
            .await
            .unwrap_or_else(|_| panic!("timed out after {} of {count} records", got.len()))
            .expect("consume");
        got.push(Got::of(&m));
    }
    got
}

/// Creates a topic through the admin API.
pub async fn create_topic(
    broker: &TestBroker,
    name: &str,
    partitions: i32,
    configs: &[(&str, &str)],
) {
    use rdkafka::admin::{AdminOptions, NewTopic, TopicReplication};
    let mut topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    for (k, v) in configs {
        topic = topic.set(k, v);
    }
    let results = broker
        .admin()
        .create_topics([&topic], &AdminOptions::new())
        .await
        .expect("create_topics");
    for r in results {
        r.expect("topic created");
    }
}

/// Every batch stored in `topic` as `(codec, records)`, partition by
/// partition in offset order, read from the broker's own partitions: what
/// was written to disk, not what a client says it sent. Codecs: 0 none,
/// 1 gzip, 2 snappy, 3 lz4, 4 zstd.
pub fn stored_batches(broker: &TestBroker, topic: &str) -> Vec<(u8, i32)> {
    use ferrolog_storage::format::batch;
    let topic = broker.server.topics.get(topic).expect("topic exists");
    let mut batches = Vec::new();
    for handle in &topic.partitions {
        let partition = handle.state.as_ref().expect("partition open");
        let read = partition
            .read(partition.log_start_offset(), 64 << 20)
            .expect("read");
        let mut rest = &read.records[..];
        while !rest.is_empty() {
            let (header, size) = batch::frame(rest).expect("a whole stored batch");
            batches.push((header.compression(), header.records_count));
            rest = &rest[size..];
        }
    }
    batches
}

/// Polls `check` until it returns `Some`; panics after `limit` with `what`.
pub async fn eventually_within<T>(
    limit: Duration,
    what: &str,
    mut check: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What a client script printed, after it ran against `broker` and exited.
pub struct ScriptRun {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Waits for `child` to exit, killing it once it has run past `limit`; true
/// if it was killed.
fn wait_or_kill(child: &mut std::process::Child, limit: Duration) -> bool {
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            child.kill().ok();
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Runs `program script <bootstrap>` (a client written in another language,
/// from `tools/`), killed after `limit` if it has not exited by then.
/// `missing` names what the run's stderr says when the client library is not
/// installed, so the failure says how to install it.
pub async fn run_client_script(
    broker: &TestBroker,
    program: &str,
    script: &str,
    limit: Duration,
    missing: (&str, &str),
) -> ScriptRun {
    let mut command = std::process::Command::new(program);
    command
        .arg(script)
        .arg(broker.bootstrap())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let output = tokio::task::spawn_blocking(move || {
        let mut child = command
            .spawn()
            .expect("the script's interpreter is installed");
        wait_or_kill(&mut child, limit);
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    let run = ScriptRun {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    let (symptom, remedy) = missing;
    assert!(!run.stderr.contains(symptom), "{remedy}");
    assert!(
        run.success,
        "{script} failed:\n{}\n{}",
        run.stdout, run.stderr
    );
    run
}

/// Asserts that the broker closed `stream`: a read returns end of stream or a
/// reset. A read timeout means the connection is still open, only silent.
pub fn assert_closed(stream: &mut std::net::TcpStream, what: &str) {
    use std::io::Read;
    let mut byte = [0u8; 1];
    let read = stream.read(&mut byte);
    let timed_out = matches!(&read, Err(e) if matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    ));
    assert!(
        matches!(read, Ok(0) | Err(_)) && !timed_out,
        "{what}: connection should be closed, got {read:?}"
    );
}

/// A request frame with a v1 header (client id "t"), for tests that speak
/// the wire protocol by hand.
pub fn frame(api_key: i16, version: i16, correlation_id: i32, body: &[u8]) -> Vec<u8> {
    let mut inner = Vec::new();
    inner.extend_from_slice(&api_key.to_be_bytes());
    inner.extend_from_slice(&version.to_be_bytes());
    inner.extend_from_slice(&correlation_id.to_be_bytes());
    inner.extend_from_slice(&1i16.to_be_bytes());
    inner.push(b't');
    inner.extend_from_slice(body);
    let mut out = i32::try_from(inner.len()).unwrap().to_be_bytes().to_vec();
    out.extend_from_slice(&inner);
    out
}

/// A plain TCP connection to `broker`, reads timing out after 10 s.
pub fn connect(broker: &TestBroker) -> std::net::TcpStream {
    let stream = std::net::TcpStream::connect(broker.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
}

/// Runs kcat with `args` and `input` on stdin, killed after `TIMEOUT` (a
/// failure then, whatever its status). Without `cargo test`'s
/// LD_LIBRARY_PATH, which points at the build's bundled librdkafka
/// (rdkafka-sys): kcat loads the librdkafka it ships with.
pub async fn kcat(
    broker: &TestBroker,
    args: &[&str],
    input: impl Into<Vec<u8>>,
) -> std::process::Output {
    use std::io::Write;
    use std::os::unix::process::ExitStatusExt;
    use std::process::{Command, Stdio};
    let input = input.into();
    let mut all = vec!["-b".to_string(), broker.bootstrap()];
    all.extend(args.iter().map(ToString::to_string));
    tokio::task::spawn_blocking(move || {
        let mut child = Command::new("kcat")
            .env_remove("LD_LIBRARY_PATH")
            .args(&all)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kcat is installed (tools/test installs it)");
        let mut stdin = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || stdin.write_all(&input));
        let killed = wait_or_kill(&mut child, TIMEOUT);
        writer.join().unwrap().ok();
        let mut output = child.wait_with_output().unwrap();
        if killed {
            // Killed: a failure, whatever kcat's own status says.
            output.status = std::process::ExitStatus::from_raw(9);
            let note = format!("\nkcat did not finish within {TIMEOUT:?} and was killed");
            output.stderr.extend_from_slice(note.as_bytes());
        }
        output
    })
    .await
    .unwrap()
}
