//! Produce (one partition's batches per call) and InitProducerId (for the
//! idempotent producer).

use bytes::Bytes;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiKey, InitProducerIdRequest, ProduceRequest, ProducerId};

use crate::client::{Client, topic_name};
use crate::error::ClientError;

/// How many replicas must have a batch before the broker answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acks {
    /// Fire and forget: the broker sends no response.
    None,
    /// The leader has appended it.
    Leader,
    /// Every in-sync replica has it (on ferrologd: appended and fsynced).
    All,
}

impl Acks {
    pub fn wire(self) -> i16 {
        match self {
            Self::None => 0,
            Self::Leader => 1,
            Self::All => -1,
        }
    }
}

/// What the broker assigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProduceAck {
    /// The first offset of the batches; `-1` with `Acks::None`.
    pub base_offset: i64,
    pub log_start_offset: i64,
}

/// An idempotent producer's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerIdentity {
    pub producer_id: i64,
    pub producer_epoch: i16,
}

impl Client {
    /// Sends `batches` (one or more encoded v2 batches) to `topic`-`partition`.
    pub async fn produce(
        &self,
        topic: &str,
        partition: i32,
        batches: Bytes,
        acks: Acks,
        timeout_ms: i32,
    ) -> Result<ProduceAck, ClientError> {
        let request = ProduceRequest::default()
            .with_acks(acks.wire())
            .with_timeout_ms(timeout_ms)
            .with_topic_data(vec![
                TopicProduceData::default()
                    .with_name(topic_name(topic))
                    .with_partition_data(vec![
                        PartitionProduceData::default()
                            .with_index(partition)
                            .with_records(Some(batches)),
                    ]),
            ]);
        let conn = self.leader_connection(topic, partition).await?;
        let mut conn = conn.lock().await;
        if acks == Acks::None {
            conn.send_no_response(&request).await?;
            return Ok(ProduceAck {
                base_offset: -1,
                log_start_offset: -1,
            });
        }
        let response = conn.send(&request).await?;
        drop(conn);
        let p = response
            .responses
            .iter()
            .flat_map(|t| t.partition_responses.iter())
            .find(|p| p.index == partition)
            .ok_or_else(|| {
                ClientError::Protocol(format!(
                    "produce response has no entry for {topic}-{partition}"
                ))
            })?;
        let message = p.error_message.as_ref().map(|m| m.as_str());
        if let Err(e) = ClientError::check_msg(ApiKey::Produce, p.error_code, message, || {
            format!(" to {topic}-{partition}")
        }) {
            self.invalidate(topic);
            return Err(e);
        }
        Ok(ProduceAck {
            base_offset: p.base_offset,
            log_start_offset: p.log_start_offset,
        })
    }

    /// Asks for a producer id, or `None` when the broker does not serve
    /// InitProducerId (the caller then produces without idempotence).
    pub async fn init_producer_id(&self) -> Result<Option<ProducerIdentity>, ClientError> {
        let conn = self.any_connection().await?;
        let mut conn = conn.lock().await;
        if !conn.supports(ApiKey::InitProducerId) {
            return Ok(None);
        }
        let request = InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_transaction_timeout_ms(60_000)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
        let response = conn.send(&request).await?;
        ClientError::check(ApiKey::InitProducerId, response.error_code, String::new)?;
        Ok(Some(ProducerIdentity {
            producer_id: response.producer_id.0,
            producer_epoch: response.producer_epoch,
        }))
    }
}
