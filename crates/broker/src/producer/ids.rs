//! Producer-id allocation for InitProducerId: ids are never handed out twice, even across
//! restarts and crashes.
//!
//! Ids are reserved in blocks: before the first id of a block is handed out, the block's end is
//! written to `producer_ids.checkpoint` (temp file, fsync, rename, fsync directory). After a
//! restart allocation resumes at the persisted end, so at most one block of ids is skipped.
//!
//! File grammar (big-endian): `{ magic "FLPI" | version u8 = 1 | next_block_start i64 | crc32c u32 }`,
//! the CRC covering everything before it.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use kafka_protocol::ResponseError;

use super::atomic_file::{AtomicWriteError, write_atomic};

pub const CHECKPOINT_FILE_NAME: &str = "producer_ids.checkpoint";
const MAGIC: &[u8; 4] = b"FLPI";
const VERSION: u8 = 1;
const FILE_BYTES: usize = 4 + 1 + 8 + 4;
/// Ids reserved per checkpoint write.
pub const BLOCK_IDS: i64 = 1000;

#[derive(Debug, thiserror::Error)]
pub enum ProducerIdError {
    #[error("cannot read producer id checkpoint {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("producer id checkpoint {path} is damaged: {detail}")]
    Corrupt { path: PathBuf, detail: String },
    #[error("cannot persist producer id checkpoint")]
    Write(#[from] AtomicWriteError),
    #[error("producer ids exhausted")]
    Exhausted,
}

impl ProducerIdError {
    /// What a client sees when allocation fails: retriable, since the disk may recover.
    pub fn response_error(&self) -> ResponseError {
        ResponseError::CoordinatorNotAvailable
    }
}

#[derive(Debug)]
struct Range {
    next: i64,
    block_end: i64,
}

#[derive(Debug)]
pub struct ProducerIdAllocator {
    path: PathBuf,
    /// A std Mutex: allocation is rare and short; the fsync at a block boundary is the only
    /// slow part and must not let two callers reserve the same block.
    range: Mutex<Range>,
}

impl ProducerIdAllocator {
    /// Open the allocator in `dir`, resuming after the last persisted block.
    pub fn open(dir: &Path) -> Result<ProducerIdAllocator, ProducerIdError> {
        let path = dir.join(CHECKPOINT_FILE_NAME);
        let start = match std::fs::read(&path) {
            Ok(bytes) => decode(&bytes).map_err(|detail| ProducerIdError::Corrupt {
                path: path.clone(),
                detail,
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(source) => return Err(ProducerIdError::Read { path, source }),
        };
        Ok(ProducerIdAllocator {
            path,
            range: Mutex::new(Range {
                next: start,
                block_end: start,
            }),
        })
    }

    /// A fresh producer id, never handed out before.
    pub fn allocate(&self) -> Result<i64, ProducerIdError> {
        let mut range = self
            .range
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if range.next >= range.block_end {
            let block_end = range
                .block_end
                .checked_add(BLOCK_IDS)
                .ok_or(ProducerIdError::Exhausted)?;
            write_atomic(&self.path, &encode(block_end))?;
            range.block_end = block_end;
        }
        let id = range.next;
        range.next += 1;
        Ok(id)
    }

    /// InitProducerId: bump the epoch of a producer that presents its current id and epoch
    /// (KIP-360), or hand out a new id at epoch 0. An exhausted epoch also gets a new id.
    pub fn init(&self, current: Option<(i64, i16)>) -> Result<(i64, i16), ProducerIdError> {
        if let Some((id, epoch)) = current
            && id >= 0
            && (0..i16::MAX - 1).contains(&epoch)
            && self.was_allocated(id)
        {
            return Ok((id, epoch + 1));
        }
        Ok((self.allocate()?, 0))
    }

    fn was_allocated(&self, id: i64) -> bool {
        let range = self
            .range
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        id < range.next.max(range.block_end)
    }
}

fn encode(next_block_start: i64) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(FILE_BYTES);
    bytes.extend_from_slice(MAGIC);
    bytes.push(VERSION);
    bytes.extend_from_slice(&next_block_start.to_be_bytes());
    let crc = crc32c::crc32c(&bytes);
    bytes.extend_from_slice(&crc.to_be_bytes());
    bytes
}

fn decode(bytes: &[u8]) -> Result<i64, String> {
    if bytes.len() != FILE_BYTES {
        return Err(format!("{} bytes, expected {FILE_BYTES}", bytes.len()));
    }
    let (body, crc_bytes) = bytes.split_at(FILE_BYTES - 4);
    let stored = u32::from_be_bytes(crc_bytes.try_into().map_err(|_| "short crc".to_owned())?);
    let actual = crc32c::crc32c(body);
    if stored != actual {
        return Err(format!(
            "crc mismatch: stored {stored:#010x}, computed {actual:#010x}"
        ));
    }
    if body.get(..4) != Some(MAGIC.as_slice()) || body.get(4) != Some(&VERSION) {
        return Err("bad magic or version".to_owned());
    }
    let value: [u8; 8] = body
        .get(5..13)
        .and_then(|s| s.try_into().ok())
        .ok_or("short body")?;
    Ok(i64::from_be_bytes(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_never_reused_after_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = ProducerIdAllocator::open(dir.path()).expect("open");
        let a: Vec<i64> = (0..3).map(|_| first.allocate().expect("id")).collect();
        assert_eq!(a, vec![0, 1, 2]);
        drop(first); // a crash: nothing but the checkpoint survives
        let second = ProducerIdAllocator::open(dir.path()).expect("reopen");
        let b = second.allocate().expect("id");
        assert!(b > 2, "id {b} reused");
        assert_eq!(b, BLOCK_IDS);
    }

    #[test]
    fn epoch_bump_keeps_the_id_and_unknown_ids_get_a_new_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ids = ProducerIdAllocator::open(dir.path()).expect("open");
        let (id, epoch) = ids.init(None).expect("init");
        assert_eq!(epoch, 0);
        assert_eq!(ids.init(Some((id, 0))).expect("bump"), (id, 1));
        let (other, e) = ids.init(Some((999_999, 3))).expect("init");
        assert_ne!(other, 999_999);
        assert_eq!(e, 0);
        let (fresh, e) = ids.init(Some((id, i16::MAX - 1))).expect("exhausted epoch");
        assert_ne!(fresh, id);
        assert_eq!(e, 0);
    }

    #[test]
    fn a_damaged_checkpoint_refuses_to_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ids = ProducerIdAllocator::open(dir.path()).expect("open");
        ids.allocate().expect("id");
        let path = dir.path().join(CHECKPOINT_FILE_NAME);
        let mut bytes = std::fs::read(&path).expect("read");
        bytes[7] ^= 0x40;
        std::fs::write(&path, &bytes).expect("write");
        assert!(matches!(
            ProducerIdAllocator::open(dir.path()),
            Err(ProducerIdError::Corrupt { .. })
        ));
    }
}
