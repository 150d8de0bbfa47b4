//! Metadata: the one broker, and the topics asked for (auto-created when the
//! client and the broker both allow it).

use std::collections::HashSet;
use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use crate::authorized_operations::Resource;
use crate::broker::Broker;
use crate::errors;
use crate::topics::{Topic, validate_topic_name};

pub fn handle(broker: &Arc<Broker>, request: MetadataRequest, version: i16) -> MetadataResponse {
    // Before v4 there is no flag and Kafka always auto-creates.
    let allow_auto_create = version < 4 || request.allow_auto_topic_creation;
    // Only v8+ carries the flags (v8–10 for the cluster's): the decoder reads false before.
    let topic_ops = Resource::Topic.answer(request.include_topic_authorized_operations);
    let cluster_ops = Resource::Cluster.answer(request.include_cluster_authorized_operations);
    // Each topic asked for is answered once, as Kafka does: a small request naming one large
    // topic thousands of times must not build a response thousands of times its size.
    let mut asked = HashSet::new();
    let topics = match request.topics {
        // v0 has no null: an empty list means every topic.
        Some(list) if !(version == 0 && list.is_empty()) => list
            .into_iter()
            .filter(|t| asked.insert((t.name.clone(), t.topic_id)))
            .map(|t| {
                let has_id = !t.topic_id.is_nil();
                match t.name {
                    // Ids are asked for from v12 on: before that Kafka refuses
                    // an id or a null name, and so does this broker, per topic.
                    name if version < 12 && (has_id || name.is_none()) => invalid(name, t.topic_id),
                    // An id wins over a name: the Java client sends its id with
                    // the name "" (the field's default), not null, and Kafka
                    // ignores the name.
                    _ if has_id => by_id(broker, t.topic_id, topic_ops),
                    Some(name) => by_name(broker, name, allow_auto_create, topic_ops),
                    None => by_id(broker, t.topic_id, topic_ops),
                }
            })
            .collect(),
        _ => broker
            .topics
            .all()
            .iter()
            .map(|t| describe(broker, t, topic_ops))
            .collect(),
    };
    let node = MetadataResponseBroker::default()
        .with_node_id(BrokerId(broker.node_id()))
        .with_host(StrBytes::from_string(broker.advertised_host.clone()))
        .with_port(broker.advertised_port);
    MetadataResponse::default()
        .with_brokers(vec![node])
        .with_cluster_id(Some(StrBytes::from_string(
            broker.topics.cluster_id().to_string(),
        )))
        .with_controller_id(BrokerId(broker.node_id()))
        .with_topics(topics)
        .with_cluster_authorized_operations(cluster_ops)
}

/// A topic asked for by name. Kafka answers its operations even when it is
/// unknown (the name is the resource, whether or not a topic holds it).
fn by_name(
    broker: &Broker,
    name: TopicName,
    allow_auto_create: bool,
    operations: i32,
) -> MetadataResponseTopic {
    let error = |code: ResponseError| {
        MetadataResponseTopic::default()
            .with_name(Some(name.clone()))
            .with_error_code(code.code())
            .with_topic_authorized_operations(operations)
    };
    if validate_topic_name(&name).is_err() {
        return error(ResponseError::InvalidTopicException);
    }
    match broker.topics.get_or_auto_create(&name, allow_auto_create) {
        Ok(Some(topic)) => describe(broker, &topic, operations),
        Ok(None) => error(ResponseError::UnknownTopicOrPartition),
        Err(e) => {
            tracing::warn!(topic = %name.as_str(), error = %errors::message(&e), "auto-create failed");
            error(errors::topic_error(&e))
        }
    }
}

fn invalid(name: Option<TopicName>, id: Uuid) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_name(name)
        .with_topic_id(id)
        .with_error_code(ResponseError::InvalidRequest.code())
}

/// A topic asked for by id: an unknown id names no resource, and Kafka
/// answers it without operations.
fn by_id(broker: &Broker, id: Uuid, operations: i32) -> MetadataResponseTopic {
    match broker.topics.get_by_id(id) {
        Some(topic) => describe(broker, &topic, operations),
        None => MetadataResponseTopic::default()
            .with_topic_id(id)
            .with_error_code(ResponseError::UnknownTopicId.code()),
    }
}

/// The metadata of one topic: every partition led by this node, and the
/// operations a client may perform on it (`NOT_REQUESTED` if not asked).
pub fn describe(broker: &Broker, topic: &Topic, operations: i32) -> MetadataResponseTopic {
    let node = BrokerId(broker.node_id());
    let partitions = topic
        .partitions
        .iter()
        .map(|handle| {
            let error_code = match &handle.state {
                Ok(_) => 0,
                Err(_) => ResponseError::KafkaStorageError.code(),
            };
            MetadataResponsePartition::default()
                .with_error_code(error_code)
                .with_partition_index(handle.id.partition)
                .with_leader_id(node)
                .with_leader_epoch(0)
                .with_replica_nodes(vec![node])
                .with_isr_nodes(vec![node])
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_string(topic.name.clone()))))
        .with_topic_id(topic.id)
        .with_partitions(partitions)
        .with_topic_authorized_operations(operations)
}
