//! `include_*_authorized_operations`, through the raw test client: with no
//! authorizer, Kafka answers every operation it supports on the resource, as
//! a bitfield of `AclOperation` codes, and INT32_MIN when nobody asked.

#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

mod common;
mod groups_support;

use common::create_topic;
use groups_support::{RawClient, TestBroker};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiKey, DescribeClusterRequest, DescribeClusterResponse, DescribeGroupsRequest,
    DescribeGroupsResponse, GroupId, MetadataRequest, MetadataResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

const NOT_ASKED: i32 = i32::MIN;

/// The bitfield of `AclOperation` codes (READ 3, WRITE 4, CREATE 5, DELETE 6,
/// ALTER 7, DESCRIBE 8, CLUSTER_ACTION 9, DESCRIBE_CONFIGS 10,
/// ALTER_CONFIGS 11, IDEMPOTENT_WRITE 12).
fn bits(codes: &[u32]) -> i32 {
    codes.iter().map(|code| 1i32 << code).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_cluster_answers_every_cluster_operation_when_asked() {
    let broker = TestBroker::start().await;
    let mut client = RawClient::connect(broker.addr).await;
    let cluster = bits(&[5, 7, 8, 9, 10, 11, 12]);
    for version in [0, 2] {
        for (asked, expected) in [(true, cluster), (false, NOT_ASKED)] {
            let response: DescribeClusterResponse = client
                .call(
                    ApiKey::DescribeCluster,
                    version,
                    &DescribeClusterRequest::default()
                        .with_include_cluster_authorized_operations(asked),
                )
                .await;
            assert_eq!(
                response.cluster_authorized_operations, expected,
                "v{version}, asked {asked}"
            );
        }
    }
}

/// Not an authorized-operations case, but DescribeCluster's other request
/// field: this node answers as a broker endpoint only, as a Kafka broker does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_cluster_answers_the_broker_endpoint_type_only() {
    let broker = TestBroker::start().await;
    let mut client = RawClient::connect(broker.addr).await;
    let mut answers = Vec::new();
    for (version, endpoint_type) in [(0, 1), (1, 1), (1, 2), (1, 7), (2, 2)] {
        let response: DescribeClusterResponse = client
            .call(
                ApiKey::DescribeCluster,
                version,
                &DescribeClusterRequest::default().with_endpoint_type(endpoint_type),
            )
            .await;
        answers.push((
            version,
            endpoint_type,
            response.error_code,
            response.brokers.len(),
            response.error_message.map(|m| m.to_string()),
        ));
    }
    let wrong = "The request was sent to an endpoint of type BROKER, but we wanted an endpoint of type CONTROLLER";
    assert_eq!(
        answers,
        vec![
            (0, 1, 0, 1, None),
            (1, 1, 0, 1, None),
            (1, 2, 114, 0, Some(wrong.to_owned())),
            (1, 7, 115, 0, Some("Unsupported endpoint type 7".to_owned())),
            (2, 2, 114, 0, Some(wrong.to_owned())),
        ],
        "(version, endpoint type, error code, brokers, message)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_answers_every_topic_and_cluster_operation_when_asked() {
    let broker = TestBroker::start().await;
    create_topic(&broker, "ops", 1, &[]).await;
    let mut client = RawClient::connect(broker.addr).await;
    let topic_ops = bits(&[3, 4, 5, 6, 7, 8, 10, 11]);
    let cluster_ops = bits(&[5, 7, 8, 9, 10, 11, 12]);
    let ask = |names: &[&str], cluster: bool, topics: bool| {
        let wanted = names
            .iter()
            .map(|n| {
                MetadataRequestTopic::default()
                    .with_name(Some(TopicName(StrBytes::from_string((*n).to_owned()))))
            })
            .collect();
        MetadataRequest::default()
            .with_topics(Some(wanted))
            .with_allow_auto_topic_creation(false)
            .with_include_cluster_authorized_operations(cluster)
            .with_include_topic_authorized_operations(topics)
    };

    let response: MetadataResponse = client
        .call(ApiKey::Metadata, 8, &ask(&["ops", "absent"], true, true))
        .await;
    assert_eq!(response.cluster_authorized_operations, cluster_ops);
    let topics: Vec<(String, i16, i32)> = response
        .topics
        .iter()
        .map(|t| {
            (
                t.name.as_ref().unwrap().to_string(),
                t.error_code,
                t.topic_authorized_operations,
            )
        })
        .collect();
    // Kafka fills in the operations of a topic it does not know too.
    assert_eq!(
        topics,
        vec![
            ("ops".to_owned(), 0, topic_ops),
            ("absent".to_owned(), 3, topic_ops)
        ]
    );

    let response: MetadataResponse = client
        .call(ApiKey::Metadata, 10, &ask(&["ops"], false, false))
        .await;
    assert_eq!(response.cluster_authorized_operations, NOT_ASKED);
    assert_eq!(response.topics[0].topic_authorized_operations, NOT_ASKED);

    // From v11 the cluster's operations are DescribeCluster's to answer.
    let response: MetadataResponse = client
        .call(ApiKey::Metadata, 12, &ask(&["ops"], false, true))
        .await;
    assert_eq!(response.cluster_authorized_operations, NOT_ASKED);
    assert_eq!(response.topics[0].topic_authorized_operations, topic_ops);

    // Every topic, as a null list asks.
    let response: MetadataResponse = client
        .call(
            ApiKey::Metadata,
            12,
            &MetadataRequest::default()
                .with_topics(None)
                .with_include_topic_authorized_operations(true),
        )
        .await;
    assert_eq!(response.topics.len(), 1);
    assert_eq!(response.topics[0].topic_authorized_operations, topic_ops);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_groups_answers_every_group_operation_when_asked() {
    let broker = TestBroker::start().await;
    let mut client = RawClient::connect(broker.addr).await;
    // READ, DELETE, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS (Kafka 4.0 has group configs).
    let group_ops = bits(&[3, 6, 8, 10, 11]);
    let ask = |asked: bool| {
        DescribeGroupsRequest::default()
            .with_groups(vec![GroupId(StrBytes::from_static_str("nobody"))])
            .with_include_authorized_operations(asked)
    };
    for version in [3, 5] {
        let response: DescribeGroupsResponse = client
            .call(ApiKey::DescribeGroups, version, &ask(true))
            .await;
        let group = &response.groups[0];
        // Before v6 Kafka describes an unknown group as Dead, without an error.
        assert_eq!((group.error_code, group.group_state.as_str()), (0, "Dead"));
        assert_eq!(group.authorized_operations, group_ops, "v{version}");
        let response: DescribeGroupsResponse = client
            .call(ApiKey::DescribeGroups, version, &ask(false))
            .await;
        assert_eq!(
            response.groups[0].authorized_operations, NOT_ASKED,
            "v{version}"
        );
    }
}
