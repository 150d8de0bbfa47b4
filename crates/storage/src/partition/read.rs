//! The read path: whole batches from the batch holding the requested offset.
//!
//! Segments are mapped on first read and answered with a slice of the
//! mapping (zero-copy `Bytes`): sealed ones as they are, the active one past
//! its end so the mapping keeps serving it as it grows (see
//! `Segment::map_for_reads`). Where the file system cannot map, positioned
//! reads into recycled buffers do the same job. A sealed segment's index
//! files are mapped only by a lookup that needs them; every mapping a
//! sealed segment holds is retired together once it goes idle.
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::{Bytes, BytesMut};

use super::{Partition, ReadResult, State};
use crate::error::{IoContext, IoOp, StorageError};
use crate::scan::{ScanItem, ScanMode, Scanner};
use crate::segment::{IdleMaps, LogBytes, SegmentView, WalkStart, retire_idle_maps};
use crate::sync_util::lock;

/// What a lookup in one segment looks for.
#[derive(Clone, Copy, Debug)]
pub(super) enum Target {
    /// The batch holding this offset (a fetch).
    Offset(i64),
    /// The first batch whose max timestamp is at or after this (ListOffsets).
    Timestamp(i64),
}

/// Where to look for a target in one segment, taken under the lock.
#[derive(Debug)]
pub(super) struct ReadPlan {
    pub(super) view: SegmentView,
    pub(super) base_offset: i64,
    /// Where the index says to walk from; see [`ReadPlan::walk_from`].
    start: WalkStart,
    /// The segment's mark that its offset index disagrees with its log.
    index_disagrees: Arc<AtomicBool>,
    /// Mappings of idle segments, dropped with the plan, outside the lock.
    _retired: Vec<IdleMaps>,
}

impl ReadPlan {
    /// The position to walk the log from: the index's, once the batch there
    /// is seen to be the one its entry names. An entry that names a batch
    /// under a smaller offset than its own would start the walk past the
    /// records asked for and skip them without a trace, and one whose
    /// position lands inside a batch would read as damage to the log. Index
    /// files are derived data, so either way the walk starts at the
    /// segment's start instead (once, with a warning, then for every later
    /// lookup in the segment: a clean open checks only an index's last entry).
    pub(super) fn walk_from(&self) -> u64 {
        let WalkStart {
            position,
            base_offset,
        } = self.start;
        if position == 0 {
            return 0;
        }
        let found = self.view.batch_header_at(position).map(|h| h.base_offset);
        if found == Some(base_offset) {
            return position;
        }
        if !self.index_disagrees.swap(true, Ordering::AcqRel) {
            let index = self.view.log_path.with_extension("index");
            tracing::warn!(index = %index.display(), position, expected_offset = base_offset, ?found,
                "offset index disagrees with the log; lookups in this segment walk it from its start \
                 (stop the broker and remove the segment's .index and .timeindex to have them rebuilt from the log)");
        }
        0
    }
}

/// Whole batches cut from one segment.
#[derive(Debug)]
struct Chunk {
    bytes: Bytes,
    /// Offset after the last batch taken (the requested offset if none).
    next_offset: i64,
    /// The chunk ends at the segment's (published) end.
    reached_end: bool,
}

impl Partition {
    /// Returns whole batches starting at the one that holds `offset`, up to
    /// `max_bytes` but always at least one whole batch, possibly spanning
    /// segments. `offset == high watermark` gives empty records. Only
    /// published (completely written) batches are visible. The lock is held
    /// only to pick the segment; the I/O runs without it.
    pub fn read(&self, offset: i64, max_bytes: usize) -> Result<ReadResult, StorageError> {
        self.read_batches(offset, max_bytes, true)
    }

