//! Per-topic configs: the Kafka keys a topic may set, their validation, and
//! their translation into the storage engine's `LogConfig`.

use std::collections::BTreeMap;

use ferrolog_storage::{Compaction, Durability, LogConfig};

use crate::config::BrokerConfig;

pub const RETENTION_MS: &str = "retention.ms";
pub const RETENTION_BYTES: &str = "retention.bytes";
pub const SEGMENT_BYTES: &str = "segment.bytes";
pub const SEGMENT_MS: &str = "segment.ms";
/// The smallest `segment.bytes`, topic or broker default.
const SEGMENT_BYTES_MIN: i64 = 1 << 20;
pub const MAX_MESSAGE_BYTES: &str = "max.message.bytes";
pub const CLEANUP_POLICY: &str = "cleanup.policy";
pub const DURABILITY: &str = "ferrolog.durability";
pub const INDEX_INTERVAL_BYTES: &str = "index.interval.bytes";
pub const MIN_INSYNC_REPLICAS: &str = "min.insync.replicas";
pub const FLUSH_MESSAGES: &str = "flush.messages";
pub const FLUSH_MS: &str = "flush.ms";
pub const MESSAGE_TIMESTAMP_TYPE: &str = "message.timestamp.type";
pub const DELETE_RETENTION_MS: &str = "delete.retention.ms";
pub const MIN_CLEANABLE_DIRTY_RATIO: &str = "min.cleanable.dirty.ratio";
pub const MIN_COMPACTION_LAG_MS: &str = "min.compaction.lag.ms";
pub const MAX_COMPACTION_LAG_MS: &str = "max.compaction.lag.ms";
/// The two words `cleanup.policy` lists (Kafka's `ValidList.in`).
const COMPACT: &str = "compact";
const DELETE: &str = "delete";
const LOG_APPEND_TIME: &str = "LogAppendTime";

/// How a value is checked (Kafka's `ConfigDef` types and validators).
#[derive(Clone, Copy, Debug)]
enum Kind {
    /// An integer in `min..=max`.
    Number {
        min: i64,
        max: i64,
    },
    Bool,
    /// A double in 0..=1.
    Ratio,
    /// One of these strings, exactly.
    OneOf(&'static [&'static str]),
    /// A comma-separated list of these words, at least one (Kafka's `LIST`
    /// type with `ValidList.in`: the words are trimmed, each must be one of
    /// these exactly).
    ListOf(&'static [&'static str]),
    /// A replica list for throttling: empty, `*`, or `partition:broker,...`.
    ReplicaList,
    /// Any string (kept only to be described back).
    Text,
    /// Ferrolog's `always | interval:<ms> | never`.
    Durability,
}

/// A value Ferrolog accepts for a key, when it accepts fewer than Kafka.
#[derive(Clone, Copy, Debug)]
enum Served {
    /// Every valid value.
    All,
    /// Only these values: the others need what Ferrolog does not do
    /// (compaction, re-compression, timestamp checks, tiered storage), which
    /// the second field says.
    Only(&'static [&'static str], &'static str),
}

/// The default a key is described with when the topic does not set it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DefaultValue {
    Fixed(&'static str),
    /// From the broker's `[log]` section.
    Broker,
}

/// One topic config key.
#[derive(Clone, Copy, Debug)]
struct Spec {
    key: &'static str,
    kind: Kind,
    served: Served,
    default: DefaultValue,
}

const I32: i64 = i32::MAX as i64;
const I64: i64 = i64::MAX;
const U32: i64 = u32::MAX as i64;
const LONG_MAX: &str = "9223372036854775807";
const NO_TIMESTAMP_CHECKS: &str = "record timestamps are not checked against the broker's clock";

const fn spec(key: &'static str, kind: Kind, default: DefaultValue) -> Spec {
    Spec {
        key,
        kind,
        served: Served::All,
        default,
    }
}

