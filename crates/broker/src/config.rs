//! Broker configuration: TOML file, command-line overrides, defaults that give
//! a working broker with no arguments at all.

use std::path::PathBuf;

use ferrolog_storage::LogConfig;
use serde::Deserialize;

/// Everything `ferrologd` can be told. Every field has a default, so an empty
/// TOML file (or none) is a valid configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BrokerConfig {
    /// Where partitions and topic metadata live.
    pub data_dir: PathBuf,
    /// `HOST:PORT` to listen on; port 0 picks a free port.
    pub listen: String,
    /// `HOST:PORT` given to clients in Metadata; default: the bound address.
    pub advertised_listener: Option<String>,
    /// The one node id this single-node broker reports.
    pub node_id: i32,
    /// Create unknown topics on Metadata and Produce.
    pub auto_create_topics: bool,
    /// Partition count of auto-created topics and of CreateTopics with -1.
    pub default_partitions: i32,
    /// Largest request frame accepted; checked before the body is read
    /// (Kafka's `socket.request.max.bytes`).
    pub max_request_bytes: u32,
    /// Requests a connection may have in flight (handled but not yet answered).
    pub max_in_flight_per_connection: usize,
    /// Connections open at once; more are closed at accept.
    pub connections_max: usize,
    /// Connections open at once from one client IP.
    pub connections_per_ip_max: usize,
    /// A connection that sends nothing for this long is closed
    /// (Kafka's `connections.max.idle.ms`).
    pub connection_idle_ms_max: u64,
    /// Bytes one connection may hold in flight: its unanswered requests plus
    /// the response each of its Fetches may produce. Reading stops at the limit.
    pub in_flight_bytes_per_connection_max: usize,
    /// Bytes of unanswered requests across all connections, at their decoded
    /// size; frames over 64 KiB count from their length prefix on.
    pub in_flight_bytes_max: usize,
    /// Largest Fetch response; a Fetch's `max_bytes` above it is lowered to it
    /// (Kafka's `fetch.max.bytes`). One batch larger than it is still served.
    pub fetch_response_bytes_max: u32,
    /// Produce is refused (retriably) while the data directory's file system
    /// has less free space than this; 0 turns the check off.
    pub free_space_floor_bytes: u64,
    /// How often free space is sampled.
    pub free_space_check_ms: u64,
    /// On shutdown, how long connections get to answer what they have read
    /// (a client that stops reading must not hold shutdown up forever).
    pub shutdown_grace_ms: u64,
    /// Defaults for each topic's log; topics override them with topic configs.
    pub log: LogDefaults,
    /// Consumer groups and committed offsets (`[groups]`).
    pub groups: crate::group::GroupSettings,
}

/// Broker-wide defaults of the per-topic log configuration, in Kafka's units.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogDefaults {
    /// `segment.bytes`
    pub segment_bytes: u64,
    /// `segment.ms`
    pub segment_ms: i64,
    /// `retention.ms`; -1 keeps data forever.
    pub retention_ms: i64,
    /// `retention.bytes`; -1 means unlimited.
    pub retention_bytes: i64,
    /// `max.message.bytes`: the largest record batch accepted.
    pub max_message_bytes: u32,
    /// `ferrolog.durability`: `always` | `interval:<ms>` | `never`.
    pub durability: String,
    /// Start writing the active segment back to disk every this many
    /// appended bytes (a hint, like RocksDB's `bytes_per_sync`); 0 = leave it
    /// to the kernel. Not a durability setting: only fsync is.
    pub writeback_bytes: u64,
    /// How often retention looks for segments to delete
    /// (`log.retention.check.interval.ms`): a segment past `retention.ms`
    /// stays on disk until the next look.
    pub retention_check_interval_ms: u64,
    /// How often the cleaner looks for compacted topics' partitions to
    /// clean (`log.cleaner.backoff.ms`): a partition whose dirty share
    /// reaches `min.cleanable.dirty.ratio` is compacted at the next look.
    pub cleaner_check_interval_ms: u64,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            data_dir: PathBuf::from("data"),
            listen: "127.0.0.1:9092".to_string(),
            advertised_listener: None,
            node_id: 1,
            auto_create_topics: true,
            default_partitions: 1,
            max_request_bytes: 100 * 1024 * 1024,
            max_in_flight_per_connection: 128,
            connections_max: 4096,
            connections_per_ip_max: 1024,
            connection_idle_ms_max: 600_000,
            in_flight_bytes_per_connection_max: 128 * 1024 * 1024,
            in_flight_bytes_max: 1024 * 1024 * 1024,
            fetch_response_bytes_max: 50 * 1024 * 1024,
            free_space_floor_bytes: 256 * 1024 * 1024,
            free_space_check_ms: 1000,
            shutdown_grace_ms: 10_000,
            log: LogDefaults::default(),
            groups: crate::group::GroupSettings::default(),
        }
    }
}

