//! State-machine tests: every rebalance is driven by explicit `now_ms`, no sleeping.

use bytes::Bytes;
use kafka_protocol::ResponseError;

use super::*;

const SESSION_MS: i32 = 10_000;
const REBALANCE_MS: i32 = 20_000;

fn config(delay_ms: i64) -> GroupConfig {
    GroupConfig {
        initial_rebalance_delay_ms: delay_ms,
        ..GroupConfig::default()
    }
}

fn join_req(member_id: &str, instance: Option<&str>) -> JoinRequest {
    JoinRequest {
        member_id: member_id.to_owned(),
        group_instance_id: instance.map(str::to_owned),
        client_id: "client".to_owned(),
        client_host: "/127.0.0.1".to_owned(),
        session_timeout_ms: SESSION_MS,
        rebalance_timeout_ms: REBALANCE_MS,
        protocol_type: "consumer".to_owned(),
        protocols: vec![("range".to_owned(), Bytes::from_static(b"sub"))],
        require_known_member_id: true,
    }
}

fn sync_req(member_id: &str, generation_id: i32, assignments: Vec<(String, Bytes)>) -> SyncRequest {
    SyncRequest {
        member_id: member_id.to_owned(),
        group_instance_id: None,
        generation_id,
        protocol_type: None,
        protocol_name: None,
        assignments,
    }
}

fn join_replies(group: &mut Group) -> Vec<(String, JoinResult)> {
    group
        .take_replies()
        .into_iter()
        .filter_map(|r| match r {
            Reply::Join { member_id, result } => Some((member_id, result)),
            Reply::Sync { .. } => None,
        })
        .collect()
}

/// Get a member id through the MEMBER_ID_REQUIRED round trip, then join with it.
fn join_new(group: &mut Group, now_ms: i64) -> String {
    let Outcome::Now(first) = group.join(join_req("", None), now_ms) else {
        panic!("expected MEMBER_ID_REQUIRED")
    };
    assert_eq!(first.error, Some(ResponseError::MemberIdRequired));
    let member_id = first.member_id;
    let outcome = group.join(join_req(&member_id, None), now_ms);
    assert!(matches!(outcome, Outcome::Wait { .. }));
    member_id
}

/// Run a full rebalance to Stable with `n` fresh members; returns member ids.
fn stable_group(n: usize) -> (Group, Vec<String>) {
    let mut group = Group::new("g", config(100));
    let ids: Vec<String> = (0..n).map(|_| join_new(&mut group, 0)).collect();
    group.tick(100);
    let replies = join_replies(&mut group);
    assert_eq!(replies.len(), ids.len());
    settle(&mut group, 0);
    (group, ids)
}

/// Everyone syncs; the leader assigns each member its own id as bytes.
fn settle(group: &mut Group, now_ms: i64) {
    assert_eq!(group.state(), GroupState::CompletingRebalance);
    let generation = group.generation_id();
    let leader = group.leader().map(str::to_owned).expect("leader");
    let ids: Vec<String> = group.members().map(|m| m.member_id.clone()).collect();
    for id in ids.iter().filter(|id| **id != leader) {
        assert!(matches!(
            group.sync(sync_req(id, generation, vec![]), now_ms),
            Outcome::Wait { .. }
        ));
    }
    let assignments = ids
        .iter()
        .map(|id| (id.clone(), Bytes::from(id.clone())))
        .collect();
    assert!(matches!(
        group.sync(sync_req(&leader, generation, assignments), now_ms),
        Outcome::Wait { .. }
    ));
    let replies = group.take_replies();
    assert_eq!(replies.len(), ids.len());
    for reply in replies {
        let Reply::Sync { member_id, result } = reply else {
            panic!("expected sync reply")
        };
        assert_eq!(result.error, None);
        assert_eq!(result.assignment, Bytes::from(member_id));
    }
    assert_eq!(group.state(), GroupState::Stable);
}

