//! Rebalance mechanics: entering PreparingRebalance, deciding when the join phase is complete,
//! completing it (new generation, leader, protocol), and the clock-driven expiries.

use kafka_protocol::ResponseError;

use super::{Group, GroupState, Reply, SyncResult};

impl Group {
    /// Start (or keep) a rebalance: members learn of it through Heartbeat REBALANCE_IN_PROGRESS.
    pub(super) fn prepare_rebalance(&mut self, now_ms: i64) {
        match self.state {
            GroupState::PreparingRebalance | GroupState::Dead => return,
            GroupState::CompletingRebalance => {
                self.fail_pending_syncs(ResponseError::RebalanceInProgress, now_ms)
            }
            GroupState::Empty | GroupState::Stable => {}
        }
        let was_empty = self.state == GroupState::Empty;
        self.state = GroupState::PreparingRebalance;
        self.empty_since_ms = None;
        let rebalance_timeout_ms = self.max_rebalance_timeout_ms();
        if was_empty && self.config.initial_rebalance_delay_ms > 0 {
            let delay_ms = self
                .config
                .initial_rebalance_delay_ms
                .min(rebalance_timeout_ms);
            self.rebalance_deadline_ms = now_ms.saturating_add(delay_ms);
            self.initial_delay_limit_ms = Some(now_ms.saturating_add(rebalance_timeout_ms));
        } else {
            self.rebalance_deadline_ms = now_ms.saturating_add(rebalance_timeout_ms);
            self.initial_delay_limit_ms = None;
        }
    }

    /// A new member arrived during the initial delay: wait a little longer for the next one.
    pub(super) fn extend_initial_delay(&mut self, now_ms: i64) {
        if let Some(limit_ms) = self.initial_delay_limit_ms {
            let extended_ms = now_ms.saturating_add(self.config.initial_rebalance_delay_ms);
            self.rebalance_deadline_ms = extended_ms.min(limit_ms).max(self.rebalance_deadline_ms);
        }
    }

    fn max_rebalance_timeout_ms(&self) -> i64 {
        self.members
            .values()
            .map(|m| i64::from(m.rebalance_timeout_ms))
            .max()
            .unwrap_or(0)
    }

    /// Complete the join phase if everyone known has rejoined (outside the initial delay).
    pub(super) fn maybe_complete_join(&mut self, now_ms: i64) {
        if self.state != GroupState::PreparingRebalance {
            return;
        }
        let all_joined =
            self.members.values().all(|m| m.awaiting_join) && self.pending_members.is_empty();
        let delay_over =
            self.initial_delay_limit_ms.is_none() || now_ms >= self.rebalance_deadline_ms;
        if self.members.is_empty() || (all_joined && delay_over) {
            self.complete_join(now_ms);
        }
    }

    /// End the join phase: drop dynamic members that did not rejoin, bump the generation, pick
    /// the protocol and leader, and answer every parked JoinGroup.
    ///
    /// Static members that did not rejoin keep their place, as in Kafka: a static member is
    /// expected to restart under the same instance id and find its assignment; its session
    /// timeout removes it if it does not come back.
    fn complete_join(&mut self, now_ms: i64) {
        let gone: Vec<String> = self
            .members
            .values()
            .filter(|m| !m.awaiting_join && m.group_instance_id.is_none())
            .map(|m| m.member_id.clone())
            .collect();
        for member_id in gone {
            self.remove_member(&member_id);
        }
        if !self.members.is_empty() && !self.members.values().any(|m| m.awaiting_join) {
            // Only static members are left and none rejoined: there is no one to lead the
            // generation. Wait another rebalance timeout; their sessions end it if they never
            // come back.
            self.rebalance_deadline_ms = now_ms.saturating_add(self.max_rebalance_timeout_ms());
            return;
        }
        self.pending_members.clear();
        self.initial_delay_limit_ms = None;
        self.generation_id = self.generation_id.wrapping_add(1).max(1);
        if self.members.is_empty() {
            self.become_empty(now_ms);
            return;
        }
        self.protocol_name = self.choose_protocol();
        if self.protocol_name.is_none() {
            // Only reachable if members changed protocols mid-rebalance; make them all start over.
            let ids: Vec<String> = self.members.keys().cloned().collect();
            for member_id in ids {
                let result =
                    super::JoinResult::error(ResponseError::InconsistentGroupProtocol, &member_id);
                self.replies.push(Reply::Join {
                    member_id: member_id.clone(),
                    result,
                });
                self.remove_member(&member_id);
            }
            self.become_empty(now_ms);
            return;
        }
        self.protocol_type = self
            .members
            .values()
            .next()
            .map(|m| m.protocol_type.clone());
        // The leader must have rejoined: it is the one answered with the member list.
        let leader_rejoined = self
            .leader
            .as_ref()
            .and_then(|l| self.members.get(l))
            .is_some_and(|m| m.awaiting_join);
        if !leader_rejoined {
            self.leader = self
                .members
                .values()
                .find(|m| m.awaiting_join)
                .map(|m| m.member_id.clone());
        }
        self.state = GroupState::CompletingRebalance;
        let ids: Vec<String> = self.members.keys().cloned().collect();
        for member_id in ids {
            let result = self.join_result_for(&member_id, false);
            let Some(member) = self.members.get_mut(&member_id) else {
                continue;
            };
            member.assignment = bytes::Bytes::new();
            if member.awaiting_join {
                member.awaiting_join = false;
                member.touch(now_ms);
                self.replies.push(Reply::Join { member_id, result });
            }
        }
    }

