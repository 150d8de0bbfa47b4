//! Decompression of a batch's records section with a ceiling on the output.
//! kafka-protocol's own decompressors grow their buffer without limit (and
//! raw snappy allocates whatever length the stream announces), so a small
//! hostile or corrupt batch could ask for gigabytes. Same codecs, same wire
//! formats (Kafka's gzip, xerial-framed or raw snappy, lz4 frames, zstd).

use std::io::Read;

use anyhow::{Context, bail};
use bytes::Bytes;
use kafka_protocol::records::Compression;

/// The most one batch may decompress to (the response frame limit as well).
pub const DECOMPRESSED_BYTES_MAX: usize = 256 * 1024 * 1024;

/// xerial snappy-java's stream header: magic, then version and compatible version.
const SNAPPY_MAGIC: &[u8; 8] = b"\x82SNAPPY\x00";
const SNAPPY_HEADER_BYTES: usize = 16;

/// The decompressor handed to `RecordBatchDecoder::decode_with_custom_compression`.
pub fn decompress(records: &mut Bytes, compression: Compression) -> anyhow::Result<Bytes> {
    decompress_limited(records, compression, DECOMPRESSED_BYTES_MAX)
}

pub(crate) fn decompress_limited(
    records: &mut Bytes,
    compression: Compression,
    limit: usize,
) -> anyhow::Result<Bytes> {
    let input = std::mem::take(records);
    match compression {
        Compression::None => Ok(input),
        Compression::Gzip => read_limited(flate2::read::GzDecoder::new(&input[..]), limit),
        Compression::Zstd => read_limited(
            zstd::stream::read::Decoder::new(&input[..]).context("zstd")?,
            limit,
        ),
        Compression::Lz4 => read_limited(lz4::Decoder::new(&input[..]).context("lz4")?, limit),
        Compression::Snappy => snappy(&input, limit),
    }
}

fn read_limited(reader: impl Read, limit: usize) -> anyhow::Result<Bytes> {
    let mut out = Vec::new();
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .context("cannot decompress records")?;
    if out.len() > limit {
        bail!("records decompress to more than {limit} bytes");
    }
    Ok(out.into())
}

fn snappy(input: &[u8], limit: usize) -> anyhow::Result<Bytes> {
    let Some(mut rest) = input.strip_prefix(SNAPPY_MAGIC) else {
        // No xerial header: one raw block, as the Java client also accepts.
        let mut out = Vec::new();
        snappy_block(input, &mut out, limit)?;
        return Ok(out.into());
    };
    rest = rest
        .get(SNAPPY_HEADER_BYTES - SNAPPY_MAGIC.len()..)
        .context("snappy header is truncated")?;
    let mut out = Vec::new();
    while !rest.is_empty() {
        let len_field: [u8; 4] = rest
            .get(..4)
            .and_then(|b| b.try_into().ok())
            .context("snappy block length is truncated")?;
        let len = u32::from_be_bytes(len_field) as usize;
        let block = rest.get(4..4 + len).context("snappy block is truncated")?;
        snappy_block(block, &mut out, limit)?;
        rest = rest.get(4 + len..).unwrap_or_default();
    }
    Ok(out.into())
}

/// Appends one raw snappy block to `out`, checking its announced size first.
fn snappy_block(block: &[u8], out: &mut Vec<u8>, limit: usize) -> anyhow::Result<()> {
    let len = snap::raw::decompress_len(block).context("snappy block header")?;
    if out.len().saturating_add(len) > limit {
        bail!("records decompress to more than {limit} bytes");
    }
    let start = out.len();
    out.resize(start + len, 0);
    let target = out.get_mut(start..).context("snappy output")?;
    snap::raw::Decoder::new()
        .decompress(block, target)
        .context("cannot decompress snappy block")?;
    Ok(())
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
        batch.slice(crate::batch::BATCH_HEADER_BYTES..)
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
    fn raw_snappy_announcing_gigabytes_is_refused_before_allocating() {
        // Varint length 0xFFFFFFFF (about 4 GiB) and no data.
        let mut records = Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
        let result = decompress(&mut records, Compression::Snappy);
        assert!(
            matches!(result, Err(ref e) if e.to_string().contains("more than")),
            "{result:?}"
        );
    }

    #[test]
    fn truncated_framed_snappy_is_an_error() {
        let mut records = compressed_records(Compression::Snappy, 1000);
        let mut cut = records.split_to(records.len() - 3);
        assert!(decompress(&mut cut, Compression::Snappy).is_err());
    }
}
