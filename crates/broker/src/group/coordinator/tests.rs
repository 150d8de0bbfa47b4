//! The async layer over the state machine: parked requests, commit checks, deletion, expiry.

use bytes::Bytes;
use ferrolog_storage::{Store, StoreOptions};

use super::*;

fn coordinator(retention_ms: i64) -> (tempfile::TempDir, Store, Arc<GroupCoordinator>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), StoreOptions::default()).expect("store");
    let offsets = OffsetStore::open(&store).expect("offsets");
    let config = CoordinatorConfig {
        group: GroupConfig {
            initial_rebalance_delay_ms: 0,
            ..GroupConfig::default()
        },
        offsets_retention_ms: retention_ms,
        idle_group_ms: 0,
    };
    (dir, store, GroupCoordinator::new(config, offsets))
}

fn join_req(member_id: &str) -> JoinRequest {
    JoinRequest {
        member_id: member_id.to_owned(),
        group_instance_id: None,
        client_id: "c".to_owned(),
        client_host: String::new(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 10_000,
        protocol_type: "consumer".to_owned(),
        protocols: vec![("range".to_owned(), Bytes::from_static(b"m"))],
        require_known_member_id: false,
    }
}

fn offset(offset: i64) -> CommittedOffset {
    CommittedOffset {
        offset,
        leader_epoch: -1,
        metadata: None,
        commit_timestamp_ms: 0,
    }
}

/// One member joins and syncs; returns its member id and generation.
async fn single_member_group(c: &GroupCoordinator, group: &str) -> (String, i32) {
    let joined = c.join(group, join_req("")).await;
    assert_eq!(joined.error, None);
    let sync = SyncRequest {
        member_id: joined.member_id.clone(),
        group_instance_id: None,
        generation_id: joined.generation_id,
        protocol_type: None,
        protocol_name: None,
        assignments: vec![(joined.member_id.clone(), Bytes::from_static(b"a"))],
    };
    let synced = c.sync(group, sync).await;
    assert_eq!(synced.error, None);
    assert_eq!(synced.assignment, Bytes::from_static(b"a"));
    (joined.member_id, joined.generation_id)
}

#[tokio::test]
async fn a_parked_join_is_answered_when_the_rebalance_completes() {
    let (_dir, _store, c) = coordinator(1000);
    let (first, generation) = single_member_group(&c, "g").await;
    // A second member parks until the first rejoins.
    let second = tokio::spawn({
        let c = c.clone();
        async move { c.join("g", join_req("")).await }
    });
    wait_for_state(&c, "g", GroupState::PreparingRebalance).await;
    assert_eq!(
        c.heartbeat("g", &first, None, generation),
        Err(ResponseError::RebalanceInProgress)
    );
    let rejoined = c.join("g", join_req(&first)).await;
    let second = second.await.expect("join task");
    assert_eq!(rejoined.generation_id, generation + 1);
    assert_eq!(second.generation_id, generation + 1);
    assert_eq!(rejoined.leader, first, "the old leader stays leader");
    assert_eq!(rejoined.members.len(), 2);
}

#[tokio::test]
async fn a_second_join_from_the_same_member_replaces_the_parked_one() {
    let (_dir, _store, c) = coordinator(1000);
    let (a, generation) = single_member_group(&c, "g").await;
    let spawn_join = |member: String| {
        let c = c.clone();
        tokio::spawn(async move { c.join("g", join_req(&member)).await })
    };
    let newcomer_first = spawn_join(String::new());
    wait_for_state(&c, "g", GroupState::PreparingRebalance).await;
    let newcomer = c
        .describe("g")
        .expect("group")
        .members
        .into_iter()
        .map(|m| m.member_id)
        .find(|id| *id != a);
    let newcomer = newcomer.expect("the newcomer is a member");
    wait_until_parked(&c, "g", &newcomer).await;
    // The newcomer joins again while parked: the later request replaces the earlier one.
    let newcomer_second = spawn_join(newcomer.clone());
    let first = newcomer_first.await.expect("task");
    assert_eq!(first.error, Some(ResponseError::RebalanceInProgress));
    let rejoined = c.join("g", join_req(&a)).await;
    assert_eq!(rejoined.generation_id, generation + 1);
    let second = newcomer_second.await.expect("task");
    assert_eq!((second.error, second.generation_id), (None, generation + 1));
}

async fn wait_for_state(c: &GroupCoordinator, group: &str, state: GroupState) {
    for _ in 0..200 {
        if c.describe(group).map(|g| g.state) == Some(state) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    panic!("group {group} never reached {state:?}");
}

async fn wait_until_parked(c: &GroupCoordinator, group: &str, member: &str) {
    for _ in 0..200 {
        let parked = c
            .slot(group)
            .is_some_and(|s| s.lock().unwrap_or_else(relock).joins.contains_key(member));
        if parked {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    panic!("{member} never parked");
}

#[tokio::test]
async fn commits_are_checked_against_membership_and_generation() {
    let (_dir, _store, c) = coordinator(1000);
    assert_eq!(
        c.check_commit("standalone", "", None, -1, 9),
        Ok(()),
        "a simple consumer may commit to an unknown group"
    );
    assert_eq!(
        c.check_commit("standalone", "m", None, 3, 8),
        Err(ResponseError::IllegalGeneration),
        "a generation of a group that does not exist is stale, before v9"
    );
    assert_eq!(
        c.check_commit("standalone", "m", None, 3, 9),
        Err(ResponseError::GroupIdNotFound),
        "and a missing group from v9 on"
    );
    c.commit_offsets("idle", vec![("t".into(), 0, offset(5))], |_| true)
        .expect("commit");
    assert_eq!(
        c.check_commit("idle", "m", None, 3, 9),
        Err(ResponseError::UnknownMemberId),
        "a group known by its offsets exists, empty"
    );
    let (member, generation) = single_member_group(&c, "g").await;
    assert_eq!(c.check_commit("g", &member, None, generation, 9), Ok(()));
    assert_eq!(
        c.check_commit("g", &member, None, generation - 1, 9),
        Err(ResponseError::IllegalGeneration)
    );
    assert_eq!(
        c.check_commit("g", "", None, -1, 9),
        Err(ResponseError::UnknownMemberId),
        "not while the group has members"
    );
}

#[tokio::test]
async fn only_empty_groups_are_deleted_and_their_offsets_go_with_them() {
    let (_dir, _store, c) = coordinator(1000);
    assert_eq!(
        c.delete_group("nobody"),
        Err(ResponseError::GroupIdNotFound)
    );
    let (member, _) = single_member_group(&c, "busy").await;
    assert_eq!(c.delete_group("busy"), Err(ResponseError::NonEmptyGroup));
    c.commit_offsets("idle", vec![("t".into(), 0, offset(5))], |_| true)
        .expect("commit");
    assert_eq!(c.describe("idle").map(|g| g.state), Some(GroupState::Empty));
    assert_eq!(c.delete_group("idle"), Ok(()));
    assert_eq!(c.offsets().fetch("idle", "t", 0), None);
    assert!(c.describe("idle").is_none());
    assert_eq!(
        c.leave(
            "busy",
            &[LeavingMember {
                member_id: member,
                group_instance_id: None
            }]
        ),
        Ok(vec![Ok(())])
    );
    assert_eq!(c.delete_group("busy"), Ok(()));
}

#[tokio::test]
async fn offsets_of_empty_groups_expire_and_active_groups_keep_theirs() {
    let (_dir, _store, c) = coordinator(0);
    let (member, generation) = single_member_group(&c, "active").await;
    assert_eq!(
        c.check_commit("active", &member, None, generation, 9),
        Ok(())
    );
    c.commit_offsets("active", vec![("t".into(), 0, offset(1))], |_| true)
        .expect("commit");
    c.commit_offsets("abandoned", vec![("t".into(), 0, offset(2))], |_| true)
        .expect("commit");
    assert_eq!(c.expire_offsets().expect("expire"), 1);
    assert_eq!(c.offsets().groups(), vec!["active".to_owned()]);
}

#[tokio::test]
async fn idle_empty_groups_without_offsets_are_forgotten() {
    let (_dir, _store, c) = coordinator(1000);
    for group in ["fleeting", "kept"] {
        let (member, _) = single_member_group(&c, group).await;
        let leaving = [LeavingMember {
            member_id: member,
            group_instance_id: None,
        }];
        assert_eq!(c.leave(group, &leaving), Ok(vec![Ok(())]));
    }
    c.commit_offsets("kept", vec![("t".into(), 0, offset(3))], |_| true)
        .expect("commit");
    c.forget_idle_groups();
    assert!(
        c.slot("fleeting").is_none(),
        "an idle group without offsets is forgotten"
    );
    assert!(c.slot("kept").is_some(), "a group with offsets stays");
    let again = c.join("fleeting", join_req("")).await;
    assert_eq!(again.error, None, "a forgotten group id can be used again");
}

/// A JoinGroup refused on a new group id still makes a slot; it used to stay forever, listed
/// as an Empty group, so anyone could grow the broker's memory with fresh group ids.
#[tokio::test]
async fn groups_that_never_had_a_member_are_forgotten() {
    let (_dir, _store, c) = coordinator(1000);
    for group in ["ghost-1", "ghost-2"] {
        let refused = c
            .join(
                group,
                JoinRequest {
                    session_timeout_ms: 1,
                    ..join_req("")
                },
            )
            .await;
        assert_eq!(refused.error, Some(ResponseError::InvalidSessionTimeout));
    }
    assert_eq!(c.list().len(), 2);
    c.forget_idle_groups();
    assert!(c.slot("ghost-1").is_none() && c.slot("ghost-2").is_none());
    assert!(c.list().is_empty());
}

/// DeleteGroups drops the group before it writes the tombstones, so a JoinGroup that arrives
/// afterwards gets a new group that stays.
#[tokio::test]
async fn a_group_joined_again_after_deletion_is_kept() {
    let (_dir, _store, c) = coordinator(1000);
    c.commit_offsets("g", vec![("t".into(), 0, offset(5))], |_| true)
        .expect("commit");
    let (member, _) = single_member_group(&c, "g").await;
    let leaving = [LeavingMember {
        member_id: member,
        group_instance_id: None,
    }];
    assert_eq!(c.leave("g", &leaving), Ok(vec![Ok(())]));
    assert_eq!(c.delete_group("g"), Ok(()));
    assert!(c.slot("g").is_none());
    let (_member, generation) = single_member_group(&c, "g").await;
    assert_eq!(generation, 1, "a new group");
    assert_eq!(c.describe("g").map(|g| g.state), Some(GroupState::Stable));
}

#[tokio::test]
async fn shutdown_answers_parked_requests_and_parks_nothing_more() {
    let (_dir, _store, c) = coordinator(1000);
    let (_first, _) = single_member_group(&c, "g").await;
    let parked = tokio::spawn({
        let c = c.clone();
        async move { c.join("g", join_req("")).await }
    });
    wait_for_state(&c, "g", GroupState::PreparingRebalance).await;
    c.shutdown();
    let answered = tokio::time::timeout(std::time::Duration::from_secs(5), parked)
        .await
        .expect("answered at once");
    assert_eq!(
        answered.expect("task").error,
        Some(ResponseError::NotCoordinator)
    );
    assert_eq!(
        c.join("g", join_req("")).await.error,
        Some(ResponseError::NotCoordinator)
    );
}
