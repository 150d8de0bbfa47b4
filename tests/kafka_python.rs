//! kafka-python (a pure-Python Kafka client, with its own protocol code)
//! against a real in-process broker: `tools/kafka_python_smoke.py` covers
//! admin, produce with its codecs, assignment, offsets by time, and a
//! consumer group that commits and resumes. tools/test installs the client.
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::TestBroker;

/// The script bounds itself with consumer timeouts; this is the backstop.
const RUN_TIMEOUT: Duration = Duration::from_secs(180);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_python_produces_consumes_and_resumes_a_group() {
    let broker = TestBroker::start().await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tools/kafka_python_smoke.py");
    let bootstrap = broker.bootstrap();
    let output = tokio::task::spawn_blocking(move || {
        let mut child = Command::new("python3")
            .arg(script)
            .arg(&bootstrap)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 is installed");
        let started = Instant::now();
        while child.try_wait().unwrap().is_none() {
            if started.elapsed() > RUN_TIMEOUT {
                child.kill().ok();
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("No module named 'kafka'"),
        "kafka-python is not installed: run tools/test, or pip install kafka-python==2.2.15"
    );
    assert!(
        output.status.success(),
        "kafka-python smoke failed ({:?}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(stdout.contains("kafka-python OK"), "{stdout}");
    assert!(stdout.contains("group resumed with 10"), "{stdout}");
}
