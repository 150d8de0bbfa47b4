//! The write path: validate everything, then one vectored `write` under the writer lock.
use std::io::IoSlice;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Sender;

use super::{AppendInfo, Partition, State};
use crate::config::{Durability, LogConfig};
use crate::error::{IoContext, IoOp, StorageError};
use crate::format::batch::{self, BatchHeader};
use crate::io::FileSystem;
use crate::segment::{NamedFile, Segment};
use crate::store::writeback;
use crate::sync_util::now_ms;

/// The batches of one append, validated.
#[derive(Debug)]
struct Validated {
    batches: Vec<(BatchHeader, usize)>,
    records: i64,
    max_timestamp: i64,
}

/// A range of the active segment whose writeback is to start.
#[derive(Debug)]
struct Writeback {
    file: NamedFile,
    position: u64,
    len: u64,
}

/// Writeback ranges end on a page boundary so the page still being filled is
/// not written out now and again once it is full.
const PAGE_BYTES: u64 = 4096;

/// Whole pages of the active segment appended since writeback last started.
fn unhinted_bytes(active: &Segment) -> u64 {
    (active.size_bytes / PAGE_BYTES * PAGE_BYTES).saturating_sub(active.writeback_started_bytes)
}

/// Claims the active segment's whole pages appended since writeback last started.
fn claim_writeback(fs: &dyn FileSystem, active: &mut Segment) -> Option<Writeback> {
    let len = unhinted_bytes(active);
    if len == 0 {
        return None;
    }
    // The active segment always holds its file: this never opens one.
    let file = active.log_file(fs).ok()?;
    let position = active.writeback_started_bytes;
    active.writeback_started_bytes = position + len;
    Some(Writeback {
        file: (active.log_path.clone(), file),
        position,
        len,
    })
}

/// The reused base-offset buffer is dropped after an append of more batches than this.
const MAX_KEPT_FIELDS: usize = 4096;

// `batch_parts` writes the patched field in front of everything after it.
const _: () = assert!(batch::BASE_OFFSET_AT == 0);

/// Fills `fields` with each batch's assigned base offset, encoded as on disk
/// (big-endian i64), starting at `base_offset`; returns the next free offset.
fn patched_base_offsets(validated: &Validated, base_offset: i64, fields: &mut Vec<[u8; 8]>) -> i64 {
    fields.clear();
    let mut next_offset = base_offset;
    for (header, _) in &validated.batches {
        fields.push(next_offset.to_be_bytes());
        next_offset += i64::from(header.records_count);
    }
    next_offset
}

/// The bytes to write: for each batch its patched base offset, then the rest
/// of the batch straight from `input` (no copy of the body). The base offset
/// is outside the CRC, so the stored batch stays valid. `validate` walked
/// these exact ranges, so the error (nothing written) cannot happen.
fn batch_parts<'a>(
    input: &'a [u8],
    validated: &Validated,
    fields: &'a [[u8; 8]],
) -> Result<Vec<IoSlice<'a>>, StorageError> {
    let mut parts = Vec::with_capacity(2 * validated.batches.len());
    let mut position = 0usize;
    for ((_, size), field) in validated.batches.iter().zip(fields) {
        let rest = input.get(position + field.len()..position + size).ok_or(
            StorageError::InvalidBatch {
                position,
                source: crate::error::BatchError::Truncated {
                    needed: position + size,
                    available: input.len(),
                },
            },
        )?;
        parts.push(IoSlice::new(field));
        parts.push(IoSlice::new(rest));
        position += size;
    }
    Ok(parts)
}

