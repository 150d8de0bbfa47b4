//! kcat (librdkafka's command-line client) against a real in-process broker.
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

mod common;

use common::{TestBroker, kcat};

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
            lines.as_str(),
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
