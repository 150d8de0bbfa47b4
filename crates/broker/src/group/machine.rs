//! The classic group protocol as a pure, synchronous state machine.
//!
//! Every method takes the current time (`now_ms`) instead of reading a clock, so tests drive
//! rebalances and session expiry without sleeping. A request is either answered at once
//! ([`Outcome::Now`]) or parked ([`Outcome::Wait`]); parked JoinGroup and SyncGroup requests are
//! answered later through the [`Reply`] outbox that the async layer drains after every call while
//! it still holds the group's lock.
//!
//! States: `Empty → PreparingRebalance → CompletingRebalance → Stable`, and back to
//! `PreparingRebalance` whenever membership or subscriptions change. `Dead` marks a deleted group.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use kafka_protocol::ResponseError;

use super::member::Member;
use super::protocol::select_protocol;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl GroupState {
    /// The name Kafka uses in DescribeGroups and ListGroups.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// Broker-wide limits for every group.
#[derive(Clone, Debug)]
pub struct GroupConfig {
    /// `group.initial.rebalance.delay.ms`: how long the first rebalance of an empty group waits
    /// for more members (each new member extends it, up to the rebalance timeout).
    pub initial_rebalance_delay_ms: i64,
    pub session_timeout_ms_min: i32,
    pub session_timeout_ms_max: i32,
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            initial_rebalance_delay_ms: 3000,
            session_timeout_ms_min: 6000,
            session_timeout_ms_max: 1_800_000,
        }
    }
}