const fn only(
    key: &'static str,
    kind: Kind,
    served: &'static [&'static str],
    default: &'static str,
    why: &'static str,
) -> Spec {
    Spec {
        key,
        kind,
        served: Served::Only(served, why),
        default: DefaultValue::Fixed(default),
    }
}

/// Every key a topic may set, in the order DescribeConfigs lists them: Kafka's
/// topic configs (`LogConfig`) and Ferrolog's own. The ones the engine or the
/// broker act on are translated in `apply` and `to_log_config`; the others are
/// accepted and described as set, with nothing to act on in a single node
/// without replication or tiered storage (replica throttles, unclean
/// election, compression levels used only when a
/// broker re-compresses, index sizing, file deletion delay, preallocation).
/// Values that would need what Ferrolog does not do are refused (`Served::Only`).
#[rustfmt::skip]
const SPECS: &[Spec] = &[
    spec(CLEANUP_POLICY, Kind::ListOf(&[COMPACT, DELETE]), DefaultValue::Fixed(DELETE)),
    spec("compression.gzip.level", Kind::Number { min: -1, max: 9 }, DefaultValue::Fixed("-1")),
    spec("compression.lz4.level", Kind::Number { min: 1, max: 17 }, DefaultValue::Fixed("9")),
    only("compression.type", Kind::OneOf(&["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"]), &["producer"], "producer", "batches are stored as the producer compressed them, never re-compressed"),
    spec("compression.zstd.level", Kind::Number { min: -131072, max: 22 }, DefaultValue::Fixed("3")),
    spec(DELETE_RETENTION_MS, Kind::Number { min: 0, max: I64 }, DefaultValue::Fixed("86400000")),
    spec(DURABILITY, Kind::Durability, DefaultValue::Broker),
    spec("file.delete.delay.ms", Kind::Number { min: 0, max: I64 }, DefaultValue::Fixed("60000")),
    spec(FLUSH_MESSAGES, Kind::Number { min: 1, max: I64 }, DefaultValue::Fixed(LONG_MAX)),
    spec(FLUSH_MS, Kind::Number { min: 0, max: I64 }, DefaultValue::Fixed(LONG_MAX)),
    spec("follower.replication.throttled.replicas", Kind::ReplicaList, DefaultValue::Fixed("")),
    spec(INDEX_INTERVAL_BYTES, Kind::Number { min: 0, max: I32 }, DefaultValue::Broker),
    spec("leader.replication.throttled.replicas", Kind::ReplicaList, DefaultValue::Fixed("")),
    spec("local.retention.bytes", Kind::Number { min: -2, max: I64 }, DefaultValue::Fixed("-2")),
    spec("local.retention.ms", Kind::Number { min: -2, max: I64 }, DefaultValue::Fixed("-2")),
    spec(MAX_COMPACTION_LAG_MS, Kind::Number { min: 1, max: I64 }, DefaultValue::Fixed(LONG_MAX)),
    spec(MAX_MESSAGE_BYTES, Kind::Number { min: 0, max: U32 }, DefaultValue::Broker),
    spec("message.downconversion.enable", Kind::Bool, DefaultValue::Fixed("true")),
    spec("message.format.version", Kind::Text, DefaultValue::Fixed("3.0-IV1")),
    only("message.timestamp.after.max.ms", Kind::Number { min: 0, max: I64 }, &[LONG_MAX], LONG_MAX, NO_TIMESTAMP_CHECKS),
    only("message.timestamp.before.max.ms", Kind::Number { min: 0, max: I64 }, &[LONG_MAX], LONG_MAX, NO_TIMESTAMP_CHECKS),
    only("message.timestamp.difference.max.ms", Kind::Number { min: 0, max: I64 }, &[LONG_MAX], LONG_MAX, NO_TIMESTAMP_CHECKS),
    spec(MESSAGE_TIMESTAMP_TYPE, Kind::OneOf(&["CreateTime", LOG_APPEND_TIME]), DefaultValue::Fixed("CreateTime")),
    spec(MIN_CLEANABLE_DIRTY_RATIO, Kind::Ratio, DefaultValue::Fixed("0.5")),
    spec(MIN_COMPACTION_LAG_MS, Kind::Number { min: 0, max: I64 }, DefaultValue::Fixed("0")),
    spec(MIN_INSYNC_REPLICAS, Kind::Number { min: 1, max: I32 }, DefaultValue::Fixed("1")),
    spec("preallocate", Kind::Bool, DefaultValue::Fixed("false")),
    spec("remote.log.copy.disable", Kind::Bool, DefaultValue::Fixed("false")),
    spec("remote.log.delete.on.disable", Kind::Bool, DefaultValue::Fixed("false")),
    only("remote.storage.enable", Kind::Bool, &["false"], "false", "no tiered storage"),
    spec(RETENTION_BYTES, Kind::Number { min: -1, max: I64 }, DefaultValue::Broker),
    spec(RETENTION_MS, Kind::Number { min: -1, max: I64 }, DefaultValue::Broker),
    // At least 1 MiB, as since Kafka 4.0 (KIP-1030): each segment is three
    // files, and a producer should not decide how many a partition makes.
    spec(SEGMENT_BYTES, Kind::Number { min: SEGMENT_BYTES_MIN, max: I64 }, DefaultValue::Broker),
    spec("segment.index.bytes", Kind::Number { min: 4, max: I32 }, DefaultValue::Fixed("10485760")),
    spec("segment.jitter.ms", Kind::Number { min: 0, max: I64 }, DefaultValue::Fixed("0")),
    spec(SEGMENT_MS, Kind::Number { min: 1, max: I64 }, DefaultValue::Broker),
    spec("unclean.leader.election.enable", Kind::Bool, DefaultValue::Fixed("false")),
];

