//! The async group coordinator: owns every group's state machine, parks JoinGroup and SyncGroup
//! requests on oneshot channels until the machine answers them, and runs the ticker that expires
//! sessions, finishes rebalances and expires committed offsets.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use kafka_protocol::ResponseError;
use tokio::sync::oneshot;

use super::machine::{
    Group, GroupConfig, GroupState, JoinRequest, JoinResult, LeavingMember, Outcome, Reply,
    SyncRequest, SyncResult,
};
use super::offset_record::CommittedOffset;
use super::offsets::{OffsetStore, OffsetStoreError, wall_clock_ms};

/// How often the ticker looks at every group; session timeouts are ≥ 6 s, so this is ample.
const TICK_INTERVAL: Duration = Duration::from_millis(200);
/// How often committed offsets are checked for expiry (and idle groups forgotten).
const OFFSET_EXPIRY_INTERVAL: Duration = Duration::from_secs(60);

/// Broker-wide coordinator settings.
#[derive(Clone, Debug)]
pub struct CoordinatorConfig {
    pub group: GroupConfig,
    /// `offsets.retention.minutes`, in ms: offsets of an empty group live this long.
    pub offsets_retention_ms: i64,
    /// An empty group without committed offsets is forgotten after this long.
    pub idle_group_ms: i64,
}

impl Default for CoordinatorConfig {
    fn default() -> Self {
        CoordinatorConfig {
            group: GroupConfig::default(),
            offsets_retention_ms: 7 * 24 * 60 * 60 * 1000,
            idle_group_ms: 5 * 60 * 1000,
        }
    }
}

/// One group and the requests parked on it.
#[derive(Debug)]
struct GroupSlot {
    group: Group,
    joins: HashMap<String, oneshot::Sender<JoinResult>>,
    syncs: HashMap<String, oneshot::Sender<SyncResult>>,
    /// When the slot was made: how long a group that never had a member (every JoinGroup
    /// refused, or a member id never claimed) has been idle.
    created_ms: i64,
}

impl GroupSlot {
    /// Deliver the machine's late answers to their parked requests.
    fn deliver(&mut self) {
        for reply in self.group.take_replies() {
            // A receiver that is gone belongs to a closed connection: nobody to answer.
            match reply {
                Reply::Join { member_id, result } => {
                    if let Some(tx) = self.joins.remove(&member_id) {
                        drop(tx.send(result));
                    }
                }
                Reply::Sync { member_id, result } => {
                    if let Some(tx) = self.syncs.remove(&member_id) {
                        drop(tx.send(result));
                    }
                }
            }
        }
    }
}

/// A snapshot of one group for DescribeGroups / ListGroups.
#[derive(Clone, Debug)]
pub struct GroupSummary {
    pub group_id: String,
    pub state: GroupState,
    pub generation_id: i32,
    pub protocol_type: String,
    pub protocol_name: String,
    pub members: Vec<super::member::Member>,
}

#[derive(Debug)]
pub struct GroupCoordinator {
    config: CoordinatorConfig,
    /// group id → slot. A std Mutex: held only to find or insert a slot, never across an await.
    /// Each slot has its own std Mutex (also never held across an await), so groups do not
    /// contend with each other.
    groups: Mutex<HashMap<String, Arc<Mutex<GroupSlot>>>>,
    offsets: Arc<OffsetStore>,
    clock_start: Instant,
    clock_start_wall_ms: i64,
    /// Set by `shutdown`: nothing parks any more, so a clean shutdown never waits out a
    /// rebalance timeout.
    closing: std::sync::atomic::AtomicBool,
}

fn relock<T>(e: std::sync::PoisonError<T>) -> T {
    // Group state is changed by the machine's methods, which do not panic on bad input; a
    // panic elsewhere under the lock leaves a group that the next tick or rejoin repairs.
    e.into_inner()
}