    /// [`Partition::read`], but only batches that fit in `max_bytes` whole:
    /// no records if the first does not. For a fetch's later partitions,
    /// which Kafka never lets pass the response's limits (only the first
    /// partition with data may, by one batch, so that a consumer progresses).
    pub fn read_fitting(&self, offset: i64, max_bytes: usize) -> Result<ReadResult, StorageError> {
        self.read_batches(offset, max_bytes, false)
    }

    fn read_batches(
        &self,
        offset: i64,
        max_bytes: usize,
        at_least_one: bool,
    ) -> Result<ReadResult, StorageError> {
        let high_watermark = self.high_watermark();
        let log_start_offset = self.log_start_offset();
        if offset < log_start_offset || offset > high_watermark {
            return Err(StorageError::OffsetOutOfRange {
                offset,
                log_start_offset,
                high_watermark,
            });
        }
        let mut chunks: Vec<Bytes> = Vec::new();
        let (mut cursor, mut taken) = (offset, 0usize);
        while cursor < high_watermark {
            let Some(plan) = self.plan_read(cursor)? else {
                break;
            };
            let budget = max_bytes.saturating_sub(taken);
            let Some(chunk) = read_segment(&plan, cursor, budget, at_least_one && taken == 0)?
            else {
                break;
            };
            taken += chunk.bytes.len();
            if !chunk.bytes.is_empty() {
                chunks.push(chunk.bytes);
            }
            if !chunk.reached_end || chunk.next_offset <= cursor || taken >= max_bytes {
                break;
            }
            cursor = chunk.next_offset;
        }
        Ok(ReadResult {
            records: join(chunks, taken),
            // Loaded after the reads: a segment may have grown meanwhile, and
            // no returned batch may lie at or above the reported watermark.
            high_watermark: self.high_watermark(),
            log_start_offset,
        })
    }

    /// How many of this partition's segments hold a mapping now (of the log
    /// or an index file): at most `MAPPED_SEALED_MAX` (`segment/maps.rs`)
    /// sealed ones plus the active one.
    pub fn mapped_segment_count(&self) -> usize {
        lock(&self.state)
            .segments
            .iter()
            .filter(|s| s.holds_mappings())
            .count()
    }

    /// The index files (`.index`, `.timeindex`) this partition holds mapped
    /// now, oldest segment first. Each mapping counts against the process's
    /// `vm.max_map_count`.
    pub fn mapped_index_files(&self) -> Vec<std::path::PathBuf> {
        lock(&self.state)
            .segments
            .iter()
            .flat_map(|s| s.mapped_index_paths())
            .collect()
    }

    /// The segment holding `offset` and the index position to scan from.
    fn plan_read(&self, offset: i64) -> Result<Option<ReadPlan>, StorageError> {
        let mut state = lock(&self.state);
        let Some(at) = state
            .segments
            .partition_point(|s| s.base_offset <= offset)
            .checked_sub(1)
        else {
            return Ok(None);
        };
        self.plan_in(&mut state, at, Target::Offset(offset))
    }

    /// Plans a lookup in `state.segments[at]`: the index position to scan
    /// from (mapping the index file it needs, if the segment is sealed and
    /// it is not mapped), the log mapped for reads, and the retirement of
    /// idle segments' mappings. A failed index mapping fails the lookup.
    pub(super) fn plan_in(
        &self,
        state: &mut State,
        at: usize,
        target: Target,
    ) -> Result<Option<ReadPlan>, StorageError> {
        let sealed = at + 1 < state.segments.len();
        let growing_len = self.mapped_segment_len();
        let fs = self.fs.as_ref();
        let Some(segment) = state.segments.get_mut(at) else {
            return Ok(None);
        };
        let start = match target {
            Target::Offset(offset) => segment.position_for_offset(fs, offset)?,
            Target::Timestamp(ts) => segment.position_for_timestamp(fs, ts)?,
        };
        segment.map_for_reads(fs, sealed, growing_len);
        let (view, base_offset) = (segment.view(fs)?, segment.base_offset);
        let index_disagrees = segment.index_disagrees();
        let retired = retire_idle_maps(&mut state.segments, at);
        Ok(Some(ReadPlan {
            view,
            base_offset,
            start,
            index_disagrees,
            _retired: retired,
        }))
    }
}

