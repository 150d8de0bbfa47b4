//! A request that names the same topic, partition or resource more than once,
//! through the raw test client: each such entry is answered as Kafka 4.0
//! answers it. The responses of CreateTopics, DeleteTopics and DeleteRecords
//! are maps in Kafka's schema (`mapKey`), so a name answered twice is a
//! malformed response to librdkafka, which then fails the whole request.

#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

mod common;
mod groups_support;

use common::create_topic;
use groups_support::{RawClient, TestBroker};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::ApiKey;
use kafka_protocol::messages::TopicName;
use kafka_protocol::protocol::StrBytes;
use rdkafka::producer::FutureRecord;

const INVALID_REQUEST: i16 = 42;

/// A topic's answer: per partition, its index, error code and offset (or low watermark).
type TopicAnswer = (String, Vec<(i32, i16, i64)>);

fn topic_name(text: &str) -> TopicName {
    TopicName(StrBytes::from_string(text.to_owned()))
}

/// Topic names and partition counts, from Metadata v12 for every topic.
async fn partition_counts(client: &mut RawClient) -> Vec<(String, usize)> {
    use kafka_protocol::messages::{MetadataRequest, MetadataResponse};
    let response: MetadataResponse = client
        .call(
            ApiKey::Metadata,
            12,
            &MetadataRequest::default().with_topics(None),
        )
        .await;
    let mut counts: Vec<(String, usize)> = response
        .topics
        .iter()
        .map(|t| (t.name.as_ref().unwrap().to_string(), t.partitions.len()))
        .collect();
    counts.sort();
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_topics_answers_a_repeated_name_once_and_creates_the_others() {
    use kafka_protocol::messages::create_topics_request::CreatableTopic;
    use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};

    let broker = TestBroker::start().await;
    let mut client = RawClient::connect(broker.addr).await;
    let topic = |name: &str| {
        CreatableTopic::default()
            .with_name(topic_name(name))
            .with_num_partitions(1)
            .with_replication_factor(1)
    };
    let request = CreateTopicsRequest::default()
        .with_topics(vec![topic("dupA"), topic("okB"), topic("dupA")])
        .with_timeout_ms(5000);
    for version in [2, 7] {
        let response: CreateTopicsResponse =
            client.call(ApiKey::CreateTopics, version, &request).await;
        let answers: Vec<(String, i16)> = response
            .topics
            .iter()
            .map(|t| (t.name.to_string(), t.error_code))
            .collect();
        // The second round finds okB made by the first.
        let ok_b = if version == 2 {
            0
        } else {
            ResponseError::TopicAlreadyExists.code()
        };
        assert_eq!(
            answers,
            vec![
                ("dupA".to_owned(), INVALID_REQUEST),
                ("okB".to_owned(), ok_b)
            ],
            "v{version}"
        );
        let messages: Vec<Option<&str>> = response
            .topics
            .iter()
            .map(|t| t.error_message.as_deref())
            .collect();
        // A success's message is null, as Kafka sends it.
        let ok_b_message = if version == 2 {
            None
        } else {
            Some("Topic 'okB' already exists.")
        };
        assert_eq!(
            messages,
            vec![Some("Duplicate topic name."), ok_b_message],
            "v{version}"
        );
        assert_eq!(
            (
                response.topics[0].num_partitions,
                response.topics[0].replication_factor
            ),
            (-1, -1)
        );
    }
    assert_eq!(
        partition_counts(&mut client).await,
        vec![("okB".to_owned(), 1)],
        "the repeated name is not created"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_partitions_refuses_a_repeated_topic_and_changes_nothing() {
    use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
    use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};

    let broker = TestBroker::start().await;
    create_topic(&broker, "d1", 1, &[]).await;
    create_topic(&broker, "other", 1, &[]).await;
    let mut client = RawClient::connect(broker.addr).await;
    let grow = |name: &str, count: i32| {
        CreatePartitionsTopic::default()
            .with_name(topic_name(name))
            .with_count(count)
    };
    let request = CreatePartitionsRequest::default()
        .with_topics(vec![grow("d1", 3), grow("other", 2), grow("d1", 4)])
        .with_timeout_ms(5000);
    let response: CreatePartitionsResponse =
        client.call(ApiKey::CreatePartitions, 3, &request).await;
    let answers: Vec<(String, i16, Option<String>)> = response
        .results
        .iter()
        .map(|r| {
            (
                r.name.to_string(),
                r.error_code,
                r.error_message.as_ref().map(|m| m.to_string()),
            )
        })
        .collect();
    assert_eq!(
        answers,
        vec![
            (
                "d1".to_owned(),
                INVALID_REQUEST,
                Some("Duplicate topic name.".to_owned())
            ),
            ("other".to_owned(), 0, None),
        ]
    );
    assert_eq!(
        partition_counts(&mut client).await,
        vec![("d1".to_owned(), 1), ("other".to_owned(), 2)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_topics_refuses_a_topic_named_twice_by_name_or_by_id() {
    use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
    use kafka_protocol::messages::{
        DeleteTopicsRequest, DeleteTopicsResponse, MetadataRequest, MetadataResponse,
    };
    use uuid::Uuid;

    let broker = TestBroker::start().await;
    for name in ["d2", "gone", "by-id", "both", "kept"] {
        create_topic(&broker, name, 1, &[]).await;
    }
    let mut client = RawClient::connect(broker.addr).await;
    let all: MetadataResponse = client
        .call(
            ApiKey::Metadata,
            12,
            &MetadataRequest::default().with_topics(None),
        )
        .await;
    let id_of = |name: &str| {
        all.topics
            .iter()
            .find(|t| t.name.as_ref().is_some_and(|n| n.as_str() == name))
            .unwrap()
            .topic_id
    };
    type Answer = (Option<String>, Uuid, i16, Option<String>);
    let answers = |response: DeleteTopicsResponse| -> Vec<Answer> {
        response
            .responses
            .iter()
            .map(|r| {
                (
                    r.name.as_ref().map(|n| n.to_string()),
                    r.topic_id,
                    r.error_code,
                    r.error_message.as_ref().map(|m| m.to_string()),
                )
            })
            .collect()
    };

    let by_names = DeleteTopicsRequest::default()
        .with_topic_names(vec![topic_name("d2"), topic_name("gone"), topic_name("d2")])
        .with_timeout_ms(5000);
    let response = client.call(ApiKey::DeleteTopics, 1, &by_names).await;
    assert_eq!(
        answers(response),
        vec![
            // v1 has no error message (v5+).
            (Some("d2".to_owned()), Uuid::nil(), INVALID_REQUEST, None),
            (Some("gone".to_owned()), Uuid::nil(), 0, None),
        ],
        "v1 by name"
    );

    let by_id = |id: Uuid| DeleteTopicState::default().with_topic_id(id);
    let by_name = |name: &str| DeleteTopicState::default().with_name(Some(topic_name(name)));
    let v6 = DeleteTopicsRequest::default()
        .with_topics(vec![
            by_id(id_of("by-id")),
            by_id(id_of("by-id")),
            by_name("both"),
            by_id(id_of("both")),
            DeleteTopicState::default(),
            by_name("kept").with_topic_id(id_of("kept")),
        ])
        .with_timeout_ms(5000);
    let response = client.call(ApiKey::DeleteTopics, 6, &v6).await;
    assert_eq!(
        answers(response),
        vec![
            (
                None,
                id_of("by-id"),
                INVALID_REQUEST,
                Some("Duplicate topic id.".to_owned())
            ),
            (
                Some("both".to_owned()),
                id_of("both"),
                INVALID_REQUEST,
                Some("The provided topic name maps to an ID that was already supplied.".to_owned())
            ),
            (
                None,
                Uuid::nil(),
                INVALID_REQUEST,
                Some("Neither topic name nor id were specified.".to_owned())
            ),
            (
                Some("kept".to_owned()),
                id_of("kept"),
                INVALID_REQUEST,
                Some("You may not specify both topic name and topic id.".to_owned())
            ),
        ],
        "v6"
    );
    let left: Vec<String> = partition_counts(&mut client)
        .await
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(left, vec!["both", "by-id", "d2", "kept"]);
}

/// Kafka answers a partition listed twice once, with INVALID_REQUEST, and
/// gathers a topic listed twice into one answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_offsets_refuses_a_partition_listed_twice() {
    use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
    use kafka_protocol::messages::{BrokerId, ListOffsetsRequest, ListOffsetsResponse};

    let broker = TestBroker::start().await;
    create_topic(&broker, "lo", 2, &[]).await;
    let producer = broker.producer(&[]);
    for _ in 0..3 {
        producer
            .send(
                FutureRecord::<(), _>::to("lo").payload("x").partition(1),
                common::TIMEOUT,
            )
            .await
            .unwrap();
    }
    let mut client = RawClient::connect(broker.addr).await;
    let partition = |index: i32, timestamp: i64| {
        ListOffsetsPartition::default()
            .with_partition_index(index)
            .with_timestamp(timestamp)
    };
    let topic = |partitions: Vec<ListOffsetsPartition>| {
        ListOffsetsTopic::default()
            .with_name(topic_name("lo"))
            .with_partitions(partitions)
    };
    let request = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![
            topic(vec![partition(0, -1), partition(0, -2)]),
            topic(vec![partition(1, -1)]),
        ]);
    for version in [1, 10] {
        let response: ListOffsetsResponse =
            client.call(ApiKey::ListOffsets, version, &request).await;
        let answers: Vec<TopicAnswer> = response
            .topics
            .iter()
            .map(|t| {
                let partitions = t
                    .partitions
                    .iter()
                    .map(|p| (p.partition_index, p.error_code, p.offset))
                    .collect();
                (t.name.to_string(), partitions)
            })
            .collect();
        assert_eq!(
            answers,
            vec![("lo".to_owned(), vec![(0, INVALID_REQUEST, -1), (1, 0, 3)])],
            "v{version}"
        );
    }
}

/// Kafka keys DeleteRecords by partition: one listed twice is answered once,
/// and the offset given last is the one applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_records_answers_a_partition_listed_twice_once() {
    use kafka_protocol::messages::delete_records_request::{
        DeleteRecordsPartition, DeleteRecordsTopic,
    };
    use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

    let broker = TestBroker::start().await;
    create_topic(&broker, "dr", 1, &[]).await;
    let producer = broker.producer(&[]);
    for _ in 0..5 {
        producer
            .send(
                FutureRecord::<(), _>::to("dr").payload("x"),
                common::TIMEOUT,
            )
            .await
            .unwrap();
    }
    let mut client = RawClient::connect(broker.addr).await;
    let before = |offset: i64| {
        DeleteRecordsTopic::default()
            .with_name(topic_name("dr"))
            .with_partitions(vec![
                DeleteRecordsPartition::default()
                    .with_partition_index(0)
                    .with_offset(offset),
            ])
    };
    let request = DeleteRecordsRequest::default()
        .with_topics(vec![before(4), before(2)])
        .with_timeout_ms(5000);
    let response: DeleteRecordsResponse = client.call(ApiKey::DeleteRecords, 2, &request).await;
    let answers: Vec<TopicAnswer> = response
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| (p.partition_index, p.error_code, p.low_watermark))
                .collect();
            (t.name.to_string(), partitions)
        })
        .collect();
    assert_eq!(answers, vec![("dr".to_owned(), vec![(0, 0, 2)])]);
}

