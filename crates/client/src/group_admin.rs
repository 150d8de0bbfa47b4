//! Group administration: ListGroups, DescribeGroups, DeleteGroups.

use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::{
    ApiKey, DeleteGroupsRequest, DescribeGroupsRequest, GroupId, ListGroupsRequest,
};
use kafka_protocol::protocol::StrBytes;

use crate::assignment::{self, Assignment};
use crate::client::{Client, SharedConnection};
use crate::error::ClientError;

/// A group as ListGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedGroup {
    pub group: String,
    pub protocol_type: String,
    pub state: String,
}

/// A member as DescribeGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedMember {
    pub member_id: String,
    pub client_id: String,
    pub client_host: String,
    /// Decoded when the group speaks the "consumer" protocol; empty otherwise.
    pub assignment: Assignment,
}

/// A group as DescribeGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedGroup {
    pub group: String,
    pub state: String,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<DescribedMember>,
}

fn gid(group: &str) -> GroupId {
    GroupId(StrBytes::from_string(group.to_owned()))
}

impl Client {
    /// Every group the broker coordinates (one broker's view; a cluster asks each broker).
    pub async fn list_groups(&self) -> Result<Vec<ListedGroup>, ClientError> {
        let response = self.send_any(&ListGroupsRequest::default()).await?;
        ClientError::check(ApiKey::ListGroups, response.error_code, String::new)?;
        let mut out: Vec<ListedGroup> = response
            .groups
            .iter()
            .map(|g| ListedGroup {
                group: g.group_id.0.as_str().to_owned(),
                protocol_type: g.protocol_type.as_str().to_owned(),
                state: g.group_state.as_str().to_owned(),
            })
            .collect();
        out.sort_by(|a, b| a.group.cmp(&b.group));
        Ok(out)
    }

    /// Describes `group` through its coordinator.
    pub async fn describe_group(
        &self,
        coordinator: &SharedConnection,
        group: &str,
    ) -> Result<DescribedGroup, ClientError> {
        let request = DescribeGroupsRequest::default().with_groups(vec![gid(group)]);
        let response = coordinator.lock().await.send(&request).await?;
        let g = response.groups.into_iter().next().ok_or_else(|| {
            ClientError::Protocol(format!("DescribeGroups returned nothing for {group:?}"))
        })?;
        if g.error_code == ResponseError::GroupIdNotFound.code() {
            return Err(ClientError::UnknownGroup {
                group: group.to_owned(),
            });
        }
        let message = g.error_message.as_ref().map(|m| m.as_str());
        ClientError::check_msg(ApiKey::DescribeGroups, g.error_code, message, || {
            format!(" for group {group:?}")
        })?;
        let consumer = g.protocol_type.as_str() == "consumer";
        let members = g
            .members
            .iter()
            .map(|m| DescribedMember {
                member_id: m.member_id.as_str().to_owned(),
                client_id: m.client_id.as_str().to_owned(),
                client_host: m.client_host.as_str().to_owned(),
                assignment: decode_if(consumer, &m.member_assignment),
            })
            .collect();
        Ok(DescribedGroup {
            group: g.group_id.0.as_str().to_owned(),
            state: g.group_state.as_str().to_owned(),
            protocol_type: g.protocol_type.as_str().to_owned(),
            protocol: g.protocol_data.as_str().to_owned(),
            members,
        })
    }

    /// Deletes `group` (the broker refuses while it has members).
    pub async fn delete_group(
        &self,
        coordinator: &SharedConnection,
        group: &str,
    ) -> Result<(), ClientError> {
        let request = DeleteGroupsRequest::default().with_groups_names(vec![gid(group)]);
        let response = coordinator.lock().await.send(&request).await?;
        for r in &response.results {
            match ResponseError::try_from_code(r.error_code) {
                Some(ResponseError::GroupIdNotFound) => {
                    return Err(ClientError::UnknownGroup {
                        group: group.to_owned(),
                    });
                }
                Some(ResponseError::NonEmptyGroup) => {
                    // The refusal does not say how many: ask, so the error can.
                    let described = self.describe_group(coordinator, group).await;
                    return Err(ClientError::GroupNotEmpty {
                        group: group.to_owned(),
                        members: described.ok().map(|g| g.members.len()),
                    });
                }
                _ => ClientError::check(ApiKey::DeleteGroups, r.error_code, || {
                    format!(" for group {group:?}")
                })?,
            }
        }
        Ok(())
    }
}

/// A member's assignment shown best-effort: undecodable bytes show as none.
fn decode_if(consumer: bool, bytes: &Bytes) -> Assignment {
    if consumer {
        assignment::decode_assignment(bytes.clone()).unwrap_or_default()
    } else {
        Assignment::new()
    }
}
