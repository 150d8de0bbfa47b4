//! InitProducerId (v0–4): a new producer id (epoch 0), or — when a producer presents its id and
//! epoch (v3+) — the same id with the next epoch, fencing the older one. Transactional ids are
//! refused with TRANSACTIONAL_ID_AUTHORIZATION_FAILED, as transactional produce is: transactions
//! are not served yet. librdkafka, kafkajs and aiokafka treat that code as fatal and the Java
//! client fails `initTransactions` with it, all at once; INVALID_REQUEST left librdkafka retrying
//! until its timeout.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use super::Outcome;
use crate::broker::Broker;

pub fn handle(
    broker: &Arc<Broker>,
    request: InitProducerIdRequest,
    version: i16,
) -> Outcome<InitProducerIdResponse> {
    if let Some(id) = request
        .transactional_id
        .as_ref()
        .filter(|id| !id.is_empty())
    {
        // The client reports only "authorization failed": say why here.
        tracing::info!(transactional_id = %id.as_str(), "transactional producer refused: transactions are not served");
        return Outcome::Now(error(ResponseError::TransactionalIdAuthorizationFailed));
    }
    let current = (version >= 3 && request.producer_id.0 >= 0)
        .then_some((request.producer_id.0, request.producer_epoch));
    let broker = broker.clone();
    Outcome::Later(Box::pin(async move {
        // A block boundary writes and fsyncs the id checkpoint: keep it off the async workers.
        let allocated =
            tokio::task::spawn_blocking(move || broker.producers.ids().init(current)).await;
        match allocated {
            Ok(Ok((id, epoch))) => InitProducerIdResponse::default()
                .with_producer_id(ProducerId(id))
                .with_producer_epoch(epoch),
            Ok(Err(e)) => {
                tracing::warn!(error = %crate::errors::message(&e), "producer id allocation failed");
                error(e.response_error())
            }
            Err(_) => error(ResponseError::CoordinatorNotAvailable),
        }
    }))
}

fn error(code: ResponseError) -> InitProducerIdResponse {
    InitProducerIdResponse::default()
        .with_error_code(code.code())
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1)
}
