//! Consumer-group membership on the classic protocol (FindCoordinator,
//! JoinGroup, SyncGroup, Heartbeat, LeaveGroup) and committed offsets
//! (OffsetCommit, OffsetFetch). The leader member computes a range assignment.

use std::collections::BTreeMap;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    ApiKey, FindCoordinatorRequest, GroupId, HeartbeatRequest, JoinGroupRequest, JoinGroupResponse,
    LeaveGroupRequest, OffsetCommitRequest, OffsetFetchRequest, SyncGroupRequest,
    SyncGroupResponse,
};
use kafka_protocol::protocol::StrBytes;

use crate::assignment::{self, Assignment};
use crate::client::{Client, SharedConnection, topic_name};
use crate::error::{ClientError, GroupProtocol, KafkaCode};

const PROTOCOL_TYPE: &str = "consumer";
const ASSIGNOR: &str = "range";

/// Timeouts of a member, as a consumer configures them.
#[derive(Debug, Clone, Copy)]
pub struct MemberTimeouts {
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
}

impl Default for MemberTimeouts {
    fn default() -> Self {
        Self {
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 30_000,
        }
    }
}

/// A joined member of a group with its current assignment.
#[derive(Debug)]
pub struct GroupMember {
    pub group: String,
    pub member_id: String,
    pub generation_id: i32,
    pub is_leader: bool,
    pub assignment: Assignment,
    topics: Vec<String>,
    timeouts: MemberTimeouts,
    /// A connection of its own to the coordinator, so heartbeats never queue behind a long-polling fetch.
    coordinator: SharedConnection,
}

/// What a heartbeat says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeartbeatOutcome {
    Stable,
    /// The group is rebalancing or forgot us: call [`GroupMember::rejoin`].
    Rejoin,
}

fn group_id(group: &str) -> GroupId {
    GroupId(StrBytes::from_string(group.to_owned()))
}

fn s(value: &str) -> StrBytes {
    StrBytes::from_string(value.to_owned())
}

impl Client {
    /// A new connection to the coordinator of `group`.
    pub async fn coordinator_connection(
        &self,
        group: &str,
    ) -> Result<SharedConnection, ClientError> {
        let request = FindCoordinatorRequest::default()
            .with_key(s(group))
            .with_key_type(0);
        let response = self.send_any(&request).await?;
        let message = response.error_message.as_ref().map(|m| m.as_str());
        ClientError::check_msg(
            ApiKey::FindCoordinator,
            response.error_code,
            message,
            || format!(" for group {group:?}"),
        )?;
        self.open(&format!("{}:{}", response.host.as_str(), response.port))
            .await
    }

    /// Committed offsets of `group` (`topic: None` = every topic the group has offsets for).
    /// Partitions without a committed offset are left out.
    pub async fn committed_offsets(
        &self,
        coordinator: &SharedConnection,
        group: &str,
        topic: Option<(&str, &[i32])>,
    ) -> Result<BTreeMap<(String, i32), i64>, ClientError> {
        let topics = topic.map(|(t, ps)| {
            vec![
                OffsetFetchRequestTopic::default()
                    .with_name(topic_name(t))
                    .with_partition_indexes(ps.to_vec()),
            ]
        });
        let request = OffsetFetchRequest::default()
            .with_group_id(group_id(group))
            .with_topics(topics);
        let response = coordinator.lock().await.send(&request).await?;
        ClientError::check(ApiKey::OffsetFetch, response.error_code, || {
            format!(" for group {group:?}")
        })?;
        let mut out = BTreeMap::new();
        for t in &response.topics {
            for p in &t.partitions {
                ClientError::check(ApiKey::OffsetFetch, p.error_code, || {
                    format!(
                        " for group {group:?} on {}-{}",
                        t.name.0.as_str(),
                        p.partition_index
                    )
                })?;
                if p.committed_offset >= 0 {
                    out.insert(
                        (t.name.0.as_str().to_owned(), p.partition_index),
                        p.committed_offset,
                    );
                }
            }
        }
        Ok(out)
    }