fn spec_of(key: &str) -> Option<&'static Spec> {
    SPECS.iter().find(|s| s.key == key)
}

/// A config key or value a topic cannot have.
#[derive(Debug, thiserror::Error)]
pub enum TopicConfigError {
    #[error("unknown topic config {0:?}")]
    UnknownKey(String),
    #[error("invalid value {value:?} for {key}: {reason}")]
    InvalidValue {
        key: String,
        value: String,
        reason: String,
    },
    #[error("Config value {op} is not allowed for config key: {key}")]
    NotAList { key: String, op: &'static str },
    #[error("{key}={value} is not supported by this broker: {why}")]
    Unsupported {
        key: String,
        value: String,
        why: &'static str,
    },
    /// Values valid one by one that Kafka refuses together.
    #[error("{0}")]
    Conflict(String),
}

/// The configs a topic sets explicitly; everything else is the broker default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TopicConfig {
    overrides: BTreeMap<String, String>,
    /// `cleanup.policy`, parsed once when the configs change: the produce
    /// path asks for it on every append.
    policy: CleanupPolicy,
}

/// What `cleanup.policy` lists: Kafka's `LogConfig.compact` and `.delete`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CleanupPolicy {
    /// The log is compacted: keyless records are refused.
    pub compact: bool,
    /// Retention by time and size applies, and DeleteRecords is allowed.
    pub delete: bool,
}

impl Default for CleanupPolicy {
    fn default() -> Self {
        CleanupPolicy {
            compact: false,
            delete: true,
        }
    }
}

impl CleanupPolicy {
    /// The policy a validated `cleanup.policy` value lists.
    fn parse(value: &str) -> CleanupPolicy {
        let has = |word: &str| value.split(',').any(|w| w.trim() == word);
        CleanupPolicy {
            compact: has(COMPACT),
            delete: has(DELETE),
        }
    }
}

/// One effective config value, for DescribeConfigs.
#[derive(Debug)]
pub struct ConfigEntry {
    pub key: &'static str,
    pub value: String,
    /// True when the topic sets the value itself.
    pub is_override: bool,
}

