//! The idempotent producer end to end: InitProducerId, duplicate retries answered without a
//! second copy, sequence gaps and stale epochs refused, state rebuilt after a restart, a real
//! librdkafka producer retrying through a connection cut after the append, and transactional
//! ids refused with a clear error.
#![allow(clippy::unwrap_used)]

mod common;
mod groups_support;

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use groups_support::{CuttingProxy, RawClient, TestBroker, eventually};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, InitProducerIdRequest, InitProducerIdResponse, ProduceRequest, ProduceResponse,
    ProducerId, TransactionalId,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
const INVALID_PRODUCER_EPOCH: i16 = 47;
const TRANSACTIONAL_ID_AUTHORIZATION_FAILED: i16 = 53;

fn batch(producer_id: i64, epoch: i16, sequence: i32, count: i32) -> Bytes {
    let records: Vec<Record> = (0..count)
        .map(|i| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id,
            producer_epoch: epoch,
            timestamp_type: TimestampType::Creation,
            offset: i64::from(i),
            sequence: sequence + i,
            timestamp: 1_700_000_000_000,
            key: None,
            value: Some(Bytes::from(format!("s{}", sequence + i))),
            headers: IndexMap::new(),
        })
        .collect();
    let mut out = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut out, records.iter(), &options).unwrap();
    out.freeze()
}

async fn init(client: &mut RawClient, current: Option<(i64, i16)>) -> (i64, i16) {
    let (id, epoch) = current.unwrap_or((-1, -1));
    let request = InitProducerIdRequest::default()
        .with_transaction_timeout_ms(60_000)
        .with_producer_id(ProducerId(id))
        .with_producer_epoch(epoch);
    let response: InitProducerIdResponse = client.call(ApiKey::InitProducerId, 4, &request).await;
    assert_eq!(response.error_code, 0);
    (response.producer_id.0, response.producer_epoch)
}

/// Produce one batch with acks=all; returns (error code, base offset).
async fn produce(client: &mut RawClient, topic: &str, records: Bytes) -> (i16, i64) {
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(StrBytes::from_string(topic.to_owned()).into())
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(records)),
                ]),
        ]);
    let response: ProduceResponse = client.call(ApiKey::Produce, 8, &request).await;
    let partition = &response.responses[0].partition_responses[0];
    (partition.error_code, partition.base_offset)
}

