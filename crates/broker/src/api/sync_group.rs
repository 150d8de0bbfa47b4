//! SyncGroup (v0–5): the leader's assignments settle the generation; every member gets its own
//! bytes back. A consumer-protocol member the leader gave nothing gets a valid, empty
//! `ConsumerProtocolAssignment` rather than zero bytes, which not every client can parse.

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ConsumerProtocolAssignment, SyncGroupRequest, SyncGroupResponse};
use kafka_protocol::protocol::Encodable;

use super::Outcome;
use crate::broker::Broker;
use crate::group::wire::{check_group_id, code, owned, owned_opt, str_bytes};
use crate::group::{SyncRequest, SyncResult};

pub fn handle(
    broker: &Arc<Broker>,
    request: SyncGroupRequest,
    version: i16,
) -> Outcome<SyncGroupResponse> {
    let group_id = owned(&request.group_id);
    if let Err(error) = check_group_id(&group_id) {
        return Outcome::Now(encode(SyncResult::error(error), version));
    }
    let sync = SyncRequest {
        member_id: owned(&request.member_id),
        group_instance_id: owned_opt(request.group_instance_id.as_ref()).filter(|_| version >= 3),
        generation_id: request.generation_id,
        protocol_type: owned_opt(request.protocol_type.as_ref()).filter(|_| version >= 5),
        protocol_name: owned_opt(request.protocol_name.as_ref()).filter(|_| version >= 5),
        assignments: request
            .assignments
            .iter()
            .map(|a| (owned(&a.member_id), a.assignment.clone()))
            .collect(),
    };
    let broker = broker.clone();
    Outcome::Later(Box::pin(async move {
        let result = broker.groups.sync(&group_id, sync).await;
        encode(result, version)
    }))
}

fn encode(result: SyncResult, version: i16) -> SyncGroupResponse {
    let mut response = SyncGroupResponse::default();
    response.error_code = code(result.error);
    if version >= 5 {
        response.protocol_type = result.protocol_type.as_deref().map(str_bytes);
        response.protocol_name = result.protocol_name.as_deref().map(str_bytes);
    }
    let consumer = result.protocol_type.as_deref() == Some(CONSUMER_PROTOCOL_TYPE);
    response.assignment = if result.error.is_none() && consumer && result.assignment.is_empty() {
        empty_consumer_assignment()
    } else {
        result.assignment
    };
    response
}

const CONSUMER_PROTOCOL_TYPE: &str = "consumer";

/// `{ version i16 = 0 | assigned_partitions [] | user_data null }`.
fn empty_consumer_assignment() -> Bytes {
    let mut out = BytesMut::new();
    out.put_i16(0);
    match ConsumerProtocolAssignment::default().encode(&mut out, 0) {
        Ok(()) => out.freeze(),
        // Encoding an empty v0 struct cannot fail; fall back to what Kafka itself sends.
        Err(_) => Bytes::new(),
    }
}

#[cfg(test)]
mod tests {
    use bytes::Buf;
    use kafka_protocol::protocol::Decodable;

    use super::*;

    #[test]
    fn the_empty_consumer_assignment_decodes_as_no_partitions() {
        let mut bytes = empty_consumer_assignment();
        assert_eq!(bytes.len(), 2 + 4 + 4);
        let version = bytes.get_i16();
        assert_eq!(version, 0);
        let decoded = ConsumerProtocolAssignment::decode(&mut bytes, version).expect("decodes");
        assert!(decoded.assigned_partitions.is_empty());
    }
}
