//! The partition checkpoint (`partition.checkpoint`), 28 bytes, replaced atomically.
//!
//! ```text
//! { magic "FLCK" | version u16 (=1) | flags u16 | log_start_offset i64 | recovery_point i64 | crc32c u32 }
//! ```
//! Big-endian. `flags` bit 0 = clean shutdown. The CRC-32C covers the 24
//! bytes before it. `recovery_point` is the offset below which every batch is
//! known to be fsynced.
use super::bytes_be::{array, i64_at, u16_at, u32_at};

pub const MAGIC: [u8; 4] = *b"FLCK";
pub const VERSION: u16 = 1;
pub const LEN: usize = 28;
const CRC_AT: usize = 24;
const FLAG_CLEAN_SHUTDOWN: u16 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    pub log_start_offset: i64,
    pub recovery_point: i64,
    pub clean_shutdown: bool,
}

/// Why checkpoint bytes were rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("checkpoint is {0} bytes, expected {LEN}")]
    Length(usize),
    #[error("bad checkpoint magic {0:02x?}")]
    Magic([u8; 4]),
    #[error("unsupported checkpoint version {0}")]
    Version(u16),
    #[error("checkpoint CRC mismatch: stored {expected:#010x}, computed {actual:#010x}")]
    Crc { expected: u32, actual: u32 },
}

impl Checkpoint {
    pub fn encode(&self) -> [u8; LEN] {
        let mut out = Vec::with_capacity(LEN);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&VERSION.to_be_bytes());
        let flags = if self.clean_shutdown {
            FLAG_CLEAN_SHUTDOWN
        } else {
            0
        };
        out.extend_from_slice(&flags.to_be_bytes());
        out.extend_from_slice(&self.log_start_offset.to_be_bytes());
        out.extend_from_slice(&self.recovery_point.to_be_bytes());
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_be_bytes());
        array(&out, 0).unwrap_or([0; LEN])
    }

    pub fn decode(buf: &[u8]) -> Result<Checkpoint, CheckpointError> {
        if buf.len() != LEN {
            return Err(CheckpointError::Length(buf.len()));
        }
        let magic: [u8; 4] = array(buf, 0).ok_or(CheckpointError::Length(buf.len()))?;
        if magic != MAGIC {
            return Err(CheckpointError::Magic(magic));
        }
        let expected = u32_at(buf, CRC_AT).ok_or(CheckpointError::Length(buf.len()))?;
        let actual = crc32c::crc32c(buf.get(..CRC_AT).unwrap_or_default());
        if expected != actual {
            return Err(CheckpointError::Crc { expected, actual });
        }
        let version = u16_at(buf, 4).ok_or(CheckpointError::Length(buf.len()))?;
        if version != VERSION {
            return Err(CheckpointError::Version(version));
        }
        let flags = u16_at(buf, 6).unwrap_or(0);
        Ok(Checkpoint {
            log_start_offset: i64_at(buf, 8).unwrap_or(0),
            recovery_point: i64_at(buf, 16).unwrap_or(0),
            clean_shutdown: flags & FLAG_CLEAN_SHUTDOWN != 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_detects_any_flip() {
        let cp = Checkpoint {
            log_start_offset: 42,
            recovery_point: 1000,
            clean_shutdown: true,
        };
        let bytes = cp.encode();
        assert_eq!(Checkpoint::decode(&bytes), Ok(cp));
        for at in 0..LEN {
            let mut bad = bytes;
            bad[at] ^= 0x10;
            assert!(Checkpoint::decode(&bad).is_err(), "flip at {at}");
        }
        assert!(matches!(
            Checkpoint::decode(&bytes[..27]),
            Err(CheckpointError::Length(27))
        ));
    }
}
