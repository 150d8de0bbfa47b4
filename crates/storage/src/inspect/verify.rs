//! End-to-end verification of a partition directory or a whole data directory.
use std::path::{Path, PathBuf};

use super::{SegmentEntry, check_offset_index, check_time_index, segment_batches};
use crate::error::{IoContext, IoOp, StorageError};
use crate::format::Checkpoint;
use crate::format::names::{self, CHECKPOINT_FILE, FileKind};
use crate::id::PartitionId;
use crate::io::FileSystem;

/// Something wrong in a data file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub path: PathBuf,
    pub position: Option<u64>,
    pub detail: String,
    /// True if opening the partition repairs it without losing fsynced data
    /// (an unsynced torn tail, a stale index); false for real damage.
    pub repairable: bool,
}

/// Totals for one segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentSummary {
    pub path: PathBuf,
    pub base_offset: i64,
    pub size_bytes: u64,
    pub batches: u64,
    pub records: u64,
    /// Offset after the last sound batch.
    pub next_offset: i64,
    pub max_timestamp: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionReport {
    pub dir: PathBuf,
    pub id: Option<PartitionId>,
    pub checkpoint: Option<Checkpoint>,
    pub segments: Vec<SegmentSummary>,
    pub problems: Vec<Problem>,
}

impl PartitionReport {
    /// No problem at all.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// No problem that opening the partition would not repair.
    pub fn is_recoverable(&self) -> bool {
        self.problems.iter().all(|p| p.repairable)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataDirReport {
    pub partitions: Vec<PartitionReport>,
}

impl DataDirReport {
    pub fn is_ok(&self) -> bool {
        self.partitions.iter().all(PartitionReport::is_ok)
    }
}

/// Verifies every partition directory of a data directory.
pub fn verify_data_dir(
    fs: &dyn FileSystem,
    data_dir: &Path,
) -> Result<DataDirReport, StorageError> {
    let mut dirs = fs.read_dir(data_dir).ctx(data_dir, IoOp::ReadDir)?;
    dirs.sort();
    let mut partitions = Vec::new();
    for dir in dirs {
        let is_partition = dir
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(PartitionId::from_dir_name)
            .is_some();
        if fs.is_dir(&dir) && is_partition {
            partitions.push(verify_partition(fs, &dir)?);
        }
    }
    Ok(DataDirReport { partitions })
}

/// Verifies one partition directory: checkpoint, every batch's framing and
/// CRC, offset continuity within and across segments, and both indexes.
pub fn verify_partition(fs: &dyn FileSystem, dir: &Path) -> Result<PartitionReport, StorageError> {
    let id = dir
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(PartitionId::from_dir_name);
    let mut report = PartitionReport {
        dir: dir.to_owned(),
        id,
        checkpoint: None,
        segments: Vec::new(),
        problems: Vec::new(),
    };
    let checkpoint_path = dir.join(CHECKPOINT_FILE);
    if fs.exists(&checkpoint_path) {
        match Checkpoint::decode(&crate::io::read_all(fs, &checkpoint_path)?) {
            Ok(c) => report.checkpoint = Some(c),
            Err(e) => {
                report
                    .problems
                    .push(problem(&checkpoint_path, Some(0), e.to_string(), false))
            }
        }
    }
    let recovery_point = report.checkpoint.map_or(0, |c| c.recovery_point);
    let mut bases: Vec<i64> = fs
        .read_dir(dir)
        .ctx(dir, IoOp::ReadDir)?
        .iter()
        .filter_map(|p| names::parse_segment_file_name(p.file_name()?.to_str()?))
        .filter(|(_, kind)| *kind == FileKind::Log)
        .map(|(base, _)| base)
        .collect();
    bases.sort_unstable();
    let mut expected: Option<i64> = None;
    for base in bases {
        if let Some(e) = expected
            && e != base
        {
            let path = names::segment_path(dir, base, FileKind::Log);
            let detail = format!("segment starts at offset {base}, previous segment ends at {e}");
            report
                .problems
                .push(problem(&path, Some(0), detail, e >= recovery_point));
        }
        let summary = verify_segment(fs, dir, base, recovery_point, &mut report.problems)?;
        expected = Some(summary.next_offset);
        report.segments.push(summary);
    }
    Ok(report)
}

fn problem(path: &Path, position: Option<u64>, detail: String, repairable: bool) -> Problem {
    Problem {
        path: path.to_owned(),
        position,
        detail,
        repairable,
    }
}

fn verify_segment(
    fs: &dyn FileSystem,
    dir: &Path,
    base: i64,
    recovery_point: i64,
    problems: &mut Vec<Problem>,
) -> Result<SegmentSummary, StorageError> {
    let path = names::segment_path(dir, base, FileKind::Log);
    let mut summary = SegmentSummary {
        path: path.clone(),
        base_offset: base,
        size_bytes: 0,
        batches: 0,
        records: 0,
        next_offset: base,
        max_timestamp: None,
    };
    for entry in segment_batches(fs, &path)? {
        match entry? {
            SegmentEntry::Batch(b) => {
                let below = summary.next_offset < recovery_point;
                if b.base_offset() != summary.next_offset {
                    let detail = format!(
                        "batch base offset {} where {} was expected",
                        b.base_offset(),
                        summary.next_offset
                    );
                    problems.push(problem(&path, Some(b.position), detail, !below));
                }
                if !b.is_valid() {
                    let detail = format!(
                        "batch at offset {} fails its check (crc ok: {}, record count ok: {})",
                        b.base_offset(),
                        b.crc_ok,
                        b.count_ok
                    );
                    problems.push(problem(&path, Some(b.position), detail, !below));
                }
                summary.batches += 1;
                summary.records += u64::try_from(b.records_count()).unwrap_or(0);
                summary.next_offset = b.last_offset().saturating_add(1);
                summary.size_bytes = b.position + b.size;
                summary.max_timestamp = summary.max_timestamp.max(Some(b.header.max_timestamp));
            }
            SegmentEntry::Damage {
                position,
                bytes_remaining,
                detail,
            } => {
                let below = summary.next_offset < recovery_point;
                let detail = format!("{detail}; {bytes_remaining} bytes from here are unreadable");
                problems.push(problem(&path, Some(position), detail, !below));
                summary.size_bytes = position + bytes_remaining;
            }
        }
    }
    for (kind, check) in [
        (
            FileKind::OffsetIndex,
            check_offset_index as fn(&dyn FileSystem, &Path) -> Result<Vec<String>, StorageError>,
        ),
        (FileKind::TimeIndex, check_time_index),
    ] {
        let index_path = names::segment_path(dir, base, kind);
        if fs.exists(&index_path) {
            for detail in check(fs, &index_path)? {
                problems.push(problem(&index_path, None, detail, true));
            }
        }
    }
    Ok(summary)
}
