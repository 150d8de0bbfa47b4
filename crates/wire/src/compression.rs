//! Compression and decompression of a record batch's records section, the
//! latter with a ceiling on the output. `kafka-protocol`'s own decompressors grow their buffer without
//! limit (and raw snappy allocates whatever length the stream announces), so
//! a small hostile or corrupt batch could ask for gigabytes. Same codecs,
//! same formats as Kafka: gzip, xerial-framed or raw snappy, lz4 frames, zstd.
//!
//! Used by the client (to read fetched batches) and by the storage engine
//! (to find a record by timestamp inside a compressed batch, and to write
//! back the records a compacted batch keeps, with the batch's own codec).

use std::io::Read;

/// xerial snappy-java's stream header: magic, then version and compatible version.
const SNAPPY_MAGIC: &[u8; 8] = b"\x82SNAPPY\x00";
const SNAPPY_HEADER_BYTES: usize = 16;

/// A batch's codec: the low three bits of its attributes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Codec {
    /// Every codec, in id order.
    pub const ALL: [Codec; 5] = [
        Codec::None,
        Codec::Gzip,
        Codec::Snappy,
        Codec::Lz4,
        Codec::Zstd,
    ];

    /// The codec named by a batch's attributes, or `None` for the unused ids 5–7.
    pub fn from_attributes(attributes: i16) -> Option<Codec> {
        match attributes & crate::batch::COMPRESSION_MASK {
            0 => Some(Codec::None),
            1 => Some(Codec::Gzip),
            2 => Some(Codec::Snappy),
            3 => Some(Codec::Lz4),
            4 => Some(Codec::Zstd),
            _ => None,
        }
    }

    /// The codec's id, as a batch's attributes name it (their low three bits).
    pub fn id(self) -> i16 {
        match self {
            Codec::None => 0,
            Codec::Gzip => 1,
            Codec::Snappy => 2,
            Codec::Lz4 => 3,
            Codec::Zstd => 4,
        }
    }
}

/// Why a records section could not be decompressed.
#[derive(Debug)]
pub enum DecompressError {
    /// The output would pass the ceiling the caller set.
    TooLarge { limit: usize },
    /// The codec refused the input (truncated or corrupt).
    Corrupt { codec: Codec, detail: String },
}

impl std::fmt::Display for DecompressError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecompressError::TooLarge { limit } => {
                write!(f, "records decompress to more than {limit} bytes")
            }
            DecompressError::Corrupt { codec, detail } => {
                write!(f, "cannot decompress {codec:?} records: {detail}")
            }
        }
    }
}

impl std::error::Error for DecompressError {}

/// The records section `input`, decompressed with `codec`, at most `limit`
/// bytes long. `Codec::None` copies the input.
pub fn decompress(codec: Codec, input: &[u8], limit: usize) -> Result<Vec<u8>, DecompressError> {
    let corrupt = |detail: std::io::Error| DecompressError::Corrupt {
        codec,
        detail: detail.to_string(),
    };
    match codec {
        Codec::None if input.len() > limit => Err(DecompressError::TooLarge { limit }),
        Codec::None => Ok(input.to_vec()),
        Codec::Gzip => read_limited(codec, flate2::read::GzDecoder::new(input), limit),
        Codec::Zstd => read_limited(
            codec,
            zstd::stream::read::Decoder::new(input).map_err(corrupt)?,
            limit,
        ),
        Codec::Lz4 => read_limited(codec, lz4::Decoder::new(input).map_err(corrupt)?, limit),
        Codec::Snappy => snappy(input, limit),
    }
}

/// Why a records section could not be compressed (the codec's encoder
/// failed; it writes to memory, so this is not expected to happen).
#[derive(Debug)]
pub struct CompressError {
    pub codec: Codec,
    pub detail: String,
}

impl std::fmt::Display for CompressError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cannot compress records with {:?}: {}",
            self.codec, self.detail
        )
    }
}

impl std::error::Error for CompressError {}

