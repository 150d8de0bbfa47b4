//! End-to-end verification of a partition directory or a whole data directory.
use std::path::{Path, PathBuf};

use super::{SegmentEntry, check_offset_index, check_time_index, open_read, segment_batches};
use crate::error::{IoContext, IoOp, StorageError};
use crate::format::Checkpoint;
use crate::format::names::{self, CHECKPOINT_FILE, FileKind};
use crate::id::PartitionId;
use crate::io::FileSystem;
use crate::partition::first_scanned;
use crate::segment::check_indexes;

/// Something wrong in a data file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub path: PathBuf,
    pub position: Option<u64>,
    pub detail: String,
    pub kind: ProblemKind,
}

impl Problem {
    /// Opening the partition repairs it.
    pub fn repairable(&self) -> bool {
        self.kind == ProblemKind::Repairable
    }
}

/// What a problem means, and what repairs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProblemKind {
    /// Opening the partition repairs it without losing fsynced data: it cuts
    /// an unsynced torn tail, and rebuilds an index from the log when the
    /// index fails the open's check (FORMAT.md §7) or the segment is scanned.
    Repairable,
    /// An index entry the open's check does not compare with the log (it
    /// compares each index's last entry only): the open adopts the index as
    /// it is. Removing the segment's `.index` and `.timeindex` (broker
    /// stopped) has the next open rebuild both from the log.
    StaleIndex,
    /// Damage to data that was fsynced: the open refuses the partition.
    DataDamaged,
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
        self.problems.iter().all(Problem::repairable)
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
            Err(e) => report.problems.push(problem(
                &checkpoint_path,
                Some(0),
                e.to_string(),
                ProblemKind::DataDamaged,
            )),
        }
    }
    let recovery_point = report.checkpoint.map_or(0, |c| c.recovery_point);
    let clean = report.checkpoint.is_some_and(|c| c.clean_shutdown);
    let mut bases: Vec<i64> = fs
        .read_dir(dir)
        .ctx(dir, IoOp::ReadDir)?
        .iter()
        .filter_map(|p| names::parse_segment_file_name(p.file_name()?.to_str()?))
        .filter(|(_, kind)| *kind == FileKind::Log)
        .map(|(base, _)| base)
        .collect();
    bases.sort_unstable();
    // The segments an open trusts (adopting their indexes if they pass its
    // check), as `Partition::open` picks them; it scans the others.
    let trusted = if clean {
        bases.len()
    } else {
        first_scanned(&bases, recovery_point)
    };
    let mut expected: Option<i64> = None;
    for (i, base) in bases.into_iter().enumerate() {
        if let Some(e) = expected
            && e != base
        {
            let path = names::segment_path(dir, base, FileKind::Log);
            let detail = format!("segment starts at offset {base}, previous segment ends at {e}");
            let kind = damage_kind(e < recovery_point);
            report.problems.push(problem(&path, Some(0), detail, kind));
        }
        let segment = SegmentToVerify {
            dir,
            base,
            recovery_point,
            trusted: i < trusted,
        };
        let summary = segment.verify(fs, &mut report.problems)?;
        expected = Some(summary.next_offset);
        report.segments.push(summary);
    }
    Ok(report)
}

fn problem(path: &Path, position: Option<u64>, detail: String, kind: ProblemKind) -> Problem {
    Problem {
        path: path.to_owned(),
        position,
        detail,
        kind,
    }
}

/// Damage to the log: fsynced data if it lies below the recovery point,
/// else a tail recovery cuts.
fn damage_kind(below_recovery_point: bool) -> ProblemKind {
    if below_recovery_point {
        ProblemKind::DataDamaged
    } else {
        ProblemKind::Repairable
    }
}

struct SegmentToVerify<'a> {
    dir: &'a Path,
    base: i64,
    recovery_point: i64,
    /// The open trusts the segment: its indexes are rebuilt only if they
    /// fail the open's check.
    trusted: bool,
}

