//! Kafka's default partitioner for keyed records: murmur2 exactly as the Java
//! client computes it, so a key lands on the same partition whichever client
//! produced it.

/// Kafka's `Utils.murmur2` (seed 0x9747b28c), bit for bit.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    // Java truncates the length to int; so do we (keys are never near 2 GiB).
    let mut h: u32 = SEED ^ (data.len() as u32);
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    // Java's switch falls through from 3 to 2 to 1.
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if let Some(&first) = tail.first() {
        h ^= u32::from(first);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition for `key` among `partition_count` partitions:
/// `toPositive(murmur2(key)) % numPartitions`, as Kafka's `BuiltInPartitioner`.
pub fn partition_for_key(key: &[u8], partition_count: u32) -> i32 {
    debug_assert!(
        partition_count > 0,
        "a topic always has at least one partition"
    );
    let positive = (murmur2(key) & 0x7fff_ffff) as u32;
    (positive % partition_count.max(1)) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vectors of Kafka's own `UtilsTest.testMurmur2`.
    #[test]
    fn murmur2_matches_kafka_vectors() {
        let cases: [(&[u8], i32); 7] = [
            (b"", 275_646_681),
            (b"21", -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            (b"abc", 479_470_107),
        ];
        for (key, expected) in cases {
            assert_eq!(
                murmur2(key),
                expected,
                "key {:?}",
                String::from_utf8_lossy(key)
            );
        }
    }

    #[test]
    fn partition_is_positive_and_in_range() {
        for n in 1..20u32 {
            for key in [&b"21"[..], b"foobar", b"", b"\xff\xff\xff\xff\xff"] {
                let p = partition_for_key(key, n);
                assert!((0..n as i32).contains(&p));
            }
        }
        // toPositive(-973932308) % 4 == 1173551340 % 4 == 0
        assert_eq!(partition_for_key(b"21", 4), 0);
        assert_eq!(partition_for_key(b"foobar", 50), 16);
    }
}
