//! Per-partition settings.
use std::fmt;
use std::str::FromStr;

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// When appended bytes are forced to stable storage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// fsync before `append` returns; concurrent appends share one fsync.
    Always,
    /// fsync at least every `interval_ms`, and soon after a segment rolls
    /// (done by the store's background thread).
    Interval { interval_ms: u64 },
    /// No fsync on the write path; the OS writes back when it likes. Only
    /// rolled segments are fsynced (by the store's background thread, as
    /// Kafka flushes at a roll), and everything at close and recovery.
    Never,
}

impl Default for Durability {
    fn default() -> Self {
        Durability::Interval { interval_ms: 1000 }
    }
}

impl fmt::Display for Durability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Durability::Always => f.write_str("always"),
            Durability::Interval { interval_ms } => write!(f, "interval:{interval_ms}"),
            Durability::Never => f.write_str("never"),
        }
    }
}

/// A durability string that is none of `always`, `never`, `interval:<ms>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid durability {0:?}: expected \"always\", \"never\" or \"interval:<ms>\"")]
pub struct ParseDurabilityError(pub String);

impl FromStr for Durability {
    type Err = ParseDurabilityError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ParseDurabilityError(s.to_owned());
        match s.trim() {
            "always" => Ok(Durability::Always),
            "never" => Ok(Durability::Never),
            "interval" => Ok(Durability::default()),
            other => {
                let ms = other.strip_prefix("interval:").ok_or_else(bad)?;
                let interval_ms: u64 = ms.trim().parse().map_err(|_| bad())?;
                if interval_ms == 0 {
                    return Err(bad());
                }
                Ok(Durability::Interval { interval_ms })
            }
        }
    }
}

/// Log compaction (`cleanup.policy=compact`): sealed segments are rewritten
/// keeping only the last record of each key. Offsets never change: every
/// batch header is kept, with fewer (or no) records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Compaction {
    /// A tombstone (a record with a null value) is removed this long after
    /// the pass that first kept it (Kafka's `delete.retention.ms`, counted
    /// from the batch's delete horizon as since KIP-534).
    pub delete_retention_ms: i64,
    /// Clean once, of the segments a pass may clean now, the bytes not yet
    /// cleaned reach this share, in thousandths (Kafka's
    /// `min.cleanable.dirty.ratio` × 1000; `Partition::pass_due`).
    pub min_dirty_per_mille: u32,
    /// A segment whose newest record is younger than this is not cleaned
    /// (Kafka's `min.compaction.lag.ms`).
    pub min_lag_ms: i64,
    /// A sealed segment not cleaned this long after its first batch's
    /// timestamp is cleaned at the cleaner's next check, whatever the dirty share
    /// (Kafka's `max.compaction.lag.ms`; i64::MAX: never forced).
    pub max_lag_ms: i64,
}

impl Default for Compaction {
    fn default() -> Self {
        Compaction {
            delete_retention_ms: DAY_MS,
            min_dirty_per_mille: 500,
            min_lag_ms: 0,
            max_lag_ms: i64::MAX,
        }
    }
}

/// Settings of one partition's log. All fields are public; `Default` gives
/// Kafka-like values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogConfig {
    /// Roll to a new segment before the active one would exceed this size.
    pub segment_bytes_max: u64,
    /// Roll when the active segment is older than this (by its first batch's time).
    pub segment_ms_max: i64,
    /// Bytes of log between two sparse index entries.
    pub index_interval_bytes: u32,
    /// Delete sealed segments whose max timestamp is older than this; None = forever.
    pub retention_ms: Option<i64>,
    /// Delete oldest sealed segments while the partition is larger than this; None = unlimited.
    pub retention_bytes: Option<u64>,
    /// Largest accepted batch (whole batch including its 12-byte offset/length prefix).
    pub max_batch_bytes: u32,
    pub durability: Durability,
    /// Start writeback of the active segment (`File::start_writeback`) each
    /// time this many bytes were appended since the last start; 0 = never.
    /// Keeps dirty pages few and flowing instead of letting them pile up for
    /// one long fsync or the kernel's dirty threshold, both of which stall
    /// appends to the file for tens to hundreds of ms (docs/PERFORMANCE.md).
    /// A hint only: durability is still decided by fsync alone.
    pub writeback_bytes: u64,
    /// Compact the log (`cleanup.policy` includes `compact`); None = never.
    /// Retention by time and size still applies where set (`compact,delete`).
    pub compaction: Option<Compaction>,
    /// Refuse an append holding a record without a key
    /// ([`StorageError::KeylessRecords`](crate::StorageError::KeylessRecords)):
    /// Kafka's rule for a compacted topic, checked in the walk every append
    /// makes of its records, so a compressed batch is decompressed once. A
    /// log may still hold keyless records written before the rule applied.
    pub require_keys: bool,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes_max: 1 << 30,
            segment_ms_max: 7 * DAY_MS,
            index_interval_bytes: 4096,
            retention_ms: Some(7 * DAY_MS),
            retention_bytes: None,
            max_batch_bytes: 1_048_588,
            durability: Durability::default(),
            writeback_bytes: 1 << 20,
            compaction: None,
            require_keys: false,
        }
    }
}

impl LogConfig {
    /// The segment size actually used: positions in the index are u32, so a
    /// segment never grows past `u32::MAX` bytes whatever the configuration says.
    pub(crate) fn segment_bytes_effective(&self) -> u64 {
        self.segment_bytes_max.clamp(1, u64::from(u32::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durability_round_trips_through_strings() {
        for d in [
            Durability::Always,
            Durability::Never,
            Durability::Interval { interval_ms: 250 },
        ] {
            assert_eq!(d.to_string().parse::<Durability>(), Ok(d));
        }
        assert_eq!("interval".parse::<Durability>(), Ok(Durability::default()));
    }

    #[test]
    fn bad_durability_strings_are_rejected() {
        for s in [
            "",
            "sometimes",
            "interval:",
            "interval:x",
            "interval:0",
            "interval:-5",
        ] {
            assert!(s.parse::<Durability>().is_err(), "{s:?} parsed");
        }
    }
}