/// A JoinGroup request, stripped of wire details.
#[derive(Clone, Debug)]
pub struct JoinRequest {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    /// JoinGroup v4+: a new dynamic member first gets MEMBER_ID_REQUIRED and a member id.
    pub require_known_member_id: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinedMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub metadata: Bytes,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinResult {
    pub error: Option<ResponseError>,
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub member_id: String,
    /// Filled for the leader only: every member with its metadata for the chosen protocol.
    pub members: Vec<JoinedMember>,
    /// The leader must not compute a new assignment (a static leader rejoined a stable group).
    pub skip_assignment: bool,
}

impl JoinResult {
    pub fn error(error: ResponseError, member_id: &str) -> JoinResult {
        JoinResult {
            error: Some(error),
            generation_id: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            member_id: member_id.to_owned(),
            members: Vec::new(),
            skip_assignment: false,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncRequest {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignments: Vec<(String, Bytes)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncResult {
    pub error: Option<ResponseError>,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

impl SyncResult {
    pub fn error(error: ResponseError) -> SyncResult {
        SyncResult {
            error: Some(error),
            protocol_type: None,
            protocol_name: None,
            assignment: Bytes::new(),
        }
    }
}

/// A late answer to a parked request, addressed by member id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    Join {
        member_id: String,
        result: JoinResult,
    },
    Sync {
        member_id: String,
        result: SyncResult,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome<T> {
    Now(T),
    /// Parked: the answer arrives later as a [`Reply`] for this member id.
    Wait {
        member_id: String,
    },
}

/// One member to remove in a LeaveGroup request (v3+ batch form; v0–2 is a batch of one).
#[derive(Clone, Debug)]
pub struct LeavingMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
}

#[derive(Debug)]
pub struct Group {
    id: String,
    config: GroupConfig,
    state: GroupState,
    generation_id: i32,
    protocol_type: Option<String>,
    protocol_name: Option<String>,
    leader: Option<String>,
    /// Keyed by member id; a BTreeMap so leader choice and member lists are deterministic.
    members: BTreeMap<String, Member>,
    /// `group.instance.id` → current member id of each static member.
    static_members: HashMap<String, String>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, not yet joined, with their expiry.
    pending_members: HashMap<String, i64>,
    /// When PreparingRebalance gives up on members that have not rejoined.
    rebalance_deadline_ms: i64,
    /// While the initial delay runs: the latest the delay may be extended to.
    initial_delay_limit_ms: Option<i64>,
    /// When the group last became empty (drives offset expiry); `None` if it is not empty or
    /// has not been seen non-empty since the broker started.
    empty_since_ms: Option<i64>,
    replies: Vec<Reply>,
    member_seq: u64,
}

mod rebalance;
mod requests;

impl Group {
    pub fn new(id: &str, config: GroupConfig) -> Group {
        Group {
            id: id.to_owned(),
            config,
            state: GroupState::Empty,
            generation_id: 0,
            protocol_type: None,
            protocol_name: None,
            leader: None,
            members: BTreeMap::new(),
            static_members: HashMap::new(),
            pending_members: HashMap::new(),
            rebalance_deadline_ms: 0,
            initial_delay_limit_ms: None,
            empty_since_ms: None,
            replies: Vec::new(),
            member_seq: 0,
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn state(&self) -> GroupState {
        self.state
    }

    pub fn generation_id(&self) -> i32 {
        self.generation_id
    }

    pub fn protocol_type(&self) -> Option<&str> {
        self.protocol_type.as_deref()
    }

    pub fn protocol_name(&self) -> Option<&str> {
        self.protocol_name.as_deref()
    }

    pub fn leader(&self) -> Option<&str> {
        self.leader.as_deref()
    }

    pub fn members(&self) -> impl Iterator<Item = &Member> {
        self.members.values()
    }

    pub fn member(&self, member_id: &str) -> Option<&Member> {
        self.members.get(member_id)
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.pending_members.is_empty()
    }

    pub fn empty_since_ms(&self) -> Option<i64> {
        self.empty_since_ms
    }

    /// Take the answers for parked requests produced by the last calls.
    pub fn take_replies(&mut self) -> Vec<Reply> {
        std::mem::take(&mut self.replies)
    }

    /// Mark the group deleted (DeleteGroups); only an empty group may be deleted.
    pub fn mark_dead(&mut self) -> Result<(), ResponseError> {
        match self.state {
            GroupState::Empty | GroupState::Dead => {
                self.state = GroupState::Dead;
                Ok(())
            }
            _ => Err(ResponseError::NonEmptyGroup),
        }
    }

    /// A deleted group's slot outlives the deletion only for requests that already held it.
    /// As in Kafka, they are told to find the coordinator again, and then meet a new group.
    pub(super) fn check_not_dead(&self) -> Result<(), ResponseError> {
        if self.state == GroupState::Dead {
            return Err(ResponseError::CoordinatorNotAvailable);
        }
        Ok(())
    }

    /// Check who sends a generation-scoped request (Heartbeat, OffsetCommit): known member,
    /// not fenced, right generation.
    pub fn validate_member(
        &self,
        member_id: &str,
        group_instance_id: Option<&str>,
        generation_id: i32,
    ) -> Result<(), ResponseError> {
        self.check_static_fence(member_id, group_instance_id)?;
        if !self.members.contains_key(member_id) {
            return Err(ResponseError::UnknownMemberId);
        }
        if generation_id != self.generation_id {
            return Err(ResponseError::IllegalGeneration);
        }
        Ok(())
    }

    /// OffsetCommit: who may commit now. A member of the current generation
    /// may, except while the leader assigns (REBALANCE_IN_PROGRESS), and its
    /// commit counts as a heartbeat, as in Kafka: a consumer that commits
    /// often but heartbeats late must not be expired. Generation -1 is a
    /// client that assigns partitions itself, allowed only without members.
    pub fn check_commit(
        &mut self,
        member_id: &str,
        group_instance_id: Option<&str>,
        generation_id: i32,
        now_ms: i64,
    ) -> Result<(), ResponseError> {
        match self.state {
            GroupState::Dead => self.check_not_dead(),
            GroupState::Empty if generation_id < 0 => Ok(()),
            GroupState::Empty => Err(ResponseError::UnknownMemberId),
            GroupState::CompletingRebalance => self
                .validate_member(member_id, group_instance_id, generation_id)
                .and(Err(ResponseError::RebalanceInProgress)),
            GroupState::PreparingRebalance | GroupState::Stable => {
                self.validate_member(member_id, group_instance_id, generation_id)?;
                if let Some(member) = self.members.get_mut(member_id) {
                    member.touch(now_ms);
                }
                Ok(())
            }
        }
    }

    /// A static member whose instance id now belongs to another member id has been replaced.
    fn check_static_fence(
        &self,
        member_id: &str,
        group_instance_id: Option<&str>,
    ) -> Result<(), ResponseError> {
        if let Some(instance) = group_instance_id
            && let Some(current) = self.static_members.get(instance)
            && current != member_id
        {
            return Err(ResponseError::FencedInstanceId);
        }
        Ok(())
    }

    fn new_member_id(&mut self, client_id: &str) -> String {
        self.member_seq += 1;
        format!("{client_id}-{}-{}", self.member_seq, uuid::Uuid::new_v4())
    }

    /// The JoinGroup answer for `member_id` in the current generation.
    fn join_result_for(&self, member_id: &str, skip_assignment: bool) -> JoinResult {
        let leader = self.leader.clone().unwrap_or_default();
        let members = if leader == member_id {
            self.member_list()
        } else {
            Vec::new()
        };
        JoinResult {
            error: None,
            generation_id: self.generation_id,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader,
            member_id: member_id.to_owned(),
            members,
            skip_assignment,
        }
    }

    fn member_list(&self) -> Vec<JoinedMember> {
        let protocol = self.protocol_name.as_deref().unwrap_or_default();
        self.members
            .values()
            .map(|m| JoinedMember {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                metadata: m.metadata_for(protocol).cloned().unwrap_or_default(),
            })
            .collect()
    }

    /// Protocols every current member (other than `except`) supports.
    fn supports_protocols(
        &self,
        protocol_type: &str,
        protocols: &[(String, Bytes)],
        except: &str,
    ) -> bool {
        if protocol_type.is_empty() || protocols.is_empty() {
            return false;
        }
        let others: Vec<&Member> = self
            .members
            .values()
            .filter(|m| m.member_id != except)
            .collect();
        if others.is_empty() {
            return true;
        }
        if self
            .protocol_type
            .as_deref()
            .is_some_and(|t| t != protocol_type)
        {
            return false;
        }
        protocols
            .iter()
            .any(|(name, _)| others.iter().all(|m| m.supports(name)))
    }

    fn choose_protocol(&self) -> Option<String> {
        let members: Vec<&Member> = self.members.values().collect();
        select_protocol(&members)
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod simulation;