impl TopicConfig {
    /// Validates every entry of `map`.
    pub fn from_map(map: BTreeMap<String, String>) -> Result<TopicConfig, TopicConfigError> {
        for (key, value) in &map {
            validate(key, value)?;
        }
        let mut config = TopicConfig {
            overrides: map,
            policy: CleanupPolicy::default(),
        };
        config.policy = config.parsed_policy();
        Ok(config)
    }

    /// The topic's `cleanup.policy`.
    pub fn cleanup_policy(&self) -> CleanupPolicy {
        self.policy
    }

    fn parsed_policy(&self) -> CleanupPolicy {
        self.overrides
            .get(CLEANUP_POLICY)
            .map_or_else(CleanupPolicy::default, |v| CleanupPolicy::parse(v))
    }

    /// The explicitly set entries.
    pub fn overrides(&self) -> &BTreeMap<String, String> {
        &self.overrides
    }

    /// Sets one key after validating it.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), TopicConfigError> {
        validate(key, value)?;
        self.overrides.insert(key.to_string(), value.to_string());
        self.policy = self.parsed_policy();
        Ok(())
    }

    /// Kafka's APPEND (`subtract` false) or SUBTRACT on a list-typed key:
    /// the words of `value` added to the current list (set or default) where
    /// missing, or taken out of it (ConfigAdminManager.prepareIncrementalConfigs).
    pub fn change_list(
        &mut self,
        key: &str,
        value: &str,
        subtract: bool,
    ) -> Result<(), TopicConfigError> {
        let spec = spec_of(key).ok_or_else(|| TopicConfigError::UnknownKey(key.to_string()))?;
        if !matches!(spec.kind, Kind::ListOf(_) | Kind::ReplicaList) {
            let op = if subtract { "subtract" } else { "append" };
            return Err(TopicConfigError::NotAList {
                key: key.to_string(),
                op,
            });
        }
        let current = match self.overrides.get(key) {
            Some(value) => value.clone(),
            None => match spec.default {
                DefaultValue::Fixed(value) => value.to_string(),
                DefaultValue::Broker => String::new(),
            },
        };
        let words = |s: &str| -> Vec<String> {
            s.split(',')
                .map(|w| w.trim().to_string())
                .filter(|w| !w.is_empty())
                .collect()
        };
        let mut list = words(&current);
        let given = words(value);
        if subtract {
            list.retain(|w| !given.contains(w));
        } else {
            for word in given {
                if !list.contains(&word) {
                    list.push(word);
                }
            }
        }
        self.set(key, &list.join(","))
    }

    /// Returns one key to the broker default.
    pub fn remove(&mut self, key: &str) -> Result<(), TopicConfigError> {
        if spec_of(key).is_none() {
            return Err(TopicConfigError::UnknownKey(key.to_string()));
        }
        self.overrides.remove(key);
        self.policy = self.parsed_policy();
        Ok(())
    }

    /// The storage configuration these configs and the broker defaults give.
    pub fn to_log_config(&self, broker: &BrokerConfig) -> Result<LogConfig, TopicConfigError> {
        let mut log = LogConfig {
            segment_bytes_max: broker.log.segment_bytes,
            segment_ms_max: broker.log.segment_ms,
            retention_ms: optional_i64(broker.log.retention_ms),
            retention_bytes: optional_u64(broker.log.retention_bytes),
            max_batch_bytes: broker.log.max_message_bytes,
            durability: parse_durability(DURABILITY, &broker.log.durability)?,
            writeback_bytes: broker.log.writeback_bytes,
            ..LogConfig::default()
        };
        for (key, value) in &self.overrides {
            apply(&mut log, key, value)?;
        }
        // As Kafka's LogConfig: the cleaner works on a log whose policy lists
        // `compact`, and retention deletes only where it lists `delete`.
        if let Some(compaction) = self.policy.compact.then(|| self.compaction()).transpose()? {
            // As Kafka's LogConfig.maxSegmentMs: the active segment rolls by
            // the max lag too, since the cleaner never cleans it.
            log.segment_ms_max = log.segment_ms_max.min(compaction.max_lag_ms);
            log.compaction = Some(compaction);
        }
        // Kafka's LogValidator.validateKey: a compacted topic takes keyed
        // records only (the engine checks them in its walk of each append).
        log.require_keys = self.policy.compact;
        if !self.policy.delete {
            log.retention_ms = None;
            log.retention_bytes = None;
        }
        // Kafka's flush settings can only make a topic more durable than
        // ferrolog.durability says: an fsync at least every flush.ms, and,
        // since the engine counts no records between fsyncs, an fsync on
        // every append for any message count.
        if let Some(ms) = self.number(FLUSH_MS).filter(|&ms| ms < i64::MAX) {
            let wanted = match u64::try_from(ms) {
                Ok(0) | Err(_) => Durability::Always,
                Ok(interval_ms) => Durability::Interval { interval_ms },
            };
            log.durability = stricter(log.durability, wanted);
        }
        if self.number(FLUSH_MESSAGES).is_some_and(|n| n < i64::MAX) {
            log.durability = Durability::Always;
        }
        Ok(log)
    }

    /// The cleaner's settings from `delete.retention.ms`,
    /// `min.cleanable.dirty.ratio`, `min.compaction.lag.ms` and
    /// `max.compaction.lag.ms` (each validated when set), or Kafka's defaults.
    fn compaction(&self) -> Result<Compaction, TopicConfigError> {
        let defaults = Compaction::default();
        let ratio = match self.overrides.get(MIN_CLEANABLE_DIRTY_RATIO) {
            Some(value) => dirty_per_mille(value)?,
            None => defaults.min_dirty_per_mille,
        };
        Ok(Compaction {
            delete_retention_ms: self
                .number(DELETE_RETENTION_MS)
                .unwrap_or(defaults.delete_retention_ms),
            min_dirty_per_mille: ratio,
            min_lag_ms: self
                .number(MIN_COMPACTION_LAG_MS)
                .unwrap_or(defaults.min_lag_ms),
            max_lag_ms: self
                .number(MAX_COMPACTION_LAG_MS)
                .unwrap_or(defaults.max_lag_ms),
        })
    }

    /// What no one key shows, checked when a topic is created or its configs
    /// change (not when a stored topic loads, so an older broker's topic
    /// still opens): Kafka refuses a `min.compaction.lag.ms` above
    /// `max.compaction.lag.ms`, with its message (`LogConfig.validateValues`).
    pub fn check_combination(&self) -> Result<(), TopicConfigError> {
        let min = self.number(MIN_COMPACTION_LAG_MS).unwrap_or(0);
        let max = self.number(MAX_COMPACTION_LAG_MS).unwrap_or(i64::MAX);
        if min > max {
            return Err(TopicConfigError::Conflict(format!(
                "conflict topic config setting {MIN_COMPACTION_LAG_MS} ({min}) > {MAX_COMPACTION_LAG_MS} ({max})"
            )));
        }
        Ok(())
    }

    /// The fewest in-sync replicas an acks=all produce needs; this node is
    /// the only replica, so more than 1 refuses every acks=all produce.
    pub fn min_insync_replicas(&self) -> i64 {
        self.number(MIN_INSYNC_REPLICAS).unwrap_or(1)
    }

    /// True when the broker stamps batches with their append time
    /// (`message.timestamp.type = LogAppendTime`).
    pub fn log_append_time(&self) -> bool {
        self.overrides
            .get(MESSAGE_TIMESTAMP_TYPE)
            .is_some_and(|v| v.trim() == LOG_APPEND_TIME)
    }

    /// Every key with its effective value.
    pub fn entries(&self, broker: &BrokerConfig) -> Vec<ConfigEntry> {
        SPECS
            .iter()
            .map(|spec| match self.overrides.get(spec.key) {
                Some(value) => ConfigEntry {
                    key: spec.key,
                    value: value.clone(),
                    is_override: true,
                },
                None => ConfigEntry {
                    key: spec.key,
                    value: default_value(broker, spec),
                    is_override: false,
                },
            })
            .collect()
    }

    /// A set numeric key's value (validated when it was set).
    fn number(&self, key: &str) -> Option<i64> {
        self.overrides.get(key).and_then(|v| v.trim().parse().ok())
    }
}

