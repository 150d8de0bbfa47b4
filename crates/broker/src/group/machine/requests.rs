//! The member-facing requests: JoinGroup, SyncGroup, Heartbeat, LeaveGroup.

use kafka_protocol::ResponseError;

use super::{
    Group, GroupState, JoinRequest, JoinResult, LeavingMember, Outcome, Reply, SyncRequest,
    SyncResult,
};
use crate::group::member::Member;

impl Group {
    pub fn join(&mut self, req: JoinRequest, now_ms: i64) -> Outcome<JoinResult> {
        match self.check_join(&req) {
            Ok(()) => {}
            Err(error) => return Outcome::Now(JoinResult::error(error, &req.member_id)),
        }
        if req.member_id.is_empty() {
            return self.join_unknown_member(req, now_ms);
        }
        if self.pending_members.remove(&req.member_id).is_some() {
            let member_id = req.member_id.clone();
            return self.add_member_and_rebalance(member_id, req, now_ms);
        }
        if let Err(error) =
            self.check_static_fence(&req.member_id, req.group_instance_id.as_deref())
        {
            return Outcome::Now(JoinResult::error(error, &req.member_id));
        }
        // As Kafka: a known member id that comes back with an instance id the group never
        // registered (a dynamic member turned static) must join afresh to be registered.
        let unregistered_instance = req
            .group_instance_id
            .as_ref()
            .is_some_and(|instance| !self.static_members.contains_key(instance));
        if !self.members.contains_key(&req.member_id) || unregistered_instance {
            return Outcome::Now(JoinResult::error(
                ResponseError::UnknownMemberId,
                &req.member_id,
            ));
        }
        self.rejoin_known_member(req, now_ms)
    }

    fn check_join(&self, req: &JoinRequest) -> Result<(), ResponseError> {
        self.check_not_dead()?;
        let timeout_ms = req.session_timeout_ms;
        if timeout_ms < self.config.session_timeout_ms_min
            || timeout_ms > self.config.session_timeout_ms_max
        {
            return Err(ResponseError::InvalidSessionTimeout);
        }
        if !self.supports_protocols(&req.protocol_type, &req.protocols, &req.member_id) {
            return Err(ResponseError::InconsistentGroupProtocol);
        }
        Ok(())
    }

    fn join_unknown_member(&mut self, req: JoinRequest, now_ms: i64) -> Outcome<JoinResult> {
        let member_id = self.new_member_id(&req.client_id);
        if let Some(instance) = req.group_instance_id.clone() {
            if let Some(old_id) = self.static_members.get(&instance).cloned() {
                return self.replace_static_member(&old_id, member_id, req, now_ms);
            }
            return self.add_member_and_rebalance(member_id, req, now_ms);
        }
        if req.require_known_member_id {
            let deadline_ms = now_ms.saturating_add(i64::from(req.session_timeout_ms));
            self.pending_members.insert(member_id.clone(), deadline_ms);
            return Outcome::Now(JoinResult::error(
                ResponseError::MemberIdRequired,
                &member_id,
            ));
        }
        self.add_member_and_rebalance(member_id, req, now_ms)
    }

    fn add_member_and_rebalance(
        &mut self,
        member_id: String,
        req: JoinRequest,
        now_ms: i64,
    ) -> Outcome<JoinResult> {
        let mut member = Member {
            member_id: member_id.clone(),
            group_instance_id: req.group_instance_id.clone(),
            client_id: req.client_id,
            client_host: req.client_host,
            session_timeout_ms: req.session_timeout_ms,
            rebalance_timeout_ms: req.rebalance_timeout_ms,
            protocol_type: req.protocol_type,
            protocols: req.protocols,
            assignment: bytes::Bytes::new(),
            session_deadline_ms: 0,
            awaiting_join: true,
            awaiting_sync: false,
        };
        member.touch(now_ms);
        if let Some(instance) = req.group_instance_id {
            self.static_members.insert(instance, member_id.clone());
        }
        if self.members.is_empty() {
            self.protocol_type = Some(member.protocol_type.clone());
        }
        self.members.insert(member_id.clone(), member);
        if self.state == GroupState::PreparingRebalance {
            self.extend_initial_delay(now_ms);
        } else {
            self.prepare_rebalance(now_ms);
        }
        self.maybe_complete_join(now_ms);
        Outcome::Wait { member_id }
    }

