//! kafkajs (a pure-JavaScript Kafka client with its own protocol code)
//! against a real in-process broker: `tools/kafkajs/smoke.js` covers admin,
//! an idempotent producer with keys, headers and gzip, a consumer group that
//! commits, a second consumer that resumes, and admin offset queries.
//! tools/test installs kafkajs (`npm ci` in tools/kafkajs).
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

mod common;

use std::time::Duration;

use common::TestBroker;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafkajs_produces_consumes_in_a_group_and_resumes() {
    let broker = TestBroker::start().await;
    let run = common::run_client_script(
        &broker,
        "node",
        concat!(env!("CARGO_MANIFEST_DIR"), "/tools/kafkajs/smoke.js"),
        // The script bounds every wait itself; this is the backstop.
        Duration::from_secs(180),
        (
            "Cannot find module 'kafkajs'",
            "kafkajs is not installed: run tools/test, or (cd tools/kafkajs && npm ci)",
        ),
    )
    .await;
    assert!(run.stdout.contains("kafkajs OK"), "{}", run.stdout);
    assert!(run.stdout.contains("resumed with 10"), "{}", run.stdout);
}
