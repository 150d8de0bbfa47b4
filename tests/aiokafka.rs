//! aiokafka (an asyncio Python client with its own protocol code) against a
//! real in-process broker: `tools/aiokafka_smoke.py` covers admin, an
//! idempotent producer with every codec, headers, replay by offset and by
//! time, a two-member consumer group that commits and resumes, and the clear
//! refusal of a transactional producer. tools/test installs the client.
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

mod common;

use std::time::Duration;

use common::TestBroker;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aiokafka_produces_consumes_and_resumes_a_group() {
    let broker = TestBroker::start().await;
    let run = common::run_client_script(
        &broker,
        "python3",
        concat!(env!("CARGO_MANIFEST_DIR"), "/tools/aiokafka_smoke.py"),
        // The script bounds each of its waits; this is the backstop.
        Duration::from_secs(180),
        (
            "No module named 'aiokafka'",
            "aiokafka is not installed: run tools/test, or pip install aiokafka==0.14.0 cramjam==2.14.0",
        ),
    )
    .await;
    assert!(run.stdout.contains("aiokafka OK"), "{}", run.stdout);
    assert!(
        run.stdout.contains("group resumed with 10, committed 2010"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("transactions refused"),
        "{}",
        run.stdout
    );
}
