//! Decompression of fetched batches for the record decoder in `batch`: the
//! codecs with a ceiling on the output (`ferrolog_wire::compression`). The
//! decoder then reads the records through `ferrolog_wire::records`' walk,
//! which checks each before anything is sized from what it announces.

use bytes::Bytes;
use ferrolog_wire::compression::{self, Codec};

/// The most one batch may decompress to (the response frame limit as well):
/// the broker stores nothing larger.
pub use ferrolog_wire::records::DECOMPRESSED_BYTES_MAX;

/// A batch's records section as the record decoder reads it (uncompressed
/// batches pass through here too). Its records are not checked here: the
/// decoder checks each as it reads it.
pub fn decompress(records: &mut Bytes, codec: Codec) -> anyhow::Result<Bytes> {
    decompress_limited(records, codec, DECOMPRESSED_BYTES_MAX)
}

pub(crate) fn decompress_limited(
    records: &mut Bytes,
    codec: Codec,
    limit: usize,
) -> anyhow::Result<Bytes> {
    let input = std::mem::take(records);
    if codec == Codec::None {
        return Ok(input);
    }
    Ok(compression::decompress(codec, &input, limit)?.into())
}

#[cfg(test)]
mod tests {
    use kafka_protocol::records::Compression;

    use super::*;
    use crate::batch::{ProducerRecord, ProducerStamp, encode_batch};

    /// Each codec as the encoder names it and as a batch's attributes do.
    const CODECS: [(Compression, Codec); 4] = [
        (Compression::Gzip, Codec::Gzip),
        (Compression::Snappy, Codec::Snappy),
        (Compression::Lz4, Codec::Lz4),
        (Compression::Zstd, Codec::Zstd),
    ];

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
        for (compression, codec) in CODECS {
            let mut records = compressed_records(compression, 100_000);
            let out = decompress(&mut records, codec).expect("decompress");
            assert!(out.len() > 100_000, "{compression:?}: {}", out.len());
        }
    }

    #[test]
    fn output_over_the_limit_is_refused() {
        for (compression, codec) in CODECS {
            let mut records = compressed_records(compression, 100_000);
            let result = decompress_limited(&mut records, codec, 10_000);
            assert!(
                matches!(result, Err(ref e) if e.to_string().contains("more than 10000 bytes")),
                "{compression:?}: {result:?}"
            );
        }
    }

    #[test]
    fn truncated_framed_snappy_is_an_error() {
        let mut records = compressed_records(Compression::Snappy, 1000);
        let mut cut = records.split_to(records.len() - 3);
        assert!(decompress(&mut cut, Codec::Snappy).is_err());
    }
}