/// One chunk is handed out as is (zero-copy for a mapped segment); a read
/// that spans segments is joined into one buffer.
fn join(mut chunks: Vec<Bytes>, len: usize) -> Bytes {
    if chunks.len() <= 1 {
        return chunks.pop().unwrap_or_default();
    }
    let mut out = BytesMut::with_capacity(len);
    for chunk in &chunks {
        out.extend_from_slice(chunk);
    }
    out.freeze()
}

/// Finds the batch holding `offset` in the planned segment and cuts whole
/// batches from there within `budget` (at least one if `must_take_one`).
/// None if the segment holds no batch at or after `offset`.
///
/// Only the headers between the index entry and the target batch are read
/// one by one; the batches returned are sliced from the mapping or read with
/// one positioned read, then cut at the last whole batch in memory.
fn read_segment(
    plan: &ReadPlan,
    offset: i64,
    budget: usize,
    must_take_one: bool,
) -> Result<Option<Chunk>, StorageError> {
    let view = &plan.view;
    let start_position = plan.walk_from();
    let mut scanner = None;
    let found = match &view.bytes {
        // Mapped: walk the headers in place, nothing is copied.
        LogBytes::Mapped(_) => find_batch_mapped(view, start_position, offset)?,
        LogBytes::File(log) => {
            let scan = scanner.insert(Scanner::new(
                log.clone(),
                ScanMode::Frame,
                start_position,
                view.size_bytes,
            ));
            find_batch(scan, view, offset)?
        }
    };
    let Some((start, first_size)) = found else {
        return Ok(None);
    };
    if first_size > budget as u64 && !must_take_one {
        let bytes = Bytes::new();
        return Ok(Some(Chunk {
            bytes,
            next_offset: offset,
            reached_end: false,
        }));
    }
    let want = (budget as u64).max(first_size).min(view.size_bytes - start);
    let too_big = |e| StorageError::io(&view.log_path, IoOp::Read, std::io::Error::other(e));
    let (from, len) = (
        usize::try_from(start).map_err(too_big)?,
        usize::try_from(want).map_err(too_big)?,
    );
    let buffered = scanner.as_ref().and_then(|s| s.buffered(start, want));
    let bytes = match (&view.bytes, buffered) {
        (LogBytes::Mapped(map), _) => map.slice(from..from + len),
        // Small reads: the header walk already brought these bytes in.
        (LogBytes::File(_), Some(buffered)) => Bytes::copy_from_slice(buffered),
        (LogBytes::File(log), None) => {
            let mut buf = buffers::take(len);
            crate::io::read_exact_at(log.as_ref(), buf.as_mut(), start)
                .ctx(&view.log_path, IoOp::Read)?;
            Bytes::from_owner(buf)
        }
    };
    let (cut, next_offset) = whole_batches_prefix(&bytes, offset);
    let reached_end = start + cut as u64 == view.size_bytes;
    Ok(Some(Chunk {
        bytes: bytes.slice(..cut),
        next_offset,
        reached_end,
    }))
}

/// Like [`find_batch`], over a mapped segment's published bytes.
fn find_batch_mapped(
    view: &SegmentView,
    start_position: u64,
    offset: i64,
) -> Result<Option<(u64, u64)>, StorageError> {
    for batch in view.mapped_batches(start_position).into_iter().flatten() {
        let (position, header, bytes) = batch?;
        if header.last_offset() >= offset {
            return Ok(Some((position, bytes.len() as u64)));
        }
    }
    Ok(None)
}

