//! Consumer groups end to end with librdkafka (the `rdkafka` crate): competing consumers,
//! hand-over on leave and on session expiry, pub/sub across groups, committed offsets across a
//! broker restart, and static membership.
#![allow(clippy::unwrap_used)]

mod common;
mod groups_support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use groups_support::{RawClient, SESSION_TIMEOUT_MS, TestBroker, eventually};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::{
    ApiKey, ConsumerProtocolSubscription, JoinGroupRequest, JoinGroupResponse, SyncGroupRequest,
    SyncGroupResponse,
};
use kafka_protocol::protocol::{Encodable, StrBytes};
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use tokio::task::JoinHandle;

/// A record as a consumer saw it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Seen {
    partition: i32,
    offset: i64,
    value: String,
}

/// A consumer polled by its own task, committing each record synchronously after reading it.
struct Member {
    consumer: Arc<StreamConsumer>,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: JoinHandle<()>,
}

impl Member {
    fn start(broker: &TestBroker, group: &str, topic: &str, extra: &[(&str, &str)]) -> Member {
        let mut config = broker.client_config();
        config
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", SESSION_TIMEOUT_MS)
            .set("heartbeat.interval.ms", "500")
            .set("topic.metadata.refresh.interval.ms", "1000");
        for (k, v) in extra {
            config.set(*k, *v);
        }
        let consumer: Arc<StreamConsumer> = Arc::new(config.create().expect("consumer"));
        consumer.subscribe(&[topic]).expect("subscribe");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let task = {
            let consumer = consumer.clone();
            let seen = seen.clone();
            tokio::spawn(async move {
                loop {
                    let Ok(Ok(message)) =
                        tokio::time::timeout(Duration::from_millis(200), consumer.recv()).await
                    else {
                        continue;
                    };
                    let value =
                        String::from_utf8_lossy(message.payload().unwrap_or_default()).into_owned();
                    let record = Seen {
                        partition: message.partition(),
                        offset: message.offset(),
                        value,
                    };
                    if consumer.commit_message(&message, CommitMode::Sync).is_ok() {
                        seen.lock().unwrap().push(record);
                    }
                }
            })
        };
        Member {
            consumer,
            seen,
            task,
        }
    }

    fn partitions(&self) -> BTreeSet<i32> {
        self.consumer
            .assignment()
            .map(|tpl| tpl.elements().iter().map(|e| e.partition()).collect())
            .unwrap_or_default()
    }

    fn values(&self) -> Vec<String> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .map(|s| s.value.clone())
            .collect()
    }

    /// Stop polling and close the consumer (a dynamic member sends LeaveGroup).
    async fn stop(self) {
        self.task.abort();
        drop(self.task.await);
        let consumer = Arc::try_unwrap(self.consumer)
            .ok()
            .expect("sole owner after the task ended");
        tokio::task::spawn_blocking(move || drop(consumer))
            .await
            .unwrap();
    }
}

fn producer(broker: &TestBroker) -> FutureProducer {
    broker
        .client_config()
        .set("linger.ms", "5")
        .set("message.timeout.ms", "20000")
        .create()
        .expect("producer")
}

/// Produce `count` records named `{prefix}-{i}`, spread round-robin over `partitions`.
async fn produce(broker: &TestBroker, topic: &str, partitions: i32, prefix: &str, count: usize) {
    let producer = producer(broker);
    let mut deliveries = Vec::new();
    for i in 0..count {
        let value = format!("{prefix}-{i}");
        let partition = i32::try_from(i).unwrap() % partitions;
        let record = FutureRecord::<(), _>::to(topic)
            .payload(&value)
            .partition(partition);
        deliveries.push(
            producer
                .send_result(record)
                .map_err(|(e, _)| e)
                .expect("queued"),
        );
    }
    for delivery in deliveries {
        delivery
            .await
            .expect("delivered")
            .map_err(|(e, _)| e)
            .expect("acked");
    }
}

/// Wait until the members' assignments are disjoint and cover `0..partitions`.
async fn wait_for_split(members: &[&Member], partitions: i32) -> Vec<BTreeSet<i32>> {
    eventually("a complete, disjoint assignment", || {
        let sets: Vec<BTreeSet<i32>> = members.iter().map(|m| m.partitions()).collect();
        let total: usize = sets.iter().map(BTreeSet::len).sum();
        let union: BTreeSet<i32> = sets.iter().flatten().copied().collect();
        let complete = union == (0..partitions).collect()
            && total == union.len()
            && sets.iter().all(|s| !s.is_empty());
        complete.then_some(sets)
    })
    .await
}

fn expected(prefix: &str, count: usize) -> BTreeSet<String> {
    (0..count).map(|i| format!("{prefix}-{i}")).collect()
}