/// The durability that fsyncs at least as often as both.
fn stricter(a: Durability, b: Durability) -> Durability {
    use Durability::{Always, Interval, Never};
    match (a, b) {
        (Always, _) | (_, Always) => Always,
        (Interval { interval_ms: x }, Interval { interval_ms: y }) => Interval {
            interval_ms: x.min(y),
        },
        (Interval { interval_ms }, Never) | (Never, Interval { interval_ms }) => {
            Interval { interval_ms }
        }
        (Never, Never) => Never,
    }
}

fn default_value(broker: &BrokerConfig, spec: &Spec) -> String {
    match (spec.default, spec.key) {
        (DefaultValue::Fixed(value), _) => value.to_string(),
        (DefaultValue::Broker, RETENTION_MS) => broker.log.retention_ms.to_string(),
        (DefaultValue::Broker, RETENTION_BYTES) => broker.log.retention_bytes.to_string(),
        (DefaultValue::Broker, SEGMENT_BYTES) => broker.log.segment_bytes.to_string(),
        (DefaultValue::Broker, SEGMENT_MS) => broker.log.segment_ms.to_string(),
        (DefaultValue::Broker, MAX_MESSAGE_BYTES) => broker.log.max_message_bytes.to_string(),
        (DefaultValue::Broker, DURABILITY) => broker.log.durability.clone(),
        (DefaultValue::Broker, INDEX_INTERVAL_BYTES) => {
            LogConfig::default().index_interval_bytes.to_string()
        }
        (DefaultValue::Broker, _) => String::new(),
    }
}

