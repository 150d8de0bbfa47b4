//! Admin APIs through librdkafka's admin client (and ferrolog-client for
//! IncrementalAlterConfigs, which librdkafka's crate does not expose), and
//! DescribeConfigs v0, which old Sarama sends, through the raw test client.

#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

mod common;
mod groups_support;

use bytes::Buf;
use common::{TIMEOUT, consume, create_topic};
use groups_support::{RawClient, TestBroker, get_str, put_str};
use kafka_protocol::messages::ApiKey;
use rdkafka::admin::{
    AdminOptions, AlterConfig, NewPartitions, NewTopic, ResourceSpecifier, TopicReplication,
};
use rdkafka::consumer::Consumer;
use rdkafka::producer::FutureRecord;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

/// Topic names and partition counts from a Metadata request for every topic
/// (librdkafka 2.12 sends Metadata v12 with a null topic list).
fn topics(broker: &TestBroker) -> Vec<(String, usize)> {
    let metadata = broker
        .consumer(&[])
        .fetch_metadata(None, TIMEOUT)
        .expect("metadata for all topics");
    metadata
        .topics()
        .iter()
        .map(|t| (t.name().to_string(), t.partitions().len()))
        .collect()
}

async fn create(broker: &TestBroker, topic: NewTopic<'_>) -> Result<String, RDKafkaErrorCode> {
    let mut results = broker
        .admin()
        .create_topics([&topic], &AdminOptions::new())
        .await
        .expect("create_topics");
    results.remove(0).map_err(|(_, code)| code)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_topics_refuses_what_kafka_refuses() {
    let broker = TestBroker::start().await;
    let ok = create(
        &broker,
        NewTopic::new("fine", 3, TopicReplication::Fixed(1)),
    )
    .await;
    assert_eq!(ok, Ok("fine".to_string()));
    let again = create(
        &broker,
        NewTopic::new("fine", 3, TopicReplication::Fixed(1)),
    )
    .await;
    assert_eq!(again, Err(RDKafkaErrorCode::TopicAlreadyExists));
    let bad_name = create(
        &broker,
        NewTopic::new("no spaces", 1, TopicReplication::Fixed(1)),
    )
    .await;
    assert_eq!(bad_name, Err(RDKafkaErrorCode::InvalidTopic));
    let replicated = create(&broker, NewTopic::new("r3", 1, TopicReplication::Fixed(3))).await;
    assert_eq!(replicated, Err(RDKafkaErrorCode::InvalidReplicationFactor));
    let bad_config = create(
        &broker,
        NewTopic::new("c", 1, TopicReplication::Fixed(1)).set("retention.ms", "soon"),
    )
    .await;
    assert_eq!(bad_config, Err(RDKafkaErrorCode::InvalidConfig));
    // Compacted topics are served; a policy Kafka does not know is not.
    let compacted = create(
        &broker,
        NewTopic::new("k", 1, TopicReplication::Fixed(1)).set("cleanup.policy", "compact"),
    )
    .await;
    assert_eq!(compacted, Ok("k".to_owned()));
    let bad_policy = create(
        &broker,
        NewTopic::new("shred", 1, TopicReplication::Fixed(1)).set("cleanup.policy", "shred"),
    )
    .await;
    assert_eq!(bad_policy, Err(RDKafkaErrorCode::InvalidConfig));
    // Each lag valid alone, refused together as Kafka refuses them.
    let lags = create(
        &broker,
        NewTopic::new("lags", 1, TopicReplication::Fixed(1))
            .set("cleanup.policy", "compact")
            .set("min.compaction.lag.ms", "5000")
            .set("max.compaction.lag.ms", "4000"),
    )
    .await;
    assert_eq!(lags, Err(RDKafkaErrorCode::InvalidConfig));
    assert_eq!(
        topics(&broker),
        vec![("fine".to_string(), 3), ("k".to_string(), 1)],
        "refused topics were not created"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configs_are_described_altered_and_applied() {
    let broker = TestBroker::start().await;
    create_topic(&broker, "cfg", 1, &[("max.message.bytes", "100000")]).await;
    let admin = broker.admin();
    let alter = AlterConfig::new(ResourceSpecifier::Topic("cfg")).set("max.message.bytes", "1000");
    let altered = admin
        .alter_configs([&alter], &AdminOptions::new())
        .await
        .unwrap();
    assert!(altered[0].is_ok(), "{altered:?}");
    let described = admin
        .describe_configs([&ResourceSpecifier::Topic("cfg")], &AdminOptions::new())
        .await
        .unwrap();
    let resource = described[0].as_ref().unwrap();
    assert_eq!(
        resource.get("max.message.bytes").unwrap().value.as_deref(),
        Some("1000")
    );
    assert!(
        resource.get("retention.ms").unwrap().is_default,
        "not set on the topic"
    );

    // The new limit applies to the next produce.
    let producer = broker.producer(&[]);
    let too_big = producer
        .send(
            FutureRecord::<(), _>::to("cfg").payload(&"y".repeat(3000)),
            TIMEOUT,
        )
        .await;
    assert!(
        too_big.is_err(),
        "a 3000-byte record must be refused under max.message.bytes=1000"
    );

    // IncrementalAlterConfigs (what `ferrolog topic alter-config` sends).
    let client =
        ferrolog_client::Client::connect(ferrolog_client::ClientConfig::new(broker.bootstrap()))
            .await
            .unwrap();
    use ferrolog_client::admin::ConfigChange;
    let changes = [
        ConfigChange::Set {
            name: "ferrolog.durability".into(),
            value: "never".into(),
        },
        ConfigChange::Delete {
            name: "max.message.bytes".into(),
        },
    ];
    client.alter_topic_configs("cfg", &changes).await.unwrap();
    let entries = client.describe_topic_configs("cfg").await.unwrap();
    let get = |name: &str| entries.iter().find(|e| e.name == name).unwrap().clone();
    assert_eq!(get("ferrolog.durability").value.as_deref(), Some("never"));
    assert!(!get("ferrolog.durability").is_default);
    assert_eq!(get("max.message.bytes").value.as_deref(), Some("1048588"));
    assert!(get("max.message.bytes").is_default);
    let unknown = [ConfigChange::Set {
        name: "no.such.config".into(),
        value: "1".into(),
    }];
    assert!(client.alter_topic_configs("cfg", &unknown).await.is_err());
    // A key named twice, here set and deleted, was applied in order ("updated
    // 2 configs", the last one winning); Kafka refuses the request.
    let twice = [
        ConfigChange::Set {
            name: "retention.ms".into(),
            value: "1".into(),
        },
        ConfigChange::Delete {
            name: "retention.ms".into(),
        },
    ];
    let refused = client.alter_topic_configs("cfg", &twice).await;
    assert!(
        matches!(&refused, Err(e) if e.to_string().contains("INVALID_REQUEST")
            && e.to_string().contains("duplicate config keys: retention.ms")),
        "{refused:?}"
    );
    let entries = client.describe_topic_configs("cfg").await.unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e.name == "retention.ms" && e.is_default),
        "nothing of the refused request applied"
    );
}

/// Kafka's own topic configs, as provisioning scripts and `kafka-topics.sh`
/// set and read them: accepted and described when a single node honours them
/// or has nothing to do for them, refused with the reason otherwise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_topic_configs_are_served_as_one_node_can() {
    let broker = TestBroker::start().await;
    create_topic(
        &broker,
        "isr",
        1,
        &[
            ("min.insync.replicas", "2"),
            ("unclean.leader.election.enable", "false"),
            ("flush.ms", "100"),
        ],
    )
    .await;
    let admin = broker.admin();
    let described = admin
        .describe_configs([&ResourceSpecifier::Topic("isr")], &AdminOptions::new())
        .await
        .unwrap();
    let resource = described[0].as_ref().unwrap();
    let entry = |key: &str| {
        resource
            .get(key)
            .unwrap_or_else(|| panic!("{key} described"))
    };
    assert_eq!(entry("min.insync.replicas").value.as_deref(), Some("2"));
    assert!(!entry("min.insync.replicas").is_default);
    assert_eq!(entry("compression.type").value.as_deref(), Some("producer"));
    assert!(entry("compression.type").is_default);
    assert_eq!(
        entry("message.timestamp.type").value.as_deref(),
        Some("CreateTime")
    );

    // One replica is fewer than two in sync: acks=all is refused, acks=1 is not.
    let strict = broker.producer(&[("acks", "all"), ("retries", "0")]);
    let refused = strict
        .send(FutureRecord::<(), _>::to("isr").payload("x"), TIMEOUT)
        .await;
    match refused {
        Err((e, _)) => assert_eq!(
            e.rdkafka_error_code(),
            Some(RDKafkaErrorCode::NotEnoughReplicas),
            "{e}"
        ),
        Ok(delivered) => panic!("acks=all stored at {delivered:?} with min.insync.replicas=2"),
    }
    let loose = broker.producer(&[("acks", "1")]);
    let stored = loose
        .send(FutureRecord::<(), _>::to("isr").payload("y"), TIMEOUT)
        .await
        .expect("acks=1 is not bound by min.insync.replicas");
    assert_eq!(stored.offset, 0, "the refused record was never appended");

    // Values that need what Ferrolog does not do are refused, with the reason.
    for (key, value) in [
        ("compression.type", "zstd"),
        ("remote.storage.enable", "true"),
    ] {
        let topic = NewTopic::new("refused", 1, TopicReplication::Fixed(1)).set(key, value);
        let results = admin
            .create_topics([&topic], &AdminOptions::new())
            .await
            .unwrap();
        match &results[0] {
            Err((_, code)) => assert_eq!(*code, RDKafkaErrorCode::PolicyViolation, "{key}"),
            Ok(name) => panic!("{name} created with {key}={value}"),
        }
    }
}