/// Two members joined and the join completed; the follower's SyncGroup is
/// parked (sent at `synced_ms`) while the leader assigns. Returns the group,
/// leader, follower and generation.
fn leader_assigning(synced_ms: i64) -> (Group, String, String, i32) {
    let mut group = Group::new("g", config(100));
    let a = join_new(&mut group, 0);
    let b = join_new(&mut group, 0);
    group.tick(100);
    join_replies(&mut group);
    let generation = group.generation_id();
    let leader = group.leader().map(str::to_owned).expect("leader");
    let follower = if leader == a { b } else { a };
    assert!(matches!(
        group.sync(sync_req(&follower, generation, vec![]), synced_ms),
        Outcome::Wait { .. }
    ));
    (group, leader, follower, generation)
}

#[test]
fn first_join_requires_a_member_id_then_completes_a_generation() {
    let mut group = Group::new("g", config(0));
    let id = join_new(&mut group, 0);
    let replies = join_replies(&mut group);
    assert_eq!(replies.len(), 1);
    let (member_id, result) = &replies[0];
    assert_eq!(member_id, &id);
    assert_eq!(result.error, None);
    assert_eq!(result.generation_id, 1);
    assert_eq!(result.leader, id);
    assert_eq!(result.protocol_name.as_deref(), Some("range"));
    assert_eq!(result.members.len(), 1);
    assert_eq!(group.state(), GroupState::CompletingRebalance);
}

#[test]
fn unknown_member_id_is_rejected() {
    let mut group = Group::new("g", config(0));
    let Outcome::Now(result) = group.join(join_req("made-up", None), 0) else {
        panic!("expected an answer")
    };
    assert_eq!(result.error, Some(ResponseError::UnknownMemberId));
}

#[test]
fn session_timeout_out_of_range_is_rejected() {
    let mut group = Group::new("g", config(0));
    let mut req = join_req("", None);
    req.session_timeout_ms = 100;
    let Outcome::Now(result) = group.join(req, 0) else {
        panic!("expected an answer")
    };
    assert_eq!(result.error, Some(ResponseError::InvalidSessionTimeout));
}

#[test]
fn initial_delay_waits_for_more_members_then_completes_on_tick() {
    let mut group = Group::new("g", config(3000));
    let a = join_new(&mut group, 0);
    assert!(
        join_replies(&mut group).is_empty(),
        "the initial delay holds the join"
    );
    let b = join_new(&mut group, 2000);
    group.tick(3000);
    assert!(
        join_replies(&mut group).is_empty(),
        "b's arrival extended the delay"
    );
    group.tick(5000);
    let replies = join_replies(&mut group);
    let ids: Vec<&str> = replies.iter().map(|(id, _)| id.as_str()).collect();
    assert!(ids.contains(&a.as_str()) && ids.contains(&b.as_str()));
    let leaders: Vec<&JoinResult> = replies
        .iter()
        .map(|(_, r)| r)
        .filter(|r| !r.members.is_empty())
        .collect();
    assert_eq!(leaders.len(), 1, "only the leader gets the member list");
    assert_eq!(leaders[0].members.len(), 2);
}

#[test]
fn a_new_member_triggers_a_rebalance_seen_through_heartbeat() {
    let (mut group, ids) = stable_group(2);
    let generation = group.generation_id();
    assert_eq!(group.heartbeat(&ids[0], None, generation, 100), Ok(()));
    let c = join_new(&mut group, 100);
    assert_eq!(group.state(), GroupState::PreparingRebalance);
    assert_eq!(
        group.heartbeat(&ids[0], None, generation, 200),
        Err(ResponseError::RebalanceInProgress)
    );
    // The old members rejoin; the join phase completes when all three are in.
    for id in &ids {
        assert!(matches!(
            group.join(join_req(id, None), 300),
            Outcome::Wait { .. }
        ));
    }
    let replies = join_replies(&mut group);
    assert_eq!(replies.len(), 3);
    assert!(
        replies
            .iter()
            .all(|(_, r)| r.generation_id == generation + 1)
    );
    assert!(replies.iter().any(|(id, _)| id == &c));
    settle(&mut group, 300);
}