    /// Commits `offsets` (the next offset to read, per partition) of `topic`.
    /// Outside a generation (admin resets) pass `generation_id = -1`, `member_id = ""`.
    pub async fn commit_offsets(
        &self,
        coordinator: &SharedConnection,
        group: &str,
        generation_id: i32,
        member_id: &str,
        topic: &str,
        offsets: &[(i32, i64)],
    ) -> Result<(), ClientError> {
        let partitions = offsets
            .iter()
            .map(|&(p, o)| {
                OffsetCommitRequestPartition::default()
                    .with_partition_index(p)
                    .with_committed_offset(o)
            })
            .collect();
        let request = OffsetCommitRequest::default()
            .with_group_id(group_id(group))
            .with_generation_id_or_member_epoch(generation_id)
            .with_member_id(s(member_id))
            .with_retention_time_ms(-1)
            .with_topics(vec![
                OffsetCommitRequestTopic::default()
                    .with_name(topic_name(topic))
                    .with_partitions(partitions),
            ]);
        let response = coordinator.lock().await.send(&request).await?;
        for t in &response.topics {
            for p in &t.partitions {
                ClientError::check(ApiKey::OffsetCommit, p.error_code, || {
                    format!(" for group {group:?} on {topic}-{}", p.partition_index)
                })?;
            }
        }
        Ok(())
    }
}

impl GroupMember {
    /// Joins `group` subscribed to `topics` and waits for an assignment.
    pub async fn join(
        client: &Client,
        group: &str,
        topics: Vec<String>,
        timeouts: MemberTimeouts,
    ) -> Result<Self, ClientError> {
        let coordinator = client.coordinator_connection(group).await?;
        let mut member = Self {
            group: group.to_owned(),
            member_id: String::new(),
            generation_id: -1,
            is_leader: false,
            assignment: Assignment::new(),
            topics,
            timeouts,
            coordinator,
        };
        member.rejoin(client).await?;
        Ok(member)
    }

    /// The coordinator connection (for committed-offset calls).
    pub fn coordinator(&self) -> &SharedConnection {
        &self.coordinator
    }

    /// Join + Sync until the group is stable; updates the assignment.
    pub async fn rejoin(&mut self, client: &Client) -> Result<(), ClientError> {
        // Bounded: a group that keeps rebalancing is reported, not looped on forever.
        for _ in 0..20 {
            let join = self.send_join().await?;
            match KafkaCode::from_code(join.error_code).map(|c| c.0) {
                None => {}
                Some(ResponseError::MemberIdRequired) => {
                    self.member_id = join.member_id.as_str().to_owned();
                    continue;
                }
                Some(ResponseError::UnknownMemberId) => {
                    self.member_id.clear();
                    continue;
                }
                Some(ResponseError::RebalanceInProgress) => continue,
                Some(ResponseError::InconsistentGroupProtocol) => {
                    return Err(self.protocol_mismatch(client).await);
                }
                Some(_) => ClientError::check(ApiKey::JoinGroup, join.error_code, || {
                    format!(" for group {:?}", self.group)
                })?,
            }
            self.member_id = join.member_id.as_str().to_owned();
            self.generation_id = join.generation_id;
            self.is_leader = join.leader == join.member_id;
            let plan = if self.is_leader {
                self.plan(client, &join).await?
            } else {
                Vec::new()
            };
            let sync = self.send_sync(plan).await?;
            match KafkaCode::from_code(sync.error_code).map(|c| c.0) {
                None => {
                    self.assignment = assignment::decode_assignment(sync.assignment)?;
                    return Ok(());
                }
                Some(ResponseError::RebalanceInProgress | ResponseError::IllegalGeneration) => {
                    continue;
                }
                Some(ResponseError::UnknownMemberId) => {
                    self.member_id.clear();
                    continue;
                }
                Some(_) => ClientError::check(ApiKey::SyncGroup, sync.error_code, || {
                    format!(" for group {:?}", self.group)
                })?,
            }
        }
        Err(ClientError::Protocol(format!(
            "group {:?} did not settle after 20 rebalances",
            self.group
        )))
    }

    /// Why the group refused this member's protocol, in the group's own
    /// terms: what DescribeGroups says its members chose.
    async fn protocol_mismatch(&self, client: &Client) -> ClientError {
        let theirs = client
            .describe_group(&self.coordinator, &self.group)
            .await
            .map(|g| GroupProtocol {
                protocol_type: g.protocol_type,
                protocol: g.protocol,
            })
            .unwrap_or_default();
        ClientError::GroupProtocolMismatch {
            group: self.group.clone(),
            theirs,
            ours: ASSIGNOR,
        }
    }

    async fn send_sync(
        &self,
        plan: Vec<SyncGroupRequestAssignment>,
    ) -> Result<SyncGroupResponse, ClientError> {
        let mut conn = self.coordinator.lock().await;
        let mut request = SyncGroupRequest::default()
            .with_group_id(group_id(&self.group))
            .with_generation_id(self.generation_id)
            .with_member_id(s(&self.member_id))
            .with_assignments(plan);
        // The protocol type and name are checked by the coordinator from v5 on; older versions lack the fields.
        if conn.version_for(ApiKey::SyncGroup)? >= 5 {
            request = request
                .with_protocol_type(Some(s(PROTOCOL_TYPE)))
                .with_protocol_name(Some(s(ASSIGNOR)));
        }
        conn.send(&request).await
    }

