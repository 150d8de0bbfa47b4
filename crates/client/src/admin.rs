//! Topic administration: CreateTopics, CreatePartitions, DeleteTopics,
//! DescribeConfigs, IncrementalAlterConfigs. A topic name is checked
//! against Kafka's rule before it is sent, since most of these responses
//! give a bare error code; CreateTopics is the exception, as the broker's
//! answer says why it refused the name.

use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::{
    ApiKey, CreatePartitionsRequest, CreateTopicsRequest, DeleteTopicsRequest,
    DescribeConfigsRequest, IncrementalAlterConfigsRequest,
};
use kafka_protocol::protocol::StrBytes;

use crate::client::{Client, topic_name};
use crate::error::ClientError;

/// ConfigResource type for topics.
const RESOURCE_TOPIC: i8 = 2;

/// One config entry of a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    pub name: String,
    pub value: Option<String>,
    pub read_only: bool,
    /// True when set on the topic rather than inherited from the broker default.
    pub is_default: bool,
}

/// One change of `alter-config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigChange {
    Set { name: String, value: String },
    Delete { name: String },
}

impl Client {
    /// Creates `topic` with `partitions` partitions and `configs`.
    pub async fn create_topic(
        &self,
        topic: &str,
        partitions: i32,
        replication_factor: i16,
        configs: &[(String, String)],
    ) -> Result<(), ClientError> {
        let configs = configs
            .iter()
            .map(|(k, v)| {
                CreatableTopicConfig::default()
                    .with_name(StrBytes::from_string(k.clone()))
                    .with_value(Some(StrBytes::from_string(v.clone())))
            })
            .collect();
        let request = CreateTopicsRequest::default()
            .with_timeout_ms(30_000)
            .with_topics(vec![
                CreatableTopic::default()
                    .with_name(topic_name(topic))
                    .with_num_partitions(partitions)
                    .with_replication_factor(replication_factor)
                    .with_configs(configs),
            ]);
        let response = self.send_any(&request).await?;
        for t in &response.topics {
            let message = t.error_message.as_ref().map(|m| m.as_str());
            ClientError::check_msg(ApiKey::CreateTopics, t.error_code, message, || {
                format!(" for {topic:?}")
            })?;
        }
        self.invalidate(topic);
        Ok(())
    }

    /// Grows `topic` to `count` partitions (a topic never shrinks).
    pub async fn create_partitions(&self, topic: &str, count: i32) -> Result<(), ClientError> {
        ferrolog_wire::topic_name::check(topic)?;
        let request = CreatePartitionsRequest::default()
            .with_timeout_ms(30_000)
            .with_topics(vec![
                CreatePartitionsTopic::default()
                    .with_name(topic_name(topic))
                    .with_count(count),
            ]);
        let response = self.send_any(&request).await?;
        for t in &response.results {
            let message = t.error_message.as_ref().map(|m| m.as_str());
            ClientError::check_msg(ApiKey::CreatePartitions, t.error_code, message, || {
                format!(" for {topic:?}")
            })?;
        }
        self.invalidate(topic);
        Ok(())
    }

    /// Deletes `topic`.
    pub async fn delete_topic(&self, topic: &str) -> Result<(), ClientError> {
        ferrolog_wire::topic_name::check(topic)?;
        let request = DeleteTopicsRequest::default()
            .with_timeout_ms(30_000)
            .with_topic_names(vec![topic_name(topic)]);
        let response = self.send_any(&request).await?;
        for t in &response.responses {
            let message = t.error_message.as_ref().map(|m| m.as_str());
            ClientError::check_msg(ApiKey::DeleteTopics, t.error_code, message, || {
                format!(" for {topic:?}")
            })?;
        }
        self.invalidate(topic);
        Ok(())
    }

    /// Every config of `topic`, sorted by name.
    pub async fn describe_topic_configs(
        &self,
        topic: &str,
    ) -> Result<Vec<ConfigEntry>, ClientError> {
        ferrolog_wire::topic_name::check(topic)?;
        let request = DescribeConfigsRequest::default().with_resources(vec![
            DescribeConfigsResource::default()
                .with_resource_type(RESOURCE_TOPIC)
                .with_resource_name(StrBytes::from_string(topic.to_owned()))
                .with_configuration_keys(None),
        ]);
        let response = self.send_any(&request).await?;
        let mut out = Vec::new();
        for r in &response.results {
            let message = r.error_message.as_ref().map(|m| m.as_str());
            ClientError::check_msg(ApiKey::DescribeConfigs, r.error_code, message, || {
                format!(" for {topic:?}")
            })?;
            for c in &r.configs {
                out.push(ConfigEntry {
                    name: c.name.as_str().to_owned(),
                    value: c.value.as_ref().map(|v| v.as_str().to_owned()),
                    read_only: c.read_only,
                    // ConfigSource 1 = DYNAMIC_TOPIC_CONFIG; anything else is inherited.
                    is_default: c.config_source != 1,
                });
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Applies `changes` to `topic`'s configs.
    pub async fn alter_topic_configs(
        &self,
        topic: &str,
        changes: &[ConfigChange],
    ) -> Result<(), ClientError> {
        ferrolog_wire::topic_name::check(topic)?;
        let configs = changes
            .iter()
            .map(|c| match c {
                // Operation 0 = SET, 1 = DELETE.
                ConfigChange::Set { name, value } => AlterableConfig::default()
                    .with_name(StrBytes::from_string(name.clone()))
                    .with_config_operation(0)
                    .with_value(Some(StrBytes::from_string(value.clone()))),
                ConfigChange::Delete { name } => AlterableConfig::default()
                    .with_name(StrBytes::from_string(name.clone()))
                    .with_config_operation(1)
                    .with_value(None),
            })
            .collect();
        let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
            AlterConfigsResource::default()
                .with_resource_type(RESOURCE_TOPIC)
                .with_resource_name(StrBytes::from_string(topic.to_owned()))
                .with_configs(configs),
        ]);
        let response = self.send_any(&request).await?;
        for r in &response.responses {
            let message = r.error_message.as_ref().map(|m| m.as_str());
            ClientError::check_msg(
                ApiKey::IncrementalAlterConfigs,
                r.error_code,
                message,
                || format!(" for {topic:?}"),
            )?;
        }
        Ok(())
    }
}