#[test]
fn members_that_do_not_rejoin_are_dropped_at_the_rebalance_deadline() {
    let (mut group, ids) = stable_group(3);
    let d = join_new(&mut group, 1000);
    assert!(matches!(
        group.join(join_req(&ids[0], None), 1000),
        Outcome::Wait { .. }
    ));
    let generation = group.generation_id();
    for now_ms in [6000, 12_000, 18_000] {
        for id in &ids[1..] {
            assert_eq!(
                group.heartbeat(id, None, generation, now_ms),
                Err(ResponseError::RebalanceInProgress)
            );
        }
        group.tick(now_ms);
    }
    group.tick(1000 + i64::from(REBALANCE_MS) - 1);
    assert!(join_replies(&mut group).is_empty());
    // ids[1] and ids[2] keep heartbeating but never rejoin: they are removed at the deadline.
    group.tick(1000 + i64::from(REBALANCE_MS));
    let replies = join_replies(&mut group);
    let mut got: Vec<String> = replies.into_iter().map(|(id, _)| id).collect();
    got.sort();
    let mut want = vec![ids[0].clone(), d];
    want.sort();
    assert_eq!(got, want);
    assert_eq!(group.members().count(), 2);
}

#[test]
fn session_expiry_removes_a_silent_member_and_rebalances_the_rest() {
    let (mut group, ids) = stable_group(2);
    let generation = group.generation_id();
    let deadline = i64::from(SESSION_MS);
    assert_eq!(
        group.heartbeat(&ids[0], None, generation, deadline - 1),
        Ok(())
    );
    group.tick(deadline);
    assert!(
        group.member(&ids[1]).is_none(),
        "ids[1] stopped heartbeating"
    );
    assert_eq!(group.state(), GroupState::PreparingRebalance);
    assert!(matches!(
        group.join(join_req(&ids[0], None), deadline + 1),
        Outcome::Wait { .. }
    ));
    let replies = join_replies(&mut group);
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].1.generation_id, generation + 1);
    assert_eq!(replies[0].1.leader, ids[0]);
}

#[test]
fn stale_generation_and_unknown_member_are_refused() {
    let (mut group, ids) = stable_group(1);
    let generation = group.generation_id();
    assert_eq!(
        group.heartbeat(&ids[0], None, generation - 1, 1),
        Err(ResponseError::IllegalGeneration)
    );
    assert_eq!(
        group.heartbeat("nobody", None, generation, 1),
        Err(ResponseError::UnknownMemberId)
    );
    let Outcome::Now(result) = group.sync(sync_req(&ids[0], generation + 5, vec![]), 1) else {
        panic!()
    };
    assert_eq!(result.error, Some(ResponseError::IllegalGeneration));
}

#[test]
fn sync_in_stable_returns_the_stored_assignment() {
    let (mut group, ids) = stable_group(2);
    let generation = group.generation_id();
    let Outcome::Now(result) = group.sync(sync_req(&ids[1], generation, vec![]), 5) else {
        panic!()
    };
    assert_eq!(result.error, None);
    assert_eq!(result.assignment, Bytes::from(ids[1].clone()));
}

#[test]
fn leaving_in_batch_form_reports_each_member() {
    let (mut group, ids) = stable_group(3);
    let leaving = vec![
        LeavingMember {
            member_id: ids[0].clone(),
            group_instance_id: None,
        },
        LeavingMember {
            member_id: "ghost".to_owned(),
            group_instance_id: None,
        },
    ];
    let results = group.leave(&leaving, 10);
    assert_eq!(
        results,
        Ok(vec![Ok(()), Err(ResponseError::UnknownMemberId)])
    );
    assert_eq!(group.state(), GroupState::PreparingRebalance);
    for id in &ids[1..] {
        assert!(matches!(
            group.join(join_req(id, None), 11),
            Outcome::Wait { .. }
        ));
    }
    assert_eq!(join_replies(&mut group).len(), 2);
}

