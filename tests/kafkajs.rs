//! kafkajs (a pure-JavaScript Kafka client with its own protocol code)
//! against a real in-process broker: `tools/kafkajs/smoke.js` covers admin,
//! an idempotent producer with keys, headers and gzip, a consumer group that
//! commits, a second consumer that resumes, and admin offset queries.
//! tools/test installs kafkajs (`npm ci` in tools/kafkajs).
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::TestBroker;

/// The script bounds every wait itself; this is the backstop.
const RUN_TIMEOUT: Duration = Duration::from_secs(180);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafkajs_produces_consumes_in_a_group_and_resumes() {
    let broker = TestBroker::start().await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tools/kafkajs/smoke.js");
    let bootstrap = broker.bootstrap();
    let output = tokio::task::spawn_blocking(move || {
        let mut child = Command::new("node")
            .arg(script)
            .arg(&bootstrap)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("node is installed");
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
        !stderr.contains("Cannot find module 'kafkajs'"),
        "kafkajs is not installed: run tools/test, or (cd tools/kafkajs && npm ci)"
    );
    assert!(
        output.status.success(),
        "kafkajs smoke failed ({:?}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(stdout.contains("kafkajs OK"), "{stdout}");
    assert!(stdout.contains("resumed with 10"), "{stdout}");
}
