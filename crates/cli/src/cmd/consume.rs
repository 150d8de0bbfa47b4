//! `ferrolog consume`: fetch from every chosen partition, print records as
//! they arrive (flushed per fetch, safe to pipe), stop at the end or follow.
//! With `--group` it joins the group, reads from the committed offsets and
//! commits as it goes.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use ferrolog_client::batch::decode_fetched;
use ferrolog_client::fetch::{FetchSpec, FetchedPartition};
use ferrolog_client::group::{GroupMember, HeartbeatOutcome, MemberTimeouts};
use ferrolog_client::{Client, ClientError, ConsumedRecord, KafkaCode, OffsetSpec, ResponseError};
use serde_json::json;

use crate::args::{ConsumeArgs, FORMAT_DEFAULT, Global, Output};
use crate::output::json_record;
use crate::template::Template;
use crate::timespec::StartSpec;

const HEARTBEAT_EVERY: Duration = Duration::from_secs(3);
const FETCH_WAIT_MS: i32 = 500;
const RECONNECT_EVERY: Duration = Duration::from_secs(1);
/// How long the final commit and LeaveGroup may take on the way out.
const FAREWELL_WITHIN: Duration = Duration::from_secs(5);

/// Where one partition is and where it stops.
#[derive(Debug, Clone)]
struct Cursor {
    partition: i32,
    position: i64,
    /// With exit-at-end: the end offset when reading started.
    stop_at: Option<i64>,
}

struct Session<'a> {
    client: &'a Client,
    args: &'a ConsumeArgs,
    output: Output,
    template: Template,
    cursors: Vec<Cursor>,
    printed: u64,
    stdout: std::io::StdoutLock<'static>,
    line: Vec<u8>,
    /// Turns true at Ctrl-C or SIGTERM. One listener for the whole command: a
    /// signal that came while no listener future was polled (between retries
    /// while the broker is down) would otherwise be lost, and ignored.
    interrupted: tokio::sync::watch::Receiver<bool>,
    /// Partitions the broker could not serve when reading started (a damaged
    /// log, say), each as "topic-partition: error". Outside a group the
    /// others are read, and the command then fails naming these.
    unreadable: Vec<String>,
}

/// The receiving end of one Ctrl-C and SIGTERM listener that lives as long as
/// the command. SIGTERM (`kill`, `timeout`, a service manager) stops the
/// consumer as Ctrl-C does, so it commits and leaves its group rather than
/// holding its partitions until its session times out.
fn interrupt_listener() -> tokio::sync::watch::Receiver<bool> {
    let (tell, interrupted) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        if stop_signal().await {
            tell.send_replace(true);
        }
    });
    interrupted
}

/// Waits for Ctrl-C or SIGTERM; false if neither listener could be installed.
async fn stop_signal() -> bool {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => tokio::select! {
            Ok(()) = tokio::signal::ctrl_c() => true,
            _ = term.recv() => true,
        },
        Err(_) => tokio::signal::ctrl_c().await.is_ok(),
    }
}

/// Resolves once Ctrl-C or SIGTERM came (at once if one already did).
async fn interrupt(mut interrupted: tokio::sync::watch::Receiver<bool>) {
    if interrupted.wait_for(|i| *i).await.is_err() {
        // The listener is gone (it could not be installed): never resolve.
        std::future::pending::<()>().await;
    }
}

/// An error a follower waits out: the broker is unreachable, or answered
/// with a retriable code (NOT_COORDINATOR while a restarted broker loads its
/// groups, say).
fn recoverable(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<ClientError>()
            .is_some_and(ClientError::is_retriable)
    })
}