#[test]
fn the_last_member_leaving_empties_the_group() {
    let (mut group, ids) = stable_group(1);
    let generation = group.generation_id();
    let results = group.leave(
        &[LeavingMember {
            member_id: ids[0].clone(),
            group_instance_id: None,
        }],
        50,
    );
    assert_eq!(results, Ok(vec![Ok(())]));
    assert_eq!(group.state(), GroupState::Empty);
    assert_eq!(group.generation_id(), generation + 1);
    assert_eq!(group.empty_since_ms(), Some(50));
}

#[test]
fn a_join_repeated_while_the_leader_assigns_is_answered_again_without_a_rebalance() {
    let (mut group, leader, follower, generation) = leader_assigning(1);
    // Both lost their JoinGroup answers (a timeout) and ask again, unchanged.
    for (member, members_listed) in [(&leader, 2), (&follower, 0)] {
        let Outcome::Now(again) = group.join(join_req(member, None), 2) else {
            panic!("{member}: answered at once")
        };
        assert_eq!(again.error, None);
        assert_eq!(again.generation_id, generation);
        assert_eq!(again.leader, leader);
        assert_eq!(again.members.len(), members_listed, "{member}");
    }
    assert_eq!(group.state(), GroupState::CompletingRebalance);
    assert!(
        group.take_replies().is_empty(),
        "the parked sync still waits"
    );
    settle(&mut group, 3);
    assert_eq!(group.generation_id(), generation);
}

#[test]
fn a_pending_sync_fails_when_a_rebalance_starts() {
    let (mut group, _, follower, _) = leader_assigning(1);
    join_new(&mut group, 2);
    let replies = group.take_replies();
    assert!(replies.iter().any(|r| matches!(
        r,
        Reply::Sync { member_id, result } if *member_id == follower && result.error == Some(ResponseError::RebalanceInProgress)
    )));
}

#[test]
fn incompatible_protocols_are_refused() {
    let (mut group, _) = stable_group(1);
    let mut req = join_req("", None);
    req.protocols = vec![("roundrobin".to_owned(), Bytes::new())];
    let Outcome::Now(result) = group.join(req, 1) else {
        panic!()
    };
    assert_eq!(result.error, Some(ResponseError::InconsistentGroupProtocol));
}

/// A static member (`i-1`) and a dynamic one past their first join phase, in
/// CompletingRebalance; returns the group and the dynamic member's id.
fn static_and_dynamic_joined() -> (Group, String) {
    let mut group = Group::new("g", config(100));
    assert!(matches!(
        group.join(join_req("", Some("i-1")), 0),
        Outcome::Wait { .. }
    ));
    let dynamic = join_new(&mut group, 0);
    group.tick(100);
    join_replies(&mut group);
    (group, dynamic)
}

#[test]
fn a_static_member_restart_keeps_its_assignment_without_rebalancing() {
    let (mut group, b) = static_and_dynamic_joined();
    settle(&mut group, 0);
    let generation = group.generation_id();
    let old_id = group
        .members()
        .find(|m| m.group_instance_id.is_some())
        .map(|m| m.member_id.clone())
        .expect("static member");

    // Restart: same instance id, no member id, same subscription.
    let Outcome::Now(result) = group.join(join_req("", Some("i-1")), 1000) else {
        panic!("no rebalance expected")
    };
    assert_eq!(result.error, None);
    assert_eq!(result.generation_id, generation);
    assert_ne!(result.member_id, old_id);
    assert_eq!(group.state(), GroupState::Stable);
    let Outcome::Now(sync) = group.sync(sync_req(&result.member_id, generation, vec![]), 1001)
    else {
        panic!()
    };
    assert_eq!(
        sync.assignment,
        Bytes::from(old_id.clone()),
        "the assignment follows the instance"
    );

    // The old incarnation is fenced; the other member is undisturbed.
    assert_eq!(
        group.heartbeat(&old_id, Some("i-1"), generation, 1002),
        Err(ResponseError::FencedInstanceId)
    );
    assert_eq!(group.heartbeat(&b, None, generation, 1002), Ok(()));
}

