//! The command line: every command, flag and example. Parsing only — the
//! commands live in `cmd/`.

use std::path::PathBuf;

use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "ferrolog",
    version,
    about = "Produce, consume, administer and inspect a Ferrolog (or any Kafka-compatible) broker",
    after_help = "Examples:\n  echo hello | ferrolog produce greetings\n  ferrolog consume greetings --from beginning\n  ferrolog -b 10.0.0.5:9092 topic list --output json"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// Broker to bootstrap from (HOST:PORT; several separated by commas)
    #[arg(
        short = 'b',
        long = "bootstrap-server",
        env = "FERROLOG_BOOTSTRAP",
        default_value = "127.0.0.1:9092",
        global = true
    )]
    pub bootstrap: String,
    /// Output format of results and records
    #[arg(long, value_enum, default_value_t = Output::Text, global = true)]
    pub output: Output,
    /// More detail on stderr (repeat for more)
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Produce records read one per line from stdin or a file
    #[command(
        after_help = "Examples:\n  printf 'k1:hello\\nk2:world\\n' | ferrolog produce orders --key-separator :\n  printf 'k1:NULL\\n' | ferrolog produce profiles --key-separator : --null-marker NULL   # delete k1\n  ferrolog produce orders --file events.txt --header source=import --acks all --compression zstd"
    )]
    Produce(ProduceArgs),
    /// Consume records and print them as they arrive
    #[command(
        after_help = "Examples:\n  ferrolog consume orders --from beginning\n  ferrolog consume orders --from -1h --format '{partition}/{offset} {key}={value}'\n  ferrolog consume orders --group billing --follow\n\nText output writes {key} and {value} raw, byte for byte. {headers} is k=v,k=v with\n\\, = and , inside a key or value escaped by a \\, and control characters and bytes\nthat are not UTF-8 as \\xNN (a null header value shows as an empty one).\n\nWith --output json (the lossless form), one object per record: topic, partition, offset, timestamp,\nkey, value, and headers as a list of {\"key\", \"value\"} in record order (a key may repeat).\nA key, value or header value that is not UTF-8 comes base64-encoded as key_base64 /\nvalue_base64 in place of key / value; a null one stays null."
    )]
    Consume(ConsumeArgs),
    /// Create, list, describe, delete topics and change their configs
    #[command(
        subcommand,
        after_help = "Examples:\n  ferrolog topic create orders --partitions 4\n  ferrolog topic describe orders"
    )]
    Topic(TopicCommand),
    /// List, describe (with lag), reset and delete consumer groups
    #[command(
        subcommand,
        after_help = "Examples:\n  ferrolog group list\n  ferrolog group describe billing"
    )]
    Group(GroupCommand),
    /// Dump and verify a stopped broker's files (offline, no broker needed)
    #[command(
        after_help = "Examples:\n  ferrolog inspect data/orders-0/00000000000000000000.log --records\n  ferrolog inspect data/orders-0/00000000000000000000.index\n  ferrolog inspect data            # verify every partition; non-zero exit on damage\n\nRecords in JSON (--records --output json) have the fields of `consume --output json`:\nbytes that are not UTF-8 come as key_base64 / value_base64; text output shows them as base64:...\n\nDELETE_HORIZON (a segment's batches): when compaction may drop the batch's tombstones (KIP-534),\n`never` for delete.retention.ms = Long.MAX, `-` if none. The horizon is stored in base_timestamp,\nso FIRST_TIMESTAMP is `-` (null in JSON): the first record's time is horizon + its delta (--records).\nJSON keeps ms numbers: delete_horizon 9223372036854775807 is never, null is none."
    )]
    Inspect(InspectArgs),
    /// Load generators printing throughput and latency percentiles
    #[command(
        subcommand,
        after_help = "Examples:\n  ferrolog perf produce bench --records 1000000\n  ferrolog perf consume bench"
    )]
    Perf(PerfCommand),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AcksArg {
    #[value(name = "0")]
    Zero,
    #[value(name = "1")]
    One,
    #[value(name = "all", alias = "-1")]
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompressionArg {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

#[derive(Debug, Args)]
pub struct ProduceArgs {
    /// Topic to produce to (auto-created if the broker allows it)
    pub topic: String,
    /// Read records from this file instead of stdin
    #[arg(long, short = 'f')]
    pub file: Option<PathBuf>,
    /// Split each line at the first SEP: the key before it, the value after
    #[arg(long, value_name = "SEP", value_parser = parse_separator)]
    pub key_separator: Option<String>,
    /// Use this key for every record
    #[arg(long, short = 'k', conflicts_with = "key_separator")]
    pub key: Option<String>,
    /// Send a value that is exactly MARKER as null: a tombstone, which deletes
    /// its key from a compacted topic (Kafka's console producer `null.marker`)
    #[arg(long, value_name = "MARKER")]
    pub null_marker: Option<String>,
    /// Add a header to every record (repeatable)
    #[arg(long = "header", short = 'H', value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub headers: Vec<(String, String)>,
    /// Send every record to this partition (default: murmur2 of the key; round-robin without one)
    #[arg(long, short = 'p')]
    pub partition: Option<i32>,
    /// Acknowledgement to wait for
    #[arg(long, value_enum, default_value_t = AcksArg::All)]
    pub acks: AcksArg,
    /// Compression of record batches
    #[arg(long, value_enum, default_value_t = CompressionArg::None)]
    pub compression: CompressionArg,
    /// Use an idempotent producer when the broker supports it (the default)
    #[arg(long, conflicts_with = "no_idempotent")]
    pub idempotent: bool,
    /// Do not use an idempotent producer
    #[arg(long)]
    pub no_idempotent: bool,
    /// Records per batch (per partition)
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub batch_size: u32,
    /// How long a batch is retried while the broker is unreachable or
    /// answers with a retriable error (Kafka's delivery.timeout.ms)
    #[arg(long, value_name = "MS", default_value_t = 30_000)]
    pub delivery_timeout_ms: u64,
}

#[derive(Debug, Args)]
pub struct ConsumeArgs {
    /// Topic to consume
    pub topic: String,
    /// Consume as a member of this group, resuming from and committing its offsets
    #[arg(long, short = 'g')]
    pub group: Option<String>,
    /// Where to start: beginning | end | OFFSET | RFC 3339 time | relative time like -1h
    /// (with --group, only where the group has no committed offset)
    #[arg(long, default_value = "beginning", allow_hyphen_values = true, value_parser = crate::timespec::parse_start)]
    pub from: crate::timespec::StartSpec,
    /// Only this partition
    #[arg(long, short = 'p')]
    pub partition: Option<i32>,
    /// Stop after this many records
    #[arg(long, short = 'n')]
    pub max_messages: Option<u64>,
    /// Stop at the end of every partition (the default unless --follow)
    #[arg(long, short = 'e', conflicts_with = "follow")]
    pub exit_at_end: bool,
    /// Keep waiting for new records
    #[arg(long, short = 'F')]
    pub follow: bool,
    /// Output template for text output [default: {value}]: {topic} {partition} {offset}
    /// {timestamp} {time} {key} {value} {headers}; \n \t escapes; a newline follows each record
    #[arg(long)]
    pub format: Option<String>,
}

/// What `consume` prints of a record without `--format`.
pub const FORMAT_DEFAULT: &str = "{value}";

impl Cli {
    /// Parses the process's arguments and checks them (see `check`).
    pub fn parse_checked() -> Result<Self, clap::Error> {
        use clap::{CommandFactory, FromArgMatches};
        let matches = Cli::command().try_get_matches()?;
        let cli = Cli::from_arg_matches(&matches)?;
        cli.check(&matches)?;
        Ok(cli)
    }

    /// Refuses what clap's attributes cannot express: a flag that the value
    /// of another would make it ignore. An error like clap's own.
    fn check(&self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
        use clap::CommandFactory;
        // Only a typed address is refused: FERROLOG_BOOTSTRAP is exported
        // for every command, and inspect has no reason to mind it.
        if let Command::Inspect(_) = &self.command
            && matches.value_source("bootstrap") == Some(clap::parser::ValueSource::CommandLine)
        {
            return Err(Cli::command().error(
                clap::error::ErrorKind::ArgumentConflict,
                "--bootstrap-server cannot be used with inspect, which reads files and never \
                 contacts a broker",
            ));
        }
        if let Command::Consume(args) = &self.command
            && args.format.is_some()
            && self.global.output == Output::Json
        {
            return Err(Cli::command().error(
                clap::error::ErrorKind::ArgumentConflict,
                "--format cannot be used with --output json, which prints every field; \
                 --format shapes text output",
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Subcommand)]
pub enum TopicCommand {
    /// Create a topic
    #[command(
        after_help = "Example:\n  ferrolog topic create orders --partitions 4 --config retention.ms=86400000"
    )]
    Create {
        /// Topic to create (ASCII letters, digits, '.', '_' and '-')
        name: String,
        /// Number of partitions
        #[arg(long, short = 'p', default_value_t = 1)]
        partitions: i32,
        /// Copies of each partition (a single Ferrolog broker serves 1)
        #[arg(long, short = 'r', default_value_t = 1)]
        replication_factor: i16,
        /// Topic config (repeatable)
        #[arg(long = "config", short = 'c', value_name = "KEY=VALUE", value_parser = parse_key_value)]
        configs: Vec<(String, String)>,
    },
    /// List topics
    #[command(after_help = "Example:\n  ferrolog topic list")]
    List,
    /// Show partitions (leader, start and end offsets) and configs
    #[command(after_help = "Example:\n  ferrolog topic describe orders")]
    Describe {
        /// Topic to describe
        name: String,
    },
    /// Delete a topic and all its data
    #[command(after_help = "Example:\n  ferrolog topic delete orders")]
    Delete {
        /// Topic to delete
        name: String,
    },
    /// Grow a topic to more partitions (a topic never shrinks)
    #[command(
        after_help = "Example:\n  ferrolog topic grow orders --partitions 8\n\nRecords keep their partitions. Keys hash over the new count from then on,\nso later records with a key may land in another partition than earlier ones."
    )]
    Grow {
        /// Topic to grow
        name: String,
        /// The number of partitions in all, not how many to add
        #[arg(long, short = 'p')]
        partitions: i32,
    },
    /// Set or remove topic configs
    #[command(
        after_help = "Example:\n  ferrolog topic alter-config orders --set retention.ms=3600000 --delete retention.bytes"
    )]
    AlterConfig {
        /// Topic whose configs change
        name: String,
        /// Set a config (repeatable)
        #[arg(long, value_name = "KEY=VALUE", value_parser = parse_key_value)]
        set: Vec<(String, String)>,
        /// Remove a config, back to the default (repeatable)
        #[arg(long, value_name = "KEY")]
        delete: Vec<String>,
    },
    /// Delete the records below an offset, for good (moves the log start)
    #[command(
        after_help = "Examples:\n  ferrolog topic delete-records orders --before 1000 --partition 0\n  ferrolog topic delete-records orders --before end\n\nConsumers and groups positioned below the new start continue from it."
    )]
    DeleteRecords {
        /// Topic to delete records from
        name: String,
        /// OFFSET, or `end` for everything written so far
        #[arg(long, value_name = "OFFSET|end", value_parser = parse_before)]
        before: i64,
        /// Only this partition (all of them if left out)
        #[arg(long, short = 'p')]
        partition: Option<i32>,
    },
}

