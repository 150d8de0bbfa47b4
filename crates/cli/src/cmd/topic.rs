//! `ferrolog topic create|list|describe|delete|grow|alter-config|delete-records`.

use std::process::ExitCode;

use ferrolog_client::admin::{ConfigChange, ConfigEntry};
use ferrolog_client::client::TopicMetadata;
use ferrolog_client::log_dirs::PartitionSizes;
use ferrolog_client::{Client, ClientError};
use serde_json::json;

use crate::args::{Global, TopicCommand};
use crate::output::{count, emit, human_bytes, table};

pub async fn run(
    global: &Global,
    client: &Client,
    command: TopicCommand,
) -> anyhow::Result<ExitCode> {
    match command {
        TopicCommand::Create {
            name,
            partitions,
            replication_factor,
            configs,
        } => {
            if partitions < 1 {
                anyhow::bail!("--partitions must be at least 1, got {partitions}");
            }
            client
                .create_topic(&name, partitions, replication_factor, &configs)
                .await?;
            if min_insync(&configs).is_some() {
                let topic = client.refresh_topic(&name).await?;
                warn_if_acks_all_cannot_succeed(&topic, &configs);
            }
            emit(
                global.output,
                &json!({"created": name, "partitions": partitions}),
                || {
                    format!(
                        "created topic {name} with {}",
                        count(partitions, "partition")
                    )
                },
            )?;
        }
        TopicCommand::List => list(global, client).await?,
        TopicCommand::Describe { name } => describe(global, client, &name).await?,
        TopicCommand::Delete { name } => {
            // Check first so a typo says "unknown topic" rather than a bare error code.
            client.refresh_topic(&name).await?;
            client.delete_topic(&name).await?;
            emit(global.output, &json!({"deleted": name}), || {
                format!("deleted topic {name}")
            })?;
        }
        TopicCommand::Grow { name, partitions } => {
            // Check first: a typo says "unknown topic", and a count that is
            // not larger says what the topic has rather than a bare error code.
            let now = client.refresh_topic(&name).await?.partitions.len();
            if usize::try_from(partitions).map_or(true, |wanted| wanted <= now) {
                anyhow::bail!(
                    "{name} already has {}: --partitions must be more (a topic never shrinks)",
                    count(now, "partition")
                );
            }
            client.create_partitions(&name, partitions).await?;
            emit(
                global.output,
                &json!({"topic": name, "partitions": partitions, "was": now}),
                || {
                    format!(
                        "grew topic {name} from {now} to {}",
                        count(partitions, "partition")
                    )
                },
            )?;
        }
        TopicCommand::DeleteRecords {
            name,
            before,
            partition,
        } => delete_records(global, client, &name, before, partition).await?,
        TopicCommand::AlterConfig { name, set, delete } => {
            if set.is_empty() && delete.is_empty() {
                anyhow::bail!("nothing to change: give --set KEY=VALUE and/or --delete KEY");
            }
            let topic = client.refresh_topic(&name).await?;
            let mut changes: Vec<ConfigChange> = set
                .iter()
                .map(|(k, v)| ConfigChange::Set {
                    name: k.clone(),
                    value: v.clone(),
                })
                .collect();
            changes.extend(
                delete
                    .iter()
                    .map(|k| ConfigChange::Delete { name: k.clone() }),
            );
            client.alter_topic_configs(&name, &changes).await?;
            warn_if_acks_all_cannot_succeed(&topic, &set);
            let set_json: serde_json::Map<_, _> =
                set.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
            emit(
                global.output,
                &json!({"topic": name, "set": set_json, "deleted": delete}),
                || format!("updated {} of {name}", count(changes.len(), "config")),
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The `min.insync.replicas` among `configs`, if set to a number.
fn min_insync(configs: &[(String, String)]) -> Option<i64> {
    configs
        .iter()
        .rev()
        .find(|(key, _)| key == "min.insync.replicas")
        .and_then(|(_, value)| value.trim().parse().ok())
}

/// Kafka accepts a `min.insync.replicas` above a topic's replica count, and
/// then refuses every acks=all produce with NOT_ENOUGH_REPLICAS, which
/// producers retry until they time out. Said once here instead, where the
/// setting is made; a single-node broker always has one replica.
fn warn_if_acks_all_cannot_succeed(topic: &TopicMetadata, configs: &[(String, String)]) {
    let Some(wanted) = min_insync(configs) else {
        return;
    };
    let replicas = topic
        .partitions
        .iter()
        .map(|p| p.replicas.len())
        .min()
        .unwrap_or(0);
    if replicas > 0 && usize::try_from(wanted).is_ok_and(|wanted| wanted > replicas) {
        tracing::warn!(
            "min.insync.replicas={wanted} is more than {}'s {}: every acks=all produce to it will fail with NOT_ENOUGH_REPLICAS",
            topic.name,
            count(replicas, "replica")
        );
    }
}

async fn list(global: &Global, client: &Client) -> anyhow::Result<()> {
    let cluster = client.metadata(None).await?;
    let topics: Vec<_> = cluster
        .topics
        .into_iter()
        .filter(|t| !t.partitions.is_empty())
        .collect();
    // One DescribeLogDirs per leader covers every topic.
    let sizes = sizes_if_served(client, &topics).await?;
    let total = |t: &TopicMetadata| sizes.as_ref().and_then(|s| topic_bytes(s, t));
    let json = json!(
        topics
            .iter()
            .map(|t| {
                let mut row = json!({"name": t.name, "partitions": t.partitions.len()});
                if let Some(bytes) = total(t) {
                    row["size_bytes"] = json!(bytes);
                }
                row
            })
            .collect::<Vec<_>>()
    );
    emit(global.output, &json, || {
        let rows: Vec<Vec<String>> = topics
            .iter()
            .map(|t| {
                let mut row = vec![t.name.clone(), t.partitions.len().to_string()];
                if sizes.is_some() {
                    row.push(total(t).map_or_else(|| "-".to_owned(), human_bytes));
                }
                row
            })
            .collect();
        let mut header = vec!["TOPIC", "PARTITIONS"];
        if sizes.is_some() {
            header.push("SIZE");
        }
        table(&header, &rows)
    })
}

/// The bytes of every partition of `topic`, or `None` if one is unknown.
fn topic_bytes(sizes: &PartitionSizes, topic: &TopicMetadata) -> Option<u64> {
    topic
        .partitions
        .iter()
        .map(|p| sizes.bytes.get(&(topic.name.clone(), p.partition)))
        .sum::<Option<u64>>()
}

/// Partition sizes (DescribeLogDirs), or `None` when the broker does not
/// serve it (older brokers) or refuses it (ACLs): the size column is then
/// left out, and the rest of the command goes on. A log directory that
/// answers with an error is said on stderr; its partitions show no size.
async fn sizes_if_served(
    client: &Client,
    topics: &[TopicMetadata],
) -> anyhow::Result<Option<PartitionSizes>> {
    let sizes = match client.partition_sizes(topics).await {
        Ok(sizes) => sizes,
        Err(e @ (ClientError::UnsupportedVersion { .. } | ClientError::Kafka { .. })) => {
            tracing::debug!("no partition sizes: {e}");
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    };
    for dir in &sizes.failed_dirs {
        tracing::warn!(
            "no sizes from log directory {} of broker {}: {}",
            dir.log_dir,
            dir.node_id,
            dir.code
        );
    }
    Ok(Some(sizes))
}

/// Configs the text of `topic describe` shows even at their defaults.
const LOG_SHAPING: [&str; 7] = [
    "cleanup.policy",
    "ferrolog.durability",
    "max.message.bytes",
    "retention.bytes",
    "retention.ms",
    "segment.bytes",
    "segment.ms",
];

async fn describe(global: &Global, client: &Client, name: &str) -> anyhow::Result<()> {
    let meta = client.refresh_topic(name).await?;
    // Each partition with its own answer: one the broker could not load shows
    // its error, and the healthy ones are still described.
    let ranges = client.offset_range_each(name).await?;
    let configs = client.describe_topic_configs(name).await?;
    let sizes = sizes_if_served(client, std::slice::from_ref(&meta)).await?;
    // Compaction removes records without moving offsets, so on a compacted
    // topic end minus start bounds the count rather than giving it.
    let records_key = if is_compacted(&configs) {
        "records_at_most"
    } else {
        "records"
    };
    let size = |partition: i32| {
        sizes
            .as_ref()
            .and_then(|s| s.bytes.get(&(name.to_owned(), partition)).copied())
    };
    let partitions: Vec<_> = meta
        .partitions
        .iter()
        .map(|p| {
            let mut row = json!({"partition": p.partition, "leader": p.leader, "replicas": p.replicas, "isr": p.isr});
            match ranges.iter().find(|r| r.0 == p.partition).map(|r| r.1) {
                Some(Ok((start, end))) => {
                    row["start_offset"] = json!(start);
                    row["end_offset"] = json!(end);
                    row[records_key] = json!(end - start);
                }
                Some(Err(code)) => row["error"] = json!(code.to_string()),
                None => row["error"] = json!("no answer"),
            }
            if let Some(bytes) = size(p.partition) {
                row["size_bytes"] = json!(bytes);
            }
            row
        })
        .collect();
    let config_json: serde_json::Map<_, _> = configs
        .iter()
        .map(|c| (c.name.clone(), json!(c.value)))
        .collect();
    let json = json!({"name": name, "topic_id": meta.topic_id.to_string(), "partitions": partitions, "configs": config_json});
    emit(global.output, &json, || {
        let mut text = format!(
            "topic {name} (id {}), {}\n",
            meta.topic_id,
            count(meta.partitions.len(), "partition")
        );
        text.push_str(&partition_table(&partitions, sizes.is_some()));
        text.push_str(&config_table(&configs));
        text
    })
}

/// The partitions of `topic describe` (their JSON rows) as a text table;
/// SIZE only when the broker gave sizes. On a compacted topic RECORDS is a
/// bound (`records_at_most`), shown as `≤N`.
fn partition_table(partitions: &[serde_json::Value], show_size: bool) -> String {
    let rows: Vec<Vec<String>> = partitions
        .iter()
        .map(|p| {
            let cell = |k: &str| match &p[k] {
                serde_json::Value::Null => "-".to_owned(),
                v => v.to_string(),
            };
            let mut row: Vec<String> = ["partition", "leader", "start_offset", "end_offset"]
                .iter()
                .map(|k| cell(k))
                .collect();
            row.push(match p["records_at_most"].as_i64() {
                Some(n) => format!("≤{n}"),
                _ => cell("records"),
            });
            if show_size {
                let bytes = p["size_bytes"].as_u64();
                row.push(bytes.map_or_else(|| "-".to_owned(), human_bytes));
            }
            if let Some(error) = p["error"].as_str() {
                row.push(error.to_owned());
            }
            row
        })
        .collect();
    let mut header = vec!["PARTITION", "LEADER", "START", "END", "RECORDS"];
    if show_size {
        header.push("SIZE");
    }
    if partitions.iter().any(|p| p["error"].is_string()) {
        header.push("ERROR");
    }
    table(&header, &rows)
}

/// Configs the text of `topic describe` also shows, at their defaults too,
/// when the topic is compacted (`cleanup.policy` lists `compact`): they
/// decide when its cleaner runs and how long tombstones stay.
const COMPACTION_SHAPING: [&str; 4] = [
    "delete.retention.ms",
    "min.cleanable.dirty.ratio",
    "min.compaction.lag.ms",
    "max.compaction.lag.ms",
];

/// True when the topic's `cleanup.policy` lists `compact`.
fn is_compacted(configs: &[ConfigEntry]) -> bool {
    configs.iter().any(|c| {
        c.name == "cleanup.policy"
            && c.value
                .as_deref()
                .is_some_and(|v| v.split(',').any(|w| w.trim() == "compact"))
    })
}

/// Kafka describes every topic config; the table keeps the ones set on the
/// topic and the ones that shape its log, and JSON has them all.
fn config_table(configs: &[ConfigEntry]) -> String {
    let compacted = is_compacted(configs);
    let shown: Vec<_> = configs
        .iter()
        .filter(|c| {
            !c.is_default
                || LOG_SHAPING.contains(&c.name.as_str())
                || (compacted && COMPACTION_SHAPING.contains(&c.name.as_str()))
        })
        .collect();
    if shown.is_empty() {
        return String::new();
    }
    let rows: Vec<Vec<String>> = shown
        .iter()
        .map(|c| {
            let source = if c.is_default { "default" } else { "topic" };
            vec![
                c.name.clone(),
                c.value.clone().unwrap_or_else(|| "-".into()),
                source.into(),
            ]
        })
        .collect();
    let mut text = String::from("\n");
    text.push_str(&table(&["CONFIG", "VALUE", "SOURCE"], &rows));
    let rest = configs.len() - shown.len();
    if rest > 0 {
        text.push_str(&format!(
            "({rest} more at their defaults: --output json lists them)\n"
        ));
    }
    text
}

/// Why the broker refused, where the code alone does not say it (the
/// DeleteRecords response has no message field).
fn delete_records_reason(code: &ferrolog_client::KafkaCode) -> &'static str {
    match code.0 {
        ferrolog_client::ResponseError::PolicyViolation => {
            " (the topic's cleanup.policy does not list delete: a compacted topic loses records by compaction only)"
        }
        _ => "",
    }
}

async fn delete_records(
    global: &Global,
    client: &Client,
    name: &str,
    before: i64,
    partition: Option<i32>,
) -> anyhow::Result<()> {
    let meta = client.refresh_topic(name).await?;
    let partitions: Vec<i32> = match partition {
        Some(p) if !meta.partitions.iter().any(|m| m.partition == p) => anyhow::bail!(
            "topic {name:?} has {}; --partition {p} does not exist",
            count(meta.partitions.len(), "partition")
        ),
        Some(p) => vec![p],
        None => meta.partitions.iter().map(|m| m.partition).collect(),
    };
    let asked: Vec<(i32, i64)> = partitions.iter().map(|&p| (p, before)).collect();
    let results = client.delete_records(name, &asked).await?;
    let failed: Vec<String> = results
        .iter()
        .filter_map(|(p, r)| {
            r.as_ref()
                .err()
                .map(|code| format!("{name}-{p}: {code}{}", delete_records_reason(code)))
        })
        .collect();
    let json = json!({"topic": name, "partitions": results.iter().map(|(p, r)| match r {
        Ok(start) => json!({"partition": p, "log_start": start}),
        Err(code) => json!({"partition": p, "error": code.to_string()}),
    }).collect::<Vec<_>>()});
    emit(global.output, &json, || {
        results
            .iter()
            .filter_map(|(p, r)| {
                r.as_ref()
                    .ok()
                    .map(|start| format!("{name}-{p}: records now start at {start}"))
            })
            .collect::<Vec<_>>()
            .join("\n")
    })?;
    if !failed.is_empty() {
        anyhow::bail!("could not delete records of {}", failed.join("; "));
    }
    Ok(())
}
