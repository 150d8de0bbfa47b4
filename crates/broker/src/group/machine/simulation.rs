//! A simulator for the group state machine: simulated clients join, sync, heartbeat, leave,
//! change subscriptions, go silent and restart in an order proptest chooses, while the clock
//! jumps. The invariants are checked after every step. At the end the survivors behave well,
//! and the group must settle with exactly them as members.
//!
//! The clients follow the classic consumer protocol as the Java client and librdkafka do. After
//! MEMBER_ID_REQUIRED, a client joins again with the id it was given. After UNKNOWN_MEMBER_ID it
//! joins again without an id. After REBALANCE_IN_PROGRESS or ILLEGAL_GENERATION it joins again
//! with its id. A leader assigns `"<generation>/<member id>"` to every member it was told of.
//!
//! A live client is never fenced here: only a restart after a crash reuses a static client's
//! `group.instance.id`, and by then the old incarnation is gone.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bytes::Bytes;
use kafka_protocol::ResponseError;
use proptest::prelude::*;

use super::*;

const SESSION_MS: i32 = 10_000;
const REBALANCE_MS: i32 = 20_000;
/// The settling phase sends heartbeats this often, well inside the session timeout.
const SETTLE_STEP_MS: i64 = 1_000;
/// Long enough for a silent member to expire (its session, then a rebalance timeout) twice over.
const SETTLE_ROUNDS: usize = 120;

#[derive(Clone, Debug)]
enum Op {
    /// The client takes its next step: join, sync, or heartbeat.
    Act(usize),
    /// The client sends a heartbeat whatever it is doing, even while a request is parked.
    Heartbeat(usize),
    Leave(usize),
    /// The client goes silent. Answers to its parked requests are lost with its connection.
    Crash(usize),
    /// A silent client starts again with no member id, keeping its `group.instance.id`.
    Restart(usize),
    /// The client changes its subscription, which it announces by joining again.
    Resubscribe(usize),
    Advance(i64),
}

#[derive(Clone, Debug, PartialEq)]
enum Phase {
    /// Not in a generation. The next step is a JoinGroup (with `member_id` if it has one).
    Out,
    /// Its JoinGroup is parked.
    Joining,
    /// It has a JoinGroup answer and must send SyncGroup.
    Joined {
        generation: i32,
        members: Option<Vec<String>>,
    },
    /// Its SyncGroup is parked.
    Syncing {
        generation: i32,
    },
    Stable {
        generation: i32,
        assignment: Bytes,
    },
}

#[derive(Debug)]
struct Client {
    client_id: String,
    instance: Option<String>,
    require_known_member_id: bool,
    member_id: String,
    subscription: u8,
    phase: Phase,
    alive: bool,
    /// Every member id it has held. A static member keeps its assignment under a new id.
    ids: Vec<String>,
}

impl Client {
    /// What the leader's assignment for a generation gives this client.
    fn assignment(&self, assigned: &BTreeMap<String, Bytes>) -> Bytes {
        let own = assigned.get(&self.member_id);
        let inherited = || {
            self.instance.as_ref()?;
            self.ids.iter().rev().find_map(|id| assigned.get(id))
        };
        own.or_else(inherited).cloned().unwrap_or_default()
    }

    /// The coordinator gave it `member_id`: it holds that id from now on.
    fn hold(&mut self, member_id: String) {
        if !self.ids.contains(&member_id) {
            self.ids.push(member_id.clone());
        }
        self.member_id = member_id;
    }