/// `input` (a records section) compressed with `codec`, in the format Kafka
/// clients read: gzip; raw snappy (one block, no xerial framing: what
/// librdkafka writes and what Java's xerial reader also accepts); an lz4
/// frame with independent blocks and no checksums (what Kafka's
/// `KafkaLZ4BlockOutputStream` writes, and all its reader supports); zstd.
/// `Codec::None` copies the input.
pub fn compress(codec: Codec, input: &[u8]) -> Result<Vec<u8>, CompressError> {
    use std::io::Write;
    let failed = |detail: std::io::Error| CompressError {
        codec,
        detail: detail.to_string(),
    };
    match codec {
        Codec::None => Ok(input.to_vec()),
        Codec::Gzip => {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            encoder.write_all(input).map_err(failed)?;
            encoder.finish().map_err(failed)
        }
        Codec::Snappy => snap::raw::Encoder::new()
            .compress_vec(input)
            .map_err(|e| CompressError {
                codec,
                detail: e.to_string(),
            }),
        Codec::Lz4 => {
            let mut encoder = lz4::EncoderBuilder::new()
                .block_size(lz4::BlockSize::Max64KB)
                .block_mode(lz4::BlockMode::Independent)
                .block_checksum(lz4::liblz4::BlockChecksum::NoBlockChecksum)
                .checksum(lz4::ContentChecksum::NoChecksum)
                .build(Vec::new())
                .map_err(failed)?;
            encoder.write_all(input).map_err(failed)?;
            let (out, result) = encoder.finish();
            result.map_err(failed)?;
            Ok(out)
        }
        Codec::Zstd => zstd::encode_all(input, zstd::DEFAULT_COMPRESSION_LEVEL).map_err(failed),
    }
}

fn read_limited(codec: Codec, reader: impl Read, limit: usize) -> Result<Vec<u8>, DecompressError> {
    let mut out = Vec::new();
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| DecompressError::Corrupt {
            codec,
            detail: e.to_string(),
        })?;
    if out.len() > limit {
        return Err(DecompressError::TooLarge { limit });
    }
    Ok(out)
}

fn snappy(input: &[u8], limit: usize) -> Result<Vec<u8>, DecompressError> {
    let corrupt = |detail: &str| DecompressError::Corrupt {
        codec: Codec::Snappy,
        detail: detail.to_owned(),
    };
    let Some(mut rest) = input.strip_prefix(SNAPPY_MAGIC) else {
        // No xerial header: one raw block, as the Java client also accepts.
        let mut out = Vec::new();
        snappy_block(input, &mut out, limit)?;
        return Ok(out);
    };
    rest = rest
        .get(SNAPPY_HEADER_BYTES - SNAPPY_MAGIC.len()..)
        .ok_or_else(|| corrupt("snappy header is truncated"))?;
    let mut out = Vec::new();
    while !rest.is_empty() {
        let len_field: [u8; 4] = rest
            .get(..4)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| corrupt("snappy block length is truncated"))?;
        let len = u32::from_be_bytes(len_field) as usize;
        let block = rest
            .get(4..4usize.saturating_add(len))
            .ok_or_else(|| corrupt("snappy block is truncated"))?;
        snappy_block(block, &mut out, limit)?;
        rest = rest.get(4 + len..).unwrap_or_default();
    }
    Ok(out)
}