/// Checks every batch of `input` (framing, magic, CRC, record count, size,
/// every record inside, and with `require_keys` that each has a key) before
/// anything is written.
fn validate(input: &[u8], config: &LogConfig) -> Result<Validated, StorageError> {
    let max_batch_bytes = config.max_batch_bytes;
    if input.is_empty() {
        return Err(StorageError::InvalidBatch {
            position: 0,
            source: crate::error::BatchError::Empty,
        });
    }
    let mut batches = Vec::new();
    let (mut position, mut records, mut max_timestamp) = (0usize, 0i64, i64::MIN);
    while let Some(rest) = input.get(position..).filter(|r| !r.is_empty()) {
        // Check the declared size first so an oversized batch reports
        // MESSAGE_TOO_LARGE even if it is also truncated.
        if let Ok((_, size)) = batch::frame(rest)
            && size > max_batch_bytes as usize
        {
            return Err(StorageError::BatchTooLarge {
                size,
                max: max_batch_bytes,
            });
        }
        let mut keyless = Vec::new();
        let (header, size) = batch::whole_batch(rest)
            .and_then(|(header, size)| {
                let whole = rest.get(..size).unwrap_or_default();
                if config.require_keys && !header.is_control() {
                    keyless = batch::check_keyed_records(&header, whole)?;
                } else {
                    batch::check_records(&header, whole)?;
                }
                Ok((header, size))
            })
            .map_err(|source| StorageError::InvalidBatch { position, source })?;
        if !keyless.is_empty() {
            // As Kafka: the request fails at the first batch with record errors.
            return Err(StorageError::KeylessRecords {
                position,
                indexes: keyless,
            });
        }
        records += i64::from(header.records_count);
        max_timestamp = max_timestamp.max(header.max_timestamp);
        batches.push((header, size));
        position += size;
    }
    Ok(Validated {
        batches,
        records,
        max_timestamp,
    })
}

impl Partition {
    /// Appends one or more concatenated v2 batches, all or nothing. Assigns
    /// offsets from the high watermark by patching each base offset. The
    /// bytes are in the file (page cache) when this returns; with
    /// `Durability::Always` they are also fsynced.
    pub fn append(&self, batches: &[u8]) -> Result<AppendInfo, StorageError> {
        let info = self.append_unsynced(batches)?;
        if self.config().durability == Durability::Always {
            self.sync_to(info.last_offset)?;
        }
        Ok(info)
    }

    /// [`Partition::append`] without its fsync, whatever the durability: the
    /// caller must call [`Partition::sync_to`] before acknowledging when the
    /// durability is `Always`. For callers that append under a lock of their
    /// own (the idempotent-producer check): they release it first, so
    /// concurrent appends share one fsync instead of queueing for one each.
    pub fn append_unsynced(&self, batches: &[u8]) -> Result<AppendInfo, StorageError> {
        let config = self.config();
        let validated = validate(batches, &config)?;
        let (info, writeback_due) = {
            let mut state = crate::sync_util::lock(&self.state);
            self.check_writable(&state)?;
            // Issue 4 adds the idempotent-producer sequence check here, inside the critical section.
            let info = self.append_locked(&mut state, batches, &validated, &config)?;
            let due = state.active().is_some_and(|active| {
                config.writeback_bytes > 0 && unhinted_bytes(active) >= config.writeback_bytes
            });
            (info, due)
        };
        if writeback_due {
            self.queue_writeback();
        }
        Ok(info)
    }

    /// Hands this partition to the store's writeback thread (once: see
    /// `store::writeback`), which calls `write_back`.
    pub(crate) fn attach_writeback(self: &Arc<Self>, sender: Sender<writeback::Request>) {
        if self.writeback.set((sender, Arc::downgrade(self))).is_err() {
            tracing::warn!(partition = %self.id, "writeback thread attached twice; keeping the first");
        }
    }

    /// Queues this partition for the writeback thread unless it already is.
    fn queue_writeback(&self) {
        let Some((sender, this)) = self.writeback.get() else {
            return;
        };
        if self.writeback_queued.swap(true, Ordering::AcqRel) {
            return;
        }
        if sender
            .send(writeback::Request::WriteBack(this.clone()))
            .is_err()
        {
            // The store is closing: no more hints are needed.
            self.writeback_queued.store(false, Ordering::Release);
        }
    }

