//! Offline dump and verification of data files, for `ferrolog inspect`.
//!
//! Everything here parses with the same `format` code the engine uses; the
//! CLI must not parse segment bytes itself. Functions take the file system
//! to read through (the CLI passes `&StdFileSystem`). Decoding the records
//! inside a batch (and decompressing them) is the CLI's job: it gets the
//! whole batch bytes and [`crate::format::batch::records_section`].
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use crate::error::{IoContext, IoOp, StorageError};
use crate::format::batch::{self, BatchHeader};
use crate::format::names::{self, FileKind};
use crate::format::{OffsetIndexEntry, TimeIndexEntry, offset_index, time_index};
use crate::io::{File, FileSystem, OpenMode};
use crate::scan::{ScanItem, ScanMode, Scanner};

mod verify;

pub use verify::{
    DataDirReport, PartitionReport, Problem, ProblemKind, SegmentSummary, verify_data_dir,
    verify_partition,
};

/// One batch as found in a segment file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchInfo {
    /// Byte position of the batch in the `.log` file.
    pub position: u64,
    /// Whole batch size in bytes.
    pub size: u64,
    pub header: BatchHeader,
    /// The stored CRC-32C matches the bytes.
    pub crc_ok: bool,
    /// `0 <= records_count <= last_offset_delta + 1`: equal as produced,
    /// fewer once compaction removed records (`format::batch::stored_count_ok`).
    pub count_ok: bool,
    /// The whole batch bytes, if asked for with [`SegmentBatches::with_bytes`].
    pub bytes: Option<Bytes>,
    /// The base offset the batch should have: the previous batch's last
    /// offset + 1, or for the first batch the base offset in the file's
    /// name (None if the file is not named like a segment).
    pub expected_base_offset: Option<i64>,
}

impl BatchInfo {
    pub fn base_offset(&self) -> i64 {
        self.header.base_offset
    }
    pub fn last_offset(&self) -> i64 {
        self.header.last_offset()
    }
    pub fn records_count(&self) -> i32 {
        self.header.records_count
    }
    /// Compression codec: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd.
    pub fn compression(&self) -> u8 {
        self.header.compression()
    }
    pub fn is_valid(&self) -> bool {
        self.crc_ok && self.count_ok
    }

    /// Why the base offset does not follow on from the batch before (or the
    /// file name), if it does not. The CRC does not cover the base offset,
    /// so only this catches a damaged one.
    pub fn offset_problem(&self) -> Option<String> {
        let expected = self.expected_base_offset?;
        (self.base_offset() != expected).then(|| {
            format!(
                "batch base offset {} where {expected} was expected",
                self.base_offset()
            )
        })
    }
}

/// What the walk over a segment yields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SegmentEntry {
    /// A batch whose framing is sound (check `crc_ok` for its content).
    Batch(BatchInfo),
    /// Framing damage (bad length or magic, or a torn batch): the walk stops
    /// here since batch boundaries after it are unknown.
    Damage {
        position: u64,
        bytes_remaining: u64,
        detail: String,
    },
}

/// Iterator over the batches of one `.log` file. A batch with a bad CRC or
/// an unexpected base offset is reported and the walk continues; framing
/// damage ends the walk.
#[derive(Debug)]
pub struct SegmentBatches {
    path: PathBuf,
    scanner: Scanner,
    end: u64,
    with_bytes: bool,
    done: bool,
    /// The next batch's expected base offset.
    next_offset: Option<i64>,
}

impl SegmentBatches {
    /// Also hand out each batch's bytes (for `--records`).
    pub fn with_bytes(mut self, with_bytes: bool) -> Self {
        self.with_bytes = with_bytes;
        self
    }

    fn step(&mut self) -> Result<Option<SegmentEntry>, StorageError> {
        match self.scanner.next_item().ctx(&self.path, IoOp::Read)? {
            ScanItem::End => Ok(None),
            ScanItem::Damage { position, damage } => {
                self.done = true;
                let bytes_remaining = self.end.saturating_sub(position);
                Ok(Some(SegmentEntry::Damage {
                    position,
                    bytes_remaining,
                    detail: damage.to_string(),
                }))
            }
            ScanItem::Batch {
                header,
                position,
                size,
            } => {
                let bytes = self
                    .scanner
                    .batch_bytes(position, size)
                    .ctx(&self.path, IoOp::Read)?;
                let crc_ok = batch::compute_crc(bytes) == header.crc;
                let count_ok = batch::stored_count_ok(&header);
                let bytes = self.with_bytes.then(|| Bytes::copy_from_slice(bytes));
                let expected_base_offset = self
                    .next_offset
                    .replace(header.last_offset().saturating_add(1));
                Ok(Some(SegmentEntry::Batch(BatchInfo {
                    position,
                    size,
                    header,
                    crc_ok,
                    count_ok,
                    bytes,
                    expected_base_offset,
                })))
            }
        }
    }
}

impl Iterator for SegmentBatches {
    type Item = Result<SegmentEntry, StorageError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = self.step().transpose();
        if matches!(item, None | Some(Err(_))) {
            self.done = true;
        }
        item
    }
}

fn open_read(fs: &dyn FileSystem, path: &Path) -> Result<(Arc<dyn File>, u64), StorageError> {
    let file = fs.open(path, OpenMode::Read).ctx(path, IoOp::Open)?;
    let len = file.len().ctx(path, IoOp::Read)?;
    Ok((file, len))
}