/// Appends one raw snappy block to `out`, checking its announced size first.
fn snappy_block(block: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<(), DecompressError> {
    let corrupt = |e: snap::Error| DecompressError::Corrupt {
        codec: Codec::Snappy,
        detail: e.to_string(),
    };
    let len = snap::raw::decompress_len(block).map_err(corrupt)?;
    if out.len().saturating_add(len) > limit {
        return Err(DecompressError::TooLarge { limit });
    }
    let start = out.len();
    out.resize(start + len, 0);
    let target = out.get_mut(start..).unwrap_or_default();
    snap::raw::Decoder::new()
        .decompress(block, target)
        .map_err(corrupt)?;
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use std::io::Write;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    /// `data` compressed with `codec` by the codec crates' own encoders.
    pub(crate) fn compressed(codec: Codec, data: &[u8]) -> Vec<u8> {
        match codec {
            Codec::None => data.to_vec(),
            Codec::Gzip => gzip(data),
            Codec::Snappy => snap::raw::Encoder::new().compress_vec(data).unwrap(),
            Codec::Lz4 => {
                let mut encoder = lz4::EncoderBuilder::new().build(Vec::new()).unwrap();
                encoder.write_all(data).unwrap();
                let (out, result) = encoder.finish();
                result.unwrap();
                out
            }
            Codec::Zstd => zstd::encode_all(data, 1).unwrap(),
        }
    }

    #[test]
    fn every_codec_round_trips_and_respects_the_ceiling() {
        let data = vec![b'z'; 100_000];
        for codec in Codec::ALL {
            let input = compressed(codec, &data);
            assert_eq!(
                decompress(codec, &input, 100_000).unwrap(),
                data,
                "{codec:?}"
            );
            let refused = decompress(codec, &input, 10_000);
            assert!(
                matches!(refused, Err(DecompressError::TooLarge { limit: 10_000 })),
                "{codec:?}: {refused:?}"
            );
        }
    }

    #[test]
    fn compress_round_trips_through_decompress_for_every_codec() {
        let mut data = Vec::new();
        for i in 0..5_000u32 {
            data.extend_from_slice(format!("record {} of the batch;", i % 50).as_bytes());
        }
        for codec in Codec::ALL {
            for input in [&data[..], b"", b"x"] {
                let packed = compress(codec, input).unwrap();
                if codec != Codec::None && input.len() == data.len() {
                    assert!(packed.len() < input.len(), "{codec:?} did not compress");
                }
                let back = decompress(codec, &packed, input.len()).unwrap();
                assert_eq!(back, input, "{codec:?}");
            }
        }
    }

    #[test]
    fn lz4_frames_use_independent_blocks_and_no_checksums() {
        let packed = compress(Codec::Lz4, b"hello hello hello").unwrap();
        // Frame magic, then FLG: version 01, block independence (bit 5) set,
        // block checksum (bit 4), content size (bit 3), content checksum (bit 2) clear.
        assert_eq!(packed[..4], [0x04, 0x22, 0x4d, 0x18]);
        assert_eq!(packed[4] & 0b1111_1100, 0b0110_0000);
    }

    #[test]
    fn xerial_framed_snappy_is_read_block_by_block() {
        let block = snap::raw::Encoder::new().compress_vec(b"hello").unwrap();
        let mut framed = SNAPPY_MAGIC.to_vec();
        framed.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1]);
        for _ in 0..2 {
            framed.extend_from_slice(&(block.len() as u32).to_be_bytes());
            framed.extend_from_slice(&block);
        }
        assert_eq!(
            decompress(Codec::Snappy, &framed, 100).unwrap(),
            b"hellohello"
        );
        let cut = &framed[..framed.len() - 2];
        assert!(matches!(
            decompress(Codec::Snappy, cut, 100),
            Err(DecompressError::Corrupt { .. })
        ));
    }

    #[test]
    fn raw_snappy_announcing_gigabytes_is_refused_before_allocating() {
        // Varint length 0xFFFFFFFF (about 4 GiB) and no data.
        let result = decompress(Codec::Snappy, &[0xff, 0xff, 0xff, 0xff, 0x0f], 1 << 20);
        assert!(
            matches!(result, Err(DecompressError::TooLarge { .. })),
            "{result:?}"
        );
    }

    #[test]
    fn garbage_is_an_error_for_every_codec() {
        for codec in [Codec::Gzip, Codec::Snappy, Codec::Lz4, Codec::Zstd] {
            let result = decompress(codec, b"\x01\x02definitely not compressed", 1 << 20);
            assert!(
                matches!(result, Err(DecompressError::Corrupt { .. })),
                "{codec:?}: {result:?}"
            );
        }
    }

    #[test]
    fn codec_ids_are_the_low_three_attribute_bits() {
        assert_eq!(Codec::from_attributes(0x0014), Some(Codec::Zstd));
        assert_eq!(Codec::from_attributes(0x0008), Some(Codec::None));
        assert_eq!(Codec::from_attributes(0x0005), None);
    }
}
