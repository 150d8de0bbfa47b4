//! Produce to a compacted topic: every record must have a key, as Kafka's
//! `LogValidator.validateKey` demands ("Compacted topic cannot accept message
//! without key"). The engine finds the keyless records in the walk it makes
//! of every append (`LogConfig::require_keys`); these are Kafka's messages
//! for the refusal.

/// Kafka's message for one keyless record (`LogValidator.validateKey`).
pub fn record_message(topic: &str, partition: i32) -> String {
    format!(
        "Compacted topic cannot accept message without key in topic partition {topic}-{partition}."
    )
}

/// Kafka's message for the whole refusal (`LogValidator.processRecordErrors`),
/// which quotes at most three of the record errors.
pub fn refusal_message(keyless: &[i32], topic: &str, partition: i32) -> String {
    let record = record_message(topic, partition);
    let shown: Vec<String> = keyless
        .iter()
        .take(3)
        .map(|i| format!("RecordError(batchIndex={i}, message='{record}')"))
        .collect();
    format!(
        "One or more records have been rejected due to {} record errors in total, and only showing the first three errors at most: [{}]",
        keyless.len(),
        shown.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_is_kafkas() {
        assert_eq!(
            refusal_message(&[0, 1, 2, 5], "t", 0),
            "One or more records have been rejected due to 4 record errors in total, and only \
             showing the first three errors at most: [RecordError(batchIndex=0, message='Compacted \
             topic cannot accept message without key in topic partition t-0.'), \
             RecordError(batchIndex=1, message='Compacted topic cannot accept message without key \
             in topic partition t-0.'), RecordError(batchIndex=2, message='Compacted topic cannot \
             accept message without key in topic partition t-0.')]"
        );
    }
}
