//! kcat's balanced consumer (`-G`): two kcat processes in one group split a topic and together
//! print every record exactly once.
#![allow(clippy::unwrap_used)]

mod common;
mod groups_support;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use groups_support::{TestBroker, eventually};
use rdkafka::producer::{FutureProducer, FutureRecord};

/// A kcat -G process whose output lines are collected by a thread.
struct Kcat {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Kcat {
    fn start(broker: &TestBroker, group: &str, topic: &str) -> Kcat {
        let mut child = Command::new("kcat")
            // `cargo test` puts the build's bundled librdkafka (rdkafka-sys)
            // on LD_LIBRARY_PATH, which the system kcat would load instead of
            // its own: this test is about the librdkafka kcat ships with.
            .env_remove("LD_LIBRARY_PATH")
            .args([
                "-b",
                &broker.bootstrap(),
                "-G",
                group,
                "-q",
                "-u",
                "-f",
                "%p:%s\n",
            ])
            .args([
                "-X",
                "session.timeout.ms=6000",
                "-X",
                "heartbeat.interval.ms=500",
                "-X",
                "auto.offset.reset=earliest",
            ])
            .arg(topic)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("kcat is installed");
        let stdout = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Kcat { child, lines }
    }

    fn values(&self) -> Vec<String> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| l.split_once(':').map(|(_, v)| v.to_owned()))
            .collect()
    }
}

impl Drop for Kcat {
    fn drop(&mut self) {
        // The test is over: an error only means kcat already exited.
        self.child.kill().unwrap_or_default();
        self.child.wait().map(drop).unwrap_or_default();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_kcat_balanced_consumers_split_a_topic() {
    let broker = TestBroker::start().await;
    common::create_topic(&broker, "clicks", 4, &[]).await;
    let first = Kcat::start(&broker, "kcat-group", "clicks");
    let second = Kcat::start(&broker, "kcat-group", "clicks");
    eventually("both kcat processes are stable members", || {
        let group = broker.server.groups.describe("kcat-group")?;
        let assigned = group
            .members
            .iter()
            .filter(|m| !m.assignment.is_empty())
            .count();
        (group.state.as_str() == "Stable" && group.members.len() == 2 && assigned == 2)
            .then_some(())
    })
    .await;

    let producer: FutureProducer = broker.client_config().create().expect("producer");
    for i in 0..80 {
        let value = format!("click-{i}");
        let record = FutureRecord::<(), _>::to("clicks")
            .payload(&value)
            .partition(i % 4);
        producer
            .send(record, Duration::from_secs(10))
            .await
            .map_err(|(e, _)| e)
            .expect("delivered");
    }
    eventually("kcat printed all 80", || {
        (first.values().len() + second.values().len() >= 80).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let (a, b) = (first.values(), second.values());
    assert!(
        !a.is_empty() && !b.is_empty(),
        "both members consumed: {} and {}",
        a.len(),
        b.len()
    );
    assert_eq!(a.len() + b.len(), 80, "no record printed twice");
    let union: BTreeSet<String> = a.into_iter().chain(b).collect();
    assert_eq!(union, (0..80).map(|i| format!("click-{i}")).collect());
}
