//! confluent-kafka (Python over librdkafka, as most Python services use
//! Kafka) against a real in-process broker: `tools/confluent_kafka_smoke.py`
//! covers admin create and describe-configs, an idempotent lz4 producer with
//! keys and correlation-id headers (its batches fetched raw to check they are
//! stored lz4: librdkafka before 2.11.1 falls back to uncompressed silently),
//! a group that commits, a second consumer that resumes, replay from a
//! timestamp, and lag from committed offsets and watermarks;
//! `tools/confluent_kafka_admin_edges.py` covers admin calls a walkthrough
//! found answered wrongly. tools/test installs the client.
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

mod common;

use std::time::Duration;

use common::TestBroker;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confluent_kafka_produces_consumes_resumes_and_replays() {
    let broker = TestBroker::start().await;
    let run = common::run_client_script(
        &broker,
        "python3",
        concat!(env!("CARGO_MANIFEST_DIR"), "/tools/confluent_kafka_smoke.py"),
        // The script bounds every wait itself; this is the backstop.
        Duration::from_secs(180),
        (
            "No module named 'confluent_kafka'",
            "confluent-kafka is not installed: run tools/test, or pip install confluent-kafka==2.6.0",
        ),
    )
    .await;
    assert!(run.stdout.contains("confluent-kafka OK"), "{}", run.stdout);
    assert!(
        run.stdout.contains("records stored as lz4"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("replayed 10 from a timestamp"),
        "{}",
        run.stdout
    );
}

/// `tools/confluent_kafka_admin_edges.py`: CreateTopics naming a topic twice
/// refuses that name and still creates (and reports created) the others, and
/// describe_cluster/describe_topics/describe_consumer_groups with
/// `include_authorized_operations` get every operation, as from a Kafka
/// broker without an authorizer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confluent_kafka_admin_edges_answer_as_kafka() {
    let broker = TestBroker::start().await;
    let run = common::run_client_script(
        &broker,
        "python3",
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tools/confluent_kafka_admin_edges.py"
        ),
        Duration::from_secs(120),
        (
            "No module named 'confluent_kafka'",
            "confluent-kafka is not installed: run tools/test, or pip install confluent-kafka==2.6.0",
        ),
    )
    .await;
    assert!(run.stdout.contains("admin edges OK"), "{}", run.stdout);
}