/// The broker's `[log]` defaults obey the bounds a topic's own values do
/// (checked once, at start-up, by `BrokerConfig::validate`).
pub fn check_broker_defaults(broker: &BrokerConfig) -> Result<(), TopicConfigError> {
    for spec in SPECS.iter().filter(|s| s.default == DefaultValue::Broker) {
        validate(spec.key, &default_value(broker, spec))?;
    }
    Ok(())
}

fn validate(key: &str, value: &str) -> Result<(), TopicConfigError> {
    apply(&mut LogConfig::default(), key, value)
}

/// Checks one entry against its spec, then applies what the engine acts on.
fn apply(log: &mut LogConfig, key: &str, value: &str) -> Result<(), TopicConfigError> {
    let spec = spec_of(key).ok_or_else(|| TopicConfigError::UnknownKey(key.to_string()))?;
    let number = check(spec, value)?;
    if let Served::Only(served, why) = spec.served
        && !served.contains(&value.trim())
    {
        return Err(TopicConfigError::Unsupported {
            key: key.to_string(),
            value: value.to_string(),
            why,
        });
    }
    // A number key's value was parsed and bounded by `check`: the spec's
    // bounds are the engine's types' (`max.message.bytes` up to u32::MAX).
    let to_u32 = |n: i64| {
        u32::try_from(n).map_err(|_| invalid_value(key, value, "not a number in range".into()))
    };
    match (key, number) {
        (RETENTION_MS, Some(n)) => log.retention_ms = optional_i64(n),
        (RETENTION_BYTES, Some(n)) => log.retention_bytes = optional_u64(n),
        (SEGMENT_BYTES, Some(n)) => log.segment_bytes_max = n.unsigned_abs(),
        (SEGMENT_MS, Some(n)) => log.segment_ms_max = n,
        (MAX_MESSAGE_BYTES, Some(n)) => log.max_batch_bytes = to_u32(n)?,
        (INDEX_INTERVAL_BYTES, Some(n)) => log.index_interval_bytes = to_u32(n)?,
        (DURABILITY, _) => log.durability = parse_durability(key, value)?,
        _ => {}
    }
    Ok(())
}