/// `kafka-topics.sh --replica-assignment`: partitions on this node are
/// created; any other broker id, or more than one replica, is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_replica_assignments_name_this_node_only() {
    let broker = TestBroker::start().await;
    let admin = broker.admin();
    let create = |name: &'static str, assignment: &'static [&'static [i32]]| {
        let admin = &admin;
        async move {
            let partitions = i32::try_from(assignment.len()).unwrap();
            let topic = NewTopic::new(name, partitions, TopicReplication::Variable(assignment));
            let results = admin
                .create_topics([&topic], &AdminOptions::new())
                .await
                .unwrap();
            results.into_iter().next().unwrap()
        }
    };
    assert!(create("here", &[&[1], &[1]]).await.is_ok());
    assert_eq!(topics(&broker), vec![("here".to_string(), 2)]);
    const ELSEWHERE: &[&[i32]] = &[&[2]];
    const TWICE: &[&[i32]] = &[&[1, 2]];
    const MIXED: &[&[i32]] = &[&[1], &[2]];
    for (name, assignment) in [("elsewhere", ELSEWHERE), ("twice", TWICE), ("mixed", MIXED)] {
        match create(name, assignment).await {
            Err((_, code)) => {
                assert_eq!(code, RDKafkaErrorCode::InvalidReplicaAssignment, "{name}")
            }
            Ok(created) => panic!("{created} created with assignment {assignment:?}"),
        }
    }
    assert_eq!(topics(&broker).len(), 1, "nothing else was created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_grow_records_are_deleted_and_topics_go_away() {
    let broker = TestBroker::start().await;
    create_topic(&broker, "grow", 1, &[]).await;
    let admin = broker.admin();
    let grown = admin
        .create_partitions([&NewPartitions::new("grow", 3)], &AdminOptions::new())
        .await
        .unwrap();
    assert!(grown[0].is_ok(), "{grown:?}");
    let shrunk = admin
        .create_partitions([&NewPartitions::new("grow", 2)], &AdminOptions::new())
        .await
        .unwrap();
    assert!(shrunk[0].is_err(), "partitions only grow");
    assert_eq!(topics(&broker), vec![("grow".to_string(), 3)]);

    let producer = broker.producer(&[]);
    for i in 0..10 {
        let value = format!("r{i}");
        producer
            .send(
                FutureRecord::<(), _>::to("grow")
                    .payload(&value)
                    .partition(2),
                TIMEOUT,
            )
            .await
            .unwrap();
    }
    let mut before = TopicPartitionList::new();
    before
        .add_partition_offset("grow", 2, Offset::Offset(4))
        .unwrap();
    let deleted = admin
        .delete_records(&before, &AdminOptions::new())
        .await
        .unwrap();
    assert_eq!(
        deleted.find_partition("grow", 2).unwrap().offset(),
        Offset::Offset(4)
    );
    let consumer = broker.consumer(&[]);
    let (low, high) = consumer.fetch_watermarks("grow", 2, TIMEOUT).unwrap();
    assert_eq!((low, high), (4, 10));
    let got = consume(&consumer, "grow", &[(2, Offset::Beginning)], 6).await;
    assert_eq!(
        got[0].offset, 4,
        "reading from the beginning starts at the new log start"
    );

    let deleted = admin
        .delete_topics(&["grow"], &AdminOptions::new())
        .await
        .unwrap();
    assert_eq!(deleted[0], Ok("grow".to_string()));
    assert_eq!(topics(&broker), vec![]);
    assert!(
        !broker.data_dir().join("grow-2").exists(),
        "partition data is removed"
    );
    let again = admin
        .delete_topics(&["grow"], &AdminOptions::new())
        .await
        .unwrap();
    assert_eq!(
        again[0],
        Err((
            "grow".to_string(),
            RDKafkaErrorCode::UnknownTopicOrPartition
        ))
    );
}