/// An offset to delete records below, with `end` as Kafka's -1 (the high watermark).
fn parse_before(s: &str) -> Result<i64, String> {
    match s {
        "end" => Ok(-1),
        _ => s
            .parse::<i64>()
            .ok()
            .filter(|&o| o >= 0)
            .ok_or_else(|| format!("{s:?} is neither an offset (0 or more) nor `end`")),
    }
}

#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// List groups
    #[command(after_help = "Example:\n  ferrolog group list")]
    List,
    /// Members, assignments, committed and end offsets, and lag
    #[command(
        after_help = "Example:\n  ferrolog group describe billing\n\nLAG is END - COMMITTED. It is negative when the committed offset is past the end\n(a bad commit, or a topic created again under a running consumer), and then left out of the total lag."
    )]
    Describe {
        /// Group to describe
        group: String,
    },
    /// Move a group's committed offsets (shows the plan unless --execute)
    #[command(
        group(ArgGroup::new("scope").required(true).args(["topic", "all_topics"])),
        group(ArgGroup::new("target").required(true).args(["to", "shift_by", "to_current"])),
        after_help = "Examples:\n  ferrolog group reset-offsets billing --topic orders --to earliest\n  ferrolog group reset-offsets billing --topic orders --to -2h --execute\n  ferrolog group reset-offsets billing --all-topics --shift-by -100 --execute\n\nOne of --topic and --all-topics, and one of --to, --shift-by and --to-current.\nAn offset outside a partition (--to OFFSET, --shift-by) is clamped into it, with a warning."
    )]
    ResetOffsets {
        /// Group whose committed offsets move (it must have no active members)
        group: String,
        /// Topic whose offsets move
        #[arg(long, short = 't')]
        topic: Option<String>,
        /// Every topic the group has committed offsets for
        #[arg(long)]
        all_topics: bool,
        /// earliest | latest | OFFSET | RFC 3339 time | relative time like -1h
        #[arg(long, allow_hyphen_values = true, value_parser = crate::timespec::parse_reset_to)]
        to: Option<crate::timespec::StartSpec>,
        /// Move each committed offset by N (negative: back); refused for a
        /// partition without a committed offset
        #[arg(long, value_name = "N", allow_hyphen_values = true)]
        shift_by: Option<i64>,
        /// Keep each committed offset (the end where there is none): with the
        /// dry run, shows them; with --execute, commits them
        #[arg(long)]
        to_current: bool,
        /// Only this partition (of --topic)
        #[arg(long, short = 'p', conflicts_with = "all_topics")]
        partition: Option<i32>,
        /// Show the plan without applying it (the default)
        #[arg(long, conflicts_with = "execute")]
        dry_run: bool,
        /// Apply the plan
        #[arg(long)]
        execute: bool,
    },
    /// Delete a group and its committed offsets
    #[command(after_help = "Example:\n  ferrolog group delete billing")]
    Delete {
        /// Group to delete
        group: String,
    },
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// A segment (.log), index (.index / .timeindex), partition directory or data directory
    pub path: PathBuf,
    /// Also decode each record (key, value, headers), decompressing as needed
    #[arg(long)]
    pub records: bool,
    // Takes the global `--bootstrap-server`'s place, hidden, so that
    // inspect's help does not offer an option it never uses (clap does not
    // propagate a global argument to a command that has one of that id).
    // Given anyway, it is refused in `Cli::check`. Never read.
    #[arg(short = 'b', long = "bootstrap-server", id = "bootstrap", hide = true)]
    pub unused_bootstrap: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum PerfCommand {
    /// Produce generated records as fast as acknowledgements allow, or at --rate
    #[command(
        after_help = "Example:\n  ferrolog perf produce bench --records 1000000 --record-size 100 --batch-size 1000 --acks 1"
    )]
    Produce(PerfProduceArgs),
    /// Consume a topic from the beginning as fast as possible
    #[command(after_help = "Example:\n  ferrolog perf consume bench --records 1000000")]
    Consume(PerfConsumeArgs),
}