/// A config resource named twice is refused, every entry of it, with
/// nothing applied, as Kafka's broker refuses it before it reaches the
/// controller; the other resources of the request are altered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alter_configs_refuse_a_resource_named_twice() {
    use kafka_protocol::messages::alter_configs_request::{
        AlterConfigsResource as LegacyResource, AlterableConfig as LegacyConfig,
    };
    use kafka_protocol::messages::incremental_alter_configs_request::{
        AlterConfigsResource, AlterableConfig,
    };
    use kafka_protocol::messages::{
        AlterConfigsRequest, AlterConfigsResponse, DescribeConfigsRequest, DescribeConfigsResponse,
        IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
        describe_configs_request::DescribeConfigsResource,
    };

    const TOPIC: i8 = 2;
    let broker = TestBroker::start().await;
    create_topic(&broker, "cfg", 1, &[]).await;
    create_topic(&broker, "fine", 1, &[]).await;
    let mut client = RawClient::connect(broker.addr).await;
    let refused = (
        INVALID_REQUEST,
        Some("Each resource must appear at most once.".to_owned()),
    );

    let set = |topic: &str, value: &str| {
        AlterConfigsResource::default()
            .with_resource_type(TOPIC)
            .with_resource_name(StrBytes::from_string(topic.to_owned()))
            .with_configs(vec![
                AlterableConfig::default()
                    .with_name(StrBytes::from_static_str("retention.ms"))
                    .with_config_operation(0)
                    .with_value(Some(StrBytes::from_string(value.to_owned()))),
            ])
    };
    let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
        set("cfg", "1000"),
        set("fine", "3000"),
        set("cfg", "2000"),
    ]);
    let response: IncrementalAlterConfigsResponse = client
        .call(ApiKey::IncrementalAlterConfigs, 1, &request)
        .await;
    let answers: Vec<(String, (i16, Option<String>))> = response
        .responses
        .iter()
        .map(|r| config_answer(&r.resource_name, r.error_code, r.error_message.as_ref()))
        .collect();
    assert_eq!(
        answers,
        vec![
            ("cfg".to_owned(), refused.clone()),
            ("fine".to_owned(), (0, None)),
            ("cfg".to_owned(), refused.clone()),
        ],
        "IncrementalAlterConfigs"
    );

    let replace = |topic: &str, value: &str| {
        LegacyResource::default()
            .with_resource_type(TOPIC)
            .with_resource_name(StrBytes::from_string(topic.to_owned()))
            .with_configs(vec![
                LegacyConfig::default()
                    .with_name(StrBytes::from_static_str("retention.ms"))
                    .with_value(Some(StrBytes::from_string(value.to_owned()))),
            ])
    };
    let request = AlterConfigsRequest::default()
        .with_resources(vec![replace("cfg", "1000"), replace("cfg", "2000")]);
    let response: AlterConfigsResponse = client.call(ApiKey::AlterConfigs, 2, &request).await;
    let answers: Vec<(String, (i16, Option<String>))> = response
        .responses
        .iter()
        .map(|r| config_answer(&r.resource_name, r.error_code, r.error_message.as_ref()))
        .collect();
    assert_eq!(
        answers,
        vec![
            ("cfg".to_owned(), refused.clone()),
            ("cfg".to_owned(), refused),
        ],
        "AlterConfigs"
    );

    let describe = |topic: &str| {
        DescribeConfigsResource::default()
            .with_resource_type(TOPIC)
            .with_resource_name(StrBytes::from_string(topic.to_owned()))
            .with_configuration_keys(Some(vec![StrBytes::from_static_str("retention.ms")]))
    };
    let described: DescribeConfigsResponse = client
        .call(
            ApiKey::DescribeConfigs,
            4,
            &DescribeConfigsRequest::default()
                .with_resources(vec![describe("cfg"), describe("fine")]),
        )
        .await;
    let retention: Vec<(String, String)> = described
        .results
        .iter()
        .map(|r| {
            (
                r.resource_name.to_string(),
                r.configs[0].value.as_ref().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        retention,
        vec![
            ("cfg".to_owned(), "604800000".to_owned()),
            ("fine".to_owned(), "3000".to_owned()),
        ],
        "only the resource named once is altered"
    );
}

/// One resource's answer to an alter-configs request: its name, code and message.
fn config_answer(
    name: &StrBytes,
    code: i16,
    message: Option<&StrBytes>,
) -> (String, (i16, Option<String>)) {
    // A success's message is null, as Kafka sends it.
    let message = message.map(|m| m.to_string());
    (name.to_string(), (code, message))
}