    /// A known member joins again: a no-op when unchanged while the leader assigns, or for an
    /// unchanged follower of a stable group; otherwise (leader of a stable group, changed
    /// subscription, ongoing rebalance) it takes part in a rebalance.
    fn rejoin_known_member(&mut self, req: JoinRequest, now_ms: i64) -> Outcome<JoinResult> {
        let member_id = req.member_id.clone();
        let is_leader = self.leader.as_deref() == Some(member_id.as_str());
        let Some(member) = self.members.get_mut(&member_id) else {
            return Outcome::Now(JoinResult::error(
                ResponseError::UnknownMemberId,
                &member_id,
            ));
        };
        let unchanged = member.same_protocols(&req.protocols);
        member.protocols = req.protocols;
        member.session_timeout_ms = req.session_timeout_ms;
        member.rebalance_timeout_ms = req.rebalance_timeout_ms;
        member.touch(now_ms);
        // The same answer again rather than a new rebalance: for a member
        // that lost its JoinGroup answer while the leader assigns (the
        // leader too: it gets the member list again), and for an unchanged
        // follower of a stable group. A stable group's leader rejoins to
        // make the group rebalance (topic metadata changed), as on Kafka.
        let answer_again = unchanged
            && match self.state {
                GroupState::CompletingRebalance => true,
                GroupState::Stable => !is_leader,
                GroupState::Empty | GroupState::PreparingRebalance | GroupState::Dead => false,
            };
        if answer_again {
            return Outcome::Now(self.join_result_for(&member_id, false));
        }
        // A duplicate join while parked replaces the parked request (the async layer answers
        // the older one).
        if let Some(member) = self.members.get_mut(&member_id) {
            member.awaiting_join = true;
        }
        self.prepare_rebalance(now_ms);
        self.maybe_complete_join(now_ms);
        Outcome::Wait { member_id }
    }

    /// A static member restarted (same `group.instance.id`, no member id): it takes over the old
    /// member's place and assignment under a new member id, and the old id is fenced. A stable
    /// group with unchanged subscriptions does not rebalance.
    fn replace_static_member(
        &mut self,
        old_id: &str,
        new_id: String,
        req: JoinRequest,
        now_ms: i64,
    ) -> Outcome<JoinResult> {
        let Some(old) = self.members.remove(old_id) else {
            return self.add_member_and_rebalance(new_id, req, now_ms);
        };
        if old.awaiting_join {
            let result = JoinResult::error(ResponseError::FencedInstanceId, old_id);
            self.replies.push(Reply::Join {
                member_id: old_id.to_owned(),
                result,
            });
        }
        if old.awaiting_sync {
            let result = SyncResult::error(ResponseError::FencedInstanceId);
            self.replies.push(Reply::Sync {
                member_id: old_id.to_owned(),
                result,
            });
        }
        let unchanged = old.same_protocols(&req.protocols);
        let mut member = Member {
            member_id: new_id.clone(),
            client_id: req.client_id,
            client_host: req.client_host,
            session_timeout_ms: req.session_timeout_ms,
            rebalance_timeout_ms: req.rebalance_timeout_ms,
            protocols: req.protocols,
            awaiting_join: old.awaiting_join,
            awaiting_sync: false,
            ..old
        };
        member.touch(now_ms);
        if let Some(instance) = &member.group_instance_id {
            self.static_members.insert(instance.clone(), new_id.clone());
        }
        self.members.insert(new_id.clone(), member);
        if self.leader.as_deref() == Some(old_id) {
            self.leader = Some(new_id.clone());
        }
        // Only a stable group keeps its assignment. During CompletingRebalance the leader may
        // already be assigning to the old member id, so the new id would get nothing: rebalance,
        // as Kafka does.
        match self.state {
            GroupState::Stable if unchanged => {
                let is_leader = self.leader.as_deref() == Some(new_id.as_str());
                Outcome::Now(self.join_result_for(&new_id, is_leader))
            }
            GroupState::PreparingRebalance => {
                if let Some(m) = self.members.get_mut(&new_id) {
                    m.awaiting_join = true;
                }
                self.maybe_complete_join(now_ms);
                Outcome::Wait { member_id: new_id }
            }
            _ => {
                if let Some(m) = self.members.get_mut(&new_id) {
                    m.awaiting_join = true;
                }
                self.prepare_rebalance(now_ms);
                self.maybe_complete_join(now_ms);
                Outcome::Wait { member_id: new_id }
            }
        }
    }

