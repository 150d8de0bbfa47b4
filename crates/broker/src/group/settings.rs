//! The `[groups]` section of the broker's TOML configuration, in Kafka's names and units.

use serde::Deserialize;

use super::coordinator::CoordinatorConfig;
use super::machine::GroupConfig;
use crate::config::ConfigError;

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GroupSettings {
    /// `group.initial.rebalance.delay.ms`: how long a new group's first rebalance waits for
    /// more members (Kafka's default 3000; tests use 0).
    pub initial_rebalance_delay_ms: i64,
    /// `group.min.session.timeout.ms`
    pub min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms`
    pub max_session_timeout_ms: i32,
    /// `offsets.retention.minutes`: committed offsets of an empty group expire after this.
    pub offsets_retention_minutes: i64,
}

impl Default for GroupSettings {
    fn default() -> Self {
        let group = GroupConfig::default();
        GroupSettings {
            initial_rebalance_delay_ms: group.initial_rebalance_delay_ms,
            min_session_timeout_ms: group.session_timeout_ms_min,
            max_session_timeout_ms: group.session_timeout_ms_max,
            offsets_retention_minutes: 7 * 24 * 60,
        }
    }
}

impl GroupSettings {
    /// Refuses what serde cannot: values that would quietly break every group.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid =
            |key: &str, detail: &str| Err(ConfigError::invalid(&format!("groups.{key}"), detail));
        if self.offsets_retention_minutes < 1 {
            // 0 or less would expire every empty group's committed offsets at
            // the next expiry pass (Kafka: offsets.retention.minutes >= 1).
            return invalid("offsets_retention_minutes", "must be at least 1");
        }
        if self.min_session_timeout_ms < 1 {
            return invalid("min_session_timeout_ms", "must be at least 1");
        }
        if self.max_session_timeout_ms < self.min_session_timeout_ms {
            // No session timeout would be accepted: every JoinGroup refused.
            return invalid(
                "max_session_timeout_ms",
                "must be at least min_session_timeout_ms",
            );
        }
        Ok(())
    }

    pub fn coordinator_config(&self) -> CoordinatorConfig {
        CoordinatorConfig {
            group: GroupConfig {
                initial_rebalance_delay_ms: self.initial_rebalance_delay_ms.max(0),
                session_timeout_ms_min: self.min_session_timeout_ms,
                session_timeout_ms_max: self.max_session_timeout_ms,
            },
            offsets_retention_ms: self.offsets_retention_minutes.saturating_mul(60_000),
            ..CoordinatorConfig::default()
        }
    }
}