impl Default for LogDefaults {
    fn default() -> Self {
        let log = LogConfig::default();
        LogDefaults {
            segment_bytes: log.segment_bytes_max,
            segment_ms: log.segment_ms_max,
            retention_ms: log.retention_ms.unwrap_or(-1),
            retention_bytes: log
                .retention_bytes
                .map_or(-1, |b| i64::try_from(b).unwrap_or(i64::MAX)),
            max_message_bytes: log.max_batch_bytes,
            durability: log.durability.to_string(),
            writeback_bytes: log.writeback_bytes,
            retention_check_interval_ms: 300_000,
            cleaner_check_interval_ms: 15_000,
        }
    }
}

/// The smallest `max_request_bytes` accepted: 64 KiB, room for any
/// client's ApiVersions, Metadata and group requests.
pub const MAX_REQUEST_BYTES_MIN: u32 = 64 * 1024;

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {path}")]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
    },
    #[error("invalid value for {key}: {detail}")]
    Invalid { key: String, detail: String },
}

impl ConfigError {
    /// The value of `key` cannot be used, for the reason `detail` gives.
    pub fn invalid(key: &str, detail: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            key: key.into(),
            detail: detail.into(),
        }
    }
}

impl BrokerConfig {
    /// Reads a TOML file; missing keys keep their defaults.
    pub fn from_file(path: &std::path::Path) -> Result<BrokerConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Checks the values serde cannot check, so a bad file fails at start-up
    /// rather than at the first topic creation.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, detail: String| Err(ConfigError::invalid(key, detail));
        if self.node_id < 0 {
            // Clients read a negative leader id as "no leader" (Kafka: node.id >= 0).
            return invalid("node_id", "must be at least 0".into());
        }
        let partitions_max = crate::topics::PARTITIONS_PER_TOPIC_MAX;
        if !(1..=partitions_max).contains(&self.default_partitions) {
            // Above the cap every auto-creation would fail, long after start-up.
            return invalid(
                "default_partitions",
                format!("must be from 1 to {partitions_max}"),
            );
        }
        if self.max_request_bytes < MAX_REQUEST_BYTES_MIN {
            // Below this the broker cannot take even a client's first requests
            // (ApiVersions, Metadata) and closes every connection.
            return invalid(
                "max_request_bytes",
                format!("must be at least {MAX_REQUEST_BYTES_MIN}"),
            );
        }
        self.groups.validate()?;
        let at_least_one = [
            (
                "max_in_flight_per_connection",
                self.max_in_flight_per_connection as u64,
            ),
            ("connections_max", self.connections_max as u64),
            ("connections_per_ip_max", self.connections_per_ip_max as u64),
            ("connection_idle_ms_max", self.connection_idle_ms_max),
            (
                "in_flight_bytes_per_connection_max",
                self.in_flight_bytes_per_connection_max as u64,
            ),
            ("in_flight_bytes_max", self.in_flight_bytes_max as u64),
            (
                "fetch_response_bytes_max",
                u64::from(self.fetch_response_bytes_max),
            ),
            ("free_space_check_ms", self.free_space_check_ms),
            (
                "log.retention_check_interval_ms",
                self.log.retention_check_interval_ms,
            ),
            (
                "log.cleaner_check_interval_ms",
                self.log.cleaner_check_interval_ms,
            ),
        ];
        if let Some((key, _)) = at_least_one.iter().find(|(_, value)| *value == 0) {
            return invalid(key, "must be at least 1".into());
        }
        crate::topics::check_broker_defaults(self)
            .and_then(|()| crate::topics::TopicConfig::default().to_log_config(self))
            .map_err(|e| ConfigError::invalid("log", e.to_string()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_toml_parses_and_validates() {
        let text = r#"
            data_dir = "d"
            listen = "127.0.0.1:0"
            advertised_listener = "broker.example:9092"
            node_id = 3
            auto_create_topics = false
            default_partitions = 4
            max_request_bytes = 1048576
            max_in_flight_per_connection = 16
            connections_max = 10
            shutdown_grace_ms = 100
            [log]
            segment_bytes = 1048576
            segment_ms = 1000
            retention_ms = -1
            retention_bytes = -1
            max_message_bytes = 1000
            durability = "always"
            writeback_bytes = 0
            retention_check_interval_ms = 1000
            cleaner_check_interval_ms = 200
            [groups]
        "#;
        let config: BrokerConfig = toml::from_str(text).expect("parses");
        assert!(config.validate().is_ok());
        assert_eq!(
            (
                config.node_id,
                config.default_partitions,
                config.connections_max
            ),
            (3, 4, 10)
        );
        assert_eq!(config.log.durability, "always");
        assert_eq!(config.log.retention_check_interval_ms, 1000);
        assert_eq!(config.log.cleaner_check_interval_ms, 200);
        // The writeback hint reaches every topic's log config; 0 turns it off.
        let log = crate::topics::TopicConfig::default()
            .to_log_config(&config)
            .expect("valid");
        assert_eq!(log.writeback_bytes, 0);
        let empty: BrokerConfig = toml::from_str("").expect("an empty file is the defaults");
        assert_eq!(empty.listen, "127.0.0.1:9092");
        assert_eq!(empty.log.writeback_bytes, 1 << 20);
        assert_eq!(empty.log.cleaner_check_interval_ms, 15_000);
    }

    #[test]
    fn bad_values_are_refused_at_start_up() {
        let unknown = toml::from_str::<BrokerConfig>("no_such_key = 1");
        assert!(unknown.is_err(), "unknown keys are rejected");
        let bad_durability: BrokerConfig =
            toml::from_str("[log]\ndurability = \"sometimes\"").expect("parses");
        assert!(matches!(
            bad_durability.validate(),
            Err(ConfigError::Invalid { .. })
        ));
        let no_partitions: BrokerConfig = toml::from_str("default_partitions = 0").expect("parses");
        assert!(matches!(
            no_partitions.validate(),
            Err(ConfigError::Invalid { .. })
        ));
        let never_checked: BrokerConfig =
            toml::from_str("[log]\nretention_check_interval_ms = 0").expect("parses");
        assert!(matches!(
            never_checked.validate(),
            Err(ConfigError::Invalid { .. })
        ));
        let tiny_segments: BrokerConfig =
            toml::from_str("[log]\nsegment_bytes = 1024").expect("parses");
        assert!(matches!(
            tiny_segments.validate(),
            Err(ConfigError::Invalid { .. })
        ));
    }

    /// Each of these used to start a broker that then failed its users: offsets
    /// wiped within a minute, every connection closed, every auto-creation
    /// refused, clients finding no leader, no member able to join.
    #[test]
    fn values_that_would_break_a_running_broker_are_refused_by_name() {
        for (toml, key) in [
            (
                "[groups]\noffsets_retention_minutes = 0",
                "groups.offsets_retention_minutes",
            ),
            (
                "[groups]\noffsets_retention_minutes = -1",
                "groups.offsets_retention_minutes",
            ),
            (
                "[groups]\nmin_session_timeout_ms = 0",
                "groups.min_session_timeout_ms",
            ),
            (
                "[groups]\nmin_session_timeout_ms = 9000\nmax_session_timeout_ms = 8000",
                "groups.max_session_timeout_ms",
            ),
            ("max_request_bytes = 0", "max_request_bytes"),
            ("max_request_bytes = 65535", "max_request_bytes"),
            ("default_partitions = 10001", "default_partitions"),
            ("node_id = -3", "node_id"),
            (
                "[log]\ncleaner_check_interval_ms = 0",
                "log.cleaner_check_interval_ms",
            ),
        ] {
            let config: BrokerConfig = toml::from_str(toml).expect("parses");
            match config.validate() {
                Err(ConfigError::Invalid { key: refused, .. }) => {
                    assert_eq!(refused, key, "{toml}")
                }
                other => panic!("{toml}: {other:?}"),
            }
        }
        for toml in [
            "[groups]\noffsets_retention_minutes = 1",
            "max_request_bytes = 65536",
            "default_partitions = 10000",
            "node_id = 0",
            "[log]\ncleaner_check_interval_ms = 1",
        ] {
            let config: BrokerConfig = toml::from_str(toml).expect("parses");
            assert!(config.validate().is_ok(), "{toml}");
        }
    }
}
