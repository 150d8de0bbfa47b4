//! `ferrolog group list|describe|reset-offsets|delete`.

use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;

use ferrolog_client::group_admin::DescribedGroup;
use ferrolog_client::{Client, ClientError, OffsetSpec};
use serde_json::json;

use crate::args::{Global, GroupCommand};
use crate::output::{count, emit, table};
use crate::timespec::StartSpec;

pub async fn run(
    global: &Global,
    client: &Client,
    command: GroupCommand,
) -> anyhow::Result<ExitCode> {
    match command {
        GroupCommand::List => list(global, client).await?,
        GroupCommand::Describe { group } => describe(global, client, &group).await?,
        GroupCommand::ResetOffsets {
            group,
            topic,
            to,
            partition,
            dry_run: _,
            execute,
        } => {
            reset(global, client, &group, &topic, to, partition, execute).await?;
        }
        GroupCommand::Delete { group } => {
            let coordinator = client.coordinator_connection(&group).await?;
            client.delete_group(&coordinator, &group).await?;
            emit(global.output, &json!({"deleted": group}), || {
                format!("deleted group {group}")
            })?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn list(global: &Global, client: &Client) -> anyhow::Result<()> {
    let groups = client.list_groups().await?;
    let json = json!(
        groups
            .iter()
            .map(|g| json!({"group": g.group, "state": g.state, "protocol_type": g.protocol_type}))
            .collect::<Vec<_>>()
    );
    emit(global.output, &json, || {
        let rows: Vec<Vec<String>> = groups
            .iter()
            .map(|g| vec![g.group.clone(), g.state.clone(), g.protocol_type.clone()])
            .collect();
        // The protocol type (consumer, connect), not PROTOCOL: `describe` uses that word for the
        // assignor (range), as DescribeGroups does. Not TYPE either: Kafka's tools show the group
        // type (Classic, Consumer) under TYPE.
        table(&["GROUP", "STATE", "PROTOCOL-TYPE"], &rows)
    })
}

/// One row of `describe`: committed vs end offset of one partition.
struct LagRow {
    topic: String,
    partition: i32,
    committed: Option<i64>,
    end: i64,
    owner: Option<String>,
}

impl LagRow {
    /// Negative when the committed offset is past the end (a bad commit, or a
    /// topic created again under a running consumer): shown as it is, as Kafka's tool
    /// does, since a lag of 0 would hide the mistake.
    fn lag(&self) -> Option<i64> {
        self.committed.map(|c| self.end.saturating_sub(c))
    }
}

/// The records the group has still to read: negative lags are left out, as
/// they would hide as much real lag elsewhere. Returns the total and how many
/// partitions were left out.
fn total_lag(rows: &[LagRow]) -> (i64, usize) {
    let (mut total, mut past_end) = (0i64, 0);
    for lag in rows.iter().filter_map(LagRow::lag) {
        if lag < 0 {
            past_end += 1;
        } else {
            total = total.saturating_add(lag);
        }
    }
    (total, past_end)
}

async fn describe(global: &Global, client: &Client, group: &str) -> anyhow::Result<()> {
    let coordinator = client.coordinator_connection(group).await?;
    let described = client.describe_group(&coordinator, group).await?;
    let committed = client.committed_offsets(&coordinator, group, None).await?;
    let mut owners: BTreeMap<(String, i32), String> = BTreeMap::new();
    for m in &described.members {
        for (topic, parts) in &m.assignment {
            for &p in parts {
                owners.insert((topic.clone(), p), m.member_id.clone());
            }
        }
    }
    if committed.is_empty()
        && described.members.is_empty()
        && matches!(described.state.as_str(), "Dead" | "")
    {
        return Err(ClientError::UnknownGroup {
            group: group.to_owned(),
        }
        .into());
    }
    let rows = lag_rows(client, &committed, &owners).await?;
    let (total, past_end) = total_lag(&rows);
    let members: Vec<_> = described
        .members
        .iter()
        .map(|m| {
            json!({"member_id": m.member_id, "client_id": m.client_id, "client_host": m.client_host,
                   "assignment": m.assignment})
        })
        .collect();
    let offsets: Vec<_> = rows
        .iter()
        .map(|r| {
            json!({"topic": r.topic, "partition": r.partition, "committed": r.committed, "end": r.end,
                   "lag": r.lag(), "member_id": r.owner})
        })
        .collect();
    let json = json!({"group": group, "state": described.state, "protocol": described.protocol,
                      "members": members, "offsets": offsets, "total_lag": total});
    emit(global.output, &json, || {
        describe_text(&described, &rows, (total, past_end))
    })
}

/// One row per partition that is committed or assigned, with its end offset.
async fn lag_rows(
    client: &Client,
    committed: &BTreeMap<(String, i32), i64>,
    owners: &BTreeMap<(String, i32), String>,
) -> anyhow::Result<Vec<LagRow>> {
    let keys: BTreeSet<&(String, i32)> = committed.keys().chain(owners.keys()).collect();
    let topics: BTreeSet<&String> = keys.iter().map(|(t, _)| t).collect();
    let mut rows = Vec::with_capacity(keys.len());
    for topic in topics {
        let parts: Vec<(i32, OffsetSpec)> = keys
            .iter()
            .filter(|(t, _)| t == topic)
            .map(|(_, p)| (*p, OffsetSpec::Latest))
            .collect();
        for end in client.list_offsets(topic, &parts).await? {
            let key = (topic.clone(), end.partition);
            rows.push(LagRow {
                topic: topic.clone(),
                partition: end.partition,
                committed: committed.get(&key).copied(),
                end: end.offset,
                owner: owners.get(&key).cloned(),
            });
        }
    }
    Ok(rows)
}

fn describe_text(
    described: &DescribedGroup,
    rows: &[LagRow],
    (total, past_end): (i64, usize),
) -> String {
    let protocol = if described.protocol.is_empty() {
        "-"
    } else {
        &described.protocol
    };
    let mut text = format!(
        "group {}: {} ({}, protocol {protocol})\n",
        described.group,
        described.state,
        count(described.members.len(), "member")
    );
    let member_rows: Vec<Vec<String>> = described
        .members
        .iter()
        .map(|m| {
            let assigned: Vec<String> = m
                .assignment
                .iter()
                .map(|(t, ps)| format!("{t}{ps:?}"))
                .collect();
            vec![
                m.member_id.clone(),
                m.client_id.clone(),
                m.client_host.clone(),
                assigned.join(" "),
            ]
        })
        .collect();
    if !member_rows.is_empty() {
        text.push_str(&table(
            &["MEMBER", "CLIENT", "HOST", "ASSIGNMENT"],
            &member_rows,
        ));
        text.push('\n');
    }
    let dash = |v: Option<i64>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
    let offset_rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let owner = r.owner.clone().unwrap_or_else(|| "-".into());
            vec![
                r.topic.clone(),
                r.partition.to_string(),
                dash(r.committed),
                r.end.to_string(),
                dash(r.lag()),
                owner,
            ]
        })
        .collect();
    text.push_str(&table(
        &["TOPIC", "PARTITION", "COMMITTED", "END", "LAG", "MEMBER"],
        &offset_rows,
    ));
    text.push_str(&format!("total lag: {total}"));
    if past_end > 0 {
        text.push_str(&format!(
            " (leaves out {} committed past the end)",
            count(past_end, "partition")
        ));
    }
    text
}

async fn reset(
    global: &Global,
    client: &Client,
    group: &str,
    topic: &str,
    to: StartSpec,
    partition: Option<i32>,
    execute: bool,
) -> anyhow::Result<()> {
    let meta = client.refresh_topic(topic).await?;
    let partitions: Vec<i32> = match partition {
        Some(p) if meta.partitions.iter().any(|m| m.partition == p) => vec![p],
        Some(p) => anyhow::bail!(
            "topic {topic:?} has {} partitions; --partition {p} does not exist",
            meta.partitions.len()
        ),
        None => meta.partitions.iter().map(|p| p.partition).collect(),
    };
    let coordinator = client.coordinator_connection(group).await?;
    let described = client.describe_group(&coordinator, group).await?;
    if !described.members.is_empty() {
        anyhow::bail!(
            "group {group:?} has {} (state {}); stop its consumers before resetting offsets",
            count(described.members.len(), "active member"),
            described.state
        );
    }
    let committed = client
        .committed_offsets(&coordinator, group, Some((topic, &partitions)))
        .await?;
    let targets = resolve_targets(client, topic, &partitions, to).await?;
    let plan: Vec<_> = partitions.iter().map(|&p| json!({
        "partition": p, "current": committed.get(&(topic.to_owned(), p)), "new": targets.get(&p),
    })).collect();
    if execute {
        let offsets: Vec<(i32, i64)> = targets.iter().map(|(&p, &o)| (p, o)).collect();
        client
            .commit_offsets(&coordinator, group, -1, "", topic, &offsets)
            .await?;
    }
    let json = json!({"group": group, "topic": topic, "executed": execute, "plan": plan});
    emit(global.output, &json, || {
        let rows: Vec<Vec<String>> = plan
            .iter()
            .map(|r| {
                vec![
                    topic.to_owned(),
                    r["partition"].to_string(),
                    if r["current"].is_null() {
                        "-".into()
                    } else {
                        r["current"].to_string()
                    },
                    r["new"].to_string(),
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

/// The new offset per partition; an explicit offset is clamped into the
/// partition's range, with a warning on stderr (see [`clamp_target`]).
async fn resolve_targets(
    client: &Client,
    topic: &str,
    partitions: &[i32],
    to: StartSpec,
) -> anyhow::Result<BTreeMap<i32, i64>> {
    let lookup = |spec: OffsetSpec| partitions.iter().map(|&p| (p, spec)).collect::<Vec<_>>();
    let earliest: BTreeMap<i32, i64> = client
        .list_offsets(topic, &lookup(OffsetSpec::Earliest))
        .await?
        .iter()
        .map(|o| (o.partition, o.offset))
        .collect();
    let latest: BTreeMap<i32, i64> = client
        .list_offsets(topic, &lookup(OffsetSpec::Latest))
        .await?
        .iter()
        .map(|o| (o.partition, o.offset))
        .collect();
    let by_time: BTreeMap<i32, i64> = match to {
        StartSpec::TimestampMs(ms) => client
            .list_offsets(topic, &lookup(OffsetSpec::Timestamp(ms)))
            .await?
            .iter()
            .map(|o| (o.partition, o.offset))
            .collect(),
        _ => BTreeMap::new(),
    };
    Ok(partitions
        .iter()
        .map(|&p| {
            let (lo, hi) = (
                earliest.get(&p).copied().unwrap_or(0),
                latest.get(&p).copied().unwrap_or(0),
            );
            let target = match to {
                StartSpec::Beginning => lo,
                StartSpec::End => hi,
                StartSpec::Offset(o) => {
                    let (applied, warning) = clamp_target(topic, p, o, (lo, hi));
                    if let Some(warning) = warning {
                        eprintln!("warning: {warning}");
                    }
                    applied
                }
                StartSpec::TimestampMs(_) => {
                    by_time.get(&p).copied().filter(|&o| o >= 0).unwrap_or(hi)
                }
            };
            (p, target)
        })
        .collect())
}

/// An explicit `--to` offset outside the partition's `lo..=hi` is clamped
/// into it, as Kafka's `kafka-consumer-groups.sh` does. Returns the offset
/// applied and, when it is not the one asked for, a warning that says so:
/// a reset that lands somewhere else than asked must not pass unnoticed.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_lags_show_and_stay_out_of_the_total() {
        let row = |committed: Option<i64>, end: i64| LagRow {
            topic: "t".into(),
            partition: 0,
            committed,
            end,
            owner: None,
        };
        let rows = [
            row(Some(99_999), 991),
            row(Some(2), 5),
            row(None, 7),
            row(Some(4), 4),
        ];
        assert_eq!(rows[0].lag(), Some(-99_008));
        assert_eq!(rows[2].lag(), None);
        assert_eq!(total_lag(&rows), (3, 1));
        assert_eq!(row(Some(i64::MIN), i64::MAX).lag(), Some(i64::MAX));
    }

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
}