/// Kafka 4.0 and `kafka-protocol` dropped DescribeConfigs v0; the broker
/// reads it as v1 and answers in v0's layout (`is_default`, no synonyms).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_configs_v0_as_old_sarama_sends_it() {
    let broker = TestBroker::start().await;
    create_topic(&broker, "cfg", 1, &[("retention.ms", "1000")]).await;
    // One topic resource, asking for two keys: one set on the topic, one not.
    let mut body = Vec::new();
    body.extend_from_slice(&1i32.to_be_bytes());
    body.push(2);
    put_str(&mut body, "cfg");
    body.extend_from_slice(&2i32.to_be_bytes());
    put_str(&mut body, "retention.ms");
    put_str(&mut body, "segment.bytes");

    let mut client = RawClient::connect(broker.addr).await;
    let mut response = client.call_raw(ApiKey::DescribeConfigs, 0, &body).await;
    assert_eq!(response.get_i32(), 0, "throttle");
    assert_eq!(response.get_i32(), 1, "one result");
    assert_eq!(response.get_i16(), 0, "no error");
    let _message = get_str(&mut response);
    assert_eq!(response.get_i8(), 2, "a topic");
    assert_eq!(get_str(&mut response).as_deref(), Some("cfg"));
    assert_eq!(response.get_i32(), 2, "the two keys asked for");
    let mut entries = Vec::new();
    for _ in 0..2 {
        let name = get_str(&mut response).unwrap();
        let value = get_str(&mut response).unwrap();
        // v0's flags: read_only, is_default, is_sensitive.
        let flags = [response.get_u8(), response.get_u8(), response.get_u8()];
        entries.push((name, value, flags));
    }
    assert!(!response.has_remaining(), "nothing after the last entry");
    entries.sort();
    assert_eq!(
        entries,
        [
            ("retention.ms".to_owned(), "1000".to_owned(), [0, 0, 0]),
            (
                "segment.bytes".to_owned(),
                "1073741824".to_owned(),
                [0, 1, 0]
            ),
        ]
    );

    // Cut short: closed like any malformed request; the broker serves on.
    let mut cut = RawClient::connect(broker.addr).await;
    let closed = tokio::time::timeout(
        TIMEOUT,
        cut.try_call_raw(ApiKey::DescribeConfigs, 0, &body[..body.len() - 3]),
    )
    .await
    .expect("answered or closed in time");
    assert!(closed.is_none(), "a truncated v0 body must not be answered");
    client.call_raw(ApiKey::DescribeConfigs, 0, &body).await;
}

