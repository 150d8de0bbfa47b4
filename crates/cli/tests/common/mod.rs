//! Shared helpers for the CLI tests: a real `ferrologd` started in-process on
//! 127.0.0.1:0 with a temporary data directory, and the `ferrolog` binary
//! pointed at it. Tests are synchronous (assert_cmd runs the binary), so the
//! broker runs on a runtime of its own.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use assert_cmd::Command;
use ferrolog_broker::{BrokerConfig, Server};
use tempfile::TempDir;
use tokio::sync::oneshot;

pub mod groups;

/// Every CLI run in the tests is bounded by this.
pub const TIMEOUT: Duration = Duration::from_secs(30);

pub struct TestBroker {
    pub addr: SocketAddr,
    pub dir: Arc<TempDir>,
    config: BrokerConfig,
    runtime: tokio::runtime::Runtime,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), ferrolog_broker::ServerError>>>,
}

impl TestBroker {
    pub fn start() -> Self {
        Self::start_with(|_| {})
    }

    /// Starts with the test defaults adjusted by `adjust`.
    pub fn start_with(adjust: impl FnOnce(&mut BrokerConfig)) -> Self {
        let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
        let mut config = BrokerConfig {
            listen: "127.0.0.1:0".into(),
            ..BrokerConfig::default()
        };
        config.data_dir = dir.path().to_path_buf();
        // Kafka's 3 s wait for more members of a new group only slows single-member tests down.
        config.groups.initial_rebalance_delay_ms = 0;
        adjust(&mut config);
        Self::launch(dir, config)
    }

    fn launch(dir: Arc<TempDir>, config: BrokerConfig) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let server = runtime
            .block_on(Server::bind(config.clone()))
            .expect("broker starts");
        let addr = server.local_addr();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = runtime.spawn(server.run(async move {
            // A dropped sender also means stop.
            stopped.await.ok();
        }));
        Self {
            addr,
            dir,
            config,
            runtime,
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

    /// `ferrolog` with `-b` pointing at this broker.
    pub fn ferrolog(&self) -> Command {
        let mut cmd = Command::cargo_bin("ferrolog").expect("ferrolog binary");
        cmd.env("FERROLOG_BOOTSTRAP", self.bootstrap())
            .env_remove("RUST_LOG")
            .timeout(TIMEOUT);
        cmd
    }

    /// Clean shutdown.
    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop.send(()).ok();
        }
        if let Some(task) = self.task.take() {
            let joined = self
                .runtime
                .block_on(async { tokio::time::timeout(TIMEOUT, task).await });
            joined
                .expect("shutdown in time")
                .expect("task")
                .expect("clean shutdown");
        }
    }

    /// Stops and starts again on the same data directory (a new port).
    pub fn restart(mut self) -> Self {
        self.stop();
        let mut config = self.config.clone();
        config.listen = "127.0.0.1:0".into();
        Self::launch(self.dir.clone(), config)
    }
}

impl TestBroker {
    /// Stops and starts again on the same data directory and the same port,
    /// so running clients can find it again.
    pub fn restart_same_port(mut self) -> Self {
        self.stop();
        let mut config = self.config.clone();
        config.listen = self.addr.to_string();
        Self::launch(self.dir.clone(), config)
    }
}

/// A background `ferrolog` whose stdout lines arrive on a channel; killed on drop.
pub struct Background {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Background {
    pub fn start(broker: &TestBroker, args: &[&str]) -> Self {
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("ferrolog"))
            .args(["-b", &broker.bootstrap()])
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn ferrolog");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines }
    }

    /// The next output line, or a panic after `TIMEOUT`.
    pub fn next_line(&self) -> String {
        self.lines
            .recv_timeout(TIMEOUT)
            .expect("a line from the background ferrolog in time")
    }

    /// Sends `signal` (a name `kill` takes: TERM, INT) and waits, bounded by
    /// `TIMEOUT`, for the process to exit; `None` if it did not.
    #[allow(dead_code)] // not every test binary that includes this module stops one
    pub fn stop_with(&mut self, signal: &str) -> Option<std::process::ExitStatus> {
        let sent = std::process::Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(sent.success(), "kill -{signal}");
        let deadline = std::time::Instant::now() + TIMEOUT;
        while std::time::Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop.send(()).ok();
        }
    }
}

/// `ferrolog` without a broker (inspect, argument errors).
pub fn ferrolog_offline() -> Command {
    let mut cmd = Command::cargo_bin("ferrolog").expect("ferrolog binary");
    cmd.env_remove("FERROLOG_BOOTSTRAP").timeout(TIMEOUT);
    cmd
}

/// Runs `cmd` expecting success; returns stdout as text.
pub fn ok(cmd: &mut Command) -> String {
    let out = cmd.output().expect("runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed with {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}

/// Runs `cmd` expecting failure; returns stderr as text.
pub fn fails(cmd: &mut Command) -> String {
    let out = cmd.output().expect("runs");
    assert!(
        !out.status.success(),
        "{cmd:?} should have failed; stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stderr).expect("utf-8 stderr")
}

/// Produces `lines` (newline-joined) to `topic` with extra `args`.
pub fn produce(broker: &TestBroker, topic: &str, args: &[&str], lines: &[&str]) -> String {
    let mut input = lines.join("\n");
    input.push('\n');
    ok(broker
        .ferrolog()
        .args(["produce", topic])
        .args(args)
        .write_stdin(input))
}

/// Consumes `topic` with extra `args`; returns stdout lines.
pub fn consume(broker: &TestBroker, topic: &str, args: &[&str]) -> Vec<String> {
    ok(broker.ferrolog().args(["consume", topic]).args(args))
        .lines()
        .map(str::to_owned)
        .collect()
}

/// One record as any Kafka client may send it: header keys that repeat,
/// keys and values that are not UTF-8.
pub struct RawRecord<'a> {
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub headers: &'a [(&'a str, Option<&'a [u8]>)],
}

/// An uncompressed v2 batch of `records` (base offset 0, no producer id),
/// encoded by the storage engine's test builder rather than by the client
/// crate, so that a test of the reading side does not lean on the writing
/// side it also tests.
pub fn foreign_batch(records: &[RawRecord<'_>], timestamp_ms: i64) -> Vec<u8> {
    use ferrolog_storage::format::builder::{SimpleRecord, encode_batch_with_headers};
    let records: Vec<_> = records
        .iter()
        .map(|r| {
            let record = SimpleRecord {
                timestamp_ms,
                key: r.key,
                value: r.value,
            };
            (record, r.headers)
        })
        .collect();
    encode_batch_with_headers(&records)
}

/// Appends `batch` as it is to partition 0 of `topic` (created if need be),
/// as another client would.
pub fn produce_raw(broker: &TestBroker, topic: &str, batch: Vec<u8>) {
    use ferrolog_client::{Client, ClientConfig, produce::Acks};
    broker.runtime.block_on(async {
        let client = Client::connect(ClientConfig::new(broker.bootstrap()))
            .await
            .expect("connect");
        client.topic_or_create(topic).await.expect("topic");
        client
            .produce(topic, 0, bytes::Bytes::from(batch), Acks::All, 30_000)
            .await
            .expect("produce");
    });
}