/// Three consumers with `strategy` split a six-partition topic two partitions each and see
/// each record exactly once between them.
async fn three_consumers_split_six_partitions(strategy: &str) {
    let broker = TestBroker::start().await;
    common::create_topic(&broker, "orders", 6, &[]).await;
    let extra = [("partition.assignment.strategy", strategy)];
    let members: Vec<Member> = (0..3)
        .map(|_| Member::start(&broker, "billing", "orders", &extra))
        .collect();
    let refs: Vec<&Member> = members.iter().collect();
    let split = wait_for_split(&refs, 6).await;
    assert!(
        split.iter().all(|s| s.len() == 2),
        "{strategy}: each of 3 members gets 2 of 6 partitions: {split:?}"
    );
    let protocol = broker
        .server
        .groups
        .describe("billing")
        .map(|g| g.protocol_name);
    assert_eq!(
        protocol.as_deref(),
        Some(strategy),
        "the broker selected the members' assignor"
    );

    produce(&broker, "orders", 6, "order", 600).await;
    eventually("all 600 records", || {
        (members.iter().map(|m| m.values().len()).sum::<usize>() >= 600).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await; // any duplicate would arrive now

    let all: Vec<String> = members.iter().flat_map(Member::values).collect();
    assert_eq!(
        all.len(),
        600,
        "every record exactly once between the three"
    );
    assert_eq!(
        all.iter().cloned().collect::<BTreeSet<_>>(),
        expected("order", 600)
    );
    for (member, owned) in members.iter().zip(&split) {
        let read: BTreeSet<i32> = member
            .seen
            .lock()
            .unwrap()
            .iter()
            .map(|s| s.partition)
            .collect();
        assert!(
            read.is_subset(owned),
            "a member read only its own partitions"
        );
    }
    for member in members {
        member.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_range_consumers_split_a_topic_and_see_each_record_once() {
    three_consumers_split_six_partitions("range").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_roundrobin_consumers_split_a_topic_and_see_each_record_once() {
    three_consumers_split_six_partitions("roundrobin").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_cooperative_sticky_consumers_split_a_topic_and_see_each_record_once() {
    three_consumers_split_six_partitions("cooperative-sticky").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_leaving_member_hands_over_its_partitions_at_the_committed_offsets() {
    let broker = TestBroker::start().await;
    common::create_topic(&broker, "events", 6, &[]).await;
    let a = Member::start(&broker, "audit", "events", &[]);
    let b = Member::start(&broker, "audit", "events", &[]);
    wait_for_split(&[&a, &b], 6).await;
    produce(&broker, "events", 6, "first", 300).await;
    eventually("the first 300", || {
        (a.values().len() + b.values().len() >= 300).then_some(())
    })
    .await;

    let before_leave = b.values().len();
    a.stop().await;
    eventually("b owns all six partitions", || {
        (b.partitions().len() == 6).then_some(())
    })
    .await;
    produce(&broker, "events", 6, "second", 300).await;
    eventually("the second 300", || {
        (b.values().len() >= before_leave + 300).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let after: Vec<String> = b.values().split_off(before_leave);
    assert_eq!(
        after.len(),
        300,
        "nothing a committed before leaving was delivered again"
    );
    assert_eq!(
        after.into_iter().collect::<BTreeSet<_>>(),
        expected("second", 300)
    );
    b.stop().await;
}

/// The consumer-protocol subscription bytes a Java/librdkafka consumer would send.
fn subscription(topic: &str) -> bytes::Bytes {
    let mut out = BytesMut::new();
    out.put_i16(0);
    let sub = ConsumerProtocolSubscription::default()
        .with_topics(vec![StrBytes::from_string(topic.to_owned())]);
    sub.encode(&mut out, 0).unwrap();
    out.freeze()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_member_that_stops_heartbeating_expires_and_its_partitions_move() {
    let broker = TestBroker::start().await;
    common::create_topic(&broker, "metrics", 6, &[]).await;
    let live = Member::start(&broker, "dash", "metrics", &[]);
    eventually("the live member owns everything", || {
        (live.partitions().len() == 6).then_some(())
    })
    .await;

    // A raw member joins, takes its share, then never sends another request.
    let addr = broker.addr;
    let silent = tokio::spawn(async move {
        let mut client = RawClient::connect(addr).await;
        let mut join = JoinGroupRequest::default()
            .with_group_id(StrBytes::from_static_str("dash").into())
            .with_session_timeout_ms(6000)
            .with_rebalance_timeout_ms(10_000)
            .with_protocol_type(StrBytes::from_static_str("consumer"))
            .with_protocols(vec![
                JoinGroupRequestProtocol::default()
                    .with_name(StrBytes::from_static_str("range"))
                    .with_metadata(subscription("metrics")),
            ]);
        let first: JoinGroupResponse = client.call(ApiKey::JoinGroup, 5, &join).await;
        assert_eq!(first.error_code, 79, "MEMBER_ID_REQUIRED");
        join.member_id = first.member_id;
        let joined: JoinGroupResponse = client.call(ApiKey::JoinGroup, 5, &join).await;
        assert_eq!(joined.error_code, 0);
        let sync = SyncGroupRequest::default()
            .with_group_id(StrBytes::from_static_str("dash").into())
            .with_generation_id(joined.generation_id)
            .with_member_id(joined.member_id.clone());
        let synced: SyncGroupResponse = client.call(ApiKey::SyncGroup, 3, &sync).await;
        assert_eq!(synced.error_code, 0);
        assert!(
            !synced.assignment.is_empty(),
            "the leader assigned the raw member a share"
        );
        client // kept open and silent
    });
    eventually("the live member gave up half", || {
        (live.partitions().len() == 3).then_some(())
    })
    .await;
    let _silent_client = tokio::time::timeout(groups_support::TIMEOUT, silent)
        .await
        .unwrap()
        .unwrap();

    // Session timeout 6 s: the silent member is removed and the live one takes over.
    eventually("the live member owns everything again", || {
        (live.partitions().len() == 6).then_some(())
    })
    .await;
    produce(&broker, "metrics", 6, "m", 60).await;
    eventually("all 60 records", || {
        (live.values().len() >= 60).then_some(())
    })
    .await;
    assert_eq!(
        live.values().into_iter().collect::<BTreeSet<_>>(),
        expected("m", 60)
    );
    live.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_groups_each_receive_every_record() {
    let broker = TestBroker::start().await;
    common::create_topic(&broker, "news", 3, &[]).await;
    let a = Member::start(&broker, "readers-a", "news", &[]);
    let b = Member::start(&broker, "readers-b", "news", &[]);
    eventually("both groups assigned", || {
        (a.partitions().len() == 3 && b.partitions().len() == 3).then_some(())
    })
    .await;
    produce(&broker, "news", 3, "n", 100).await;
    eventually("both groups read all", || {
        (a.values().len() >= 100 && b.values().len() >= 100).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(a.values().len(), 100);
    assert_eq!(b.values().len(), 100);
    assert_eq!(
        a.values().into_iter().collect::<BTreeSet<_>>(),
        expected("n", 100)
    );
    assert_eq!(
        b.values().into_iter().collect::<BTreeSet<_>>(),
        expected("n", 100)
    );
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_consumer_resumes_from_its_committed_offset_after_a_broker_restart() {
    let broker = TestBroker::start().await;
    common::create_topic(&broker, "ledger", 1, &[]).await;
    produce(&broker, "ledger", 1, "l", 100).await;
    let first = Member::start(&broker, "accounts", "ledger", &[]);
    eventually("all 100 read and committed", || {
        (first.values().len() >= 100).then_some(())
    })
    .await;
    first.stop().await;

    let broker = broker.restart().await;
    let committed = broker
        .server
        .groups
        .offsets()
        .fetch("accounts", "ledger", 0)
        .map(|c| c.offset);
    assert_eq!(
        committed,
        Some(100),
        "the committed offset survived the restart"
    );
    produce(&broker, "ledger", 1, "after", 10).await;
    let second = Member::start(&broker, "accounts", "ledger", &[]);
    eventually("the 10 new records", || {
        (second.values().len() >= 10).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let seen = second.seen.lock().unwrap().clone();
    assert_eq!(
        seen.first().map(|s| s.offset),
        Some(100),
        "resumed at the committed offset"
    );
    assert_eq!(
        seen.iter()
            .map(|s| s.value.clone())
            .collect::<BTreeSet<_>>(),
        expected("after", 10)
    );
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn committed_offsets_survive_a_broker_crash() {
    let broker = TestBroker::start().await;
    common::create_topic(&broker, "journal", 2, &[]).await;
    produce(&broker, "journal", 2, "j", 50).await;
    let member = Member::start(&broker, "replay", "journal", &[]);
    eventually("all 50 read and committed", || {
        (member.values().len() >= 50).then_some(())
    })
    .await;
    member.stop().await;
    let before: Vec<Option<i64>> = (0..2)
        .map(|p| {
            broker
                .server
                .groups
                .offsets()
                .fetch("replay", "journal", p)
                .map(|c| c.offset)
        })
        .collect();
    assert_eq!(before, vec![Some(25), Some(25)]);

    let broker = broker.crash_and_restart().await;
    let after: Vec<Option<i64>> = (0..2)
        .map(|p| {
            broker
                .server
                .groups
                .offsets()
                .fetch("replay", "journal", p)
                .map(|c| c.offset)
        })
        .collect();
    assert_eq!(
        after, before,
        "every acknowledged commit survived the crash"
    );
    produce(&broker, "journal", 2, "late", 4).await;
    let again = Member::start(&broker, "replay", "journal", &[]);
    eventually("the 4 new records", || {
        (again.values().len() >= 4).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        again.values().into_iter().collect::<BTreeSet<_>>(),
        expected("late", 4)
    );
    again.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_static_member_restarting_quickly_keeps_the_group_stable() {
    let broker = TestBroker::start().await;
    common::create_topic(&broker, "static", 4, &[]).await;
    let a = Member::start(
        &broker,
        "fleet",
        "static",
        &[("group.instance.id", "node-a")],
    );
    let b = Member::start(
        &broker,
        "fleet",
        "static",
        &[("group.instance.id", "node-b")],
    );
    let split = wait_for_split(&[&a, &b], 4).await;
    let generation = |broker: &TestBroker| {
        broker
            .server
            .groups
            .describe("fleet")
            .map(|g| g.generation_id)
    };
    let before = generation(&broker);

    // A static member does not send LeaveGroup on close; it comes back within the session timeout.
    a.stop().await;
    let a2 = Member::start(
        &broker,
        "fleet",
        "static",
        &[("group.instance.id", "node-a")],
    );
    let back = eventually("the restarted member has its partitions", || {
        let p = a2.partitions();
        (!p.is_empty()).then_some(p)
    })
    .await;
    assert_eq!(back, split[0], "the same partitions as before the restart");
    assert_eq!(
        b.partitions(),
        split[1],
        "the other member was never disturbed"
    );
    assert_eq!(
        generation(&broker),
        before,
        "no rebalance: the generation did not change"
    );

    let members: BTreeMap<String, Option<String>> = broker
        .server
        .groups
        .describe("fleet")
        .unwrap()
        .members
        .into_iter()
        .map(|m| (m.member_id, m.group_instance_id))
        .collect();
    assert_eq!(
        members.len(),
        2,
        "the old incarnation was replaced, not added: {members:?}"
    );
    a2.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn admin_clients_list_describe_and_delete_groups() {
    let broker = TestBroker::start().await;
    common::create_topic(&broker, "admin-t", 2, &[]).await;
    produce(&broker, "admin-t", 2, "a", 10).await;
    let member = Member::start(
        &broker,
        "inspected",
        "admin-t",
        &[("client.id", "inspector")],
    );
    eventually("all 10 read and committed", || {
        (member.values().len() >= 10).then_some(())
    })
    .await;

    // ListGroups + DescribeGroups, as librdkafka does them.
    let consumer = member.consumer.clone();
    let described = tokio::task::spawn_blocking(move || {
        let groups = consumer
            .fetch_group_list(None, Duration::from_secs(10))
            .expect("group list");
        let group = groups
            .groups()
            .iter()
            .find(|g| g.name() == "inspected")
            .expect("listed");
        let member = group.members().first().expect("one member");
        (
            [group.state(), group.protocol_type(), group.protocol()].map(str::to_owned),
            group.members().len(),
            member.client_id().to_owned(),
            member.assignment().is_some_and(|a| !a.is_empty()),
        )
    })
    .await
    .unwrap();
    assert_eq!(
        described.0,
        ["Stable", "consumer", "range"].map(str::to_owned)
    );
    assert_eq!(
        (described.1, described.2.as_str(), described.3),
        (1, "inspector", true)
    );

    // Committed offsets as the consumer reads them back (OffsetFetch).
    let consumer = member.consumer.clone();
    let committed =
        tokio::task::spawn_blocking(move || consumer.committed(Duration::from_secs(10)))
            .await
            .unwrap();
    let committed: Vec<(i32, rdkafka::Offset)> = committed
        .expect("committed")
        .elements()
        .iter()
        .map(|e| (e.partition(), e.offset()))
        .collect();
    assert_eq!(
        committed,
        vec![
            (0, rdkafka::Offset::Offset(5)),
            (1, rdkafka::Offset::Offset(5))
        ]
    );

    let admin: rdkafka::admin::AdminClient<rdkafka::client::DefaultClientContext> =
        broker.client_config().create().expect("admin");
    let options = rdkafka::admin::AdminOptions::new();
    let busy = admin
        .delete_groups(&["inspected"], &options)
        .await
        .expect("delete groups");
    assert!(busy[0].is_err(), "a group with members cannot be deleted");
    member.stop().await;
    let deleted = admin
        .delete_groups(&["inspected"], &options)
        .await
        .expect("delete groups");
    assert!(deleted[0].is_ok(), "{deleted:?}");
    assert!(
        broker
            .server
            .groups
            .offsets()
            .group_offsets("inspected")
            .is_empty(),
        "its offsets went with it"
    );
}