    pub fn sync(&mut self, req: SyncRequest, now_ms: i64) -> Outcome<SyncResult> {
        if let Err(error) = self.check_sync(&req) {
            return Outcome::Now(SyncResult::error(error));
        }
        match self.state {
            GroupState::PreparingRebalance => {
                Outcome::Now(SyncResult::error(ResponseError::RebalanceInProgress))
            }
            GroupState::Empty | GroupState::Dead => {
                Outcome::Now(SyncResult::error(ResponseError::UnknownMemberId))
            }
            GroupState::Stable => {
                let Some(member) = self.members.get_mut(&req.member_id) else {
                    return Outcome::Now(SyncResult::error(ResponseError::UnknownMemberId));
                };
                member.touch(now_ms);
                let assignment = member.assignment.clone();
                Outcome::Now(self.sync_ok(assignment))
            }
            GroupState::CompletingRebalance => {
                if let Some(member) = self.members.get_mut(&req.member_id) {
                    member.touch(now_ms);
                    member.awaiting_sync = true;
                }
                if self.leader.as_deref() == Some(req.member_id.as_str()) {
                    self.apply_assignments(req.assignments, now_ms);
                }
                Outcome::Wait {
                    member_id: req.member_id,
                }
            }
        }
    }

    fn check_sync(&self, req: &SyncRequest) -> Result<(), ResponseError> {
        self.check_not_dead()?;
        self.check_static_fence(&req.member_id, req.group_instance_id.as_deref())?;
        if !self.members.contains_key(&req.member_id) {
            return Err(ResponseError::UnknownMemberId);
        }
        if req.generation_id != self.generation_id {
            return Err(ResponseError::IllegalGeneration);
        }
        let type_differs = req.protocol_type.is_some() && req.protocol_type != self.protocol_type;
        let name_differs = req.protocol_name.is_some() && req.protocol_name != self.protocol_name;
        if type_differs || name_differs {
            return Err(ResponseError::InconsistentGroupProtocol);
        }
        Ok(())
    }

    fn sync_ok(&self, assignment: bytes::Bytes) -> SyncResult {
        SyncResult {
            error: None,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            assignment,
        }
    }

    /// The leader's SyncGroup settles the generation: store every member's assignment (members
    /// the leader left out get an empty one) and answer all parked SyncGroups. A member's
    /// session restarts with its answer: it was not expired while it waited.
    fn apply_assignments(&mut self, assignments: Vec<(String, bytes::Bytes)>, now_ms: i64) {
        for member in self.members.values_mut() {
            member.assignment = bytes::Bytes::new();
        }
        for (member_id, assignment) in assignments {
            if let Some(member) = self.members.get_mut(&member_id) {
                member.assignment = assignment;
            }
        }
        self.state = GroupState::Stable;
        let waiting: Vec<(String, bytes::Bytes)> = self
            .members
            .values_mut()
            .filter(|m| m.awaiting_sync)
            .map(|m| {
                m.awaiting_sync = false;
                m.touch(now_ms);
                (m.member_id.clone(), m.assignment.clone())
            })
            .collect();
        for (member_id, assignment) in waiting {
            let result = self.sync_ok(assignment);
            self.replies.push(Reply::Sync { member_id, result });
        }
    }

    pub fn heartbeat(
        &mut self,
        member_id: &str,
        group_instance_id: Option<&str>,
        generation_id: i32,
        now_ms: i64,
    ) -> Result<(), ResponseError> {
        self.check_not_dead()?;
        if self.state == GroupState::Empty {
            return Err(ResponseError::UnknownMemberId);
        }
        self.validate_member(member_id, group_instance_id, generation_id)?;
        if let Some(member) = self.members.get_mut(member_id) {
            member.touch(now_ms);
        }
        match self.state {
            GroupState::PreparingRebalance => Err(ResponseError::RebalanceInProgress),
            _ => Ok(()),
        }
    }

    /// LeaveGroup, batch form: one result per leaving member, in request order.
    pub fn leave(
        &mut self,
        leaving: &[LeavingMember],
        now_ms: i64,
    ) -> Result<Vec<Result<(), ResponseError>>, ResponseError> {
        self.check_not_dead()?;
        let mut changed = false;
        let results = leaving
            .iter()
            .map(|m| {
                let result = self.leave_one(m);
                changed |= result.is_ok();
                result
            })
            .collect();
        if changed {
            self.on_membership_change(now_ms);
        }
        Ok(results)
    }

    fn leave_one(&mut self, leaving: &LeavingMember) -> Result<(), ResponseError> {
        let member_id = match &leaving.group_instance_id {
            Some(instance) => {
                let current = self
                    .static_members
                    .get(instance)
                    .cloned()
                    .ok_or(ResponseError::UnknownMemberId)?;
                if !leaving.member_id.is_empty() && leaving.member_id != current {
                    return Err(ResponseError::FencedInstanceId);
                }
                current
            }
            None => leaving.member_id.clone(),
        };
        if self.pending_members.remove(&member_id).is_some() {
            return Ok(());
        }
        if !self.members.contains_key(&member_id) {
            return Err(ResponseError::UnknownMemberId);
        }
        self.remove_member(&member_id);
        Ok(())
    }
}
