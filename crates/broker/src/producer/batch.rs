//! The idempotence fields of a v2 record batch header, read from a Produce request or from the
//! log without touching the records.
//!
//! The header is decoded by the storage crate's format module (`format::batch`), the one parser
//! of the v2 layout; this module only picks the fields idempotence needs. The storage crate
//! validates length, magic and CRC before anything is written; here anything too short to hold a
//! whole batch is refused.

use ferrolog_storage::format::batch::{BatchHeader, HEADER_LEN, LOG_OVERHEAD};

/// What idempotence needs to know about one batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchIdentity {
    pub base_offset: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub last_offset_delta: i32,
    pub max_timestamp_ms: i64,
    pub transactional: bool,
    pub control: bool,
    /// Size of the whole batch in bytes, header included.
    pub size_bytes: usize,
}

impl BatchIdentity {
    /// The batch comes from an idempotent (or transactional) producer.
    pub fn is_idempotent(&self) -> bool {
        self.producer_id >= 0
    }

    /// The sequence number of the batch's last record; sequences wrap from `i32::MAX` to 0.
    pub fn last_sequence(&self) -> i32 {
        add_sequence(self.base_sequence, self.last_offset_delta)
    }
}

/// `sequence + delta`, wrapping from `i32::MAX` to 0 as Kafka producers do.
pub fn add_sequence(sequence: i32, delta: i32) -> i32 {
    let sum = i64::from(sequence) + i64::from(delta);
    let wrapped = sum.rem_euclid(i64::from(i32::MAX) + 1);
    i32::try_from(wrapped).unwrap_or(0)
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BatchHeaderError {
    #[error("batch header truncated at byte {position}: {available} bytes left, need {needed}")]
    Truncated {
        position: usize,
        available: usize,
        needed: usize,
    },
    #[error("batch at byte {position} declares length {length}")]
    BadLength { position: usize, length: i32 },
}

/// Iterate the headers of concatenated batches (a Produce records field or a log read).
/// A trailing partial batch (a log read cut at its byte budget) ends the iteration with an error.
pub fn batch_identities(
    bytes: &[u8],
) -> impl Iterator<Item = Result<BatchIdentity, BatchHeaderError>> + '_ {
    let mut position = 0usize;
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed || position >= bytes.len() {
            return None;
        }
        let rest = bytes.get(position..).unwrap_or_default();
        let result = read_header(rest, position);
        match &result {
            Ok(identity) => position += identity.size_bytes,
            Err(_) => failed = true,
        }
        Some(result)
    })
}

fn read_header(bytes: &[u8], position: usize) -> Result<BatchIdentity, BatchHeaderError> {
    let truncated = |needed| BatchHeaderError::Truncated {
        position,
        available: bytes.len(),
        needed,
    };
    let header = BatchHeader::parse(bytes).map_err(|_| truncated(HEADER_LEN))?;
    let length = header.batch_length;
    let size_bytes = usize::try_from(length)
        .ok()
        .and_then(|l| l.checked_add(LOG_OVERHEAD))
        .filter(|size| *size >= HEADER_LEN)
        .ok_or(BatchHeaderError::BadLength { position, length })?;
    if bytes.len() < size_bytes {
        return Err(truncated(size_bytes));
    }
    Ok(BatchIdentity {
        base_offset: header.base_offset,
        producer_id: header.producer_id,
        producer_epoch: header.producer_epoch,
        base_sequence: header.base_sequence,
        last_offset_delta: header.last_offset_delta,
        max_timestamp_ms: header.max_timestamp,
        transactional: header.is_transactional(),
        control: header.is_control(),
        size_bytes,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use ferrolog_storage::format::batch::{
        BASE_SEQUENCE_AT, LAST_OFFSET_DELTA_AT, LENGTH_AT, MAGIC_AT, PRODUCER_EPOCH_AT,
        PRODUCER_ID_AT, RECORDS_COUNT_AT,
    };

    /// A header-only batch (no real records) with the given idempotence fields.
    pub(crate) fn fake_batch(
        producer_id: i64,
        epoch: i16,
        base_sequence: i32,
        records: i32,
    ) -> Vec<u8> {
        let mut b = vec![0u8; HEADER_LEN];
        let length = i32::try_from(HEADER_LEN - LOG_OVERHEAD).expect("small");
        b[LENGTH_AT..LENGTH_AT + 4].copy_from_slice(&length.to_be_bytes());
        b[MAGIC_AT] = 2;
        b[LAST_OFFSET_DELTA_AT..LAST_OFFSET_DELTA_AT + 4]
            .copy_from_slice(&(records - 1).to_be_bytes());
        b[PRODUCER_ID_AT..PRODUCER_ID_AT + 8].copy_from_slice(&producer_id.to_be_bytes());
        b[PRODUCER_EPOCH_AT..PRODUCER_EPOCH_AT + 2].copy_from_slice(&epoch.to_be_bytes());
        b[BASE_SEQUENCE_AT..BASE_SEQUENCE_AT + 4].copy_from_slice(&base_sequence.to_be_bytes());
        b[RECORDS_COUNT_AT..RECORDS_COUNT_AT + 4].copy_from_slice(&records.to_be_bytes());
        b
    }

    #[test]
    fn reads_the_fields_of_concatenated_batches() {
        let mut bytes = fake_batch(7, 2, 10, 5);
        bytes.extend(fake_batch(-1, -1, -1, 1));
        let ids: Vec<BatchIdentity> = batch_identities(&bytes)
            .collect::<Result<_, _>>()
            .expect("valid");
        assert_eq!(ids.len(), 2);
        assert_eq!(
            (
                ids[0].producer_id,
                ids[0].producer_epoch,
                ids[0].base_sequence
            ),
            (7, 2, 10)
        );
        assert_eq!(ids[0].last_sequence(), 14);
        assert!(ids[0].is_idempotent());
        assert!(!ids[1].is_idempotent());
    }

    #[test]
    fn a_truncated_or_lying_header_is_an_error_not_a_panic() {
        let bytes = fake_batch(7, 2, 10, 5);
        for cut in [1, 20, HEADER_LEN - 1] {
            let got: Vec<_> = batch_identities(&bytes[..cut]).collect();
            assert!(matches!(
                got.as_slice(),
                [Err(BatchHeaderError::Truncated { .. })]
            ));
        }
        let mut lying = bytes.clone();
        lying[LENGTH_AT..LENGTH_AT + 4].copy_from_slice(&(-5i32).to_be_bytes());
        let got: Vec<_> = batch_identities(&lying).collect();
        assert!(matches!(
            got.as_slice(),
            [Err(BatchHeaderError::BadLength { .. })]
        ));
    }

    #[test]
    fn sequences_wrap_at_i32_max() {
        assert_eq!(add_sequence(i32::MAX, 1), 0);
        assert_eq!(add_sequence(i32::MAX - 1, 3), 1);
        assert_eq!(add_sequence(5, 0), 5);
    }
}
