//! Partition identity and its directory name `<topic>-<partition>`.
use std::fmt;

/// A topic partition. Its directory is `<topic>-<partition>`; topic names may
/// contain '-', so parsing splits at the last '-'.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartitionId {
    pub topic: String,
    pub partition: i32,
}

impl PartitionId {
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        PartitionId {
            topic: topic.into(),
            partition,
        }
    }

    /// The directory name of this partition inside the data directory.
    pub fn dir_name(&self) -> String {
        format!("{}-{}", self.topic, self.partition)
    }

    /// Parses a directory name; None if it is not `<non-empty topic>-<non-negative i32>`.
    pub fn from_dir_name(name: &str) -> Option<PartitionId> {
        let (topic, partition) = name.rsplit_once('-')?;
        if topic.is_empty()
            || partition.is_empty()
            || !partition.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let partition: i32 = partition.parse().ok()?;
        Some(PartitionId {
            topic: topic.to_owned(),
            partition,
        })
    }

    /// True if the topic name is usable as a directory name (no separators, no dot-only names).
    pub fn is_valid_topic(topic: &str) -> bool {
        !topic.is_empty()
            && topic.len() <= 249
            && topic != "."
            && topic != ".."
            && topic
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    }
}

impl fmt::Display for PartitionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_name_round_trips_with_dashes_in_topic() {
        let id = PartitionId::new("my-topic-x", 12);
        assert_eq!(id.dir_name(), "my-topic-x-12");
        assert_eq!(PartitionId::from_dir_name("my-topic-x-12"), Some(id));
    }

    #[test]
    fn bad_dir_names_do_not_parse() {
        for name in [
            "topic",
            "-1",
            "topic-",
            "topic-1.delete",
            "topic-+1",
            "t-99999999999",
        ] {
            assert_eq!(PartitionId::from_dir_name(name), None, "{name}");
        }
    }
}
