//! `ferrolog group reset-offsets`: which partitions (a topic, one partition
//! of it, or every topic the group has offsets for), where to (a position,
//! a shift from the committed offset, or the committed offset itself), and
//! the plan, applied only with `--execute`.

use std::collections::BTreeMap;

use ferrolog_client::client::SharedConnection;
use ferrolog_client::{Client, OffsetSpec};
use serde_json::json;

use crate::args::Global;
use crate::output::{count, emit, table};
use crate::timespec::StartSpec;

/// Where each selected partition's committed offset goes (Kafka's
/// `--to-*`, `--shift-by` and `--to-current`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    To(StartSpec),
    /// The committed offset plus N, clamped into the partition.
    ShiftBy(i64),
    /// The committed offset as it is; the end where there is none.
    Current,
}

/// Which partitions are reset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Topic {
        topic: String,
        partition: Option<i32>,
    },
    /// Every partition the group has a committed offset for.
    AllTopics,
}

/// Committed offsets by topic and partition, as the client returns them.
type Committed = BTreeMap<(String, i32), i64>;

/// One partition of the plan: the committed offset before and after.
struct PlanRow {
    topic: String,
    partition: i32,
    current: Option<i64>,
    new: i64,
}

pub async fn reset(
    global: &Global,
    client: &Client,
    group: &str,
    (scope, target): (Scope, Target),
    execute: bool,
) -> anyhow::Result<()> {
    let coordinator = client.coordinator_connection(group).await?;
    let described = client.describe_group(&coordinator, group).await?;
    if !described.members.is_empty() {
        anyhow::bail!(
            "group {group:?} has {} (state {}); stop its consumers before resetting offsets",
            count(described.members.len(), "active member"),
            described.state
        );
    }
    let (partitions, committed) = select(client, &coordinator, group, &scope).await?;
    if let Target::ShiftBy(_) = target {
        check_shift_base(group, &partitions, &committed)?;
    }
    let mut plan = Vec::new();
    for (topic, parts) in &partitions {
        let targets = resolve_targets(client, topic, parts, &committed, target).await?;
        plan.extend(targets.into_iter().map(|(partition, new)| PlanRow {
            topic: topic.clone(),
            partition,
            current: committed.get(&(topic.clone(), partition)).copied(),
            new,
        }));
    }
    if execute {
        for topic in partitions.keys() {
            let offsets: Vec<(i32, i64)> = plan
                .iter()
                .filter(|r| &r.topic == topic)
                .map(|r| (r.partition, r.new))
                .collect();
            client
                .commit_offsets(&coordinator, group, -1, "", topic, &offsets)
                .await?;
        }
    }
    print_plan(global, group, &scope, &plan, execute)
}

/// The partitions to reset, per topic, and the group's committed offsets for them.
async fn select(
    client: &Client,
    coordinator: &SharedConnection,
    group: &str,
    scope: &Scope,
) -> anyhow::Result<(BTreeMap<String, Vec<i32>>, Committed)> {
    match scope {
        Scope::Topic { topic, partition } => {
            let meta = client.refresh_topic(topic).await?;
            let parts: Vec<i32> = match *partition {
                Some(p) if meta.partitions.iter().any(|m| m.partition == p) => vec![p],
                Some(p) => anyhow::bail!(
                    "topic {topic:?} has {} partitions; --partition {p} does not exist",
                    meta.partitions.len()
                ),
                None => meta.partitions.iter().map(|p| p.partition).collect(),
            };
            let committed = client
                .committed_offsets(coordinator, group, Some((topic, &parts)))
                .await?;
            Ok((BTreeMap::from([(topic.clone(), parts)]), committed))
        }
        Scope::AllTopics => {
            let committed = client.committed_offsets(coordinator, group, None).await?;
            if committed.is_empty() {
                anyhow::bail!(
                    "group {group:?} has no committed offsets; name the topic to reset with --topic"
                );
            }
            let mut parts: BTreeMap<String, Vec<i32>> = BTreeMap::new();
            for (topic, p) in committed.keys() {
                parts.entry(topic.clone()).or_default().push(*p);
            }
            Ok((parts, committed))
        }
    }
}

/// `--shift-by` needs a committed offset to shift from in every partition:
/// refused before anything is resolved or printed, as Kafka's tool refuses,
/// rather than guessing a base and moving the group somewhere unasked.
fn check_shift_base(
    group: &str,
    partitions: &BTreeMap<String, Vec<i32>>,
    committed: &Committed,
) -> anyhow::Result<()> {
    for (topic, parts) in partitions {
        if let Some(p) = parts
            .iter()
            .find(|&&p| !committed.contains_key(&(topic.clone(), p)))
        {
            anyhow::bail!(
                "group {group:?} has no committed offset for {topic}-{p} to shift; \
                 reset it with --to, or leave it out with --partition"
            );
        }
    }
    Ok(())
}

