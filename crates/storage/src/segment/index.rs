//! One of a segment's two index files, as the segment holds it.
//!
//! While a segment grows, its index is built in memory and appended to its
//! file when the segment is sealed, flushed or closed. Once the file holds
//! every entry of a sealed segment, the segment keeps no index bytes at all:
//! a lookup maps the file, and the mapping stays until the segment goes idle
//! (`maps::retire_idle_maps`). Each mapping counts against the process's
//! `vm.max_map_count` (65,530 by default on Linux): keeping both indexes of
//! every sealed segment mapped stopped a broker at about 32,000 segments.
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::error::{IoContext, IoOp, StorageError};
use crate::io::FileSystem;

#[derive(Debug)]
pub(crate) struct IndexFile {
    bytes: IndexBytes,
    /// How many bytes of the index its file holds.
    written: usize,
}

#[derive(Debug)]
enum IndexBytes {
    /// Built in memory (the active segment's index, or one being rebuilt);
    /// the bytes from `written` on are not in the file yet.
    Owned(Vec<u8>),
    /// The file's first `written` bytes, mapped: while the partition opens,
    /// or for lookups until the segment goes idle.
    Mapped(Bytes),
    /// Only in the file (its first `written` bytes): mapped by the next
    /// lookup that needs it.
    InFile,
}

impl IndexFile {
    /// An empty index, built in memory.
    pub(crate) fn new() -> Self {
        IndexFile {
            bytes: IndexBytes::Owned(Vec::new()),
            written: 0,
        }
    }

    /// An index whose file, mapped and checked, holds every entry so far.
    pub(crate) fn adopt(mapped: Bytes) -> Self {
        IndexFile {
            written: mapped.len(),
            bytes: IndexBytes::Mapped(mapped),
        }
    }

    /// The index bytes, if they are in memory or mapped.
    pub(crate) fn held(&self) -> Option<&[u8]> {
        match &self.bytes {
            IndexBytes::Owned(v) => Some(v),
            IndexBytes::Mapped(b) => Some(b),
            IndexBytes::InFile => None,
        }
    }

    /// The index bytes, mapping the file (at `path()`) if they are only
    /// there. A failure fails only this lookup; the next one maps again.
    pub(crate) fn load(
        &mut self,
        fs: &dyn FileSystem,
        path: impl FnOnce() -> PathBuf,
    ) -> Result<&[u8], StorageError> {
        if matches!(self.bytes, IndexBytes::InFile) {
            if self.written == 0 {
                // No entries (a segment smaller than the index interval): nothing to map.
                return Ok(&[]);
            }
            self.bytes = IndexBytes::Mapped(map_prefix(fs, &path(), self.written)?);
        }
        Ok(self.held().unwrap_or_default())
    }

    /// The bytes appended since the last write to the file.
    pub(crate) fn pending(&self) -> &[u8] {
        match &self.bytes {
            IndexBytes::Owned(v) => v.get(self.written..).unwrap_or_default(),
            IndexBytes::Mapped(_) | IndexBytes::InFile => &[],
        }
    }

    /// Whether the next write replaces the file's content (a new or rebuilt index).
    pub(crate) fn replaces_file(&self) -> bool {
        self.written == 0 && matches!(self.bytes, IndexBytes::Owned(_))
    }

    /// Records that the pending bytes are now in the file.
    pub(crate) fn mark_written(&mut self) {
        if let IndexBytes::Owned(v) = &self.bytes {
            self.written = v.len();
        }
    }

    /// The in-memory bytes to append entries to; a mapped index is copied
    /// first. None for an index only in its file: its segment is sealed and
    /// never gets another entry.
    pub(crate) fn owned(&mut self) -> Option<&mut Vec<u8>> {
        if let IndexBytes::Mapped(b) = &self.bytes {
            self.bytes = IndexBytes::Owned(b.to_vec());
        }
        match &mut self.bytes {
            IndexBytes::Owned(v) => Some(v),
            IndexBytes::Mapped(_) | IndexBytes::InFile => None,
        }
    }

    /// Brings the whole index into memory, without a mapping: the active
    /// segment's index grows with it.
    pub(crate) fn own(
        &mut self,
        fs: &dyn FileSystem,
        path: impl FnOnce() -> PathBuf,
    ) -> Result<(), StorageError> {
        if !matches!(self.bytes, IndexBytes::Owned(_)) {
            let bytes = self.load(fs, path)?.to_vec();
            self.bytes = IndexBytes::Owned(bytes);
        }
        Ok(())
    }