fn high_watermark(broker: &TestBroker, topic: &str) -> i64 {
    let topic = broker.server.topics.get(topic).expect("topic");
    let handle = topic.partition(0).expect("partition 0");
    handle
        .state
        .as_ref()
        .expect("partition open")
        .high_watermark()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_are_deduplicated_and_gaps_and_stale_epochs_refused() {
    let broker = TestBroker::start().await;
    common::create_topic(&broker, "payments", 1, &[]).await;
    let mut client = RawClient::connect(broker.addr).await;
    let (pid, epoch) = init(&mut client, None).await;
    assert!(pid >= 0);

    assert_eq!(
        produce(&mut client, "payments", batch(pid, epoch, 0, 3)).await,
        (0, 0)
    );
    assert_eq!(
        produce(&mut client, "payments", batch(pid, epoch, 3, 2)).await,
        (0, 3)
    );
    // The same batch again (a retry): the original offsets, and no second copy.
    assert_eq!(
        produce(&mut client, "payments", batch(pid, epoch, 0, 3)).await,
        (0, 0)
    );
    assert_eq!(high_watermark(&broker, "payments"), 5);
    assert_eq!(broker.server.producers.duplicates_answered(), 1);

    let (gap, _) = produce(&mut client, "payments", batch(pid, epoch, 9, 1)).await;
    assert_eq!(gap, OUT_OF_ORDER_SEQUENCE_NUMBER);

    let (same_pid, bumped) = init(&mut client, Some((pid, epoch))).await;
    assert_eq!(
        (same_pid, bumped),
        (pid, epoch + 1),
        "InitProducerId with the current id bumps the epoch"
    );
    assert_eq!(
        produce(&mut client, "payments", batch(pid, bumped, 0, 1))
            .await
            .0,
        0
    );
    let (stale, _) = produce(&mut client, "payments", batch(pid, epoch, 5, 1)).await;
    assert_eq!(stale, INVALID_PRODUCER_EPOCH);
    assert_eq!(high_watermark(&broker, "payments"), 6);

    let (other, _) = init(&mut client, None).await;
    assert_ne!(other, pid, "a new producer gets a new id");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producer_state_and_ids_survive_a_restart() {
    let broker = TestBroker::start().await;
    common::create_topic(&broker, "durable", 1, &[]).await;
    let mut client = RawClient::connect(broker.addr).await;
    let (pid, epoch) = init(&mut client, None).await;
    assert_eq!(
        produce(&mut client, "durable", batch(pid, epoch, 0, 4)).await,
        (0, 0)
    );
    drop(client);

    let broker = broker.restart().await;
    let mut client = RawClient::connect(broker.addr).await;
    assert_eq!(
        produce(&mut client, "durable", batch(pid, epoch, 0, 4)).await,
        (0, 0),
        "retry after restart"
    );
    assert_eq!(
        high_watermark(&broker, "durable"),
        4,
        "no duplicate after the restart"
    );
    assert_eq!(
        produce(&mut client, "durable", batch(pid, epoch, 7, 1))
            .await
            .0,
        OUT_OF_ORDER_SEQUENCE_NUMBER
    );
    assert_eq!(
        produce(&mut client, "durable", batch(pid, epoch, 4, 1)).await,
        (0, 4)
    );
    let (fresh, _) = init(&mut client, None).await;
    assert!(fresh > pid, "producer ids are never reused across restarts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producer_state_is_rebuilt_from_the_log_after_a_crash() {
    let broker = TestBroker::start().await;
    common::create_topic(&broker, "crashy", 1, &[]).await;
    let mut client = RawClient::connect(broker.addr).await;
    let (pid, epoch) = init(&mut client, None).await;
    for sequence in [0, 2, 4] {
        assert_eq!(
            produce(&mut client, "crashy", batch(pid, epoch, sequence, 2))
                .await
                .0,
            0
        );
    }
    drop(client);

    let broker = broker.crash_and_restart().await;
    let mut client = RawClient::connect(broker.addr).await;
    assert_eq!(
        produce(&mut client, "crashy", batch(pid, epoch, 2, 2)).await,
        (0, 2),
        "an older retry"
    );
    assert_eq!(
        high_watermark(&broker, "crashy"),
        6,
        "no duplicate after the crash"
    );
    assert_eq!(
        produce(&mut client, "crashy", batch(pid, epoch, 6, 1)).await,
        (0, 6)
    );
    let (fresh, _) = init(&mut client, None).await;
    assert!(fresh > pid, "producer ids are never reused after a crash");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactional_ids_are_refused_with_a_clear_error() {
    let broker = TestBroker::start().await;
    let mut client = RawClient::connect(broker.addr).await;
    let request = InitProducerIdRequest::default()
        .with_transactional_id(Some(TransactionalId(StrBytes::from_static_str("tx-1"))))
        .with_transaction_timeout_ms(60_000)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    let response: InitProducerIdResponse = client.call(ApiKey::InitProducerId, 4, &request).await;
    assert_eq!(response.error_code, TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
    assert_eq!(response.producer_id.0, -1);

    // librdkafka: init_transactions fails with a fatal error, not by running
    // out its timeout while it retries (as it did on INVALID_REQUEST).
    let producer: FutureProducer = broker
        .client_config()
        .set("transactional.id", "tx-1")
        .create()
        .expect("transactional producer");
    let result =
        tokio::task::spawn_blocking(move || producer.init_transactions(Duration::from_secs(60)))
            .await
            .unwrap();
    match result {
        Err(KafkaError::Transaction(error)) => {
            assert!(error.is_fatal(), "{error}");
            assert_eq!(
                error.code(),
                RDKafkaErrorCode::TransactionalIdAuthorizationFailed,
                "{error}"
            );
        }
        other => panic!("init_transactions must fail fatally, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_librdkafka_retry_after_a_cut_connection_leaves_no_duplicate() {
    let (proxy, listener) = CuttingProxy::bind().await;
    let advertised = proxy.addr.to_string();
    let broker = TestBroker::start_with(|c| c.advertised_listener = Some(advertised)).await;
    proxy.serve(listener, broker.addr);
    common::create_topic(&broker, "transfers", 1, &[]).await;

    let producer: FutureProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", proxy.addr.to_string())
        .set("enable.idempotence", "true")
        .set("linger.ms", "0")
        .set("message.timeout.ms", "20000")
        .set("retry.backoff.ms", "100")
        .create()
        .expect("idempotent producer");
    for i in 0..20 {
        if i == 7 {
            proxy.cut_next_produce.store(true, Ordering::SeqCst);
        }
        let value = format!("t-{i}");
        let delivery = producer.send(
            FutureRecord::<(), _>::to("transfers")
                .payload(&value)
                .partition(0),
            Duration::from_secs(20),
        );
        let (partition, offset) = delivery
            .await
            .map(|d| (d.partition, d.offset))
            .map_err(|(e, _)| e)
            .expect("delivered");
        assert_eq!(
            (partition, offset),
            (0, i64::from(i)),
            "record {i} at its own offset despite the retry"
        );
    }
    assert_eq!(
        proxy.cuts.load(Ordering::SeqCst),
        1,
        "the connection was cut once, after the append"
    );
    producer.flush(Duration::from_secs(5)).expect("flush");
    assert_eq!(
        high_watermark(&broker, "transfers"),
        20,
        "the retried batch was not appended twice"
    );
    assert!(
        broker.server.producers.duplicates_answered() >= 1,
        "the retry reached the broker and was recognised"
    );

    let values = read_all(&broker, "transfers", 20).await;
    assert_eq!(values.len(), 20);
    assert_eq!(
        values.into_iter().collect::<BTreeSet<_>>(),
        (0..20).map(|i| format!("t-{i}")).collect()
    );
}

/// Read partition 0 from the beginning until `count` records arrived.
async fn read_all(broker: &TestBroker, topic: &str, count: usize) -> Vec<String> {
    let consumer: BaseConsumer = broker
        .client_config()
        .set("group.id", "idempotence-check")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&tpl).unwrap();
    let mut values = Vec::new();
    eventually("all records read back", || {
        while let Some(message) = consumer.poll(Duration::from_millis(100)) {
            let message = message.expect("fetch");
            values
                .push(String::from_utf8_lossy(message.payload().unwrap_or_default()).into_owned());
        }
        (values.len() >= count).then_some(())
    })
    .await;
    values
}
