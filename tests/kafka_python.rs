//! kafka-python (a pure-Python Kafka client, with its own protocol code)
//! against a real in-process broker: `tools/kafka_python_smoke.py` covers
//! admin, produce with its codecs, assignment, offsets by time, and a
//! consumer group that commits and resumes, and the partitions' sizes from
//! `describe_log_dirs()`. tools/test installs the client.
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

mod common;

use std::time::Duration;

use common::TestBroker;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_python_produces_consumes_and_resumes_a_group() {
    let broker = TestBroker::start().await;
    let run = common::run_client_script(
        &broker,
        "python3",
        concat!(env!("CARGO_MANIFEST_DIR"), "/tools/kafka_python_smoke.py"),
        // The script bounds itself with consumer timeouts; this is the backstop.
        Duration::from_secs(180),
        (
            "No module named 'kafka'",
            "kafka-python is not installed: run tools/test, or pip install kafka-python==2.2.15",
        ),
    )
    .await;
    assert!(run.stdout.contains("kafka-python OK"), "{}", run.stdout);
    assert!(
        run.stdout.contains("group resumed with 10"),
        "{}",
        run.stdout
    );
    // DescribeLogDirs v0: the sizes it got are the topic's segment files.
    let (topic, reported) = run
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("log dir sizes: "))
        .and_then(|l| l.split_once(' '))
        .unwrap_or_else(|| panic!("no sizes line: {}", run.stdout));
    let on_disk: u64 = (0..2)
        .flat_map(|p| std::fs::read_dir(broker.data_dir().join(format!("{topic}-{p}"))).unwrap())
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "log"))
        .map(|path| std::fs::metadata(path).unwrap().len())
        .sum();
    assert_eq!(reported.parse::<u64>().unwrap(), on_disk, "{}", run.stdout);
}