pub async fn run(global: &Global, client: &Client, args: ConsumeArgs) -> anyhow::Result<ExitCode> {
    let format = args.format.as_deref().unwrap_or(FORMAT_DEFAULT);
    let template = Template::parse(format).map_err(|e| anyhow::anyhow!("invalid --format: {e}"))?;
    let meta = client.topic(&args.topic).await?;
    if let Some(p) = args.partition
        && !meta.partitions.iter().any(|m| m.partition == p)
    {
        anyhow::bail!(
            "topic {:?} has {} partitions; --partition {p} does not exist",
            args.topic,
            meta.partitions.len()
        );
    }
    if args.group.is_some() && args.partition.is_some() {
        anyhow::bail!("--partition cannot be combined with --group (the group assigns partitions)");
    }
    let mut session = Session {
        client,
        args: &args,
        output: global.output,
        template,
        cursors: Vec::new(),
        printed: 0,
        stdout: std::io::stdout().lock(),
        line: Vec::with_capacity(4096),
        interrupted: interrupt_listener(),
        unreadable: Vec::new(),
    };
    match &args.group {
        Some(group) => session.run_group(group).await?,
        None => {
            let partitions: Vec<i32> = match args.partition {
                Some(p) => vec![p],
                None => meta.partitions.iter().map(|p| p.partition).collect(),
            };
            session.cursors = session.start_cursors(&partitions, &BTreeMap::new()).await?;
            if !session.cursors.is_empty() {
                session.run_plain().await?;
            }
            if !session.unreadable.is_empty() {
                anyhow::bail!(
                    "{} of {} could not be read: {}",
                    crate::output::count(session.unreadable.len(), "partition"),
                    args.topic,
                    session.unreadable.join("; ")
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

impl Session<'_> {
    fn following(&self) -> bool {
        self.args.follow
    }

    fn done(&self) -> bool {
        self.args.max_messages.is_some_and(|n| self.printed >= n)
            || (!self.following()
                && self
                    .cursors
                    .iter()
                    .all(|c| c.stop_at.is_some_and(|end| c.position >= end)))
    }

    /// Positions from committed offsets where present, else from `--from`.
    /// Outside a group, a partition the broker cannot serve gets no cursor
    /// and is noted in `unreadable`; in a group it fails the command, as
    /// the group expects its assignment read.
    async fn start_cursors(
        &mut self,
        partitions: &[i32],
        committed: &BTreeMap<i32, i64>,
    ) -> anyhow::Result<Vec<Cursor>> {
        let topic = &self.args.topic;
        let lookups: Vec<(i32, OffsetSpec)> = partitions
            .iter()
            .map(|&p| (p, OffsetSpec::Latest))
            .collect();
        let mut ends = BTreeMap::new();
        for (p, listed) in self.client.list_offsets_each(topic, &lookups).await? {
            match listed {
                Ok(o) => {
                    ends.insert(p, o.offset);
                }
                Err(code) if self.args.group.is_some() => {
                    anyhow::bail!("ListOffsets for {topic}-{p} failed: {code}")
                }
                Err(code) => {
                    tracing::warn!("{topic}-{p} cannot be read: {code}; reading the others");
                    self.unreadable.push(format!("{topic}-{p}: {code}"));
                }
            }
        }
        let partitions: Vec<i32> = partitions
            .iter()
            .copied()
            .filter(|p| ends.contains_key(p))
            .collect();
        let partitions = &partitions[..];
        let starts = match self.args.from {
            StartSpec::Beginning => Some(OffsetSpec::Earliest),
            StartSpec::TimestampMs(ms) => Some(OffsetSpec::Timestamp(ms)),
            StartSpec::End | StartSpec::Offset(_) => None,
        };
        let looked_up: BTreeMap<i32, i64> = match starts {
            Some(spec) => {
                let lookups: Vec<(i32, OffsetSpec)> =
                    partitions.iter().map(|&p| (p, spec)).collect();
                self.client
                    .list_offsets(topic, &lookups)
                    .await?
                    .iter()
                    .map(|o| (o.partition, o.offset))
                    .collect()
            }
            None => BTreeMap::new(),
        };
        let mut cursors = Vec::with_capacity(partitions.len());
        for &p in partitions {
            let end = ends.get(&p).copied().unwrap_or(0);
            let position = match (committed.get(&p), self.args.from) {
                (Some(&c), _) => c,
                (None, StartSpec::End) => end,
                // Past the end, a fetch would fail when following, and
                // without following the read would end before it began:
                // either way the user is told the range at once.
                (None, StartSpec::Offset(o)) if o > end => {
                    return Err(self.out_of_range(p, o).await);
                }
                (None, StartSpec::Offset(o)) => o,
                // -1: no record at or after the timestamp, so start at the end.
                (None, _) => looked_up
                    .get(&p)
                    .copied()
                    .filter(|&o| o >= 0)
                    .unwrap_or(end),
            };
            cursors.push(Cursor {
                partition: p,
                position,
                stop_at: (!self.following()).then_some(end),
            });
        }
        Ok(cursors)
    }

    async fn run_plain(&mut self) -> anyhow::Result<()> {
        while !self.done() {
            let interrupted = self.interrupted.clone();
            let round = tokio::select! {
                r = self.fetch_round() => r,
                () = interrupt(interrupted) => break,
            };
            if let Err(e) = round
                && !self.outlive(&e).await
            {
                return Err(e);
            }
        }
        Ok(())
    }

    /// While following, a lost broker is waited for (a second between tries)
    /// rather than ending the command. Returns false to give up with `e`.
    async fn outlive(&self, e: &anyhow::Error) -> bool {
        if !self.following() || !recoverable(e) {
            return false;
        }
        tracing::warn!("{}; retrying", crate::output::one_line(e));
        tokio::time::sleep(RECONNECT_EVERY).await;
        true
    }

    async fn run_group(&mut self, group: &str) -> anyhow::Result<()> {
        let mut member = self.join(group).await?;
        let mut last_heartbeat = Instant::now();
        let result = loop {
            let interrupted = self.interrupted.clone();
            let step = tokio::select! {
                r = self.group_step(&mut member, &mut last_heartbeat) => r,
                () = interrupt(interrupted) => break Ok(()),
            };
            match step {
                Ok(true) => {}
                Ok(false) => break Ok(()),
                Err(e) => {
                    let interrupted = self.interrupted.clone();
                    // The coordinator may have forgotten us: join afresh (a failure retries next round).
                    let recovered = tokio::select! {
                        r = async {
                            if self.outlive(&e).await {
                                Ok(self.join(group).await)
                            } else {
                                Err(e)
                            }
                        } => r,
                        () = interrupt(interrupted) => break Ok(()),
                    };
                    match recovered {
                        Ok(Ok(fresh)) => member = fresh,
                        Ok(Err(e)) => tracing::warn!(
                            "cannot rejoin group {group} yet: {}",
                            crate::output::one_line(&e)
                        ),
                        Err(e) => break Err(e),
                    }
                }
            }
        };
        // Best effort on the way out, and brief (the broker may be the reason
        // we stop): the reads are done; a failure here only means the group
        // notices our departure at its session timeout.
        let farewell = async {
            if let Err(e) = self.commit_changes(&member, &BTreeMap::new()).await {
                tracing::warn!("final commit failed: {e:#}");
            }
            if let Err(e) = member.leave().await {
                tracing::warn!("leaving the group failed: {e}");
            }
        };
        if tokio::time::timeout(FAREWELL_WITHIN, farewell)
            .await
            .is_err()
        {
            tracing::warn!("the final commit and leave did not finish in time");
        }
        result
    }

    async fn join(&mut self, group: &str) -> anyhow::Result<GroupMember> {
        let topics = vec![self.args.topic.clone()];
        let member =
            GroupMember::join(self.client, group, topics, MemberTimeouts::default()).await?;
        self.assign(&member).await?;
        Ok(member)
    }

    /// One fetch round as a member: print, commit, heartbeat (rejoining when
    /// the group rebalances). `Ok(false)` when there is nothing more to read.
    async fn group_step(
        &mut self,
        member: &mut GroupMember,
        last_heartbeat: &mut Instant,
    ) -> anyhow::Result<bool> {
        if self.done() {
            return Ok(false);
        }
        let before = self.positions();
        self.fetch_round().await?;
        self.commit_changes(member, &before).await?;
        if last_heartbeat.elapsed() >= HEARTBEAT_EVERY {
            *last_heartbeat = Instant::now();
            if member.heartbeat().await? == HeartbeatOutcome::Rejoin {
                tracing::info!("group {} is rebalancing; rejoining", member.group);
                member.rejoin(self.client).await?;
                self.assign(member).await?;
            }
        }
        Ok(true)
    }

    /// Cursors for this member's assignment, starting at the committed offsets.
    async fn assign(&mut self, member: &GroupMember) -> anyhow::Result<()> {
        let partitions = member
            .assignment
            .get(&self.args.topic)
            .cloned()
            .unwrap_or_default();
        tracing::info!("assigned partitions {partitions:?} of {}", self.args.topic);
        let committed = self
            .client
            .committed_offsets(
                member.coordinator(),
                &member.group,
                Some((&self.args.topic, &partitions)),
            )
            .await?
            .into_iter()
            .map(|((_, p), o)| (p, o))
            .collect();
        self.cursors = self.start_cursors(&partitions, &committed).await?;
        Ok(())
    }

    fn positions(&self) -> BTreeMap<i32, i64> {
        self.cursors
            .iter()
            .map(|c| (c.partition, c.position))
            .collect()
    }

    async fn commit_changes(
        &self,
        member: &GroupMember,
        before: &BTreeMap<i32, i64>,
    ) -> anyhow::Result<()> {
        let changed: Vec<(i32, i64)> = self
            .cursors
            .iter()
            .filter(|c| before.get(&c.partition) != Some(&c.position))
            .map(|c| (c.partition, c.position))
            .collect();
        if changed.is_empty() {
            return Ok(());
        }
        member
            .commit(self.client, &self.args.topic, &changed)
            .await
            .context("cannot commit offsets")
    }

    /// One fetch per leader for the partitions not yet finished; prints and advances.
    async fn fetch_round(&mut self) -> anyhow::Result<()> {
        let topic = self.args.topic.clone();
        let mut by_leader: BTreeMap<i32, Vec<(i32, i64)>> = BTreeMap::new();
        for c in &self.cursors {
            if c.stop_at.is_some_and(|end| c.position >= end) {
                continue;
            }
            by_leader
                .entry(self.client.leader(&topic, c.partition).await?)
                .or_default()
                .push((c.partition, c.position));
        }
        if by_leader.is_empty() {
            // Nothing assigned (or all done while following): wait like an empty fetch would.
            tokio::time::sleep(Duration::from_millis(FETCH_WAIT_MS as u64)).await;
            return Ok(());
        }
        for (leader, partitions) in by_leader {
            let spec = FetchSpec {
                topic: topic.clone(),
                partitions,
                max_wait_ms: FETCH_WAIT_MS,
                min_bytes: 1,
                max_bytes: 8 * 1024 * 1024,
                partition_max_bytes: 1024 * 1024,
            };
            for fetched in self.client.fetch(leader, &spec).await? {
                self.take(fetched).await?;
            }
        }
        self.stdout.flush().context("cannot write to stdout")?;
        Ok(())
    }

    /// Prints one partition's share of a fetch and advances its cursor.
    async fn take(&mut self, fetched: FetchedPartition) -> anyhow::Result<()> {
        let topic = &self.args.topic;
        let Some(idx) = self
            .cursors
            .iter()
            .position(|c| c.partition == fetched.partition)
        else {
            return Ok(());
        };
        if let Some(code) = fetched.error {
            return self.fetch_failed(idx, code).await;
        }
        let from = self.cursors[idx].position;
        let decoded = decode_fetched(fetched.records, from)
            .with_context(|| format!("bad data from {topic}-{}", fetched.partition))?;
        for record in &decoded.records {
            if self.args.max_messages.is_some_and(|n| self.printed >= n) {
                return Ok(());
            }
            self.print(fetched.partition, record)?;
            self.cursors[idx].position = record.offset + 1;
        }
        if let Some(next) = decoded.next_offset {
            self.cursors[idx].position = self.cursors[idx].position.max(next);
        }
        Ok(())
    }

    /// A reader below the log start (retention or DeleteRecords removed the
    /// records ahead of it, or a group's committed offset is that old) goes
    /// on from the log start, as with Kafka's `auto.offset.reset=earliest`:
    /// a tail must not die because a segment aged out under it. Anything
    /// else is reported with the partition's actual range.
    async fn fetch_failed(&mut self, idx: usize, code: KafkaCode) -> anyhow::Result<()> {
        let topic = self.args.topic.clone();
        self.client.invalidate(&topic);
        let (partition, at) = (self.cursors[idx].partition, self.cursors[idx].position);
        if code.0 != ResponseError::OffsetOutOfRange {
            anyhow::bail!("fetch from {topic}-{partition} at offset {at} failed: {code}");
        }
        let (start, end) = self.range_of(partition).await?;
        if at < start {
            tracing::warn!(
                "{topic}-{partition}: offset {at} is below the log start {start} (its records were deleted); going on from there"
            );
            self.cursors[idx].position = start;
            return Ok(());
        }
        Err(out_of_range(&topic, partition, at, start, end))
    }

    /// The offsets `partition` holds, as (log start, end).
    async fn range_of(&self, partition: i32) -> anyhow::Result<(i64, i64)> {
        let range = self.client.offset_range(&self.args.topic).await?;
        Ok(range
            .iter()
            .find(|r| r.0 == partition)
            .map_or((-1, -1), |r| (r.1, r.2)))
    }

    async fn out_of_range(&self, partition: i32, at: i64) -> anyhow::Error {
        match self.range_of(partition).await {
            Ok((start, end)) => out_of_range(&self.args.topic, partition, at, start, end),
            Err(e) => e,
        }
    }

    fn print(&mut self, partition: i32, record: &ConsumedRecord) -> anyhow::Result<()> {
        self.line.clear();
        match self.output {
            Output::Text => {
                self.template
                    .render(&self.args.topic, partition, record, &mut self.line)
            }
            Output::Json => {
                let fields = json!({
                    "topic": self.args.topic, "partition": partition, "offset": record.offset,
                    "timestamp": record.timestamp_ms,
                });
                let value = json_record(fields, record);
                serde_json::to_writer(&mut self.line, &value)?;
            }
        }
        self.line.push(b'\n');
        self.stdout
            .write_all(&self.line)
            .context("cannot write to stdout")?;
        self.printed += 1;
        Ok(())
    }
}

fn out_of_range(topic: &str, partition: i32, at: i64, start: i64, end: i64) -> anyhow::Error {
    anyhow::anyhow!(
        "offset {at} is out of range for {topic}-{partition}, which holds offsets {start}..{end}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrolog_client::ApiKey;

    fn kafka(code: ResponseError) -> anyhow::Error {
        let e = ClientError::check(ApiKey::Heartbeat, code.code(), String::new);
        anyhow::Error::new(e.expect_err("an error code")).context("heartbeat")
    }

    #[test]
    fn a_follower_waits_out_a_lost_or_moving_coordinator_but_not_a_refusal() {
        assert!(recoverable(&kafka(ResponseError::NotCoordinator)));
        assert!(recoverable(&kafka(
            ResponseError::CoordinatorLoadInProgress
        )));
        assert!(recoverable(&kafka(ResponseError::CoordinatorNotAvailable)));
        assert!(!recoverable(&kafka(
            ResponseError::GroupAuthorizationFailed
        )));
        assert!(!recoverable(&kafka(ResponseError::InvalidSessionTimeout)));
        assert!(!recoverable(&anyhow::anyhow!("cannot write output")));
    }
}
