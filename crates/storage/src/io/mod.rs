//! The narrow seam between the engine and the file system.
//!
//! The engine reaches files only through [`FileSystem`] and [`File`], so tests
//! can swap in [`MemFileSystem`], which fails, tears and forgets unsynced
//! writes on demand. Methods return plain `std::io::Result`; callers attach
//! the path and operation when turning them into `StorageError::Io`.
use std::fmt::Debug;
use std::io::IoSlice;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use crate::error::{IoContext, IoOp, StorageError};

mod mem_fs;
mod std_fs;

pub use mem_fs::{Fault, MemFileSystem};
pub use std_fs::StdFileSystem;

/// An open file. Shared between the writer and readers (`Arc<dyn File>`), so
/// every method takes `&self`.
pub trait File: Send + Sync + Debug {
    /// Reads up to `buf.len()` bytes at `position`; returns how many were read (0 at end of file).
    fn read_at(&self, buf: &mut [u8], position: u64) -> std::io::Result<usize>;
    /// Writes all of `data` at the current end of the file.
    fn append(&self, data: &[u8]) -> std::io::Result<()>;
    /// Writes all of `parts`, in order, at the current end of the file, as
    /// one vectored write where the platform allows (so a caller can patch a
    /// few header bytes without copying the rest). The default joins the
    /// parts and calls `append`, so faults and semantics stay `append`'s.
    fn append_vectored(&self, parts: &[IoSlice<'_>]) -> std::io::Result<()> {
        let mut joined = Vec::with_capacity(parts.iter().map(|part| part.len()).sum());
        for part in parts {
            joined.extend_from_slice(part);
        }
        self.append(&joined)
    }
    /// Truncates or extends the file to `len` bytes.
    fn set_len(&self, len: u64) -> std::io::Result<()>;
    /// Current length in bytes.
    fn len(&self) -> std::io::Result<u64>;
    fn is_empty(&self) -> std::io::Result<bool> {
        Ok(self.len()? == 0)
    }
    /// Forces written data (and the length) to stable storage.
    fn sync_data(&self) -> std::io::Result<()>;
    /// Asks the OS to start writing `len` bytes at `position` back to disk now,
    /// without waiting for it and without making anything durable (that is
    /// still `sync_data`'s job). Only a hint that keeps dirty pages from piling
    /// up; the default does nothing. `Unsupported` means the hint is not
    /// available here; any other error is an I/O failure.
    fn start_writeback(&self, position: u64, len: u64) -> std::io::Result<()> {
        let _ = (position, len);
        Ok(())
    }
}

/// How to open a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenMode {
    /// Read only; the file must exist.
    Read,
    /// Read and append; created if missing.
    ReadAppend,
}

pub trait FileSystem: Send + Sync + Debug {
    fn open(&self, path: &Path, mode: OpenMode) -> std::io::Result<Arc<dyn File>>;
    /// Whole-file read-only view. The real file system maps it (memmap2); only
    /// used for files that never shrink while mapped (sealed logs and indexes).
    fn map(&self, path: &Path) -> std::io::Result<Bytes>;
    /// A read-only view of the first `len` bytes of a file that may still be
    /// shorter than `len` and grows by appends while the view lives (the
    /// active segment's log). Only bytes already written may be read through
    /// it. `None` when the file system cannot share such a view; callers then
    /// use positioned reads.
    fn map_growing(&self, path: &Path, len: u64) -> std::io::Result<Option<Bytes>> {
        let _ = (path, len);
        Ok(None)
    }
    fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()>;
    fn remove_file(&self, path: &Path) -> std::io::Result<()>;
    fn remove_dir_all(&self, path: &Path) -> std::io::Result<()>;
    fn create_dir_all(&self, path: &Path) -> std::io::Result<()>;
    /// Makes creations, renames and removals inside `dir` durable.
    fn sync_dir(&self, dir: &Path) -> std::io::Result<()>;
    /// Entries of `dir` (full paths), in no particular order.
    fn read_dir(&self, dir: &Path) -> std::io::Result<Vec<PathBuf>>;
    fn is_dir(&self, path: &Path) -> bool;
    fn exists(&self, path: &Path) -> bool;
    /// When the file was created (ms since the epoch), if the file system
    /// records it. Segments roll by age from it, so a restart does not reset
    /// the age of the active segment.
    fn created_ms(&self, path: &Path) -> Option<i64> {
        let _ = path;
        None
    }
    /// Takes an exclusive advisory lock on `path` (created if missing) for as
    /// long as the returned guard lives. `WouldBlock` if someone holds it.
    fn lock_exclusive(&self, path: &Path) -> std::io::Result<LockGuard>;
}

/// Holds a lock taken by [`FileSystem::lock_exclusive`] until dropped.
pub struct LockGuard(#[allow(dead_code)] Box<dyn Send + Sync>);

impl LockGuard {
    pub fn new(inner: impl Send + Sync + 'static) -> Self {
        LockGuard(Box::new(inner))
    }
}

impl std::fmt::Debug for LockGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LockGuard")
    }
}

/// Reads exactly `buf.len()` bytes at `position` or fails with `UnexpectedEof`.
pub fn read_exact_at(
    file: &dyn File,
    mut buf: &mut [u8],
    mut position: u64,
) -> std::io::Result<()> {
    while !buf.is_empty() {
        let n = file.read_at(buf, position)?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "read past end of file",
            ));
        }
        buf = buf.get_mut(n..).unwrap_or_default();
        position += n as u64;
    }
    Ok(())
}

/// Reads a whole (small) file.
pub fn read_all(fs: &dyn FileSystem, path: &Path) -> Result<Vec<u8>, StorageError> {
    let file = fs.open(path, OpenMode::Read).ctx(path, IoOp::Open)?;
    let len = file.len().ctx(path, IoOp::Read)?;
    let len = usize::try_from(len).map_err(|_| StorageError::Corruption {
        path: path.to_owned(),
        position: 0,
        detail: format!("file of {len} bytes is too large to read whole"),
    })?;
    let mut buf = vec![0u8; len];
    read_exact_at(file.as_ref(), &mut buf, 0).ctx(path, IoOp::Read)?;
    Ok(buf)
}

/// Replaces `path` with `bytes` atomically: write `<path>.tmp`, fsync it,
/// rename over `path`, fsync the directory. After a crash the file holds
/// either the old or the new content, never a mix.
pub fn write_atomic(fs: &dyn FileSystem, path: &Path, bytes: &[u8]) -> Result<(), StorageError> {
    let tmp = tmp_path(path);
    if fs.exists(&tmp) {
        fs.remove_file(&tmp).ctx(&tmp, IoOp::Remove)?;
    }
    let file = fs.open(&tmp, OpenMode::ReadAppend).ctx(&tmp, IoOp::Open)?;
    file.append(bytes).ctx(&tmp, IoOp::Write)?;
    file.sync_data().ctx(&tmp, IoOp::Sync)?;
    drop(file);
    fs.rename(&tmp, path).ctx(path, IoOp::Rename)?;
    let dir = parent_dir(path);
    fs.sync_dir(dir).ctx(dir, IoOp::SyncDir)
}

/// The temporary name `write_atomic` uses for `path`.
pub fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}

/// The directory holding `path` ("." for a bare name).
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}