    /// Run by the writeback thread: starts writeback of the whole pages of the
    /// active segment appended since the last start (outside the writer lock:
    /// submitting the I/O can block on a full disk queue). A failure means the
    /// disk failed under acknowledged bytes: like a failed write, it fails the
    /// partition, so nothing more is appended on top of data the kernel may
    /// have dropped, and the next fsync will not report success either.
    pub(crate) fn write_back(&self) {
        // Cleared first: an append after the claim below queues a new run.
        self.writeback_queued.store(false, Ordering::Release);
        let writeback = {
            let mut state = crate::sync_util::lock(&self.state);
            if self.check_writable(&state).is_err() {
                return;
            }
            let fs = self.fs.as_ref();
            state
                .segments
                .last_mut()
                .and_then(|active| claim_writeback(fs, active))
        };
        let Some(Writeback {
            file: (path, file),
            position,
            len,
        }) = writeback
        else {
            return;
        };
        match file.start_writeback(position, len) {
            Ok(()) => {}
            // The hint is unavailable here; fsync still does all the work.
            Err(e) if e.kind() == std::io::ErrorKind::Unsupported => {}
            Err(e) => {
                // Logged by `fail` with the reason.
                let _failed = self.fail_with(StorageError::io(&path, IoOp::Writeback, e));
            }
        }
    }

    fn append_locked(
        &self,
        state: &mut State,
        input: &[u8],
        validated: &Validated,
        config: &LogConfig,
    ) -> Result<AppendInfo, StorageError> {
        let base_offset = self.high_watermark();
        self.maybe_roll(state, input.len() as u64, validated, config)?;
        let State {
            segments,
            base_offset_fields,
            ..
        } = state;
        let active = segments
            .last_mut()
            .ok_or_else(|| self.no_active_segment())?;
        let next_offset = patched_base_offsets(validated, base_offset, base_offset_fields);
        let parts = batch_parts(input, validated, base_offset_fields)?;
        let file_position = active.size_bytes;
        if let Err(e) = active.log_file(self.fs.as_ref()).and_then(|log| {
            log.append_vectored(&parts)
                .ctx(&active.log_path, IoOp::Write)
        }) {
            // Part of the input may be in the file now: never write after it.
            return Err(self.fail_with(e));
        }
        let (mut at, mut offset) = (file_position, base_offset);
        for (header, size) in &validated.batches {
            let header = BatchHeader {
                base_offset: offset,
                ..*header
            };
            active.record_batch(&header, at, *size as u64, config.index_interval_bytes);
            at += *size as u64;
            offset += i64::from(header.records_count);
        }
        // Publish: readers snapshot `size_bytes` under this lock, so they
        // only ever see whole batches.
        active.size_bytes = at;
        self.high_watermark.store(next_offset, Ordering::Release);
        if base_offset_fields.capacity() > MAX_KEPT_FIELDS {
            // Do not keep one huge request's buffer around forever.
            *base_offset_fields = Vec::new();
        }
        Ok(AppendInfo {
            base_offset,
            last_offset: next_offset - 1,
            max_timestamp: validated.max_timestamp,
            log_start_offset: self.log_start_offset(),
        })
    }

    fn no_active_segment(&self) -> StorageError {
        self.fail_with(StorageError::Corruption {
            path: self.dir.clone(),
            position: 0,
            detail: "partition has no active segment".to_owned(),
        })
    }

    /// Seals the active segment and starts a new one if the append of
    /// `bytes` holding `validated` would overflow it (size, u32
    /// positions/relative offsets) or it is too old for the batches' max
    /// timestamp (`Segment::age_for_roll_ms`).
    fn maybe_roll(
        &self,
        state: &mut State,
        bytes: u64,
        validated: &Validated,
        config: &LogConfig,
    ) -> Result<(), StorageError> {
        let now = now_ms();
        let Some(active) = state.segments.last() else {
            return Err(self.no_active_segment());
        };
        if active.is_empty() {
            return Ok(());
        }
        let too_big = active.size_bytes + bytes > config.segment_bytes_effective();
        let too_old = active.age_for_roll_ms(validated.max_timestamp, now) >= config.segment_ms_max;
        let offsets_overflow = active
            .relative(active.next_offset + validated.records)
            .is_none();
        if !(too_big || too_old || offsets_overflow) {
            return Ok(());
        }
        self.roll(state, now)
    }