/// Walks the batches of a segment `.log` file. Where the file is named like
/// a segment, its first batch is expected at the offset in the name.
pub fn segment_batches(
    fs: &dyn FileSystem,
    log_path: &Path,
) -> Result<SegmentBatches, StorageError> {
    let (file, end) = open_read(fs, log_path)?;
    let named_base = classify(log_path)
        .filter(|(_, kind)| *kind == FileKind::Log)
        .map(|(base, _)| base);
    Ok(SegmentBatches {
        path: log_path.to_owned(),
        scanner: Scanner::new(file, ScanMode::Frame, 0, end),
        end,
        with_bytes: false,
        done: false,
        next_offset: named_base,
    })
}

/// All entries of an offset index file, plus trailing bytes that do not form a whole entry.
pub fn offset_index_entries(
    fs: &dyn FileSystem,
    path: &Path,
) -> Result<(Vec<OffsetIndexEntry>, usize), StorageError> {
    let bytes = crate::io::read_all(fs, path)?;
    Ok((
        offset_index::entries(&bytes).collect(),
        bytes.len() % offset_index::ENTRY_LEN,
    ))
}

/// All entries of a time index file, plus trailing bytes that do not form a whole entry.
pub fn time_index_entries(
    fs: &dyn FileSystem,
    path: &Path,
) -> Result<(Vec<TimeIndexEntry>, usize), StorageError> {
    let bytes = crate::io::read_all(fs, path)?;
    Ok((
        time_index::entries(&bytes).collect(),
        bytes.len() % time_index::ENTRY_LEN,
    ))
}

/// What kind of data file a path names, and its segment base offset.
pub fn classify(path: &Path) -> Option<(i64, FileKind)> {
    names::parse_segment_path(path)
}

/// The `.log` file that an index or time index file belongs to.
pub fn log_path_for(path: &Path) -> Option<PathBuf> {
    let (base, _) = classify(path)?;
    Some(names::segment_path(
        crate::io::parent_dir(path),
        base,
        FileKind::Log,
    ))
}

/// Checks an offset index against its segment: every entry must point at
/// the start of a batch with that base offset, entries must increase.
/// Returns the problems found (empty = consistent).
pub fn check_offset_index(
    fs: &dyn FileSystem,
    index_path: &Path,
) -> Result<Vec<String>, StorageError> {
    let (base, log_path) = segment_of(index_path)?;
    let batches = sound_batches(fs, &log_path)?;
    let (entries, trailing) = offset_index_entries(fs, index_path)?;
    let mut problems = Vec::new();
    if trailing != 0 {
        problems.push(format!(
            "{trailing} trailing bytes after the last whole entry"
        ));
    }
    let bytes = crate::io::read_all(fs, index_path)?;
    let log_len = open_read(fs, &log_path)?.1;
    if let Err(e) = offset_index::check(&bytes, log_len) {
        problems.push(e);
    }
    for (i, entry) in entries.iter().enumerate() {
        let at = batches.binary_search_by_key(&u64::from(entry.position), |b| b.0);
        match at.ok().and_then(|k| batches.get(k)) {
            Some(&(_, first, _, _)) if first == base + i64::from(entry.relative_offset) => {}
            Some(&(_, first, _, _)) => problems.push(format!(
                "entry {i}: relative offset {} but the batch at byte {} starts at offset {first}",
                entry.relative_offset, entry.position
            )),
            None => problems.push(format!(
                "entry {i}: byte {} is not the start of a batch",
                entry.position
            )),
        }
    }
    Ok(problems)
}

/// Checks a time index against its segment: each entry `(T, R)` must name
/// the last offset of a batch, and `T` must be the max timestamp of all
/// batches up to that one.
pub fn check_time_index(
    fs: &dyn FileSystem,
    index_path: &Path,
) -> Result<Vec<String>, StorageError> {
    let (base, log_path) = segment_of(index_path)?;
    let batches = sound_batches(fs, &log_path)?;
    let (entries, trailing) = time_index_entries(fs, index_path)?;
    let mut problems = Vec::new();
    if trailing != 0 {
        problems.push(format!(
            "{trailing} trailing bytes after the last whole entry"
        ));
    }
    if let Err(e) = time_index::check(&crate::io::read_all(fs, index_path)?) {
        problems.push(e);
    }
    for (i, entry) in entries.iter().enumerate() {
        let offset = base + i64::from(entry.relative_offset);
        let Some(k) = batches.iter().position(|b| b.2 == offset) else {
            problems.push(format!(
                "entry {i}: offset {offset} is not the last offset of a batch"
            ));
            continue;
        };
        let max = batches
            .iter()
            .take(k + 1)
            .map(|b| b.3)
            .max()
            .unwrap_or(i64::MIN);
        if max != entry.timestamp_ms {
            problems.push(format!(
                "entry {i}: timestamp {} but the max up to offset {offset} is {max}",
                entry.timestamp_ms
            ));
        }
    }
    Ok(problems)
}

fn segment_of(index_path: &Path) -> Result<(i64, PathBuf), StorageError> {
    let bad = || StorageError::Corruption {
        path: index_path.to_owned(),
        position: 0,
        detail: "not a segment file name (<20-digit offset>.index|.timeindex)".to_owned(),
    };
    let (base, _) = classify(index_path).ok_or_else(bad)?;
    Ok((base, log_path_for(index_path).ok_or_else(bad)?))
}

/// (position, base offset, last offset, max timestamp) of every framed batch.
fn sound_batches(
    fs: &dyn FileSystem,
    log_path: &Path,
) -> Result<Vec<(u64, i64, i64, i64)>, StorageError> {
    let mut out = Vec::new();
    for entry in segment_batches(fs, log_path)? {
        if let SegmentEntry::Batch(b) = entry? {
            out.push((
                b.position,
                b.base_offset(),
                b.last_offset(),
                b.header.max_timestamp,
            ));
        }
    }
    Ok(out)
}