    fn become_empty(&mut self, now_ms: i64) {
        self.state = GroupState::Empty;
        self.leader = None;
        self.protocol_name = None;
        // The protocol type stays, as in Kafka: an empty consumer group is still listed as one.
        self.empty_since_ms = Some(now_ms);
    }

    /// Remove a member without deciding what the group does next; parked requests of the
    /// member are answered with UNKNOWN_MEMBER_ID.
    pub(super) fn remove_member(&mut self, member_id: &str) {
        let Some(member) = self.members.remove(member_id) else {
            return;
        };
        if let Some(instance) = &member.group_instance_id
            && self
                .static_members
                .get(instance)
                .is_some_and(|id| id == member_id)
        {
            self.static_members.remove(instance);
        }
        if member.awaiting_join {
            let result = super::JoinResult::error(ResponseError::UnknownMemberId, member_id);
            self.replies.push(Reply::Join {
                member_id: member_id.to_owned(),
                result,
            });
        }
        if member.awaiting_sync {
            let result = SyncResult::error(ResponseError::UnknownMemberId);
            self.replies.push(Reply::Sync {
                member_id: member_id.to_owned(),
                result,
            });
        }
        if self.leader.as_deref() == Some(member_id) {
            self.leader = None;
        }
    }

    /// After members left or expired: rebalance the rest (or settle an ongoing join phase).
    pub(super) fn on_membership_change(&mut self, now_ms: i64) {
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => self.prepare_rebalance(now_ms),
            GroupState::Empty if !self.members.is_empty() => self.prepare_rebalance(now_ms),
            _ => {}
        }
        self.maybe_complete_join(now_ms);
    }

    /// Answers every parked SyncGroup with `error`; each member's session restarts with its
    /// answer, as it was not expired while it waited.
    fn fail_pending_syncs(&mut self, error: ResponseError, now_ms: i64) {
        for member in self.members.values_mut().filter(|m| m.awaiting_sync) {
            member.awaiting_sync = false;
            member.touch(now_ms);
            let result = SyncResult::error(error);
            self.replies.push(Reply::Sync {
                member_id: member.member_id.clone(),
                result,
            });
        }
    }

    /// Advance the clock: expire silent members and unclaimed member ids, and finish a join
    /// phase whose deadline passed. Call it periodically (the ticker) and before each request.
    pub fn tick(&mut self, now_ms: i64) {
        self.pending_members
            .retain(|_, deadline_ms| *deadline_ms > now_ms);
        // A member parked in JoinGroup or SyncGroup is waiting on the group, not silent: Kafka
        // keeps it alive too. The rebalance deadline bounds the first wait; the leader, whose
        // own session runs until it syncs, bounds the second.
        let expired: Vec<String> = self
            .members
            .values()
            .filter(|m| !m.awaiting_join && !m.awaiting_sync && m.session_deadline_ms <= now_ms)
            .map(|m| m.member_id.clone())
            .collect();
        let changed = !expired.is_empty();
        for member_id in &expired {
            tracing::info!(group = %self.id, member = %member_id, "session expired, removing member");
            self.remove_member(member_id);
        }
        if changed {
            self.on_membership_change(now_ms);
        }
        if self.state == GroupState::PreparingRebalance && now_ms >= self.rebalance_deadline_ms {
            self.complete_join(now_ms);
        } else {
            self.maybe_complete_join(now_ms);
        }
    }
}