/// Checks `value` against the spec's kind; returns the number for a number key.
fn check(spec: &Spec, value: &str) -> Result<Option<i64>, TopicConfigError> {
    let invalid = |reason: String| invalid_value(spec.key, value, reason);
    let trimmed = value.trim();
    match spec.kind {
        Kind::Number { min, max } => {
            let parsed: i64 = trimmed
                .parse()
                .map_err(|_| invalid("not a number in range".to_string()))?;
            if parsed < min {
                return Err(invalid(format!("must be at least {min}")));
            }
            if parsed > max {
                return Err(invalid(format!("must be at most {max}")));
            }
            return Ok(Some(parsed));
        }
        Kind::Bool => {
            if !trimmed.eq_ignore_ascii_case("true") && !trimmed.eq_ignore_ascii_case("false") {
                return Err(invalid("expected true or false".to_string()));
            }
        }
        Kind::Ratio => {
            let ratio: f64 = trimmed
                .parse()
                .map_err(|_| invalid("not a number".to_string()))?;
            if !(0.0..=1.0).contains(&ratio) {
                return Err(invalid("must be between 0 and 1".to_string()));
            }
        }
        Kind::OneOf(allowed) => {
            if !allowed.contains(&trimmed) {
                return Err(invalid(format!("expected one of {}", allowed.join(", "))));
            }
        }
        Kind::ListOf(allowed) => {
            if !trimmed.split(',').all(|w| allowed.contains(&w.trim())) {
                return Err(invalid(format!(
                    "expected a comma-separated list of {}",
                    allowed.join(", ")
                )));
            }
        }
        Kind::ReplicaList => {
            let valid = trimmed.is_empty()
                || trimmed == "*"
                || trimmed.split(',').all(|pair| {
                    pair.trim().split_once(':').is_some_and(|(p, b)| {
                        p.trim().parse::<u32>().is_ok() && b.trim().parse::<u32>().is_ok()
                    })
                });
            if !valid {
                return Err(invalid(
                    "expected empty, * or partition:broker pairs separated by commas".to_string(),
                ));
            }
        }
        Kind::Text => {}
        Kind::Durability => {
            parse_durability(spec.key, value)?;
        }
    }
    Ok(None)
}

fn invalid_value(key: &str, value: &str, reason: String) -> TopicConfigError {
    TopicConfigError::InvalidValue {
        key: key.to_string(),
        value: value.to_string(),
        reason,
    }
}

fn parse_durability(key: &str, value: &str) -> Result<Durability, TopicConfigError> {
    value.parse::<Durability>().map_err(|_| {
        invalid_value(
            key,
            value,
            "expected always, interval:<ms> or never".to_string(),
        )
    })
}

/// `min.cleanable.dirty.ratio` (a double in 0..=1) in thousandths, rounded.
fn dirty_per_mille(value: &str) -> Result<u32, TopicConfigError> {
    let ratio: f64 = value
        .trim()
        .parse()
        .map_err(|_| invalid_value(MIN_CLEANABLE_DIRTY_RATIO, value, "not a number".into()))?;
    let per_mille = (ratio.clamp(0.0, 1.0) * 1000.0).round();
    // A whole number in 0..=1000 after the clamp and round: the cast is exact.
    Ok(per_mille as u32)
}

/// Kafka's -1 ("no limit") as `None`.
fn optional_i64(value: i64) -> Option<i64> {
    (value >= 0).then_some(value)
}

fn optional_u64(value: i64) -> Option<u64> {
    u64::try_from(value).ok()
}