/// Found by the simulator: a static member restarted while its group waited for the leader's
/// SyncGroup was told to keep an assignment that did not exist yet. As the leader it was told to
/// skip assigning, and every member got an empty assignment. Kafka rebalances instead.
#[test]
fn a_static_member_restart_during_completing_rebalance_rebalances() {
    let (mut group, b) = static_and_dynamic_joined();
    assert_eq!(group.state(), GroupState::CompletingRebalance);
    let generation = group.generation_id();
    assert!(matches!(
        group.sync(sync_req(&b, generation, vec![]), 100),
        Outcome::Wait { .. }
    ));

    // Restart before anyone has an assignment: same instance id, no member id.
    let outcome = group.join(join_req("", Some("i-1")), 200);
    let Outcome::Wait { member_id: new_id } = outcome else {
        panic!("expected a rebalance, got {outcome:?}")
    };
    assert_eq!(group.state(), GroupState::PreparingRebalance);
    let replies = group.take_replies();
    assert!(
        replies.contains(&Reply::Sync {
            member_id: b.clone(),
            result: SyncResult::error(ResponseError::RebalanceInProgress),
        }),
        "the parked SyncGroup learns of the rebalance: {replies:?}"
    );

    // Both rejoin; the next generation's leader assigns to the new id.
    assert!(matches!(
        group.join(join_req(&b, None), 300),
        Outcome::Wait { .. }
    ));
    let joined = join_replies(&mut group);
    assert_eq!(joined.len(), 2);
    assert!(joined.iter().any(|(id, _)| *id == new_id));
    settle(&mut group, 300);
    assert_eq!(group.generation_id(), generation + 1);
}

#[test]
fn a_static_member_that_times_out_is_removed() {
    let mut group = Group::new("g", config(0));
    assert!(matches!(
        group.join(join_req("", Some("i-1")), 0),
        Outcome::Wait { .. }
    ));
    group.tick(0);
    join_replies(&mut group);
    settle(&mut group, 0);
    group.tick(i64::from(SESSION_MS));
    assert_eq!(group.state(), GroupState::Empty);
    let results = group.leave(
        &[LeavingMember {
            member_id: String::new(),
            group_instance_id: Some("i-1".into()),
        }],
        1,
    );
    assert_eq!(results, Ok(vec![Err(ResponseError::UnknownMemberId)]));
}

#[test]
fn leave_by_instance_id_removes_the_static_member() {
    let mut group = Group::new("g", config(0));
    assert!(matches!(
        group.join(join_req("", Some("i-1")), 0),
        Outcome::Wait { .. }
    ));
    group.tick(0);
    join_replies(&mut group);
    let results = group.leave(
        &[LeavingMember {
            member_id: String::new(),
            group_instance_id: Some("i-1".into()),
        }],
        1,
    );
    assert_eq!(results, Ok(vec![Ok(())]));
    assert_eq!(group.state(), GroupState::Empty);
}

#[test]
fn unclaimed_member_ids_expire_and_do_not_block_the_join() {
    let (mut group, ids) = stable_group(1);
    let Outcome::Now(first) = group.join(join_req("", None), 10) else {
        panic!()
    };
    assert_eq!(first.error, Some(ResponseError::MemberIdRequired));
    // The new client never comes back with its id; the existing member rejoins (as leader).
    assert!(matches!(
        group.join(join_req(&ids[0], None), 20),
        Outcome::Wait { .. }
    ));
    assert!(
        join_replies(&mut group).is_empty(),
        "waits for the pending member id"
    );
    group.tick(10 + i64::from(SESSION_MS));
    assert_eq!(join_replies(&mut group).len(), 1);
    // A late return with the expired id is an unknown member.
    let Outcome::Now(late) = group.join(join_req(&first.member_id, None), 20_000) else {
        panic!()
    };
    assert_eq!(late.error, Some(ResponseError::UnknownMemberId));
}

