//! Decompression of fetched batches for `kafka-protocol`'s record decoder:
//! the codecs with a ceiling on the output (`ferrolog_wire::compression`),
//! then a check of every record's header count before the decoder allocates.

use anyhow::{Context, bail};
use bytes::Bytes;
use ferrolog_wire::compression::{self, Codec};
use kafka_protocol::records::Compression;

/// The most one batch may decompress to (the response frame limit as well).
pub const DECOMPRESSED_BYTES_MAX: usize = 256 * 1024 * 1024;

/// The decompressor handed to `RecordBatchDecoder::decode_with_custom_compression`
/// (called for uncompressed batches too): decompresses, then checks every
/// record's header count against its length before the decoder allocates
/// room for that many headers.
pub fn decompress(records: &mut Bytes, compression: Compression) -> anyhow::Result<Bytes> {
    let out = decompress_limited(records, compression, DECOMPRESSED_BYTES_MAX)?;
    check_header_counts(&out)?;
    Ok(out)
}

/// Walks `{ length: varint | attributes: i8 | timestamp delta: varlong |
/// offset delta: varint | key: varint-length bytes | value: varint-length
/// bytes | header count: varint | headers }` record by record: each header
/// takes at least two bytes, so a count larger than half of what is left of
/// its record is a lie (kafka-protocol would reserve memory for it first).
fn check_header_counts(mut records: &[u8]) -> anyhow::Result<()> {
    while !records.is_empty() {
        let length = usize::try_from(varint(&mut records)?).context("negative record length")?;
        let mut record = records
            .get(..length)
            .context("record runs past the batch")?;
        records = records.get(length..).unwrap_or_default();
        record = record.get(1..).context("record too short")?; // attributes
        varint(&mut record)?; // timestamp delta
        varint(&mut record)?; // offset delta
        for _ in 0..2 {
            // key, then value; -1 = null
            let len = varint(&mut record)?;
            if let Ok(len) = usize::try_from(len) {
                record = record
                    .get(len..)
                    .context("key or value runs past its record")?;
            }
        }
        let headers = varint(&mut record)?;
        if headers < 0 || usize::try_from(headers).unwrap_or(usize::MAX) > record.len() / 2 {
            bail!(
                "record announces {headers} headers in {} bytes",
                record.len()
            );
        }
    }
    Ok(())
}

/// A zigzag varint (up to 10 bytes), consumed from the front of `buf`.
fn varint(buf: &mut &[u8]) -> anyhow::Result<i64> {
    let mut raw = 0u64;
    for (i, shift) in (0..70).step_by(7).enumerate() {
        let byte = *buf.get(i).context("varint runs past the record")?;
        raw |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            *buf = buf.get(i + 1..).unwrap_or_default();
            return Ok((raw >> 1) as i64 ^ -((raw & 1) as i64));
        }
    }
    bail!("varint longer than 10 bytes")
}

pub(crate) fn decompress_limited(
    records: &mut Bytes,
    compression: Compression,
    limit: usize,
) -> anyhow::Result<Bytes> {
    let input = std::mem::take(records);
    let codec = match compression {
        Compression::None => return Ok(input),
        Compression::Gzip => Codec::Gzip,
        Compression::Snappy => Codec::Snappy,
        Compression::Lz4 => Codec::Lz4,
        Compression::Zstd => Codec::Zstd,
    };
    Ok(compression::decompress(codec, &input, limit)?.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{ProducerRecord, ProducerStamp, encode_batch};

    /// The records section of a batch kafka-protocol compressed.
    fn compressed_records(compression: Compression, value_len: usize) -> Bytes {
        let record = ProducerRecord {
            value: Some(Bytes::from(vec![b'z'; value_len])),
            ..Default::default()
        };
        let batch = encode_batch(&[record], compression, ProducerStamp::NONE).expect("encode");
        batch.slice(ferrolog_wire::batch::HEADER_LEN..)
    }

    #[test]
    fn reads_what_kafka_protocol_writes() {
        for compression in [
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let mut records = compressed_records(compression, 100_000);
            let out = decompress(&mut records, compression).expect("decompress");
            assert!(out.len() > 100_000, "{compression:?}: {}", out.len());
        }
    }

    #[test]
    fn output_over_the_limit_is_refused() {
        for compression in [
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let mut records = compressed_records(compression, 100_000);
            let result = decompress_limited(&mut records, compression, 10_000);
            assert!(
                matches!(result, Err(ref e) if e.to_string().contains("more than 10000 bytes")),
                "{compression:?}: {result:?}"
            );
        }
    }

    #[test]
    fn zigzag_varints() {
        for (bytes, value) in [
            (&[0x00][..], 0),
            (&[0x01], -1),
            (&[0x02], 1),
            (&[0xac, 0x02], 150),
            (&[0x03], -2),
        ] {
            let mut buf = bytes;
            assert_eq!(varint(&mut buf).expect("varint"), value);
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn a_lying_header_count_is_refused() {
        // length 8: attributes 0, ts delta 0, offset delta 0, key null, value len 1 "v", 2^30 headers
        let record = [
            0x00, 0x00, 0x00, 0x01, 0x02, b'v', 0x80, 0x80, 0x80, 0x80, 0x08,
        ];
        let mut bytes = vec![(record.len() as u8) << 1];
        bytes.extend_from_slice(&record);
        let result = check_header_counts(&bytes);
        assert!(
            matches!(result, Err(ref e) if e.to_string().contains("headers")),
            "{result:?}"
        );
        // The same record with one real header passes.
        let honest = [0x00, 0x00, 0x00, 0x01, 0x02, b'v', 0x02, 0x02, b'h', 0x01];
        let mut bytes = vec![(honest.len() as u8) << 1];
        bytes.extend_from_slice(&honest);
        check_header_counts(&bytes).expect("honest record");
    }

    #[test]
    fn truncated_framed_snappy_is_an_error() {
        let mut records = compressed_records(Compression::Snappy, 1000);
        let mut cut = records.split_to(records.len() - 3);
        assert!(decompress(&mut cut, Compression::Snappy).is_err());
    }
}
