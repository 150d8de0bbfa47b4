//! The Fetch response frame with each partition's records handed to the
//! connection as shared `Bytes` (a slice of a mapped segment, or one
//! positioned read), so batches reach the socket without being copied into
//! the output buffer.
//!
//! Only the frame's skeleton is written here: the response header, the
//! top-level fields, array lengths and topic names. Each partition's fields
//! are still encoded by `kafka-protocol` (with records set to null), and the
//! null marker is swapped for the records' length: so the field layout stays
//! the crate's. A response this module does not know how to split (a version
//! outside 4..=12, tagged fields) is encoded the ordinary, copying way. The
//! tests check both ways give identical bytes for every served version.
//!
//! Layout (v12 is the first flexible version: compact lengths, tagged fields):
//! `{ size i32 | correlation id i32 | [tags] | throttle i32 | [error i16 | session i32 (v7+)]
//!   | topics len | { name | partitions len | { partition fields | records len | records | [tags] } | [tags] } | [tags] }`

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::FetchResponse;
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::protocol::Encodable;

use crate::api::primitives::{put_array_len, put_string, put_uvarint};
use crate::frame;
use crate::outbound::Outbound;

/// The first flexible Fetch version.
const FLEXIBLE_VERSION: i16 = 12;

/// One piece of the frame after its size prefix.
enum Piece {
    /// A range of the skeleton buffer.
    Own(std::ops::Range<usize>),
    Shared(Bytes),
}

/// Writes one Fetch response frame into `out`.
pub fn encode_frame(
    out: &mut Outbound,
    correlation_id: i32,
    header_version: i16,
    mut response: FetchResponse,
    version: i16,
) -> anyhow::Result<()> {
    if !splittable(&response, version) {
        return frame::encode_response(
            out.buf(),
            correlation_id,
            header_version,
            &response,
            version,
        );
    }
    let flexible = version >= FLEXIBLE_VERSION;
    let mut skeleton = BytesMut::new();
    let mut pieces = Vec::new();
    let mut own_from = 0;
    let mut shared_bytes = 0usize;

    skeleton.put_i32(correlation_id);
    if header_version >= 1 {
        put_uvarint(&mut skeleton, 0); // no tagged fields in the header
    }
    skeleton.put_i32(response.throttle_time_ms);
    if version >= 7 {
        skeleton.put_i16(response.error_code);
        skeleton.put_i32(response.session_id);
    }
    put_array_len(&mut skeleton, response.responses.len(), flexible)?;
    for topic in &mut response.responses {
        put_string(&mut skeleton, topic.topic.as_bytes(), flexible)?;
        put_array_len(&mut skeleton, topic.partitions.len(), flexible)?;
        for partition in &mut topic.partitions {
            let records = partition.records.take();
            put_partition_fields(&mut skeleton, partition, version)?;
            match records {
                None if flexible => put_uvarint(&mut skeleton, 0),
                None => skeleton.put_i32(-1),
                Some(records) => {
                    if flexible {
                        put_uvarint(&mut skeleton, u32::try_from(records.len() + 1)?);
                    } else {
                        skeleton.put_i32(i32::try_from(records.len())?);
                    }
                    if !records.is_empty() {
                        pieces.push(Piece::Own(own_from..skeleton.len()));
                        own_from = skeleton.len();
                        shared_bytes += records.len();
                        pieces.push(Piece::Shared(records));
                    }
                }
            }
            if flexible {
                put_uvarint(&mut skeleton, 0); // the partition's tagged fields (none: see splittable)
            }
        }
        if flexible {
            put_uvarint(&mut skeleton, 0);
        }
    }
    if flexible {
        put_uvarint(&mut skeleton, 0);
    }
    pieces.push(Piece::Own(own_from..skeleton.len()));

    out.buf()
        .put_i32(i32::try_from(skeleton.len() + shared_bytes)?);
    for piece in pieces {
        match piece {
            Piece::Own(range) => out
                .buf()
                .extend_from_slice(skeleton.get(range).unwrap_or_default()),
            Piece::Shared(bytes) => out.put_shared(bytes),
        }
    }
    Ok(())
}

/// Whether the skeleton written here is the whole story: a served version and
/// no tagged fields anywhere (the broker sets none).
fn splittable(response: &FetchResponse, version: i16) -> bool {
    (4..=FLEXIBLE_VERSION).contains(&version)
        && response.unknown_tagged_fields.is_empty()
        && response.responses.iter().all(|t| {
            t.unknown_tagged_fields.is_empty()
                && t.partitions.iter().all(|p| {
                    p.unknown_tagged_fields.is_empty()
                        && p.diverging_epoch == Default::default()
                        && p.current_leader == Default::default()
                        && p.snapshot_id == Default::default()
                })
        })
}

/// The partition's fields before its records, encoded by `kafka-protocol`:
/// the partition is encoded with null records and no tagged fields, and the
/// trailing null marker (and empty tag section) is cut off.
fn put_partition_fields(
    out: &mut BytesMut,
    partition: &PartitionData,
    version: i16,
) -> anyhow::Result<()> {
    let start = out.len();
    partition.encode(out, version)?;
    let tail: &[u8] = if version >= FLEXIBLE_VERSION {
        &[0, 0]
    } else {
        &[0xff; 4]
    };
    anyhow::ensure!(
        out.get(start..)
            .is_some_and(|encoded| encoded.ends_with(tail)),
        "Fetch v{version} partition does not end with null records"
    );
    out.truncate(out.len() - tail.len());
    Ok(())
}

#[cfg(test)]
mod tests;