#[test]
fn only_an_empty_group_can_be_deleted() {
    let (mut group, _) = stable_group(1);
    assert_eq!(group.mark_dead(), Err(ResponseError::NonEmptyGroup));
    let mut empty = Group::new("e", config(0));
    assert_eq!(empty.mark_dead(), Ok(()));
    let Outcome::Now(result) = empty.join(join_req("", None), 0) else {
        panic!()
    };
    assert_eq!(result.error, Some(ResponseError::CoordinatorNotAvailable));
}

#[test]
fn a_request_holding_a_deleted_group_is_sent_to_find_the_coordinator_again() {
    // Kafka answers COORDINATOR_NOT_AVAILABLE, so the client looks the coordinator up again
    // and meets the group that replaced this one; UNKNOWN_MEMBER_ID would make a committing
    // client give up its generation for a group that only just went away.
    let mut group = Group::new("g", config(0));
    assert_eq!(group.mark_dead(), Ok(()));
    let unavailable = ResponseError::CoordinatorNotAvailable;
    assert_eq!(group.heartbeat("m", None, 1, 0), Err(unavailable));
    assert_eq!(group.check_commit("m", None, 1, 0), Err(unavailable));
    assert_eq!(group.check_commit("", None, -1, 0), Err(unavailable));
    let leaving = [LeavingMember {
        member_id: "m".to_owned(),
        group_instance_id: None,
    }];
    assert_eq!(group.leave(&leaving, 0), Err(unavailable));
    let Outcome::Now(synced) = group.sync(sync_req("m", 1, Vec::new()), 0) else {
        panic!("a sync to a deleted group is answered at once")
    };
    assert_eq!(synced.error, Some(ResponseError::CoordinatorNotAvailable));
}

/// Kafka keeps a static member that misses a rebalance: it is expected back
/// under the same instance id, and only its session timeout removes it.
#[test]
fn a_static_member_that_misses_the_rebalance_deadline_keeps_its_place() {
    let mut group = Group::new("g", config(100));
    let mut restarting = join_req("", Some("i-1"));
    restarting.session_timeout_ms = 60_000;
    assert!(matches!(group.join(restarting, 0), Outcome::Wait { .. }));
    let b = join_new(&mut group, 0);
    group.tick(100);
    join_replies(&mut group);
    settle(&mut group, 100);
    let static_id = group
        .members()
        .find(|m| m.group_instance_id.is_some())
        .map(|m| m.member_id.clone())
        .expect("static member");

    // A new member joins and b rejoins; the static member is restarting and does not.
    let c = join_new(&mut group, 1000);
    assert!(matches!(
        group.join(join_req(&b, None), 1000),
        Outcome::Wait { .. }
    ));
    group.tick(1000 + i64::from(REBALANCE_MS));
    let replies = join_replies(&mut group);
    let mut answered: Vec<&str> = replies.iter().map(|(id, _)| id.as_str()).collect();
    answered.sort_unstable();
    let mut rejoined = vec![b.as_str(), c.as_str()];
    rejoined.sort_unstable();
    assert_eq!(
        answered, rejoined,
        "only members that rejoined are answered"
    );
    assert!(
        group.member(&static_id).is_some(),
        "the static member keeps its place"
    );
    let leader = group.leader().expect("leader").to_owned();
    assert!(rejoined.contains(&leader.as_str()), "the leader rejoined");
    let (_, led) = replies
        .iter()
        .find(|(id, _)| *id == leader)
        .expect("leader answered");
    assert_eq!(
        led.members.len(),
        3,
        "the leader assigns to the static member too"
    );

    // Its session, not the rebalance, ends it.
    group.tick(100 + 60_000);
    assert!(group.member(&static_id).is_none());
}

