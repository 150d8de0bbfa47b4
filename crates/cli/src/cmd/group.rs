//! `ferrolog group list|describe|reset-offsets|delete`.

use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;

use ferrolog_client::group_admin::DescribedGroup;
use ferrolog_client::{Client, ClientError, OffsetSpec};
use serde_json::json;

use crate::args::{Global, GroupCommand};
use crate::output::{count, emit, table};

mod reset;

use reset::{Scope, Target};

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
            all_topics: _,
            to,
            shift_by,
            to_current: _,
            partition,
            dry_run: _,
            execute,
        } => {
            // clap lets exactly one scope and one target through.
            let scope = match topic {
                Some(topic) => Scope::Topic { topic, partition },
                None => Scope::AllTopics,
            };
            let target = match (to, shift_by) {
                (Some(to), _) => Target::To(to),
                (None, Some(n)) => Target::ShiftBy(n),
                (None, None) => Target::Current,
            };
            reset::reset(global, client, &group, (scope, target), execute).await?;
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
            .map(|g| {
                // A group that only commits (no member ever joined) has none.
                let protocol_type = match g.protocol_type.as_str() {
                    "" => "-".to_owned(),
                    named => named.to_owned(),
                };
                vec![g.group.clone(), g.state.clone(), protocol_type]
            })
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
}
