//! The mappings a partition's segments hold, and their retirement.
//!
//! A sealed segment maps its log on its first read and its index files on
//! the first lookup that needs them. Only the segments read most recently
//! keep their mappings: a consumer reading a long log from the start leaves
//! behind a bounded number of mapped segments, not the whole log in the
//! broker's RSS, and a partition of thousands of segments holds a handful of
//! the process's `vm.max_map_count` mappings (65,530 by default), not two or
//! three per segment. A sealed log that cannot be mapped is read through its
//! file, opened again for those reads; the file is retired with the
//! mappings, so idle sealed segments hold no descriptor either.
use bytes::Bytes;

use super::Segment;

/// Sealed segments of one partition that keep their mappings (log and
/// indexes): the segments consumers are reading now. Older mappings are
/// dropped (their pages stay in the page cache).
pub(crate) const MAPPED_SEALED_MAX: usize = 4;

/// Orders reads across all partitions; only comparisons within one matter.
static READ_SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Notes a read or lookup in `segments[reading]` and takes away every
/// mapping (log and indexes) and open log file of the sealed segments (not `reading`, not the
/// active one) beyond the [`MAPPED_SEALED_MAX`] most recently read. The
/// caller drops what is returned after releasing the partition lock:
/// unmapping a large segment takes a while, and readers holding slices of a
/// log keep its mapping alive anyway (index bytes are never handed out: they
/// are only read under the lock).
#[must_use]
pub(crate) fn retire_idle_maps(segments: &mut [Segment], reading: usize) -> Vec<IdleMaps> {
    if let Some(segment) = segments.get_mut(reading) {
        segment.last_read = READ_SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
    }
    let sealed = segments.len().saturating_sub(1);
    let sealed_mapped = || {
        segments
            .iter()
            .take(sealed)
            .enumerate()
            .filter(|(_, s)| s.holds_mappings() || s.holds_log_file())
    };
    // Every fetch comes through here: count before collecting anything.
    if sealed_mapped().count() <= MAPPED_SEALED_MAX {
        return Vec::new();
    }
    let mut mapped: Vec<(u64, usize)> = sealed_mapped().map(|(i, s)| (s.last_read, i)).collect();
    mapped.sort_unstable();
    let excess = mapped.len() - MAPPED_SEALED_MAX;
    mapped
        .into_iter()
        .filter(|&(_, i)| i != reading)
        .take(excess)
        .filter_map(|(_, i)| segments.get_mut(i).map(Segment::take_maps))
        .collect()
}

/// The mappings taken from an idle segment, held only to be dropped (which
/// unmaps them) after the partition lock is released.
#[derive(Debug)]
pub(crate) struct IdleMaps {
    /// Opened again for reads because the log could not be mapped.
    pub(super) _log_file: Option<std::sync::Arc<dyn crate::io::File>>,
    pub(super) _log: Option<LogMap>,
    pub(super) _offset_index: Option<Bytes>,
    pub(super) _time_index: Option<Bytes>,
}

/// A read-only mapping of a segment's log. While the segment is active it
/// reaches past the end of the file, so it is never handed out whole (nor
/// printed): only its published prefix, through [`LogMap::published`].
pub(crate) struct LogMap(pub(super) Bytes);

impl LogMap {
    /// The first `size` bytes, if the mapping covers them.
    pub(super) fn published(&self, size: u64) -> Option<Bytes> {
        let size = usize::try_from(size).ok()?;
        (size <= self.0.len()).then(|| self.0.slice(..size))
    }
}

impl std::fmt::Debug for LogMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LogMap({} bytes mapped)", self.0.len())
    }
}