/// A member parked in SyncGroup waits on the leader, not the other way
/// round: its session must not run out while the leader assigns.
#[test]
fn a_member_awaiting_sync_is_not_expired_while_the_leader_assigns() {
    let (mut group, leader, follower, generation) = leader_assigning(100);
    let late = 100 + i64::from(SESSION_MS) + 2000;
    for now_ms in [6000, 11_000, late] {
        assert_eq!(group.heartbeat(&leader, None, generation, now_ms), Ok(()));
        group.tick(now_ms);
    }
    assert!(
        group.member(&follower).is_some(),
        "the parked follower is kept"
    );
    let assignments = vec![(follower.clone(), Bytes::from_static(b"p0"))];
    assert!(matches!(
        group.sync(sync_req(&leader, generation, assignments), late),
        Outcome::Wait { .. }
    ));
    let synced = group.take_replies();
    let answer = synced.iter().find_map(|r| match r {
        Reply::Sync { member_id, result } if *member_id == follower => Some(result),
        _ => None,
    });
    assert_eq!(
        answer.map(|r| (r.error, r.assignment.clone())),
        Some((None, Bytes::from_static(b"p0")))
    );
    // Answered, its session runs again from the answer.
    group.tick(late + i64::from(SESSION_MS) - 1);
    assert!(group.member(&follower).is_some());
    assert_eq!(group.state(), GroupState::Stable);
}

/// Kafka counts an OffsetCommit from a member as a heartbeat.
#[test]
fn an_offset_commit_keeps_the_session_alive() {
    let (mut group, ids) = stable_group(1);
    let generation = group.generation_id();
    let commit_ms = i64::from(SESSION_MS) - 1;
    assert_eq!(
        group.check_commit(&ids[0], None, generation, commit_ms),
        Ok(())
    );
    group.tick(i64::from(SESSION_MS));
    assert!(group.member(&ids[0]).is_some());
    group.tick(commit_ms + i64::from(SESSION_MS));
    assert!(group.member(&ids[0]).is_none());
}

#[test]
fn offset_commits_are_checked_against_the_group_state() {
    let mut group = Group::new("g", config(100));
    assert_eq!(
        group.check_commit("", None, -1, 0),
        Ok(()),
        "a self-assigning client"
    );
    assert_eq!(
        group.check_commit("m", None, 1, 0),
        Err(ResponseError::UnknownMemberId)
    );
    let a = join_new(&mut group, 0);
    group.tick(100);
    join_replies(&mut group);
    let generation = group.generation_id();
    assert_eq!(
        group.check_commit(&a, None, generation, 100),
        Err(ResponseError::RebalanceInProgress),
        "the leader has not assigned yet"
    );
    assert_eq!(
        group.check_commit(&a, None, generation + 1, 100),
        Err(ResponseError::IllegalGeneration)
    );
}

#[test]
fn a_dynamic_member_that_comes_back_with_an_instance_id_must_join_afresh() {
    // Kafka answers UNKNOWN_MEMBER_ID, so the client drops its member id and joins as a static
    // member; accepting it kept a member that thinks it is static but is not registered as one.
    let (mut group, ids) = stable_group(2);
    let generation = group.generation_id();
    let Outcome::Now(answer) = group.join(join_req(&ids[0], Some("i-1")), 10) else {
        panic!("answered at once")
    };
    assert_eq!(answer.error, Some(ResponseError::UnknownMemberId));
    assert_eq!(
        (group.state(), group.generation_id()),
        (GroupState::Stable, generation),
        "the group does not rebalance for it"
    );
    assert!(
        matches!(
            group.join(join_req("", Some("i-1")), 20),
            Outcome::Wait { .. }
        ),
        "joining afresh as a static member is a join like any other"
    );
}