#[derive(Debug, Args)]
pub struct PerfProduceArgs {
    /// Topic to produce to (auto-created if the broker allows it)
    pub topic: String,
    /// Records to send (ignored with --duration)
    #[arg(long, default_value_t = 100_000)]
    pub records: u64,
    /// Run for this long instead (e.g. 10s)
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<std::time::Duration>,
    /// Value size in bytes
    #[arg(long, default_value_t = 100)]
    pub record_size: usize,
    /// Records per batch (the last batch of --records holds the rest; at a
    /// low --rate a batch holds at most a tenth of a second of it)
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub batch_size: u32,
    /// Produce requests in flight (one connection each)
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub concurrency: u32,
    /// Acknowledgement to wait for
    #[arg(long, value_enum, default_value_t = AcksArg::One)]
    pub acks: AcksArg,
    /// Compression of record batches
    #[arg(long, value_enum, default_value_t = CompressionArg::None)]
    pub compression: CompressionArg,
    /// Give records the keys key-0 .. key-(N-1) in turn, starting again in
    /// each batch (a batch is sent over and over, so at most --batch-size
    /// distinct keys); without it records have no key. A compacted topic
    /// refuses records without a key
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub keys: Option<u64>,
    /// Send at this many records/s in all, across the connections, instead
    /// of as fast as possible (open loop: latency counts from each request's
    /// scheduled send time, so a stall is not hidden by the requests it
    /// delayed; the round trip alone is reported beside it)
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub rate: Option<u64>,
}

