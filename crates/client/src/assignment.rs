//! The "consumer" protocol's payloads (a member's subscription, the leader's
//! assignment) and the range assignor the group leader runs.
//!
//! Wire form of both payloads: `{ version: i16 | struct encoded at that version }`.

use std::collections::BTreeMap;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedTopic;
use kafka_protocol::messages::{ConsumerProtocolAssignment, ConsumerProtocolSubscription};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use crate::client::topic_name;
use crate::error::{ClientError, boxed};

/// The protocol version we write; readers accept 0..=3.
const WRITE_VERSION: i16 = 0;
const READ_VERSION_MAX: i16 = 3;

/// A member's assignment: topic → partitions.
pub type Assignment = BTreeMap<String, Vec<i32>>;

pub fn encode_subscription(topics: &[String]) -> Result<Bytes, ClientError> {
    let sub = ConsumerProtocolSubscription::default().with_topics(
        topics
            .iter()
            .map(|t| StrBytes::from_string(t.clone()))
            .collect(),
    );
    let mut buf = BytesMut::new();
    buf.put_i16(WRITE_VERSION);
    sub.encode(&mut buf, WRITE_VERSION)
        .map_err(|e| ClientError::Payload {
            what: "subscription",
            source: boxed(e),
        })?;
    Ok(buf.freeze())
}

pub fn decode_subscription(mut bytes: Bytes) -> Result<Vec<String>, ClientError> {
    let version = read_version(&mut bytes, "subscription")?;
    let sub = ConsumerProtocolSubscription::decode(&mut bytes, version).map_err(|e| {
        ClientError::Payload {
            what: "subscription",
            source: boxed(e),
        }
    })?;
    Ok(sub.topics.iter().map(|t| t.as_str().to_owned()).collect())
}

pub fn encode_assignment(assignment: &Assignment) -> Result<Bytes, ClientError> {
    let topics = assignment
        .iter()
        .map(|(t, ps)| {
            AssignedTopic::default()
                .with_topic(topic_name(t))
                .with_partitions(ps.clone())
        })
        .collect();
    let value = ConsumerProtocolAssignment::default().with_assigned_partitions(topics);
    let mut buf = BytesMut::new();
    buf.put_i16(WRITE_VERSION);
    value
        .encode(&mut buf, WRITE_VERSION)
        .map_err(|e| ClientError::Payload {
            what: "assignment",
            source: boxed(e),
        })?;
    Ok(buf.freeze())
}

/// An empty payload is a valid "nothing assigned" (Kafka sends it to members
/// that joined after the leader computed the plan).
pub fn decode_assignment(mut bytes: Bytes) -> Result<Assignment, ClientError> {
    if bytes.is_empty() {
        return Ok(Assignment::new());
    }
    let version = read_version(&mut bytes, "assignment")?;
    let value = ConsumerProtocolAssignment::decode(&mut bytes, version).map_err(|e| {
        ClientError::Payload {
            what: "assignment",
            source: boxed(e),
        }
    })?;
    Ok(value
        .assigned_partitions
        .into_iter()
        .map(|t| (t.topic.0.as_str().to_owned(), t.partitions))
        .collect())
}

fn read_version(bytes: &mut Bytes, what: &'static str) -> Result<i16, ClientError> {
    if bytes.len() < 2 {
        return Err(ClientError::Payload {
            what,
            source: "shorter than its version field".into(),
        });
    }
    // A newer writer's extra fields are ignored by decoding at our newest version.
    Ok(bytes.get_i16().clamp(0, READ_VERSION_MAX))
}

/// Kafka's RangeAssignor: per topic, members subscribed to it sorted by id;
/// each gets a contiguous range, the first `n % m` one partition more.
pub fn range_assign(
    members: &[(String, Vec<String>)],
    partition_counts: &BTreeMap<String, i32>,
) -> BTreeMap<String, Assignment> {
    let mut plan: BTreeMap<String, Assignment> = members
        .iter()
        .map(|(m, _)| (m.clone(), Assignment::new()))
        .collect();
    for (topic, &count) in partition_counts {
        let mut subscribed: Vec<&String> = members
            .iter()
            .filter(|(_, topics)| topics.contains(topic))
            .map(|(m, _)| m)
            .collect();
        subscribed.sort();
        if subscribed.is_empty() || count <= 0 {
            continue;
        }
        let m = subscribed.len() as i32;
        let (per, extra) = (count / m, count % m);
        for (i, member) in subscribed.into_iter().enumerate() {
            let i = i as i32;
            let start = i * per + i.min(extra);
            let len = per + i32::from(i < extra);
            if len > 0 {
                let entry = plan.entry(member.clone()).or_default();
                entry.insert(topic.clone(), (start..start + len).collect());
            }
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_splits_like_kafka() {
        let members = vec![
            ("b".to_owned(), vec!["t".to_owned()]),
            ("a".to_owned(), vec!["t".to_owned()]),
        ];
        let counts = BTreeMap::from([("t".to_owned(), 5)]);
        let plan = range_assign(&members, &counts);
        assert_eq!(plan["a"]["t"], vec![0, 1, 2]);
        assert_eq!(plan["b"]["t"], vec![3, 4]);
    }

    #[test]
    fn more_members_than_partitions_leaves_some_idle() {
        let members: Vec<_> = ["a", "b", "c"]
            .iter()
            .map(|m| ((*m).to_owned(), vec!["t".to_owned()]))
            .collect();
        let plan = range_assign(&members, &BTreeMap::from([("t".to_owned(), 2)]));
        assert_eq!(plan["a"]["t"], vec![0]);
        assert_eq!(plan["b"]["t"], vec![1]);
        assert!(plan["c"].is_empty());
    }

    #[test]
    fn payloads_round_trip() {
        let topics = vec!["orders".to_owned(), "events".to_owned()];
        let sub = encode_subscription(&topics).expect("encode");
        assert_eq!(decode_subscription(sub).expect("decode"), topics);
        let a: Assignment = BTreeMap::from([("orders".to_owned(), vec![0, 2])]);
        let bytes = encode_assignment(&a).expect("encode");
        assert_eq!(decode_assignment(bytes).expect("decode"), a);
        assert!(decode_assignment(Bytes::new()).expect("empty").is_empty());
        assert!(matches!(
            decode_assignment(Bytes::from_static(b"\x00")),
            Err(ClientError::Payload { .. })
        ));
    }
}