/// The Java client's `describeTopics(TopicCollection.ofTopicIds(..))` sends
/// Metadata v12 with each id and the name "" (the field's default), not null.
/// Kafka looks such a topic up by its id; so must the broker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_looks_topics_up_by_id_as_the_java_client_asks() {
    use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
    use kafka_protocol::messages::{MetadataRequest, MetadataResponse, TopicName};
    use kafka_protocol::protocol::StrBytes;

    let broker = TestBroker::start().await;
    create_topic(&broker, "by-id", 2, &[]).await;
    let mut client = RawClient::connect(broker.addr).await;
    let ask = |topics: Vec<MetadataRequestTopic>| {
        MetadataRequest::default()
            .with_topics(Some(topics))
            .with_allow_auto_topic_creation(false)
    };
    let name = |text: &str| Some(TopicName(StrBytes::from_string(text.to_owned())));

    let by_name: MetadataResponse = client
        .call(
            ApiKey::Metadata,
            12,
            &ask(vec![
                MetadataRequestTopic::default().with_name(name("by-id")),
            ]),
        )
        .await;
    let id = by_name.topics[0].topic_id;
    assert!(!id.is_nil(), "a topic id: {by_name:?}");

    for sent_name in [name(""), None] {
        let topic = MetadataRequestTopic::default()
            .with_topic_id(id)
            .with_name(sent_name.clone());
        let response: MetadataResponse = client.call(ApiKey::Metadata, 12, &ask(vec![topic])).await;
        let found = &response.topics[0];
        assert_eq!(found.error_code, 0, "name sent {sent_name:?}: {found:?}");
        assert_eq!(found.name, name("by-id"));
        assert_eq!(found.topic_id, id);
        assert_eq!(found.partitions.len(), 2);
    }

    let unknown = MetadataRequestTopic::default()
        .with_topic_id(uuid::Uuid::from_u128(7))
        .with_name(name(""));
    let response: MetadataResponse = client.call(ApiKey::Metadata, 12, &ask(vec![unknown])).await;
    assert_eq!(response.topics[0].error_code, 100, "UNKNOWN_TOPIC_ID");

    // v10 and v11 carry the field, but Kafka refuses ids before v12.
    let early = MetadataRequestTopic::default()
        .with_topic_id(id)
        .with_name(name("by-id"));
    let response: MetadataResponse = client.call(ApiKey::Metadata, 11, &ask(vec![early])).await;
    assert_eq!(response.topics[0].error_code, 42, "INVALID_REQUEST");
}

