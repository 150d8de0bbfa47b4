//! The client against a real in-process `ferrologd`: admin, produce, read,
//! offsets and errors carrying their Kafka code.

use ferrolog_broker::{BrokerConfig, Server};
use ferrolog_client::produce::Acks;
use ferrolog_client::{
    Client, ClientConfig, ClientError, Compression, OffsetSpec, ProducerRecord, ResponseError,
};

async fn broker() -> (
    std::net::SocketAddr,
    tempfile::TempDir,
    tokio::sync::oneshot::Sender<()>,
) {
    let dir = tempfile::tempdir().expect("dir");
    let config = BrokerConfig {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.path().to_path_buf(),
        ..BrokerConfig::default()
    };
    let server = Server::bind(config).await.expect("bind");
    let addr = server.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.run(async move {
        stopped.await.ok();
    }));
    (addr, dir, stop)
}

fn record(i: usize) -> ProducerRecord {
    ProducerRecord {
        key: Some(format!("k{i}").into_bytes().into()),
        value: Some(format!("v{i}").into_bytes().into()),
        headers: vec![("n".into(), Some(i.to_string().into_bytes().into()))],
        timestamp_ms: 1_000 + i as i64,
    }
}

#[tokio::test]
async fn produce_read_and_look_up_offsets() {
    let (addr, _dir, _stop) = broker().await;
    let client = Client::connect(ClientConfig::new(addr.to_string()))
        .await
        .expect("connect");
    client.create_topic("rt", 2, 1, &[]).await.expect("create");
    let records: Vec<ProducerRecord> = (0..10).map(record).collect();
    let ack = client
        .send_records("rt", 1, &records[..6], Compression::Lz4, Acks::All)
        .await
        .expect("produce");
    assert_eq!(ack.base_offset, 0);
    let ack = client
        .send_records("rt", 1, &records[6..], Compression::None, Acks::Leader)
        .await
        .expect("produce");
    assert_eq!(ack.base_offset, 6);

    let got = client.read_records("rt", 1, 3, 100).await.expect("read");
    assert_eq!(
        got.iter().map(|r| r.offset).collect::<Vec<_>>(),
        (3..10).collect::<Vec<i64>>()
    );
    assert_eq!(got[0].value.as_deref(), Some(&b"v3"[..]));
    assert_eq!(
        got[0].headers,
        vec![("n".to_owned(), Some(bytes::Bytes::from_static(b"3")))]
    );
    assert!(
        client
            .read_records("rt", 0, 0, 100)
            .await
            .expect("empty partition")
            .is_empty()
    );

    let by_time = client
        .list_offsets("rt", &[(1, OffsetSpec::Timestamp(1_007))])
        .await
        .expect("by time");
    assert_eq!(by_time[0].offset, 7);
    assert_eq!(
        client.offset_range("rt").await.expect("range"),
        vec![(0, 0, 0), (1, 0, 10)]
    );
}

#[tokio::test]
async fn errors_carry_their_kafka_code() {
    let (addr, _dir, _stop) = broker().await;
    let client = Client::connect(ClientConfig::new(addr.to_string()))
        .await
        .expect("connect");
    client.create_topic("dup", 1, 1, &[]).await.expect("create");
    let err = client
        .create_topic("dup", 1, 1, &[])
        .await
        .expect_err("exists");
    assert_eq!(err.kafka_code(), Some(ResponseError::TopicAlreadyExists));
    let err = client.topic("missing").await.expect_err("unknown");
    assert!(matches!(err, ClientError::UnknownTopic { ref topic } if topic == "missing"));
    let err = client
        .send_records("dup", 5, &[record(0)], Compression::None, Acks::All)
        .await
        .expect_err("no partition 5");
    assert!(
        matches!(
            err,
            ClientError::UnknownPartition {
                partition: 5,
                partition_count: 1,
                ..
            }
        ),
        "{err}"
    );
}
