//! Partition sizes in `topic describe` and `topic list` (DescribeLogDirs),
//! and both commands without them against a broker that does not serve it.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;

use common::{TestBroker, ok, produce};

/// The bytes of `dir`'s segment `.log` files, as they are on disk.
fn log_bytes_on_disk(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .expect("partition directory")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "log"))
        .map(|path| std::fs::metadata(path).expect("metadata").len())
        .sum()
}

fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out.trim()).expect("json")
}

#[test]
fn describe_and_list_show_each_partitions_size() {
    let broker = TestBroker::start();
    ok(broker.ferrolog().args(["topic", "create", "sz", "-p", "2"]));
    let values: Vec<String> = (0..200).map(|i| format!("value-{i:0>40}")).collect();
    let values: Vec<&str> = values.iter().map(String::as_str).collect();
    produce(&broker, "sz", &["--partition", "1"], &values);
    let on_disk = log_bytes_on_disk(&broker.data_dir().join("sz-1"));
    assert!(on_disk > 1024, "{on_disk}");

    let v = json(&ok(broker
        .ferrolog()
        .args(["topic", "describe", "sz", "--output", "json"])));
    assert_eq!(v["partitions"][0]["size_bytes"], 0, "{v}");
    assert_eq!(v["partitions"][1]["size_bytes"], on_disk, "{v}");

    let text = ok(broker.ferrolog().args(["topic", "describe", "sz"]));
    let mut lines = text.lines().skip(1);
    let header: Vec<_> = lines.next().expect("header").split_whitespace().collect();
    assert_eq!(
        header,
        ["PARTITION", "LEADER", "START", "END", "RECORDS", "SIZE"]
    );
    let rows: Vec<Vec<&str>> = lines
        .take(2)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows[0], ["0", "1", "0", "0", "0", "0", "B"], "{text}");
    // KiB with one decimal, as `human_bytes` writes it.
    #[expect(clippy::cast_precision_loss, reason = "a test's small size")]
    let kib = format!("{:.1}", on_disk as f64 / 1024.0);
    assert_eq!(
        rows[1],
        ["1", "1", "0", "200", "200", &kib, "KiB"],
        "{text}"
    );

    let v = json(&ok(broker
        .ferrolog()
        .args(["topic", "list", "--output", "json"])));
    assert_eq!(
        v,
        serde_json::json!([{"name": "sz", "partitions": 2, "size_bytes": on_disk}])
    );
    let text = ok(broker.ferrolog().args(["topic", "list"]));
    assert_eq!(
        text.lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .collect::<Vec<_>>(),
        [
            vec!["TOPIC", "PARTITIONS", "SIZE"],
            vec!["sz", "2", &kib, "KiB"]
        ]
    );
}

#[test]
fn without_describe_log_dirs_the_size_column_is_left_out() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let proxy = listener.local_addr().expect("addr").to_string();
    // Metadata sends clients to the proxy, not around it.
    let broker = TestBroker::start_with(|c| c.advertised_listener = Some(proxy.clone()));
    hide_describe_log_dirs(listener, &broker);
    ok(broker
        .ferrolog()
        .args(["topic", "create", "old", "-p", "2"]));
    produce(&broker, "old", &[], &["a", "b"]);

    let v = json(&ok(broker.ferrolog().args([
        "-b", &proxy, "topic", "describe", "old", "--output", "json",
    ])));
    let partitions = v["partitions"].as_array().expect("partitions");
    assert_eq!(partitions.len(), 2, "{v}");
    assert!(
        partitions
            .iter()
            .all(|p| p.get("size_bytes").is_none() && p.get("error").is_none()),
        "{v}"
    );
    let text = ok(broker
        .ferrolog()
        .args(["-b", &proxy, "topic", "describe", "old"]));
    assert!(
        text.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == ["PARTITION", "LEADER", "START", "END", "RECORDS"]),
        "{text}"
    );
    let text = ok(broker.ferrolog().args(["-b", &proxy, "topic", "list"]));
    assert_eq!(text, "TOPIC  PARTITIONS\nold    2\n");
}

/// Serves on `listener` a proxy to `broker` whose ApiVersions answers do not
/// list DescribeLogDirs, as an older broker's would not: the one entry (key
/// 35, versions 0–4) is renumbered to a key no client knows. The client asks
/// ApiVersions first on every connection, so only each connection's first
/// answer is rewritten.
fn hide_describe_log_dirs(listener: TcpListener, broker: &TestBroker) {
    let upstream = broker.addr;
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let Ok(server) = TcpStream::connect(upstream) else {
                return;
            };
            let (mut client_in, mut server_out) = (
                client.try_clone().expect("clone"),
                server.try_clone().expect("clone"),
            );
            std::thread::spawn(move || std::io::copy(&mut client_in, &mut server_out));
            std::thread::spawn(move || relay_hiding(server, client));
        }
    });
}

fn relay_hiding(mut server: TcpStream, mut client: TcpStream) -> std::io::Result<()> {
    let mut size = [0u8; 4];
    server.read_exact(&mut size)?;
    let len = usize::try_from(u32::from_be_bytes(size)).unwrap_or(0);
    let mut frame = vec![0u8; len];
    server.read_exact(&mut frame)?;
    // ApiVersions v3: key, min, max as i16, then the entry's tagged fields.
    let entry = [0, 35, 0, 0, 0, 4, 0];
    let at = frame
        .windows(entry.len())
        .position(|w| w == entry)
        .expect("DescribeLogDirs v0-4 in the ApiVersions answer");
    frame[at..at + 2].copy_from_slice(&0x7f00u16.to_be_bytes());
    client.write_all(&size)?;
    client.write_all(&frame)?;
    std::io::copy(&mut server, &mut client).map(|_| ())
}