/// Kafka answers each topic a Metadata request names once. Without that, a 14 KB request
/// naming one 1000-partition topic 2,000 times built a 52 MB response.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_answers_a_topic_named_many_times_once() {
    use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
    use kafka_protocol::messages::{MetadataRequest, MetadataResponse, TopicName};
    use kafka_protocol::protocol::StrBytes;

    let broker = TestBroker::start().await;
    create_topic(&broker, "wide", 50, &[]).await;
    let mut client = RawClient::connect(broker.addr).await;
    let topic = |text: &str| {
        MetadataRequestTopic::default()
            .with_name(Some(TopicName(StrBytes::from_string(text.to_owned()))))
    };
    let mut topics = vec![topic("wide"); 1000];
    topics.push(topic("absent"));
    topics.push(topic("absent"));
    let request = MetadataRequest::default()
        .with_topics(Some(topics))
        .with_allow_auto_topic_creation(false);
    let response: MetadataResponse = client.call(ApiKey::Metadata, 9, &request).await;
    let names: Vec<String> = response
        .topics
        .iter()
        .map(|t| t.name.as_ref().map(|n| n.to_string()).unwrap_or_default())
        .collect();
    assert_eq!(names, vec!["wide".to_owned(), "absent".to_owned()]);
    assert_eq!(response.topics[0].partitions.len(), 50);
    assert_eq!(
        response.topics[1].error_code, 3,
        "UNKNOWN_TOPIC_OR_PARTITION"
    );
}