#[derive(Debug, Args)]
pub struct PerfConsumeArgs {
    /// Topic to consume (from the beginning)
    pub topic: String,
    /// Stop after this many records, or sooner at the end of every partition
    /// (default: at the end of every partition)
    #[arg(long)]
    pub records: Option<u64>,
    /// Bytes per fetch response (Kafka's `fetch.max.bytes`)
    #[arg(long, default_value_t = 50 * 1024 * 1024)]
    pub fetch_bytes: i32,
    /// Bytes per partition in a fetch response (Kafka's
    /// `max.partition.fetch.bytes`). Responses of a few MiB or less keep the
    /// pipe moving: a much larger one waits on more socket-buffer round trips
    #[arg(long, default_value_t = 1024 * 1024)]
    pub partition_fetch_bytes: i32,
}

/// A `--key-separator`: an empty one would split nothing, so every record
/// would silently go without a key.
fn parse_separator(s: &str) -> Result<String, String> {
    if s.is_empty() {
        return Err(
            "the separator is empty; leave --key-separator out for records without keys".into(),
        );
    }
    Ok(s.to_owned())
}

/// `key=value` → `(key, value)`; the value may itself contain `=`.
pub fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    /// Every argument of every command, positionals included, says what it
    /// is in `--help`: an argument listed bare leaves the user guessing.
    #[test]
    fn every_argument_has_help() {
        use clap::CommandFactory;
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                if arg.get_help().is_none() && !arg.is_hide_set() {
                    missing.push(format!("{path} {}", arg.get_id()));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "ferrolog", &mut missing);
        assert!(missing.is_empty(), "arguments without help: {missing:?}");
    }

    #[test]
    fn key_value_splits_at_first_equals() {
        assert_eq!(parse_key_value("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert!(parse_key_value("novalue").is_err());
        assert!(parse_key_value("=x").is_err());
    }
}