    async fn send_join(&self) -> Result<JoinGroupResponse, ClientError> {
        let metadata = assignment::encode_subscription(&self.topics)?;
        let request = JoinGroupRequest::default()
            .with_group_id(group_id(&self.group))
            .with_session_timeout_ms(self.timeouts.session_timeout_ms)
            .with_rebalance_timeout_ms(self.timeouts.rebalance_timeout_ms)
            .with_member_id(s(&self.member_id))
            .with_protocol_type(s(PROTOCOL_TYPE))
            .with_protocols(vec![
                JoinGroupRequestProtocol::default()
                    .with_name(s(ASSIGNOR))
                    .with_metadata(metadata),
            ]);
        // JoinGroup blocks up to the rebalance timeout while the group gathers.
        self.coordinator.lock().await.send(&request).await
    }

    /// The leader's range plan for every member of the join response.
    async fn plan(
        &self,
        client: &Client,
        join: &JoinGroupResponse,
    ) -> Result<Vec<SyncGroupRequestAssignment>, ClientError> {
        let mut members = Vec::with_capacity(join.members.len());
        let mut counts = BTreeMap::new();
        for m in &join.members {
            let topics = assignment::decode_subscription(m.metadata.clone())?;
            for t in &topics {
                if !counts.contains_key(t) {
                    // A topic that does not exist (yet) simply gets no partitions.
                    let n = client
                        .refresh_topic(t)
                        .await
                        .map_or(0, |meta| meta.partitions.len() as i32);
                    counts.insert(t.clone(), n);
                }
            }
            members.push((m.member_id.as_str().to_owned(), topics));
        }
        let plan = assignment::range_assign(&members, &counts);
        plan.iter()
            .map(|(member, a)| {
                Ok(SyncGroupRequestAssignment::default()
                    .with_member_id(s(member))
                    .with_assignment(assignment::encode_assignment(a)?))
            })
            .collect()
    }

    /// One heartbeat.
    pub async fn heartbeat(&self) -> Result<HeartbeatOutcome, ClientError> {
        let request = HeartbeatRequest::default()
            .with_group_id(group_id(&self.group))
            .with_generation_id(self.generation_id)
            .with_member_id(s(&self.member_id));
        let response = self.coordinator.lock().await.send(&request).await?;
        match KafkaCode::from_code(response.error_code).map(|c| c.0) {
            None => Ok(HeartbeatOutcome::Stable),
            Some(
                ResponseError::RebalanceInProgress
                | ResponseError::IllegalGeneration
                | ResponseError::UnknownMemberId,
            ) => Ok(HeartbeatOutcome::Rejoin),
            Some(_) => {
                ClientError::check(ApiKey::Heartbeat, response.error_code, || {
                    format!(" for group {:?}", self.group)
                })?;
                Ok(HeartbeatOutcome::Stable)
            }
        }
    }

    /// Commits offsets within this member's generation.
    pub async fn commit(
        &self,
        client: &Client,
        topic: &str,
        offsets: &[(i32, i64)],
    ) -> Result<(), ClientError> {
        client
            .commit_offsets(
                &self.coordinator,
                &self.group,
                self.generation_id,
                &self.member_id,
                topic,
                offsets,
            )
            .await
    }

    /// Leaves the group so the others rebalance now rather than after the session timeout.
    pub async fn leave(self) -> Result<(), ClientError> {
        let mut conn = self.coordinator.lock().await;
        // v0-2 name the member at the top level; v3+ only in `members` (batch leave).
        let request = if conn.version_for(ApiKey::LeaveGroup)? < 3 {
            LeaveGroupRequest::default()
                .with_group_id(group_id(&self.group))
                .with_member_id(s(&self.member_id))
        } else {
            LeaveGroupRequest::default()
                .with_group_id(group_id(&self.group))
                .with_members(vec![
                    MemberIdentity::default().with_member_id(s(&self.member_id)),
                ])
        };
        let response = conn.send(&request).await?;
        drop(conn);
        if let Some(m) = response
            .members
            .iter()
            .find(|m| KafkaCode::from_code(m.error_code).is_some())
        {
            ClientError::check(ApiKey::LeaveGroup, m.error_code, || {
                format!(" for member {}", m.member_id.as_str())
            })?;
        }
        ClientError::check(ApiKey::LeaveGroup, response.error_code, || {
            format!(" for group {:?}", self.group)
        })
    }
}