/// ListOffsets v8–v10, which the Java admin client needs for
/// `OffsetSpec.earliestLocal()` (-4) and `latestTiered()` (-5), as
/// `kafka-get-offsets.sh --time -4` asks: the whole log is local.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_offsets_answers_earliest_local_and_latest_tiered() {
    use kafka_protocol::messages::delete_records_request::{
        DeleteRecordsPartition, DeleteRecordsTopic,
    };
    use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
    use kafka_protocol::messages::{
        DeleteRecordsRequest, DeleteRecordsResponse, ListOffsetsRequest, ListOffsetsResponse,
        TopicName,
    };
    use kafka_protocol::protocol::StrBytes;

    let broker = TestBroker::start().await;
    create_topic(&broker, "local", 1, &[]).await;
    let producer = broker.producer(&[]);
    for i in 0..5 {
        producer
            .send(
                FutureRecord::<(), _>::to("local").payload(&format!("r{i}")),
                TIMEOUT,
            )
            .await
            .unwrap();
    }
    let name = TopicName(StrBytes::from_static_str("local"));
    let mut client = RawClient::connect(broker.addr).await;
    let deleted: DeleteRecordsResponse = client
        .call(
            ApiKey::DeleteRecords,
            2,
            &DeleteRecordsRequest::default()
                .with_topics(vec![
                    DeleteRecordsTopic::default()
                        .with_name(name.clone())
                        .with_partitions(vec![
                            DeleteRecordsPartition::default()
                                .with_partition_index(0)
                                .with_offset(2),
                        ]),
                ])
                .with_timeout_ms(5000),
        )
        .await;
    assert_eq!(deleted.topics[0].partitions[0].low_watermark, 2);

    let list = |timestamp: i64| {
        ListOffsetsRequest::default()
            .with_replica_id(kafka_protocol::messages::BrokerId(-1))
            .with_topics(vec![
                ListOffsetsTopic::default()
                    .with_name(name.clone())
                    .with_partitions(vec![
                        ListOffsetsPartition::default()
                            .with_partition_index(0)
                            .with_timestamp(timestamp),
                    ]),
            ])
            .with_timeout_ms(5000)
    };
    for version in [8, 9, 10] {
        let answer: ListOffsetsResponse =
            client.call(ApiKey::ListOffsets, version, &list(-4)).await;
        let partition = &answer.topics[0].partitions[0];
        assert_eq!(
            (partition.error_code, partition.offset),
            (0, 2),
            "v{version}: earliest local is the log start"
        );
    }
    for version in [9, 10] {
        let answer: ListOffsetsResponse =
            client.call(ApiKey::ListOffsets, version, &list(-5)).await;
        let partition = &answer.topics[0].partitions[0];
        assert_eq!(
            (partition.error_code, partition.offset),
            (0, -1),
            "v{version}: nothing is tiered"
        );
    }
    // Before the version that defines them, they are not offsets specs.
    let answer: ListOffsetsResponse = client.call(ApiKey::ListOffsets, 7, &list(-4)).await;
    assert_eq!(
        answer.topics[0].partitions[0].error_code,
        kafka_protocol::ResponseError::InvalidRequest.code()
    );
    let answer: ListOffsetsResponse = client.call(ApiKey::ListOffsets, 8, &list(-5)).await;
    assert_eq!(
        answer.topics[0].partitions[0].error_code,
        kafka_protocol::ResponseError::InvalidRequest.code()
    );
}

/// `message.timestamp.type=LogAppendTime`: the broker's clock replaces the
/// producer's timestamps, consumers see the type, and replay by time follows
/// the broker's clock. Compressed batches are stamped without decompressing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_append_time_topics_carry_the_brokers_clock() {
    use rdkafka::Message;
    use rdkafka::Timestamp;

    let broker = TestBroker::start().await;
    create_topic(
        &broker,
        "stamped",
        1,
        &[("message.timestamp.type", "LogAppendTime")],
    )
    .await;
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
    };
    let before = now();
    let producer = broker.producer(&[("compression.type", "gzip"), ("linger.ms", "50")]);
    let payloads: Vec<String> = (0..10).map(|i| format!("r{i}")).collect();
    let sends: Vec<_> = payloads
        .iter()
        .zip(0..)
        .map(|(payload, i)| {
            // A producer clock far in the past, which the broker must replace.
            producer.send(
                FutureRecord::<(), _>::to("stamped")
                    .payload(payload)
                    .timestamp(1_000 + i),
                TIMEOUT,
            )
        })
        .collect();
    for send in sends {
        send.await.unwrap();
    }
    let after = now();

    let consumer = broker.consumer(&[]);
    let mut list = TopicPartitionList::new();
    list.add_partition_offset("stamped", 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&list).unwrap();
    let mut seen = Vec::new();
    while seen.len() < 10 {
        let m = tokio::time::timeout(TIMEOUT, consumer.recv())
            .await
            .expect("records arrive")
            .unwrap();
        match m.timestamp() {
            Timestamp::LogAppendTime(t) => seen.push((m.offset(), t)),
            other => panic!("offset {}: {other:?}, want LogAppendTime", m.offset()),
        }
    }
    for (offset, t) in &seen {
        assert!(
            (before..=after).contains(t),
            "offset {offset}: {t} is not the broker's clock ({before}..={after})"
        );
    }
    // Replay by time uses the stamped times, not the producer's.
    let mut wanted = TopicPartitionList::new();
    wanted
        .add_partition_offset("stamped", 0, Offset::Offset(before))
        .unwrap();
    let found = consumer.offsets_for_times(wanted, TIMEOUT).unwrap();
    assert_eq!(
        found.find_partition("stamped", 0).unwrap().offset(),
        Offset::Offset(0)
    );
    let mut wanted = TopicPartitionList::new();
    wanted
        .add_partition_offset("stamped", 0, Offset::Offset(2_000))
        .unwrap();
    let found = consumer.offsets_for_times(wanted, TIMEOUT).unwrap();
    assert_eq!(
        found.find_partition("stamped", 0).unwrap().offset(),
        Offset::Offset(0),
        "the producer's times (1000..1009) are gone"
    );
}

