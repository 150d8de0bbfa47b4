//! Kafka's rule for topic names, in one place: the broker refuses a name
//! that breaks it, and the client checks a name before it asks about it,
//! since a Metadata response says INVALID_TOPIC_EXCEPTION and nothing more.

/// Kafka's limit on a topic name's length, in bytes (all ASCII).
pub const TOPIC_NAME_LEN_MAX: usize = 249;

/// Why a topic name is not one Kafka allows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid topic name {name:?}: {reason}")]
pub struct InvalidTopicName {
    pub name: String,
    pub reason: &'static str,
}

/// Checks `name` as Kafka does: 1 to 249 of ASCII letters, digits, `.`,
/// `_` and `-`, and neither `.` nor `..` (they would name directories).
pub fn check(name: &str) -> Result<(), InvalidTopicName> {
    let invalid = |reason| {
        Err(InvalidTopicName {
            name: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() {
        return invalid("empty");
    }
    if name == "." || name == ".." {
        return invalid("'.' and '..' are not allowed");
    }
    if name.len() > TOPIC_NAME_LEN_MAX {
        return invalid("longer than 249 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    {
        return invalid("only ASCII letters, digits, '.', '_' and '-' are allowed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_as_kafka_does() {
        for good in [
            "a",
            "orders.v1",
            "my_topic-2",
            "__consumer_offsets",
            &"x".repeat(249),
        ] {
            assert_eq!(check(good), Ok(()), "{good}");
        }
        for (bad, reason) in [
            ("", "empty"),
            (".", "'.' and '..' are not allowed"),
            ("..", "'.' and '..' are not allowed"),
            (
                "has space",
                "only ASCII letters, digits, '.', '_' and '-' are allowed",
            ),
            (
                "slash/name",
                "only ASCII letters, digits, '.', '_' and '-' are allowed",
            ),
            (
                "ünïcode",
                "only ASCII letters, digits, '.', '_' and '-' are allowed",
            ),
            (&"x".repeat(250), "longer than 249 characters"),
        ] {
            assert_eq!(check(bad).map_err(|e| e.reason), Err(reason), "{bad:?}");
        }
    }

    #[test]
    fn the_error_names_the_topic_and_the_reason() {
        let err = check("a b").expect_err("a space");
        assert_eq!(
            err.to_string(),
            "invalid topic name \"a b\": only ASCII letters, digits, '.', '_' and '-' are allowed"
        );
    }
}
