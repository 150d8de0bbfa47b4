//! kcat (librdkafka's command-line client) against a real in-process broker.
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use common::TestBroker;

/// Runs kcat with `args`, feeding `input` on stdin; bounded by kcat's own
/// timeouts (`-e` exits at the end of the partition).
async fn kcat(broker: &TestBroker, args: &[&str], input: &str) -> Output {
    let bootstrap = broker.bootstrap();
    let mut all = vec!["-b".to_string(), bootstrap];
    all.extend(args.iter().map(ToString::to_string));
    let input = input.to_string();
    tokio::task::spawn_blocking(move || {
        let mut child = Command::new("kcat")
            // `cargo test` puts the build's bundled librdkafka (rdkafka-sys)
            // on LD_LIBRARY_PATH, which the system kcat would load instead of
            // its own: these tests are about the librdkafka kcat ships with.
            .env_remove("LD_LIBRARY_PATH")
            .args(&all)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kcat is installed (tools/test installs it)");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap()
}

/// Each codec is stored as kcat compressed it. librdkafka before 2.11.1
/// (Debian's kcat has 2.0.2) enables gzip, snappy and lz4 only when the
/// broker lists Produce v0 in ApiVersions, and otherwise sends its batches
/// uncompressed without an error, so a round trip alone cannot tell.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kcat_produces_and_consumes_with_every_codec() {
    let broker = TestBroker::start().await;
    for (id, codec) in ["none", "gzip", "snappy", "lz4", "zstd"]
        .into_iter()
        .enumerate()
    {
        let topic = format!("kcat-{codec}");
        let lines: String = (0..100).map(|i| format!("k{i}:line {i}\n")).collect();
        let produced = kcat(
            &broker,
            &["-P", "-t", &topic, "-z", codec, "-K", ":"],
            &lines,
        )
        .await;
        assert!(
            produced.status.success(),
            "{}",
            String::from_utf8_lossy(&produced.stderr)
        );
        // librdkafka sends a batch uncompressed when compressing does not
        // shrink it (a batch of one short line), so most records, not all.
        let stored = common::stored_batches(&broker, &topic);
        let in_codec: i32 = stored
            .iter()
            .filter(|&&(c, _)| usize::from(c) == id)
            .map(|&(_, records)| records)
            .sum();
        assert!(
            in_codec > 50 && stored.iter().all(|&(c, _)| c == 0 || usize::from(c) == id),
            "kcat -z {codec}: stored (codec, records) per batch {stored:?} \
             (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd)"
        );
        let consumed = kcat(
            &broker,
            &[
                "-C",
                "-t",
                &topic,
                "-o",
                "beginning",
                "-e",
                "-q",
                "-f",
                "%o %k:%s\n",
            ],
            "",
        )
        .await;
        assert!(
            consumed.status.success(),
            "{}",
            String::from_utf8_lossy(&consumed.stderr)
        );
        let want: String = (0..100).map(|i| format!("{i} k{i}:line {i}\n")).collect();
        assert_eq!(
            String::from_utf8_lossy(&consumed.stdout),
            want,
            "codec {codec}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kcat_sees_offset_out_of_range_from_the_broker() {
    let broker = TestBroker::start().await;
    let produced = kcat(&broker, &["-P", "-t", "end"], "a\nb\nc\n").await;
    assert!(produced.status.success());
    let args = [
        "-C",
        "-t",
        "end",
        "-o",
        "50",
        "-e",
        "-X",
        "auto.offset.reset=error",
    ];
    let consumed = kcat(&broker, &args, "").await;
    let stderr = String::from_utf8_lossy(&consumed.stderr);
    assert!(stderr.contains("Broker: Offset out of range"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kcat_lists_metadata() {
    let broker = TestBroker::start().await;
    common::create_topic(&broker, "listed", 3, &[]).await;
    let listed = kcat(&broker, &["-L", "-t", "listed"], "").await;
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(
        text.contains("topic \"listed\" with 3 partitions"),
        "{text}"
    );
    assert!(
        text.contains(&format!("broker 1 at {}", broker.bootstrap())),
        "{text}"
    );
}