    /// An error that sends the client back to JoinGroup; after UNKNOWN_MEMBER_ID it joins
    /// without an id.
    fn rejoin_after(&mut self, error: ResponseError) {
        if error == ResponseError::UnknownMemberId {
            self.member_id.clear();
        }
        self.phase = Phase::Out;
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Parked {
    Join,
    Sync,
}

struct Sim {
    group: Group,
    clients: Vec<Client>,
    now_ms: i64,
    /// Every parked request not yet answered, by member id.
    parked: HashMap<String, Parked>,
    /// What each generation's leader assigned, by member id.
    assigned: BTreeMap<i32, BTreeMap<String, Bytes>>,
    last_generation: i32,
}

impl Sim {
    fn new(clients: usize, statics: usize, delay_ms: i64, known_id: bool) -> Sim {
        let config = GroupConfig {
            initial_rebalance_delay_ms: delay_ms,
            ..GroupConfig::default()
        };
        Sim {
            group: Group::new("g", config),
            clients: (0..clients)
                .map(|i| Client {
                    client_id: format!("c{i}"),
                    instance: (i < statics).then(|| format!("instance-{i}")),
                    require_known_member_id: known_id,
                    member_id: String::new(),
                    subscription: 0,
                    phase: Phase::Out,
                    alive: true,
                    ids: Vec::new(),
                })
                .collect(),
            now_ms: 0,
            parked: HashMap::new(),
            assigned: BTreeMap::new(),
            last_generation: 0,
        }
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Act(c) => self.act(c),
            Op::Heartbeat(c) => self.heartbeat(c),
            Op::Leave(c) => self.leave(c),
            Op::Crash(c) => self.clients[c].alive = false,
            Op::Restart(c) => {
                let client = &mut self.clients[c];
                if !client.alive {
                    client.alive = true;
                    client.member_id.clear();
                    client.phase = Phase::Out;
                }
            }
            Op::Resubscribe(c) => {
                let client = &mut self.clients[c];
                client.subscription = client.subscription.wrapping_add(1) % 3;
                if client.alive && matches!(client.phase, Phase::Stable { .. }) {
                    client.phase = Phase::Out;
                    self.act(c);
                }
            }
            Op::Advance(ms) => {
                self.now_ms += ms;
                self.group.tick(self.now_ms);
            }
        }
        self.deliver_replies();
        self.check_invariants();
    }

    fn act(&mut self, c: usize) {
        if !self.clients[c].alive {
            return;
        }
        match self.clients[c].phase.clone() {
            Phase::Out => self.join(c),
            Phase::Joined {
                generation,
                members,
            } => self.sync(c, generation, members),
            Phase::Stable { .. } => self.heartbeat(c),
            Phase::Joining | Phase::Syncing { .. } => {}
        }
    }

    fn join(&mut self, c: usize) {
        self.group.tick(self.now_ms);
        let client = &self.clients[c];
        let request = JoinRequest {
            member_id: client.member_id.clone(),
            group_instance_id: client.instance.clone(),
            client_id: client.client_id.clone(),
            client_host: "/127.0.0.1".to_owned(),
            session_timeout_ms: SESSION_MS,
            rebalance_timeout_ms: REBALANCE_MS,
            protocol_type: "consumer".to_owned(),
            protocols: vec![("range".to_owned(), Bytes::from(vec![client.subscription]))],
            require_known_member_id: client.require_known_member_id,
        };
        match self.group.join(request, self.now_ms) {
            Outcome::Now(result) => self.on_join(c, result),
            Outcome::Wait { member_id } => {
                self.park(&member_id, Parked::Join);
                let client = &mut self.clients[c];
                client.hold(member_id);
                client.phase = Phase::Joining;
            }
        }
    }

    fn sync(&mut self, c: usize, generation: i32, members: Option<Vec<String>>) {
        self.group.tick(self.now_ms);
        let member_id = self.clients[c].member_id.clone();
        let assignments: Vec<(String, Bytes)> = members
            .iter()
            .flatten()
            .map(|m| (m.clone(), Bytes::from(format!("{generation}/{m}"))))
            .collect();
        let request = SyncRequest {
            member_id: member_id.clone(),
            group_instance_id: self.clients[c].instance.clone(),
            generation_id: generation,
            protocol_type: Some("consumer".to_owned()),
            protocol_name: Some("range".to_owned()),
            assignments: assignments.clone(),
        };
        let state_before = self.group.state();
        let generation_before = self.group.generation_id();
        match self.group.sync(request, self.now_ms) {
            Outcome::Now(result) => self.on_sync(c, generation, result),
            Outcome::Wait { member_id: parked } => {
                assert_eq!(parked, member_id);
                self.park(&member_id, Parked::Sync);
                self.clients[c].phase = Phase::Syncing { generation };
            }
        }
        // Only the leader's SyncGroup during CompletingRebalance settles a generation.
        if members.is_some()
            && state_before == GroupState::CompletingRebalance
            && generation == generation_before
        {
            let map = assignments.into_iter().collect();
            assert!(
                self.assigned.insert(generation, map).is_none(),
                "generation {generation} was assigned twice"
            );
        }
    }

    fn heartbeat(&mut self, c: usize) {
        let client = &self.clients[c];
        if !client.alive || client.member_id.is_empty() {
            return;
        }
        let generation = match &client.phase {
            Phase::Joined { generation, .. }
            | Phase::Syncing { generation }
            | Phase::Stable { generation, .. } => *generation,
            Phase::Out | Phase::Joining => -1,
        };
        self.group.tick(self.now_ms);
        let result = self.group.heartbeat(
            &client.member_id,
            client.instance.as_deref(),
            generation,
            self.now_ms,
        );
        let client = &mut self.clients[c];
        match result {
            Ok(()) => {}
            Err(ResponseError::FencedInstanceId) => panic!("live client {c} was fenced"),
            // A client with a request parked waits for its answer instead.
            Err(error) if matches!(client.phase, Phase::Stable { .. } | Phase::Joined { .. }) => {
                client.rejoin_after(error)
            }
            Err(_) => {}
        }
    }

    fn leave(&mut self, c: usize) {
        let client = &self.clients[c];
        if !client.alive || client.member_id.is_empty() {
            return;
        }
        self.group.tick(self.now_ms);
        let leaving = [LeavingMember {
            member_id: client.member_id.clone(),
            group_instance_id: client.instance.clone(),
        }];
        let results = self
            .group
            .leave(&leaving, self.now_ms)
            .expect("nothing deletes this group");
        assert_eq!(results.len(), 1);
        if results[0] == Err(ResponseError::FencedInstanceId) {
            panic!("live client {c} was fenced on leaving");
        }
        // A parked request of a member that left is answered through the replies.
        let client = &mut self.clients[c];
        client.member_id.clear();
        client.phase = Phase::Out;
    }

    fn park(&mut self, member_id: &str, kind: Parked) {
        let previous = self.parked.insert(member_id.to_owned(), kind);
        assert_eq!(previous, None, "{member_id} parked twice");
    }

    fn deliver_replies(&mut self) {
        for reply in self.group.take_replies() {
            let (member_id, kind) = match &reply {
                Reply::Join { member_id, .. } => (member_id.clone(), Parked::Join),
                Reply::Sync { member_id, .. } => (member_id.clone(), Parked::Sync),
            };
            assert_eq!(
                self.parked.remove(&member_id),
                Some(kind),
                "a {kind:?} reply to {member_id}, which had no such request parked"
            );
            // The reply reaches the live client waiting for it under that id, if there is one.
            let waiting = self.clients.iter().position(|client| {
                client.alive
                    && client.member_id == member_id
                    && match kind {
                        Parked::Join => client.phase == Phase::Joining,
                        Parked::Sync => matches!(client.phase, Phase::Syncing { .. }),
                    }
            });
            match (reply, waiting) {
                (Reply::Join { result, .. }, Some(c)) => self.on_join(c, result),
                (Reply::Sync { result, .. }, Some(c)) => {
                    let Phase::Syncing { generation } = self.clients[c].phase else {
                        unreachable!("matched above")
                    };
                    self.on_sync(c, generation, result);
                }
                (_, None) => {}
            }
        }
    }

    fn on_join(&mut self, c: usize, result: JoinResult) {
        let client = &mut self.clients[c];
        match result.error {
            None => {
                assert!(
                    result.generation_id >= 1,
                    "joined generation {}",
                    result.generation_id
                );
                let is_leader = result.leader == result.member_id;
                assert_eq!(
                    is_leader,
                    !result.members.is_empty(),
                    "only the leader gets the member list: {result:?}"
                );
                client.hold(result.member_id.clone());
                // A static leader that rejoined a settled group is told to keep the assignment:
                // it syncs with none, as a follower does.
                let members = (is_leader && !result.skip_assignment)
                    .then(|| result.members.iter().map(|m| m.member_id.clone()).collect());
                client.phase = Phase::Joined {
                    generation: result.generation_id,
                    members,
                };
            }
            Some(ResponseError::MemberIdRequired) => {
                client.member_id = result.member_id;
                client.phase = Phase::Out;
            }
            Some(
                error @ (ResponseError::UnknownMemberId
                | ResponseError::RebalanceInProgress
                | ResponseError::IllegalGeneration),
            ) => client.rejoin_after(error),
            Some(other) => panic!("client {c} got {other:?} from JoinGroup"),
        }
    }

    fn on_sync(&mut self, c: usize, generation: i32, result: SyncResult) {
        let client = &mut self.clients[c];
        match result.error {
            None => {
                let assigned = self
                    .assigned
                    .get(&generation)
                    .unwrap_or_else(|| panic!("generation {generation} synced before its leader"));
                let expected = client.assignment(assigned);
                assert_eq!(
                    result.assignment, expected,
                    "client {c}, generation {generation}"
                );
                client.phase = Phase::Stable {
                    generation,
                    assignment: result.assignment,
                };
            }
            Some(
                error @ (ResponseError::UnknownMemberId
                | ResponseError::RebalanceInProgress
                | ResponseError::IllegalGeneration),
            ) => client.rejoin_after(error),
            Some(other) => panic!("client {c} got {other:?} from SyncGroup"),
        }
    }

    fn check_invariants(&mut self) {
        let group = &self.group;
        let generation = group.generation_id();
        assert!(
            generation >= self.last_generation,
            "generation went back from {} to {generation}",
            self.last_generation
        );
        self.last_generation = generation;
        match group.state() {
            GroupState::Empty => assert_eq!(group.members().count(), 0),
            GroupState::CompletingRebalance | GroupState::Stable => {
                let leader = group.leader().expect("a settled group has a leader");
                assert!(
                    group.member(leader).is_some(),
                    "leader {leader} is not a member"
                );
            }
            GroupState::PreparingRebalance => {}
            GroupState::Dead => panic!("nothing deletes this group"),
        }
        // Every parked request is one the machine still owes an answer, and the other way round.
        for member in group.members() {
            let parked = self.parked.get(&member.member_id).copied();
            assert_eq!(
                member.awaiting_join,
                parked == Some(Parked::Join),
                "{member:?}"
            );
            assert_eq!(
                member.awaiting_sync,
                parked == Some(Parked::Sync),
                "{member:?}"
            );
        }
        for member_id in self.parked.keys() {
            assert!(
                group.member(member_id).is_some(),
                "{member_id} is parked but not a member"
            );
        }
        let mut ids = BTreeSet::new();
        for client in self
            .clients
            .iter()
            .filter(|c| c.alive && !c.member_id.is_empty())
        {
            assert!(
                ids.insert(&client.member_id),
                "two clients hold {}",
                client.member_id
            );
        }
    }

    /// The survivors behave: each takes its next step every second. The group must settle with
    /// exactly them, each holding its assignment from the current generation.
    fn settle(&mut self) {
        for _ in 0..SETTLE_ROUNDS {
            for c in 0..self.clients.len() {
                self.apply(&Op::Act(c));
            }
            if self.settled() {
                return;
            }
            self.apply(&Op::Advance(SETTLE_STEP_MS));
        }
        panic!(
            "not settled after {SETTLE_ROUNDS} s: {:?} generation {}, members {:?}, clients {:#?}",
            self.group.state(),
            self.group.generation_id(),
            self.group
                .members()
                .map(|m| &m.member_id)
                .collect::<Vec<_>>(),
            self.clients
        );
    }

    fn settled(&self) -> bool {
        let generation = self.group.generation_id();
        let live: BTreeSet<&String> = self
            .clients
            .iter()
            .filter(|c| c.alive)
            .map(|c| &c.member_id)
            .collect();
        let members: BTreeSet<&String> = self.group.members().map(|m| &m.member_id).collect();
        if live.is_empty() {
            return self.group.state() == GroupState::Empty && members.is_empty();
        }
        let Some(assigned) = self.assigned.get(&generation) else {
            return false;
        };
        self.group.state() == GroupState::Stable
            && live == members
            && self.clients.iter().filter(|c| c.alive).all(|c| {
                let assignment = c.assignment(assigned);
                !assignment.is_empty()
                    && c.phase
                        == Phase::Stable {
                            generation,
                            assignment,
                        }
            })
    }
}

fn op(clients: usize) -> impl Strategy<Value = Op> {
    let c = 0..clients;
    prop_oneof![
        6 => c.clone().prop_map(Op::Act),
        1 => c.clone().prop_map(Op::Heartbeat),
        1 => c.clone().prop_map(Op::Leave),
        1 => c.clone().prop_map(Op::Crash),
        1 => c.clone().prop_map(Op::Restart),
        1 => c.prop_map(Op::Resubscribe),
        3 => prop_oneof![0..500i64, 0..15_000i64, 0..40_000i64].prop_map(Op::Advance),
    ]
}

fn scenario() -> impl Strategy<Value = (usize, usize, i64, bool, Vec<Op>)> {
    (1usize..=5).prop_flat_map(|clients| {
        (
            Just(clients),
            0..=clients,
            prop_oneof![Just(0i64), Just(3_000i64)],
            any::<bool>(),
            proptest::collection::vec(op(clients), 0..120),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn random_clients_never_break_the_group_and_the_survivors_settle(
        (clients, statics, delay_ms, known_id, ops) in scenario()
    ) {
        let mut sim = Sim::new(clients, statics, delay_ms, known_id);
        for op in &ops {
            sim.apply(op);
        }
        sim.settle();
    }
}
