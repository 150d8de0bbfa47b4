//! Per-topic configs: the Kafka keys a topic may set, their validation, and
//! their translation into the storage engine's `LogConfig`.

use std::collections::BTreeMap;

use ferrolog_storage::{Durability, LogConfig};

use crate::config::BrokerConfig;

pub const RETENTION_MS: &str = "retention.ms";
pub const RETENTION_BYTES: &str = "retention.bytes";
pub const SEGMENT_BYTES: &str = "segment.bytes";
pub const SEGMENT_MS: &str = "segment.ms";
pub const MAX_MESSAGE_BYTES: &str = "max.message.bytes";
pub const CLEANUP_POLICY: &str = "cleanup.policy";
pub const DURABILITY: &str = "ferrolog.durability";

/// Every key a topic may set, in the order DescribeConfigs lists them.
pub const KEYS: [&str; 7] = [
    CLEANUP_POLICY,
    DURABILITY,
    MAX_MESSAGE_BYTES,
    RETENTION_BYTES,
    RETENTION_MS,
    SEGMENT_BYTES,
    SEGMENT_MS,
];

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
    #[error("{key}={value} is not supported by this broker")]
    Unsupported { key: String, value: String },
}

/// The configs a topic sets explicitly; everything else is the broker default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TopicConfig {
    overrides: BTreeMap<String, String>,
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
        Ok(TopicConfig { overrides: map })
    }

    /// The explicitly set entries.
    pub fn overrides(&self) -> &BTreeMap<String, String> {
        &self.overrides
    }

    /// Sets one key after validating it.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), TopicConfigError> {
        validate(key, value)?;
        self.overrides.insert(key.to_string(), value.to_string());
        Ok(())
    }

    /// Returns one key to the broker default.
    pub fn remove(&mut self, key: &str) -> Result<(), TopicConfigError> {
        if !KEYS.contains(&key) {
            return Err(TopicConfigError::UnknownKey(key.to_string()));
        }
        self.overrides.remove(key);
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
        Ok(log)
    }

    /// Every key with its effective value.
    pub fn entries(&self, broker: &BrokerConfig) -> Vec<ConfigEntry> {
        KEYS.iter()
            .map(|&key| match self.overrides.get(key) {
                Some(value) => ConfigEntry {
                    key,
                    value: value.clone(),
                    is_override: true,
                },
                None => ConfigEntry {
                    key,
                    value: default_value(broker, key),
                    is_override: false,
                },
            })
            .collect()
    }
}

fn default_value(broker: &BrokerConfig, key: &str) -> String {
    match key {
        RETENTION_MS => broker.log.retention_ms.to_string(),
        RETENTION_BYTES => broker.log.retention_bytes.to_string(),
        SEGMENT_BYTES => broker.log.segment_bytes.to_string(),
        SEGMENT_MS => broker.log.segment_ms.to_string(),
        MAX_MESSAGE_BYTES => broker.log.max_message_bytes.to_string(),
        CLEANUP_POLICY => "delete".to_string(),
        DURABILITY => broker.log.durability.clone(),
        _ => String::new(),
    }
}

fn validate(key: &str, value: &str) -> Result<(), TopicConfigError> {
    apply(&mut LogConfig::default(), key, value)
}

fn apply(log: &mut LogConfig, key: &str, value: &str) -> Result<(), TopicConfigError> {
    match key {
        RETENTION_MS => log.retention_ms = optional_i64(parse_at_least::<i64>(key, value, -1)?),
        RETENTION_BYTES => {
            log.retention_bytes = optional_u64(parse_at_least::<i64>(key, value, -1)?)
        }
        SEGMENT_BYTES => log.segment_bytes_max = parse_at_least::<u64>(key, value, 1)?,
        SEGMENT_MS => log.segment_ms_max = parse_at_least::<i64>(key, value, 1)?,
        MAX_MESSAGE_BYTES => log.max_batch_bytes = parse_at_least::<u32>(key, value, 0)?,
        DURABILITY => log.durability = parse_durability(key, value)?,
        CLEANUP_POLICY if value == "delete" => {}
        CLEANUP_POLICY => {
            return Err(TopicConfigError::Unsupported {
                key: key.to_string(),
                value: value.to_string(),
            });
        }
        _ => return Err(TopicConfigError::UnknownKey(key.to_string())),
    }
    Ok(())
}

fn parse_at_least<T: std::str::FromStr + PartialOrd + std::fmt::Display>(
    key: &str,
    value: &str,
    min: T,
) -> Result<T, TopicConfigError> {
    let invalid = |reason: String| TopicConfigError::InvalidValue {
        key: key.to_string(),
        value: value.to_string(),
        reason,
    };
    let parsed: T = value
        .trim()
        .parse()
        .map_err(|_| invalid("not a number in range".to_string()))?;
    if parsed < min {
        return Err(invalid(format!("must be at least {min}")));
    }
    Ok(parsed)
}

fn parse_durability(key: &str, value: &str) -> Result<Durability, TopicConfigError> {
    value
        .parse::<Durability>()
        .map_err(|_| TopicConfigError::InvalidValue {
            key: key.to_string(),
            value: value.to_string(),
            reason: "expected always, interval:<ms> or never".to_string(),
        })
}

/// Kafka's -1 ("no limit") as `None`.
fn optional_i64(value: i64) -> Option<i64> {
    (value >= 0).then_some(value)
}

fn optional_u64(value: i64) -> Option<u64> {
    u64::try_from(value).ok()
}