    /// Lets go of the bytes held (memory or mapping) once the file holds
    /// them all, as it does for a sealed segment's index: later lookups map
    /// the file.
    pub(crate) fn release(&mut self) {
        if self.pending().is_empty() {
            self.bytes = IndexBytes::InFile;
        }
    }

    /// Takes the mapping away, for the caller to drop (outside the
    /// partition lock); the index is then only in its file again.
    pub(crate) fn take_map(&mut self) -> Option<Bytes> {
        match std::mem::replace(&mut self.bytes, IndexBytes::InFile) {
            IndexBytes::Mapped(b) => Some(b),
            other => {
                self.bytes = other;
                None
            }
        }
    }

    pub(crate) fn is_mapped(&self) -> bool {
        matches!(self.bytes, IndexBytes::Mapped(_))
    }
}

/// The first `len` bytes of the file at `path`, mapped. The file held them
/// when the segment was sealed or opened and a sealed index never changes,
/// so a shorter file was damaged behind the store's back.
fn map_prefix(fs: &dyn FileSystem, path: &Path, len: usize) -> Result<Bytes, StorageError> {
    let mapped = fs.map(path).ctx(path, IoOp::Map)?;
    if mapped.len() < len {
        return Err(StorageError::Corruption {
            path: path.to_owned(),
            position: mapped.len() as u64,
            detail: format!(
                "index file holds {} bytes, {len} were written",
                mapped.len()
            ),
        });
    }
    Ok(mapped.slice(..len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::{MemFileSystem, OpenMode};

    fn written_file(fs: &MemFileSystem, bytes: &[u8]) -> IndexFile {
        fs.create_dir_all(Path::new("/p")).unwrap();
        let file = fs.open(Path::new("/p/i"), OpenMode::ReadAppend).unwrap();
        let mut index = IndexFile::new();
        index.owned().unwrap().extend_from_slice(bytes);
        file.append(index.pending()).unwrap();
        index.mark_written();
        index
    }

    fn path() -> PathBuf {
        PathBuf::from("/p/i")
    }

    #[test]
    fn a_released_index_is_mapped_by_a_lookup_until_its_map_is_taken() {
        let fs = MemFileSystem::new();
        let mut index = written_file(&fs, b"01234567");
        index.release();
        assert!(!index.is_mapped() && index.held().is_none());
        assert_eq!(index.load(&fs, path).unwrap(), b"01234567");
        assert!(index.is_mapped());
        assert_eq!(index.take_map().as_deref(), Some(&b"01234567"[..]));
        assert!(!index.is_mapped() && index.held().is_none());
        assert_eq!(index.take_map(), None);
    }

    #[test]
    fn an_index_with_unwritten_entries_is_not_released() {
        let fs = MemFileSystem::new();
        let mut index = written_file(&fs, b"0123");
        index.owned().unwrap().extend_from_slice(b"4567");
        index.release();
        assert_eq!(index.held(), Some(&b"01234567"[..]));
        assert_eq!(index.pending(), b"4567");
    }

    #[test]
    fn a_missing_or_shrunk_file_fails_the_lookup_with_a_typed_error() {
        let fs = MemFileSystem::new();
        let mut index = written_file(&fs, b"01234567");
        index.release();
        fs.set_contents(&path(), b"0123".to_vec());
        let shrunk = index.load(&fs, path).map(<[u8]>::to_vec);
        assert!(
            matches!(shrunk, Err(StorageError::Corruption { position: 4, .. })),
            "{shrunk:?}"
        );
        fs.remove_file(&path()).unwrap();
        let missing = index.load(&fs, path).map(<[u8]>::to_vec);
        assert!(
            matches!(missing, Err(StorageError::Io { op: IoOp::Map, .. })),
            "{missing:?}"
        );
        // Nothing was kept from the failures: a repaired file maps.
        fs.set_contents(&path(), b"01234567".to_vec());
        assert_eq!(index.load(&fs, path).unwrap(), b"01234567");
    }

    #[test]
    fn an_empty_index_is_never_mapped() {
        let fs = MemFileSystem::new();
        let mut index = written_file(&fs, b"");
        index.release();
        fs.remove_file(&path()).unwrap();
        assert_eq!(index.load(&fs, path).unwrap(), b"");
        assert!(!index.is_mapped());
    }
}
