//! Helpers of the consumer-group tests (`groups.rs`, `group_reset.rs`).

use std::time::{Duration, Instant};

use super::{Background, TestBroker, ok, produce};

pub fn numbered(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("m{i}")).collect()
}

pub fn produce_numbered(broker: &TestBroker, topic: &str, lines: &[String]) {
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    produce(broker, topic, &[], &refs);
}

pub fn describe_json(broker: &TestBroker, group: &str) -> serde_json::Value {
    let out = ok(broker
        .ferrolog()
        .args(["group", "describe", group, "--output", "json"]));
    serde_json::from_str(out.trim()).expect("json")
}

/// A `ferrolog consume --group --follow` in the background (killed on drop).
pub fn follower(broker: &TestBroker, topic: &str, group: &str) -> Background {
    Background::start(broker, &["consume", topic, "--group", group, "--follow"])
}

/// Polls `describe` until `check` holds (bounded).
pub fn wait_for(
    broker: &TestBroker,
    group: &str,
    what: &str,
    check: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = broker
            .ferrolog()
            .args(["group", "describe", group, "--output", "json"])
            .output()
            .expect("runs");
        if out.status.success() {
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
            if check(&v) {
                return v;
            }
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Runs `body` with a client of `broker` and its connection to `group`'s
/// coordinator, on a runtime of its own (these tests are synchronous).
pub fn with_coordinator<F, Fut>(broker: &TestBroker, group: &str, body: F)
where
    F: FnOnce(ferrolog_client::Client, ferrolog_client::client::SharedConnection) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    use ferrolog_client::{Client, ClientConfig};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let client = Client::connect(ClientConfig::new(broker.bootstrap()))
            .await
            .expect("connect");
        let coordinator = client
            .coordinator_connection(group)
            .await
            .expect("coordinator");
        body(client, coordinator).await;
    });
}

/// Commits `offsets` of `topic` for `group` as an admin would (outside any
/// generation), so a test can set any offset, even one past the end.
pub fn commit(broker: &TestBroker, group: &str, topic: &str, offsets: &[(i32, i64)]) {
    with_coordinator(broker, group, |client, coordinator| async move {
        client
            .commit_offsets(&coordinator, group, -1, "", topic, offsets)
            .await
            .expect("commit");
    });
}

/// A topic of `partitions` partitions with `counts[p]` records in partition p.
pub fn topic_with(broker: &TestBroker, topic: &str, counts: &[usize]) {
    ok(broker.ferrolog().args([
        "topic",
        "create",
        topic,
        "--partitions",
        &counts.len().to_string(),
    ]));
    for (p, &n) in counts.iter().enumerate() {
        let lines = numbered(n);
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        if n > 0 {
            produce(broker, topic, &["--partition", &p.to_string()], &refs);
        }
    }
}