    /// Seals the active segment (writing its indexes) and opens a new empty one
    /// at the high watermark.
    pub(super) fn roll(&self, state: &mut State, now: i64) -> Result<(), StorageError> {
        let fs = self.fs.as_ref();
        let Some(active) = state.segments.last_mut() else {
            return Err(self.no_active_segment());
        };
        let index_files = active
            .write_indexes(fs, false)
            .map_err(|e| self.fail_with(e))?;
        // Sealed, its indexes complete in their files: a lookup maps them
        // when it needs them, and the memory goes now.
        active.release_indexes();
        // The sealed segment's log and indexes are fsynced by the next sync,
        // before the recovery point moves past them. The segment lets go of
        // its log's file; the sync holds it until then, so a write-back
        // error is reported to the descriptor that wrote the bytes.
        if let Some(log) = active.close_log() {
            state.unsynced.push((active.log_path.clone(), log));
        }
        state.unsynced.extend(index_files);
        let next = Segment::open(fs, &self.dir, self.high_watermark(), now)
            .map_err(|e| self.fail_with(e))?;
        if next.size_bytes != 0 {
            return Err(self.fail_with(StorageError::Corruption {
                path: next.log_path.clone(),
                position: 0,
                detail: "new segment file already holds data".to_owned(),
            }));
        }
        state.segments.push(next);
        state.dir_dirty = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::builder::{SimpleRecord, encode_batch};

    #[test]
    fn validate_rejects_oversized_before_anything_else() {
        let value = vec![7u8; 2000];
        let batch = encode_batch(&[SimpleRecord {
            timestamp_ms: 1,
            key: None,
            value: Some(&value),
        }]);
        let max = |max_batch_bytes| LogConfig {
            max_batch_bytes,
            ..LogConfig::default()
        };
        let err = validate(&batch, &max(1000)).unwrap_err();
        assert!(matches!(err, StorageError::BatchTooLarge { max: 1000, .. }));
        assert!(matches!(
            validate(&batch[..100], &max(1000)),
            Err(StorageError::BatchTooLarge { .. })
        ));
        assert!(validate(&batch, &max(4000)).is_ok());
    }

    #[test]
    fn batch_parts_are_the_input_with_each_base_offset_patched() {
        let batches: Vec<Vec<u8>> = [1usize, 3, 2]
            .iter()
            .map(|&n| {
                let values: Vec<String> = (0..n).map(|i| format!("v{i}")).collect();
                let records: Vec<SimpleRecord<'_>> = values
                    .iter()
                    .map(|v| SimpleRecord {
                        timestamp_ms: 5,
                        key: None,
                        value: Some(v.as_bytes()),
                    })
                    .collect();
                encode_batch(&records)
            })
            .collect();
        let input = batches.concat();
        let validated = validate(&input, &LogConfig::default()).unwrap();
        let mut fields = Vec::new();
        assert_eq!(patched_base_offsets(&validated, 40, &mut fields), 46);
        let parts = batch_parts(&input, &validated, &fields).unwrap();
        let written: Vec<u8> = parts.iter().flat_map(|p| p.iter().copied()).collect();
        // What the copying writer produced: the input, each base offset set in place.
        let mut expected = input.clone();
        let (mut at, mut offset) = (0, 40);
        for (batch, records) in batches.iter().zip([1, 3, 2]) {
            batch::set_base_offset(&mut expected[at..], offset);
            at += batch.len();
            offset += records;
        }
        assert_eq!(written, expected);
        assert_ne!(written, input, "the offsets were really patched");
        for ((header, _), offset) in validate(&written, &LogConfig::default())
            .unwrap()
            .batches
            .iter()
            .zip([40, 41, 44])
        {
            assert_eq!(header.base_offset, offset);
        }
    }

    #[test]
    fn validate_reports_the_position_of_the_bad_batch() {
        let one = encode_batch(&[SimpleRecord {
            timestamp_ms: 1,
            key: None,
            value: Some(b"x"),
        }]);
        let mut input = one.clone();
        input.extend_from_slice(&one);
        let last = input.len() - 1;
        input[last] ^= 1;
        let err = validate(&input, &LogConfig::default()).unwrap_err();
        assert!(
            matches!(err, StorageError::InvalidBatch { position, .. } if position == one.len())
        );
        assert!(matches!(
            validate(&[], &LogConfig::default()),
            Err(StorageError::InvalidBatch { .. })
        ));
    }
}