/// Position and size of the first batch whose last offset is >= `offset`.
fn find_batch(
    scanner: &mut Scanner,
    view: &SegmentView,
    offset: i64,
) -> Result<Option<(u64, u64)>, StorageError> {
    loop {
        match scanner
            .next_item()
            .map_err(|e| StorageError::io(&view.log_path, IoOp::Read, e))?
        {
            ScanItem::Batch {
                header,
                position,
                size,
            } if header.last_offset() >= offset => {
                return Ok(Some((position, size)));
            }
            ScanItem::Batch { .. } => {}
            ScanItem::End => return Ok(None),
            ScanItem::Damage { position, damage } => {
                return Err(view.corruption(position, damage.to_string()));
            }
        }
    }
}

/// Length of the longest prefix of `buf` made of whole batches, and the
/// offset after its last batch (`offset` if there is none).
fn whole_batches_prefix(buf: &[u8], offset: i64) -> (usize, i64) {
    let (mut cut, mut next_offset) = (0usize, offset);
    while let Some(rest) = buf.get(cut..) {
        match crate::format::batch::frame(rest) {
            Ok((header, size)) if size <= rest.len() => {
                cut += size;
                next_offset = header.last_offset().saturating_add(1);
            }
            _ => break,
        }
    }
    (cut, next_offset)
}

/// Buffers for positioned reads, recycled across reads: the fallback where a
/// segment cannot be mapped (a file system without mappings, as in tests).
///
/// A fresh buffer has to be zeroed before `pread` may fill it (a `memset`, or
/// page faults on fresh memory), which cost half as much as the read itself
/// in a profile of a 1 KiB-record consumer (perf: 17% memset, 32% copy). A
/// recycled buffer is already initialised, so it is overwritten as it is.
///
/// One small pool for the whole process: its lock is held for a push or a
/// pop, never during I/O, so it does not serialise partitions' reads.
mod buffers {
    use std::sync::Mutex;

    use crate::sync_util::lock;

    /// Bytes the pool may keep idle: bounded, so RSS stays bounded after a
    /// burst of large fetches.
    const POOL_BYTES_MAX: usize = 64 * 1024 * 1024;

    static POOL: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

    /// `len` initialised bytes, recycled when possible.
    pub(super) fn take(len: usize) -> Pooled {
        let recycled = {
            let mut pool = lock(&POOL);
            let fit = pool.iter().position(|b| b.len() >= len);
            fit.map(|i| pool.swap_remove(i))
        };
        let mut buf = recycled.unwrap_or_default();
        if buf.len() < len {
            buf.resize(len, 0);
        }
        Pooled { buf, len }
    }

    /// The first `len` bytes of `buf`; `buf` goes back to the pool when the
    /// last `Bytes` cut from it is dropped.
    #[derive(Debug)]
    pub(super) struct Pooled {
        buf: Vec<u8>,
        len: usize,
    }

    impl AsRef<[u8]> for Pooled {
        fn as_ref(&self) -> &[u8] {
            self.buf.get(..self.len).unwrap_or_default()
        }
    }

    impl AsMut<[u8]> for Pooled {
        fn as_mut(&mut self) -> &mut [u8] {
            self.buf.get_mut(..self.len).unwrap_or_default()
        }
    }

    impl Drop for Pooled {
        fn drop(&mut self) {
            let buf = std::mem::take(&mut self.buf);
            let mut pool = lock(&POOL);
            let pooled: usize = pool.iter().map(Vec::len).sum();
            if pooled + buf.len() <= POOL_BYTES_MAX {
                pool.push(buf);
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn a_recycled_buffer_is_cut_to_the_asked_length() {
            let mut first = take(100);
            first.as_mut().fill(7);
            drop(first);
            let second = take(10);
            assert_eq!(second.as_ref().len(), 10);
            let big = take(POOL_BYTES_MAX + 1);
            assert_eq!(big.as_ref().len(), POOL_BYTES_MAX + 1);
            drop(big); // too big to keep: the pool stays bounded
            let pooled: usize = lock(&POOL).iter().map(Vec::len).sum();
            assert!(pooled <= POOL_BYTES_MAX);
        }
    }
}