impl GroupCoordinator {
    pub fn new(config: CoordinatorConfig, offsets: OffsetStore) -> Arc<GroupCoordinator> {
        Arc::new(GroupCoordinator {
            config,
            groups: Mutex::new(HashMap::new()),
            offsets: Arc::new(offsets),
            clock_start: Instant::now(),
            clock_start_wall_ms: wall_clock_ms(),
            closing: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Start the ticker; it stops when the coordinator is dropped.
    pub fn start_ticker(self: &Arc<Self>) {
        let weak: Weak<GroupCoordinator> = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(TICK_INTERVAL);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut last_expiry = Instant::now();
            loop {
                interval.tick().await;
                let Some(coordinator) = weak.upgrade() else {
                    return;
                };
                coordinator.tick_all();
                if last_expiry.elapsed() >= OFFSET_EXPIRY_INTERVAL {
                    last_expiry = Instant::now();
                    let c = coordinator.clone();
                    let expired = tokio::task::spawn_blocking(move || {
                        let expired = c.expire_offsets();
                        c.forget_idle_groups();
                        expired
                    })
                    .await;
                    if let Ok(Err(e)) = expired {
                        tracing::warn!(error = %crate::errors::message(&e), "offset expiry failed");
                    }
                }
            }
        });
    }

    /// Clean shutdown: answer every parked JoinGroup/SyncGroup with NOT_COORDINATOR (clients
    /// look for the coordinator again and find the restarted broker) and park nothing more.
    pub fn shutdown(&self) {
        self.closing
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let slots: Vec<Arc<Mutex<GroupSlot>>> = self.map().values().cloned().collect();
        for slot in slots {
            // Under the slot lock: a request either parked before (and is drained here) or
            // sees `closing` after.
            let mut s = slot.lock().unwrap_or_else(relock);
            for (member_id, tx) in s.joins.drain() {
                drop(tx.send(JoinResult::error(ResponseError::NotCoordinator, &member_id)));
            }
            for (_, tx) in s.syncs.drain() {
                drop(tx.send(SyncResult::error(ResponseError::NotCoordinator)));
            }
        }
    }

    fn is_closing(&self) -> bool {
        self.closing.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn offsets(&self) -> &Arc<OffsetStore> {
        &self.offsets
    }

    /// Milliseconds on a monotonic clock anchored at the wall clock at start-up: monotonic so
    /// sessions never jump, wall-anchored so it compares with offset commit timestamps.
    pub fn now_ms(&self) -> i64 {
        let elapsed = i64::try_from(self.clock_start.elapsed().as_millis()).unwrap_or(i64::MAX);
        self.clock_start_wall_ms.saturating_add(elapsed)
    }

    fn map(&self) -> MutexGuard<'_, HashMap<String, Arc<Mutex<GroupSlot>>>> {
        self.groups.lock().unwrap_or_else(relock)
    }

    fn slot(&self, group_id: &str) -> Option<Arc<Mutex<GroupSlot>>> {
        self.map().get(group_id).cloned()
    }

    fn slot_or_create(&self, group_id: &str) -> Arc<Mutex<GroupSlot>> {
        let new_slot = || {
            Arc::new(Mutex::new(GroupSlot {
                group: Group::new(group_id, self.config.group.clone()),
                joins: HashMap::new(),
                syncs: HashMap::new(),
                created_ms: self.now_ms(),
            }))
        };
        let mut map = self.map();
        let slot = map.entry(group_id.to_owned()).or_insert_with(new_slot);
        if slot.lock().unwrap_or_else(relock).group.state() == GroupState::Dead {
            *slot = new_slot();
        }
        slot.clone()
    }

    pub async fn join(&self, group_id: &str, request: JoinRequest) -> JoinResult {
        let member_hint = request.member_id.clone();
        let slot = self.slot_or_create(group_id);
        let receiver = {
            let mut s = slot.lock().unwrap_or_else(relock);
            if self.is_closing() {
                return JoinResult::error(ResponseError::NotCoordinator, &member_hint);
            }
            let now_ms = self.now_ms();
            s.group.tick(now_ms);
            match s.group.join(request, now_ms) {
                Outcome::Now(result) => {
                    s.deliver();
                    return result;
                }
                Outcome::Wait { member_id } => {
                    let (tx, rx) = oneshot::channel();
                    if let Some(previous) = s.joins.insert(member_id, tx) {
                        // A second JoinGroup from the same member replaces the parked one.
                        drop(previous.send(JoinResult::error(
                            ResponseError::RebalanceInProgress,
                            &member_hint,
                        )));
                    }
                    s.deliver();
                    rx
                }
            }
        };
        receiver
            .await
            .unwrap_or_else(|_| JoinResult::error(ResponseError::RebalanceInProgress, &member_hint))
    }

    pub async fn sync(&self, group_id: &str, request: SyncRequest) -> SyncResult {
        let Some(slot) = self.slot(group_id) else {
            return SyncResult::error(ResponseError::UnknownMemberId);
        };
        let receiver = {
            let mut s = slot.lock().unwrap_or_else(relock);
            if self.is_closing() {
                return SyncResult::error(ResponseError::NotCoordinator);
            }
            let now_ms = self.now_ms();
            s.group.tick(now_ms);
            match s.group.sync(request, now_ms) {
                Outcome::Now(result) => {
                    s.deliver();
                    return result;
                }
                Outcome::Wait { member_id } => {
                    let (tx, rx) = oneshot::channel();
                    if let Some(previous) = s.syncs.insert(member_id, tx) {
                        drop(previous.send(SyncResult::error(ResponseError::RebalanceInProgress)));
                    }
                    s.deliver();
                    rx
                }
            }
        };
        receiver
            .await
            .unwrap_or_else(|_| SyncResult::error(ResponseError::RebalanceInProgress))
    }

    pub fn heartbeat(
        &self,
        group_id: &str,
        member_id: &str,
        group_instance_id: Option<&str>,
        generation_id: i32,
    ) -> Result<(), ResponseError> {
        let slot = self.slot(group_id).ok_or(ResponseError::UnknownMemberId)?;
        let mut s = slot.lock().unwrap_or_else(relock);
        let now_ms = self.now_ms();
        s.group.tick(now_ms);
        let result = s
            .group
            .heartbeat(member_id, group_instance_id, generation_id, now_ms);
        s.deliver();
        result
    }

    pub fn leave(
        &self,
        group_id: &str,
        leaving: &[LeavingMember],
    ) -> Result<Vec<Result<(), ResponseError>>, ResponseError> {
        // As in Kafka, a group nobody joined is a request whose every member is unknown, not a
        // failed request: LeaveGroup v3+ answers it member by member.
        let Some(slot) = self.slot(group_id) else {
            return Ok(vec![Err(ResponseError::UnknownMemberId); leaving.len()]);
        };
        let mut s = slot.lock().unwrap_or_else(relock);
        let now_ms = self.now_ms();
        s.group.tick(now_ms);
        let results = s.group.leave(leaving, now_ms);
        s.deliver();
        results
    }

    /// Check that a member may commit offsets for `group_id` now, answering an
    /// OffsetCommit of `version`. A commit with generation -1 and no member id comes from
    /// a client that manages partitions itself; it is allowed only while the group has no
    /// members.
    pub fn check_commit(
        &self,
        group_id: &str,
        member_id: &str,
        group_instance_id: Option<&str>,
        generation_id: i32,
        version: i16,
    ) -> Result<(), ResponseError> {
        let Some(slot) = self.slot(group_id) else {
            return if generation_id < 0 {
                Ok(())
            } else if self.offsets.has_group(group_id) {
                // A group known only by its offsets is an empty group, which has no members.
                Err(ResponseError::UnknownMemberId)
            } else if version >= 9 {
                // A generation of a group that does not exist: Kafka names the missing
                // group from v9 on, and before it answers as to a stale generation.
                Err(ResponseError::GroupIdNotFound)
            } else {
                Err(ResponseError::IllegalGeneration)
            };
        };
        let mut s = slot.lock().unwrap_or_else(relock);
        let now_ms = self.now_ms();
        s.group.tick(now_ms);
        let result = s
            .group
            .check_commit(member_id, group_instance_id, generation_id, now_ms);
        s.deliver();
        result
    }

    /// Commits durably the entries whose topic `live` still accepts (see
    /// `OffsetStore::commit_live`); returns the topics refused. Blocking:
    /// call from `spawn_blocking`.
    pub fn commit_offsets(
        &self,
        group_id: &str,
        entries: Vec<(String, i32, CommittedOffset)>,
        live: impl Fn(&str) -> bool,
    ) -> Result<Vec<String>, OffsetStoreError> {
        let entries = entries
            .into_iter()
            .map(|(t, p, c)| (t, p, Some(c)))
            .collect();
        self.offsets.commit_live(group_id, entries, live)
    }

    pub fn describe(&self, group_id: &str) -> Option<GroupSummary> {
        let Some(slot) = self.slot(group_id) else {
            return self
                .offsets
                .has_group(group_id)
                .then(|| empty_summary(group_id));
        };
        let s = slot.lock().unwrap_or_else(relock);
        if s.group.state() == GroupState::Dead {
            return None;
        }
        Some(GroupSummary {
            group_id: group_id.to_owned(),
            state: s.group.state(),
            generation_id: s.group.generation_id(),
            protocol_type: s.group.protocol_type().unwrap_or_default().to_owned(),
            protocol_name: s.group.protocol_name().unwrap_or_default().to_owned(),
            members: s.group.members().cloned().collect(),
        })
    }

    /// Every group the coordinator knows: with members, or with committed offsets only.
    pub fn list(&self) -> Vec<GroupSummary> {
        let mut ids: Vec<String> = self.map().keys().cloned().collect();
        ids.extend(self.offsets.groups());
        ids.sort();
        ids.dedup();
        ids.iter().filter_map(|id| self.describe(id)).collect()
    }

    /// DeleteGroups: only an empty group; its offsets go too (blocking).
    pub fn delete_group(&self, group_id: &str) -> Result<(), ResponseError> {
        // Checked before the map lock: the offsets lock is never taken under it.
        let has_offsets = self.offsets.has_group(group_id);
        {
            // Marked dead and dropped under one map lock, before the slow tombstone writes: a
            // JoinGroup arriving meanwhile creates a new group that nothing removes later (it
            // used to be removed after the writes, stranding its parked requests).
            let mut map = self.map();
            match map.get(group_id).cloned() {
                Some(slot) => {
                    slot.lock().unwrap_or_else(relock).group.mark_dead()?;
                    map.remove(group_id);
                }
                None if !has_offsets => return Err(ResponseError::GroupIdNotFound),
                None => {}
            }
        }
        self.offsets.delete_group(group_id).map_err(|e| {
            tracing::warn!(group = %group_id, error = %crate::errors::message(&e), "cannot delete group offsets");
            ResponseError::CoordinatorNotAvailable
        })
    }

    /// The protocol type and members' metadata, for OffsetDelete's "still subscribed" check.
    /// The metadata is `None` while no protocol is chosen (the first rebalance after the
    /// group was empty): what the members subscribe to is not known yet.
    pub fn member_metadata(
        &self,
        group_id: &str,
    ) -> Option<(String, GroupState, Option<Vec<bytes::Bytes>>)> {
        let slot = self.slot(group_id)?;
        let s = slot.lock().unwrap_or_else(relock);
        let metadata = s.group.protocol_name().map(|protocol| {
            s.group
                .members()
                .filter_map(|m| m.metadata_for(protocol).cloned())
                .collect()
        });
        Some((
            s.group.protocol_type().unwrap_or_default().to_owned(),
            s.group.state(),
            metadata,
        ))
    }

    fn tick_all(&self) {
        let slots: Vec<Arc<Mutex<GroupSlot>>> = self.map().values().cloned().collect();
        let now_ms = self.now_ms();
        for slot in slots {
            let mut s = slot.lock().unwrap_or_else(relock);
            s.group.tick(now_ms);
            s.deliver();
        }
    }

    /// Offsets of a group expire once the group has been empty (or, for groups never seen
    /// since start-up, the offset uncommitted) for `offsets_retention_ms`.
    fn expire_offsets(&self) -> Result<usize, OffsetStoreError> {
        let now_ms = self.now_ms();
        let retention_ms = self.config.offsets_retention_ms;
        self.offsets.expire(|group_id, committed| {
            let empty_since_ms = match self.slot(group_id) {
                None => None,
                Some(slot) => {
                    let s = slot.lock().unwrap_or_else(relock);
                    if !matches!(s.group.state(), GroupState::Empty | GroupState::Dead) {
                        return false;
                    }
                    s.group.empty_since_ms()
                }
            };
            let since_ms = empty_since_ms
                .unwrap_or(committed.commit_timestamp_ms)
                .max(committed.commit_timestamp_ms);
            now_ms.saturating_sub(since_ms) >= retention_ms
        })
    }
}

impl GroupCoordinator {
    /// Drop groups that have been empty for `idle_group_ms` and have no committed offsets, so
    /// one-off group ids do not accumulate. Locks are taken map → slot and the offsets lock
    /// only with neither held, the same order as everywhere else.
    fn forget_idle_groups(&self) {
        let now_ms = self.now_ms();
        let idle = |s: &GroupSlot| {
            s.group.state() == GroupState::Empty
                && s.group.is_empty()
                && s.joins.is_empty()
                && s.syncs.is_empty()
                && now_ms.saturating_sub(s.group.empty_since_ms().unwrap_or(s.created_ms))
                    >= self.config.idle_group_ms
        };
        let candidates: Vec<String> = self
            .map()
            .iter()
            .filter(|(_, slot)| idle(&slot.lock().unwrap_or_else(relock)))
            .map(|(id, _)| id.clone())
            .collect();
        let without_offsets: Vec<String> = candidates
            .into_iter()
            .filter(|id| !self.offsets.has_group(id))
            .collect();
        let mut map = self.map();
        for id in without_offsets {
            let Some(slot) = map.get(&id).cloned() else {
                continue;
            };
            let mut s = slot.lock().unwrap_or_else(relock);
            // Re-check under the lock; marking it Dead turns away a request that already
            // holds this slot (it retries and gets a fresh group).
            if idle(&s) && s.group.mark_dead().is_ok() {
                map.remove(&id);
            }
        }
    }
}

/// A group known only by its committed offsets: no member ever joined it
/// here (or none since the broker started, as membership is not kept across
/// restarts), so it has no protocol type, as Kafka answers for a group that
/// only commits (a "simple" consumer group to admin clients).
fn empty_summary(group_id: &str) -> GroupSummary {
    GroupSummary {
        group_id: group_id.to_owned(),
        state: GroupState::Empty,
        generation_id: 0,
        protocol_type: String::new(),
        protocol_name: String::new(),
        members: Vec::new(),
    }
}

#[cfg(test)]
mod tests;
