//! Sarama (a widely used pure-Go Kafka client; Debian's 1.22.1) against a real
//! in-process broker: `tools/sarama/smoke.go` covers admin create and describe,
//! an idempotent gzip producer at acks=all with keys and headers, a consumer
//! group that commits with OffsetCommit v1 (Sarama's default, which Kafka 4.0
//! no longer serves), a second member that resumes after the commit, replay
//! from an offset, and admin offset queries. tools/test installs Go and Sarama.
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

mod common;

use std::time::Duration;

use common::TestBroker;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sarama_produces_consumes_in_a_group_commits_v1_and_resumes() {
    let broker = TestBroker::start().await;
    let run = common::run_client_script(
        &broker,
        "bash",
        concat!(env!("CARGO_MANIFEST_DIR"), "/tools/sarama/run"),
        // The program bounds every wait itself; this is the backstop, with
        // room for the first `go run` to compile Sarama.
        Duration::from_secs(300),
        (
            "Sarama is not installed",
            "Sarama is not installed: run tools/test, or apt-get install golang-go golang-github-shopify-sarama-dev",
        ),
    )
    .await;
    assert!(run.stdout.contains("sarama OK"), "{}", run.stdout);
    assert!(run.stdout.contains("resumed with 10"), "{}", run.stdout);
    assert!(run.stdout.contains("committed 1010"), "{}", run.stdout);
}