/// A Fetch long-polling a topic that is deleted and created again must not
/// stay parked on the deleted partition: `TopicRegistry::delete` wakes it
/// "so they see the topic is gone", and records appended to the new topic
/// must reach it (or an error must send the client back to Metadata).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parked_fetch_sees_its_topic_deleted_and_created_again() {
    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    use kafka_protocol::messages::{FetchRequest, FetchResponse, TopicName};
    use kafka_protocol::protocol::StrBytes;

    const MAX_WAIT_MS: i32 = 10_000;
    let broker = TestBroker::start().await;
    create_topic(&broker, "reborn", 1, &[]).await;

    let name = TopicName(StrBytes::from_static_str("reborn"));
    let request = FetchRequest::default()
        .with_max_wait_ms(MAX_WAIT_MS)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_topics(vec![
            FetchTopic::default().with_topic(name).with_partitions(vec![
                FetchPartition::default()
                    .with_partition(0)
                    .with_fetch_offset(0)
                    .with_partition_max_bytes(1 << 20),
            ]),
        ]);
    let mut client = RawClient::connect(broker.addr).await;
    let parked = tokio::spawn(async move {
        let started = std::time::Instant::now();
        let response: FetchResponse = client.call(ApiKey::Fetch, 12, &request).await;
        (started.elapsed(), response)
    });
    // Long enough for the empty read to park the fetch on the partition's notifier.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(!parked.is_finished(), "the fetch is parked");

    let admin = broker.admin();
    let deleted = admin
        .delete_topics(&["reborn"], &AdminOptions::new())
        .await
        .unwrap();
    assert_eq!(deleted[0], Ok("reborn".to_string()));
    create_topic(&broker, "reborn", 1, &[]).await;
    let producer = broker.producer(&[]);
    let delivery = producer
        .send(
            FutureRecord::<(), _>::to("reborn")
                .payload("new")
                .partition(0),
            TIMEOUT,
        )
        .await
        .unwrap();
    assert_eq!(
        (delivery.partition, delivery.offset),
        (0, 0),
        "appended to the new topic"
    );

    let (elapsed, response) = parked.await.unwrap();
    let answer = &response.responses[0].partitions[0];
    let record_bytes = answer.records.as_ref().map_or(0, |r| r.len());
    assert!(
        elapsed < std::time::Duration::from_millis(5_000)
            && (answer.error_code != 0 || record_bytes > 0),
        "a fetch parked on the deleted topic answered after {elapsed:?} \
         (max_wait_ms {MAX_WAIT_MS}) with error {} and {record_bytes} record bytes, \
         high watermark {}",
        answer.error_code,
        answer.high_watermark,
    );
}

/// `[log] retention_check_interval_ms` sets how often retention runs: at
/// 100 ms, segments past `retention.ms` go within a second, where the
/// default pass would leave them for up to five minutes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_runs_at_the_configured_interval() {
    let broker = TestBroker::start_with(|c| c.log.retention_check_interval_ms = 100).await;
    let configs = [("segment.ms", "1"), ("retention.ms", "1")];
    create_topic(&broker, "aging", 1, &configs).await;
    let producer = broker.producer(&[]);
    for value in ["a", "b", "c"] {
        // Each record after the first finds its segment older than
        // segment.ms and starts a new one.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        producer
            .send(FutureRecord::<(), str>::to("aging").payload(value), TIMEOUT)
            .await
            .expect("delivered");
    }
    let topic = broker.server.topics.get("aging").expect("topic");
    let partition = topic.partitions[0].state.as_ref().expect("open").clone();
    // Only the active segment, holding offset 2, outlives the pass.
    common::eventually_within(std::time::Duration::from_secs(10), "retention", || {
        (partition.log_start_offset() == 2).then_some(())
    })
    .await;
}
