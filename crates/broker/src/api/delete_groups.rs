//! DeleteGroups (v0–2): delete empty groups and their committed offsets (tombstones, fsynced).
//!
//! A group named twice is answered twice, both times with the first entry's
//! result: Kafka's coordinator checks every entry against the groups as they
//! were before the request (its deletions apply once the request's records
//! are written), so the second entry finds the group the first deleted.

use std::collections::HashMap;
use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use super::Outcome;
use crate::broker::Broker;
use crate::group::wire::{check_stored_group_id, owned, result_code};

pub fn handle(broker: &Arc<Broker>, request: DeleteGroupsRequest) -> Outcome<DeleteGroupsResponse> {
    let names: Vec<_> = request.groups_names;
    let broker = broker.clone();
    Outcome::Later(Box::pin(async move {
        let groups = broker.groups.clone();
        let ids: Vec<String> = names.iter().map(|n| owned(n)).collect();
        let results = tokio::task::spawn_blocking(move || {
            let mut answered = HashMap::new();
            ids.iter()
                .map(|id| {
                    *answered.entry(id.as_str()).or_insert_with(|| {
                        check_stored_group_id(id).and_then(|()| groups.delete_group(id))
                    })
                })
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_else(|_| vec![Err(ResponseError::CoordinatorNotAvailable); names.len()]);
        let results = names
            .into_iter()
            .zip(results)
            .map(|(name, r)| {
                DeletableGroupResult::default()
                    .with_group_id(name)
                    .with_error_code(result_code(&r))
            })
            .collect();
        DeleteGroupsResponse::default().with_results(results)
    }))
}