/// The new offset per partition of `topic`. An explicit offset or a shifted
/// one is clamped into the partition's range, with a warning on stderr (see
/// [`clamp_target`]); the committed offset kept by `--to-current` is not,
/// as Kafka's tool leaves it too.
async fn resolve_targets(
    client: &Client,
    topic: &str,
    partitions: &[i32],
    committed: &Committed,
    target: Target,
) -> anyhow::Result<BTreeMap<i32, i64>> {
    let earliest = offsets(client, topic, partitions, OffsetSpec::Earliest).await?;
    let latest = offsets(client, topic, partitions, OffsetSpec::Latest).await?;
    let by_time = match target {
        Target::To(StartSpec::TimestampMs(ms)) => {
            offsets(client, topic, partitions, OffsetSpec::Timestamp(ms)).await?
        }
        _ => BTreeMap::new(),
    };
    let clamped = |p: i32, requested: i64, range: (i64, i64)| {
        let (applied, warning) = clamp_target(topic, p, requested, range);
        if let Some(warning) = warning {
            eprintln!("warning: {warning}");
        }
        applied
    };
    let mut targets = BTreeMap::new();
    for &p in partitions {
        let lo = earliest.get(&p).copied().unwrap_or(0);
        let hi = latest.get(&p).copied().unwrap_or(0);
        let current = committed.get(&(topic.to_owned(), p)).copied();
        let new = match target {
            Target::To(StartSpec::Beginning) => lo,
            Target::To(StartSpec::End) => hi,
            Target::To(StartSpec::Offset(o)) => clamped(p, o, (lo, hi)),
            Target::To(StartSpec::TimestampMs(_)) => {
                by_time.get(&p).copied().filter(|&o| o >= 0).unwrap_or(hi)
            }
            // check_shift_base has made sure there is a committed offset.
            Target::ShiftBy(n) => clamped(p, current.unwrap_or(lo).saturating_add(n), (lo, hi)),
            Target::Current => current.unwrap_or(hi),
        };
        targets.insert(p, new);
    }
    Ok(targets)
}

/// One ListOffsets lookup of `spec` for every partition of `partitions`.
async fn offsets(
    client: &Client,
    topic: &str,
    partitions: &[i32],
    spec: OffsetSpec,
) -> anyhow::Result<BTreeMap<i32, i64>> {
    let lookup: Vec<(i32, OffsetSpec)> = partitions.iter().map(|&p| (p, spec)).collect();
    Ok(client
        .list_offsets(topic, &lookup)
        .await?
        .iter()
        .map(|o| (o.partition, o.offset))
        .collect())
}

/// A requested offset outside the partition's `lo..=hi` is clamped into it,
/// as Kafka's `kafka-consumer-groups.sh` does. Returns the offset applied
/// and, when it is not the one asked for, a warning that says so: a reset
/// that lands somewhere else than asked must not pass unnoticed.
fn clamp_target(
    topic: &str,
    partition: i32,
    requested: i64,
    (lo, hi): (i64, i64),
) -> (i64, Option<String>) {
    let hi = hi.max(lo);
    let applied = requested.clamp(lo, hi);
    let warning = match requested {
        r if r > hi => Some(format!(
            "{topic}-{partition}: offset {requested} is past the end of the partition ({hi}); using {applied}"
        )),
        r if r < lo => Some(format!(
            "{topic}-{partition}: offset {requested} is below the log start ({lo}); using {applied}"
        )),
        _ => None,
    };
    (applied, warning)
}

/// The plan as a table (or JSON: `topic` is the `--topic` given, null with
/// `--all-topics`; every row names its topic).
fn print_plan(
    global: &Global,
    group: &str,
    scope: &Scope,
    plan: &[PlanRow],
    execute: bool,
) -> anyhow::Result<()> {
    let topic = match scope {
        Scope::Topic { topic, .. } => Some(topic),
        Scope::AllTopics => None,
    };
    let rows: Vec<_> = plan
        .iter()
        .map(|r| json!({"topic": r.topic, "partition": r.partition, "current": r.current, "new": r.new}))
        .collect();
    let json = json!({"group": group, "topic": topic, "executed": execute, "plan": rows});
    emit(global.output, &json, || {
        let rows: Vec<Vec<String>> = plan
            .iter()
            .map(|r| {
                vec![
                    r.topic.clone(),
                    r.partition.to_string(),
                    r.current.map_or_else(|| "-".into(), |c| c.to_string()),
                    r.new.to_string(),
                ]
            })
            .collect();
        let mut text = table(&["TOPIC", "PARTITION", "CURRENT", "NEW"], &rows);
        text.push_str(if execute {
            "offsets reset"
        } else {
            "dry run: nothing changed (add --execute to apply)"
        });
        text
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_outside_the_partition_are_clamped_with_a_warning() {
        assert_eq!(clamp_target("t", 0, 2, (0, 3)), (2, None));
        assert_eq!(clamp_target("t", 0, 3, (0, 3)), (3, None));
        let (applied, warning) = clamp_target("t", 1, 100, (0, 3));
        assert_eq!(applied, 3);
        assert_eq!(
            warning.as_deref(),
            Some("t-1: offset 100 is past the end of the partition (3); using 3")
        );
        let (applied, warning) = clamp_target("t", 2, 1, (5, 9));
        assert_eq!(applied, 5);
        assert_eq!(
            warning.as_deref(),
            Some("t-2: offset 1 is below the log start (5); using 5")
        );
    }

    #[test]
    fn a_shift_needs_a_committed_offset_in_every_partition() {
        let parts = BTreeMap::from([("t".to_owned(), vec![0, 1])]);
        let committed = Committed::from([(("t".to_owned(), 0), 4)]);
        let err = check_shift_base("g", &parts, &committed).map_err(|e| e.to_string());
        assert_eq!(
            err,
            Err("group \"g\" has no committed offset for t-1 to shift; \
                 reset it with --to, or leave it out with --partition"
                .into())
        );
        let committed = Committed::from([(("t".to_owned(), 0), 4), (("t".to_owned(), 1), 0)]);
        assert!(check_shift_base("g", &parts, &committed).is_ok());
    }
}