impl SegmentToVerify<'_> {
    /// Walks the log (framing, CRCs, offsets) and checks both indexes entry by entry.
    fn verify(
        &self,
        fs: &dyn FileSystem,
        problems: &mut Vec<Problem>,
    ) -> Result<SegmentSummary, StorageError> {
        let before = problems.len();
        let summary = self.verify_log(fs, problems)?;
        let log_damaged = problems
            .get(before..)
            .unwrap_or_default()
            .iter()
            .any(|p| p.kind == ProblemKind::DataDamaged);
        self.verify_indexes(fs, problems, log_damaged)?;
        Ok(summary)
    }

    fn verify_log(
        &self,
        fs: &dyn FileSystem,
        problems: &mut Vec<Problem>,
    ) -> Result<SegmentSummary, StorageError> {
        let (base, recovery_point) = (self.base, self.recovery_point);
        let path = names::segment_path(self.dir, base, FileKind::Log);
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
            let below = summary.next_offset < recovery_point;
            match entry? {
                SegmentEntry::Batch(b) => {
                    if let Some(detail) = b.offset_problem() {
                        problems.push(problem(&path, Some(b.position), detail, damage_kind(below)));
                    }
                    if !b.is_valid() {
                        let detail = format!(
                            "batch at offset {} fails its check (crc ok: {}, record count ok: {})",
                            b.base_offset(),
                            b.crc_ok,
                            b.count_ok
                        );
                        problems.push(problem(&path, Some(b.position), detail, damage_kind(below)));
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
                    let detail =
                        format!("{detail}; {bytes_remaining} bytes from here are unreadable");
                    problems.push(problem(&path, Some(position), detail, damage_kind(below)));
                    summary.size_bytes = position + bytes_remaining;
                }
            }
        }
        Ok(summary)
    }

    /// Checks both indexes against the log, entry by entry. Their problems
    /// are repaired on open if the open rebuilds the indexes: always for a
    /// segment it scans, for a trusted one if they fail its check. Against
    /// a log whose fsynced data is damaged they are that damage, which no
    /// index rebuilt from that log repairs.
    fn verify_indexes(
        &self,
        fs: &dyn FileSystem,
        problems: &mut Vec<Problem>,
        log_damaged: bool,
    ) -> Result<(), StorageError> {
        type Check = fn(&dyn FileSystem, &Path) -> Result<Vec<String>, StorageError>;
        let mut found = Vec::new();
        for (kind, check) in [
            (FileKind::OffsetIndex, check_offset_index as Check),
            (FileKind::TimeIndex, check_time_index),
        ] {
            let index_path = names::segment_path(self.dir, self.base, kind);
            if fs.exists(&index_path) {
                found.extend(
                    check(fs, &index_path)?
                        .into_iter()
                        .map(|d| (index_path.clone(), d)),
                );
            }
        }
        if found.is_empty() {
            return Ok(());
        }
        let kind = if log_damaged {
            found = found
                .into_iter()
                .map(|(path, d)| (path, format!("{d}, checked against a damaged log")))
                .collect();
            ProblemKind::DataDamaged
        } else if !self.trusted || self.open_rebuilds_indexes(fs)? {
            ProblemKind::Repairable
        } else {
            ProblemKind::StaleIndex
        };
        problems.extend(
            found
                .into_iter()
                .map(|(path, detail)| problem(&path, None, detail, kind)),
        );
        Ok(())
    }

    /// Whether a trusted segment's indexes fail the check an open makes
    /// before it adopts them (`segment::check_indexes`, the same code).
    fn open_rebuilds_indexes(&self, fs: &dyn FileSystem) -> Result<bool, StorageError> {
        let log_path = names::segment_path(self.dir, self.base, FileKind::Log);
        let (log, log_len) = open_read(fs, &log_path)?;
        let read = |kind| {
            let path = names::segment_path(self.dir, self.base, kind);
            if fs.exists(&path) {
                crate::io::read_all(fs, &path)
            } else {
                Ok(Vec::new())
            }
        };
        let (offsets, times) = (read(FileKind::OffsetIndex)?, read(FileKind::TimeIndex)?);
        let verdict =
            check_indexes(&log, log_len, self.base, &offsets, &times).ctx(&log_path, IoOp::Read)?;
        Ok(verdict.is_err())
    }
}
